"""The public API of sharded extraction and the checks of its arguments."""

import os
import time
from numbers import Integral
from pathlib import Path

import numpy as np

from .._sklearn_compat import HasMethods, Interval, StrOptions, validate_params
from ..utils._hardware import PRECISIONS
from ._folder import (
    _MANIFEST,
    _plan,
    _prepare_folder,
    _read_index,
    _read_manifest,
    _read_shard,
    _remove_leftovers,
    _shard_done,
)
from ._shards import _DaskRunner, _LocalRunner

__all__ = ["extract_features", "load_features", "ExtractedFeatures"]


# --------------------------------------------------------------------------- public API


@validate_params(
    {"backbone": [str, HasMethods("load"), type, None], "output": [str, os.PathLike],
     "layer": [str, None], "pooling": [StrOptions({"avg", "max", "avgmax"})],
     "input_size": [Interval(Integral, 8, None, closed="left"), None],
     "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
     "shard_size": [Interval(Integral, 1, None, closed="left")],
     "precision": [StrOptions({"auto", *PRECISIONS})],
     "num_workers": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
     "verbose": ["verbose"]},
    prefer_skip_nested_validation=True)
def extract_features(paths, backbone="efficientnet_lite0", *, output, client=None, layer=None,
                     pooling="avg", input_size=None, batch_size="auto", shard_size=1024,
                     device="auto", precision="auto", num_workers="auto", verbose=1):
    """Extract pretrained features of image files into a folder of shards.

    Parameters
    ----------
    paths : list of str or path-like
        Image files. Paths are made absolute here (workers may run in another
        folder). A path listed more than once (also under another spelling)
        is computed once, at its first position, and its row repeated in
        :meth:`ExtractedFeatures.load`. Images are identified by path: a file
        replaced after its shard was written is not recomputed (use a new
        ``output`` folder for changed files).
    backbone : str or BackbonePlugin, default='efficientnet_lite0'
        As in :class:`~skcnn.PretrainedFeatures`.
    output : str or path-like
        Folder for the manifest and the shards; created if missing. A folder
        from an earlier call with the same set of images (in any order, with
        any repeats) and settings is resumed, keeping its shards; one that
        holds features of other settings or other images is refused.
    client : dask.distributed.Client, default=None
        Run the shards as tasks on this Dask cluster; ``None`` runs them here.
    layer, pooling, input_size, batch_size, device, precision : see PretrainedFeatures
        ``device='auto'`` is resolved on each worker, which takes its own GPU
        (see :func:`skcnn.base.assigned_cuda_index`).
    shard_size : int, default=1024
        Images per shard: the unit of work, of resumption, and of each
        worker's memory (one shard's features plus one batch of images).
        A multiple of ``batch_size`` gives features identical to
        ``PretrainedFeatures.transform`` on the whole list, when the list has
        no repeats (at the same thread count).
    num_workers : int or 'auto', default='auto'
        Image-decoding processes per shard (none inside Dask workers, which
        may not start processes).
    verbose : int, default=1
        0 is silent; 1 shows a progress bar over the shards.

    Returns
    -------
    ExtractedFeatures
        The folder's contents; ``.load()`` gives the features in ``paths``'
        order.

    Raises
    ------
    ValueError
        ``output`` holds features of different settings or images, ``paths``
        is empty or not a list of paths, or the client is closed.
    RuntimeError
        Some shards failed (their errors are listed); the finished ones are
        kept, and rerunning the call computes only the rest.

    Examples
    --------
    >>> from dask.distributed import Client, LocalCluster     # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2))            # doctest: +SKIP
    >>> result = extract_features(jpeg_paths, output="feats", client=client)  # doctest: +SKIP
    >>> X = result.load()                                     # doctest: +SKIP
    """
    paths = _check_paths(paths)
    shard_size = int(shard_size)
    _check_client(client)
    started = time.time()
    output = Path(output).absolute()
    unique, rows = _deduplicate(paths)
    params = dict(backbone=backbone, layer=layer, pooling=pooling, input_size=input_size,
                  batch_size=batch_size, device=device, precision=precision,
                  num_workers=num_workers)

    runner = _LocalRunner() if client is None else _DaskRunner(client)
    described = runner.describe(params, unique[0])
    manifest = _prepare_folder(output, described, paths, unique, rows, shard_size)
    plan = _plan(manifest)
    todo = [spec for spec in plan if not _shard_done(output, spec)]
    errors = dict(runner.run(todo, output, params, manifest["settings"], verbose=verbose,
                             n_total=len(plan)))
    # Success means "on disk", whatever the runner reported (the writer checksummed it).
    for spec in todo:
        if spec["index"] not in errors and not _shard_done(output, spec, hashed=False):
            errors[spec["index"]] = "its files are missing or damaged after the run"
    if errors:
        first_index = min(errors)
        raise RuntimeError(
            f"{len(errors)} of {len(plan)} shards failed; the {len(plan) - len(errors)} finished "
            f"ones are kept in {str(output)!r}. First failure, shard {first_index}: "
            f"{errors[first_index]}\nFix the cause and run the same call again: only the "
            "missing shards are computed.")
    _remove_leftovers(output, plan, older_than=started)
    return ExtractedFeatures(output, _n_computed=len(todo), _n_skipped=len(plan) - len(todo))


