"""Checks on class labels that NumPy would otherwise report as a bare ``TypeError``."""

import numpy as np

from ..exceptions import InputError

__all__ = ["check_label_types"]


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
            f"y mixes labels of types that cannot be sorted together: {shown}. Use one type "
            "for every label, e.g. y = np.asarray(y).astype(str), or map the strings to "
            "numbers."
        ) from None
