"""compare's time budget (the plan, from given costs) and training-set sizes (validation, subsets)."""

import importlib

import numpy as np
import pytest

budget = importlib.import_module("skcnn.comparison._budget")
sizes_module = importlib.import_module("skcnn.comparison._train_sizes")

CNN = budget.FitCost(overhead=0.5, once={None: 0.0}, epoch={None: 1e-4}, predict={None: 1e-5})
FT = budget.FitCost(overhead=2.0, once={32: 1e-3, 64: 4e-3}, epoch={32: 5e-3, 64: 2e-2},
                    predict={32: 1e-3, 64: 4e-3})
COSTS = {"cnn": CNN, "finetuned": FT}
SIZES = {"cnn": (None,), "finetuned": (32, 64)}
FOLDS = [(1400, 360)] * 5


def test_plan_respects_the_budget_and_records_the_settings():
    plan = budget.plan_budget(COSTS, SIZES, 300.0, FOLDS,
                              calibration={"cnn": 1.0, "finetuned": 4.0})
    assert sum(a.planned for a in plan.values()) <= 300.0 - 5.0
    for name, a in plan.items():
        assert a.epochs >= 1 and a.planned <= a.share - a.calibration + 1e-9
        expected = sum(COSTS[name].fit_seconds(a.input_size, n, a.epochs)
                       + COSTS[name].predict_seconds(a.input_size, t) for n, t in FOLDS)
        assert a.planned == pytest.approx(expected)
    assert plan["cnn"].epochs == budget.EPOCHS["cnn"][1]  # cheap: capped
    assert plan["finetuned"].input_size in (32, 64)


def test_more_budget_never_gives_less():
    small = budget.plan_budget(COSTS, SIZES, 120.0, FOLDS)
    large = budget.plan_budget(COSTS, SIZES, 1200.0, FOLDS)
    ft_small, ft_large = small["finetuned"], large["finetuned"]
    assert (ft_large.input_size, ft_large.epochs) >= (ft_small.input_size, ft_small.epochs)


def test_too_small_a_budget_names_the_smallest_workable_one():
    with pytest.raises(budget.BudgetTooSmallError, match="smallest workable budget is") as info:
        budget.plan_budget(COSTS, SIZES, 10.0, FOLDS, calibration=3.0)
    minimum = info.value.minimum
    budget.plan_budget(COSTS, SIZES, float(minimum), FOLDS, calibration=3.0)  # works


def test_default_budget():
    assert budget.default_budget(1797, 8) == pytest.approx(1797 * 0.06)
    assert budget.default_budget(10, None) == 60.0
    assert budget.default_budget(10**6, None) == 420.0


@pytest.mark.parametrize("value, message", [
    ([0.0, 1.0], r"\(0, 1\]"), ([1.5], r"\(0, 1\]"), ([], "empty"), ("a,b", "commas"),
    ([0.01], "too small"),
])
def test_train_sizes_are_checked(value, message):
    y = np.repeat(np.arange(10), 20)
    splits = [(np.arange(0, 200, 2), np.arange(1, 200, 2))]
    with pytest.raises(ValueError, match=message):
        sizes_module.check_train_sizes(value, y, splits)


def test_subsets_are_nested_stratified_and_from_the_training_fold():
    y = np.repeat(np.arange(4), 50)
    train, test = np.arange(0, 200, 2), np.arange(1, 200, 2)
    subsets = [sizes_module.subset_splits([(train, test)], y, f, 0)[0] for f in (0.2, 0.5, 1.0)]
    previous = set()
    for sub_train, sub_test in subsets:
        assert np.array_equal(sub_test, test)
        assert set(sub_train) <= set(train) and previous <= set(sub_train)
        counts = np.bincount(y[sub_train], minlength=4)
        assert counts.max() - counts.min() <= 1
        previous = set(sub_train)
    assert [len(s[0]) for s in subsets] == [4 * max(1, round(f * 25)) for f in (0.2, 0.5, 1.0)]
