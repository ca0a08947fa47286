"""The feature cache of PretrainedFeatures (``cache=...``).

* a grid search over the head's parameters runs the backbone over each image
  once (forward passes are counted with a hook on the network);
* a changed image, backbone, weights, layer, pooling, preprocessing or
  precision misses; the same settings hit;
* the cache survives a process restart and works with ``n_jobs=2``;
* damaged cache files are detected, recomputed and repaired, never returned;
* ``cache=True`` uses the default folder.

Every test feeds the default backbone (its weights ship in a pip package)
32x32 inputs. ``batch_size=1`` is used where uncached and cached results are
compared across different groupings of images, and whole multiples of
``batch_size`` elsewhere: float32 kernels round differently for different
batch sizes, and the cache computes its misses in full batches.
"""

import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError

from skcnn import PretrainedFeatures
from skcnn.data.inputs import image_input
from skcnn.pretrained import EfficientNetLite0
from skcnn.pretrained import cache as feature_cache
from skcnn.pretrained import features as features_module

FAST = dict(input_size=32, num_workers=0, verbose=0)
GRID = {"svc__C": [0.01, 0.1, 1.0, 10.0, 100.0]}
CV = StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def faces():
    """40 distinct 25x25 grayscale images of scikit-image's LFW subset: 20 faces (1), 20 not (0)."""
    X = data.lfw_subset()
    return np.concatenate([X[80:100], X[100:120]]), np.repeat([1, 0], 20)


@pytest.fixture
def forward_rows(monkeypatch):
    """Counts the images run through any PretrainedFeatures network (``model_``) in this process."""
    counter = {"rows": 0}
    run_model = features_module.run_model

    def counting_run_model(model, *args, **kwargs):
        def hook(_module, inputs):
            counter["rows"] += inputs[0].shape[0]

        handle = model.register_forward_pre_hook(hook)
        try:
            return run_model(model, *args, **kwargs)
        finally:
            handle.remove()

    monkeypatch.setattr(features_module, "run_model", counting_run_model)
    return counter


def entry_files(folder):
    return sorted(p for p in folder.rglob("*.f32") if not p.name.startswith(".tmp-"))


# --------------------------------------------------------------------------- grid search


def test_grid_search_runs_the_backbone_once_per_image(faces, tmp_path, forward_rows):
    X, y = faces
    n_candidates, n_splits = len(GRID["svc__C"]), CV.get_n_splits()

    def search(cache):
        pipe = make_pipeline(PretrainedFeatures(cache=cache, batch_size=1, **FAST), SVC())
        forward_rows["rows"] = 0
        feature_cache.reset_images_computed()
        result = GridSearchCV(pipe, GRID, cv=CV).fit(X, y)
        assert feature_cache.images_computed() == forward_rows["rows"]
        return result, forward_rows["rows"]

    cached, rows_cached = search(tmp_path / "cache")
    uncached, rows_uncached = search(None)

    assert rows_cached == len(X)  # every image exactly once, over 15 fits and the refit
    assert rows_uncached == (n_candidates * n_splits + 1) * len(X)
    assert len(entry_files(tmp_path / "cache")) == len(X)
    assert uncached.cv_results_["mean_test_score"].tolist() == \
        cached.cv_results_["mean_test_score"].tolist()
    assert cached.best_params_ == uncached.best_params_
    # The refitted pipeline found all it needed in the cache.
    assert cached.best_estimator_[0].n_computed_ == 0


def test_grid_search_with_two_workers(faces, tmp_path):
    X, y = faces
    folder = tmp_path / "cache"

    def search(cache):
        pipe = make_pipeline(PretrainedFeatures(cache=cache, batch_size=1, **FAST), SVC())
        return GridSearchCV(pipe, GRID, cv=CV, n_jobs=2).fit(X, y)

    cached = search(folder)
    uncached = search(None)
    assert cached.cv_results_["mean_test_score"].tolist() == \
        uncached.cv_results_["mean_test_score"].tolist()
    assert cached.best_params_ == uncached.best_params_
    assert len(entry_files(folder)) == len(X)
    assert not [p for p in folder.rglob(".tmp-*")]  # every write was moved into place

    check = PretrainedFeatures(cache=folder, batch_size=1, **FAST).fit(X)
    reference = PretrainedFeatures(batch_size=1, **FAST).fit(X).transform(X)
    assert np.array_equal(check.transform(X), reference)
    assert check.n_computed_ == 0


