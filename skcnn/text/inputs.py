"""What TextCNNClassifier accepts as ``X``, checked once: :func:`as_documents`.

* A 1-D sequence of strings (list, tuple, ndarray of ``str``/``object``,
  pandas Series) or a one-column DataFrame of strings: one text per sample,
  tokenised by the estimator.
* A sequence of token lists (``[["a", "film"], ...]``): already tokenised,
  used as given.
* An iterator (a generator) of either: read once.
* A 2-D array or DataFrame with several columns (numbers or strings): one
  sample per row, each cell one token written ``"<column>:<value>"``; float
  cells are rounded to 2 significant digits (``"0:-3.4"``) so that nearby
  values share a token. This makes tabular input usable (scikit-learn's own
  estimator checks feed it) and is announced with a warning for numbers:
  a text CNN is rarely the right model for numeric features.

Refused with an :class:`~skcnn.exceptions.InputError` naming the fix: a 1-D
array of numbers, image arrays (3-D or 4-D), ``None``/NaN among the texts,
texts that are empty or whitespace only.
"""

import numbers
import warnings
from collections.abc import Iterator

import numpy as np
from sklearn.utils.validation import check_array

from ..exceptions import InputError

__all__ = ["as_documents", "NumericTextWarning"]


class NumericTextWarning(UserWarning):
    """Numbers were given to a text model and read as tokens."""


def _is_missing(value):
    if value is None:
        return True
    try:
        return bool(isinstance(value, (float, np.floating)) and np.isnan(value))
    except TypeError:
        return False


def _describe_position(index):
    return f"X[{index}]"


def _check_texts(texts):
    """Texts as a list of str; refuse None/NaN, non-strings and empty texts."""
    out = []
    for i, text in enumerate(texts):
        if _is_missing(text):
            raise InputError(
                f"{_describe_position(i)} is {text!r}: a text is missing. Drop the rows without "
                "text, or fill them (e.g. Series.fillna('')... then remove empty ones) before "
                "fitting; TextCNNClassifier does not guess missing texts.")
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        if isinstance(text, (list, tuple)):
            out.append(_check_tokens(text, i))
            continue
        if not isinstance(text, str):
            raise InputError(
                f"{_describe_position(i)} is a {type(text).__name__} ({text!r}), not a string. "
                "TextCNNClassifier classifies texts: pass a list, array or Series of strings "
                "(one text per sample). For numbers or images use CNNClassifier or a tabular "
                "model.")
        if not text.strip():
            raise InputError(
                f"{_describe_position(i)} is an empty text ({text!r}). Remove empty texts "
                "before fitting or predicting (e.g. X = [t for t in X if t.strip()], with "
                "their labels), or replace them with a placeholder word.")
        out.append(text)
    return out


def _check_tokens(tokens, index):
    tokens = list(tokens)
    if not tokens:
        raise InputError(f"{_describe_position(index)} is an empty token list; remove it or "
                         "give it at least one token.")
    for token in tokens:
        if _is_missing(token) or not isinstance(token, str):
            raise InputError(
                f"{_describe_position(index)} holds the token {token!r}; a pre-tokenised text "
                "must be a list of strings. Remove missing tokens or convert them with str().")
    return tokens


def _cell_token(column, value):
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):.2g}"
        if text == "-0":
            text = "0"
    elif isinstance(value, (bool, np.bool_)):
        text = str(bool(value))
    elif isinstance(value, (numbers.Integral, np.integer)):
        text = str(int(value))
    else:
        text = str(value)
    return f"{column}:{text}"


def _rows_as_tokens(X, estimator):
    """A 2-D table: each row a token list, each cell ``"<column>:<value>"``."""
    array = check_array(X, dtype=None, ensure_all_finite=True, estimator=estimator,
                        input_name="X")
    if array.dtype.kind in "fiub":
        warnings.warn(
            f"X is a {array.shape[0]}x{array.shape[1]} array of numbers; "
            f"{type(estimator).__name__} reads each row as a text whose tokens are "
            "'<column>:<value>' (floats rounded to 2 significant digits). For texts pass a "
            "1-D list, array or Series of strings; for numeric features a tabular model "
            "(or CNNClassifier for images) is the better choice.",
            NumericTextWarning, stacklevel=4)
    return [[_cell_token(j, value) for j, value in enumerate(row)] for row in array]


def as_documents(X, estimator=None):
    """Check ``X`` and return ``(documents, n_columns)``.

    ``documents`` is a list with one entry per sample: a ``str`` to be
    tokenised, or a list of tokens. ``n_columns`` is the number of columns of
    a 2-D table read as token rows, else None.
    """
    if X is None:
        raise InputError("X is None; pass the texts: a list, array or Series of strings.")
    if isinstance(X, str):
        raise InputError(
            "X is a single string; pass a sequence of texts, e.g. [text] for one text.")
    if isinstance(X, Iterator):  # a generator, map(...), iter(...): read once
        X = list(X)
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:  # DataFrame
        if X.shape[1] == 1 and getattr(X.dtypes.iloc[0], "kind", "O") not in "fiucbmM":
            return _check_texts(X.iloc[:, 0].tolist()), None
        return _rows_as_tokens(X, estimator), X.shape[1]
    if hasattr(X, "iloc"):  # Series
        values = X.tolist()
        if getattr(X.dtype, "kind", "O") in "fiucb":
            _refuse_numbers(np.asarray(values))
        return _check_texts(values), None
    if isinstance(X, (list, tuple)) and X and all(
            isinstance(t, (list, tuple)) and all(isinstance(w, str) for w in t) for t in X):
        return [_check_tokens(t, i) for i, t in enumerate(X)], None
    if isinstance(X, (list, tuple)) and not any(
            isinstance(t, (list, tuple, np.ndarray)) for t in X):
        return _check_texts(list(X)), None
    try:
        try:
            array = np.asarray(X)
        except ValueError:  # ragged nested lists
            array = np.asarray(X, dtype=object)
    except (ValueError, TypeError) as exc:
        raise InputError(f"X could not be read as a sequence of texts ({exc}); pass a list, "
                         "array or Series of strings.") from None
    if array.ndim == 0:
        raise InputError(f"X is a single value ({X!r}); pass a sequence of texts.")
    if array.ndim >= 3:
        raise InputError(
            f"X is a {array.ndim}-D array of shape {array.shape}: it looks like images. "
            "TextCNNClassifier classifies texts; use CNNClassifier or FineTunedClassifier "
            "for images, or pass a 1-D list, array or Series of strings.")
    if array.ndim == 2:
        if array.shape[1] == 1 and array.dtype.kind in "OUS":
            return _check_texts(array[:, 0].tolist()), None
        return _rows_as_tokens(X, estimator), array.shape[1]
    if array.dtype.kind in "fiucb":
        _refuse_numbers(array)
    if array.dtype.kind == "S":
        array = array.astype(str)
    return _check_texts(array.tolist()), None


def _refuse_numbers(array):
    raise InputError(
        f"X is a 1-D array of numbers ({array.dtype}, e.g. {array[:3].tolist()}), not texts. "
        "TextCNNClassifier classifies texts: pass a list, array or Series of strings. For "
        "numeric features use a tabular model. (Reshape your data into a 2-D array, "
        "X.reshape(1, -1) for one row, to read the numbers as the tokens of a text per row.)")
