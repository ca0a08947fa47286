"""Checks on class labels that NumPy would otherwise report as a bare ``TypeError``, or
silently turn into strings."""

import numbers

import numpy as np

from ..exceptions import InputError

__all__ = ["check_label_types", "check_mixed_label_types"]

_FIX = ("Use one type for every label, e.g. y = np.asarray(y).astype(str), or map the strings "
        "to numbers.")


def check_mixed_label_types(y):
    """Refuse labels that mix strings and numbers, as scikit-learn's ``unique_labels`` does.

    NumPy turns a list such as ``[1, 'a', 2]`` into the strings ``['1', 'a',
    '2']``, so ``1`` would come back from ``predict`` as ``'1'``; this looks
    at the labels as given, before any conversion.

    Parameters
    ----------
    y : array-like of shape (N,)
        The labels as passed to ``fit``. Arrays of a non-object dtype are
        uniform and pass; 2-D targets are left to the callers.

    Raises
    ------
    InputError
        With scikit-learn's phrase "Mix of label input types (string and
        number)", examples of each type and the fix.
    """
    if isinstance(y, (list, tuple)):
        values = y
    elif (isinstance(y, np.ndarray) or hasattr(y, "iloc")) and y.ndim == 1 and getattr(
            y.dtype, "kind", "O") == "O":
        values = y.tolist()  # object arrays, pandas Series of objects
    else:
        return  # uniform dtypes, 2-D targets, other array-likes: left to the callers
    examples = {}
    for value in values:
        if isinstance(value, str):
            examples.setdefault("str", value)
        elif isinstance(value, numbers.Number):
            examples.setdefault(type(value).__name__, value)
    if "str" in examples and len(examples) > 1:
        shown = ", ".join(f"{value!r} ({kind})" for kind, value in sorted(examples.items()))
        raise InputError(
            "Mix of label input types (string and number): y mixes labels of types that "
            f"cannot be sorted together: {shown}. {_FIX}")


def check_label_types(y):
    """Raise an :class:`~skcnn.exceptions.InputError` when labels cannot be sorted together.

    Classifiers sort their labels (``classes_``); a mix such as strings and
    numbers (``['cat', 1]``), or ``None`` among strings, cannot be sorted.

    Parameters
    ----------
    y : ndarray of shape (N,)
    """
    y = np.asarray(y)
    if y.dtype != object:
        return
    try:
        np.unique(y)
    except TypeError:
        examples = {}
        for value in y:
            examples.setdefault(type(value).__name__, value)
        shown = ", ".join(f"{value!r} ({kind})" for kind, value in sorted(examples.items()))
        raise InputError(
            f"y mixes labels of types that cannot be sorted together: {shown}. {_FIX}"
        ) from None
