"""Reading pretrained word vectors and turning them into an embedding matrix.

Formats (detected from the file's content, not its name):

* word2vec text: a header line ``"<n_words> <dimension>"``, then one
  ``word v1 v2 ...`` line per word;
* word2vec binary: the same header, then for each word its bytes, a space
  and ``dimension`` little-endian float32 values (optionally followed by a newline);
* GloVe text: ``word v1 v2 ...`` lines without a header.
"""

import os
import re

import numpy as np

from ..exceptions import InputError

__all__ = ["read_word_vectors", "embedding_matrix", "WordVectorsError"]


class WordVectorsError(InputError):
    """A word-vector file is missing, malformed or does not fit the model."""


_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")


def read_word_vectors(path, *, vocabulary=None):
    """Read a word2vec (text or binary) or GloVe (text) file.

    Parameters
    ----------
    path : str or path-like
    vocabulary : container of str, default=None
        Only keep these words (saves memory for large files).

    Returns
    -------
    words : list of str
    vectors : ndarray of shape (len(words), dimension), float32
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WordVectorsError(
            f"Word-vector file {path!r} does not exist. Give the path of a word2vec (.txt or "
            ".bin) or GloVe (.txt) file, a (words, matrix) pair, or embeddings=None to learn "
            "the embeddings from the training texts.")
    with open(path, "rb") as f:
        first = f.readline()
        header = _HEADER.match(first)
        if header is None:
            f.seek(0)
            return _read_text(f, path, None, None, vocabulary, line_offset=0)
        n_words, dim = int(header.group(1)), int(header.group(2))
        if dim < 1:
            raise WordVectorsError(f"{path!r}: the header says dimension {dim}; the file is "
                                   "malformed.")
        start = f.tell()
        sample = f.read(4096)
        f.seek(start)
        if _looks_binary(sample, dim):
            return _read_binary(f, path, n_words, dim, vocabulary)
        return _read_text(f, path, n_words, dim, vocabulary, line_offset=1)


def _looks_binary(sample, dim):
    line = sample.split(b"\n", 1)[0]
    try:
        fields = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return True
    if len(fields) != dim + 1:
        return True
    try:
        [float(v) for v in fields[1:]]
    except ValueError:
        return True
    return False


def _read_text(f, path, n_words, dim, vocabulary, line_offset):
    words, vectors = [], []
    seen = 0
    for number, raw in enumerate(f, start=1 + line_offset):
        line = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r")
        if not line.strip():
            continue
        fields = line.rstrip().split(" ")
        if dim is None:
            dim = len(fields) - 1
            if dim < 1:
                raise WordVectorsError(
                    f"{path!r}, line {number}: {line[:60]!r} has no vector. A word-vector file "
                    "holds 'word v1 v2 ...' lines (GloVe), optionally after a '<n_words> "
                    "<dimension>' header (word2vec).")
        if len(fields) != dim + 1:
            raise WordVectorsError(
                f"{path!r}, line {number}: {len(fields) - 1} values where the file's vectors "
                f"have {dim}; the file is malformed or truncated. Every line must be "
                "'word v1 ... vD' with the same D.")
        seen += 1
        if vocabulary is not None and fields[0] not in vocabulary:
            continue
        try:
            vector = np.asarray(fields[1:], dtype=np.float32)
        except ValueError:
            raise WordVectorsError(
                f"{path!r}, line {number}: the values of {fields[0]!r} are not all numbers; "
                "the file is malformed.") from None
        words.append(fields[0])
        vectors.append(vector)
    if dim is None or seen == 0:
        raise WordVectorsError(f"{path!r} holds no word vectors; give a word2vec or GloVe file.")
    if n_words is not None and seen != n_words:
        raise WordVectorsError(
            f"{path!r}: the header announces {n_words} words but the file holds {seen}; it is "
            "truncated or malformed.")
    matrix = np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    return words, matrix


def _read_binary(f, path, n_words, dim, vocabulary):
    words, vectors = [], []
    width = 4 * dim
    for k in range(n_words):
        word = bytearray()
        while True:
            ch = f.read(1)
            if not ch:
                raise WordVectorsError(
                    f"{path!r}: the file ends after {k} of the {n_words} words its header "
                    "announces; it is truncated.")
            if ch == b" ":
                break
            if ch != b"\n" or word:
                word += ch
        data = f.read(width)
        if len(data) != width:
            raise WordVectorsError(
                f"{path!r}: the vector of word {k + 1} ({bytes(word)[:40]!r}) is cut short; the "
                f"file is truncated or its vectors do not have the header's dimension {dim}.")
        token = word.decode("utf-8", errors="replace")
        if vocabulary is None or token in vocabulary:
            words.append(token)
            vectors.append(np.frombuffer(data, dtype="<f4").astype(np.float32))
    matrix = np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    return words, matrix


def check_pair(embeddings):
    """Validate a ``(words, matrix)`` pair; returns ``(list of str, float32 matrix)``."""
    try:
        words, matrix = embeddings
    except (TypeError, ValueError):
        raise WordVectorsError(
            "embeddings must be None, a file path, or a (words, matrix) pair; got a "
            f"{type(embeddings).__name__} that is not a pair.") from None
    words = [str(w) for w in words]
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise WordVectorsError(
            f"embeddings=(words, matrix) needs one matrix row per word: got {len(words)} words "
            f"and a matrix of shape {matrix.shape}.")
    if not np.isfinite(matrix).all():
        raise WordVectorsError("the embedding matrix holds NaN or infinite values.")
    return words, matrix


def embedding_matrix(index_to_token, words, vectors, lowercase, seed):
    """Rows for every vocabulary index, and how many tokens the vectors covered.

    Covered words get their vectors (looked up as they are, then lowercased when
    ``lowercase``); the others, like Kim (2014), ``U[-a, a]`` with ``a`` chosen
    so that they have the variance of the given vectors. Row 0 (padding) is zero.
    """
    dim = vectors.shape[1]
    lookup = {}
    for i, word in enumerate(words):
        lookup.setdefault(word, i)
        if lowercase:
            lookup.setdefault(word.lower(), i)
    variance = float(vectors.var()) if vectors.size else 0.25 / 3
    bound = np.sqrt(3.0 * variance)
    rng = np.random.RandomState(seed)
    matrix = rng.uniform(-bound, bound, size=(len(index_to_token), dim)).astype(np.float32)
    matrix[0] = 0.0
    covered = np.zeros(len(index_to_token), dtype=bool)
    for index, token in enumerate(index_to_token[2:], start=2):
        row = lookup.get(token)
        if row is not None:
            matrix[index] = vectors[row]
            covered[index] = True
    return matrix, covered
