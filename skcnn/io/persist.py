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


def _open(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}. Check the path; models are written "
                                "with skcnn.save(estimator, path).")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path!r} is not a skcnn model file (not a zip archive written by skcnn.save). A "
            "pickle or joblib file is loaded with joblib.load, and only from a source you trust.")
    archive = zipfile.ZipFile(path)
    try:
        manifest = json.loads(archive.read(_MANIFEST).decode("utf-8"))
    except KeyError:
        archive.close()
        raise ModelFileError(f"{path!r} is a zip archive but not a skcnn model file (it has no "
                             f"{_MANIFEST}). Save the model with skcnn.save.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        archive.close()
        raise ModelFileError(f"The manifest of {path!r} is not valid JSON ({exc}); the file is "
                             "damaged. Save the model again.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        archive.close()
        raise ModelFileError(f"{path!r} is not a skcnn model file (format "
                             f"{manifest.get('format') if isinstance(manifest, dict) else None!r}"
                             f", expected {FORMAT_NAME!r}).")
    return archive, manifest


def _check_version(manifest, path):
    from .. import __version__

    found = manifest.get("format_version")
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise ModelFileError(f"{path!r} has no valid format version ({found!r}); the file is "
                             "damaged. Save the model again.")
    if found > FORMAT_VERSION:
        writer = (manifest.get("written_by") or {}).get("skcnn", "a newer version")
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


def _restore(entry, index, archive):
    from ._classes import allowed_class
    from ._json import decode
    from ._networks import expects_network, rebuild

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
            f"({', '.join(unknown)}); it was written by another version of skcnn. Install the "
            "version that wrote it (skcnn.io.file_info(path) tells which) or save it again.")
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
        weights = entry.get("weights")
        tensors = None
        if weights is not None:
            from safetensors.torch import load as load_tensors

            try:
                tensors = load_tensors(archive.read(weights))
            except KeyError:
                raise ModelFileError(f"The model file lacks its weights {weights!r}; it is "
                                     "damaged. Save the model again.") from None
            except Exception as exc:  # safetensors' own errors: a damaged header or buffer
                raise ModelFileError(f"The weights {weights!r} in the model file cannot be read "
                                     f"({exc}); the file is damaged. Save the model again.") \
                    from None
            rebuild(estimator, tensors)
        elif expects_network(estimator):
            raise ModelFileError(f"The fitted {cls.__name__} in the model file has no weights; "
                                 "the file is damaged. Save the model again.")
    return estimator


def load(path, *, trusted=None):
    """Read a model written by :func:`save`, on the best device present.

    Nothing in the file is executed: the classes it names must be skcnn
    estimators or installed skcnn plugins, the scikit-learn part is read by
    :mod:`skops.io` (types it does not trust are refused), and the network
    weights are plain safetensors whose names and shapes must match the
    network rebuilt from the recorded parameters. A model fitted on a GPU
    loads on a machine without one (on the CPU).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    trusted : list of str, default=None
        Extra type names to trust in the scikit-learn part (e.g. your own
        transformer ``"mypackage.MyScaler"`` in a Pipeline), as
        :func:`skops.io.load` takes them. Only pass names you have checked;
        the error for an untrusted type lists them.

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
        format version, names a class that is not allowed, or holds weights
        that do not fit the rebuilt network. Nothing is executed from it.
    """
    archive, manifest = _open(path)
    with archive:
        _check_version(manifest, os.fspath(path))
        objects = manifest.get("objects")
        root = manifest.get("root")
        if not isinstance(objects, list) or not isinstance(root, dict):
            raise ModelFileError(f"{os.fspath(path)!r} lacks its objects or root; the file is "
                                 "damaged. Save the model again.")
        _check_classes(objects)
        restored = [_restore(entry, i, archive) for i, entry in enumerate(objects)]
        if "object" in root:
            index = root["object"]
            if not isinstance(index, int) or not 0 <= index < len(restored):
                raise ModelFileError("The model file's root is damaged; save the model again.")
            return restored[index]
        if root.get("skops") != _SKOPS:
            raise ModelFileError("The model file's root is damaged; save the model again.")
        _require("skops", 'pip install "skcnn[persist]"')
        from ._sklearn import load_skops, put_back

        try:
            data = archive.read(_SKOPS)
        except KeyError:
            raise ModelFileError(f"The model file lacks {_SKOPS}; it is damaged. Save the model "
                                 "again.") from None
        return put_back(load_skops(data, trusted=trusted or ()), restored)


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
    with archive:
        root = manifest.get("root") or {}
        objects = [{"class": o.get("class") or (o.get("value") or {}).get("__object__"),
                    "fitted": bool(o.get("fitted"))}
                   for o in manifest.get("objects") or [] if isinstance(o, dict)]
        estimator = root.get("class") if "skops" in root else (
            objects[root["object"]]["class"] if isinstance(root.get("object"), int)
            and 0 <= root["object"] < len(objects) else None)
        return {"format_version": manifest.get("format_version"),
                "written_by": manifest.get("written_by"), "estimator": estimator,
                "objects": objects}
