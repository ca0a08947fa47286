"""Sizing the networks of a comparison by a time budget: ``compare(..., budget=SECONDS)``.

The built-in networks ('cnn' and 'finetuned') get the epochs and input size
that fit their share of the budget *on this machine*, instead of fixed
settings:

1. **Calibration**: each network is fitted a few times on a small,
   stratified, seeded subset of the first training fold (one and two
   epochs, two subset sizes, the smallest and the largest input size it may
   get) and its predictions are timed. That gives its cost model,
   :class:`FitCost`: seconds per fit, per training image once, per training
   image and epoch, per test image; at other input sizes they are
   interpolated linearly in the number of pixels.
2. **Plan**: the budget, less the calibration, is shared among the
   networks (:data:`SHARES`); each gets the largest input size at which its
   share buys at least its preferred number of epochs, and as many epochs
   as the share buys there (up to a maximum, :data:`EPOCHS`), over all
   folds (and all training-set sizes). What a capped network leaves is
   given to the others.

The plan is a pure function of the measured costs (:func:`plan_budget`):
deterministic for given costs; the costs themselves are timings, so the
epochs and sizes chosen may differ between machines and runs (the images of
the calibration and the folds are the same for a given ``random_state``).

After merging a new recipe, adjust :data:`EPOCHS`, :data:`SHARES` or
:func:`finetune_sizes`; the cost model measures whatever ``fit`` does.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BudgetTooSmallError", "FitCost", "Allotment", "Budget", "BUDGETED", "SHARES",
           "EPOCHS", "default_budget", "finetune_sizes", "calibrate", "plan_budget",
           "apply_budget"]

#: The built-in models a budget sizes, and their parameters it sets.
BUDGETED = ("cnn", "finetuned")

#: Relative share of the budget of each network: fine-tuning a pretrained
#: network costs more per epoch and is the model expected to win on photos.
SHARES = {"cnn": 1.0, "finetuned": 2.0}

#: (preferred minimum, maximum) epochs. The input size is lowered until the
#: preferred minimum fits; beyond the maximum, more epochs rarely help
#: (CNNClassifier's cosine schedule, a pretrained network that converges fast).
EPOCHS = {"cnn": (10, 30), "finetuned": (4, 12)}

#: Default budget: seconds per image of the data set, for images up to 32
#: pixels (array images) and for larger images and image files.
DEFAULT_SECONDS_PER_IMAGE = (0.06, 0.25)

#: The default budget is clipped to this range of seconds.
DEFAULT_BUDGET_RANGE = (60.0, 420.0)

#: Input sizes the fine-tuned network may be given (pixels per side).
SIZE_LADDER = (32, 64, 96, 128, 160, 192, 224)


class BudgetTooSmallError(ValueError):
    """The budget cannot train every network for even one epoch; says the smallest that can."""

    def __init__(self, message, minimum):
        super().__init__(message)
        self.minimum = minimum


def default_budget(n_images, side):
    """Budget used when none is given, in seconds.

    ``n_images`` times 0.06 s for array images up to 32 pixels, 0.25 s for
    larger images and image files (fine-tuning needs larger inputs there,
    at about 16 times the cost per epoch), clipped to 60..420 s. On
    scikit-learn's digits (1,797 images) that is 108 s, which keeps the
    whole ``skcnn compare`` under 3 minutes on 2 cores; on a folder of
    1,500 photos, 375 s (the whole run under 10 minutes).
    """
    rate = DEFAULT_SECONDS_PER_IMAGE[0 if side is not None and side <= 32 else 1]
    low, high = DEFAULT_BUDGET_RANGE
    return float(min(max(rate * n_images, low), high))


def finetune_sizes(side, cuda=False):
    """Input sizes the fine-tuned network may get: from 32 up to a cap set by the image side.

    Small images gain nothing from being enlarged beyond a few times their
    size: the cap is 64 for images up to 32 pixels, 128 up to 64, else the
    backbone's usual 224 (image files, whose size is unknown, too).
    """
    if side is not None and side <= 32:
        top = 64
    elif side is not None and side <= 64:
        top = 128
    else:
        top = 224
    return tuple(s for s in SIZE_LADDER if s <= top)


# --------------------------------------------------------------------------- cost model


@dataclass
class FitCost:
    """Measured cost of fitting and scoring one network.

    ``fit_seconds(size, n, epochs) = overhead + n * (once(size) + epochs * epoch(size))``;
    ``predict_seconds(size, n) = n * predict(size)``. ``once``, ``epoch`` and
    ``predict`` map an input size (None: the network's only size) to seconds
    per image; other sizes are interpolated linearly in the number of pixels.
    """

    overhead: float
    once: dict
    epoch: dict
    predict: dict

    def _at(self, table, size):
        if size in table:
            return table[size]
        known = sorted(table)
        low, high = known[0], known[-1]
        t = (size ** 2 - low ** 2) / (high ** 2 - low ** 2)
        return max(0.0, table[low] + t * (table[high] - table[low]))

    def fit_seconds(self, size, n_train, epochs):
        return self.overhead + n_train * (self._at(self.once, size)
                                          + epochs * self._at(self.epoch, size))

    def predict_seconds(self, size, n_test):
        return n_test * self._at(self.predict, size)


@dataclass
class Allotment:
    """What one network was given: its share of the budget, epochs, input size, seconds."""

    model: str
    share: float
    epochs: int = None
    input_size: int = None
    planned: float = None
    calibration: float = 0.0
    used: float = None


@dataclass
class Budget:
    """The budget of a comparison: total seconds, whether it was the default, the allotments."""

    seconds: float
    default: bool
    calibration: float = 0.0
    allotments: dict = field(default_factory=dict)

    def describe(self):
        """One line for the result's notes."""
        origin = "default budget" if self.default else "budget"
        parts = []
        for a in self.allotments.values():
            size = f" at {a.input_size}x{a.input_size}" if a.input_size else ""
            used = f", used {a.used:.0f} s" if a.used is not None else ""
            parts.append(f"{a.model} {a.epochs} epochs{size} ({a.share:.0f} s allotted, "
                         f"{a.planned:.0f} s planned{used})")
        return (f"Networks sized by a {origin} of {self.seconds:.0f} s on this machine "
                f"(calibration {self.calibration:.1f} s included): " + "; ".join(parts) + ".")


# --------------------------------------------------------------------------- calibration


def _set(estimator, **params):
    """``clone(estimator)`` with the params it has among ``params``."""
    from sklearn.base import clone

    names = estimator.get_params()
    return clone(estimator).set_params(**{k: v for k, v in params.items()
                                          if k in names and v is not None})


def _timed_fit(estimator, X, y, size, epochs):
    model = _set(estimator, max_epochs=epochs, input_size=size, verbose=0)
    start = time.perf_counter()
    model.fit(X, y)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(X)
    return fit, time.perf_counter() - start


def calibrate(estimator, X, y, train, sizes, *, random_state, min_seconds=0.3, n_start=128):
    """``(FitCost, seconds spent)`` of ``estimator`` on a subset of the training fold ``train``.

    Fits with one and two epochs on ``n`` images (``n`` grows from
    ``max(n_start, 8 per class)`` until a one-epoch fit takes ``min_seconds``
    or the fold is used up) and one epoch on ``n // 2`` images, at the
    smallest size; one epoch on ``n // 2`` images at the largest size.
    ``sizes`` is ``(None,)`` for a network whose input size is fixed.
    """
    from sklearn.utils import _safe_indexing

    from ._train_sizes import nested_subsets

    began = time.perf_counter()
    y_train = np.asarray(y)[train]
    n_classes = len(np.unique(y_train))
    n = min(len(train), max(n_start, 8 * n_classes))
    smallest, largest = sizes[0], sizes[-1]

    def subset(m):
        (positions,) = nested_subsets(y_train, [m / len(train)], random_state)
        index = train[positions]
        return _safe_indexing(X, index), np.asarray(y)[index], len(index)

    # An untimed first fit: the first one pays for imports, thread pools and caches.
    Xw, yw, _ = subset(max(2 * n_classes, 16))
    _timed_fit(estimator, Xw, yw, smallest, 1)
    while True:
        Xn, yn, n_real = subset(n)
        one, predict = _timed_fit(estimator, Xn, yn, smallest, 1)
        if one >= min_seconds or n >= len(train):
            break
        n = min(len(train), 4 * n)
    two, _ = _timed_fit(estimator, Xn, yn, smallest, 2)
    Xh, yh, n_half = subset(max(n // 2, 2 * n_classes))
    half, _ = _timed_fit(estimator, Xh, yh, smallest, 1)
    epoch = max((two - one) / n_real, 1e-7)
    if n_real > n_half:
        per_image = max((one - half) / (n_real - n_half), epoch)
        overhead = max(one - n_real * per_image, 0.0)
    else:  # too few images to tell fixed from per-image costs: all per image (pessimistic)
        per_image, overhead = max(one / n_real, epoch), 0.0
    once = {smallest: per_image - epoch}
    per_epoch = {smallest: epoch}
    per_predict = {smallest: predict / n_real}
    if largest != smallest:
        big, big_predict = _timed_fit(estimator, Xh, yh, largest, 1)
        ratio = max((big - overhead) / n_half, per_image) / per_image
        once[largest] = once[smallest] * ratio
        per_epoch[largest] = epoch * ratio
        per_predict[largest] = max(big_predict / n_half, per_predict[smallest])
    cost = FitCost(overhead=overhead, once=once, epoch=per_epoch, predict=per_predict)
    return cost, time.perf_counter() - began


# --------------------------------------------------------------------------- the plan


def _folds_seconds(cost, size, epochs, folds):
    """Seconds of fitting and scoring on every ``(n_train, n_test)`` of ``folds``."""
    return sum(cost.fit_seconds(size, n_train, epochs) + cost.predict_seconds(size, n_test)
               for n_train, n_test in folds)


def _best(cost, share, sizes, folds, limits):
    """``(epochs, size, planned seconds)`` within ``share``, or None when 1 epoch does not fit."""
    preferred, most = limits
    options = []
    for size in sizes:  # smallest first
        fixed = _folds_seconds(cost, size, 0, folds)
        per_epoch = _folds_seconds(cost, size, 1, folds) - fixed
        epochs = min(most, int((share - fixed) // per_epoch)) if per_epoch > 0 else most
        if epochs >= 1:
            options.append((epochs, size, fixed + epochs * per_epoch))
    if not options:
        return None
    good = [o for o in options if o[0] >= min(preferred, options[0][0])]
    return good[-1]  # the largest size that still gets the preferred epochs


def _minimum(cost, sizes, folds):
    return _folds_seconds(cost, sizes[0], 1, folds)


def plan_budget(costs, sizes, budget, folds, calibration=0.0, *, shares=None, epochs=None):
    """The allotment of each network: a pure function of the measured costs.

    Parameters
    ----------
    costs : dict
        Model name -> :class:`FitCost`.
    sizes : dict
        Model name -> input sizes it may get, smallest first (``(None,)``
        for a fixed input).
    budget : float
        Seconds for all the networks, calibration included.
    folds : list of (n_train, n_test)
        Every fit each network will make (all folds, all training-set sizes).
    calibration : float or dict
        Seconds the calibration took (in all, or per model).

    Returns
    -------
    allotments : dict
        Model name -> :class:`Allotment`; ``planned`` seconds sum to at most
        ``budget - calibration``.

    Raises
    ------
    BudgetTooSmallError
        When the budget cannot train every network for one epoch at its
        smallest size on every fold; it names the smallest workable budget.
    """
    shares = SHARES if shares is None else shares
    epochs = EPOCHS if epochs is None else epochs
    spent = sum(calibration.values()) if isinstance(calibration, dict) else float(calibration)
    available = budget - spent
    needs = {m: _minimum(cost, sizes[m], folds) for m, cost in costs.items()}
    if sum(needs.values()) > available:
        minimum = math.ceil(spent + sum(needs.values()))
        detail = ", ".join(f"{m} {s:.1f} s" for m, s in needs.items())
        raise BudgetTooSmallError(
            f"A budget of {budget:g} s is too small to train the networks on this machine: "
            f"calibrating them took {spent:.1f} s and one epoch at the smallest input size on "
            f"every fold needs {detail}. The smallest workable budget is {minimum} s; give "
            f"budget={minimum} (--budget {minimum}) or more, or leave out the networks "
            "(models=...).", minimum)
    weights = {m: shares.get(m, 1.0) for m in costs}
    # Networks whose share is below their minimum get their minimum first.
    fixed = {}
    while True:
        rest = available - sum(needs[m] for m in fixed)
        total = sum(w for m, w in weights.items() if m not in fixed)
        short = [m for m in costs if m not in fixed and rest * weights[m] / total < needs[m]]
        if not short:
            break
        fixed.update((m, needs[m]) for m in short)
    allot = {m: fixed.get(m, rest * weights[m] / total if total else 0.0) for m in costs}
    plans = {m: _best(costs[m], allot[m], sizes[m], folds, epochs.get(m, (1, 10**6)))
             for m in costs}
    # What capped networks leave goes to the others, in proportion to their weights.
    left = sum(allot[m] - plans[m][2] for m in costs if plans[m][0] == epochs.get(m, (0, 0))[1])
    open_ = [m for m in costs if plans[m][0] < epochs.get(m, (0, 10**6))[1]]
    if left > 0 and open_:
        total = sum(weights[m] for m in open_)
        for m in open_:
            allot[m] += left * weights[m] / total
            plans[m] = _best(costs[m], allot[m], sizes[m], folds, epochs.get(m, (1, 10**6)))
    per_model = calibration if isinstance(calibration, dict) else {}
    return {m: Allotment(model=m, share=allot[m] + per_model.get(m, 0.0), epochs=plans[m][0],
                         input_size=plans[m][1], planned=plans[m][2],
                         calibration=per_model.get(m, 0.0))
            for m in costs}


# --------------------------------------------------------------------------- in compare


def apply_budget(specs, names, inputs, y, splits, budget, *, side, train_fractions=(1.0,),
                 random_state=0, log=print):
    """Calibrate the built-in networks ``names`` of ``specs``, plan, set their parameters.

    Returns the :class:`Budget` (with the allotments); the estimators of
    ``specs[name]`` get the planned ``max_epochs`` (and ``input_size``).
    """
    default = budget is None
    seconds = default_budget(len(y), side) if default else float(budget)
    log(f"budget: {seconds:.0f} s for {', '.join(names)}"
        f"{' (default)' if default else ''}; calibrating on this machine ...", end=" ")
    costs, sizes, spent = {}, {}, {}
    train = splits[0][0]
    for name in names:
        spec = specs[name]
        data, _ = inputs.get(spec.input)
        has_size = "input_size" in spec.estimator.get_params()
        sizes[name] = finetune_sizes(side) if has_size else (None,)
        costs[name], spent[name] = calibrate(spec.estimator, data, y, train, sizes[name],
                                             random_state=random_state)
    log(f"{sum(spent.values()):.1f} s")
    # Every fit: each fold at each training-set size (fractions of the fold).
    folds = [(max(1, round(len(tr) * f)), len(te)) for f in train_fractions for tr, te in splits]
    allotments = plan_budget(costs, sizes, seconds, folds, calibration=spent)
    for name, a in allotments.items():
        specs[name].estimator = _set(specs[name].estimator, max_epochs=a.epochs,
                                     input_size=a.input_size)
        if a.input_size is None and inputs.small_info and specs[name].input == "small":
            a.input_size = int(max(inputs.small_info["size"]))  # what it saw, not set
        size = f" at {a.input_size}x{a.input_size}" if a.input_size else ""
        log(f"budget: {name} gets {a.epochs} epochs{size} ({a.share:.0f} s allotted, "
            f"{a.planned:.0f} s planned after {a.calibration:.1f} s of calibration)")
    return Budget(seconds=seconds, default=default, calibration=sum(spent.values()),
                  allotments=allotments)


def budget_columns(table, budget, used):
    """``table`` with the columns ``epochs``, ``input_size``, ``allotted_s``, ``used_s``.

    ``used`` maps a model to the seconds its folds took (fit and predict, all
    training-set sizes); calibration is added to it. Models without an
    allotment get NaN.
    """
    table = table.copy()
    allotments = budget.allotments if budget is not None else {}
    for column in ("epochs", "input_size", "allotted_s", "used_s"):
        table[column] = float("nan")
    for row, model in enumerate(table["model"]):
        a = allotments.get(model)
        if a is None:
            continue
        if model in used:
            a.used = used[model] + a.calibration
        table.loc[row, ["epochs", "input_size", "allotted_s", "used_s"]] = [
            a.epochs, np.nan if a.input_size is None else a.input_size, a.share,
            np.nan if a.used is None else a.used]
    return table
