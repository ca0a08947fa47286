"""One shard computed and written, by this process or by Dask workers (one network each)."""

import hashlib
import io
import json
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from .._files import atomic_write
from ._folder import _SHARDS, _differing, _index_file

# Networks loaded in this process, by their settings: one model per (Dask) worker.
_EXTRACTORS = {}
_EXTRACTORS_LOCK = threading.Lock()  # a worker with several threads loads it once


# --------------------------------------------------------------------------- one shard


def _extractor(params, a_path):
    """The fitted PretrainedFeatures for ``params``, loaded once per process.

    ``fit`` only checks the kind of input it is given (it reads no file).
    """
    from ..pretrained.features import PretrainedFeatures

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



def _describe(params, a_path):
    """What the features will depend on, as seen by the process that computes them."""
    extractor = _extractor(params, a_path)
    return {"settings": _settings_of(extractor), "n_features": extractor.n_features_out_}


def _run_shard(spec, output, params, settings):
    """Compute one shard and write it; returns a small record (no features)."""
    from ..utils._hardware import release_device_memory

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

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


# --------------------------------------------------------------------------- runners


def _progress(total, initial, verbose):
    from .._progress import tqdm

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
