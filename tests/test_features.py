"""PretrainedFeatures: shapes, pooling, layers, every input kind, the scikit-learn
contract (no weights in __init__, clone, set_params, set_output, pipelines,
pickling) and the inference engine (eval mode, inference_mode, precision,
memory layout, batching, worker processes, progress bar).

Network access is blocked for the whole module: only the default backbone,
``efficientnet_lite0``, whose weights ship in a pip package, is loaded. Most
tests feed the network 32x32 inputs (``input_size=32``) to stay fast.
"""

import copy
import pickle
import re

import joblib
import numpy as np
import pytest
import torch
from conftest import blocked_network
from PIL import Image
from skimage import data
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcnn import PretrainedFeatures
from skcnn.exceptions import LayerNotFoundError, WeightsUnavailableError

FAST = dict(input_size=32, num_workers=0, verbose=0)


@pytest.fixture(scope="module", autouse=True)
def network_attempts():
    """Block the network for this module; yields the list of attempted accesses."""
    with blocked_network() as attempts:
        yield attempts


@pytest.fixture(scope="module")
def photos():
    """scikit-image's sample photos (shipped with scikit-image)."""
    return {
        "chelsea": data.chelsea(),  # (300, 451, 3) uint8
        "coffee": data.coffee(),  # (400, 600, 3) uint8
        "astronaut": data.astronaut(),  # (512, 512, 3) uint8
        "camera": data.camera(),  # (512, 512) uint8, grayscale
    }


@pytest.fixture(scope="module")
def photo_files(photos, tmp_path_factory):
    """The photos written as lossless PNG files; name -> pathlib.Path."""
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name, array in photos.items():
        paths[name] = folder / f"{name}.png"
        Image.fromarray(array).save(paths[name])
    return paths


@pytest.fixture(scope="module")
def features(photos):
    """A fitted PretrainedFeatures (default backbone and layer, 32x32 inputs). Do not mutate."""
    return PretrainedFeatures(**FAST).fit(photos["chelsea"][None])


@pytest.fixture(scope="module")
def small_batch(photos):
    """Three 128x128 crops of the colour photos as a uint8 (3, 128, 128, 3) array."""
    return np.stack([photos[n][100:228, 100:228] for n in ("chelsea", "coffee", "astronaut")])


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --------------------------------------------------------------------------- shapes, pooling, layers


def test_transform_shape_and_dtype(features, small_batch):
    assert features.n_features_out_ == 1280  # efficientnet_lite0's last stage
    out = features.transform(small_batch)
    assert out.shape == (3, 1280)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    # Different images give different features.
    assert not np.allclose(out[0], out[1])
    # Fitted attributes.
    assert features.n_features_in_ == 300 * 451 * 3
    assert features.layer_names_[-1] == "forward_features"
    assert tuple(features.preprocess_.input_size) == (32, 32)
    assert features.device_ == "cpu"


def test_fit_transform_equals_fit_then_transform(features, small_batch):
    out = clone(features).fit_transform(small_batch)
    np.testing.assert_allclose(out, features.transform(small_batch), atol=1e-6)


def test_pooling_max_avgmax_and_set_params(small_batch):
    # 64x64 inputs give a 2x2 final map (at 32x32 it is 1x1 and max == avg).
    params = dict(FAST, input_size=64)
    avg_pf = PretrainedFeatures(**params).fit(small_batch)
    avg = avg_pf.transform(small_batch)
    # set_params on a clone, then refit: the new pooling is used.
    max_pf = clone(avg_pf).set_params(pooling="max").fit(small_batch)
    maxed = max_pf.transform(small_batch)
    assert maxed.shape == avg.shape
    assert not np.allclose(maxed, avg, atol=1e-3)
    assert (maxed >= avg - 1e-4).all()  # the max of a map is at least its mean

    both = PretrainedFeatures(pooling="avgmax", **params).fit(small_batch)
    assert both.n_features_out_ == 2 * 1280
    out = both.transform(small_batch)
    assert out.shape == (3, 2560)
    np.testing.assert_allclose(out[:, :1280], avg, atol=1e-5)
    np.testing.assert_allclose(out[:, 1280:], maxed, atol=1e-5)
    assert len(both.get_feature_names_out()) == 2560


