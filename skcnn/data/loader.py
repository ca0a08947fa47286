"""ImageLoader: file paths (or PIL images) to a uint8 image array, as a pipeline step."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._sklearn_compat import StrOptions, _get_output_config
from ..exceptions import InputError
from .images import array_to_pil, as_rgb, open_image, read_once, readable_image
from .inputs import image_input

__all__ = ["ImageLoader"]


class ImageLoader(TransformerMixin, BaseEstimator):
    """Load image files into an ``(N, H, W, C)`` ``uint8`` array.

    Arrays of images are accepted too (converted to ``uint8`` and resized),
    so the step also normalises mixed sources. For pipelines that want the
    loading step explicit:
    ``make_pipeline(ImageLoader(size=64), CNNClassifier())``.
    :class:`~skcnn.PretrainedFeatures` accepts paths directly.

    Files are read as they mean it (EXIF orientation applied, 16-bit and
    float images scaled to 0-255, see :mod:`skcnn.data.images`); paths may
    come in any container (list, Series, one-column DataFrame, generator).

    With ``set_output(transform="pandas")`` (or ``"polars"``) the images are
    returned flattened, one row per image, with the columns of
    :meth:`get_feature_names_out`.

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
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame of flat rows.
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
        items, kind = image_input(self, X, reset=True)
        # The output's height and width when every image has the input's (no size, arrays).
        self._array_size = tuple(items.shape[2:]) if kind == "array" else None
        self.fitted_ = True
        return self

    def _target_size(self):
        if self.size is None:
            return None
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be a positive int or (height, width); got {self.size!r}.")
        return size

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then transform ``X``; an iterator (a generator) is read once, at the start.

        Parameters
        ----------
        X, y
            As in :meth:`fit`.
        **fit_params
            Passed to :meth:`fit`.

        Returns
        -------
        images : ndarray
            As :meth:`transform` returns them.
        """
        return super().fit_transform(read_once(X), y, **fit_params)

    def transform(self, X):
        """Load and convert each image.

        Parameters
        ----------
        X : file paths, PIL images or an array of images
            Paths in a list, tuple, 1-D array, Series, one-column DataFrame
            or any iterable.

        Returns
        -------
        images : ndarray of shape (N, H, W, 3) or (N, H, W), uint8
            Or a DataFrame of flattened images, see :meth:`set_output`.
        """
        check_is_fitted(self)
        items, kind = image_input(self, X, reset=False)
        size = self._target_size()
        arrays = []
        for index, item in enumerate(items):
            if kind == "path":
                image = open_image(item)
            elif kind == "array":  # validated arrays are (N, C, H, W)
                image = array_to_pil(item, channels_first=True)
            else:
                image = readable_image(item, name=f"image {index}")
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
        images = np.stack(arrays)
        if _get_output_config("transform", self)["dense"] != "default":
            images = images.reshape(len(images), -1)  # tables hold one row per image
        return images

    def get_feature_names_out(self, input_features=None):
        """Names of the values of a flattened output image, row by row.

        ``pixel_<row>_<column>`` in mode 'L', ``pixel_<row>_<column>_<R|G|B>``
        in mode 'RGB'.

        Parameters
        ----------
        input_features : ignored
            The output's pixels do not correspond to input columns.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        check_is_fitted(self)
        size = self._target_size() or self.__dict__.get("_array_size")
        if size is None:
            raise InputError(
                "ImageLoader(size=None) fitted on files or PIL images has no fixed output size, "
                "so its output columns have no names; pass size=(height, width)."
            )
        rows, cols = np.meshgrid(np.arange(size[0]), np.arange(size[1]), indexing="ij")
        names = [f"pixel_{r}_{c}" for r, c in zip(rows.ravel(), cols.ravel())]
        if self.mode == "RGB":
            names = [f"{name}_{band}" for name in names for band in "RGB"]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # always uint8 images
        return tags
