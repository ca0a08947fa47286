"""skcnn.save / skcnn.load: round trips through a fresh process, the regression fixture, and
hand-crafted bad files that must be refused without running anything."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import skcnn
from skcnn import CNNClassifier, FineTunedClassifier, ImageLoader, PretrainedFeatures, SimpleCNN
from skcnn.exceptions import ModelFileError

pytest.importorskip("skops")

DATA = Path(__file__).parent / "data"
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
FAST = dict(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=3, batch_size=32,
            verbose=0, random_state=0, device="cpu")
PRETRAINED = dict(input_size=32, verbose=0, device="cpu")

# Loads every model file of a folder in a new interpreter; fitted models predict (or
# transform) X_test, unfitted ones are fitted on (X_train, y_train) first.
CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    import skcnn
    folder = sys.argv[1]
    data = np.load(folder + "/data.npz")
    plan = json.load(open(folder + "/plan.json"))
    out = {}
    for name, fitted in plan.items():
        model = skcnn.load(folder + "/" + name + ".skcnn")
        if not fitted:
            model.fit(data["X_train"], data["y_train"])
        if hasattr(model, "predict_proba"):
            out[name] = model.predict_proba(data["X_test"])
        elif hasattr(model, "predict"):
            out[name] = model.predict(data["X_test"])
        else:
            out[name] = np.asarray(model.transform(data["X_test"]), dtype=np.float64)
        out[name + ".params"] = np.array(repr(model.get_params(deep=False)))
    np.savez(folder + "/out.npz", **out)
""")


