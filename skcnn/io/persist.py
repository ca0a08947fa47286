"""``skcnn.save`` and ``skcnn.load``: a fitted (or unfitted) model in one file, without pickle.

The file is a zip archive:

``skcnn-model.json``
    The format name and version, the versions of the packages that wrote
    it, and each skcnn estimator: its class (from an allow-list), its
    parameters and its fitted attributes (classes, input shape,
    preprocessing, history, ...) as JSON.
``weights/<n>.safetensors``
    The tensors of each fitted network, as safetensors (data only).
``sklearn.skops``
    For a scikit-learn object that holds skcnn estimators (a ``Pipeline``, a
    ``GridSearchCV``), that object stored with :mod:`skops.io`, the skcnn
    estimators in it replaced by references to the entries above.

Loading reads only data: classes are looked up in a fixed table of skcnn's
estimators and the installed plugins, skops refuses types it does not trust,
and nothing named by the file is imported or called.
"""

import json
import os
import platform
import re
import uuid
import zipfile
from importlib.metadata import PackageNotFoundError, version

from ..exceptions import ModelFileError

__all__ = ["save", "load", "file_info", "FORMAT_NAME", "FORMAT_VERSION"]

#: What the manifest's ``format`` says.
FORMAT_NAME = "skcnn-model"
#: Version of the file layout; loading refuses files of a newer version.
FORMAT_VERSION = 1

_MANIFEST = "skcnn-model.json"
_SKOPS = "sklearn.skops"
_PACKAGES = ("skcnn", "torch", "scikit-learn", "skorch", "numpy", "safetensors", "skops",
             "torchvision", "timm")


def _version(package):
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _written_by():
    versions = {name: _version(name) for name in _PACKAGES}
    versions["python"] = platform.python_version()
    return {k: v for k, v in versions.items() if v is not None}


def _require(module, install):
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"skcnn.save and skcnn.load need the package {module!r} here ({exc}). Install it "
            f"with {install}.") from exc


# --------------------------------------------------------------------------- save


def _check_target(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a folder; pass the path of the file to write, e.g. "
                             f"{os.path.join(path, 'model.skcnn')!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ModelFileError(
            f"Cannot save to {path!r}: the folder {folder!r} does not exist. Create it first "
            "(os.makedirs(folder, exist_ok=True) or mkdir -p) or choose a path in an existing "
            "folder.")
    return path


def _entry(estimator, index, where, weights):
    from ._classes import class_key
    from ._json import encode
    from ._networks import fitted_attributes, is_estimator, network_state

    if not is_estimator(estimator):  # a plugin or a preprocessing config: plain data
        return {"value": encode(estimator, where)}
    key = class_key(type(estimator))
    if key is None:
        raise ModelFileError(f"skcnn.save does not store {type(estimator).__qualname__} "
                             f"({where}); only skcnn's estimators.")
    name = type(estimator).__name__
    params = {p: encode(v, f"{name}.{p}")
              for p, v in estimator.get_params(deep=False).items()}
    attributes = fitted_attributes(estimator)
    entry = {"class": key, "params": params, "fitted": None, "weights": None}
    if attributes:
        entry["fitted"] = {a: encode(v, f"{name}.{a}") for a, v in attributes.items()}
    tensors = network_state(estimator)
    if tensors is not None:
        entry["weights"] = f"weights/{index}.safetensors"
        weights[entry["weights"]] = tensors
    return entry


