"""Batches straight out of tensors: one gather per batch instead of per-row indexing."""

import torch

__all__ = ["TensorBatches", "BatchIterator"]


class TensorBatches(torch.utils.data.Dataset):
    """Images, encoded targets and sample weights held as tensors.

    Parameters
    ----------
    X : Tensor of shape (N, C, H, W)
    y : Tensor of shape (N,) of class indices (long), or (N, K) float, optional
    weight : Tensor of shape (N,), optional
        Per-sample loss weights; ones when omitted.
    """

    def __init__(self, X, y=None, weight=None):
        self.X = X
        self.y = y
        if weight is not None and bool((weight == 1).all()):
            weight = None  # uniform weights: the plain mean loss, no per-batch gather
        self.weight = weight

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):  # per-row access, for generic torch code only
        if self.y is None:
            return self.X[index], None
        weight = None if self.weight is None else self.weight[index]
        return self.X[index], (self.y[index], weight)

    def rows(self, part):
        """The inputs of the rows ``part`` (a slice or an index tensor) as one batch."""
        return self.X[part]

    def take(self, index):
        """A new dataset with the rows in ``index``."""
        index = torch.as_tensor(index, dtype=torch.long)
        return TensorBatches(
            self.X[index],
            None if self.y is None else self.y[index],
            None if self.weight is None else self.weight[index],
        )


class BatchIterator:
    """Yield ``(X_batch, (y_batch, w_batch))`` by slicing tensors.

    Shuffling draws one permutation per epoch from ``generator``, so the
    data order depends only on the estimator's ``random_state``. ``augment``
    (a callable on a ``(B, C, H, W)`` batch) is applied to each batch before it
    moves to the device.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None, device="cpu",
                 augment=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.device = torch.device(device)
        self.augment = augment

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def _to_device(self, tensor):
        if tensor is None or tensor.device == self.device:
            return tensor
        return tensor.to(self.device, non_blocking=True)

    def __iter__(self):
        data, n, size = self.dataset, len(self.dataset), self.batch_size
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, n, size):
            if order is None:
                part = slice(start, start + size)
            else:
                part = order[start:start + size]
            X = data.rows(part)
            if self.augment is not None:
                X = self.augment(X)
            X = self._to_device(X)
            if data.y is None:
                yield X, None
            else:
                weight = None if data.weight is None else self._to_device(data.weight[part])
                yield X, (self._to_device(data.y[part]), weight)
