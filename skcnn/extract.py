"""Features of many image files, in resumable shards, locally or on a Dask cluster.

:func:`extract_features` splits a list of image paths into shards of
``shard_size`` images and runs :class:`~skcnn.PretrainedFeatures` over each,
writing one ``.npy`` file and one ``.json`` index per shard into ``output``::

    output/
      manifest.json          settings (backbone, weights, layer, pooling, preprocessing,
                             precision), the path list, the shard plan
      shards/00000.npy       float32 features of the shard's images, in order
      shards/00000.json      the shard's paths, row count and the .npy's SHA-256

A shard counts as finished when its index exists and the checksum matches,
so a run that stopped (a killed worker, a bad file, Ctrl-C) is resumed by
running the same call again: finished shards are skipped, the others are
computed, and the result is the same as that of an uninterrupted run.

With ``client=None`` the shards run one after the other in this process;
with a ``dask.distributed.Client`` each shard is a task, every worker loads
the network once and keeps it for the shards it gets, and workers write
their shards directly (``output`` must be on a file system the workers
share with the client; on one machine it always is). Dask is imported only
when a client is given.
"""

import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np

from ._files import atomic_write

__all__ = ["extract_features", "load_features", "ExtractedFeatures"]

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_SHARDS = "shards"

# Networks loaded in this process, by their settings: one model per (Dask) worker.
_EXTRACTORS = {}


# --------------------------------------------------------------------------- public API


