"""On-disk cache of pretrained features, one small file per image and extraction setting.

:class:`~skcnn.PretrainedFeatures` with ``cache=...`` looks every image up
here before running the backbone, computes only the images it does not find,
and stores them. A grid search over the parameters of the model downstream
(``svc__C``, ...) therefore runs the backbone over each image once, and a
later process finds the features of an earlier one.

Keys
----
* The **image**: a hash of its content, never of its name. For arrays, the
  bytes, dtype and shape of the validated ``(C, H, W)`` float32 image that
  ``transform`` works on; for PIL images, the mode, size, pixel bytes (and
  palette and transparency); for file paths, the file's bytes, so a file that
  changed under the same name misses.
* The **extraction settings**: backbone class and parameters, weights id
  (:meth:`~skcnn.plugins.BackbonePlugin.weights_id`), layer, pooling,
  preprocessing (:meth:`~skcnn.plugins.PreprocessConfig.to_dict`), compute
  precision and this module's :data:`FORMAT_VERSION`. ``batch_size``,
  ``device``, ``num_workers``, ``channels_last`` and ``verbose`` are not part
  of the key: they change float32 results by rounding at most.

Layout
------
``<cache>/<settings key>/settings.json`` describes the settings (for people,
and to skip the probe pass in ``fit``); ``<cache>/<settings key>/<ab>/<image
key>.f32`` holds one image's features: a header (magic, length), the float32
values and a checksum over the image key, header and values. A file of the
wrong size, with a bad header, another length or a checksum that does not
match is a miss: it is recomputed and overwritten, never returned.

Files are written to a temporary file in the same folder and moved into place
with :func:`os.replace`, so readers never see a partial file and processes
that write the same entry at once (``GridSearchCV(n_jobs=2)``) are safe. The
folder may be deleted at any time to free space.

Nothing outside the cache folder is read or written through it: an entry, a
``settings.json`` or a subfolder that is a symbolic link leading out of the
folder raises :class:`~skcnn.exceptions.FolderBoundaryError` (naming the
entry and the folder) instead of being followed. The cache folder itself may
be a link.
"""

import hashlib
import json
import os
import struct
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from .._files import atomic_write, inside_folder

__all__ = [
    "FORMAT_VERSION",
    "FeatureStore",
    "default_cache_dir",
    "resolve_cache_dir",
    "image_keys",
    "settings_key",
    "images_computed",
    "reset_images_computed",
]

#: Version of the key and file format; bumping it makes every old entry miss.
FORMAT_VERSION = 1

_MAGIC = b"SKCNNF\x00\x01"
_HEADER = struct.Struct("<8sI")  # magic, number of features
_DIGEST_SIZE = 16
_SUFFIX = ".f32"

# --------------------------------------------------------------------------- counter

_counter_lock = threading.Lock()
_images_computed = 0


def images_computed():
    """Images :class:`~skcnn.PretrainedFeatures` has run through a backbone in this process.

    Counts every ``transform`` (with or without a cache) since the process
    started or since :func:`reset_images_computed`; cache hits do not count.
    Worker processes (``n_jobs=2``) keep their own count.
    """
    return _images_computed


def reset_images_computed():
    """Set :func:`images_computed` back to 0 and return the count it had."""
    global _images_computed
    with _counter_lock:
        previous, _images_computed = _images_computed, 0
    return previous


def _count(n):
    global _images_computed
    with _counter_lock:
        _images_computed += int(n)


# --------------------------------------------------------------------------- folders


def default_cache_dir():
    """The folder ``cache=True`` uses.

    ``$SKCNN_CACHE_DIR/features`` when ``SKCNN_CACHE_DIR`` is set; otherwise
    ``skcnn/features`` in the user's cache folder: ``$XDG_CACHE_HOME`` when set,
    else ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows and
    ``~/.cache`` elsewhere.
    """
    root = os.environ.get("SKCNN_CACHE_DIR")
    if root:
        return Path(os.path.expanduser(root)) / "features"
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        if sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA") or os.path.join("~", "AppData", "Local")
        elif sys.platform == "darwin":
            base = os.path.join("~", "Library", "Caches")
        else:
            base = os.path.join("~", ".cache")
    return Path(os.path.expanduser(base)) / "skcnn" / "features"