def test_intermediate_layer(features, small_batch):
    names = features.layer_names_
    assert "blocks.2" in names
    mid = PretrainedFeatures(layer="blocks.2", **FAST).fit(small_batch)
    assert mid.layer_names_ == names
    assert mid.n_features_out_ != 1280
    out = mid.transform(small_batch)
    assert out.shape == (3, mid.n_features_out_)
    assert np.isfinite(out).all()


def test_unknown_layer_lists_the_valid_names(small_batch):
    pf = PretrainedFeatures(layer="blocks.99", **FAST)
    with pytest.raises(LayerNotFoundError, match="blocks.99") as info:
        pf.fit(small_batch)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for name in ("blocks.0", "blocks.2", "blocks.6", "forward_features"):
        assert name in message
    assert not hasattr(pf, "model_")


# --------------------------------------------------------------------------- input kinds


def test_uint8_float_and_channels_first_arrays_agree(features, small_batch):
    ref = features.transform(small_batch)
    as_float32 = features.transform(small_batch.astype(np.float32) / 255)
    as_float64 = features.transform(small_batch / 255.0)
    channels_first = features.transform(small_batch.transpose(0, 3, 1, 2))
    for out in (as_float32, as_float64, channels_first):
        assert out.shape == (3, 1280) and out.dtype == np.float32
        np.testing.assert_allclose(out, ref, atol=1e-4)


def test_grayscale_array(features, photos):
    gray = np.stack([photos["camera"][:200, :200], photos["camera"][200:400, 200:400]])
    out = features.transform(gray)
    assert out.shape == (2, 1280)
    # A grayscale image is fed as RGB with three equal channels.
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    np.testing.assert_allclose(out, features.transform(rgb), atol=1e-4)
    # ... and as a mode 'L' PIL image.
    pil = [Image.fromarray(g) for g in gray]
    np.testing.assert_allclose(out, features.transform(pil), atol=1e-4)


def test_list_of_pil_images(features, photos):
    images = [Image.fromarray(photos[n]) for n in ("chelsea", "coffee", "astronaut", "camera")]
    out = features.transform(images)
    assert out.shape == (4, 1280) and out.dtype == np.float32
    assert not hasattr(clone(features).fit(images), "n_features_in_")


def test_str_and_path_paths_agree(features, photo_files):
    names = ["chelsea", "coffee", "astronaut", "camera"]
    as_paths = features.transform([photo_files[n] for n in names])
    as_str = features.transform([str(photo_files[n]) for n in names])
    assert as_paths.shape == (4, 1280)
    np.testing.assert_array_equal(as_paths, as_str)
    # Fitting on paths works too and forgets n_features_in_ from an array fit.
    pf = PretrainedFeatures(**FAST).fit(np.zeros((1, 8, 8, 3), np.uint8))
    assert hasattr(pf, "n_features_in_")
    pf.fit([str(photo_files["chelsea"])])
    assert not hasattr(pf, "n_features_in_")


def test_same_image_as_array_pil_and_png_path(features, photos, photo_files):
    array = features.transform(photos["coffee"][None])
    pil = features.transform([Image.fromarray(photos["coffee"])])
    path = features.transform([photo_files["coffee"]])
    np.testing.assert_allclose(pil, array, atol=1e-4)
    np.testing.assert_allclose(path, array, atol=1e-4)


def _mixed_modes(photos):
    """RGB, L, RGBA (half transparent) and palette images, all of different sizes."""
    rgba = Image.fromarray(photos["astronaut"][:300, :200]).convert("RGBA")
    alpha = np.full((300, 200), 255, np.uint8)
    alpha[:, :100] = 0
    rgba.putalpha(Image.fromarray(alpha))
    return [
        Image.fromarray(photos["chelsea"]),  # RGB 451x300
        Image.fromarray(photos["camera"][:100, :150]),  # L 150x100
        rgba,  # RGBA 200x300
        Image.fromarray(photos["coffee"][:64, :80]).convert("P"),  # palette 80x64
    ]


