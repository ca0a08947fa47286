"""Writing files so that readers never see half of one."""

import os
import tempfile

__all__ = ["atomic_write"]


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