# --------------------------------------------------------------------------- keys


def test_hits_and_misses(faces, tmp_path):
    X = faces[0][:8]
    folder = tmp_path / "cache"
    base = dict(cache=folder, batch_size=8, **FAST)

    def computed(X, **changes):
        est = PretrainedFeatures(**{**base, **changes}).fit(X)
        out = est.transform(X)
        return est.n_computed_, out

    n, first = computed(X)
    assert n == 8
    n, again = computed(X)  # a new estimator with the same settings
    assert n == 0 and np.array_equal(first, again)

    changed = X.copy()
    changed[3, 10, 10] = 1.0 - changed[3, 10, 10]  # one pixel of one image
    n, out = computed(changed)
    assert n == 1
    assert np.array_equal(np.delete(out, 3, axis=0), np.delete(first, 3, axis=0))
    assert not np.array_equal(out[3], first[3])

    for changes in (dict(layer="blocks.4"), dict(pooling="max"), dict(input_size=40),
                    dict(precision="bfloat16")):
        n, _ = computed(X, **changes)
        assert n == 8, changes
        n, _ = computed(X, **changes)
        assert n == 0, changes
    # The default layer by its name is the same setting as layer=None.
    assert computed(X, layer="forward_features")[0] == 0
    # Settings that do not change what is computed share the entries.
    assert computed(X, batch_size=3, num_workers=1, channels_last=False, device="cpu")[0] == 0


def test_another_backbone_or_weights_file_misses(faces, tmp_path):
    X = faces[0][:8]
    folder = tmp_path / "cache"
    base = dict(cache=folder, batch_size=8, **FAST)
    PretrainedFeatures(**base).fit(X).transform(X)

    class RenamedLite0(EfficientNetLite0):
        """The same network under another plugin class."""

    est = PretrainedFeatures(backbone=RenamedLite0(), **base).fit(X)
    est.transform(X)
    assert est.n_computed_ == 8

    # The same weights read from a file: another weights id, so another entry.
    weights = tmp_path / "lite0.pt"
    torch.save(EfficientNetLite0().load().model.state_dict(), weights)
    est = PretrainedFeatures(backbone=EfficientNetLite0(weights=str(weights)), **base).fit(X)
    est.transform(X)
    assert est.n_computed_ == 8
    est = PretrainedFeatures(backbone=EfficientNetLite0(weights=str(weights)), **base).fit(X)
    est.transform(X)
    assert est.n_computed_ == 0
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 3


def test_paths_and_pil_images_are_keyed_by_content(faces, tmp_path):
    X = (faces[0][:8] * 255).round().astype(np.uint8)
    images = [Image.fromarray(x) for x in X]
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"img{i}.png")
        image.save(paths[-1])
    est = PretrainedFeatures(cache=tmp_path / "cache", batch_size=8, **FAST).fit(paths)
    reference = PretrainedFeatures(batch_size=8, **FAST).fit(paths).transform(paths)

    assert np.array_equal(est.transform(paths), reference) and est.n_computed_ == 8
    assert np.array_equal(est.transform(paths), reference) and est.n_computed_ == 0
    # The same bytes under another name hit; changed bytes under the same name miss.
    copy = tmp_path / "copy.png"
    copy.write_bytes(paths[0].read_bytes())
    est.transform([copy])
    assert est.n_computed_ == 0
    changed = X[5].copy()
    changed[0, 0] ^= 0xFF
    Image.fromarray(changed).save(paths[5])
    est.transform(paths)
    assert est.n_computed_ == 1

    pil = PretrainedFeatures(cache=tmp_path / "cache", batch_size=8, **FAST).fit(images)
    pil.transform(images)
    assert pil.n_computed_ == 8
    pil.transform(images[::-1])
    assert pil.n_computed_ == 0
    pil.transform([images[0].convert("RGB")])  # another mode is other content
    assert pil.n_computed_ == 1


