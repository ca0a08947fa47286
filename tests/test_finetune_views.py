"""``views`` of the fine-tuning estimators: crops of the whole shorter side along the longer
side, averaged by the probe's features and by ``predict``.

Real photos (scikit-image's chelsea the cat and coffee), cut into elongated and square
files; tiny fits (32x32 input, 1 epoch) on the CPU.
"""

import numpy as np
import pytest
import torch
from conftest import edit_stored_attribute
from PIL import Image
from skimage import data
from torchvision.transforms import functional as TF

from skcnn import FineTunedClassifier, FineTunedRegressor
from skcnn.data.transforms import PilPreprocess
from skcnn.plugins import PreprocessConfig
from skcnn.pretrained import _recipe_phases
from skcnn.pretrained._views import ELONGATED, median_aspect_ratio, view_positions

FAST = dict(backbone="efficientnet_lite0", input_size=32, max_epochs=1, batch_size=16,
            num_workers=0, verbose=0, random_state=0, device="cpu")
CONFIG = PreprocessConfig(input_size=(32, 32), resize_size=36, mean=(0.5, 0.5, 0.5),
                          std=(0.5, 0.5, 0.5), interpolation="bilinear")


def _tiles(image, height, width, n):
    """``n`` crops of ``height x width`` spread over ``image``."""
    tops = np.linspace(0, image.shape[0] - height, n).astype(int)
    lefts = np.linspace(0, image.shape[1] - width, n).astype(int)[::-1]
    return [image[top:top + height, left:left + width] for top, left in zip(tops, lefts)]


def _write(folder, images, label):
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{label}_{i}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """12 cat and 12 coffee files of 100x150 (landscape, aspect 1.5), interleaved, and 4 of
    each at 100x100 (square)."""
    folder = tmp_path_factory.mktemp("views")
    wide = {label: _write(folder, _tiles(image, 100, 150, 12), label)
            for label, image in (("cat", data.chelsea()), ("coffee", data.coffee()))}
    square = {label: _write(folder, _tiles(image, 100, 100, 4), f"{label}_square")
              for label, image in (("cat", data.chelsea()), ("coffee", data.coffee()))}
    X = np.ravel(np.column_stack([wide["cat"], wide["coffee"]]))
    y = np.tile(["cat", "coffee"], 12)
    X_square = np.ravel(np.column_stack([square["cat"], square["coffee"]]))
    return X, y, X_square, np.tile(["cat", "coffee"], 4)


def _by_hand(clf, paths):
    """Softmax of the mean over ``clf``'s views of its network's logits, computed here."""
    module = clf.module_.eval()
    logits = []
    for position in view_positions(clf.views_):
        transform = (PilPreprocess.from_config(clf.preprocess_) if position is None
                     else PilPreprocess.view_of(clf.preprocess_, position))
        with torch.no_grad():
            logits.append(module(torch.stack([transform(Image.open(p)) for p in paths])))
    return torch.softmax(torch.stack(logits).mean(0).double(), 1).numpy()


# ---------------------------------------------------------------------------- the crops
@pytest.mark.parametrize("transpose", [False, True])
def test_views_are_crops_of_the_whole_shorter_side_along_the_longer(transpose):
    image = Image.fromarray(data.chelsea())  # 451x300: landscape
    if transpose:
        image = image.transpose(Image.Transpose.TRANSPOSE)  # 300x451: portrait
    resized = TF.resize(image, 32)  # the shorter side to the input's side
    ends = [(0, 0), (resized.width - 32, resized.height - 32)]
    for position, (left, top) in zip((0.0, 1.0), ends):
        expected = PilPreprocess(CONFIG.input_size, 32, CONFIG.mean, CONFIG.std)(
            resized.crop((left, top, left + 32, top + 32)))
        torch.testing.assert_close(PilPreprocess.view_of(CONFIG, position)(image), expected)
    views = [PilPreprocess.view_of(CONFIG, p)(image) for p in view_positions(3)]
    assert not torch.allclose(views[0], views[2])  # the two ends of the cat differ
    # The center view keeps the whole shorter side; the backbone's crop cuts into it.
    center = PilPreprocess.from_config(CONFIG)(image)
    assert center.shape == views[1].shape and not torch.allclose(center, views[1])


def test_views_of_a_square_image_are_one_crop():
    image = Image.fromarray(data.astronaut())  # 512x512
    views = [PilPreprocess.view_of(CONFIG, p)(image) for p in view_positions(3)]
    torch.testing.assert_close(views[0], views[1])
    torch.testing.assert_close(views[1], views[2])
    assert view_positions(1) == [None] and view_positions(3) == [0.0, 0.5, 1.0]


def test_median_aspect_ratio_of_files_pil_images_and_arrays(photos, tmp_path):
    X, _, X_square, _ = photos
    assert median_aspect_ratio(X, "path") == pytest.approx(1.5)
    assert median_aspect_ratio(X_square, "path") == pytest.approx(1.0)
    assert median_aspect_ratio([Image.fromarray(data.chelsea())], "pil") == \
        pytest.approx(451 / 300)
    assert median_aspect_ratio(np.zeros((2, 3, 20, 50)), "array") == pytest.approx(2.5)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert median_aspect_ratio([str(broken)], "path") is None


