"""ImageLoader: image files (and PIL images, arrays) to a uint8 array, as a pipeline step."""

import re

import numpy as np
import pytest
from PIL import Image
from skimage import data
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skcnn import ImageLoader
from skcnn.exceptions import InputError


@pytest.fixture(scope="module")
def chelsea():
    return data.chelsea()  # (300, 451, 3) uint8


@pytest.fixture(scope="module")
def same_size_files(chelsea, tmp_path_factory):
    """Four 40x50 RGB PNG crops; returns (paths, arrays)."""
    folder = tmp_path_factory.mktemp("same")
    paths, arrays = [], []
    for i in range(4):
        arrays.append(chelsea[30 * i:30 * i + 40, 60 * i:60 * i + 50])
        paths.append(folder / f"crop{i}.png")
        Image.fromarray(arrays[-1]).save(paths[-1])
    return paths, np.stack(arrays)


@pytest.fixture(scope="module")
def mixed_size_files(chelsea, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    paths = []
    for i, (h, w) in enumerate([(40, 50), (64, 32), (33, 33)]):
        paths.append(folder / f"img{i}.png")
        Image.fromarray(chelsea[:h, :w]).save(paths[-1])
    return paths


def flatten(X):
    return X.reshape(len(X), -1)


# --------------------------------------------------------------------------- paths


def test_paths_to_uint8_rgb(same_size_files):
    paths, arrays = same_size_files
    out = ImageLoader().fit_transform(paths)
    assert out.dtype == np.uint8
    assert out.shape == (4, 40, 50, 3)
    np.testing.assert_array_equal(out, arrays)  # PNG is lossless
    # str paths, and a list mixing str and Path, load the same.
    np.testing.assert_array_equal(ImageLoader().fit_transform([str(p) for p in paths]), arrays)
    mixed = [str(paths[0]), paths[1], str(paths[2]), paths[3]]
    np.testing.assert_array_equal(ImageLoader().fit_transform(mixed), arrays)


def test_fit_on_paths_sets_no_n_features_in(same_size_files):
    loader = ImageLoader().fit(same_size_files[0])
    assert not hasattr(loader, "n_features_in_")


def test_grayscale_mode(same_size_files):
    paths, arrays = same_size_files
    out = ImageLoader(mode="L").fit_transform(paths)
    assert out.dtype == np.uint8
    assert out.shape == (4, 40, 50)
    expected = np.stack([np.asarray(Image.fromarray(a).convert("L")) for a in arrays])
    np.testing.assert_array_equal(out, expected)


def test_size_int_and_tuple(same_size_files, mixed_size_files):
    paths, _ = same_size_files
    square = ImageLoader(size=16).fit_transform(paths)
    assert square.shape == (4, 16, 16, 3) and square.dtype == np.uint8
    rect = ImageLoader(size=(12, 20)).fit_transform(mixed_size_files)  # (height, width)
    assert rect.shape == (3, 12, 20, 3)
    gray = ImageLoader(size=[10, 8], mode="L").fit_transform(mixed_size_files)
    assert gray.shape == (3, 10, 8)


def test_size_that_already_matches_leaves_pixels_unchanged(same_size_files):
    paths, arrays = same_size_files
    np.testing.assert_array_equal(ImageLoader(size=(40, 50)).fit_transform(paths), arrays)


def test_different_sizes_without_size_suggest_size(mixed_size_files):
    loader = ImageLoader().fit(mixed_size_files)
    with pytest.raises(InputError, match=re.escape("size=(height, width)")) as info:
        loader.transform(mixed_size_files)
    assert "3 different sizes" in str(info.value)


@pytest.mark.parametrize("size", [0, -3, (4, 4, 4), (0, 5)])
def test_invalid_size(size, same_size_files):
    with pytest.raises(ValueError, match="size must be a positive int"):
        ImageLoader(size=size).fit(same_size_files[0])


def test_invalid_mode(same_size_files):
    with pytest.raises(ValueError, match="mode"):
        ImageLoader(mode="CMYK").fit(same_size_files[0])


def test_missing_file_is_named(same_size_files, tmp_path):
    missing = tmp_path / "gone.png"
    loader = ImageLoader().fit(same_size_files[0])
    with pytest.raises(InputError, match=re.escape(str(missing))):
        loader.transform([same_size_files[0][0], missing])


# --------------------------------------------------------------------------- modes


def rgba_image():
    """4x4 RGBA: pixel (0, 0) fully transparent (dark red), pixel (0, 1) opaque blue,
    pixel (0, 2) half transparent black, the rest opaque green."""
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[...] = (0, 200, 0, 255)
    rgba[0, 0] = (120, 0, 0, 0)
    rgba[0, 1] = (0, 0, 255, 255)
    rgba[0, 2] = (0, 0, 0, 128)
    return Image.fromarray(rgba, mode="RGBA")


def test_rgba_is_composited_on_white(tmp_path):
    path = tmp_path / "rgba.png"
    rgba_image().save(path)
    for X in ([path], [rgba_image()]):
        out = ImageLoader().fit_transform(X)
        assert out.shape == (1, 4, 4, 3)
        assert tuple(out[0, 0, 0]) == (255, 255, 255)  # transparent -> white
        assert tuple(out[0, 0, 1]) == (0, 0, 255)  # opaque keeps its colour
        assert np.all(np.abs(out[0, 0, 2].astype(int) - 127) <= 1)  # half way to white
        assert tuple(out[0, 3, 3]) == (0, 200, 0)


def test_rgba_in_grayscale_mode_is_composited_on_white(tmp_path):
    """mode='L' should treat transparency as mode='RGB' does (white background).

    Known bug: ImageLoader.transform (and PilPreprocess for 1-channel backbones)
    call ``image.convert("L")``, which drops the alpha channel, so a fully
    transparent pixel takes its hidden colour (here dark red -> 36, and
    typically black for transparent PNGs) instead of white.
    """
    path = tmp_path / "rgba.png"
    rgba_image().save(path)
    out = ImageLoader(mode="L").fit_transform([path])
    assert out.shape == (1, 4, 4)
    assert out[0, 0, 1] == np.asarray(Image.new("RGB", (1, 1), (0, 0, 255)).convert("L"))[0, 0]
    assert out[0, 0, 0] == 255  # transparent -> white, as in RGB mode


def test_palette_image_converts(tmp_path):
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    palette_image = Image.fromarray(indices, mode="P")
    palette_image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    path = tmp_path / "palette.png"
    palette_image.save(path)
    assert Image.open(path).mode == "P"
    expected = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 255, 0]]], np.uint8)
    np.testing.assert_array_equal(ImageLoader().fit_transform([path])[0], expected)
    np.testing.assert_array_equal(ImageLoader().fit_transform([palette_image])[0], expected)
    gray = ImageLoader(mode="L").fit_transform([path])
    assert gray.shape == (1, 2, 2)
    assert gray[0, 0, 0] == np.asarray(Image.fromarray(expected).convert("L"))[0, 0]


