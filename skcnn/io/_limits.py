"""What a model file may make :func:`skcnn.load` read and allocate, checked before it does.

A model file is data from wherever it came from, so nothing it *declares*
(member sizes, array shapes and dtypes, tensor offsets) is believed before it
is checked against a limit, and what is read is read with a hard cap, since
declared sizes can lie. The limits are the module constants below; a
:class:`LoadLimits` (``skcnn.load(path, limits=...)``) changes them for one
call. Every violation is a :class:`~skcnn.exceptions.ModelFileLimitError`
naming the member and the limit, raised before anything is built.
"""

import json
import math
import os
import re
import stat
import struct
import zipfile
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace

from ..exceptions import ModelFileError, ModelFileLimitError

__all__ = ["LoadLimits", "MAX_MEMBERS", "MAX_MANIFEST_BYTES", "MAX_MEMBER_BYTES",
           "MAX_TOTAL_BYTES", "MAX_SKOPS_BYTES", "MAX_ARRAY_BYTES", "MAX_STRING_CHARS",
           "MAX_JSON_DEPTH", "resolve_limits", "active_limits", "using_limits",
           "too_big", "open_archive", "read_member", "parse_json", "check_safetensors",
           "check_skops_zip", "check_array", "check_members"]

_MiB = 1 << 20

#: Members of one zip archive (a model file holds one per fitted network plus two).
MAX_MEMBERS = 1_000
#: Uncompressed bytes of the JSON manifest (``skcnn-model.json``) and of skops' schema.
MAX_MANIFEST_BYTES = 64 * _MiB
#: Bytes of one weights member (stored uncompressed, so also its size in the file).
MAX_MEMBER_BYTES = 4096 * _MiB
#: Uncompressed bytes of all members together.
MAX_TOTAL_BYTES = 8192 * _MiB
#: Uncompressed bytes of the scikit-learn part (``sklearn.skops``) and of its members.
MAX_SKOPS_BYTES = 256 * _MiB
#: Bytes of one array decoded from the manifest or from the scikit-learn part.
MAX_ARRAY_BYTES = 256 * _MiB
#: Characters of one element of a string (or bytes) dtype, e.g. ``<U100000``.
MAX_STRING_CHARS = 100_000
#: Nesting depth of the JSON documents.
MAX_JSON_DEPTH = 100


@dataclass(frozen=True)
class LoadLimits:
    """Limits on what :func:`skcnn.load` reads from a model file (defaults: the module
    constants of :mod:`skcnn.io._limits`, listed in the "Security" section of the user
    guide).

    Parameters
    ----------
    max_members : int
        Members of the zip archive (and of the scikit-learn part, itself a zip).
    max_manifest_bytes : int
        Uncompressed bytes of the JSON manifest and of skops' schema.
    max_member_bytes : int
        Bytes of one weights member.
    max_total_bytes : int
        Uncompressed bytes of all members together.
    max_skops_bytes : int
        Uncompressed bytes of the scikit-learn part.
    max_array_bytes : int
        Bytes of one array in the manifest or the scikit-learn part.
    max_string_chars : int
        Characters of one element of a string or bytes dtype.
    max_json_depth : int
        Nesting depth of a JSON document.

    Examples
    --------
    >>> import skcnn
    >>> big = skcnn.io.LoadLimits(max_skops_bytes=2 << 30)   # a Pipeline with a large SVC
    >>> model = skcnn.load("model.skcnn", limits=big)         # doctest: +SKIP
    """

    max_members: int = MAX_MEMBERS
    max_manifest_bytes: int = MAX_MANIFEST_BYTES
    max_member_bytes: int = MAX_MEMBER_BYTES
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_skops_bytes: int = MAX_SKOPS_BYTES
    max_array_bytes: int = MAX_ARRAY_BYTES
    max_string_chars: int = MAX_STRING_CHARS
    max_json_depth: int = MAX_JSON_DEPTH


def resolve_limits(limits):
    """``limits`` (None, a :class:`LoadLimits` or a dict of its fields) as a LoadLimits."""
    if limits is None:
        return LoadLimits()
    if isinstance(limits, LoadLimits):
        return limits
    if isinstance(limits, dict):
        names = {f.name for f in fields(LoadLimits)}
        unknown = sorted(set(limits) - names)
        if unknown:
            raise TypeError(f"limits= has unknown keys {unknown}; the limits are "
                            f"{sorted(names)}.")
        for name, value in limits.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"limits[{name!r}] must be a positive int; got {value!r}.")
        return replace(LoadLimits(), **limits)
    raise TypeError(f"limits= must be None, a skcnn.io.LoadLimits or a dict; got "
                    f"{type(limits).__name__}.")


_ACTIVE = ContextVar("skcnn_load_limits", default=None)


def active_limits():
    """The limits of the load in progress (the defaults outside one)."""
    return _ACTIVE.get() or LoadLimits()


class using_limits:
    """Context manager: ``limits`` are :func:`active_limits` inside it."""

    def __init__(self, limits):
        self.limits = limits

    def __enter__(self):
        self._token = _ACTIVE.set(self.limits)
        return self.limits

    def __exit__(self, *exc):
        _ACTIVE.reset(self._token)