# ---------------------------------------------------------------------------- 'auto'
def test_auto_views_by_kind_of_image(photos, lfw):
    X, y, X_square, y_square = photos
    assert FineTunedClassifier(**FAST).fit(X, y).views_ == 3  # landscape photos
    assert FineTunedClassifier(**FAST).fit(X_square, y_square).views_ == 1
    assert ELONGATED > 1.0
    faces, is_face = lfw
    assert FineTunedClassifier(**FAST).fit(faces[::4], is_face[::4]).views_ == 1  # small
    # regression: a crop may change the target
    targets = np.linspace(0, 1, len(X))
    assert FineTunedRegressor(**FAST).fit(X, targets).views_ == 1
    assert FineTunedClassifier(**FAST, views=2).fit(X_square, y_square).views_ == 2


def test_one_view_trains_and_predicts_on_the_backbones_center_crop(photos):
    X, y, _, _ = photos
    clf = FineTunedClassifier(**FAST, views=1).fit(X, y)
    assert clf.views_ == 1 and clf.recipe_["views"] == 1
    transform = PilPreprocess.from_config(clf.preprocess_)
    expected = torch.stack([transform(Image.open(p)) for p in X[:4]])
    torch.testing.assert_close(torch.as_tensor(clf._prepare_images(X[:4], reset=False)),
                               expected)
    with torch.no_grad():
        proba = torch.softmax(clf.module_.eval()(expected).double(), 1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X[:4]), proba, atol=1e-5)


# ---------------------------------------------------------------------------- the recipe
def test_predictions_average_the_logits_of_the_views(photos):
    X, y, X_square, _ = photos
    clf = FineTunedClassifier(**FAST).fit(X, y)
    assert clf.views_ == clf.recipe_["views"] == 3
    np.testing.assert_allclose(clf.predict_proba(X), _by_hand(clf, X), atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(X_square), _by_hand(clf, X_square), atol=1e-5)
    # Training batches are crops of the center view.
    center = PilPreprocess.view_of(clf.preprocess_, 0.5)
    torch.testing.assert_close(torch.as_tensor(clf._prepare_images(X[:2], reset=False)),
                               torch.stack([center(Image.open(p)) for p in X[:2]]))


@pytest.mark.parametrize("views, forced", [(3, 0.0), (3, 1.0), (2, 0.0), (1, 0.0)])
def test_with_views_the_ends_are_still_the_probe_and_the_fine_tuned_network(
        photos, monkeypatch, tmp_path, views, forced):
    """The probe is fitted on the views' mean features: candidate a=0, scored through the
    whole network on the validation views, is the probe's own score; the model saved and
    loaded predicts the same from its views."""
    import skcnn

    X, y, _, _ = photos
    monkeypatch.setattr(_recipe_phases, "choose_interpolation",
                        lambda scores, task, record=None: forced)
    clf = FineTunedClassifier(**FAST, views=views).fit(X, y)
    choose = next(p for p in clf.recipe_["phases"] if p["phase"] == "choose")
    probe = next(p for p in clf.recipe_["phases"] if p["phase"] == "probe")
    candidates = {c["weight"]: c for c in choose["candidates"]}
    # (float32 sums of the views, in other batches: equal to about 1e-4)
    assert candidates[0.0]["loss"] == pytest.approx(probe["score"]["loss"], abs=1e-4)
    np.testing.assert_array_equal(candidates[0.0]["correct"], probe["score"]["correct"])
    if forced == 1.0:  # what predicts is what candidate a=1 scored on the validation views
        valid = choose["images"]
        proba = clf.predict_proba(X[valid])
        rows = np.searchsorted(clf.classes_, y[valid])
        loss = float(-np.log(proba[np.arange(len(valid)), rows]).mean())
        assert loss == pytest.approx(candidates[1.0]["loss"], abs=1e-5)
    skcnn.save(clf, tmp_path / "model.skcnn")
    back = skcnn.load(tmp_path / "model.skcnn")
    assert back.views_ == views
    np.testing.assert_allclose(back.predict_proba(X), _by_hand(clf, X), atol=1e-5)
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-5)


def test_views_is_validated(photos):
    X, y, _, _ = photos
    with pytest.raises(ValueError, match="views"):
        FineTunedClassifier(**{**FAST, "views": 0}).fit(X, y)


@pytest.mark.parametrize("value", [10**9, 2, "3", True])
def test_load_refuses_views_the_setting_never_gives(photos, tmp_path, value):
    """A model file cannot make every prediction compute a billion crops."""
    import skcnn
    from skcnn.exceptions import ModelFileError

    X, y, _, _ = photos
    path = skcnn.save(FineTunedClassifier(**FAST).fit(X, y), tmp_path / "views.skcnn")
    bad = edit_stored_attribute(path, tmp_path / "bad.skcnn", "views_", value)
    with pytest.raises(ModelFileError, match="views_="):
        skcnn.load(bad)
