"""Features of many image files, in resumable shards, locally or on a Dask cluster.

:func:`extract_features` splits a list of image paths into shards of
``shard_size`` images and runs :class:`~skcnn.PretrainedFeatures` over each,
writing one ``.npy`` file and one ``.json`` index per shard into ``output``::

    output/
      manifest.json          settings (backbone, weights, layer, pooling, preprocessing,
                             precision), the absolute paths in shard order, the
                             shard plan, and how the given list maps onto it
      shards/00000-<sha>.npy float32 features of the shard's images, in order
      shards/00000.json      the shard's paths, row count, .npy file name and SHA-256

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
import io
import json
import os
import time
import threading
import uuid
from numbers import Integral
from pathlib import Path

import numpy as np

from ._files import atomic_write
from ._sklearn_compat import HasMethods, Interval, StrOptions, validate_params
from .utils._hardware import PRECISIONS

__all__ = ["extract_features", "load_features", "ExtractedFeatures"]

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_SHARDS = "shards"

# Networks loaded in this process, by their settings: one model per (Dask) worker.
_EXTRACTORS = {}
_EXTRACTORS_LOCK = threading.Lock()  # a worker with several threads loads it once


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


# --------------------------------------------------------------------------- the folder


def _digest(values):
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _index_file(output, index):
    return Path(output) / _SHARDS / f"{index:05d}.json"


def _plan(manifest):
    """The shards: index, absolute paths and their digest."""
    unique, start, plan = manifest["unique"], 0, []
    for index, shard in enumerate(manifest["shards"]):
        stop = start + shard["n_images"]
        plan.append(dict(index=index, paths=unique[start:stop], digest=shard["digest"]))
        start = stop
    return plan


_MANIFEST_KEYS = {"format_version", "settings", "n_features", "shard_size", "set_digest",
                  "unique", "shards", "paths", "rows"}


def _read_manifest(output):
    where = str(Path(output) / _MANIFEST)
    try:
        with open(where, encoding="utf-8") as file:
            manifest = json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where!r} cannot be read ({exc}). Remove the folder or pass another "
                         "output=.") from None
    if not isinstance(manifest, dict) or not _MANIFEST_KEYS <= set(manifest):
        raise ValueError(
            f"{where!r} is not a manifest written by extract_features (or by another version "
            "of skcnn). Pass another output folder.")
    return manifest


def _prepare_folder(output, described, paths, unique, rows, shard_size):
    """Write the manifest of a new folder, or check that an existing one matches.

    An existing folder with the same set of images keeps its shard plan; the
    new call's order and repeats only change how ``load`` arranges the rows.
    """
    settings = described["settings"]
    set_digest = _digest(sorted(unique))
    existing = _read_manifest(output)
    if existing is None:
        if output.exists() and any(not p.name.startswith(".tmp-") for p in output.iterdir()):
            raise ValueError(
                f"output {str(output)!r} is not empty and holds no {_MANIFEST}: it is not a "
                "folder written by extract_features. Pass an empty or new folder.")
        manifest = {"format_version": FORMAT_VERSION, "settings": settings,
                    "n_features": described["n_features"], "shard_size": shard_size,
                    "set_digest": set_digest, "unique": unique,
                    "shards": [{"n_images": len(unique[i:i + shard_size]),
                                "digest": _digest(unique[i:i + shard_size])}
                               for i in range(0, len(unique), shard_size)]}
        manifest.update(_arrangement(paths, unique, rows))
        output.mkdir(parents=True, exist_ok=True)
        atomic_write(output / _MANIFEST, json.dumps(manifest, indent=1).encode())
        return manifest
    _check_same(output, existing, settings, set_digest, len(unique), shard_size)
    position = {path: i for i, path in enumerate(existing["unique"])}
    arrangement = _arrangement(paths, existing["unique"],
                               [position[unique[r]] for r in rows])
    if any(existing[key] != value for key, value in arrangement.items()):
        existing.update(arrangement)
        atomic_write(output / _MANIFEST, json.dumps(existing, indent=1).encode())
    return existing


def _arrangement(paths, unique, rows):
    """How ``paths`` map onto the stored rows; ``None``s when they are ``unique`` itself."""
    rows = [int(r) for r in rows]
    if paths == unique and rows == list(range(len(unique))):
        return {"paths": None, "rows": None}
    return {"paths": paths, "rows": rows}


def _check_same(output, existing, settings, set_digest, n_unique, shard_size):
    where = str(output)
    if existing.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{where!r} was written by another version of skcnn (format "
            f"{existing.get('format_version')}, this one writes {FORMAT_VERSION}). Use a new "
            "output folder.")
    if existing["settings"] != settings:
        old, now = existing["settings"], settings
        details = "; ".join(f"{k}: folder has {old.get(k)!r}, this call {now.get(k)!r}"
                            for k in _differing(old, now))
        raise ValueError(
            f"output {where!r} holds features computed with other settings ({details}). "
            "Features of different settings are never mixed: pass another output folder, or "
            "delete this one to recompute.")
    if existing["set_digest"] != set_digest:
        raise ValueError(
            f"output {where!r} holds features of another set of images "
            f"({len(existing['unique'])} unique images there, {n_unique} now). Pass another "
            "output folder for a new list, or delete this one.")
    if existing["shard_size"] != shard_size:
        raise ValueError(
            f"output {where!r} was written with shard_size={existing['shard_size']}, this call "
            f"has shard_size={shard_size}. Use shard_size={existing['shard_size']} to "
            "resume it, or another output folder.")


def _read_index(output, index):
    try:
        with open(_index_file(output, index), encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _read_shard(output, record, spec, *, verify_only=False, hashed=True):
    """The shard's features, or a string saying why they are not usable.

    The ``.npy`` file is named in the index and read once: checked against
    the recorded SHA-256, then parsed. ``hashed=False`` (with
    ``verify_only``) only checks that the named file is there.
    """
    if not isinstance(record, dict) or "file" not in record:
        return "not finished"
    if record.get("digest") != spec["digest"]:
        return "for other images"
    path = Path(output) / _SHARDS / record["file"]
    if not hashed:
        return None if path.is_file() else "missing its .npy file"
    try:
        data = path.read_bytes()
    except OSError:
        return "missing its .npy file"
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        return "damaged (checksum mismatch)"
    if verify_only:
        return None
    return np.load(io.BytesIO(data), allow_pickle=False)


def _shard_done(output, spec, hashed=True):
    record = _read_index(output, spec["index"])
    return _read_shard(output, record, spec, verify_only=True, hashed=hashed) is None


def _remove_leftovers(output, plan, older_than):
    """Temporary files of killed writes, and shard files no index refers to any more.

    Only files older than this run's start are touched, so another process's
    write in progress is left alone.
    """
    folder = Path(output) / _SHARDS
    referenced = {(_read_index(output, spec["index"]) or {}).get("file") for spec in plan}
    for path in [*Path(output).glob(".tmp-*"), *folder.glob(".tmp-*"), *folder.glob("*.npy")]:
        try:
            if path.name not in referenced and path.stat().st_mtime < older_than:
                path.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------- one shard


def _extractor(params, a_path):
    """The fitted PretrainedFeatures for ``params``, loaded once per process.

    ``fit`` only checks the kind of input it is given (it reads no file).
    """
    from .pretrained.features import PretrainedFeatures

    key = json.dumps(params, sort_keys=True, default=repr)
    with _EXTRACTORS_LOCK:
        extractor = _EXTRACTORS.get(key)
        if extractor is None:
            _EXTRACTORS.clear()  # one network per worker: drop one of other settings
            extractor = PretrainedFeatures(**params, verbose=0).fit([a_path])
            _EXTRACTORS[key] = extractor
    return extractor


def _settings_of(extractor):
    """What the extractor's features depend on, as it reads back from JSON (the manifest)."""
    return json.loads(json.dumps(extractor.feature_settings_, sort_keys=True, default=repr))


