"""Views that cover the whole of an elongated image (``views`` of the fine-tuning estimators).

The standard preprocessing of an ImageNet network resizes the shorter side and crops the
center: of a 4:3 photo it keeps two thirds of the width, and an object off the center is
cut. With ``n`` views the image is resized so that its shorter side fits the input, and
``n`` crops of the whole shorter side are taken along the longer side (left/top, center,
right/bottom for 3): together they cover all of it. The linear probe is fitted on the
mean of the views' pooled features and predictions average the network's outputs
(logits) over the views, which for a linear head is the same thing, so ``a = 0`` of the
interpolation stays the probe. Training batches are random crops of the center view.

``views='auto'`` takes 3 for classification when the typical training image is
elongated (the median aspect ratio of up to 100 images, read from their headers, is at
least :data:`ELONGATED`) and 1 otherwise (square images, small arrays, regression, where
a crop may change the target).
"""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._engine import _ACTIVATIONS, averaged_outputs
from .._progress import tqdm
from ..data.inputs import image_input
from ..data.transforms import ImageItems, PilPreprocess, prepare_tensor
from ._finetune_net import header_shape
from ._inference import resolve_batch_size
from ._lpft import is_small_image, trunk_features

__all__ = ["ELONGATED", "AUTO_VIEWS", "MAX_VIEWS", "view_positions", "median_aspect_ratio",
           "MultiView"]

#: Median aspect ratio (longer / shorter side) from which 'auto' takes several views:
#: the center crop of the whole shorter side then misses a sixth of the longer side.
ELONGATED = 1.2
#: What 'auto' takes for elongated images.
AUTO_VIEWS = 3
#: The most views ``views`` may ask for (each costs a forward pass per prediction).
MAX_VIEWS = 16
#: Images whose headers 'auto' reads at most (evenly spaced through the training set).
_SAMPLED = 100
#: Images prepared at a time for one view (bounds the memory of the extra views).
_CHUNK = 256


def view_positions(n_views):
    """Crop positions along the longer side (0 = left/top end, 1 = right/bottom end)
    of ``n_views`` views; ``[None]`` for one: the backbone's own center crop."""
    return [None] if n_views == 1 else [float(p) for p in np.linspace(0.0, 1.0, n_views)]


def _aspect(width, height):
    return max(width, height) / max(min(width, height), 1)


def median_aspect_ratio(items, kind):
    """Median longer/shorter side of up to 100 of the images (file headers only); None
    when none can be read (reading the images gives the clear error)."""
    if kind == "array":
        return _aspect(items.shape[-1], items.shape[-2])
    sampled = np.unique(np.linspace(0, len(items) - 1, min(len(items), _SAMPLED)).astype(int))
    shapes = [shape for shape in (header_shape(items[i]) for i in sampled) if shape is not None]
    return float(np.median([_aspect(w, h) for _, h, w in shapes])) if shapes else None


def _take(items, indices):
    if isinstance(items, np.ndarray):
        return items[indices]
    return [items[i] for i in indices]


class MultiView:
    """``views`` for :class:`~skcnn.pretrained.finetune.FineTuningMixin`: the choice, the
    views' images, the probe's mean features and the averaged predictions."""

    def _resolve_views(self, items, kind, source_shape):
        if self.views != "auto":
            return int(self.views)
        if self._task() == "regression" or is_small_image(source_shape):
            return 1
        ratio = median_aspect_ratio(items, kind)
        return AUTO_VIEWS if ratio is not None and ratio >= ELONGATED else 1

    def _n_views(self):
        return getattr(self, "views_", 1)  # (1 for models saved before views existed)

    def _view_transform(self, position):
        """The preprocessing of the view at ``position`` (None: the center crop)."""
        if position is None:
            return PilPreprocess.from_config(self.preprocess_)
        return PilPreprocess.view_of(self.preprocess_, position)

    def _training_position(self):
        """Where the images the network trains on sit: the center view (None: the
        backbone's own center crop, with one view)."""
        return None if self._n_views() == 1 else 0.5

    def _training_transform(self):
        return self._view_transform(self._training_position())

    def _view_images(self, items, kind, position, indices=None):
        """The view at ``position`` of the images (of ``indices``), as tensors of up to
        256 images."""
        indices = np.arange(len(items)) if indices is None else np.asarray(indices)
        transform = self._view_transform(position)
        for start in range(0, len(indices), _CHUNK):
            chunk = _take(items, indices[start:start + _CHUNK])
            yield prepare_tensor(ImageItems(chunk, kind, transform), self.num_workers)

    def _other_positions(self):
        """Positions of the views that are not the training images' (already prepared)."""
        return [p for p in view_positions(self._n_views()) if p != self._training_position()]

    def _reuses_training_images(self):
        """Whether the training images are one of the views (not with an even number)."""
        return self._training_position() in view_positions(self._n_views())

    def _mean_view_features(self, net, X, images, device):
        """Pooled backbone features of every image, averaged over the views (``images``
        holds the center view, already prepared); a progress bar unless ``verbose=0``."""
        if self._n_views() == 1:
            return self._trunk_features(net, images, device)
        items, kind = image_input(self, X, reset=False)
        batch = resolve_batch_size("auto", torch.device(device))
        with tqdm(total=len(images) * self._n_views(), unit="img", leave=False,
                  desc=f"{type(self).__name__} features ({self._n_views()} views)",
                  disable=not self.verbose) as bar:
            views = []
            if self._reuses_training_images():
                views.append(trunk_features(net.module_, images, batch, device,
                                            progress=bar.update))
            for position in self._other_positions():
                views.append(torch.cat([
                    trunk_features(net.module_, part, batch, device, progress=bar.update)
                    for part in self._view_images(items, kind, position)]))
        return torch.stack(views).mean(0)

    def _validation_views(self, X, images, valid_idx):
        """The views of the validation images, as a list of tensors."""
        views = [images[valid_idx]] if self._reuses_training_images() else []
        if self._other_positions():
            items, kind = image_input(self, X, reset=False)
            views += [torch.cat(list(self._view_images(items, kind, position, valid_idx)))
                      for position in self._other_positions()]
        return views

    def _network_outputs(self, X, activation):
        """The network's outputs for ``X`` after ``activation``; with several views the
        mean of the views' logits (and of their ``tta`` views), then ``activation``."""
        if self._n_views() == 1:
            return super()._network_outputs(X, activation)
        check_is_fitted(self)
        items, kind = image_input(self, X, reset=False)
        net, total = self._inference_net(), 0.0
        for position in view_positions(self._n_views()):
            parts = []
            for images in self._view_images(items, kind, position):
                augment = self._tta_augmentation(images) if self.tta else None
                parts.append(averaged_outputs(net, images, augment, self.tta, self._seed,
                                              activation=None))
            total = total + np.concatenate(parts)
        mean = torch.from_numpy(total / self._n_views())
        return _ACTIVATIONS[activation](mean).numpy()
