"""Tokenisation and the vocabulary learnt in ``fit``: :class:`TextEncoder`."""

import re
from collections import Counter

import numpy as np
import torch

from ..exceptions import InputError

__all__ = ["TextEncoder", "DEFAULT_TOKEN_PATTERN", "PADDING", "UNKNOWN"]

#: Words (with inner apostrophes: "don't", "film's") and single punctuation marks.
DEFAULT_TOKEN_PATTERN = r"(?u)\w+(?:'\w+)*|[^\w\s]"

#: Index of the padding token (its embedding stays zero) and of unknown tokens.
PADDING, UNKNOWN = 0, 1


class TextEncoder:
    """Turn texts into rows of token indices, with a vocabulary learnt by :meth:`fit`.

    Index 0 pads, index 1 stands for every token outside the vocabulary;
    the vocabulary's tokens follow from index 2, most frequent first (ties
    in alphabetical order), so the encoding depends on the training texts
    only.

    Parameters
    ----------
    level : {'word', 'char'}
    lowercase : bool
    token_pattern : str
        Regular expression whose matches are the word tokens.
    tokenizer : callable or None
        ``tokenizer(text) -> list of str``; replaces ``token_pattern``.
    min_df : int
        Tokens in fewer training texts are unknown.
    max_vocabulary : int or None
        Keep only the most frequent tokens (by the number of texts they occur in).
    max_length : int or None
        Keep only the first ``max_length`` tokens of each text.
    """

    def __init__(self, level="word", lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN,
                 tokenizer=None, min_df=1, max_vocabulary=None, max_length=None):
        self.level = level
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.tokenizer = tokenizer
        self.min_df = min_df
        self.max_vocabulary = max_vocabulary
        self.max_length = max_length

    def tokens(self, document):
        """The tokens of one document (a str, or a list of tokens used as given)."""
        if isinstance(document, list):
            return document
        if self.lowercase:
            document = document.lower()
        if self.level == "char":
            return list(document)
        if self.tokenizer is not None:
            return self._tokenize(document)
        return self._pattern().findall(document)

    def _tokenize(self, document):
        """``tokenizer(document)`` as a list of str, or a clear error for another return type."""
        fix = ("A tokenizer returns the list of its tokens, e.g. tokenizer=str.split or "
               "tokenizer=lambda text: re.findall(r'\\w+', text).")
        result = self.tokenizer(document)
        if isinstance(result, (str, bytes)):
            raise InputError(
                f"tokenizer returned a {type(result).__name__} ({result[:40]!r}) for the text "
                f"{document[:40]!r}, not a list of tokens; it would be read character by "
                f"character. {fix}")
        try:
            tokens = list(result)
        except TypeError:
            raise InputError(
                f"tokenizer returned {type(result).__name__} for the text {document[:40]!r}, "
                f"not a list of tokens. {fix}") from None
        bad = [token for token in tokens if not isinstance(token, str)]
        if bad:
            raise InputError(
                f"tokenizer returned a token of type {type(bad[0]).__name__} ({bad[0]!r}) for the text "
                f"{document[:40]!r}; tokens must be str. {fix}")
        return tokens

    def _pattern(self):
        pattern = getattr(self, "_compiled", None)
        if pattern is None or pattern.pattern != self.token_pattern:
            pattern = self._compiled = re.compile(self.token_pattern)
        return pattern

    def fit(self, documents):
        """Learn the vocabulary of ``documents``; returns self."""
        counts = Counter()
        n_tokens = 0
        for document in documents:
            tokens = self.tokens(document)
            n_tokens += len(tokens)
            counts.update(set(tokens))
        if n_tokens == 0:
            raise InputError(
                "Tokenisation found no token in any training text. "
                + self._tokenisation_hint())
        kept = [(token, n) for token, n in counts.items() if n >= self.min_df]
        if not kept:
            raise InputError(
                f"The vocabulary is empty: no token occurs in min_df={self.min_df} or more of "
                f"the {len(documents)} training texts ({len(counts)} distinct tokens, the most "
                f"frequent in {max(counts.values())}). Lower min_df or add training texts.")
        kept.sort(key=lambda item: (-item[1], item[0]))
        if self.max_vocabulary is not None:
            kept = kept[:self.max_vocabulary]
        self.vocabulary_ = {token: i for i, (token, _) in enumerate(kept, start=2)}
        return self

    def _tokenisation_hint(self):
        if self.tokenizer is not None:
            return "The tokenizer returned no tokens; check that it returns a list of strings."
        return (f"token_pattern={self.token_pattern!r} matches nothing in them; use a pattern "
                "that matches words, or level='char'.")

    @property
    def size(self):
        """Number of embedding rows needed: padding, unknown and the vocabulary."""
        return len(self.vocabulary_) + 2

    def index_to_token(self):
        """List of the tokens by index (``'<pad>'`` and ``'<unk>'`` first)."""
        tokens = ["<pad>", "<unk>"] + [None] * len(self.vocabulary_)
        for token, i in self.vocabulary_.items():
            tokens[i] = token
        return tokens

    def encode(self, documents):
        """``(ids, stats)``: a LongTensor ``(N, L)`` padded with 0 at the end to the
        longest row, and counts of tokens, unknown tokens and truncated texts."""
        rows, n_tokens, n_unknown, n_truncated, empty = [], 0, 0, 0, []
        vocabulary = self.vocabulary_
        for i, document in enumerate(documents):
            ids = [vocabulary.get(token, UNKNOWN) for token in self.tokens(document)]
            if not ids:
                empty.append(i)
            if self.max_length is not None and len(ids) > self.max_length:
                ids = ids[:self.max_length]
                n_truncated += 1
            n_tokens += len(ids)
            n_unknown += ids.count(UNKNOWN)
            rows.append(ids)
        if empty:
            raise InputError(
                f"{len(empty)} text(s) have no token (the first is X[{empty[0]}]: "
                f"{documents[empty[0]]!r}). {self._tokenisation_hint()} Or remove such texts.")
        width = max((len(r) for r in rows), default=1)
        ids = np.zeros((len(rows), max(width, 1)), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        stats = {"n_tokens": n_tokens, "n_unknown": n_unknown, "n_truncated": n_truncated}
        return torch.from_numpy(ids), stats