def _differing(a, b):
    """Keys whose values differ between two settings dicts, sorted."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _describe(params, a_path):
    """What the features will depend on, as seen by the process that computes them."""
    extractor = _extractor(params, a_path)
    return {"settings": _settings_of(extractor), "n_features": extractor.n_features_out_}


def _run_shard(spec, output, params, settings):
    """Compute one shard and write it; returns a small record (no features)."""
    from .utils._hardware import release_device_memory

    started = time.perf_counter()
    extractor = _extractor(params, spec["paths"][0])
    here = _settings_of(extractor)
    if here != settings:
        keys = _differing(here, settings)
        raise ValueError(
            f"this worker would compute features with other settings ({', '.join(keys)}: "
            f"{[here.get(k) for k in keys]} instead of {[settings.get(k) for k in keys]}), "
            "e.g. another device or precision. Pass device= and precision= explicitly so "
            "every worker computes the same features.")
    features = extractor.transform(spec["paths"])
    release_device_memory(extractor.device_)
    buffer = _npy_bytes(features)
    index = spec["index"]
    sha256 = hashlib.sha256(buffer).hexdigest()
    # Named by content: a second writer of the same shard (a task retried after its worker
    # was presumed dead) never overwrites the file another index points to.
    name = f"{index:05d}-{sha256[:16]}.npy"
    atomic_write(Path(output) / _SHARDS / name, buffer)
    record = {"index": index, "digest": spec["digest"], "n_images": len(features),
              "file": name, "sha256": sha256, "paths": spec["paths"],
              "device": extractor.device_, "host": os.uname().nodename, "pid": os.getpid(),
              "seconds": round(time.perf_counter() - started, 3)}
    # The index is written last: its presence (with a matching checksum) marks the shard done.
    atomic_write(_index_file(output, index), json.dumps(record).encode())
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
        try:
            with _progress(n_total, n_total - len(todo), verbose) as bar:
                for spec in todo:
                    try:
                        _run_shard(spec, output, params, settings)
                    except (OSError, ValueError, RuntimeError) as exc:
                        errors.append((spec["index"], f"{type(exc).__name__}: {exc}"))
                    bar.update(1)
        finally:
            # Workers keep their network for the next call; this process gives it back.
            with _EXTRACTORS_LOCK:
                _EXTRACTORS.clear()
        return errors


class _DaskRunner:
    """Each shard a Dask task; the workers keep their network between shards."""

    def __init__(self, client):
        self.client = client

    def describe(self, params, a_path):
        return self.client.submit(_describe, params, a_path, pure=False).result()

    def run(self, todo, output, params, settings, *, verbose, n_total):
        from distributed import as_completed

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