def _output(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    if hasattr(model, "predict"):
        return model.predict(X)
    return np.asarray(model.transform(X), dtype=np.float64)


@pytest.fixture(scope="module")
def digits_split(digits8):
    X, y = digits8
    return X[:200], NAMES[y[:200]], X[1000:1040]


@pytest.fixture(scope="module")
def fitted_models(digits_split):
    """Every estimator kind, fitted (name -> model)."""
    X_train, y_train, _ = digits_split
    features = PretrainedFeatures(**PRETRAINED).fit(X_train[:20])
    F = features.transform(X_train[:60])
    scaler = StandardScaler().fit(F)
    svc = SVC().fit(scaler.transform(F), y_train[:60])
    return {
        "cnn": CNNClassifier(**{**FAST, "max_epochs": 10, "learning_rate": 0.01},
                             class_weight={"zero": 2.0}).fit(X_train, y_train),
        "cnn_plugin_name": CNNClassifier(architecture="simple_cnn", max_epochs=1, verbose=0,
                                         random_state=0, device="cpu").fit(X_train, y_train),
        "cnn_plugin_instance": CNNClassifier(architecture=SimpleCNN(width=4, depth=1),
                                             max_epochs=2, verbose=0, random_state=0,
                                             device="cpu").fit(X_train, y_train),
        "finetuned": FineTunedClassifier(**PRETRAINED, max_epochs=1, batch_size=32,
                                         unfreeze="head", freeze_epochs=0,
                                         random_state=0).fit(X_train[:60], y_train[:60]),
        "features": features,
        "loader": ImageLoader(size=(6, 7), mode="L").fit(X_train),
        # A fitted Pipeline assembled from fitted steps (the features are computed once).
        "pipeline_features_svc": Pipeline([("features", features), ("scale", scaler),
                                           ("svc", svc)]),
        "pipeline_loader_cnn": make_pipeline(ImageLoader(size=8, mode="L"),
                                             CNNClassifier(**FAST)).fit(X_train, y_train),
        "search": GridSearchCV(CNNClassifier(**FAST),
                               {"architecture": [None, SimpleCNN(width=4, depth=1)]},
                               cv=2).fit(X_train, y_train),
    }


def _run_child(folder):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(folder / "out.npz")


def test_round_trips_in_a_fresh_process(tmp_path, fitted_models, digits_split):
    X_train, y_train, X_test = digits_split
    np.savez(tmp_path / "data.npz", X_train=X_train[:60], y_train=y_train[:60], X_test=X_test)
    plan, expected = {}, {}
    for name, model in fitted_models.items():
        skcnn.save(model, tmp_path / f"{name}.skcnn")
        plan[name] = True
        expected[name] = _output(model, X_test)
    # Unfitted: the same parameters; fitted in the child on (X_train[:60], y_train[:60]),
    # which is what the fitted finetuned model saw (the transformers learn nothing), so
    # their reference is the fitted model's output; the CNN's is a fit here.
    for name in ("cnn", "finetuned", "features", "loader"):
        unfitted = clone(fitted_models[name])
        skcnn.save(unfitted, tmp_path / f"{name}_unfitted.skcnn")
        plan[f"{name}_unfitted"] = False
        expected[f"{name}_unfitted"] = (
            _output(unfitted.fit(X_train[:60], y_train[:60]), X_test) if name == "cnn"
            else expected[name])
    (tmp_path / "plan.json").write_text(json.dumps(plan))

    out = _run_child(tmp_path)

    for name, reference in expected.items():
        got = out[name]
        assert got.shape == reference.shape, name
        if got.dtype.kind == "f":
            np.testing.assert_array_equal(got, reference, err_msg=name)
        else:
            assert (got == reference).all(), name
        original = fitted_models[name.removesuffix("_unfitted")]
        assert str(out[name + ".params"]) == repr(original.get_params(deep=False)), name
    # The checks compare real predictions: the models are not constant.
    assert len(np.unique(expected["cnn"].argmax(1))) > 3


def test_loaded_model_keeps_its_fitted_attributes(tmp_path, fitted_models):
    cnn = fitted_models["cnn"]
    loaded = skcnn.load(skcnn.save(cnn, tmp_path / "cnn.skcnn"))
    assert loaded.classes_.dtype == cnn.classes_.dtype
    assert loaded.classes_.tolist() == cnn.classes_.tolist()
    assert loaded.input_shape_ == cnn.input_shape_ and loaded.n_features_in_ == 64
    assert loaded.loss_curve_ == cnn.loss_curve_ and loaded.n_iter_ == cnn.n_iter_
    assert [h["train_loss"] for h in loaded.history_] == cnn.loss_curve_
    assert loaded.class_weight == {"zero": 2.0}
    # Training continues from the loaded weights and history.
    X, y = np.random.RandomState(0).rand(40, 8, 8).astype(np.float32), cnn.classes_[
        np.arange(40) % 10]
    loaded.partial_fit(X, y)
    assert loaded.n_iter_ == cnn.n_iter_ + 1 and len(loaded.history_) == cnn.n_iter_ + 1

    path = skcnn.save(fitted_models["search"], tmp_path / "search.skcnn")
    assert [o["class"] for o in skcnn.io.file_info(path)["objects"]] == [
        "skcnn.CNNClassifier", "skcnn.architectures:simple_cnn", "skcnn.CNNClassifier"]
    search = skcnn.load(path)
    original = fitted_models["search"]
    assert repr(search.best_params_) == repr(original.best_params_)
    assert repr(search.cv_results_["params"]) == repr(original.cv_results_["params"])
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  original.cv_results_["mean_test_score"])


def test_regression_fixture_still_loads(digits8):
    """A file written by format version 1 (tests/data/make_io_fixture.py) loads and predicts
    what it predicted when it was written."""
    X, _ = digits8
    expected = json.loads((DATA / "cnn_digits_v1_expected.json").read_text())
    model = skcnn.load(DATA / "cnn_digits_v1.skcnn")
    start, stop = expected["test_rows"]
    assert model.classes_.tolist() == expected["classes"]
    assert model.predict(X[start:stop]).tolist() == expected["predictions"]
    np.testing.assert_allclose(model.predict_proba(X[start:stop]), expected["probabilities"],
                               atol=1e-6)
    assert len(set(expected["predictions"])) > 5
    info = skcnn.io.file_info(DATA / "cnn_digits_v1.skcnn")
    # Classes are recorded by public name, so moving skcnn's modules cannot break old files.
    assert info["format_version"] == 1 and info["estimator"] == "skcnn.CNNClassifier"