def too_big(what, size, limit, field):
    return ModelFileLimitError(
        f"{what} is {size:,} bytes, over the limit of {limit:,} bytes ({field}); nothing was "
        f"loaded. If you trust the file, raise the limit: skcnn.load(path, "
        f"limits={{{field!r}: ...}}).")


# --------------------------------------------------------------------------- the zip archive

_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               NotImplementedError, RuntimeError, struct.error, OverflowError, KeyError,
               IndexError, TypeError, UnicodeDecodeError)
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"


def _declared_entries(fp, size):
    """``(entries, central directory bytes)`` the end records of a zip declare, read from
    its tail before :class:`zipfile.ZipFile` builds one object per entry."""
    tail_size = min(size, 22 + 65535)
    fp.seek(size - tail_size)
    tail = fp.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    entries, cd_size = struct.unpack("<HI", tail[at + 10:at + 16])
    locator_at = size - tail_size + at - 20
    if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and locator_at >= 0:
        fp.seek(locator_at)
        locator = fp.read(20)
        if locator[:4] == _EOCD64_LOCATOR:
            (offset,) = struct.unpack("<Q", locator[8:16])
            if offset + 56 <= size:
                fp.seek(offset)
                record = fp.read(56)
                if record[:4] == _EOCD64:
                    entries, cd_size = struct.unpack("<QQ", record[32:48])
    return entries, cd_size


def _member_problem(info):
    """What is wrong with a member's name or kind, or None."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if name.endswith("/") or stat.S_ISDIR(mode):
        return "is a folder entry"
    if "\x00" in name or "\\" in name:
        return "has a backslash or NUL byte in its name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute name"
    if ".." in name.split("/"):
        return "has '..' in its name"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"uses compression method {info.compress_type} (only stored and deflated)"
    return None


def check_members(infos, limits, what, expected=None, total_limit=None, total_field=None):
    """Refuse a zip's members if they are too many, duplicated, oddly named or too big in
    total (their declared sizes); ``expected(name)`` is None for an allowed name, else why
    it is not."""
    if len(infos) > limits.max_members:
        raise ModelFileLimitError(
            f"{what} has {len(infos):,} members, over the limit of {limits.max_members:,} "
            "(max_members); nothing was loaded.")
    seen = set()
    for info in infos:
        name = info.filename
        if name in seen:
            raise ModelFileError(f"{what} holds the member {name!r} twice; a zip with "
                                 "duplicate names is refused (which copy is read is "
                                 "ambiguous). Save the model again with skcnn.save.")
        seen.add(name)
        problem = _member_problem(info) or (expected(info) if expected else None)
        if problem:
            raise ModelFileError(f"The member {name!r} of {what} {problem}; skcnn.save never "
                                 "writes such a member and it was refused. Save the model "
                                 "again with skcnn.save.")
    total = sum(info.file_size for info in infos)
    limit = limits.max_total_bytes if total_limit is None else total_limit
    if total > limit:
        raise too_big(f"{what} (all members, uncompressed, as declared)", total, limit,
                       total_field or "max_total_bytes")


def open_archive(path, limits, expected):
    """The :class:`zipfile.ZipFile` of ``path`` once its end records and members pass."""
    size = os.path.getsize(path)
    with open(path, "rb") as fp:
        try:
            declared = _declared_entries(fp, size)
        except _ZIP_ERRORS:
            declared = None
    if declared is not None:
        entries, cd_size = declared
        if entries > limits.max_members:
            raise ModelFileLimitError(
                f"{path!r} declares {entries:,} zip members, over the limit of "
                f"{limits.max_members:,} (max_members); nothing was read.")
        if cd_size > limits.max_members * (46 + 3 * 65535):
            raise ModelFileLimitError(f"{path!r} declares a zip directory of {cd_size:,} "
                                      "bytes, more than max_members entries can need.")
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise ModelFileError(f"{path!r} is a damaged zip archive ({exc}); it is not a "
                             "readable skcnn model file. Save the model again.") from None
    try:
        check_members(archive.infolist(), limits, repr(path), expected)
    except BaseException:
        archive.close()
        raise
    return archive


def read_member(archive, info, limit, field, what):
    """The bytes of member ``info``, refused when its declared size is over ``limit`` and
    read in chunks with a hard cap (a member may inflate to more than it declares)."""
    if info.file_size > limit:
        raise too_big(what, info.file_size, limit, field)
    chunks, total = [], 0
    try:
        with archive.open(info) as stream:
            while True:
                chunk = stream.read(min(1 * _MiB, limit + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise too_big(f"{what} (inflated)", total, limit, field)
                chunks.append(chunk)
    except ModelFileError:
        raise
    except Exception as exc:  # zlib.error, CRC mismatches, bad local headers
        raise ModelFileError(f"{what} cannot be read ({type(exc).__name__}: {exc}); the file "
                             "is damaged. Save the model again.") from None
    return b"".join(chunks)


# --------------------------------------------------------------------------- JSON

def parse_json(data, what, limits):
    """The JSON document in ``data``, refused when it is not UTF-8 JSON or nests deeper
    than ``limits.max_json_depth``."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ModelFileError(f"{what} is not valid JSON ({detail}); the file is damaged. "
                             "Save the model again.") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.max_json_depth:
            raise ModelFileLimitError(f"{what} nests deeper than {limits.max_json_depth} "
                                      "levels (max_json_depth); nothing was loaded.")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