def load_features(output):
    """Open a folder written by :func:`extract_features`.

    Parameters
    ----------
    output : str or path-like

    Returns
    -------
    ExtractedFeatures

    Raises
    ------
    ValueError
        The folder has no manifest, or some shards are missing or damaged
        (rerun :func:`extract_features` with the same arguments to finish it).
    """
    return ExtractedFeatures(output)


class ExtractedFeatures:
    """The features in a folder written by :func:`extract_features`.

    Attributes
    ----------
    output : pathlib.Path
        The folder.
    paths : list of str
        The image paths, in the order (and with the repeats) they were given.
    settings : dict
        What the features depend on: backbone, weights, layer, pooling,
        preprocessing, precision.
    n_features : int
        Features per image.
    n_shards : int
        Shards in the folder.
    n_computed_shards, n_skipped_shards : int or None
        Shards the call computed, and shards it found finished and skipped
        (None when opened with :func:`load_features`).
    """

    def __init__(self, output, *, _n_computed=None, _n_skipped=None):
        self.output = Path(output).absolute()
        manifest = _read_manifest(self.output)
        if manifest is None:
            raise ValueError(
                f"{str(self.output)!r} holds no features from extract_features (no "
                f"{_MANIFEST}). Pass the folder given as output= to extract_features.")
        self._manifest = manifest
        unique = manifest["unique"]
        self.paths = list(manifest["paths"] if manifest["paths"] is not None else unique)
        self.settings = manifest["settings"]
        self.n_features = int(manifest["n_features"])
        self.n_shards = len(manifest["shards"])
        self.n_computed_shards = _n_computed
        self.n_skipped_shards = _n_skipped

    def __repr__(self):
        return (f"ExtractedFeatures({str(self.output)!r}, {len(self.paths)} images, "
                f"{self.n_features} features, {self.n_shards} shards)")

    def __len__(self):
        return len(self.paths)

    def iter_shards(self):
        """Yield ``(shard_paths, features)`` per shard, checking each checksum.

        Each shard's features are read when it is reached, so the whole set
        never has to fit in memory. Paths are absolute; repeated paths appear
        once.
        """
        for spec in _plan(self._manifest):
            record = _read_index(self.output, spec["index"])
            data = _read_shard(self.output, record, spec)
            if isinstance(data, str):
                raise ValueError(
                    f"Shard {spec['index']} of {str(self.output)!r} is {data}. Run "
                    "extract_features again with the same arguments to compute it.")
            yield spec["paths"], data

    def load(self):
        """All features, one row per entry of ``paths`` (float32).

        Returns
        -------
        ndarray of shape (len(paths), n_features)
        """
        rows = self._manifest["rows"]
        out = np.empty((len(self.paths), self.n_features), dtype=np.float32)
        start = 0
        if rows is None:  # paths are the unique absolute paths, in shard order
            for _, features in self.iter_shards():
                out[start:start + len(features)] = features
                start += len(features)
            return out
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        for _, features in self.iter_shards():
            stop = start + len(features)
            lo, hi = np.searchsorted(sorted_rows, [start, stop])
            out[order[lo:hi]] = features[sorted_rows[lo:hi] - start]
            start = stop
        return out


# --------------------------------------------------------------------------- checks


def _check_paths(paths):
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError(
            f"paths must be a list of image files, got the single path {str(paths)!r}. "
            "Pass [path], or a list such as sorted(glob.glob('folder/*.jpg')).")
    if isinstance(paths, np.ndarray) and paths.dtype.kind not in "UO":
        raise TypeError(
            "paths must be a list of image files, got an array of pixels. In-memory images "
            "go through PretrainedFeatures(...).fit_transform(images).")
    try:
        items = list(paths)
    except TypeError:
        raise TypeError(f"paths must be a list of image file paths, got "
                        f"{type(paths).__name__}.") from None
    bad = [p for p in items if not isinstance(p, (str, os.PathLike))]
    if bad:
        raise TypeError(
            f"paths must hold file paths (str or pathlib.Path); found {type(bad[0]).__name__} "
            f"({len(bad)} of {len(items)} entries). In-memory images go through "
            "PretrainedFeatures(...).fit_transform(images).")
    if not items:
        raise ValueError("paths is empty: give at least one image file.")
    return [os.fspath(p) for p in items]



def _check_client(client):
    if client is None:
        return
    if not hasattr(client, "submit") or not hasattr(client, "status"):
        raise TypeError(
            f"client must be a dask.distributed.Client or None, got {type(client).__name__}.")
    if client.status in ("closed", "closing", "failed"):
        raise ValueError(
            f"The Dask client is {client.status}. Create a new one, e.g. "
            "Client(LocalCluster()), or pass client=None to extract here.")


def _deduplicate(paths):
    """Unique absolute paths (first occurrence order) and each input's row among them."""
    position = {}
    rows = np.empty(len(paths), dtype=np.int64)
    for i, path in enumerate(paths):
        key = os.path.normpath(os.path.abspath(path))
        rows[i] = position.setdefault(key, len(position))
    return list(position), rows
