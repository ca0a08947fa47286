"""Parameters and fitted attributes as JSON, and back, without running code from the file.

Plain JSON values stay as they are. Everything else is a JSON object with one
marker key, e.g. ``{"__tuple__": [32, 64]}``, ``{"__ndarray__": {...}}`` or
``{"__object__": "skcnn.architectures:simple_cnn", "params": {...}}``.
Decoding only knows these markers; a class is only looked up in the table of
allowed classes (:mod:`skcnn.io._classes`), never imported by name.
"""

import math
import numbers
from pathlib import PurePath

import numpy as np

from ..exceptions import ModelFileError
from ._classes import allowed_class, class_key, is_skcnn_object

__all__ = ["encode", "decode", "UnsupportedValueError"]

_MARKERS = ("__tuple__", "__dict__", "__float__", "__ndarray__", "__history__", "__path__",
            "__device__", "__preprocess__", "__pixel_encoding__", "__object__", "__dtype__")


class UnsupportedValueError(TypeError):
    """A value that skcnn.save cannot store without code (raised while saving)."""


def _unsupported(value, where):
    import torch

    kind = type(value).__name__
    is_class = isinstance(value, type)
    if isinstance(value, torch.nn.Module) or (is_class and issubclass(value, torch.nn.Module)):
        what = f"a torch module ({getattr(value, '__name__', kind)})"
    elif callable(value):
        what = f"a function or class ({getattr(value, '__qualname__', kind)})"
    else:
        what = f"a {kind}"
    return UnsupportedValueError(
        f"{where} is {what}, which skcnn.save cannot store: a model file holds data only, "
        "and loading it must not run code named by the file. Register your network as a "
        "plugin (an ArchitecturePlugin subclass in the entry-point group skcnn.architectures, "
        "see the plugins guide) and pass its name or an instance, or keep this model with "
        "pickle/joblib, which can store any object but must only be loaded from a source you "
        "trust."
    )


