"""skcnn.compare (from skcnn.comparison), its result and chart, and the ``skcnn compare`` command.

Small on purpose: 150 digits, 2 folds, ``quick`` settings and a few models.
"""

import importlib
import io
import json
import math
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, make_scorer
from sklearn.svm import SVC

import skcnn
from skcnn import ComparisonResult, PretrainedFeatures, compare
from skcnn.cli import main
from skcnn.comparison import DEFAULT_MODELS, count_parameters, on_features, on_pixels

# The module that configures the built-in models (private: reached through importlib).
models_module = importlib.import_module("skcnn.comparison._models")

MODELS = ["cnn", "features+logreg", "pixels+svc", "pixels+xgboost"]


@pytest.fixture(scope="module")
def digits150(digits8):
    X, y = digits8
    return X[:150], y[:150]


@pytest.fixture(scope="module")
def result(digits150):
    X, y = digits150
    return compare(X, y, MODELS, cv=2, scoring=["accuracy", "f1_macro"], quick=True, verbose=0)


# --------------------------------------------------------------------------- the table


def test_table_columns_and_values(result):
    table = result.table
    assert isinstance(result, ComparisonResult)
    assert list(table.columns) == [
        "model", "accuracy_mean", "accuracy_std", "f1_macro_mean", "f1_macro_std",
        "fit_time", "predict_time", "extract_time", "total_time", "images_per_s", "device",
        "n_params", "trained", "input", "status"]
    assert list(table["model"]) == MODELS
    # What the network trained with (quick: 3 epochs on the 8x8 digits); nothing for others.
    assert table.set_index("model").loc["cnn", "trained"] == "3 ep 8x8px"
    assert (table.set_index("model").drop(index="cnn")["trained"] == "").all()
    assert "trained" in result.to_text().splitlines()[0]
    assert (table["status"] == "ok").all(), table["status"].tolist()
    for metric in ("accuracy", "f1_macro"):
        assert table[f"{metric}_mean"].between(0, 1).all()
        assert (table[f"{metric}_std"] >= 0).all()
        for name in MODELS:  # the mean and std are those of the per-fold scores
            folds = result.scores[name][metric]
            assert len(folds) == 2
            row = table.set_index("model").loc[name]
            assert row[f"{metric}_mean"] == pytest.approx(folds.mean())
            assert row[f"{metric}_std"] == pytest.approx(folds.std())
    assert (table["fit_time"] > 0).all() and (table["predict_time"] > 0).all()
    assert (table["images_per_s"] > 0).all()
    assert (table["device"] == "cpu").all()
    assert (table["n_params"] > 0).all()
    by_model = table.set_index("model")
    assert by_model.loc["pixels+svc", "accuracy_mean"] > 0.8


def test_features_extracted_once_and_reported(result):
    info = result.features
    assert info["n_images"] == 150 and info["n_features"] == 1280
    assert info["backbone"] == "efficientnet_lite0" and info["input_size"] == "32x32"
    row = result.table.set_index("model").loc["features+logreg"]
    assert row["extract_time"] == pytest.approx(info["seconds"])
    assert row["total_time"] >= info["seconds"]
    # Models fitted on the images as given prepared nothing.
    assert math.isnan(result.table.set_index("model").loc["cnn", "extract_time"])
    assert "extracted once for all 150 images" in result.to_text()


def test_n_params_of_the_cnn_are_its_trainable_weights(result, digits150):
    X, y = digits150
    fitted = models_module.default_models(
        ["cnn"], side=8, device=torch.device("cpu"), quick=True, random_state=0,
        backbone="efficientnet_lite0", n_jobs=None)["cnn"].estimator.fit(X, y)
    expected = sum(p.numel() for p in fitted.module_.parameters() if p.requires_grad)
    assert count_parameters(fitted) == expected
    assert result.table.set_index("model").loc["cnn", "n_params"] == expected


def test_count_parameters_of_classical_models(digits150):
    X, y = digits150
    flat = X.reshape(len(X), -1)
    svc = SVC().fit(flat, y)
    assert count_parameters(svc) == svc.dual_coef_.size + svc.intercept_.size
    assert math.isnan(count_parameters(object()))
    assert count_parameters(PretrainedFeatures()) == 0


