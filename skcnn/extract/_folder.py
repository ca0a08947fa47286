"""The output folder: manifest, shard plan, indexes, checks that it holds what is asked."""

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from .._files import atomic_write, inside_folder

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_SHARDS = "shards"


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
    """The record of shard ``index``, or ``None`` when it is missing or not JSON.

    Raises :class:`~skcnn.exceptions.FolderBoundaryError` when the index file
    is a symbolic link that leads outside ``output``.
    """
    path = _index_file(output, index)
    inside_folder(output, f"{_SHARDS}/{path.name}", what=f"the index file of shard {index}")
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _read_shard(output, record, spec, *, verify_only=False, hashed=True):
    """The shard's features, or a string saying why they are not usable.

    The ``.npy`` file is named in the index and read once: checked against
    the recorded SHA-256, then parsed. ``hashed=False`` (with
    ``verify_only``) only checks that the named file is there.

    The name must be a file inside ``output`` (no ``..``, no absolute path,
    no symbolic link out of it), whatever checksum the index records: who
    writes an index writes its checksum too.
    """
    if not isinstance(record, dict) or "file" not in record:
        return "not finished"
    if record.get("digest") != spec["digest"]:
        return "for other images"
    name = record["file"]
    if isinstance(name, str) and not os.path.isabs(name):
        name = f"{_SHARDS}/{name}"  # absolute names, and other types, are refused as they are
    path = inside_folder(output, name, what=f"the index of shard {spec['index']}")
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

def _differing(a, b):
    """Keys whose values differ between two settings dicts, sorted."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