def test_different_sizes_and_modes_in_one_list(features, photos, tmp_path):
    images = _mixed_modes(photos)
    assert [im.mode for im in images] == ["RGB", "L", "RGBA", "P"]
    assert len({im.size for im in images}) == 4
    from_pil = features.transform(images)
    assert from_pil.shape == (4, 1280)
    assert np.isfinite(from_pil).all()
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"image{i}_{image.mode}.png")
        image.save(paths[-1])
    assert Image.open(paths[3]).mode == "P"
    from_files = features.transform(paths)
    np.testing.assert_allclose(from_files, from_pil, atol=1e-4)


# --------------------------------------------------------------------------- scikit-learn contract


def test_no_weights_are_loaded_in_init(network_attempts, tmp_path, monkeypatch, small_batch):
    from torchvision import models

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    before = len(network_attempts)
    pf = PretrainedFeatures(backbone="resnet50", verbose=0)  # offline, not cached: fine
    assert pf.get_params()["backbone"] == "resnet50"
    twin = clone(pf)
    twin.set_params(backbone="vgg16", layer="features.3")
    assert twin.get_params()["backbone"] == "vgg16"
    assert pf.get_params()["backbone"] == "resnet50"
    assert len(network_attempts) == before  # nothing was fetched
    assert not (tmp_path / "torch_home").exists()  # nor looked up in the cache

    # Only fit loads the weights; offline it says which file is missing.
    file_name = models.ResNet50_Weights.DEFAULT.url.rsplit("/", 1)[1]
    with pytest.raises(WeightsUnavailableError, match=re.escape(file_name)) as info:
        pf.fit(small_batch)
    assert "efficientnet_lite0" in str(info.value)  # the offline alternative
    assert len(network_attempts) > before  # offline was detected by trying
    assert not hasattr(pf, "model_")


def test_clone_of_a_fitted_transformer_is_unfitted(features):
    twin = clone(features)
    assert twin.get_params() == features.get_params()
    assert not hasattr(twin, "model_") and not hasattr(twin, "n_features_out_")


def test_get_feature_names_out_and_pandas_output(features, small_batch):
    import pandas as pd

    names = features.get_feature_names_out()
    assert len(names) == features.n_features_out_ == 1280
    assert len(set(names)) == len(names)
    pf = copy.deepcopy(features).set_output(transform="pandas")
    frame = pf.transform(small_batch)
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == (3, 1280)
    assert list(frame.columns) == list(names)
    np.testing.assert_allclose(frame.to_numpy(), features.transform(small_batch), atol=1e-6)