def test_renderings(result, tmp_path):
    text = str(result)
    assert text == result.to_text()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["model", "accuracy", "f1_macro"]
    for name in MODELS:
        assert any(line.startswith(name + " ") for line in lines)

    markdown = result.to_markdown()
    md_lines = markdown.splitlines()
    assert md_lines[0].startswith("| model | accuracy | f1_macro |")
    assert set(md_lines[1].replace("|", "").replace(":", "")) == {"-"}
    assert md_lines[0].count("|") == md_lines[1].count("|") == md_lines[2].count("|")
    assert sum(line.startswith("| ") for line in md_lines) == 1 + len(MODELS)

    result.to_csv(tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert list(back.columns) == list(result.table.columns)
    assert list(back["model"]) == MODELS
    np.testing.assert_allclose(back["accuracy_mean"], result.table["accuracy_mean"])

    loaded = json.loads(result.to_json())
    assert [m["model"] for m in loaded["models"]] == MODELS
    assert loaded["models"][0]["extract_time"] is None  # NaN -> null
    assert loaded["features"]["n_images"] == 150
    assert len(loaded["fold_scores"]["pixels+svc"]["accuracy"]) == 2


def test_plot_is_a_two_axes_figure_and_not_blank(result):
    fig = result.plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    image = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert image.shape[0] > 100 and image.shape[1] > 300
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 20  # bars, text and error bars, not a blank canvas
    assert image.std() > 10


# --------------------------------------------------------------------------- the splits


RECORDED = {}


class Recorder(ClassifierMixin, BaseEstimator):
    """Remembers the row ids (column 0 of X) it was fitted and scored on."""

    def __init__(self, key="a"):
        self.key = key

    def fit(self, X, y):
        RECORDED.setdefault(self.key, []).append(("fit", np.sort(X[:, 0].astype(int))))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        RECORDED[self.key].append(("predict", np.sort(X[:, 0].astype(int))))
        return np.full(len(X), self.classes_[0])


def test_every_model_gets_the_same_splits(digits150):
    X, y = digits150
    ids = np.c_[np.arange(len(y)), X.reshape(len(X), -1)]
    RECORDED.clear()
    res = compare(ids, y, {"a": Recorder(key="a"), "b": Recorder(key="b")}, cv=3,
                  random_state=1, verbose=0)
    assert RECORDED["a"] and len(RECORDED["a"]) == 6  # 3 folds x (fit, predict)
    for (kind_a, rows_a), (kind_b, rows_b) in zip(RECORDED["a"], RECORDED["b"]):
        assert kind_a == kind_b
        np.testing.assert_array_equal(rows_a, rows_b)
    fits = [rows for kind, rows in RECORDED["a"] if kind == "fit"]
    for (train, test), fitted_on in zip(res.splits, fits):
        np.testing.assert_array_equal(np.sort(train), fitted_on)
        assert len(np.intersect1d(train, test)) == 0
    # stratified and shuffled: every class in every training fold, not contiguous blocks
    for train, _ in res.splits:
        assert set(y[train]) == set(y)
    assert not np.array_equal(res.splits[0][1], np.arange(len(res.splits[0][1])))


def test_test_size_gives_one_hold_out_split(digits150):
    X, y = digits150
    res = compare(X, y, ["pixels+svc"], test_size=0.3, verbose=0)
    assert len(res.splits) == 1
    train, test = res.splits[0]
    assert len(test) == 45 and len(train) == 105
    assert res.table.loc[0, "accuracy_std"] == 0
    assert "hold-out" in res.to_text()


def test_parallel_folds_match_sequential(digits150):
    X, y = digits150
    one = compare(X, y, ["pixels+svc"], cv=2, verbose=0)
    two = compare(X, y, ["pixels+svc"], cv=2, n_jobs=2, verbose=0)
    np.testing.assert_allclose(one.scores["pixels+svc"]["accuracy"],
                               two.scores["pixels+svc"]["accuracy"])


# --------------------------------------------------------------------------- user models


class Boom(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("boom: this model always fails")


def test_a_failing_model_is_recorded_and_the_others_kept(digits150, capsys):
    X, y = digits150
    res = compare(X, y, {"broken": Boom(), "svc": on_pixels(SVC()), "default": "pixels+svc"},
                  cv=2, verbose=1)
    table = res.table.set_index("model")
    assert table.loc["broken", "status"] == "failed: RuntimeError: boom: this model always fails"
    assert math.isnan(table.loc["broken", "accuracy_mean"])
    assert table.loc["svc", "status"] == "ok" and table.loc["default", "status"] == "ok"
    assert table.loc["svc", "accuracy_mean"] == table.loc["default", "accuracy_mean"]
    assert "Traceback" in res.errors["broken"] and "boom" in res.errors["broken"]
    assert "failed: RuntimeError: boom" in res.to_text()
    assert "failed" in res.to_markdown()
    assert "broken" in capsys.readouterr().err  # progress says so as it happens
    fig = res.plot()  # a failed model is listed in the chart without a bar
    assert len(fig.axes) == 2


def test_own_head_on_the_shared_features(digits150):
    X, y = digits150
    res = compare(X, y, {"head": on_features(SVC(C=10))}, cv=2, quick=True, verbose=0)
    assert res.table.loc[0, "status"] == "ok"
    assert res.features["n_images"] == 150
    assert res.table.loc[0, "input"] == "features"


def test_unknown_model_name_lists_valid_names(digits150):
    X, y = digits150
    with pytest.raises(ValueError, match="Unknown model 'svm'") as info:
        compare(X, y, ["pixels+svc", "svm"], verbose=0)
    for name in DEFAULT_MODELS:
        assert name in str(info.value)


def test_bad_arguments(digits150):
    X, y = digits150
    with pytest.raises(ValueError, match="cv must be at least 2"):
        compare(X, y, ["pixels+svc"], cv=1, verbose=0)
    with pytest.raises(ValueError, match="test_size"):
        compare(X, y, ["pixels+svc"], test_size=1.5, verbose=0)
    with pytest.raises(ValueError, match="Unknown scoring 'acc'"):
        compare(X, y, ["pixels+svc"], scoring="acc", verbose=0)
    with pytest.raises(ValueError, match="single class"):
        compare(X, np.zeros(len(y)), ["pixels+svc"], verbose=0)
    with pytest.raises(ValueError, match="150 images but y has 10"):
        compare(X, y[:10], ["pixels+svc"], verbose=0)
    with pytest.raises(TypeError, match="not an estimator"):
        compare(X, y, {"x": 3}, verbose=0)


def test_scoring_dict_with_a_callable(digits150):
    X, y = digits150
    res = compare(X, y, ["pixels+svc"], cv=2, verbose=0,
                  scoring={"acc": make_scorer(accuracy_score), "bal": "balanced_accuracy"})
    assert {"acc_mean", "bal_mean"} <= set(res.table.columns)
    assert res.scoring == ["acc", "bal"]


def test_missing_xgboost_is_reported_as_skipped(digits150, monkeypatch):
    X, y = digits150
    monkeypatch.setattr(models_module, "_xgboost_status",
                        lambda: (None, "xgboost is not installed; pip install xgboost"))
    res = compare(X, y, ["pixels+xgboost", "pixels+svc"], cv=2, verbose=0)
    table = res.table.set_index("model")
    assert table.loc["pixels+xgboost", "status"].startswith("skipped: xgboost is not installed")
    assert table.loc["pixels+svc", "status"] == "ok"


def test_feature_cache_is_used_when_available(digits150, tmp_path):
    X, y = digits150
    kwargs = dict(models=["features+logreg"], cv=2, quick=True, verbose=0, cache=str(tmp_path))
    if "cache" in PretrainedFeatures().get_params():
        res = compare(X[:40], y[:40], **kwargs)
        assert res.features["cached"]
    else:
        with pytest.warns(UserWarning, match="no feature cache"):
            res = compare(X[:40], y[:40], **kwargs)
        assert not res.features["cached"]
    assert res.table.loc[0, "status"] == "ok"


def test_string_labels_are_kept(digits150):
    X, y = digits150
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])[y]
    res = compare(X, names, ["pixels+xgboost"], cv=2, quick=True, verbose=0)
    assert res.table.loc[0, "status"] == "ok"
    assert set(res.classes) == set(names)