# --------------------------------------------------------------------------- bad files


def _rewrite(source, target, edit_manifest=None, replace=None):
    """Copy the model file ``source`` to ``target``, editing its manifest / members."""
    replace = dict(replace or {})
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "skcnn-model.json" and edit_manifest is not None:
                manifest = json.loads(data)
                edit_manifest(manifest)
                data = json.dumps(manifest).encode()
            data = replace.pop(item.filename, data)
            dst.writestr(item, data)
    return target


@pytest.fixture(scope="module")
def saved_cnn(tmp_path_factory, fitted_models):
    return skcnn.save(fitted_models["cnn"], tmp_path_factory.mktemp("saved") / "cnn.skcnn")


@pytest.fixture
def no_calls(monkeypatch):
    """Record calls of os.system and subprocess.Popen (nothing may be run by a load)."""
    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a) or 0)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a))
    return calls


@pytest.mark.parametrize("edit", [
    lambda m: m["objects"][0].update({"class": "os.system"}),
    lambda m: m["objects"][0].update({"class": "posix.system"}),
    lambda m: m["objects"][0]["params"].update(
        {"architecture": {"__object__": "os.system", "params": {"command": "touch PWNED"}}}),
    lambda m: m["objects"][0]["fitted"].update(
        {"classes_": {"__object__": "builtins.eval", "params": {}}}),
], ids=["estimator-class", "posix-system", "nested-plugin", "fitted-attribute"])
def test_unexpected_class_is_refused_and_nothing_runs(tmp_path, saved_cnn, no_calls, edit):
    bad = _rewrite(saved_cnn, tmp_path / "bad.skcnn", edit)
    with pytest.raises(ModelFileError, match="not a skcnn estimator or an installed skcnn "
                                             "plugin; it was refused and nothing was run"):
        skcnn.load(bad)
    assert no_calls == []
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


@pytest.mark.parametrize("name", ["predict", "module_", "filters", "__class__"])
def test_attributes_that_would_shadow_the_class_are_refused(tmp_path, saved_cnn, name):
    bad = _rewrite(saved_cnn, tmp_path / "bad.skcnn",
                   lambda m: m["objects"][0]["fitted"].update({name: 1}))
    with pytest.raises(ModelFileError, match=f"bad attribute '{name}'"):
        skcnn.load(bad)


def test_untrusted_type_in_the_sklearn_part_is_refused(tmp_path, fitted_models, no_calls):
    import skops.io as sio

    saved = skcnn.save(fitted_models["pipeline_loader_cnn"], tmp_path / "pipe.skcnn")
    # An object of a class the loader does not trust where the Pipeline was.
    evil = sio.dumps(make_pipeline(_Untrusted()))
    bad = _rewrite(saved, tmp_path / "bad.skcnn", replace={"sklearn.skops": evil})
    with pytest.raises(ModelFileError, match=r"not trusted: .*_Untrusted.*trusted="):
        skcnn.load(bad)
    assert _Untrusted.built == 0 and no_calls == []
    # The user may trust it explicitly, as with skops.
    loaded = skcnn.load(bad, trusted=[f"{__name__}._Untrusted"])
    assert isinstance(loaded.steps[0][1], _Untrusted)


class _Untrusted(StandardScaler):
    built = 0

    def __setstate__(self, state):
        type(self).built += 1
        super().__setstate__(state)


