"""Images of more than 8 bits: read as their files mean them, not clipped to 255.

Microscopy, medical and astronomy images are mostly 16-bit. Before skcnn read
them by their bit depth, every value above 255 became white: a two-class
folder of 16-bit photographs (one class near 20000, the other near 45000)
gave identical all-white images and chance accuracy for every model.
"""

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcnn import CNNClassifier, ImageLoader, PretrainedFeatures
from skcnn.data.arrays import encoding_mismatch, images_to_array, pixel_encoding
from skcnn.datasets import load_image_folder


def _patches(n, side=32, seed=0):
    """``n`` real-photograph patches (scikit-image's camera and coins), uint8."""
    rng = np.random.RandomState(seed)
    sources = [skdata.camera(), skdata.coins(), skdata.moon()]
    out = []
    for i in range(n):
        image = sources[i % len(sources)]
        r = rng.randint(0, image.shape[0] - 2 * side)
        c = rng.randint(0, image.shape[1] - 2 * side)
        out.append(image[r:r + 2 * side:2, c:c + 2 * side:2])
    return out


@pytest.fixture(scope="module")
def sixteen_bit_folder(tmp_path_factory):
    """Two classes of 16-bit PNGs from the same kind of content: near 20000 and near 45000."""
    root = tmp_path_factory.mktemp("sixteen_bit")
    for label, base in (("dim", 20000), ("bright", 45000)):
        (root / label).mkdir()
        for i, patch in enumerate(_patches(16, seed=base)):
            values = (base + patch.astype(np.uint32) * 40).astype(np.uint16)  # base..base+10200
            Image.fromarray(values).save(root / label / f"{i:02d}.png")
    return root


def test_folder_of_16_bit_pngs_opens_as_16_bit(sixteen_bit_folder):
    paths, labels = load_image_folder(sixteen_bit_folder)
    with Image.open(paths[0]) as image:
        assert image.mode in ("I;16", "I")
        assert np.asarray(image).max() > 255
    assert sorted(set(labels)) == ["bright", "dim"]


def test_16_bit_folder_scores_well_above_chance_with_pretrained_features(sixteen_bit_folder):
    paths, labels = load_image_folder(sixteen_bit_folder)
    model = make_pipeline(PretrainedFeatures(input_size=32, num_workers=0, verbose=0),
                          StandardScaler(), LogisticRegression(max_iter=2000))
    scores = cross_val_score(model, paths, labels, cv=4)
    # Clipped to 255 every image is all white, so the classes cannot be told apart: 0.5.
    assert scores.mean() >= 0.8, scores


def test_16_bit_files_keep_their_brightness_through_image_loader(sixteen_bit_folder):
    paths, labels = load_image_folder(sixteen_bit_folder)
    images = ImageLoader(mode="L").fit_transform(paths)
    dim, bright = images[labels == "dim"], images[labels == "bright"]
    # 20000..30200 / 65535 * 255 = 78..118; 45000..55200 -> 175..215.
    assert dim.max() <= 118 and bright.min() >= 175
    assert dim.std() > 5 and bright.std() > 5  # the photographs' content survives


def test_16_bit_arrays_classify_like_their_8_bit_version(digits8):
    X, y = digits8
    eight = np.rint(X[:300] * 255).astype(np.uint8)
    sixteen = eight.astype(np.uint16) * 257  # the same intensities at 16 bits
    clf = CNNClassifier(filters=(4,), hidden_units=(16,), max_epochs=3, verbose=0,
                        random_state=0).fit(eight, y[:300])
    np.testing.assert_allclose(clf.predict_proba(sixteen), clf.predict_proba(eight), atol=1e-6)


# --------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("dtype, values, scale", [
    (np.uint8, [0, 7], 255),
    (np.uint16, [0, 7], 65535),  # the dtype decides for the image types
    (np.uint16, [0, 60000], 65535),
    (np.int64, [0, 255], 255),  # other integers: their values decide
    (np.int32, [3, 4000], 65535),
    (np.int16, [-5, 100], None),
    (np.int64, [0, 70000], None),
    (np.float32, [0, 300], None),
    (np.bool_, [0, 1], None),
])
def test_pixel_encoding_rule(dtype, values, scale):
    encoding = pixel_encoding(np.asarray(values, dtype=dtype))
    assert encoding.scale == scale
    out = images_to_array(np.asarray(values, dtype=dtype).reshape(1, 1, 2))
    expected = np.asarray(values, dtype=np.float32) / (scale or 1)
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-6)


def test_encoding_mismatch_only_where_the_same_pixels_read_differently():
    uint8 = pixel_encoding(np.array([0, 200], np.uint8))
    assert encoding_mismatch(uint8, pixel_encoding(np.array([0.0, 0.8]))) is None
    assert encoding_mismatch(uint8, pixel_encoding(np.array([0, 200], np.int64))) is None
    assert encoding_mismatch(uint8, pixel_encoding(np.array([0, 50000], np.uint16))) is None
    assert "257 times darker" in encoding_mismatch(uint8, pixel_encoding(
        np.array([0, 200], np.uint16)))
    assert "fit saw 8-bit" in encoding_mismatch(uint8, pixel_encoding(np.array([0.0, 200.0])))
    floats = pixel_encoding(np.array([-1.5, 2.0]))
    assert "fit saw floats" in encoding_mismatch(floats, uint8)
    assert encoding_mismatch(floats, pixel_encoding(np.array([-3.0, 9.0]))) is None