def _encode_float(value):
    value = float(value)
    if math.isfinite(value):
        return value
    return {"__float__": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _encode_array(array, where):
    array = np.asarray(array)
    if array.dtype == object:
        data = [encode(v, f"{where}[{i}]") for i, v in enumerate(array.ravel().tolist())]
        dtype = "object"
    elif array.dtype.kind in "biuU":
        data = array.ravel().tolist()
        dtype = array.dtype.str
    elif array.dtype.kind == "f":
        data = [_encode_float(v) for v in array.ravel().tolist()]
        dtype = array.dtype.str
    else:
        raise _unsupported(array, where)
    return {"__ndarray__": {"dtype": dtype, "shape": list(array.shape), "data": data}}


def encode(value, where="value"):
    """``value`` as a JSON-compatible structure; :class:`UnsupportedValueError` for what
    cannot be stored as data (``where`` names the value in that message)."""
    from skorch.history import History

    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _encode_float(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value, where)
    if isinstance(value, History):
        return {"__history__": [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, tuple) and type(value) is tuple:
        return {"__tuple__": [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if type(value) is list:
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value) is dict:
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {"__dict__": [[encode(k, f"{where} key"), encode(v, f"{where}[{k!r}]")]
                             for k, v in value.items()]}
    if isinstance(value, PurePath):
        return {"__path__": str(value)}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        dtype = np.dtype(value)  # e.g. the label dtype of a multi-label classifier
        if dtype.kind in "biufU":
            return {"__dtype__": dtype.str}
    try:
        import torch

        if isinstance(value, torch.device):
            return {"__device__": str(value)}
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    from ..data.arrays import PixelEncoding
    from ..plugins import PreprocessConfig

    if isinstance(value, PreprocessConfig):
        return {"__preprocess__": encode(value.to_dict(), where)}
    if isinstance(value, PixelEncoding):
        return {"__pixel_encoding__": encode(value._asdict(), where)}
    if is_skcnn_object(value):
        key = class_key(type(value))
        if key is None:
            raise UnsupportedValueError(
                f"{where} is an instance of {type(value).__module__}.{type(value).__qualname__}, "
                "a class that is not registered as a skcnn "
                "plugin, so skcnn.load could not rebuild it without importing code named by "
                "the file. Register it in the entry-point group skcnn.architectures (or "
                "skcnn.backbones) of an installed package, or keep this model with "
                "pickle/joblib."
            )
        params = value.get_params(deep=False)
        return {"__object__": key,
                "params": {name: encode(v, f"{where}.{name}") for name, v in params.items()}}
    raise _unsupported(value, where)


def _bad(where, detail):
    return ModelFileError(
        f"The model file is damaged or was not written by skcnn.save: {where}: {detail}. "
        "Save the model again with skcnn.save."
    )


def _decode_float(value, where):
    if isinstance(value, dict) and set(value) == {"__float__"}:
        text = value["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise _bad(where, f"unknown float {text!r}")
        return float(text)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _bad(where, f"expected a number, got {type(value).__name__}")


def _decode_array(spec, where):
    from ._limits import active_limits, check_array

    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise _bad(where, "an array needs dtype, shape and data")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if not isinstance(data, list) or not isinstance(shape, list):
        raise _bad(where, "an array's shape and data must be lists")
    if not all(type(s) is int and s >= 0 for s in shape):
        raise _bad(where, f"the shape {shape!r} is not a list of non-negative ints")
    if math.prod(shape) != len(data):
        raise _bad(where, f"{len(data)} values do not fill shape {shape}")
    limits = active_limits()
    if dtype == "object":
        check_array(np.dtype(object), shape, where, limits)
        values = [decode(v, f"{where}[{i}]") for i, v in enumerate(data)]
        array = np.empty(len(values), dtype=object)
        array[:] = values
    else:
        try:
            np_dtype = np.dtype(dtype) if isinstance(dtype, str) else None
        except Exception:  # TypeError, ValueError, SyntaxError of odd dtype strings
            np_dtype = None
        if np_dtype is None or np_dtype.kind not in "biufU" or np_dtype.fields is not None \
                or np_dtype.shape != ():
            raise _bad(where, f"dtype {dtype!r} is not allowed")
        check_array(np_dtype, shape, where, limits)  # before anything is allocated
        if np_dtype.kind == "f":
            data = [_decode_float(v, where) for v in data]
        elif not all(isinstance(v, (int, float, str, bool)) for v in data):
            raise _bad(where, f"the values of a {np_dtype.str} array must be numbers or "
                              "strings")
        try:
            array = np.array(data, dtype=np_dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _bad(where, f"the values do not fit dtype {dtype!r} ({exc})") from None
    try:
        return array.reshape(shape)
    except (TypeError, ValueError):
        raise _bad(where, f"{len(data)} values do not fill shape {shape}") from None


def decode(value, where="value"):
    """The value :func:`encode` encoded; classes only from the allow-list."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise _bad(where, f"unexpected {type(value).__name__}")
    markers = [k for k in value if k in _MARKERS]
    if not markers:
        return {k: decode(v, f"{where}[{k!r}]") for k, v in value.items()}
    marker = markers[0]
    if marker == "__object__":
        if set(value) != {"__object__", "params"} or not isinstance(value["params"], dict):
            raise _bad(where, "an object needs exactly __object__ and params")
        cls = allowed_class(value["__object__"], where)
        params = {name: decode(v, f"{where}.{name}") for name, v in value["params"].items()}
        try:
            return cls(**params)
        except Exception as exc:  # TypeError: parameters of another version
            raise ModelFileError(
                f"{where}: {value['__object__']} does not take the recorded parameters "
                f"({exc}); the file was written with another version of it. Install the version "
                "that wrote the file (see skcnn.io.file_info), or fit and save the model again."
            ) from exc
    if len(value) != 1:
        raise _bad(where, f"{marker} must be the only key")
    body = value[marker]
    if marker == "__tuple__":
        if not isinstance(body, list):
            raise _bad(where, "a tuple must hold a list")
        return tuple(decode(v, f"{where}[{i}]") for i, v in enumerate(body))
    if marker == "__dict__":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2
                                                 for p in body):
            raise _bad(where, "a dict must hold [key, value] pairs")
        result = {}
        for key, item in body:
            key = decode(key, f"{where} key")
            try:
                hash(key)
            except TypeError:
                raise _bad(where, f"unhashable key {key!r}") from None
            result[key] = decode(item, f"{where}[{key!r}]")
        return result
    if marker == "__float__":
        return _decode_float(value, where)
    if marker == "__ndarray__":
        return _decode_array(body, where)
    if marker == "__history__":
        from skorch.history import History

        if not isinstance(body, list):
            raise _bad(where, "a history must hold a list")
        return History(decode(body, where))
    if marker == "__dtype__":
        from ._limits import active_limits, check_array

        try:
            dtype = np.dtype(body) if isinstance(body, str) else None
        except Exception:  # TypeError, ValueError, SyntaxError of odd dtype strings
            dtype = None
        if dtype is None or dtype.kind not in "biufU" or dtype.fields is not None \
                or dtype.shape != ():
            raise _bad(where, f"dtype {body!r} is not allowed")
        check_array(dtype, [1], where, active_limits())
        return dtype
    if marker == "__path__":
        if not isinstance(body, str):
            raise _bad(where, "a path must be a string")
        from pathlib import Path

        return Path(body)
    if marker == "__device__":
        if not isinstance(body, str):
            raise _bad(where, "a device must be a string")
        import torch

        try:
            return torch.device(body)
        except Exception:  # RuntimeError, ValueError of a malformed device string
            raise _bad(where, f"unknown device {body!r}") from None
    if marker == "__preprocess__":
        from ..plugins import PreprocessConfig

        fields = decode(body, where)
        if not isinstance(fields, dict):
            raise _bad(where, "a preprocessing config must hold a dict")
        try:
            return PreprocessConfig(**fields)
        except (TypeError, ValueError) as exc:
            raise _bad(where, f"invalid preprocessing config ({exc})") from None
    if marker == "__pixel_encoding__":
        from ..data.arrays import PixelEncoding

        fields = decode(body, where)
        if not isinstance(fields, dict) or set(fields) != set(PixelEncoding._fields):
            raise _bad(where, f"a pixel encoding must hold {', '.join(PixelEncoding._fields)}")
        return PixelEncoding(**fields)
    raise _bad(where, f"unknown marker {marker}")  # pragma: no cover