def save(estimator, path):
    """Write ``estimator`` to ``path`` in skcnn's safe format (no pickle).

    Works for every skcnn estimator, fitted or not, and for scikit-learn
    objects that hold them (``Pipeline``, ``GridSearchCV``, ...; their
    scikit-learn parts are stored with :mod:`skops.io`). The network weights
    are stored as safetensors, everything else as JSON, with the format
    version and the versions of the packages that wrote the file. The file is
    written to a temporary name first and then renamed, so a failed save
    leaves no partial file.

    Parameters
    ----------
    estimator : skcnn estimator, or scikit-learn estimator holding skcnn estimators
        An architecture given as an ``nn.Module`` or a builder function
        cannot be stored (loading would have to run code): register it as a
        plugin (entry-point group ``skcnn.architectures``) and pass its name.
    path : str or path-like
        The file to write (``.skcnn`` by convention); its folder must exist.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    skcnn.exceptions.ModelFileError
        When the folder of ``path`` does not exist or ``path`` is a folder.
    TypeError
        When a parameter or attribute cannot be stored as data (a custom
        ``nn.Module`` or function); the message names it and the fix.

    See Also
    --------
    load : read the file back.
    """
    from ._classes import is_skcnn_object

    _require("safetensors", "pip install safetensors")
    from safetensors.torch import save as save_tensors

    path = _check_target(path)
    weights = {}
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "written_by": _written_by(), "objects": []}
    skops_data = None
    if is_skcnn_object(estimator):
        manifest["objects"].append(_entry(estimator, 0, "the estimator", weights))
        manifest["root"] = {"object": 0}
    else:
        _require("skops", 'pip install "skcnn[persist]"')
        from ._sklearn import dump_skops

        skops_data, objects, needs_trust = dump_skops(estimator)
        for index, obj in enumerate(objects):
            manifest["objects"].append(
                _entry(obj, index, f"inside the {type(estimator).__name__}", weights))
        manifest["root"] = {"skops": _SKOPS, "class": f"{type(estimator).__module__}."
                                                      f"{type(estimator).__qualname__}",
                            "needs_trusted": needs_trust}
    text = json.dumps(manifest, indent=1, allow_nan=False)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr(_MANIFEST, text, compress_type=zipfile.ZIP_DEFLATED)
            for name, tensors in weights.items():
                archive.writestr(name, save_tensors(tensors), compress_type=zipfile.ZIP_STORED)
            if skops_data is not None:
                archive.writestr(_SKOPS, skops_data, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# --------------------------------------------------------------------------- load


_WEIGHTS_NAME = re.compile(r"weights/[0-9]{1,9}\.safetensors")


def _unexpected_member(info):
    name = info.filename
    if name in (_MANIFEST, _SKOPS):
        return None
    if _WEIGHTS_NAME.fullmatch(name):
        if info.compress_type != zipfile.ZIP_STORED:
            return "is compressed (skcnn.save stores weights uncompressed)"
        return None
    return (f"is not one skcnn.save writes (only {_MANIFEST}, {_SKOPS} and "
            "weights/<n>.safetensors)")


def _member_limit(name, limits):
    if name == _MANIFEST:
        return limits.max_manifest_bytes, "max_manifest_bytes"
    if name == _SKOPS:
        return limits.max_skops_bytes, "max_skops_bytes"
    return limits.max_member_bytes, "max_member_bytes"


def _open(path, limits=None):
    """``(archive, manifest)`` of a model file whose zip structure and declared sizes pass
    ``limits`` (:mod:`skcnn.io._limits`) and whose manifest is a skcnn manifest."""
    from ._limits import open_archive, parse_json, read_member, resolve_limits, too_big

    limits = resolve_limits(limits)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}. Check the path; models are written "
                                "with skcnn.save(estimator, path).")
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a folder, not a skcnn model file; pass the path "
                             "of a file written by skcnn.save.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path!r} is not a skcnn model file (not a zip archive written by skcnn.save). A "
            "pickle or joblib file is loaded with joblib.load, and only from a source you trust.")
    archive = open_archive(path, limits, _unexpected_member)
    try:
        for info in archive.infolist():
            limit, field = _member_limit(info.filename, limits)
            if info.file_size > limit:
                raise too_big(f"The member {info.filename!r} of {path!r}", info.file_size,
                              limit, field)
        try:
            info = archive.getinfo(_MANIFEST)
        except KeyError:
            raise ModelFileError(f"{path!r} is a zip archive but not a skcnn model file (it "
                                 f"has no {_MANIFEST}). Save the model with skcnn.save.") \
                from None
        data = read_member(archive, info, limits.max_manifest_bytes, "max_manifest_bytes",
                           f"The manifest {_MANIFEST} of {path!r}")
        manifest = parse_json(data, f"The manifest of {path!r}", limits)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise ModelFileError(f"{path!r} is not a skcnn model file (format {found!r}, "
                                 f"expected {FORMAT_NAME!r}).")
    except BaseException:
        archive.close()
        raise
    return archive, manifest


