"""What the models are fitted on, each input prepared once for all images: :class:`Inputs`.

Pretrained features are extracted once per data set, up front, for all
images, and every feature-based model reuses them in every fold. That leaks
nothing from the test folds: the backbone is frozen and runs in inference
mode, so an image's features depend on that image alone (no statistics are
gathered across images, no labels are seen). What the heads learn (scaling,
the classifier) is fitted on each training fold only.
"""

import time
import warnings

import numpy as np

__all__ = ["Inputs", "SMALL_SIZE", "n_samples", "image_side"]

#: Largest side of the images the CNN from scratch and the pixel models see;
#: larger images (and image files) are resized to it once, up front.
SMALL_SIZE = 32

#: What failed, in a model's status, when its input could not be prepared.
_PREPARING = {"features": "feature extraction", "small": "loading the images",
              "pixels": "loading the images"}


def n_samples(X):
    """Number of images in ``X`` (an array or a list)."""
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def image_side(X):
    """Smaller side of array images, or None (files, PIL images, unreadable)."""
    from ..data.images import input_kind
    from ..data.transforms import check_array_images

    try:
        if input_kind(X) != "array":
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(min(check_array_images(X).shape[-2:]))
    except Exception:
        return None


def preparing(kind):
    """What preparing the input ``kind`` is called in a failed model's status."""
    return _PREPARING.get(kind, "preparing the input")


class Inputs:
    """The inputs the models need, each prepared once (lazily) for all images.

    ``get(kind)`` returns ``(input, seconds to prepare it or None)``. After a
    feature extraction, ``features_info`` describes it; after images were
    loaded small, ``small_info`` says at which size and whether resized.
    """

    def __init__(self, X, *, backbone, feature_size, device, verbose, cache, log):
        self.X = X
        self.backbone = backbone
        self.feature_size = feature_size
        self.device = device
        self.verbose = verbose
        self.cache = cache
        self.log = log
        self.prepared = {"raw": (X, None)}
        self.errors = {}
        self.features_info = None
        self.features_params = None  # PretrainedFeatures' parameters, to rebuild a saved model
        self.small_info = None

    def get(self, kind):
        """``(input, seconds to prepare it or None)``; raises what preparing raised."""
        if kind in self.errors:
            raise self.errors[kind]
        if kind not in self.prepared:
            try:
                self.prepared[kind] = getattr(self, "_" + kind)()
            except Exception as exc:
                self.errors[kind] = exc
                raise
        return self.prepared[kind]

    def _small(self):
        from ..data.images import input_kind
        from ..data.loader import ImageLoader
        from ..data.transforms import check_array_images

        start = time.perf_counter()
        if input_kind(self.X) == "array":
            images = check_array_images(self.X)
            if max(images.shape[-2:]) <= SMALL_SIZE:
                self.small_info = {"size": tuple(images.shape[-2:]), "resized": False,
                                   "mode": "L" if images.shape[1] == 1 else "RGB"}
                return self.X, None  # X as given: nothing was prepared
            mode = "L" if images.shape[1] == 1 else "RGB"
        else:
            mode = "RGB"
        self.log(f"loading the images at {SMALL_SIZE}x{SMALL_SIZE} for the CNN from scratch "
                 "and the pixel models ...", end=" ")
        small = ImageLoader(size=SMALL_SIZE, mode=mode).fit_transform(self.X)
        seconds = time.perf_counter() - start
        self.log(f"{seconds:.1f} s")
        self.small_info = {"size": (SMALL_SIZE, SMALL_SIZE), "resized": True, "mode": mode}
        return small, seconds

    def _pixels(self):
        from ..data.transforms import check_array_images

        small, seconds = self.get("small")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # out-of-range warnings were given for "small"
            images = check_array_images(small)
        # float32 in [0, 1] (uint8 images are scaled by check_array_images); flattening
        # is not timed: it is no more than a copy.
        pixels = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)
        return pixels, seconds

    def _features(self):
        from ..pretrained.features import PretrainedFeatures

        n = n_samples(self.X)
        size = f"{self.feature_size}x{self.feature_size}" if self.feature_size else "its own size"
        self.log(f"pretrained features ({self.backbone} at {size}): extracting once for all "
                 f"{n} images ...")
        start = time.perf_counter()
        params = self._extractor_params()
        self.features_params = dict(params)
        extractor = PretrainedFeatures(**params).fit(self.X)
        features = extractor.transform(self.X)
        seconds = time.perf_counter() - start
        self.features_info = self._describe(extractor, features, seconds,
                                            cached="cache" in params)
        self.log(f"pretrained features: {features.shape[1]} per image, {seconds:.1f} s "
                 f"({self.features_info['images_per_s']:.0f} images/s, {extractor.device_})")
        return features, seconds

    def _extractor_params(self):
        from ..pretrained.features import PretrainedFeatures

        params = dict(backbone=self.backbone, input_size=self.feature_size,
                      batch_size=256 if (self.feature_size or 224) <= 64 else "auto",
                      device=str(self.device), verbose=int(self.verbose > 0))
        if self.cache is not None:
            if "cache" in PretrainedFeatures().get_params():
                params["cache"] = self.cache
            else:
                # stacklevel: the caller of compare(), above _features, get, _run_model,
                # run_models, compare and its validate_params wrapper
                warnings.warn("cache= was given but this version of PretrainedFeatures has no "
                              "feature cache; the features are extracted without one.",
                              UserWarning, stacklevel=8)
        return params

    def _describe(self, extractor, features, seconds, cached):
        """The one feature extraction, as reported in the result's notes."""
        n = len(features)
        backbone = getattr(extractor.backbone_, "name", None) or str(self.backbone)
        return {
            "backbone": str(backbone) if isinstance(self.backbone, str) else backbone,
            "input_size": "x".join(map(str, extractor.preprocess_.input_size)),
            "n_images": n,
            "n_features": int(features.shape[1]),
            "seconds": seconds,
            "images_per_s": n / seconds if seconds > 0 else float("nan"),
            "device": extractor.device_,
            "backbone_parameters": int(sum(p.numel() for p in extractor.model_.parameters())),
            "cached": cached,
        }