# --------------------------------------------------------------------------- the command


def test_cli_compare_writes_table_and_chart(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["compare", "--quick", "--models", "pixels+svc,features+logreg", "--cv", "2",
                 "--output", "out.md", "--plot", "out.png"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "out.md").read_text().startswith("| model | accuracy |")
    with Image.open(tmp_path / "out.png") as chart:
        assert chart.format == "PNG" and chart.size[0] > 300
    out = captured.out
    assert "pixels+svc" in out and "features+logreg" in out
    assert "Chart written to" in out and str(tmp_path / "out.png") in out
    assert "300 of its 1797 images" in out  # --quick says it used a subset
    assert "[2/2] features+logreg" in captured.err  # progress on stderr


def test_cli_compare_npz_default_chart_and_csv(tmp_path, monkeypatch, capsys, digits150):
    X, y = digits150
    np.savez(tmp_path / "data.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    code = main(["compare", "--dataset", "data.npz", "--models", "pixels+svc", "--cv", "2",
                 "--output", "table.csv", "--verbose", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    assert (tmp_path / "skcnn-compare.png").stat().st_size > 1000  # the default chart
    assert pd.read_csv(tmp_path / "table.csv")["model"].tolist() == ["pixels+svc"]


@pytest.mark.parametrize("args, message", [
    (["--dataset", "no/such/folder"], "no such file or folder"),
    (["--models", "pixels+svc,nope"], "Unknown model 'nope'"),
    (["--output", "table.xlsx"], "--output"),
])
def test_cli_compare_errors(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--verbose", "0", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skcnn compare: error:") and message in err
    assert not (tmp_path / "skcnn-compare.png").exists()


def test_cli_compare_npz_without_x_and_y(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 8, 8)), labels=np.arange(4))
    assert main(["compare", "--dataset", str(tmp_path / "bad.npz"), "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert "no array named X or y" in err and "images, labels" in err


def test_cli_compare_cv_must_be_at_least_2(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--cv", "1"])
    assert "--cv must be at least 2" in capsys.readouterr().err


def test_public_names():
    assert skcnn.compare is compare
    assert "compare" in skcnn.__all__ and "ComparisonResult" in skcnn.__all__


def test_cv_as_given_splits(digits150):
    X, y = digits150
    splits = [(np.arange(0, 100), np.arange(100, 150)), (np.arange(50, 150), np.arange(0, 50))]
    res = compare(X, y, ["pixels+svc"], cv=splits, verbose=0)
    assert len(res.splits) == 2
    np.testing.assert_array_equal(res.splits[1][1], np.arange(50))
    assert "2 given split(s)" in res.to_text()


# --------------------------------------------------------------------------- the package


def test_fold_scores_are_those_of_cross_validate_on_the_same_splits(digits150):
    from sklearn.model_selection import cross_val_score

    X, y = digits150
    flat = X.reshape(len(X), -1)
    res = compare(flat, y, {"svc": SVC(C=0.5)}, cv=3, random_state=2, verbose=0)
    expected = cross_val_score(SVC(C=0.5), flat, y, cv=res.splits)
    np.testing.assert_allclose(res.scores["svc"]["accuracy"], expected)
    assert res.table.loc[0, "accuracy_mean"] == pytest.approx(expected.mean())


@pytest.mark.parametrize("kwargs, parameter", [
    ({"models": 3}, "models"),
    ({"verbose": -1}, "verbose"),
    ({"cv": "five"}, "cv"),
    ({"scoring": 3}, "scoring"),
    ({"quick": "yes"}, "quick"),
    ({"test_size": 0}, "test_size"),
])
def test_argument_types_are_checked_before_anything_runs(digits150, kwargs, parameter):
    X, y = digits150
    with pytest.raises(ValueError, match=f"The '{parameter}' parameter of compare must be"):
        compare(X, y, **kwargs)


_OLD_PATH_FIRST = """
import warnings
import skcnn
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from skcnn.compare import on_features, on_pixels
"""

_FUNCTION_FIRST = """
import warnings
import skcnn
from skcnn import compare
run(compare)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from skcnn.compare import on_features, on_pixels
"""


@pytest.mark.parametrize("order", [_OLD_PATH_FIRST, _FUNCTION_FIRST],
                         ids=["old-path-first", "function-first"])
def test_old_module_path_warns_and_skcnn_compare_stays_the_function(order):
    """``from skcnn.compare import on_features`` works (with a DeprecationWarning) in a
    fresh interpreter, and ``skcnn.compare`` is the function before and after it."""
    script = textwrap.dedent("""
        import sys

        def run(function):
            # Called, it is the function: it checks its arguments (cheaply, before
            # loading torch or any data).
            try:
                function([[0.0]], [0], models=3)
            except ValueError as exc:
                assert "The 'models' parameter of compare must be" in str(exc), exc
            else:
                raise AssertionError("compare accepted models=3")
    """) + textwrap.dedent(order) + textwrap.dedent("""
        import skcnn.comparison
        messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
        assert len(messages) == 2 and all("skcnn.comparison" in m for m in messages), messages
        assert on_features is skcnn.comparison.on_features
        assert on_pixels is skcnn.comparison.on_pixels
        assert skcnn.compare is skcnn.comparison.compare, skcnn.compare
        run(skcnn.compare)
        assert "torch" not in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_on_features_and_on_pixels_need_an_estimator():
    for wrap in (on_features, on_pixels):
        with pytest.raises(ValueError, match=f"'estimator' parameter of {wrap.__name__} must be"):
            wrap("SVC")


# --------------------------------------------------------------------------- issue 12 rough edges


@pytest.mark.parametrize("option", ["--output", "--plot"])
def test_cli_compare_refuses_a_missing_folder_before_running(option, tmp_path, monkeypatch,
                                                             capsys, digits150):
    X, y = digits150
    np.savez(tmp_path / "data.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    target = str(tmp_path / "no" / "such" / ("table.csv" if option == "--output" else "c.png"))
    started = []
    monkeypatch.setattr("skcnn.comparison.compare", lambda *a, **k: started.append(1))
    code = main(["compare", "--dataset", "data.npz", "--models", "pixels+svc", "--cv", "2",
                 option, target, "--verbose", "0"])
    err = capsys.readouterr().err
    assert code == 2 and not started  # refused before any model ran
    assert f"{option} " in err and "does not exist" in err


def test_cli_compare_fails_when_every_model_failed_and_says_why(tmp_path, monkeypatch, capsys,
                                                                digits150):
    """Every model failing is an error (exit 1), and each reason is printed in full."""
    X, y = digits150
    np.savez(tmp_path / "data.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    reason = "a reason long enough to be cut in the table: " + "x" * 80

    def failing_fit(self, *args, **kwargs):
        raise RuntimeError(reason)

    from sklearn.svm import SVC

    monkeypatch.setattr(SVC, "fit", failing_fit)
    code = main(["compare", "--dataset", "data.npz", "--models", "pixels+svc", "--cv", "2",
                 "--no-plot", "--verbose", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert reason in captured.err  # in full, although the table cuts it
    assert "no model could be fitted" in captured.err


def test_compare_refuses_an_empty_array(digits150):
    with pytest.raises(ValueError, match=r"X is empty \(0 images\)"):
        compare(np.empty((0, 8, 8)), np.empty(0), models=["pixels+svc"], verbose=0)


def test_compare_takes_paths_in_any_container(tmp_path):
    """A Series, a one-column DataFrame or a 1-D array of paths, as the estimators take them."""
    from skimage.data import lfw_subset

    images = lfw_subset()
    paths = []
    for i in list(range(12)) + list(range(100, 112)):  # faces, then non-faces
        path = tmp_path / f"{i}.png"
        Image.fromarray((images[i] * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    y = np.array([1] * 12 + [0] * 12)
    for container in (pd.Series(paths), pd.DataFrame({"path": paths}), np.array(paths)):
        result = compare(container, y, models=["pixels+svc"], cv=2, verbose=0)
        assert result.table["status"].tolist() == ["ok"], type(container).__name__


# --------------------------------------------------------------------------- the fine-tuned model
def test_finetuned_model_runs_the_default_recipe():
    def spec(side, device="cpu", quick=False):
        return models_module.default_models(
            ["finetuned"], side=side, device=torch.device(device), quick=quick, random_state=0,
            backbone="efficientnet_lite0", n_jobs=None)["finetuned"].estimator

    photos = spec(None)
    assert photos.freeze_epochs == "probe" and photos.max_epochs == "auto"
    assert photos.input_size == 224  # as the pretrained features: its probe is features+logreg
    # CPU, small images: the features' 64 px, two epochs of the last two stages
    assert (spec(8).input_size, spec(8).max_epochs, spec(8).unfreeze) == (64, 2, 2)
    assert (spec(8, device="cuda").max_epochs) == "auto"
    assert spec(8, device="cuda").input_size == 64
    assert spec(None, quick=True).max_epochs == 1


def test_finetuned_row_says_which_model_it_kept(digits150):
    X, y = digits150
    res = compare(X, y, ["finetuned"], cv=2, quick=True, verbose=0)
    trained = res.table.set_index("model").loc["finetuned", "trained"]
    assert trained.startswith("1 ep 32px, ")
    chosen = trained.split(", ", 1)[1]  # the recipe's choice: an end kept or a WiSE-FT blend
    assert chosen in ("kept probe", "kept finetune") or re.fullmatch(r"blend a=0\.\d+", chosen)
    assert res.table.loc[0, "accuracy_mean"] > 0.5