def test_repeated_images_are_computed_once(faces, tmp_path):
    X = faces[0][:4]
    repeated = X[[0, 1, 0, 2, 1, 3, 0, 3]]
    est = PretrainedFeatures(cache=tmp_path, batch_size=4, **FAST).fit(X)
    out = est.transform(repeated)
    assert est.n_computed_ == 4
    reference = PretrainedFeatures(batch_size=4, **FAST).fit(X).transform(X)
    assert np.array_equal(out, reference[[0, 1, 0, 2, 1, 3, 0, 3]])


def test_uncached_transform_counts_every_image(faces):
    X = faces[0][:5]
    est = PretrainedFeatures(**FAST).fit(X)
    with pytest.raises(AttributeError, match="not been fitted"):
        PretrainedFeatures(**FAST).n_computed_
    assert est.n_computed_ == 0 and est.cache_dir_ is None
    est.transform(X)
    assert est.n_computed_ == 5


# --------------------------------------------------------------------------- persistence


def test_cache_survives_a_process_restart(faces, tmp_path):
    np.save(tmp_path / "X.npy", faces[0][:8])
    script = textwrap.dedent(f"""
        import hashlib, numpy as np, torch
        torch.set_num_threads(1)
        from skcnn import PretrainedFeatures
        X = np.load({str(tmp_path / "X.npy")!r})
        est = PretrainedFeatures(cache={str(tmp_path / "cache")!r}, batch_size=8,
                                 input_size=32, num_workers=0, verbose=0).fit(X)
        out = est.transform(X)
        print(est.n_computed_, hashlib.sha256(out.tobytes()).hexdigest())
    """)

    def run():
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        n, digest = done.stdout.split()
        return int(n), digest

    first, second = run(), run()
    assert first[0] == 8 and second[0] == 0
    assert first[1] == second[1]


def test_pickled_estimator_keeps_its_cache(faces, tmp_path):
    X = faces[0][:8]
    est = PretrainedFeatures(cache=tmp_path, batch_size=8, **FAST).fit(X)
    first = est.transform(X)
    loaded = pickle.loads(pickle.dumps(est))
    assert np.array_equal(loaded.transform(X), first) and loaded.n_computed_ == 0


# --------------------------------------------------------------------------- damage