def test_weights_that_do_not_fit_are_refused(tmp_path, saved_cnn):
    from safetensors.torch import load as load_tensors
    from safetensors.torch import save as save_tensors

    with zipfile.ZipFile(saved_cnn) as archive:
        tensors = load_tensors(archive.read("weights/0.safetensors"))
    key = next(k for k in tensors if k.endswith("weight") and tensors[k].ndim == 4)
    wrong = dict(tensors, **{key: torch.zeros(5, *tensors[key].shape[1:])})
    bad = _rewrite(saved_cnn, tmp_path / "shape.skcnn",
                   replace={"weights/0.safetensors": save_tensors(wrong)})
    with pytest.raises(ModelFileError, match=rf"1 with other shapes \(e.g. {key}: \(5, "):
        skcnn.load(bad)
    missing = {k: v for k, v in tensors.items() if k != key}
    bad = _rewrite(saved_cnn, tmp_path / "missing.skcnn",
                   replace={"weights/0.safetensors": save_tensors(missing)})
    with pytest.raises(ModelFileError, match=rf"1 missing \({key}\).*Save the model again"):
        skcnn.load(bad)


def test_newer_format_version_is_refused(tmp_path, saved_cnn):
    def newer(manifest):
        manifest["format_version"] = 99
        manifest["written_by"]["skcnn"] = "9.0"

    bad = _rewrite(saved_cnn, tmp_path / "newer.skcnn", newer)
    with pytest.raises(ModelFileError, match=r"format version 99; this skcnn .* reads format "
                                             r"versions up to 1\. Upgrade skcnn"):
        skcnn.load(bad)


def test_save_into_a_missing_folder_is_refused(tmp_path, fitted_models):
    target = tmp_path / "no" / "such" / "folder" / "m.skcnn"
    with pytest.raises(ModelFileError, match="does not exist. Create it first"):
        skcnn.save(fitted_models["cnn"], target)
    assert not target.parent.exists()
    with pytest.raises(ModelFileError, match="is a folder"):
        skcnn.save(fitted_models["cnn"], tmp_path)


def test_other_files_are_refused_with_the_fix(tmp_path, fitted_models):
    import pickle

    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelFileError, match="not a skcnn model file.*joblib.load"):
        skcnn.load(pickled)
    with pytest.raises(FileNotFoundError, match="No model file"):
        skcnn.load(tmp_path / "absent.skcnn")


def test_code_cannot_be_saved(tmp_path, digits8):
    def builder(in_channels, image_size, n_classes):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(n_classes))

    for architecture in (builder, torch.nn.Flatten(), _UnregisteredPlugin()):
        with pytest.raises(TypeError, match="entry-point group skcnn.architectures"):
            skcnn.save(CNNClassifier(architecture=architecture), tmp_path / "m.skcnn")
    assert not list(tmp_path.iterdir())  # nothing half-written


class _UnregisteredPlugin(skcnn.ArchitecturePlugin):
    def build(self, meta):
        return torch.nn.Sequential(torch.nn.Flatten(),
                                   torch.nn.Linear(meta.in_channels * meta.height * meta.width,
                                                   meta.n_outputs))


def test_a_gpu_model_loads_on_the_cpu(tmp_path, saved_cnn, digits8):
    """``device_`` recorded as a GPU that is not here: restored onto the best device present."""
    def on_gpu(manifest):
        manifest["objects"][0]["fitted"]["device_"] = "cuda:3"

    moved = skcnn.load(_rewrite(saved_cnn, tmp_path / "gpu.skcnn", on_gpu))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert moved.device_.startswith(expected)
    X, _ = digits8
    np.testing.assert_allclose(moved.predict_proba(X[:20]),
                               skcnn.load(saved_cnn).predict_proba(X[:20]), atol=1e-5)


