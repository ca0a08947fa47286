"""Running the models on the splits with scikit-learn's ``cross_validate``.

Each model gets the same ``(train, test)`` index pairs. ``cross_validate``
clones, indexes, fits, times and scores every fold (one prediction for all
metrics); run one fold at a time (``n_jobs`` None or 1) so that progress
shows each fold's score as it ends, or all folds at once in parallel
processes. A model that fails (its input, or any fold) is recorded with its
error and the other models still run.
"""

import sys
import time
import traceback

import numpy as np

from ._fitted import count_parameters, device_of, training_of
from ._inputs import preparing

__all__ = ["Logger", "run_models", "run_folds"]


class Logger:
    """Progress messages on stderr, printed only when ``verbose > 0``."""

    def __init__(self, verbose, stream=None):
        self.verbose = verbose
        self.stream = stream

    def __call__(self, message="", end="\n"):
        if self.verbose > 0:
            print(message, end=end, file=self.stream or sys.stderr, flush=True)


def short_error(exc):
    """``'TypeName: first line of the message'``."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_models(specs, inputs, y, splits, scoring, *, n_jobs, verbose, log):
    """Run every model; ``(records, fold scores of the models that ran, tracebacks of failures)``.

    ``records`` holds one dict per model, in order, with the columns of
    :attr:`ComparisonResult.table`.
    """
    records, fold_scores, errors = [], {}, {}
    width = max(len(name) for name in specs)
    for position, (name, spec) in enumerate(specs.items(), 1):
        prefix = f"[{position}/{len(specs)}] {name:{width}s}"
        record, scores, error = _run_model(spec, prefix, inputs, y, splits, scoring,
                                           n_jobs=n_jobs, verbose=verbose, log=log)
        records.append({"model": name, "input": spec.input, **record})
        if scores is not None:
            fold_scores[name] = scores
        if error is not None:
            errors[name] = error
    return records, fold_scores, errors


def _run_model(spec, prefix, inputs, y, splits, scoring, *, n_jobs, verbose, log):
    """``(record, metric -> per-fold scores or None, traceback or None)`` of one model."""
    from sklearn.base import clone

    if spec.skip is not None:
        log(f"{prefix} skipped: {spec.skip}")
        return {"status": f"skipped: {spec.skip}"}, None, None
    try:
        data, prep_seconds = inputs.get(spec.input)
    except Exception as exc:
        status = f"failed: {preparing(spec.input)}: {short_error(exc)}"
        log(f"{prefix} {status}")
        return {"status": status}, None, "".join(traceback.format_exception(exc))
    start = time.perf_counter()
    estimator = spec.estimator
    if verbose >= 2 and "verbose" in getattr(estimator, "get_params", dict)():
        estimator = clone(estimator).set_params(verbose=1)
    log(f"{prefix} folds:", end="")
    try:
        folds = run_folds(estimator, data, y, splits, scoring, n_jobs=n_jobs, log=log)
    except Exception as exc:
        status = f"failed: {short_error(exc)}"
        log(f" -> {status}")
        return {"status": status}, None, "".join(traceback.format_exception(exc))
    scores = {metric: folds[f"test_{metric}"] for metric in scoring}
    record = _summary(folds, scores, splits, prep_seconds, n=len(y))
    first = next(iter(scoring))
    log(f" -> {first} {record[first + '_mean']:.4f} +/- {record[first + '_std']:.4f} "
        f"({time.perf_counter() - start:.1f} s)")
    return record, scores, None


def run_folds(estimator, X, y, splits, scoring, *, n_jobs, log):
    """:func:`~sklearn.model_selection.cross_validate` of ``estimator`` on ``splits``.

    Returns its dict (``fit_time``, ``score_time``, ``test_<metric>``, one
    value per fold) with ``last_estimator``, the model fitted on the last
    fold. Raises the first fold's error (``error_score='raise'``).
    """
    from sklearn.model_selection import cross_validate

    def run(cv, n_jobs=None):
        return cross_validate(estimator, X, y, cv=cv, scoring=scoring, n_jobs=n_jobs,
                              return_estimator=True, error_score="raise")

    if n_jobs not in (None, 1) and len(splits) > 1:
        folds = run(splits, n_jobs=n_jobs)
        folds["last_estimator"] = folds.pop("estimator")[-1]
        return folds
    done = []
    for split in splits:  # one at a time: each fold's score is shown as it ends
        fold = run([split])
        log(" " + " ".join(f"{fold[f'test_{metric}'][0]:.4f}" for metric in scoring), end="")
        done.append(fold)
    folds = {key: np.concatenate([fold[key] for fold in done])
             for key in done[0] if key != "estimator"}
    folds["last_estimator"] = done[-1]["estimator"][0]
    return folds


def _summary(folds, scores, splits, prep_seconds, n):
    """The table's figures for a model that ran: scores, times, throughput, device, params."""
    record = {}
    for metric, values in scores.items():
        record[f"{metric}_mean"] = float(values.mean())
        record[f"{metric}_std"] = float(values.std())
    fit_time = float(np.mean(folds["fit_time"]))
    predict_time = float(np.mean(folds["score_time"]))
    n_test = float(np.mean([len(test) for _, test in splits]))
    # Inference throughput, end to end: a feature model pays for the
    # extraction of each image as well as for its head.
    shared = prep_seconds or 0.0
    seconds_per_image = predict_time / n_test + shared / n
    model = folds["last_estimator"]
    record.update({
        "fit_time": fit_time,
        "predict_time": predict_time,
        "extract_time": float("nan") if prep_seconds is None else prep_seconds,
        "total_time": float(np.sum(folds["fit_time"]) + np.sum(folds["score_time"]) + shared),
        "images_per_s": 1.0 / seconds_per_image if seconds_per_image > 0 else float("nan"),
        "device": device_of(model),
        "n_params": count_parameters(model),
        "trained": training_of(model),
        "status": "ok",
    })
    return record
