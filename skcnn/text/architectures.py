"""Text networks, as plugins of the entry-point group ``skcnn.text_architectures``.

A text architecture builds a module that maps a ``LongTensor`` of token
indices ``(N, L)`` (index 0 pads the end of shorter texts) to logits
``(N, n_outputs)``, and exposes ``features(ids)``: the sentence features
before the classifier (what :meth:`TextCNNClassifier.transform` returns).
Outputs never depend on how much padding a batch adds: positions past a
text's end (or past the widest kernel for shorter texts) are masked before
pooling.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..exceptions import InputError
from ..plugins import ArchitecturePlugin

__all__ = ["TextMeta", "TextArchitecturePlugin", "KimCNN", "CharCNN", "KimCNNModule",
           "CharCNNModule"]


@dataclass(frozen=True, eq=False)
class TextMeta:
    """What a text architecture needs to know to build a network.

    Attributes
    ----------
    vocabulary_size : int
        Rows of the embedding (padding, unknown and the vocabulary).
    embedding_dim : int
    n_outputs : int
        Number of classes.
    padding_index : int
        Token index that pads texts (its embedding is zero).
    embedding_matrix : ndarray of shape (vocabulary_size, embedding_dim) or None
        Initial embedding rows (pretrained word vectors), or None for random ones.
    freeze_embeddings : bool
        Keep the embedding fixed during training.
    multichannel : bool
        Kim's two channels: a frozen copy of the initial embedding beside the trained one.
    """

    vocabulary_size: int
    embedding_dim: int
    n_outputs: int
    padding_index: int = 0
    embedding_matrix: np.ndarray = None
    freeze_embeddings: bool = False
    multichannel: bool = False


class TextArchitecturePlugin(ArchitecturePlugin):
    """Base class of text networks for :class:`skcnn.TextCNNClassifier`.

    Subclasses store their hyperparameters in ``__init__`` and implement
    :meth:`build` (returning a module with ``forward(ids)`` and
    ``features(ids)``); :meth:`min_length` is the shortest text (in tokens)
    the network is designed for.
    """

    def build(self, meta):
        """Return a new module for ``meta`` (a :class:`TextMeta`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build(meta)")

    def min_length(self):
        """Texts are padded to at least this many tokens (default 1)."""
        return 1

    def feature_names(self, n_features):
        """Names of the ``features`` outputs (default ``feature0`` ...)."""
        return [f"feature{i}" for i in range(n_features)]


class _Embeddings(nn.Module):
    """The embedding, optionally frozen, and Kim's optional static second channel."""

    def __init__(self, meta):
        super().__init__()
        self.embedding = nn.Embedding(meta.vocabulary_size, meta.embedding_dim,
                                      padding_idx=meta.padding_index)
        if meta.embedding_matrix is None:
            # Kim's (2014) random vectors, U[-0.25, 0.25], rather than torch's N(0, 1):
            # sentences then start with features of a sensible scale.
            with torch.no_grad():
                self.embedding.weight.uniform_(-0.25, 0.25)
                self.embedding.weight[meta.padding_index] = 0.0
        else:
            with torch.no_grad():
                self.embedding.weight.copy_(torch.as_tensor(meta.embedding_matrix))
                self.embedding.weight[meta.padding_index] = 0.0
        self.embedding.weight.requires_grad_(not meta.freeze_embeddings)
        self.static = None
        if meta.multichannel:
            self.static = nn.Embedding.from_pretrained(self.embedding.weight.detach().clone(),
                                                       freeze=True,
                                                       padding_idx=meta.padding_index)

    def forward(self, ids):
        """``(N, D, L)`` channel-first embeddings, and the static channel or None."""
        dynamic = self.embedding(ids).transpose(1, 2)
        static = None if self.static is None else self.static(ids).transpose(1, 2)
        return dynamic, static


def _pad_to(ids, length, padding_index):
    if ids.shape[1] >= length:
        return ids
    return F.pad(ids, (0, length - ids.shape[1]), value=padding_index)


class KimCNNModule(nn.Module):
    """Kim (2014): embedding, parallel 1-D convolutions, ReLU, max over time,
    dropout, linear layer (softmax in the loss)."""

    def __init__(self, meta, kernel_sizes=(3, 4, 5), n_filters=100, dropout=0.5):
        super().__init__()
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.padding_index = meta.padding_index
        self.embeddings = _Embeddings(meta)
        self.convs = nn.ModuleList(nn.Conv1d(meta.embedding_dim, n_filters, k)
                                   for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(n_filters * len(self.kernel_sizes), meta.n_outputs)

    def features(self, ids):
        """Max-pooled feature of every filter: ``(N, n_filters * len(kernel_sizes))``."""
        widest = max(self.kernel_sizes)
        lengths = (ids != self.padding_index).sum(1).clamp(min=widest)
        ids = _pad_to(ids, widest, self.padding_index)
        dynamic, static = self.embeddings(ids)
        positions = torch.arange(ids.shape[1], device=ids.device)
        pooled = []
        for conv, k in zip(self.convs, self.kernel_sizes):
            out = conv(dynamic)
            if static is not None:  # the same filter over the static channel (Kim's 2 channels)
                out = out + F.conv1d(static, conv.weight)
            out = torch.relu(out)
            # Windows that reach past the text's end (or its padding to the widest
            # kernel) are set to 0, which never exceeds a ReLU output: the maximum
            # does not depend on the batch's padding.
            valid = positions[:out.shape[2]][None, :] <= (lengths - k)[:, None]
            pooled.append(out.masked_fill(~valid[:, None, :], 0.0).amax(dim=2))
        return torch.cat(pooled, dim=1)

    def forward(self, ids):
        return self.classifier(self.dropout(self.features(ids)))


class KimCNN(TextArchitecturePlugin):
    """Kim's (2014) sentence CNN (entry point ``'kim'``, the word-level default).

    Parameters
    ----------
    kernel_sizes : tuple of int, default=(3, 4, 5)
        Widths (in tokens) of the parallel convolutions.
    n_filters : int, default=100
        Filters of each width.
    dropout : float, default=0.5
        Dropout on the pooled features.
    """

    def __init__(self, kernel_sizes=(3, 4, 5), n_filters=100, dropout=0.5):
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters
        self.dropout = dropout

    def _sizes(self):
        sizes = (self.kernel_sizes,) if isinstance(self.kernel_sizes, Integral) \
            else tuple(self.kernel_sizes)
        if not sizes or any(not isinstance(k, Integral) or k < 1 for k in sizes):
            raise InputError(f"kernel_sizes must be positive ints, e.g. (3, 4, 5); got "
                             f"{self.kernel_sizes!r}.")
        return tuple(int(k) for k in sizes)

    def build(self, meta):
        return KimCNNModule(meta, self._sizes(), int(self.n_filters), float(self.dropout))

    def min_length(self):
        return max(self._sizes())

    def feature_names(self, n_features):
        return [f"width{k}_filter{j}" for k in self._sizes() for j in range(int(self.n_filters))]


class CharCNNModule(nn.Module):
    """A small character CNN after Zhang et al. (2015): six convolutions (widths
    7, 7, 3, 3, 3, 3; 'same' padding), max pooling by 3 after the 1st, 2nd and
    6th (global max over time at the end), dropout and a linear layer."""

    WIDTHS = (7, 7, 3, 3, 3, 3)
    POOL_AFTER = (0, 1)

    def __init__(self, meta, n_filters=256, dropout=0.5):
        super().__init__()
        self.padding_index = meta.padding_index
        self.embeddings = _Embeddings(meta)
        channels = [meta.embedding_dim] + [n_filters] * len(self.WIDTHS)
        self.convs = nn.ModuleList(nn.Conv1d(channels[i], channels[i + 1], k, padding=k // 2)
                                   for i, k in enumerate(self.WIDTHS))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(n_filters, meta.n_outputs)

    def features(self, ids):
        """Global max over time of the last convolution: ``(N, n_filters)``."""
        lengths = (ids != self.padding_index).sum(1).clamp(min=1)
        x, static = self.embeddings(ids)
        if static is not None:
            x = x + static
        for i, conv in enumerate(self.convs):
            x = torch.relu(conv(x))
            positions = torch.arange(x.shape[2], device=x.device)
            # Zero past each text's end, so padding never reaches its features.
            x = x * (positions[None, :] < lengths[:, None])[:, None, :]
            if i in self.POOL_AFTER:
                x = F.max_pool1d(x, 3, ceil_mode=True)
                lengths = torch.div(lengths + 2, 3, rounding_mode="floor")
        return x.amax(dim=2)

    def forward(self, ids):
        return self.classifier(self.dropout(self.features(ids)))


class CharCNN(TextArchitecturePlugin):
    """Character-level CNN (Zhang et al. 2015, reduced; entry point ``'char_cnn'``,
    the default for ``level='char'``).

    Parameters
    ----------
    n_filters : int, default=256
        Filters of every convolution.
    dropout : float, default=0.5
    """

    def __init__(self, n_filters=256, dropout=0.5):
        self.n_filters = n_filters
        self.dropout = dropout

    def build(self, meta):
        return CharCNNModule(meta, int(self.n_filters), float(self.dropout))

    def feature_names(self, n_features):
        return [f"char_filter{j}" for j in range(n_features)]
