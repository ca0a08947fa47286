"""scikit-learn objects that hold skcnn estimators (Pipeline, GridSearchCV, ...) via skops.

The scikit-learn part is stored with :mod:`skops.io`, whose loader builds
objects from a schema and refuses types it is not told to trust. Each skcnn
estimator or plugin inside is replaced, in a structural copy, by a
placeholder string and stored by skcnn itself (weights as safetensors); loading
puts the rebuilt objects back in place of the placeholders.
"""

import inspect
from importlib import import_module

import numpy as np

from ..exceptions import ModelFileError
from ._classes import is_skcnn_object
from ._json import UnsupportedValueError

__all__ = ["PLACEHOLDER", "split_skcnn_objects", "put_back", "dump_skops", "load_skops",
           "untrusted_types"]

#: Prefix of the strings that stand for skcnn objects in the skops part.
PLACEHOLDER = "\x00skcnn-object:"

#: Modules whose own classes (defined there, not imported into them) are plain data (CV
#: splitters, scorers) that skops does not trust by default but a fitted GridSearchCV holds.
_DATA_CLASS_MODULES = ("sklearn.model_selection._split", "sklearn.metrics._scorer")

#: skcnn functions a saved scikit-learn object may name (looked up, never called on load).
_SKCNN_FUNCTIONS = ("skcnn.io.refit.flatten_pixels",)


def _walk(value, leaf, memo):
    """A structural copy of ``value`` with ``leaf(x)`` in place of what ``leaf`` handles.

    Goes into scikit-learn estimators and other scikit-learn objects (a
    search's scorer holds the estimator) through their ``__dict__``, lists, tuples,
    dicts and object arrays (masked ones included); leaves anything else as is.
    """
    from sklearn.base import BaseEstimator

    replaced = leaf(value)
    if replaced is not _KEEP:
        return replaced
    key = id(value)
    if key in memo:
        return memo[key]
    module = type(value).__module__ or ""
    if isinstance(value, BaseEstimator) or (module.startswith("sklearn.")
                                            and hasattr(value, "__dict__")
                                            and not isinstance(value, type)):
        copy = type(value).__new__(type(value))
        memo[key] = copy
        copy.__dict__.update({name: _walk(item, leaf, memo)
                              for name, item in value.__dict__.items()})
        return copy
    if type(value) is list:
        return [_walk(item, leaf, memo) for item in value]
    if type(value) is tuple:
        return tuple(_walk(item, leaf, memo) for item in value)
    if type(value) is dict:
        return {name: _walk(item, leaf, memo) for name, item in value.items()}
    if isinstance(value, np.ndarray) and value.dtype == object:
        copy = value.copy()
        data = np.ma.getdata(copy)
        for index, item in enumerate(np.ma.getdata(value).ravel().tolist()):
            data.flat[index] = _walk(item, leaf, memo)
        return copy
    return value


_KEEP = object()


def split_skcnn_objects(obj):
    """``(copy of obj with placeholders, [skcnn objects])``; one entry per distinct object."""
    found, index_of = [], {}

    def leaf(value):
        if is_skcnn_object(value):
            if id(value) not in index_of:
                index_of[id(value)] = len(found)
                found.append(value)
            return f"{PLACEHOLDER}{index_of[id(value)]}"
        return _KEEP

    return _walk(obj, leaf, {}), found


def put_back(obj, objects):
    """``obj`` (as loaded by skops) with the placeholders replaced by ``objects``."""
    used = set()

    def leaf(value):
        if isinstance(value, str) and value.startswith(PLACEHOLDER):
            text = value[len(PLACEHOLDER):]
            if not text.isdigit() or int(text) >= len(objects):
                raise ModelFileError(
                    f"The model file refers to skcnn object {text!r}, which it does not hold; it "
                    "is damaged or was not written by skcnn.save. Save the model again.")
            used.add(int(text))
            return objects[int(text)]
        return _KEEP

    return _walk(obj, leaf, {})


def _is_trusted_name(name):
    """Whether skcnn trusts the type ``name`` of a skops node: a class *defined* in
    scikit-learn that is an estimator, or a CV splitter or scorer class defined in
    :data:`_DATA_CLASS_MODULES`, or one of :data:`_SKCNN_FUNCTIONS`. A name that merely
    resolves to something (``sklearn.metrics._scorer.Counter`` is ``collections.Counter``,
    imported there) is not trusted."""
    if name in _SKCNN_FUNCTIONS:
        return True
    module, _, attr = name.rpartition(".")
    if not module.startswith("sklearn.") or not attr.isidentifier():
        return False
    try:
        found = getattr(import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    if not inspect.isclass(found) or found.__module__ != module or found.__name__ != attr:
        return False
    from sklearn.base import BaseEstimator

    return issubclass(found, BaseEstimator) or module in _DATA_CLASS_MODULES


def untrusted_types(data, trusted=()):
    """``(trusted, refused)`` type names of skops ``data`` beyond skops' own defaults."""
    import skops.io as sio

    try:
        names = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops' errors on a damaged schema (KeyError, TypeError...)
        raise ModelFileError(f"The model file's scikit-learn part cannot be read "
                             f"({type(exc).__name__}: {exc}); it is damaged. Save the model "
                             "again.") from None
    extra = set(trusted or ())
    accepted = [n for n in names if n in extra or _is_trusted_name(n)]
    refused = [n for n in names if n not in accepted]
    return accepted, refused


def dump_skops(obj):
    """``(skops bytes, [skcnn objects], [type names that load will need trusted=])``."""
    import skops.io as sio

    copy, objects = split_skcnn_objects(obj)
    try:
        data = sio.dumps(copy)
    except Exception as exc:
        raise UnsupportedValueError(
            f"skops could not store this {type(obj).__name__} ({type(exc).__name__}: {exc}). "
            "Keep it with pickle/joblib, or save its skcnn estimators with skcnn.save one by "
            "one.") from exc
    _, refused = untrusted_types(data)
    unreachable = [n for n in refused if n.split(".", 1)[0] in ("skcnn", "skorch", "torch")]
    if unreachable:
        raise UnsupportedValueError(
            f"This {type(obj).__name__} holds {', '.join(unreachable)} inside an object that "
            "skcnn.save does not look into (it replaces skcnn estimators found in scikit-learn "
            "objects, lists, tuples, dicts and object arrays). Put the skcnn estimator "
            "directly in the Pipeline or search, or keep the model with pickle/joblib.")
    return data, objects, refused


def load_skops(data, trusted=()):
    """The object in skops ``data``; refuses types that neither skops, this module nor
    ``trusted`` trust, before anything is built."""

    if trusted is True:  # the caller trusts the whole file
        return _loads(data, True)
    accepted, refused = untrusted_types(data, trusted)
    if refused:
        raise ModelFileError(
            f"The model file's scikit-learn part holds types that are not trusted: "
            f"{', '.join(refused)}. Nothing was loaded. If you know where the file comes from "
            "and these are your own classes, load it with "
            f"skcnn.load(path, trusted={refused!r}).")
    return _loads(data, accepted)


def _loads(data, trusted):
    import skops.io as sio

    try:
        return sio.loads(data, trusted=trusted)
    except Exception as exc:  # skops' errors on a damaged file
        raise ModelFileError(f"The model file's scikit-learn part cannot be loaded "
                             f"({type(exc).__name__}: {exc}); it is damaged. Save the model "
                             "again.") from None
