"""How much data does each model need? Growing stratified subsets of each training fold.

``compare(..., train_sizes=[0.1, 0.3, 1.0])`` fits every model on a
fraction of each training fold, scored on the same, whole test fold. The
subsets are nested (the 10 % subset is part of the 30 % one) and
stratified (each class keeps its share, and at least one image), drawn with
``random_state`` from the training fold only: no test image is ever used
for training, whatever the size.

The table (:func:`train_sizes_table`, one row per model and size) and the
chart (:func:`skcnn.plotting.plot_train_sizes`) are what
:attr:`ComparisonResult.train_sizes` holds and draws.
"""

import math
from numbers import Real

import numpy as np

__all__ = ["check_train_sizes", "nested_subsets", "subset_splits", "train_sizes_table",
           "run_train_sizes", "Runs"]


def check_train_sizes(train_sizes, y, splits):
    """``train_sizes`` as a sorted tuple of floats in (0, 1], or a clear ValueError.

    Each size must leave at least 2 images per class in the smallest
    training fold (a model cannot learn a class from nothing, and most
    need two).
    """
    if isinstance(train_sizes, str):
        try:
            train_sizes = [float(v) for v in train_sizes.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"train_sizes {train_sizes!r}: give fractions of the training fold "
                             "separated by commas, e.g. '0.1,0.3,1.0'.") from None
    if isinstance(train_sizes, Real):
        train_sizes = [train_sizes]
    values = list(train_sizes)
    if not values:
        raise ValueError("train_sizes is empty: give fractions of the training fold in (0, 1], "
                         "e.g. [0.1, 0.3, 1.0].")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
            raise ValueError(f"train_sizes holds {value!r}: each size is a fraction of the "
                             "training fold in (0, 1] (1.0 is the whole fold), e.g. "
                             "[0.1, 0.3, 1.0].")
    values = tuple(sorted({float(v) for v in values}))
    n_classes = len(np.unique(y))
    n_train = min(len(train) for train, _ in splits)
    smallest = values[0]
    if round(smallest * n_train) < 2 * n_classes:
        least = 2 * n_classes / n_train
        raise ValueError(
            f"train_sizes {smallest:g} is too small: {smallest:g} of the smallest training fold "
            f"({n_train} images) is {round(smallest * n_train)} images, fewer than 2 per class "
            f"for {n_classes} classes. Use sizes of at least {math.ceil(least * 100) / 100:g}.")
    return values


def nested_subsets(y_train, fractions, random_state):
    """Positions in ``y_train`` of nested, stratified subsets, one per fraction.

    Each class's images are shuffled once (seeded); the subset of fraction
    ``f`` takes the first ``max(1, round(f * n_c))`` of each class ``c``, so
    a smaller subset is part of every larger one, and 1.0 is everything.
    """
    rng = np.random.default_rng(_seed(random_state))
    y_train = np.asarray(y_train)
    orders = {c: rng.permutation(np.flatnonzero(y_train == c)) for c in np.unique(y_train)}
    subsets = []
    for fraction in fractions:
        keep = [order[:max(1, int(round(fraction * len(order))))] for order in orders.values()]
        subsets.append(np.sort(np.concatenate(keep)))
    return subsets


def subset_splits(splits, y, fraction, random_state):
    """The splits with each training fold cut to its stratified ``fraction`` (test folds kept)."""
    if fraction >= 1:
        return list(splits)
    out = []
    for fold, (train, test) in enumerate(splits):
        (positions,) = nested_subsets(y[train], [fraction], _fold_seed(random_state, fold))
        out.append((train[positions], test))
    return out


def _seed(random_state):
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return int(random_state)


def _fold_seed(random_state, fold):
    """One seed per fold, so that the subsets of different folds are drawn independently."""
    seed = _seed(random_state)
    return None if seed is None else seed * 1009 + fold


def train_sizes_table(runs, scoring):
    """The tidy table of the data-efficiency run.

    ``runs`` is a list of ``(fraction, splits, records)``; one row per model
    and fraction: ``model``, ``train_size`` (the fraction), ``n_train`` (mean
    training images per fold), for each metric ``<metric>_mean`` and
    ``<metric>_std``, ``fit_time`` (mean seconds per fold), ``status``.
    """
    import pandas as pd

    rows = []
    for fraction, splits, records in runs:
        n_train = float(np.mean([len(train) for train, _ in splits]))
        for record in records:
            row = {"model": record["model"], "train_size": fraction, "n_train": n_train}
            for metric in scoring:
                for stat in ("mean", "std"):
                    row[f"{metric}_{stat}"] = record.get(f"{metric}_{stat}", float("nan"))
            row["fit_time"] = record.get("fit_time", float("nan"))
            row["status"] = record.get("status")
            rows.append(row)
    columns = (["model", "train_size", "n_train"]
               + [f"{m}_{s}" for m in scoring for s in ("mean", "std")] + ["fit_time", "status"])
    table = pd.DataFrame.from_records(rows).reindex(columns=columns)
    return table.sort_values(["model", "train_size"], kind="stable",
                             key=lambda col: col.map({m: i for i, m in enumerate(
                                 dict.fromkeys(table["model"]))}) if col.name == "model"
                             else col).reset_index(drop=True)


class Runs:
    """The runs of every model at each training-set size (one run when no sizes are given).

    ``records``, ``scores``, ``errors`` and ``splits`` are those of the run
    at the largest size (the result's main table); ``runs`` lists
    ``(fraction, splits, records)`` for every size.
    """

    def __init__(self, runs, scores, errors):
        self.runs = runs
        self.records = runs[-1][2]
        self.splits = runs[-1][1]
        self.scores = scores
        self.errors = errors

    def seconds(self):
        """Model -> seconds its folds took at every size (fit and predict, no shared input)."""
        used = {}
        for _, _, records in self.runs:
            for record in records:
                total = record.get("total_time")
                if total is None or math.isnan(total):
                    continue
                extract = record.get("extract_time")
                shared = 0.0 if extract is None or math.isnan(extract) else extract
                used[record["model"]] = used.get(record["model"], 0.0) + total - shared
        return used

    def table(self, scoring):
        """:func:`train_sizes_table` of the runs."""
        return train_sizes_table(self.runs, scoring)


def run_train_sizes(specs, inputs, y, splits, scoring, fractions, *, random_state, n_jobs,
                    verbose, log):
    """Every model at every fraction of the training folds, smallest first: :class:`Runs`."""
    from ._run import run_models

    runs = []
    for fraction in fractions:
        cut = subset_splits(splits, y, fraction, random_state)
        if len(fractions) > 1:
            n_train = np.mean([len(train) for train, _ in cut])
            log(f"training-set size {fraction:g} of each training fold ({n_train:.0f} images):")
        records, scores, errors = run_models(specs, inputs, y, cut, scoring, n_jobs=n_jobs,
                                             verbose=verbose, log=log)
        runs.append((fraction, cut, records))
    return Runs(runs, scores, errors)