def resolve_cache_dir(cache):
    """``None``/``False``: no cache; ``True``: :func:`default_cache_dir`; else the folder given."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache_dir()
    if isinstance(cache, (bool, np.bool_)):  # np.False_ / np.True_
        return default_cache_dir() if cache else None
    return Path(os.path.expanduser(os.fspath(cache))).absolute()


# --------------------------------------------------------------------------- keys


def settings_key(settings):
    """Hex key of a JSON-serialisable ``settings`` dict (sorted, canonical)."""
    text = json.dumps(settings, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _canonical(settings):
    """``settings`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(settings, sort_keys=True, default=repr))


def _array_key(image):
    image = np.ascontiguousarray(image)
    digest = hashlib.blake2b(digest_size=_DIGEST_SIZE, person=b"skcnn-array")
    digest.update(f"{image.dtype.str}{image.shape}".encode())
    digest.update(memoryview(image).cast("B"))
    return digest.hexdigest()


def _pil_key(image):
    digest = hashlib.blake2b(digest_size=_DIGEST_SIZE, person=b"skcnn-pil")
    digest.update(f"{image.mode}{image.size}".encode())
    if image.mode in ("P", "PA"):
        digest.update(bytes(image.getpalette() or ()))
    if "transparency" in image.info:
        digest.update(repr(image.info["transparency"]).encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def _file_key(path):
    digest = hashlib.blake2b(digest_size=_DIGEST_SIZE, person=b"skcnn-file")
    try:
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:  # missing, a folder, unreadable: computing it gives the clear error
        return None
    return digest.hexdigest()


def image_keys(items, kind):
    """A hex content key per image (``None`` where the content cannot be read).

    Parameters
    ----------
    items : ndarray of shape (N, C, H, W), list of PIL images or list of paths
        As :class:`~skcnn.PretrainedFeatures` validates them.
    kind : {'array', 'pil', 'path'}
    """
    if kind == "array":
        return [_array_key(image) for image in items]
    if kind == "pil":
        return [_pil_key(image) if isinstance(image, Image.Image) else None for image in items]
    return [_file_key(path) for path in items]


# --------------------------------------------------------------------------- store


class FeatureStore:
    """The cached features of one extraction setting: a folder of one file per image.

    Parameters
    ----------
    root : path-like
        The cache folder (shared by every setting).
    settings : dict
        JSON-serialisable description of the extraction; its hash names the
        setting's subfolder.
    n_features : int
        Length of every feature vector.
    """

    def __init__(self, root, settings, n_features):
        self.root = Path(root)
        self.settings = _canonical(settings)
        self.key = settings_key(self.settings)
        self.folder = self.root / self.key
        self.n_features = int(n_features)
        self._size = _HEADER.size + 4 * self.n_features + _DIGEST_SIZE
        self._warned = False

    # ---------------------------------------------------------------- settings file
    @classmethod
    def stored_n_features(cls, root, settings):
        """``n_features`` recorded for ``settings`` under ``root``, or ``None``.

        The record is only trusted when a stored entry agrees with it: a
        ``settings.json`` whose ``n_features`` differs from its entries' (a
        hand edit, a file from another version) is removed with a warning,
        so ``fit`` probes the network and the next store rewrites it, instead
        of every later run failing on features of the wrong length.
        """
        settings = _canonical(settings)
        key = settings_key(settings)
        folder = Path(root) / key
        inside_folder(root, f"{key}/settings.json", what="the feature cache record")
        n = cls._recorded_n_features(folder, settings)
        if n is None:
            return None
        stored = cls._entry_n_features(root, folder)
        if stored is None:  # no entry to confirm it: probing costs one image
            return None
        if stored != n:
            warnings.warn(
                f"The feature cache record {str(folder / 'settings.json')!r} says "
                f"n_features={n} but its stored features have {stored} values; the record is "
                "ignored and rebuilt.", RuntimeWarning, stacklevel=3)
            try:
                os.remove(folder / "settings.json")
            except OSError:
                pass
            return None
        return n

    @staticmethod
    def _recorded_n_features(folder, settings):
        try:
            with open(folder / "settings.json", encoding="utf-8") as file:
                record = json.load(file)
            if record.get("settings") != settings:
                return None
            n = record.get("n_features")
            return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None
        except (OSError, ValueError, AttributeError):
            return None

    @staticmethod
    def _entry_n_features(root, folder):
        """The length in the header of one valid-looking entry under ``folder``, or None."""
        try:
            with os.scandir(folder) as subfolders:
                for sub in subfolders:
                    if not sub.is_dir():
                        continue
                    with os.scandir(sub.path) as entries:
                        for entry in entries:
                            if entry.name.startswith(".") or not entry.name.endswith(_SUFFIX):
                                continue  # a temporary file of a write in progress
                            inside_folder(root, os.path.relpath(entry.path, root),
                                          what="a feature cache entry")
                            with open(entry.path, "rb") as file:
                                head = file.read(_HEADER.size)
                            if len(head) == _HEADER.size:
                                magic, n = _HEADER.unpack(head)
                                if magic == _MAGIC:
                                    return int(n)
        except OSError:
            return None
        return None

    def _write_settings(self):
        path = self._inside(self.folder / "settings.json", "the feature cache record")
        if self._recorded_n_features(self.folder, self.settings) == self.n_features:
            return
        text = json.dumps({"format_version": FORMAT_VERSION, "n_features": self.n_features,
                           "settings": self.settings}, indent=1, sort_keys=True)
        self._atomic_write(path, text.encode())

    # ---------------------------------------------------------------- entries
    def path(self, key):
        """File of the image with content key ``key``."""
        return self.folder / key[:2] / (key + _SUFFIX)

    def _inside(self, path, what):
        """``path``, checked to stay inside the cache folder (see the module docstring)."""
        return inside_folder(self.root, os.path.relpath(path, self.root), what=what)

    def _digest(self, key, body):
        digest = hashlib.blake2b(digest_size=_DIGEST_SIZE, person=b"skcnn-entry")
        digest.update(key.encode())
        digest.update(body)
        return digest.digest()

    def get(self, key):
        """The stored features of ``key`` (float32, ``(n_features,)``), or ``None``.

        Missing, truncated, overlong, unreadable or corrupt files, and files of
        another length, all read as ``None``; a link out of the cache folder
        raises :class:`~skcnn.exceptions.FolderBoundaryError`.
        """
        path = self._inside(self.path(key), f"the feature cache entry {key}")
        try:
            with open(path, "rb") as file:
                data = file.read(self._size + 1)
        except OSError:
            return None
        if len(data) != self._size:
            return None
        body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
        magic, n = _HEADER.unpack_from(body)
        if magic != _MAGIC or n != self.n_features or self._digest(key, body) != digest:
            return None
        values = np.frombuffer(body, dtype="<f4", offset=_HEADER.size)
        return values.astype(np.float32)

    def put(self, key, values):
        """Store ``values`` for ``key``, atomically; a failure warns once and is ignored."""
        values = np.ascontiguousarray(values, dtype="<f4")
        if values.shape != (self.n_features,):
            raise ValueError(f"expected {self.n_features} features, got shape {values.shape}")
        body = _HEADER.pack(_MAGIC, self.n_features) + values.tobytes()
        try:
            self._write_settings()
            path = self._inside(self.path(key), f"the feature cache entry {key}")
            self._atomic_write(path, body + self._digest(key, body))
        except OSError as exc:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"Could not write to the feature cache {str(self.root)!r} ({exc}); features "
                    "are computed but not stored. Pass cache=<a writable folder> or cache=None.",
                    RuntimeWarning, stacklevel=3)

    @staticmethod
    def _atomic_write(path, data):
        atomic_write(path, data, suffix=_SUFFIX)