def test_damaged_files_are_recomputed_and_repaired(faces, tmp_path):
    X = faces[0][:16]
    folder = tmp_path / "cache"
    est = PretrainedFeatures(cache=folder, batch_size=8, **FAST).fit(X)
    reference = PretrainedFeatures(batch_size=8, **FAST).fit(X).transform(X)
    assert np.array_equal(est.transform(X), reference)
    store = feature_cache.FeatureStore(folder, est._cache_key_settings, est.n_features_out_)
    keys = feature_cache.image_keys(image_input(est, X, reset=False).items, "array")
    files = [store.path(key) for key in keys]
    assert all(f.is_file() for f in files)
    size = files[0].stat().st_size

    files[0].write_bytes(files[0].read_bytes()[: size // 2])  # truncated
    files[1].write_bytes(b"")  # empty
    files[2].write_bytes(np.random.RandomState(0).bytes(size))  # garbage of the right size
    flipped = bytearray(files[3].read_bytes())
    flipped[size // 2] ^= 0x01  # one bit of one feature: only the checksum sees it
    files[3].write_bytes(bytes(flipped))
    files[4].write_bytes(files[5].read_bytes())  # another image's valid entry
    files[6].write_bytes(files[6].read_bytes() + b"\0")  # overlong
    assert all(store.get(keys[i]) is None for i in range(5))

    fresh = PretrainedFeatures(cache=folder, batch_size=8, **FAST).fit(X)
    out = fresh.transform(X)
    assert fresh.n_computed_ == 6
    assert np.array_equal(out, reference)
    # Repaired: the next run reads everything, from files of the right size.
    assert all(f.stat().st_size == size for f in files)
    assert np.array_equal(fresh.transform(X), reference) and fresh.n_computed_ == 0


def test_damaged_settings_record_is_ignored(faces, tmp_path):
    X = faces[0][:8]
    est = PretrainedFeatures(cache=tmp_path, batch_size=8, **FAST).fit(X)
    first = est.transform(X)
    (record,) = tmp_path.glob("*/settings.json")
    record.write_text("{not json")
    again = PretrainedFeatures(cache=tmp_path, batch_size=8, **FAST).fit(X)
    assert again.n_features_out_ == est.n_features_out_
    assert np.array_equal(again.transform(X), first) and again.n_computed_ == 0


def test_unwritable_cache_warns_and_still_transforms(faces, tmp_path):
    X = faces[0][:8]
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    est = PretrainedFeatures(cache=blocker, batch_size=8, **FAST).fit(X)
    reference = PretrainedFeatures(batch_size=8, **FAST).fit(X).transform(X)
    with pytest.warns(RuntimeWarning, match="Could not write to the feature cache"):
        out = est.transform(X)
    assert np.array_equal(out, reference)


# --------------------------------------------------------------------------- folders


def test_cache_true_uses_the_default_folder(faces, tmp_path, monkeypatch):
    X = faces[0][:8]
    monkeypatch.setenv("SKCNN_CACHE_DIR", str(tmp_path / "skcnn_home"))
    est = PretrainedFeatures(cache=True, batch_size=8, **FAST).fit(X)
    assert est.cache_dir_ == tmp_path / "skcnn_home" / "features"
    est.transform(X)
    assert len(entry_files(est.cache_dir_)) == 8

    monkeypatch.delenv("SKCNN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert feature_cache.default_cache_dir() == tmp_path / "xdg" / "skcnn" / "features"

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    if sys.platform.startswith("linux"):
        assert feature_cache.default_cache_dir() == tmp_path / "home/.cache/skcnn/features"
    est = PretrainedFeatures(cache="~/feats", **FAST).fit(X)
    assert est.cache_dir_ == tmp_path / "home" / "feats"

    assert PretrainedFeatures(cache=False, **FAST).fit(X).cache_dir_ is None
    assert PretrainedFeatures(cache=None, **FAST).fit(X).cache_dir_ is None


def test_invalid_cache_parameter(faces):
    with pytest.raises(InvalidParameterError, match="'cache' parameter"):
        PretrainedFeatures(cache=3, **FAST).fit(faces[0][:2])


# --------------------------------------------------------------------------- contract

CONTRACT_CHECKS = [
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_estimators_pickle",
    "check_transformer_general",
    "check_methods_subset_invariance",
    "check_methods_sample_order_invariance",
    "check_n_features_in_after_fitting",
]


def test_scikit_learn_checks_with_a_cache(tmp_path):
    from sklearn.utils import estimator_checks

    est = PretrainedFeatures(cache=tmp_path, batch_size=16, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in CONTRACT_CHECKS:
            # Padded batches make each image's features independent of its batch,
            # so the subset and order checks pass here, unlike without a cache.
            getattr(estimator_checks, name)(type(est).__name__, est)
    assert entry_files(tmp_path)


def test_backbone_without_weights_id_is_refused_with_a_cache(faces, tmp_path):
    class Anonymous(EfficientNetLite0):
        """A plugin that cannot name its weights (``weights_id`` is optional without a cache)."""

        def weights_id(self):
            raise NotImplementedError

        def load(self):
            return EfficientNetLite0(weights=self.weights).load()

    X = faces[0][:2]
    with pytest.raises(NotImplementedError, match="cache=None, or implement"):
        PretrainedFeatures(backbone=Anonymous(), cache=tmp_path, **FAST).fit(X)
    PretrainedFeatures(backbone=Anonymous(), **FAST).fit(X)  # without a cache it is not needed
