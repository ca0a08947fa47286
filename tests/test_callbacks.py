"""callbacks=: user skorch callbacks run beside skcnn's own; the Optuna example prunes."""

import runpy
from pathlib import Path

import numpy as np
import pytest
from skorch.callbacks import Callback, GradientNormClipping

from skcnn import CNNClassifier, CNNRegressor, FineTunedClassifier

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "optuna_pruning.py"


class EpochRecorder(Callback):
    """Remembers the history row of every epoch it sees."""

    def initialize(self):
        self.epochs_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_.append(dict(net.history[-1]))


def test_a_user_callback_sees_every_epoch(small_digits, fast):
    X, y, _, _ = small_digits
    recorder = EpochRecorder()
    clf = CNNClassifier(**{**fast, "max_epochs": 4, "early_stopping": True,
                           "n_iter_no_change": 10},
                        callbacks=[recorder, ("clip", GradientNormClipping(1.0))]).fit(X, y)
    assert [row["epoch"] for row in recorder.epochs_] == [1, 2, 3, 4]
    assert [row["train_loss"] for row in recorder.epochs_] == clf.loss_curve_
    assert [row["valid_acc"] for row in recorder.epochs_] == clf.validation_scores_
    names = dict(clf.net_.callbacks_)
    assert names["EpochRecorder"] is recorder and "clip" in names and "early_stopping" in names


def test_user_callbacks_in_regressors_and_finetuning(small_digits, fast):
    X, y, _, _ = small_digits
    recorder = EpochRecorder()
    CNNRegressor(**fast, callbacks=[recorder]).fit(X, y.astype(float))
    assert len(recorder.epochs_) == 3 and "train_r2" in recorder.epochs_[-1]
    recorder = EpochRecorder()
    FineTunedClassifier(input_size=16, max_epochs=2, unfreeze="head", num_workers=0,
                        verbose=0, callbacks=[recorder]).fit(X[:64], y[:64])
    assert len(recorder.epochs_) == 2


@pytest.mark.parametrize("bad, message", [
    (lambda net: None, "not a skorch callback"),
    ("print_log", "not a skorch callback"),
    (GradientNormClipping, "not an instance"),
])
def test_objects_that_are_not_skorch_callbacks_are_refused(small_digits, fast, bad, message):
    X, y, _, _ = small_digits
    with pytest.raises(TypeError, match=message):
        CNNClassifier(**fast, callbacks=[bad]).fit(X, y)


def test_a_callback_name_skcnn_uses_is_refused(small_digits, fast):
    X, y, _, _ = small_digits
    with pytest.raises(ValueError, match="'early_stopping'.*choose another name"):
        CNNClassifier(**fast, callbacks=[("early_stopping", EpochRecorder())]).fit(X, y)


def test_optuna_example_prunes_bad_trials():
    pytest.importorskip("optuna_integration", reason="the optuna extra is not installed")
    import optuna

    example = runpy.run_path(str(EXAMPLE), run_name="optuna_example")
    grid = {"learning_rate": [1e-5, 3e-3], "filters": [8], "dropout": [0.0, 0.1, 0.2]}
    study, accuracy = example["run"](max_epochs=8, n_images=600, grid=grid)
    states = [trial.state for trial in study.trials]
    assert len(states) == 6
    assert states.count(optuna.trial.TrialState.PRUNED) >= 1
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert any(t.params["learning_rate"] == 1e-5 for t in pruned)  # a hopeless one
    assert all(len(t.intermediate_values) < 8 for t in pruned)  # stopped before the end
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(len(t.intermediate_values) == 8 for t in complete)  # one report per epoch
    assert study.best_trial.params["learning_rate"] == 3e-3
    assert accuracy > 0.5
    assert np.isfinite(study.best_value)