def extract_features(paths, backbone="efficientnet_lite0", *, output, client=None, layer=None,
                     pooling="avg", input_size=None, batch_size="auto", shard_size=1024,
                     device="auto", precision="auto", num_workers="auto", verbose=1):
    """Extract pretrained features of image files into a folder of shards.

    Parameters
    ----------
    paths : list of str or path-like
        Image files. Paths are made absolute here (workers may run in another
        folder). A path listed more than once is computed once (at its first
        position) and its row repeated in :meth:`ExtractedFeatures.load`.
    backbone : str or BackbonePlugin, default='efficientnet_lite0'
        As in :class:`~skcnn.PretrainedFeatures`.
    output : str or path-like
        Folder for the manifest and the shards; created if missing. A folder
        from an earlier call with the same images and settings is resumed;
        one that holds features of other settings or other images is refused.
    client : dask.distributed.Client, default=None
        Run the shards as tasks on this Dask cluster; ``None`` runs them here.
    layer, pooling, input_size, batch_size, device, precision : see PretrainedFeatures
        ``device='auto'`` is resolved on each worker, which takes its own GPU
        (see :func:`skcnn.base.assigned_cuda_index`).
    shard_size : int, default=1024
        Images per shard: the unit of work, of resumption, and of each
        worker's memory (one shard's features plus one batch of images).
        A multiple of ``batch_size`` gives features identical to
        ``PretrainedFeatures.transform`` on the whole list.
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
    shard_size = _check_positive_int(shard_size, "shard_size")
    _check_client(client)
    output = Path(output)
    unique, rows = _deduplicate(paths)
    params = dict(backbone=backbone, layer=layer, pooling=pooling, input_size=input_size,
                  batch_size=batch_size, device=device, precision=precision,
                  num_workers=num_workers)

    runner = _LocalRunner() if client is None else _DaskRunner(client)
    described = runner.describe(params, unique[0])
    manifest = _prepare_folder(output, described, paths, unique, shard_size)
    plan = [dict(index=i, paths=unique[start:stop], digest=shard["digest"])
            for i, (start, stop, shard) in enumerate(_shard_bounds(manifest))]
    todo = [spec for spec in plan if not _shard_done(output, spec)]
    errors = runner.run(todo, output, params, manifest["settings"], verbose=verbose,
                        n_total=len(plan))
    if errors:
        first_index, first_error = errors[0]
        raise RuntimeError(
            f"{len(errors)} of {len(plan)} shards failed; the {len(plan) - len(errors)} finished "
            f"ones are kept in {str(output)!r}. First failure, shard {first_index}: "
            f"{first_error}\nFix the cause and run the same call again: only the missing "
            "shards are computed.")
    _remove_temporary_files(output)
    return ExtractedFeatures(output, _n_computed=len(todo), _n_skipped=len(plan) - len(todo),
                             _rows=rows)


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

    def __init__(self, output, *, _n_computed=None, _n_skipped=None, _rows=None):
        self.output = Path(output)
        manifest = _read_manifest(self.output)
        if manifest is None:
            raise ValueError(
                f"{str(self.output)!r} holds no features from extract_features (no "
                f"{_MANIFEST}). Pass the folder given as output= to extract_features.")
        self._manifest = manifest
        self.paths = list(manifest["paths"])
        self.settings = manifest["settings"]
        self.n_features = int(manifest["n_features"])
        self.n_shards = len(manifest["shards"])
        self.n_computed_shards = _n_computed
        self.n_skipped_shards = _n_skipped
        self._rows = _rows

    def __repr__(self):
        return (f"ExtractedFeatures({str(self.output)!r}, {len(self.paths)} images, "
                f"{self.n_features} features, {self.n_shards} shards)")

    def __len__(self):
        return len(self.paths)

    def iter_shards(self):
        """Yield ``(shard_paths, features)`` per shard, checking each checksum.

        Each shard's features are read when it is reached, so the whole set
        never has to fit in memory. Repeated paths appear once.
        """
        for index, (start, stop, _) in enumerate(_shard_bounds(self._manifest)):
            record = _read_index(self.output, index)
            problem = _shard_problem(self.output, index, record, self._manifest["shards"][index])
            if problem:
                raise ValueError(
                    f"Shard {index} of {str(self.output)!r} is {problem}. Run extract_features "
                    "again with the same arguments to compute it.")
            yield record["paths"], np.load(_shard_file(self.output, index, ".npy"))

    def load(self):
        """All features, one row per entry of ``paths`` (float32).

        Returns
        -------
        ndarray of shape (len(paths), n_features)
        """
        parts = [features for _, features in self.iter_shards()]
        unique = (np.concatenate(parts) if parts
                  else np.empty((0, self.n_features), dtype=np.float32))
        rows = self._rows if self._rows is not None else _deduplicate(self.paths)[1]
        if len(rows) == len(unique) and np.array_equal(rows, np.arange(len(rows))):
            return unique
        return unique[rows]


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


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


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


# --------------------------------------------------------------------------- the folder


def _digest(values):
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _shard_file(output, index, suffix):
    return Path(output) / _SHARDS / f"{index:05d}{suffix}"


def _shard_bounds(manifest):
    start = 0
    for shard in manifest["shards"]:
        yield start, start + shard["n_images"], shard
        start += shard["n_images"]


def _read_manifest(output):
    try:
        with open(Path(output) / _MANIFEST, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{str(Path(output) / _MANIFEST)!r} cannot be read ({exc}). Remove the folder "
            "or pass another output=.") from None


def _prepare_folder(output, described, paths, unique, shard_size):
    """Write the manifest of a new folder, or check that an existing one matches."""
    settings = json.loads(json.dumps(described["settings"], sort_keys=True, default=repr))
    shards = [{"n_images": len(unique[i:i + shard_size]),
               "digest": _digest(unique[i:i + shard_size])}
              for i in range(0, len(unique), shard_size)]
    manifest = {"format_version": FORMAT_VERSION, "settings": settings,
                "n_features": described["n_features"], "shard_size": shard_size,
                "paths_digest": _digest(unique), "shards": shards, "paths": paths}
    existing = _read_manifest(output)
    if existing is None:
        if output.exists() and any(output.iterdir()):
            raise ValueError(
                f"output {str(output)!r} is not empty and holds no {_MANIFEST}: it is not a "
                "folder written by extract_features. Pass an empty or new folder.")
        output.mkdir(parents=True, exist_ok=True)
        atomic_write(output / _MANIFEST, json.dumps(manifest, indent=1).encode())
        return manifest
    _check_same(output, existing, manifest)
    # Same images and settings: resume. The same images may come in another order or
    # with other repeats; the manifest records the latest list, which load() follows.
    if existing["paths"] != paths:
        existing["paths"] = paths
        atomic_write(output / _MANIFEST, json.dumps(existing, indent=1).encode())
    return existing


def _check_same(output, existing, new):
    where = str(output)
    if existing.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{where!r} was written by another version of skcnn (format "
            f"{existing.get('format_version')}, this one writes {FORMAT_VERSION}). Use a new "
            "output folder.")
    if existing["settings"] != new["settings"]:
        old, now = existing["settings"], new["settings"]
        keys = sorted(k for k in set(old) | set(now) if old.get(k) != now.get(k))
        details = "; ".join(f"{k}: folder has {old.get(k)!r}, this call {now.get(k)!r}"
                            for k in keys)
        raise ValueError(
            f"output {where!r} holds features computed with other settings ({details}). "
            "Features of different settings are never mixed: pass another output folder, or "
            "delete this one to recompute.")
    if existing["paths_digest"] != new["paths_digest"]:
        raise ValueError(
            f"output {where!r} holds features of another list of images "
            f"({sum(s['n_images'] for s in existing['shards'])} unique images there, "
            f"{sum(s['n_images'] for s in new['shards'])} now). Pass another output folder "
            "for a new list, or delete this one.")
    if existing["shard_size"] != new["shard_size"]:
        raise ValueError(
            f"output {where!r} was written with shard_size={existing['shard_size']}, this call "
            f"has shard_size={new['shard_size']}. Use shard_size={existing['shard_size']} to "
            "resume it, or another output folder.")


def _read_index(output, index):
    try:
        with open(_shard_file(output, index, ".json"), encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shard_problem(output, index, record, planned):
    """Why shard ``index`` is not usable, or None when it is finished and intact."""
    if record is None:
        return "not finished"
    if record.get("digest") != planned["digest"]:
        return "for other images"
    try:
        if _file_sha256(_shard_file(output, index, ".npy")) != record.get("sha256"):
            return "damaged (checksum mismatch)"
    except OSError:
        return "missing its .npy file"
    return None


def _shard_done(output, spec):
    record = _read_index(output, spec["index"])
    return _shard_problem(output, spec["index"], record, spec) is None


def _remove_temporary_files(output):
    """Leftovers of writes that a killed process never finished."""
    for leftover in (Path(output) / _SHARDS).glob(".tmp-*"):
        try:
            leftover.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------- one shard


def _extractor(params, a_path):
    """The fitted PretrainedFeatures for ``params``, loaded once per process.

    ``fit`` only checks the kind of input it is given (it reads no file).
    """
    from .pretrained.features import PretrainedFeatures

    key = json.dumps(params, sort_keys=True, default=repr)
    extractor = _EXTRACTORS.get(key)
    if extractor is None:
        _EXTRACTORS.clear()  # one network per worker: drop one of other settings
        extractor = PretrainedFeatures(**params, verbose=0).fit([a_path])
        _EXTRACTORS[key] = extractor
    return extractor


def _describe(params, a_path):
    """What the features will depend on, as seen by the process that computes them."""
    extractor = _extractor(params, a_path)
    return {"settings": extractor._cache_settings(), "n_features": extractor.n_features_out_}


def _run_shard(spec, output, params, settings):
    """Compute one shard and write it; returns a small record (no features)."""
    from .base import release_device_memory

    started = time.perf_counter()
    extractor = _extractor(params, spec["paths"][0])
    here = json.loads(json.dumps(extractor._cache_settings(), sort_keys=True, default=repr))
    if here != settings:
        keys = sorted(k for k in set(here) | set(settings) if here.get(k) != settings.get(k))
        raise ValueError(
            f"this worker would compute features with other settings ({', '.join(keys)}: "
            f"{[here.get(k) for k in keys]} instead of {[settings.get(k) for k in keys]}), "
            "e.g. another device or precision. Pass device= and precision= explicitly so "
            "every worker computes the same features.")
    features = extractor.transform(spec["paths"])
    release_device_memory(extractor.device_)
    buffer = _npy_bytes(features)
    index = spec["index"]
    atomic_write(_shard_file(output, index, ".npy"), buffer)
    record = {"index": index, "digest": spec["digest"], "n_images": len(features),
              "sha256": hashlib.sha256(buffer).hexdigest(), "paths": spec["paths"],
              "device": extractor.device_, "host": os.uname().nodename, "pid": os.getpid(),
              "seconds": round(time.perf_counter() - started, 3)}
    # The index is written last: its presence (with a matching checksum) marks the shard done.
    atomic_write(_shard_file(output, index, ".json"), json.dumps(record).encode())
    return {k: record[k] for k in ("index", "n_images", "device", "host", "pid", "seconds")}


def _npy_bytes(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


# --------------------------------------------------------------------------- runners


def _progress(total, initial, verbose):
    from ._progress import tqdm

    return tqdm(total=total, initial=initial, desc="extract_features", unit="shard",
                disable=not verbose)


class _LocalRunner:
    """Shards one after the other in this process (same code as on a worker)."""

    def describe(self, params, a_path):
        return _describe(params, a_path)

    def run(self, todo, output, params, settings, *, verbose, n_total):
        errors = []
        with _progress(n_total, n_total - len(todo), verbose) as bar:
            for spec in todo:
                try:
                    _run_shard(spec, output, params, settings)
                except (OSError, ValueError, RuntimeError) as exc:
                    errors.append((spec["index"], f"{type(exc).__name__}: {exc}"))
                bar.update(1)
        return errors


class _DaskRunner:
    """Each shard a Dask task; the workers keep their network between shards."""

    def __init__(self, client):
        self.client = client

    def describe(self, params, a_path):
        return self.client.submit(_describe, params, a_path, pure=False).result()

    def run(self, todo, output, params, settings, *, verbose, n_total):
        from distributed import as_completed

        output = os.path.abspath(output)
        # A fresh key per call: a rerun must never be handed a failure remembered from before.
        token = uuid.uuid4().hex[:8]
        futures = [self.client.submit(_run_shard, spec, output, params, settings, pure=False,
                                      key=f"skcnn-shard-{token}-{spec['index']:05d}")
                   for spec in todo]
        index_of = {future.key: spec["index"] for future, spec in zip(futures, todo)}
        errors = []
        with _progress(n_total, n_total - len(todo), verbose) as bar:
            for future in as_completed(futures):
                if future.status == "error":
                    exc = future.exception()
                    errors.append((index_of[future.key], f"{type(exc).__name__}: {exc}"))
                elif future.status == "cancelled":
                    errors.append((index_of[future.key], "cancelled (the client or cluster "
                                                         "went away)"))
                bar.update(1)
                future.release()
        return sorted(errors)