def test_pretrained_models_load_without_the_pretrained_weights(tmp_path, fitted_models,
                                                               digits_split, monkeypatch):
    """The file holds the backbone's weights: loading needs neither the weights package nor
    a download (the default backbone's package is made to look missing here)."""
    from skcnn.exceptions import WeightsUnavailableError
    from skcnn.pretrained.backbones import EfficientNetLite0

    _, _, X_test = digits_split
    paths = {name: skcnn.save(fitted_models[name], tmp_path / f"{name}.skcnn")
             for name in ("features", "finetuned")}
    monkeypatch.setattr(EfficientNetLite0, "_packaged_weights", lambda self: None)
    with pytest.raises(WeightsUnavailableError):
        EfficientNetLite0().load()
    np.testing.assert_array_equal(skcnn.load(paths["features"]).transform(X_test),
                                  fitted_models["features"].transform(X_test))
    np.testing.assert_array_equal(skcnn.load(paths["finetuned"]).predict_proba(X_test),
                                  fitted_models["finetuned"].predict_proba(X_test))


def test_doctor_reports_the_persistence_packages():
    from skcnn.doctor import declared_requirements

    groups = declared_requirements()
    assert "safetensors" in [r.name for r in groups[None]]
    assert "skops" in [r.name for r in groups["persist"]]


# --------------------------------------------------------------------------- command line


def test_compare_save_best_then_predict_with_the_model(tmp_path, capsys):
    """``skcnn compare --save-best`` then ``skcnn predict --model`` on scikit-image's photos:
    the predictions are those of the best model refitted in Python."""
    pytest.importorskip("skimage")
    from PIL import Image
    from skimage import data as skdata

    from skcnn.cli import main
    from skcnn.datasets import load_dataset
    from skcnn.io.refit import refit_best

    photos = []
    for name in ("camera", "astronaut", "coffee", "chelsea", "page"):
        path = tmp_path / f"{name}.png"
        Image.fromarray(getattr(skdata, name)()).save(path)
        photos.append(str(path))
    model = tmp_path / "m.skcnn"
    models = "pixels+svc,pixels+xgboost"
    cache = str(tmp_path / "cache")
    assert main(["compare", "--dataset", "lfw-faces", "--quick", "--models", models,
                 "--save-best", str(model), "--no-plot", "--verbose", "0",
                 "--cache", cache]) == 0
    printed = capsys.readouterr().out

    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "skcnn.cli", "predict", "--model", str(model),
                           *photos, "--json"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)

    X, y, _ = load_dataset("lfw-faces")
    result = skcnn.compare(X, y, models=models, cv=3, random_state=0, verbose=0, quick=True,
                           cache=cache)
    best = refit_best(result, X, y)
    assert f"Best model: {best.name} (accuracy {best.score:.4f} +/- {best.score_std:.4f}" \
        in printed
    assert best.score == result.table["accuracy_mean"].max()
    assert [row["image"] for row in rows] == photos
    assert [row["prediction"] for row in rows] == best.estimator.predict(photos).tolist()
    # The file holds the pipeline that takes image files, stored without pickle.
    info = skcnn.io.file_info(model)
    assert info["estimator"] == "sklearn.pipeline.Pipeline"
    assert {"skcnn.ImageLoader", "skcnn.PretrainedFeatures"} & {o["class"] for o in info["objects"]}


