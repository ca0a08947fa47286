"""The same targets and splits for every model, and the metrics they are scored with."""

import numbers

import numpy as np

__all__ = ["encode_labels", "make_splits", "check_scoring_names"]


def encode_labels(y, n):
    """``(encoder, y as 0..K-1)``: one encoding that every model (XGBoost included) sees."""
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import column_or_1d

    from ..data.labels import check_mixed_label_types

    check_mixed_label_types(y)  # before NumPy turns [1, 'a'] into ['1', 'a']
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) != n:
        raise ValueError(f"X has {n} images but y has {len(y)} labels; give one label per image.")
    try:
        check_classification_targets(y)
    except ValueError as exc:  # continuous targets: compare regressors instead
        raise ValueError(f"{exc} To compare regression models on a continuous y, pass "
                         "task='regression' (skcnn compare --task regression), or leave "
                         "task=None to decide from y.") from exc
    encoder = LabelEncoder().fit(y)
    if len(encoder.classes_) < 2:
        raise ValueError(f"y holds a single class ({encoder.classes_[0]!r}); a comparison needs "
                         "at least two classes.")
    return encoder, encoder.transform(y)


def make_splits(y, *, cv, test_size, random_state, classes=None):
    """``(list of (train, test) index arrays, a sentence describing them)``, computed once.

    ``y`` holds the encoded labels (0..K-1), ``classes`` their names for
    messages. A class of a single image is refused before any split is made
    when the splits are stratified folds or a hold-out set (a fold would
    train without it, and every model fail).
    """
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit, check_cv

    if test_size is not None or isinstance(cv, numbers.Integral):
        _check_class_sizes(y, classes)

    if test_size is not None:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_size,
                                          random_state=random_state)
        text = (f"one stratified hold-out split (test_size={test_size}, "
                f"random_state={random_state})")
    elif isinstance(cv, numbers.Integral):
        splitter = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=random_state)
        text = f"{int(cv)}-fold stratified CV (shuffled, random_state={random_state})"
    else:
        splitter = check_cv(cv, y, classifier=True)
        text = None if not hasattr(cv, "split") else repr(cv)
    splits = [(np.asarray(train), np.asarray(test))
              for train, test in splitter.split(np.zeros((len(y), 1)), y)]
    return splits, text or f"{len(splits)} given split(s)"


def _check_class_sizes(y, classes):
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    single = np.flatnonzero(counts == 1)
    if not single.size:
        return
    names = [(classes[i] if classes is not None else i) for i in single]
    shown = ", ".join(repr(name.item() if isinstance(name, np.generic) else name)
                      for name in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    which = f"class {shown} has" if len(names) == 1 else f"classes {shown}{more} have"
    raise ValueError(
        f"{which} a single image (of {len(y)}): a comparison trains and tests on different "
        "images, so every class needs at least 2 (one in a training fold, one in a test fold). "
        "Add images of that class, or remove it (for a folder dataset: move its subfolder "
        "out).")


def check_scoring_names(scoring):
    """``scoring`` as a dict of metric name -> metric name or scorer.

    The type of ``scoring`` is checked by :func:`~skcnn.compare`'s parameter
    constraints; this checks what they cannot see: the names inside.
    """
    from sklearn.metrics import get_scorer_names

    if isinstance(scoring, str):
        scoring = {scoring: scoring}
    elif callable(scoring):
        scoring = {"score": scoring}
    elif isinstance(scoring, dict):
        if not scoring:
            raise ValueError("scoring is an empty dict; give at least one metric.")
        scoring = {str(k): v for k, v in scoring.items()}
    else:
        names = list(scoring)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"scoring as a list must hold metric names; got {scoring!r}.")
        if len(set(names)) != len(names):
            raise ValueError(f"scoring lists a metric twice: {scoring!r}.")
        scoring = {n: n for n in names}
    valid = set(get_scorer_names())
    for value in scoring.values():
        if isinstance(value, str) and value not in valid:
            raise ValueError(f"Unknown scoring {value!r}. Valid names are those of "
                             "sklearn.metrics.get_scorer_names(), e.g. 'accuracy', "
                             "'balanced_accuracy', 'f1_macro', 'roc_auc_ovr', 'neg_log_loss'.")
    return scoring