def test_pipeline_on_lfw_faces():
    X = data.lfw_subset()  # 200 grayscale 25x25 images in [0, 1]
    y = np.r_[np.ones(100, int), np.zeros(100, int)]  # faces first, then non-faces
    assert X.shape == (200, 25, 25)
    pipe = make_pipeline(PretrainedFeatures(input_size=64, num_workers=0, verbose=0),
                         StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    scores = cross_val_score(pipe, X, y, cv=3)
    print("lfw_subset 3-fold accuracies:", scores)
    assert scores.mean() > 0.85


def test_pickle_and_joblib_round_trip(features, small_batch, tmp_path):
    ref = features.transform(small_batch)
    restored = pickle.loads(pickle.dumps(features))
    np.testing.assert_array_equal(restored.transform(small_batch), ref)
    joblib.dump(features, tmp_path / "features.joblib")
    loaded = joblib.load(tmp_path / "features.joblib")
    np.testing.assert_array_equal(loaded.transform(small_batch), ref)
    assert loaded.get_params() == features.get_params()
    assert loaded.n_features_out_ == features.n_features_out_


# --------------------------------------------------------------------------- inference engine


def test_inference_is_eval_mode_and_inference_mode(small_batch):
    pf = PretrainedFeatures(**FAST).fit(small_batch)
    assert not pf.model_.training
    assert not any(m.training for m in pf.model_.modules())

    seen = {}

    def pre_hook(module, inputs):
        seen["inference_mode"] = torch.is_inference_mode_enabled()
        seen["grad_enabled"] = torch.is_grad_enabled()
        seen["training"] = [m.training for m in module.modules()]

    def hook(module, inputs, output):
        seen["requires_grad"] = output.requires_grad
        seen["grad_fn"] = output.grad_fn

    # Even a model switched to training mode by the user runs in eval mode.
    pf.model_.train()
    state = {k: v.clone() for k, v in pf.model_.state_dict().items()}
    handles = [pf.model_.register_forward_pre_hook(pre_hook),
               pf.model_.register_forward_hook(hook)]
    try:
        out = pf.transform(small_batch)
    finally:
        for handle in handles:
            handle.remove()
    assert seen["inference_mode"] and not seen["grad_enabled"]
    assert not any(seen["training"])  # BatchNorm and dropout in eval mode
    assert not seen["requires_grad"] and seen["grad_fn"] is None
    assert isinstance(out, np.ndarray)  # no autograd graph leaves transform
    assert all(p.grad is None for p in pf.model_.parameters())
    # BatchNorm running statistics were not updated by the images.
    for key, value in pf.model_.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_bfloat16_is_close_to_float32(features, small_batch):
    ref = features.transform(small_batch)
    half = PretrainedFeatures(precision="bfloat16", **FAST).fit(small_batch)
    out = half.transform(small_batch)
    assert out.dtype == np.float32  # features are always returned as float32
    similarity = cosine(out, ref)
    print("bfloat16 vs float32 cosine similarity:", similarity)
    assert (similarity >= 0.99).all()


def test_channels_last_does_not_change_features(features, small_batch):
    plain = PretrainedFeatures(channels_last=False, **FAST).fit(small_batch)
    np.testing.assert_allclose(plain.transform(small_batch), features.transform(small_batch),
                               atol=1e-4)


def test_batch_size_does_not_change_features(photos):
    rng = np.random.RandomState(0)
    X = np.stack([photos["astronaut"][r:r + 48, c:c + 48]
                  for r, c in rng.randint(0, 460, size=(15, 2))])
    one = PretrainedFeatures(batch_size=1, **FAST).fit(X).transform(X)
    seven = PretrainedFeatures(batch_size=7, **FAST).fit(X).transform(X)  # 7 + 7 + 1
    assert one.shape == (15, 1280)
    np.testing.assert_allclose(one, seven, atol=1e-4)


def test_worker_processes_give_the_same_features(photos, tmp_path):
    rng = np.random.RandomState(0)
    paths = []
    for i, (r, c) in enumerate(rng.randint(0, 440, size=(40, 2))):
        paths.append(tmp_path / f"crop{i:02d}.png")
        Image.fromarray(photos["astronaut"][r:r + 40 + i, c:c + 48]).save(paths[-1])
    params = dict(input_size=32, batch_size=8, verbose=0)
    serial = PretrainedFeatures(num_workers=0, **params).fit(paths)
    parallel = clone(serial).set_params(num_workers=2).fit(paths)
    out = parallel.transform(paths)
    assert out.shape == (40, 1280)
    np.testing.assert_allclose(out, serial.transform(paths), atol=1e-5)


def test_progress_bar_only_when_verbose_and_several_batches(features, capsys):
    X = np.random.RandomState(0).randint(0, 256, size=(6, 16, 16, 3)).astype(np.uint8)
    loud = PretrainedFeatures(input_size=32, batch_size=2, num_workers=0, verbose=1).fit(X)
    capsys.readouterr()
    loud.transform(X)  # 3 batches
    captured = capsys.readouterr()
    assert "PretrainedFeatures" in captured.err
    assert "img" in captured.err
    assert captured.out == ""

    loud.transform(X[:2])  # one batch: no bar
    assert capsys.readouterr().err == ""

    many = np.repeat(X, 7, axis=0)  # 42 images: two batches of the fixture's 32
    out = features.transform(many)  # verbose=0
    assert out.shape == (42, 1280)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
