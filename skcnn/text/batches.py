"""Batches of token indices padded to their own longest text."""

import torch

from .._engine import TensorBatches
from .tokenize import PADDING

__all__ = ["PaddedTextBatches"]


class PaddedTextBatches(TensorBatches):
    """Token indices ``(N, L)`` (padded with 0 at the end), labels and weights.

    Each batch is cut to the longest text in it (at least ``min_length``
    columns), not to the longest text of the data set, so a batch of short
    sentences costs what short sentences cost.
    """

    def __init__(self, X, y=None, weight=None, min_length=1):
        super().__init__(X, y, weight)
        self.min_length = min_length
        self.lengths = (X != PADDING).sum(1)

    def rows(self, part):
        lengths = self.lengths[part]
        width = max(int(lengths.max()) if len(lengths) else 1, self.min_length)
        return self.X[part, :width] if width < self.X.shape[1] else self.X[part]

    def take(self, index):
        index = torch.as_tensor(index, dtype=torch.long)
        return PaddedTextBatches(
            self.X[index], None if self.y is None else self.y[index],
            None if self.weight is None else self.weight[index], self.min_length)
