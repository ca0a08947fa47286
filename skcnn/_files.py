"""Writing files so that readers never see half of one; names that must stay in their folder."""

import os
import tempfile
from pathlib import Path

from .exceptions import FolderBoundaryError

__all__ = ["atomic_write", "inside_folder"]


def inside_folder(folder, name, *, what):
    """``folder / name``, checked to stay inside ``folder`` once every link is resolved.

    Parameters
    ----------
    folder : path-like
        The folder that holds its own records (a feature folder, a cache).
    name : str or path-like
        A relative name read from one of its records (an index, metadata).
    what : str
        How the error names the entry, e.g. ``"shard 3's index"``.

    Returns
    -------
    pathlib.Path
        ``folder / name`` (unresolved; the caller reads or writes it).

    Raises
    ------
    FolderBoundaryError
        For a name that is not a string, is absolute, holds ``..``, or leads
        outside ``folder`` through a symbolic link.
    """
    where = str(folder)
    if not isinstance(name, (str, os.PathLike)):
        raise FolderBoundaryError(
            f"{what} in {where!r} names {name!r} ({type(name).__name__}), not a file name inside "
            "the folder. The folder was edited or damaged: recompute it in a new folder.")
    text = os.fspath(name)
    parts = Path(text).parts
    if os.path.isabs(text) or ".." in parts or not parts or "\x00" in text:
        raise FolderBoundaryError(
            f"{what} in {where!r} names {text!r}, which is outside the folder (an absolute path "
            "or one with '..'); nothing outside the folder is read or written. The folder was "
            "edited or comes from elsewhere: do not use it, recompute it in a new folder.")
    path = Path(folder) / text
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise FolderBoundaryError(
            f"{what} in {where!r} names {text!r}, a symbolic link that leads outside the folder "
            f"(to {real!r}); nothing outside the folder is read or written. Remove the link, or "
            "recompute the folder in a new one.")
    return path


def atomic_write(path, data, suffix=""):
    """Write ``data`` (bytes) to ``path`` through a temporary file and a rename.

    A reader sees the old file or the whole new one, never a partial write;
    a failed write leaves no temporary file behind (one from a killed
    process starts with ``.tmp-``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
