"""PretrainedFeatures on bad input: every error says what is wrong and names the
offending file or item, and a failed transform returns nothing.

Network access is blocked for the whole module (Unix sockets stay usable for
DataLoader workers); only the default backbone, whose weights ship in a pip
package, is loaded.
"""

import re

import numpy as np
import pytest
from conftest import blocked_network
from PIL import Image
from skimage import data
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skcnn import PretrainedFeatures
from skcnn.exceptions import InputError, LayerNotFoundError, PluginNotFoundError

FAST = dict(input_size=32, num_workers=0, verbose=0)


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Block the network for this module; yields the list of attempted accesses."""
    with blocked_network() as attempts:
        yield attempts


@pytest.fixture(scope="module")
def chelsea():
    return data.chelsea()


@pytest.fixture(scope="module")
def features(chelsea):
    """A fitted PretrainedFeatures (32x32 inputs). Do not mutate."""
    return PretrainedFeatures(**FAST).fit(chelsea[None])


@pytest.fixture(scope="module")
def good_files(chelsea, tmp_path_factory):
    """Ten small valid PNG files."""
    folder = tmp_path_factory.mktemp("good")
    paths = []
    for i in range(10):
        paths.append(folder / f"good{i}.png")
        Image.fromarray(chelsea[10 * i:10 * i + 40, 20 * i:20 * i + 50]).save(paths[-1])
    return paths


def shut_down_leftover_workers(exc):
    """Stop DataLoader workers still referenced by ``exc``'s traceback.

    Left to the garbage collector, they stall it for 5 s per worker (see
    ``test_failed_transform_leaves_no_worker_processes``).
    """
    tb = exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            shutdown = getattr(value, "_shutdown_workers", None)
            if callable(shutdown):
                shutdown()
        tb = tb.tb_next


def truncated_jpeg(chelsea, path):
    Image.fromarray(chelsea).save(path, quality=90)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


# --------------------------------------------------------------------------- files


def test_missing_file_is_named(features, good_files, tmp_path):
    missing = tmp_path / "no_such_photo.jpg"
    with pytest.raises(InputError, match=re.escape(str(missing))) as info:
        features.transform(good_files[:2] + [missing])
    assert "not found" in str(info.value)
    # fit_transform, and str paths, say the same.
    with pytest.raises(InputError, match=re.escape(str(missing))):
        PretrainedFeatures(**FAST).fit_transform([str(missing)])


def test_folder_instead_of_a_file(features, tmp_path):
    with pytest.raises(InputError, match=re.escape(str(tmp_path)) + ".*folder"):
        features.transform([tmp_path])


def test_text_file_named_jpg(features, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not an image\n")
    with pytest.raises(InputError, match=re.escape(str(fake))) as info:
        features.transform([fake])
    assert "not an image" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_jpeg(features, chelsea, tmp_path):
    broken = truncated_jpeg(chelsea, tmp_path / "truncated.jpg")
    with pytest.raises(InputError, match=re.escape(str(broken))) as info:
        features.transform([broken])
    assert "truncated" in str(info.value)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_broken_item_in_a_list_is_named_and_nothing_is_returned(chelsea, good_files, tmp_path,
                                                                num_workers):
    paths = list(good_files)
    paths[7] = truncated_jpeg(chelsea, tmp_path / "item7.jpg")
    pf = PretrainedFeatures(input_size=32, batch_size=2, num_workers=num_workers,
                            verbose=0).fit(good_files)
    result = None
    with pytest.raises(InputError) as info:
        result = pf.transform(paths)  # batches 0-2 succeed before item 7 fails
    shut_down_leftover_workers(info.value)
    message = str(info.value)
    assert str(paths[7]) in message
    assert not any(str(p) in message for i, p in enumerate(paths) if i != 7)
    assert result is None  # no partial result
    # The transformer still works once the broken file is removed.
    good = paths[:7] + paths[8:]
    assert pf.transform(good).shape == (9, 1280)


def test_failed_transform_leaves_no_worker_processes(chelsea, good_files, tmp_path):
    """Known bug: the DataLoader iterator of a failed transform keeps its workers.

    The iterator is only reachable from the error's traceback, so its workers
    run on until the garbage collector finds the cycle, and then its shutdown
    stalls for 5 s per worker (10 s here; 20 s with the 4 workers that
    num_workers='auto' picks for large inputs) at some unrelated later point.
    Fix: shut the workers down when iteration stops (skcnn/data/transforms.py,
    ``iterate_batches``).
    """
    import multiprocessing

    paths = list(good_files)
    paths[7] = truncated_jpeg(chelsea, tmp_path / "item7.jpg")
    pf = PretrainedFeatures(input_size=32, batch_size=2, num_workers=2,
                            verbose=0).fit(good_files)
    before = set(multiprocessing.active_children())  # e.g. joblib's workers of other tests
    with pytest.raises(InputError, match=re.escape(str(paths[7]))) as info:
        pf.transform(paths)
    try:
        assert set(multiprocessing.active_children()) - before == set()
    finally:
        shut_down_leftover_workers(info.value)


# --------------------------------------------------------------------------- arrays and lists


def test_empty_list(features):
    with pytest.raises(InputError, match="empty"):
        features.transform([])
    with pytest.raises(InputError, match="empty"):
        PretrainedFeatures(**FAST).fit([])


def test_empty_array(features):
    with pytest.raises(ValueError, match="0 "):
        features.transform(np.zeros((0, 32, 32, 3), np.uint8))


def test_mixed_paths_and_arrays(features, good_files, chelsea):
    with pytest.raises(InputError, match="mixes arrays of images and file paths") as info:
        features.transform([good_files[0], chelsea])
    assert "one kind only" in str(info.value)


def test_mixed_paths_and_pil_images(features, good_files, chelsea):
    with pytest.raises(InputError, match="mixes PIL images and file paths"):
        features.transform([Image.fromarray(chelsea), good_files[0]])


def test_unsupported_item_type(features):
    with pytest.raises(InputError, match="Unsupported image of type int"):
        features.transform([1, 2])


def test_single_path_or_pil_image_asks_for_a_list(features, good_files, chelsea):
    with pytest.raises(InputError, match=r"single path.*pass a list"):
        features.transform(str(good_files[0]))
    with pytest.raises(InputError, match=r"single path.*pass a list"):
        features.transform(good_files[0])
    with pytest.raises(InputError, match=r"single PIL image.*pass a list"):
        features.transform(Image.fromarray(chelsea))


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_pixels(features, value, word):
    X = np.random.RandomState(0).rand(3, 16, 16, 3)
    X[1, 4, 5, 2] = value
    with pytest.raises(InputError, match=rf"{word} \(1 pixel values, the first in image 1\)"):
        features.transform(X)
    with pytest.raises(InputError, match=word):
        PretrainedFeatures(**FAST).fit(X)


def test_float_pixels_outside_unit_interval_warn(features, chelsea):
    with pytest.warns(UserWarning, match=r"outside \[0, 1\].*uint8"):
        out = features.transform(chelsea[None].astype(np.float64))  # 0..255 floats
    assert out.shape == (1, 1280)


def test_one_pixel_image_as_array(features):
    with pytest.raises(InputError, match=r"1x1 pixels.*at least 2 pixels"):
        features.transform(np.zeros((2, 1, 1), np.uint8))
    with pytest.raises(InputError, match="1x1 pixels"):
        PretrainedFeatures(**FAST).fit(np.zeros((2, 1, 1), np.float32))


def test_one_pixel_image_as_pil_image_and_file(features, chelsea, tmp_path):
    images = [Image.fromarray(chelsea), Image.new("RGB", (1, 1), (5, 6, 7))]
    with pytest.raises(InputError, match=r"image 1 is 1x1 pixels"):
        features.transform(images)
    path = tmp_path / "dot.png"
    images[1].save(path)
    with pytest.raises(InputError, match=re.escape(repr(str(path))) + " is 1x1 pixels"):
        features.transform([path])


# --------------------------------------------------------------------------- parameters


def test_unknown_backbone_lists_the_installed_ones(chelsea):
    pf = PretrainedFeatures(backbone="efficientnet_lite9", **FAST)  # __init__ does not check
    with pytest.raises(PluginNotFoundError, match="efficientnet_lite9") as info:
        pf.fit(chelsea[None])
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    for name in ("efficientnet_lite0", "resnet50", "vgg16"):
        assert name in message
    assert "timm:<name>" in message


def test_unknown_torchvision_and_timm_models(chelsea):
    with pytest.raises(PluginNotFoundError, match="resnet5000"):
        PretrainedFeatures(backbone="torchvision:resnet5000", **FAST).fit(chelsea[None])
    with pytest.raises(PluginNotFoundError, match="resnet5000"):
        PretrainedFeatures(backbone="timm:resnet5000", **FAST).fit(chelsea[None])


def test_unknown_layer(chelsea):
    with pytest.raises(LayerNotFoundError,
                       match=r"no layer 'head'\. Valid layers: blocks\.0, .*forward_features"):
        PretrainedFeatures(layer="head", **FAST).fit(chelsea[None])


@pytest.mark.parametrize("params, pattern", [
    (dict(pooling="median"), "pooling"),
    (dict(input_size=4), "input_size"),
    (dict(batch_size=0), "batch_size"),
    (dict(precision="int8"), "precision"),
    (dict(num_workers=-1), "num_workers"),
    (dict(backbone=3), "backbone"),
])
def test_invalid_parameters(chelsea, params, pattern):
    with pytest.raises(InvalidParameterError, match=pattern):
        PretrainedFeatures(**{**FAST, **params}).fit(chelsea[None])


def test_transform_before_fit(chelsea):
    with pytest.raises(NotFittedError):
        PretrainedFeatures(**FAST).transform(chelsea[None])
