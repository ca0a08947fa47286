"""ImageLoader: file paths (or PIL images) to a uint8 image array, as a pipeline step."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from .._sklearn_compat import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..exceptions import InputError
from .arrays import input_ndim
from .images import array_to_pil, as_rgb, input_kind, open_image
from .transforms import check_array_images

__all__ = ["ImageLoader"]


class ImageLoader(TransformerMixin, BaseEstimator):
    """Load image files into an ``(N, H, W, C)`` ``uint8`` array.

    Arrays of images are accepted too (converted to ``uint8`` and resized),
    so the step also normalises mixed sources. For pipelines that want the
    loading step explicit:
    ``make_pipeline(ImageLoader(size=64), CNNClassifier())``.
    :class:`~skcnn.PretrainedFeatures` accepts paths directly.

    Parameters
    ----------
    size : int or tuple of int, default=None
        Resize every image to ``size`` x ``size`` (or ``(height, width)``).
        ``None`` keeps the sizes, which must then all be equal.
    mode : {'RGB', 'L'}, default='RGB'
        Colour images (3 channels; RGBA is composited on white, palettes
        expanded) or grayscale (returned as ``(N, H, W)``).

    Attributes
    ----------
    n_features_in_ : int
        Values per image, only when fitted on an array.
    """

    _parameter_constraints = {
        "size": [int, tuple, list, None],
        "mode": [StrOptions({"RGB", "L"})],
    }

    def __init__(self, *, size=None, mode="RGB"):
        self.size = size
        self.mode = mode

    def fit(self, X, y=None):
        """Check the parameters; nothing is learned.

        Returns
        -------
        self : ImageLoader
        """
        self._validate_params()
        self._target_size()
        if input_kind(X) == "array":
            if input_ndim(X) == 2:
                validate_data(self, X, reset=True, skip_check_array=True)
            self.n_features_in_ = int(np.prod(check_array_images(X).shape[1:]))
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        self.fitted_ = True
        return self

    def _target_size(self):
        if self.size is None:
            return None
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be a positive int or (height, width); got {self.size!r}.")
        return size

    def transform(self, X):
        """Load and convert each image.

        Parameters
        ----------
        X : list of str or pathlib.Path, or list of PIL images

        Returns
        -------
        images : ndarray of shape (N, H, W, 3) or (N, H, W), uint8
        """
        check_is_fitted(self)
        kind = input_kind(X)
        if kind == "array":
            if input_ndim(X) == 2 and hasattr(self, "n_features_in_"):
                validate_data(self, X, reset=False, skip_check_array=True)
            X = check_array_images(X)
        size = self._target_size()
        arrays = []
        for item in X:
            if kind == "path":
                image = open_image(item)
            elif kind == "array":  # validated arrays are (N, C, H, W)
                image = array_to_pil(item, channels_first=True)
            else:
                image = item
            image = as_rgb(image)  # composites transparency on white
            if self.mode == "L":
                image = image.convert("L")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), resample=3)  # bicubic
            arrays.append(np.asarray(image, dtype=np.uint8))
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise InputError(
                f"The images have {len(shapes)} different sizes (e.g. "
                f"{', '.join('x'.join(map(str, s[:2])) for s in sorted(shapes)[:3])}); pass "
                "size=(height, width) to resize them to one size."
            )
        return np.stack(arrays)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # always uint8 images
        return tags
