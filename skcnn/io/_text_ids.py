"""Texts to the token ids a text classifier's network (or its ONNX graph) takes."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["TEXT_INPUT_NAME", "token_ids"]

#: Name of the input of a text classifier's ONNX graph.
TEXT_INPUT_NAME = "token_ids"


def token_ids(estimator, X):
    """The int64 token ids of texts ``X``, as a fitted text classifier's graph takes them.

    Runs the fitted tokenizer of ``estimator`` (lowercasing, token pattern or
    ``tokenizer``, vocabulary, ``max_length``) exactly as ``predict`` does:
    one row per text, ids from ``vocabulary_`` (1 for an unknown token), padded
    with 0 at the end to the longest text and to at least the widest kernel.

    Parameters
    ----------
    estimator : fitted TextCNNClassifier
    X : sequence of str
        Texts, in any form ``predict`` accepts.

    Returns
    -------
    ids : ndarray of shape (N, length), int64
        The input ``token_ids`` of :func:`skcnn.to_onnx`'s graph.

    Examples
    --------
    >>> import onnxruntime as ort                                        # doctest: +SKIP
    >>> from skcnn.io.onnx import token_ids                              # doctest: +SKIP
    >>> session = ort.InferenceSession(skcnn.to_onnx(clf).SerializeToString())  # doctest: +SKIP
    >>> ids = token_ids(clf, ["a fine film", "dull"])                     # doctest: +SKIP
    >>> labels, proba = session.run(None, {"token_ids": ids})            # doctest: +SKIP
    """
    check_is_fitted(estimator)
    ids = np.asarray(estimator._prepare_images(X, reset=False), dtype=np.int64)
    shortest = int(getattr(estimator, "_min_length_", 1))
    if ids.shape[1] < shortest:
        ids = np.pad(ids, ((0, 0), (0, shortest - ids.shape[1])))
    return np.ascontiguousarray(ids)