def _check_version(manifest, path):
    from .. import __version__

    found = manifest.get("format_version")
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise ModelFileError(f"{path!r} has no valid format version ({found!r}); the file is "
                             "damaged. Save the model again.")
    if found > FORMAT_VERSION:
        written_by = manifest.get("written_by")
        writer = written_by.get("skcnn") if isinstance(written_by, dict) else None
        writer = writer if isinstance(writer, str) else "a newer version"
        raise ModelFileError(
            f"{path!r} was written by skcnn {writer} in model-file format version {found}; this "
            f"skcnn ({__version__}) reads format versions up to {FORMAT_VERSION}. Upgrade skcnn "
            f"(pip install -U \"skcnn>={writer}\") to load it, or save the model again with this "
            "version.")


def _check_classes(objects):
    """Refuse the file if any class it names is not allowed, before anything is built."""
    from ._classes import allowed_class

    def scan(value, where):
        if isinstance(value, dict):
            if "__object__" in value:
                allowed_class(value["__object__"], where)
            for key, item in value.items():
                scan(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                scan(item, f"{where}[{index}]")

    for index, entry in enumerate(objects):
        if not isinstance(entry, dict):
            raise ModelFileError(f"Entry {index} of the model file is damaged; save the model "
                                 "again.")
        if "value" in entry:
            scan(entry["value"], f"object {index}")
            continue
        allowed_class(entry.get("class"), f"object {index}")
        scan(entry.get("params"), f"object {index} parameters")
        scan(entry.get("fitted"), f"object {index} attributes")


def _restore(entry, index):
    """The object of manifest ``entry``: an estimator with its parameters and fitted
    attributes, its network not yet rebuilt (see :func:`_rebuild`)."""
    from ._classes import allowed_class
    from ._json import decode

    if isinstance(entry, dict) and set(entry) == {"value"}:
        return decode(entry["value"], f"object {index}")
    if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
        raise ModelFileError(f"Entry {index} of the model file is damaged; save the model again.")
    cls = allowed_class(entry.get("class"), f"object {index}")
    params = {name: decode(v, f"{cls.__name__}.{name}") for name, v in entry["params"].items()}
    estimator = cls()
    unknown = sorted(set(params) - set(estimator.get_params(deep=False)))
    if unknown:
        raise ModelFileError(
            f"{cls.__name__} in the model file has parameters this version does not know "
            f"({', '.join(map(str, unknown))}); it was written by another version of skcnn. "
            "Install the version that wrote it (skcnn.io.file_info(path) tells which) or save "
            "it again.")
    estimator.set_params(**params)
    fitted = entry.get("fitted")
    if fitted:
        if not isinstance(fitted, dict):
            raise ModelFileError(f"Entry {index} of the model file is damaged; save the model "
                                 "again.")
        for name, value in fitted.items():
            # Fitted attributes end in "_" (private ones start with it); nothing may
            # shadow a parameter, a method or a property of the class.
            if (not isinstance(name, str) or not name.isidentifier() or name in params
                    or name.startswith("__") or not (name.endswith("_") or name.startswith("_"))
                    or hasattr(cls, name)):
                raise ModelFileError(f"Entry {index} of the model file records a bad attribute "
                                     f"{name!r}; save the model again.")
            setattr(estimator, name, decode(value, f"{cls.__name__}.{name}"))
    return estimator


def _read_weights(archive, objects, limits):
    """``{member name: bytes}`` of the weights the entries name, each checked (its
    safetensors header against its bytes) before any tensor is made."""
    from ._limits import check_safetensors, read_member

    found = {}
    for index, entry in enumerate(objects):
        weights = entry.get("weights") if isinstance(entry, dict) else None
        if weights is None or not entry.get("fitted"):
            continue
        if not isinstance(weights, str) or not _WEIGHTS_NAME.fullmatch(weights):
            raise ModelFileError(f"Entry {index} of the model file names the weights "
                                 f"{weights!r}, not a member weights/<n>.safetensors; it is "
                                 "damaged. Save the model again.")
        if weights in found:
            continue
        try:
            info = archive.getinfo(weights)
        except KeyError:
            raise ModelFileError(f"The model file lacks its weights {weights!r}; it is "
                                 "damaged. Save the model again.") from None
        data = read_member(archive, info, limits.max_member_bytes, "max_member_bytes",
                           f"The weights {weights!r}")
        check_safetensors(data, f"The weights {weights!r}", limits)
        found[weights] = data
    return found


def _rebuild(entry, index, estimator, weights):
    """Rebuild the network of the fitted ``estimator`` of ``entry`` from ``weights``."""
    from ._networks import expects_network, is_estimator, rebuild

    if not isinstance(entry, dict) or "value" in entry or not entry.get("fitted"):
        return
    if not is_estimator(estimator):
        return
    name = entry.get("weights")
    if name is None:
        if expects_network(estimator):
            raise ModelFileError(f"The fitted {type(estimator).__name__} in the model file has "
                                 "no weights; the file is damaged. Save the model again.")
        return
    from safetensors.torch import load as load_tensors

    try:
        tensors = load_tensors(weights[name])
    except Exception as exc:  # safetensors' own errors: a damaged header or buffer
        raise ModelFileError(f"The weights {name!r} in the model file cannot be read "
                             f"({exc}); the file is damaged. Save the model again.") from None
    try:
        rebuild(estimator, tensors)
    except ModelFileError:
        raise
    except Exception as exc:  # recorded parameters or attributes that build no network
        raise ModelFileError(
            f"The fitted {type(estimator).__name__} (object {index}) in the model file cannot "
            f"be rebuilt from its recorded parameters and attributes ({type(exc).__name__}: "
            f"{exc}); the file is damaged or was edited. Save the model again.") from None


def _trust(trusted):
    """``(trust the whole file, what skops may trust)`` of ``load``'s ``trusted``."""
    if trusted is None or trusted is False:
        return False, ()
    if trusted is True:
        return True, True
    if isinstance(trusted, str) or not all(isinstance(t, str) for t in trusted):
        raise TypeError(f"trusted= must be None, False, True or a list of type names (str); "
                        f"got {trusted!r}.")
    return False, list(trusted)


def _locations(obj, restored):
    """``{id(skcnn object): prefix of its parameters in obj.set_params}``."""
    if any(obj is r for r in restored):
        return {id(obj): ""}
    found = {}
    try:
        deep = obj.get_params(deep=True)
    except Exception:  # pragma: no cover - a scikit-learn object without get_params
        deep = {}
    for name, value in deep.items():
        if any(value is r for r in restored):
            found.setdefault(id(value), f"{name}__")
    return found


def load(path, *, trusted=None, params=None, limits=None):
    """Read a model written by :func:`save`, on the best device present.

    A model file is data: nothing in it is executed, and nothing it holds
    chooses where the model reads, writes or runs. The classes it names must
    be skcnn estimators or installed skcnn plugins, the scikit-learn part is
    read by :mod:`skops.io` (types it does not trust are refused), the network
    weights are plain safetensors whose names and shapes must match the network
    rebuilt from the recorded parameters, and every size the file declares is
    checked against ``limits`` before anything is allocated. Parameters that
    would make the model read or write a place, run code, start processes or
    claim an accelerator (a feature ``cache`` folder, ``device``,
    ``callbacks``, ``num_workers``, a backbone's ``weights`` file, word-vector
    ``embeddings`` files, a ``tokenizer``) are reset to their defaults, with
    one :class:`~skcnn.exceptions.UntrustedParametersWarning` naming them,
    unless you pass them in ``params`` or trust the file. A text model's
    ``token_pattern`` that could take exponential time is refused. A model
    fitted on a GPU loads on a machine without one (on the CPU).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    trusted : None, bool or list of str, default=None
        None or False: the file is untrusted (see above). True: you trust the
        file: its side-effecting parameters and token pattern are kept and
        the scikit-learn part may hold any type (as ``skops.io.load(...,
        trusted=True)``, which is as unsafe as pickle). A list of type names:
        extra types to trust in the scikit-learn part (e.g. your own
        transformer ``"mypackage.MyScaler"`` in a Pipeline), as
        :func:`skops.io.load` takes them; the file stays untrusted otherwise.
        Only pass names you have checked; the error for an untrusted type
        lists them.
    params : dict, default=None
        Parameters to set on the loaded model before its network is rebuilt,
        as ``set_params`` of the loaded object takes them
        (``{"cache": "features-cache"}`` for a :class:`PretrainedFeatures`,
        ``{"features__cache": ...}`` for its step ``"features"`` in a
        Pipeline). They replace what the file holds, and a side-effecting
        parameter given here is not reset.
    limits : None, dict or skcnn.io.LoadLimits, default=None
        Limits on the file's sizes (zip members, uncompressed bytes, the
        manifest, arrays, string dtypes, JSON depth); None takes the defaults
        of :class:`skcnn.io.LoadLimits`, a dict changes some of them.

    Returns
    -------
    estimator
        The estimator, fitted if it was saved fitted.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    skcnn.exceptions.ModelFileError
        When the file is not a skcnn model file, was written in a newer
        format version, names a class that is not allowed, holds weights
        that do not fit the rebuilt network, or a token pattern that is
        refused; :class:`~skcnn.exceptions.ModelFileLimitError` when it is
        over a limit. Nothing is executed from it, and nothing is returned.

    Warns
    -----
    skcnn.exceptions.UntrustedParametersWarning
        When side-effecting parameters from the file were reset.
    """
    from ._limits import check_skops_zip, read_member, resolve_limits, using_limits
    from ._trust import reset_warning, screen_entry

    trust_all, skops_trusted = _trust(trusted)
    limits = resolve_limits(limits)
    if params is not None and not isinstance(params, dict):
        raise TypeError(f"params= must be a dict of parameter names and values; got "
                        f"{type(params).__name__}.")
    params = dict(params or {})
    with using_limits(limits):
        archive, manifest = _open(path, limits)
        with archive:
            _check_version(manifest, os.fspath(path))
            objects = manifest.get("objects")
            root = manifest.get("root")
            if not isinstance(objects, list) or not isinstance(root, dict):
                raise ModelFileError(f"{os.fspath(path)!r} lacks its objects or root; the file "
                                     "is damaged. Save the model again.")
            _check_classes(objects)
            resets = []
            for index, entry in enumerate(objects):
                screen_entry(entry, index, resets, trusted=trust_all)
            weights = _read_weights(archive, objects, limits)
            skops_data = None
            if "object" not in root:
                if root.get("skops") != _SKOPS:
                    raise ModelFileError("The model file's root is damaged; save the model "
                                         "again.")
                _require("skops", 'pip install "skcnn[persist]"')
                try:
                    info = archive.getinfo(_SKOPS)
                except KeyError:
                    raise ModelFileError(f"The model file lacks {_SKOPS}; it is damaged. Save "
                                         "the model again.") from None
                skops_data = read_member(archive, info, limits.max_skops_bytes,
                                         "max_skops_bytes", f"The member {_SKOPS!r}")
                check_skops_zip(skops_data, f"The member {_SKOPS!r}", limits)
            restored = [_restore(entry, i) for i, entry in enumerate(objects)]
            if skops_data is None:
                index = root["object"]
                if (not isinstance(index, int) or isinstance(index, bool)
                        or not 0 <= index < len(restored)):
                    raise ModelFileError("The model file's root is damaged; save the model "
                                         "again.")
                result = restored[index]
            else:
                from ._sklearn import load_skops, put_back

                result = put_back(load_skops(skops_data, trusted=skops_trusted), restored)
            where = _locations(result, restored)
            for reset in resets:
                prefix = where.get(id(restored[reset.index]))
                reset.path = (f"{prefix}{reset.path}" if prefix is not None
                              else f"{type(restored[reset.index]).__name__}.{reset.path}")
            if params:
                try:
                    result.set_params(**params)
                except ValueError as exc:
                    raise ValueError(f"params= does not fit the loaded "
                                     f"{type(result).__name__}: {exc}") from None
            for index, (entry, estimator) in enumerate(zip(objects, restored)):
                _rebuild(entry, index, estimator, weights)
    reset_warning(resets, set(params))
    return result


def file_info(path):
    """What a model file holds, read without building anything.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``format_version``, ``written_by`` (package versions), ``estimator``
        (the class of the saved object) and ``objects`` (the skcnn classes
        inside, with whether each was fitted).
    """
    archive, manifest = _open(path)
    archive.close()
    root = manifest.get("root", {})
    entries = manifest.get("objects", [])
    if not isinstance(root, dict) or not isinstance(entries, list):
        raise ModelFileError(f"The manifest of {os.fspath(path)!r} has no valid root or objects "
                             "(each must be a JSON object and a list); the file is damaged. "
                             "Save the model again.")
    objects = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        value = entry.get("value")
        name = entry.get("class") or (value.get("__object__") if isinstance(value, dict)
                                      else None)
        objects.append({"class": name if isinstance(name, str) else None,
                        "fitted": bool(entry.get("fitted"))})
    index = root.get("object")
    if "skops" in root:
        estimator = root.get("class") if isinstance(root.get("class"), str) else None
    elif isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(objects):
        estimator = objects[index]["class"]
    else:
        estimator = None
    return {"format_version": manifest.get("format_version"),
            "written_by": manifest.get("written_by"), "estimator": estimator,
            "objects": objects}
