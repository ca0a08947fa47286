"""CNNRegressor and FineTunedRegressor: regression on real images (digits)."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from skcnn import CNNRegressor, FineTunedRegressor

REG = dict(filters=(8,), kernel_size=3, padding="same", hidden_units=(32,), max_epochs=15,
           batch_size=32, learning_rate=3e-3, verbose=0, random_state=0)


@pytest.fixture(scope="module")
def ink(digits8):
    """Digits and two measured properties of each image: its ink (mean intensity) and
    the row of its centre of mass (continuous targets computed from the pixels)."""
    X, _ = digits8
    X = X[:600]
    rows = np.arange(8)[None, :, None]
    mass = X.sum(axis=(1, 2))
    y = np.column_stack([X.mean(axis=(1, 2)), (X * rows).sum(axis=(1, 2)) / mass])
    return X, y


def test_predicts_the_digit_value_better_than_ridge_on_pixels(digits8):
    X, digit = digits8
    X, target = X[:600], digit[:600].astype(float)  # the digit's value as a number
    reg = CNNRegressor(**REG).fit(X[:450], target[:450])
    cnn = reg.score(X[450:], target[450:])
    ridge = Ridge(alpha=1.0).fit(X[:450].reshape(450, -1), target[:450]).score(
        X[450:].reshape(150, -1), target[450:])
    assert cnn > ridge
    assert cnn == pytest.approx(r2_score(target[450:], reg.predict(X[450:])))
    # predictions are on the target's scale, not the standardised one
    assert abs(reg.predict(X[450:]).mean() - target[450:].mean()) < target.std()


def test_multi_output_and_shapes(ink):
    X, y = ink
    reg = CNNRegressor(**REG).fit(X[:400], y[:400])
    assert reg.n_outputs_ == 2 and reg.predict(X[400:]).shape == (200, 2)
    assert reg.score(X[400:], y[400:]) > 0.5
    one = CNNRegressor(**{**REG, "max_epochs": 1}).fit(X[:100], y[:100, :1])
    assert one.predict(X[:5]).shape == (5, 1)  # a 2-D y keeps its shape
    flat = CNNRegressor(**{**REG, "max_epochs": 1}).fit(X[:100], y[:100, 0])
    assert flat.predict(X[:5]).shape == (5,)


def test_standardize_target_learns_any_scale(ink):
    X, y = ink
    target = y[:450, 1]
    base = CNNRegressor(**REG).fit(X[:450], target)
    scaled = CNNRegressor(**REG).fit(X[:450], 1000.0 * target + 5e4)
    np.testing.assert_allclose(scaled.predict(X[450:]), 1000.0 * base.predict(X[450:]) + 5e4,
                               rtol=1e-4)
    assert scaled.target_mean_[0] == pytest.approx(1000.0 * target.mean() + 5e4)


@pytest.mark.parametrize("loss", ["squared_error", "huber", "absolute_error"])
def test_losses_train(digits8, loss):
    X, digit = digits8
    X, target = X[:600], digit[:600].astype(float)
    reg = CNNRegressor(**{**REG, "loss": loss}).fit(X[:450], target[:450])
    assert reg.loss_curve_[-1] < reg.loss_curve_[0] / 2
    assert reg.score(X[450:], target[450:]) > 0.5


def test_absolute_error_is_robust_to_outliers(ink):
    X, y = ink
    target = y[:450, 1].copy()
    target[::10] += 40 * target.std()  # every tenth target is wildly wrong
    scores = {loss: CNNRegressor(**{**REG, "loss": loss}).fit(X[:450], target).score(
        X[450:], y[450:, 1]) for loss in ("squared_error", "absolute_error")}
    assert scores["absolute_error"] > scores["squared_error"]


def test_early_stopping_records_validation_r2(ink):
    X, y = ink
    reg = CNNRegressor(**{**REG, "early_stopping": True, "max_epochs": 30,
                          "n_iter_no_change": 3}).fit(X, y[:, 1])
    assert len(reg.validation_scores_) == reg.n_iter_
    assert max(reg.validation_scores_) > 0.5
    assert "valid_r2" in reg.history_[-1] and "train_r2" in reg.history_[-1]


def test_sample_weight_zero_ignores_images(ink):
    X, y = ink
    target = y[:400, 1].copy()
    weight = np.ones(400)
    target[:200] = 100.0  # garbage, but weighted out
    weight[:200] = 0.0
    reg = CNNRegressor(**REG).fit(X[:400], target, sample_weight=weight)
    assert reg.score(X[450:], y[450:, 1]) > 0.5


def test_warm_start_partial_fit_determinism_and_tta(ink):
    X, y = ink
    a = CNNRegressor(**REG).fit(X[:300], y[:300, 1])
    b = CNNRegressor(**REG).fit(X[:300], y[:300, 1])
    np.testing.assert_array_equal(a.predict(X[300:]), b.predict(X[300:]))
    warm = CNNRegressor(**{**REG, "max_epochs": 2, "warm_start": True})
    warm.fit(X[:300], y[:300, 1]).fit(X[:300], y[:300, 1])
    assert warm.n_iter_ == 4
    inc = CNNRegressor(**REG)
    for _ in range(3):
        inc.partial_fit(X[:300], y[:300, 1])
    assert inc.n_iter_ == 3 and inc.loss_curve_[-1] < inc.loss_curve_[0]
    tta = CNNRegressor(**{**REG, "augment": "light", "tta": 3}).fit(X[:300], y[:300, 1])
    assert tta.predict(X[300:]).shape == (300,)
    np.testing.assert_array_equal(tta.predict(X[300:310]), tta.predict(X[300:310]))


def test_finetuned_regressor_on_digits(ink):
    X, y = ink
    # A frozen ImageNet backbone on 8x8 digits at 16 px: the contract and that the head
    # learns (accuracy of fine-tuning on real images is tested in tests/test_finetune.py).
    reg = FineTunedRegressor(input_size=16, max_epochs=4, batch_size=16, learning_rate=3e-2,
                             unfreeze="head", freeze_epochs=0, dropout=0.0,
                             lr_schedule="constant",
                             num_workers=0, verbose=0, random_state=0)
    reg.fit(X[:96], y[:96, 0])
    assert np.all(np.diff(reg.loss_curve_) < 0)
    assert reg.score(X[:96], y[:96, 0]) > 0.0  # better than predicting the mean
    assert reg.predict(X[:3]).shape == (3,)
    assert abs(reg.predict(X[:96]).mean() - y[:96, 0].mean()) < y[:, 0].std()


def test_unknown_loss_names_the_choices(ink):
    X, y = ink
    with pytest.raises(ValueError, match="'loss' parameter.*squared_error"):
        CNNRegressor(loss="mse", **{k: v for k, v in REG.items()}).fit(X[:50], y[:50, 0])


def test_wrong_number_of_targets_on_warm_start(ink):
    X, y = ink
    reg = CNNRegressor(**{**REG, "max_epochs": 1, "warm_start": True}).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="1 target.*fitted on 2"):
        reg.fit(X[:50], y[:50, 0])
