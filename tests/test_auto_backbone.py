"""``backbone='auto'`` of the fine-tuning estimators: efficientnet_lite1 for photos,
efficientnet_lite0 for small or grayscale arrays, recorded in ``backbone_`` and kept
through save/load."""

import numpy as np
import pytest
from conftest import edit_stored_attribute
from sklearn.base import clone

import skcnn
from skcnn import FineTunedClassifier, FineTunedRegressor
from skcnn.exceptions import ModelFileError
from skcnn.pretrained import EfficientNetLite0, EfficientNetLite1
from skcnn.pretrained._lpft import AUTO_BACKBONES, auto_backbone

FAST = dict(input_size=32, max_epochs=1, batch_size=16, num_workers=0, verbose=0,
            random_state=0, device="cpu")


@pytest.fixture(scope="module")
def photos():
    """72x72 colour patches of scikit-image's cat and coffee photos (8 of each)."""
    from skimage import data

    images, labels = [], []
    for label, photo in (("cat", data.chelsea()), ("coffee", data.coffee())):
        for i in range(8):
            top, left = 20 + 24 * (i // 4), 60 + 40 * (i % 4)
            images.append(photo[top:top + 72, left:left + 72])
            labels.append(label)
    return np.stack(images), np.asarray(labels)


def _trunk_size(clf):
    return sum(p.numel() for p in clf.module_.trunk.parameters())


def test_auto_backbone_by_kind_of_image():
    assert auto_backbone(None) == "efficientnet_lite1"  # files and PIL images: photos
    assert auto_backbone((3, 65, 200)) == "efficientnet_lite1"
    assert auto_backbone((3, 64, 64)) == "efficientnet_lite0"  # small colour arrays
    assert auto_backbone((1, 500, 500)) == "efficientnet_lite0"  # grayscale
    assert auto_backbone((1, 8, 8)) == "efficientnet_lite0"
    assert set(AUTO_BACKBONES.values()) == {"efficientnet_lite0", "efficientnet_lite1"}


def test_auto_fine_tunes_lite1_on_photos_and_lite0_on_small_images(photos, lfw):
    assert FineTunedClassifier().backbone == "auto"
    X, y = photos
    on_photos = FineTunedClassifier(**FAST).fit(X, y)
    assert on_photos.backbone_ == "efficientnet_lite1"
    assert type(on_photos._plugin) is EfficientNetLite1
    X_faces, y_faces = lfw
    on_faces = FineTunedClassifier(**FAST).fit(X_faces[::10], y_faces[::10])
    assert on_faces.backbone_ == "efficientnet_lite0"
    assert type(on_faces._plugin) is EfficientNetLite0
    # the networks are the two backbones (lite1 is the deeper one)
    assert _trunk_size(on_photos) > _trunk_size(on_faces)
    # a named backbone is used as given, photos or not
    named = FineTunedClassifier(**FAST, backbone="efficientnet_lite0").fit(X, y)
    assert named.backbone_ == "efficientnet_lite0"
    assert _trunk_size(named) == _trunk_size(on_faces)
    assert clone(named).get_params()["backbone"] == "efficientnet_lite0"


def test_nested_backbone_parameters_need_a_named_backbone():
    clf = FineTunedClassifier()
    with pytest.raises(ValueError, match="backbone='auto' stands for no plugin until fit"):
        clf.set_params(backbone__weights="/tmp/w.pth")
    clf.set_params(backbone="efficientnet_lite1", backbone__weights="/tmp/w.pth")
    assert type(clf.backbone) is EfficientNetLite1 and clf.backbone.weights == "/tmp/w.pth"


def test_regressor_auto_on_photos(photos):
    X, _ = photos
    target = X.mean(axis=(1, 2, 3))
    reg = FineTunedRegressor(**FAST).fit(X, target)
    assert reg.backbone_ == "efficientnet_lite1" and reg.predict(X).shape == (len(X),)


def test_warm_start_keeps_the_auto_choice(photos):
    X, y = photos
    clf = FineTunedClassifier(**FAST, warm_start=True, freeze_epochs=1).fit(X, y)
    before = _trunk_size(clf)
    clf.fit(X, y)
    assert clf.backbone_ == "efficientnet_lite1" and _trunk_size(clf) == before
    assert clf.n_iter_ == 2


def test_save_load_round_trip_keeps_the_chosen_backbone(photos, tmp_path):
    X, y = photos
    clf = FineTunedClassifier(**FAST).fit(X, y)
    path = skcnn.save(clf, tmp_path / "auto.skcnn")
    loaded = skcnn.load(path)
    assert loaded.backbone == "auto" and loaded.backbone_ == "efficientnet_lite1"
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    # A file whose 'auto' choice is not one 'auto' makes is refused, not resolved.
    bad = edit_stored_attribute(path, tmp_path / "bad.skcnn", "backbone_", "timm:resnet50",
                                only_if="efficientnet_lite1")
    with pytest.raises(ModelFileError, match="backbone_='timm:resnet50'"):
        skcnn.load(bad)
