"""Successive halving over epochs works with every skcnn estimator that trains."""

import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV
from skorch.callbacks import Callback

from skcnn import CNNClassifier, CNNRegressor, FineTunedClassifier, FineTunedRegressor
from skcnn.model_selection import check_epoch_budget, halving_search_cv

TINY = dict(filters=(4,), kernel_size=3, padding="same", hidden_units=(16,), batch_size=32,
            verbose=0, random_state=0)
TUNE = dict(input_size=16, unfreeze="head", batch_size=32, num_workers=0, verbose=0,
            random_state=0)


@pytest.mark.parametrize("estimator, grid, target", [
    (CNNClassifier(**TINY), {"learning_rate": [1e-4, 1e-2]}, "labels"),
    (CNNRegressor(**TINY), {"learning_rate": [1e-4, 1e-2]}, "values"),
    (FineTunedClassifier(**TUNE), {"learning_rate": [1e-4, 1e-2]}, "labels"),
    (FineTunedRegressor(**TUNE), {"learning_rate": [1e-4, 1e-2]}, "values"),
], ids=lambda value: type(value).__name__ if hasattr(value, "fit") else None)
def test_halving_on_epochs_with_every_estimator(small_digits, estimator, grid, target):
    X, y, _, _ = small_digits
    y = y if target == "labels" else y.astype(float)
    pretrained = "input_size" in estimator.get_params()
    n = 64 if pretrained else 160  # a pretrained backbone is slow on the CPU
    search = HalvingGridSearchCV(estimator, grid, resource="max_epochs", min_resources=1,
                                 max_resources=2, factor=2, cv=2).fit(X[:n], y[:n])
    assert search.n_resources_ == [1, 2]
    assert search.cv_results_["param_max_epochs"].tolist() == [1, 1, 2]
    assert search.best_estimator_.n_iter_ == 2  # refit with the last iteration's epochs
    if not pretrained:  # a network from scratch barely moves with 1e-4 in 1 epoch
        assert search.best_params_["learning_rate"] == 1e-2


def test_halving_random_search(small_digits):
    X, y, _, _ = small_digits
    search = halving_search_cv(CNNClassifier(**TINY),
                               {"learning_rate": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]},
                               min_epochs=1, max_epochs=3, factor=3, random=True, cv=2,
                               n_candidates=3, random_state=0).fit(X, y)
    assert isinstance(search, HalvingRandomSearchCV)
    assert search.n_candidates_ == [3, 1]
    assert search.best_estimator_.n_iter_ == 3


#: Epochs already in the history of each training call, over every clone of a search.
_STARTS = []


class _RecordStart(Callback):
    def on_train_begin(self, net, **kwargs):
        _STARTS.append(len(net.history))


def test_each_iteration_retrains_from_scratch_even_with_warm_start(small_digits):
    """scikit-learn clones every candidate per iteration: no weights carry over."""
    X, y, _, _ = small_digits
    with pytest.warns(UserWarning, match="fresh clone"):
        search = halving_search_cv(CNNClassifier(**TINY, warm_start=True,
                                                 callbacks=[_RecordStart()]),
                                   {"learning_rate": [1e-3, 1e-2]}, min_epochs=1,
                                   max_epochs=2, factor=2, cv=2)
    _STARTS.clear()
    search.fit(X, y)
    # 2 candidates x 2 folds, then 1 x 2 folds, then the refit: every one from epoch 0
    assert _STARTS == [0] * 7
    assert search.best_estimator_.n_iter_ == 2


@pytest.mark.parametrize("min_epochs, message", [
    (0.5, "below one epoch.*min_epochs=1 or more.*n_samples"),
    (0, "below one epoch"),
    (1.5, "not a whole number of epochs"),
    (9, "more than max_epochs"),
])
def test_epoch_budget_errors_name_the_fix(min_epochs, message):
    with pytest.raises(ValueError, match=message):
        halving_search_cv(CNNClassifier(), {"learning_rate": [1e-3]}, min_epochs=min_epochs,
                          max_epochs=8)


def test_resource_must_be_an_epoch_parameter_outside_the_grid():
    from sklearn.svm import SVC

    with pytest.raises(ValueError, match="no parameter 'max_epochs'"):
        check_epoch_budget(SVC(), 1, 3)
    with pytest.raises(ValueError, match="remove it from the grid"):
        check_epoch_budget(CNNClassifier(), 1, 3, {"max_epochs": [1, 3]})


def test_scikit_learn_itself_refuses_zero_epochs(small_digits):
    X, y, _, _ = small_digits
    search = HalvingGridSearchCV(CNNClassifier(**TINY), {"learning_rate": [1e-3]},
                                 resource="max_epochs", min_resources=0, max_resources=2)
    with pytest.raises(ValueError, match="min_resources"):
        search.fit(X, y)
    assert np.isfinite(CNNClassifier(**TINY, max_epochs=1).fit(X, y).score(X, y))