# --------------------------------------------------------------------------- arrays

def check_array(dtype, shape, where, limits):
    """Refuse an array of ``dtype`` (a numpy dtype) and ``shape`` (ints) before it is
    allocated: a string or bytes element wider than the limit, or too many bytes."""
    if dtype.kind in "US":
        chars = dtype.itemsize // (4 if dtype.kind == "U" else 1)
        if chars > limits.max_string_chars:
            raise ModelFileLimitError(
                f"{where}: the dtype {dtype.str!r} declares strings of {chars:,} characters, "
                f"over the limit of {limits.max_string_chars:,} (max_string_chars); nothing "
                "was allocated.")
    nbytes = math.prod(shape) * max(dtype.itemsize, 1)
    if nbytes > limits.max_array_bytes:
        raise too_big(f"{where}: the array of shape {tuple(shape)} and dtype {dtype.str!r}",
                       nbytes, limits.max_array_bytes, "max_array_bytes")
    return nbytes


# --------------------------------------------------------------------------- safetensors

#: Bytes per element of the dtypes a safetensors header may name.
_SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2,
                       "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8,
                       "U64": 8, "F64": 8}


def check_safetensors(data, what, limits):
    """``{tensor name: shape}`` from the header of safetensors ``data``, refused unless each
    tensor's dtype is numeric and its shape fills exactly the bytes its offsets span."""
    def bad(detail):
        return ModelFileError(f"{what} is not a valid safetensors file ({detail}); the file is "
                              "damaged. Save the model again.")

    if data[:4] == b"PK\x03\x04":
        raise ModelFileError(f"{what} is a zip archive, not safetensors; a nested zip is "
                             "refused there. Save the model again with skcnn.save.")
    if len(data) < 8:
        raise bad("shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise bad(f"its header declares {n:,} bytes, the member has {len(data) - 8:,}")
    header = parse_json(data[8:8 + n], f"The header of {what}", limits)
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    buffer = len(data) - 8 - n
    shapes = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"tensor {name!r} lacks dtype, shape or data_offsets")
        dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _SAFETENSORS_DTYPES:
            raise bad(f"tensor {name!r} has the dtype {dtype!r}")
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
            raise bad(f"tensor {name!r} has the shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]
                <= buffer):
            raise bad(f"tensor {name!r} has the offsets {offsets!r} in a buffer of "
                      f"{buffer:,} bytes")
        nbytes = math.prod(shape) * _SAFETENSORS_DTYPES[dtype]
        if nbytes != offsets[1] - offsets[0]:
            raise bad(f"tensor {name!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                      f"over {offsets[1] - offsets[0]:,} bytes")
        shapes[name] = tuple(shape)
    return shapes


# --------------------------------------------------------------------------- skops' zip

def check_skops_zip(data, what, limits):
    """Refuse the scikit-learn part (itself a zip written by skops) unless its members are
    few, plainly named and within the limits, and each ``.npy`` member declares a numeric
    or bounded-string dtype whose shape fills exactly its bytes."""
    import io

    import numpy as np

    try:
        inner = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise ModelFileError(f"{what} is not a readable zip archive ({exc}); the file is "
                             "damaged. Save the model again.") from None
    with inner:
        infos = inner.infolist()

        def expected(info):
            if "/" in info.filename:
                return "is in a folder (skops writes none)"
            return None

        check_members(infos, limits, what, expected, total_limit=limits.max_skops_bytes,
                      total_field="max_skops_bytes")
        for info in infos:
            where = f"{what} member {info.filename!r}"
            if info.filename == "schema.json":
                if info.file_size > limits.max_manifest_bytes:
                    raise too_big(where, info.file_size, limits.max_manifest_bytes,
                                   "max_manifest_bytes")
                continue
            if not info.filename.endswith(".npy"):
                continue
            try:
                with inner.open(info) as stream:
                    version = np.lib.format.read_magic(stream)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(stream)
                    offset = stream.tell()
            except Exception as exc:  # numpy's ValueError, zlib and zip errors
                raise ModelFileError(f"{where} is not a valid .npy array ({exc}); the file "
                                     "is damaged. Save the model again.") from None
            if dtype.hasobject or dtype.kind not in "biufcUSmM" or dtype.fields is not None:
                raise ModelFileError(f"{where} declares the dtype {dtype.str!r}; only "
                                     "numeric and string arrays are loaded (no objects).")
            nbytes = check_array(dtype, shape, where, limits)
            if offset + nbytes != info.file_size:
                raise ModelFileError(
                    f"{where} declares shape {shape} of {dtype.str} ({nbytes:,} bytes) but "
                    f"holds {info.file_size - offset:,} bytes of data; the file is damaged. "
                    "Save the model again.")
