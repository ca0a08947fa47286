"""skcnn.compare on a continuous target: regression models, KFold splits, R², MAE and RMSE.

Small on purpose: 150 rotated digits at 8x8, 2 folds, ``quick`` settings, four models.
"""

import json

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from skcnn import compare
from skcnn.cli import main
from skcnn.comparison import REGRESSION_MODELS, count_parameters, on_pixels
from skcnn.datasets import load_dataset, load_digits_rotation

MODELS = ["cnn", "features+svr", "pixels+ridge", "pixels+svr"]


@pytest.fixture(scope="module")
def rotated():
    X, angles = load_digits_rotation(size=8, return_X_y=True)
    return X[:150], angles[:150]


@pytest.fixture(scope="module")
def result(rotated):
    X, angles = rotated
    return compare(X, angles, MODELS, cv=2, quick=True, verbose=0)


def test_a_continuous_target_compares_regressors(result):
    table = result.table
    assert result.task == "regression" and result.classes is None
    assert result.scoring == ["r2", "mae", "rmse"]
    assert list(table["model"]) == MODELS and (table["status"] == "ok").all()
    for column in ("r2_mean", "r2_std", "mae_mean", "mae_std", "rmse_mean", "rmse_std"):
        assert table[column].notna().all()
    assert (table["mae_mean"] > 0).all()  # errors as positive numbers (degrees)
    assert (table["rmse_mean"] >= table["mae_mean"]).all()
    assert (table["r2_mean"] <= 1).all()
    types = {name: type(spec.estimator).__name__ for name, spec in result.model_specs.items()}
    assert types["cnn"] == "CNNRegressor"
    assert types["pixels+ridge"] == types["pixels+svr"] == "TransformedTargetRegressor"
    # the angle shows in the pixels: a linear model on them explains most of its variance
    ridge = table.set_index("model").loc["pixels+ridge"]
    assert ridge["r2_mean"] > 0.5 and ridge["mae_mean"] < 15
    assert table["n_params"].notna().all()
    assert "a continuous target" in result.notes()[0] and "KFold" in result.notes()[0]


def test_splits_are_shuffled_kfold_not_stratified(result, rotated):
    X, _ = rotated
    expected = list(KFold(2, shuffle=True, random_state=0).split(X))
    assert len(result.splits) == 2
    for (train, test), (train_ok, test_ok) in zip(result.splits, expected):
        np.testing.assert_array_equal(train, train_ok)
        np.testing.assert_array_equal(test, test_ok)
    # the fold scores are cross_validate's on those splits
    assert result.scores["pixels+ridge"]["r2"].shape == (2,)


def test_renderings_and_chart(result):
    assert json.loads(result.to_json())["task"] == "regression"
    assert result.to_markdown().startswith("| model | r2 | mae | rmse |")
    fig = result.plot()
    assert fig.axes[0].get_xlabel().startswith("R²")


def test_whole_number_targets_stay_classification_unless_asked(rotated):
    X, angles = rotated
    whole = np.round(angles).astype(int) // 30  # a few integer classes
    res = compare(X, whole, ["pixels+ridge"], task="regression", cv=2, verbose=0)
    assert res.task == "regression" and res.scoring[0] == "r2"
    with pytest.raises(ValueError, match=r"Unknown model 'pixels\+ridge'"):
        compare(X, whole, ["pixels+ridge"], cv=2, verbose=0)  # integers: classes


def test_bad_input_is_named(rotated):
    X, angles = rotated
    labels = np.where(angles > 0, "left", "right")
    with pytest.raises(ValueError, match="task='regression' needs numeric targets.*'left'"):
        compare(X, labels, ["pixels+ridge"], task="regression", verbose=0)
    with pytest.raises(ValueError, match="task='regression'"):
        compare(X, angles, ["pixels+svc"], task="classification", verbose=0)
    with pytest.raises(ValueError, match=r"Unknown regression model 'pixels\+svc'.*pixels\+svr"):
        compare(X, angles, ["pixels+svc"], verbose=0)
    with pytest.raises(ValueError, match="constant"):
        compare(X, np.full(len(X), 1.5), ["pixels+ridge"], task="regression", verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        compare(X, np.r_[np.nan, angles[1:]], ["pixels+ridge"], verbose=0)
    with pytest.raises(ValueError, match="task"):
        compare(X, angles, ["pixels+ridge"], task="ordinal", verbose=0)
    with pytest.raises(ValueError, match="'accuracy' is a classification metric.*'r2'"):
        compare(X, angles, ["pixels+ridge"], scoring=["r2", "accuracy"], verbose=0)
    res = compare(X, angles, ["pixels+ridge"], scoring="neg_mean_absolute_error", cv=2,
                  verbose=0)
    assert res.scoring == ["neg_mean_absolute_error"]
    with pytest.raises(ValueError, match="Regression on texts is not supported"):
        compare(["a text", "another text", "more text", "text"], [0.5, 1.5, 2.5, 3.0],
                verbose=0)


def test_own_regressor_on_the_pixels(rotated):
    X, angles = rotated
    res = compare(X, angles, {"ridge": on_pixels(Ridge())}, cv=2, verbose=0)
    assert res.table.loc[0, "status"] == "ok" and res.task == "regression"
    assert res.table.loc[0, "n_params"] == X[0].size + 1  # 64 weights and the intercept


def test_digits_rotation_dataset():
    X, angles = load_digits_rotation(return_X_y=True)
    assert X.shape == (1797, 16, 16) and X.dtype == np.float32
    assert 0 <= X.min() and X.max() <= 1
    assert np.abs(angles).max() <= 45 and angles.std() > 20
    np.testing.assert_array_equal(angles, load_digits_rotation(return_X_y=True)[1])
    bunch = load_digits_rotation(size=8, max_angle=10, random_state=np.random.RandomState(1))
    assert bunch.images.shape == (1797, 8, 8) and np.abs(bunch.target).max() <= 10
    assert set(bunch.digits) == set(range(10))
    X2, y2, description = load_dataset("digits-rotation")
    assert X2.shape == X.shape and "regression" in description


def test_cli_digits_rotation(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["compare", "--dataset", "digits-rotation", "--quick", "--models",
                 "pixels+ridge", "--cv", "2", "--output", "out.md", "--no-plot", "--verbose", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "out.md").read_text().startswith("| model | r2 | mae | rmse |")
    assert "a random subset of 300" in captured.out and "KFold" in captured.out
    assert set(REGRESSION_MODELS) >= {"cnn", "finetuned", "features+svr", "features+ridge",
                                       "pixels+svr", "pixels+ridge"}


def test_count_parameters_of_a_transformed_target_regressor(rotated):
    from sklearn.compose import TransformedTargetRegressor

    X, angles = rotated
    flat = X.reshape(len(X), -1)
    model = TransformedTargetRegressor(Ridge()).fit(flat, angles)
    assert count_parameters(model) == flat.shape[1] + 1