def test_palette_transparency_becomes_white(tmp_path):
    indices = np.array([[0, 1], [1, 1]], np.uint8)
    palette_image = Image.fromarray(indices, mode="P")
    palette_image.putpalette([0, 0, 0, 10, 20, 30] + [0] * (256 * 3 - 6))
    path = tmp_path / "transparent_palette.png"
    palette_image.save(path, transparency=0)
    out = ImageLoader().fit_transform([path])
    assert tuple(out[0, 0, 0]) == (255, 255, 255)
    assert tuple(out[0, 1, 1]) == (10, 20, 30)


def test_grayscale_file_in_rgb_mode(tmp_path):
    gray = (np.arange(30, dtype=np.uint8) * 8).reshape(5, 6)
    path = tmp_path / "gray.png"
    Image.fromarray(gray).save(path)
    out = ImageLoader().fit_transform([path])
    assert out.shape == (1, 5, 6, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[0, ..., channel], gray)


def test_pil_images_of_several_modes(chelsea):
    images = [Image.fromarray(chelsea[:20, :20]),
              Image.fromarray(chelsea[:20, :20]).convert("L"),
              Image.fromarray(chelsea[:20, :20]).convert("RGBA"),
              Image.fromarray(chelsea[:20, :20]).convert("P")]
    out = ImageLoader().fit_transform(images)
    assert out.shape == (4, 20, 20, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], chelsea[:20, :20])
    np.testing.assert_array_equal(out[2], chelsea[:20, :20])  # opaque RGBA


# --------------------------------------------------------------------------- arrays


def test_arrays_are_accepted(chelsea):
    X = np.stack([chelsea[:24, :32], chelsea[24:48, :32]])
    loader = ImageLoader().fit(X)
    assert loader.n_features_in_ == 24 * 32 * 3
    np.testing.assert_array_equal(loader.transform(X), X)
    np.testing.assert_array_equal(loader.transform(X / 255.0), X)  # floats in [0, 1]
    np.testing.assert_array_equal(loader.transform(X.transpose(0, 3, 1, 2)), X)  # (N, C, H, W)
    resized = ImageLoader(size=8).fit_transform(X)
    assert resized.shape == (2, 8, 8, 3) and resized.dtype == np.uint8
    gray = np.stack([chelsea[:24, :32, 0]] * 2)  # (N, H, W)
    rgb = ImageLoader().fit_transform(gray)
    assert rgb.shape == (2, 24, 32, 3)
    assert ImageLoader(mode="L").fit_transform(gray).shape == (2, 24, 32)


def test_empty_and_nan_input():
    with pytest.raises(InputError, match="empty"):
        ImageLoader().fit([])
    bad = np.random.RandomState(0).rand(2, 8, 8)
    bad[0, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        ImageLoader().fit(bad)


def test_clone_and_params():
    loader = ImageLoader(size=(10, 12), mode="L")
    twin = clone(loader)
    assert twin.get_params() == {"size": (10, 12), "mode": "L"}


# --------------------------------------------------------------------------- pipeline


@pytest.fixture(scope="module")
def lfw_files(tmp_path_factory):
    """40 faces (label 1) and 40 non-faces (label 0) from scikit-image's lfw_subset as PNGs."""
    faces = data.lfw_subset()  # first 100 are faces, last 100 non-faces
    folder = tmp_path_factory.mktemp("lfw")
    chosen = list(range(0, 40)) + list(range(100, 140))
    paths = []
    for i in chosen:
        paths.append(folder / f"lfw{i:03d}.png")
        Image.fromarray(np.rint(faces[i] * 255).astype(np.uint8)).save(paths[-1])
    y = np.r_[np.ones(40, int), np.zeros(40, int)]
    return paths, y


def test_pipeline_with_a_classifier(lfw_files):
    paths, y = lfw_files
    train = np.r_[0:30, 40:70]
    test = np.r_[30:40, 70:80]
    pipe = make_pipeline(ImageLoader(size=16, mode="L"), FunctionTransformer(flatten),
                         LogisticRegression(max_iter=2000))
    pipe.fit([paths[i] for i in train], y[train])
    predicted = pipe.predict([paths[i] for i in test])
    assert predicted.shape == (20,)
    assert set(predicted) <= {0, 1}
    assert pipe.score([paths[i] for i in train], y[train]) > 0.9
    print("held-out accuracy:", (predicted == y[test]).mean())
    assert (predicted == y[test]).mean() > 0.6