def test_save_best_into_a_missing_folder_fails_before_the_comparison(tmp_path, capsys):
    from skcnn.cli import main

    target = tmp_path / "missing" / "m.skcnn"
    assert main(["compare", "--dataset", "lfw-faces", "--save-best", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--save-best" in err and "does not exist. Create it first" in err


# --------------------------------------------------------------------------- regressors, text

# Loads every model of a folder in a new interpreter, each with its own data (texts or images).
CHILD_KINDS = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    import skcnn
    folder = sys.argv[1]
    plan = json.load(open(folder + "/plan.json"))
    out = {}
    for name, (data_name, fitted) in plan.items():
        data = np.load(folder + "/" + data_name + ".npz")
        model = skcnn.load(folder + "/" + name + ".skcnn")
        if not fitted:
            model.fit(data["X_train"], data["y_train"])
        method = getattr(model, "predict_proba", model.predict)
        out[name] = method(data["X_test"])
        out[name + ".attributes"] = np.array(repr(sorted(
            (k, repr(v)) for k, v in vars(model).items() if k.endswith("_") and k[0] != "_"
            and k not in ("net_", "history_", "encoder_"))))
    np.savez(folder + "/out.npz", **out)
""")


def _public_attributes(model):
    return repr(sorted((k, repr(v)) for k, v in vars(model).items()
                       if k.endswith("_") and k[0] != "_"
                       and k not in ("net_", "history_", "encoder_")))


@pytest.fixture(scope="module")
def sentences():
    from skcnn.datasets import load_sentiment_sentences

    data = load_sentiment_sentences()
    texts, labels = np.asarray(data.data, dtype=str), np.asarray(data.target, dtype=str)
    return texts[:300], labels[:300], texts[1000:1060]


TEXT_FAST = dict(embedding_dim=8, n_filters=4, max_epochs=2, verbose=0, random_state=0,
                 device="cpu")


@pytest.fixture(scope="module")
def other_kinds(digits_split, sentences):
    """name -> (fitted model, data name) for the regressors and the text classifier."""
    from skcnn import CNNRegressor, FineTunedRegressor, TextCNNClassifier

    X_train, y_train, _ = digits_split
    target = np.stack([np.char.str_len(y_train) * 2.5 + 100.0,
                       (np.arange(len(y_train)) % 7).astype(float)], axis=1)
    texts, labels, _ = sentences
    finetuned = FineTunedRegressor(**PRETRAINED, max_epochs=1, batch_size=32,
                                   unfreeze="head", freeze_epochs=0,
                                   random_state=0).fit(X_train[:60], target[:60, 0])
    # A fitted attribute skcnn.save has no code for (as a new recipe_ would be) round-trips.
    finetuned.recipe_ = {"stages": ["probe", "fine-tune"], "epochs": (1, 0), "lr": 1e-3}
    return {
        "regressor": (CNNRegressor(**{**FAST, "max_epochs": 5}).fit(X_train, target[:, 0]),
                      "images"),
        "regressor_multi": (CNNRegressor(**FAST, standardize_target=True).fit(X_train, target),
                            "images_multi"),
        "finetuned_regressor": (finetuned, "images_60"),
        "text": (TextCNNClassifier(**TEXT_FAST).fit(texts, labels), "texts"),
        "text_char": (TextCNNClassifier(**{**TEXT_FAST, "level": "char"}, multichannel=True,
                                        max_length=60).fit(texts, labels), "texts"),
    }, target


def test_regressors_and_text_round_trip_in_a_fresh_process(tmp_path, other_kinds, digits_split,
                                                           sentences):
    models, target = other_kinds
    X_train, _, X_test = digits_split
    texts, labels, texts_test = sentences
    np.savez(tmp_path / "images.npz", X_train=X_train, y_train=target[:, 0], X_test=X_test)
    np.savez(tmp_path / "images_multi.npz", X_train=X_train, y_train=target, X_test=X_test)
    np.savez(tmp_path / "images_60.npz", X_train=X_train[:60], y_train=target[:60, 0],
             X_test=X_test)
    np.savez(tmp_path / "texts.npz", X_train=texts, y_train=labels, X_test=texts_test)
    plan, expected = {}, {}
    for name, (model, data_name) in models.items():
        skcnn.save(model, tmp_path / f"{name}.skcnn")
        plan[name] = (data_name, True)
        test = texts_test if data_name == "texts" else X_test
        expected[name] = getattr(model, "predict_proba", model.predict)(test)
        expected[name + ".attributes"] = _public_attributes(model)
    # Unfitted: refitted in the child on the same data with the same seed.
    for name in ("regressor", "text"):
        model, data_name = models[name]
        skcnn.save(clone(model), tmp_path / f"{name}_unfitted.skcnn")
        plan[f"{name}_unfitted"] = (data_name, False)
        expected[f"{name}_unfitted"] = expected[name]
        expected[f"{name}_unfitted.attributes"] = expected[name + ".attributes"]
    (tmp_path / "plan.json").write_text(json.dumps(plan))

    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD_KINDS, str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")

    for name, reference in expected.items():
        if name.endswith(".attributes"):
            assert str(out[name]) == reference, name
        else:
            np.testing.assert_array_equal(out[name], reference, err_msg=name)
    # Predictions in the target's own scale, and not constant.
    assert abs(expected["regressor"].mean() - target[:, 0].mean()) < 3 * target[:, 0].std()
    assert expected["regressor_multi"].shape == (len(X_test), 2)
    assert np.ptp(expected["text"][:, 0]) > 0 and np.ptp(expected["regressor"]) > 0
    assert "recipe_" in expected["finetuned_regressor.attributes"]


def test_text_classifier_keeps_its_vocabulary_and_tokenizer(tmp_path, other_kinds, sentences):
    text = other_kinds[0]["text_char"][0]
    loaded = skcnn.load(skcnn.save(text, tmp_path / "text.skcnn"))
    assert loaded.vocabulary_ == text.vocabulary_ and loaded.level == "char"
    assert vars(loaded.encoder_).keys() - {"_compiled"} == vars(text.encoder_).keys() - {
        "_compiled"}
    _, _, texts_test = sentences
    np.testing.assert_array_equal(loaded.transform(texts_test), text.transform(texts_test))
    assert loaded.get_feature_names_out().tolist() == text.get_feature_names_out().tolist()
    # Training continues from the loaded weights and vocabulary.
    loaded.partial_fit(texts_test[:20], text.classes_[np.arange(20) % 2])
    assert loaded.n_iter_ == text.n_iter_ + 1 and loaded.vocabulary_ == text.vocabulary_


def test_text_file_whose_vocabulary_does_not_fit_its_weights_is_refused(tmp_path, other_kinds):
    saved = skcnn.save(other_kinds[0]["text"][0], tmp_path / "text.skcnn")

    def drop_a_word(manifest):
        vocabulary = manifest["objects"][0]["fitted"]["vocabulary_"]
        vocabulary.pop(next(iter(vocabulary)))

    bad = _rewrite(saved, tmp_path / "vocabulary.skcnn", drop_a_word)
    with pytest.raises(ModelFileError, match="embedding.weight.*Save the model again"):
        skcnn.load(bad)
    bad = _rewrite(saved, tmp_path / "encoder.skcnn",
                   lambda m: m["objects"][0]["fitted"].pop("encoder_"))
    with pytest.raises(ModelFileError, match="lacks its tokenizer settings"):
        skcnn.load(bad)


@pytest.mark.parametrize("stem", ["cnn_regressor_digits_v1", "text_sentiment_v1"])
def test_regressor_and_text_fixtures_still_load(stem, digits8):
    """Files written by format version 1 (tests/data/make_io_fixture.py) predict what they
    predicted when they were written."""
    expected = json.loads((DATA / f"{stem}_expected.json").read_text())
    model = skcnn.load(DATA / f"{stem}.skcnn")
    start, stop = expected["test_rows"]
    if stem.startswith("text"):
        from skcnn.datasets import load_sentiment_sentences

        X = list(load_sentiment_sentences().data)[start:stop]
        assert model.classes_.tolist() == expected["classes"]
        assert model.predict(X).tolist() == expected["predictions"]
        np.testing.assert_allclose(model.predict_proba(X), expected["probabilities"],
                                   atol=1e-6)
        assert len(set(expected["predictions"])) == 2
    else:
        X = digits8[0][start:stop]
        np.testing.assert_allclose(model.predict(X), expected["predictions"], rtol=1e-6)
        assert np.ptp(expected["predictions"]) > 1.0 and model.target_mean_[0] > 10.0
