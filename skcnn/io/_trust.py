"""Which parameters a model file may choose, and what :func:`skcnn.load` does with the rest.

A parameter is one of

* **data**: it only shapes the computation (sizes, rates, seeds, plugins by
  name); taken from the file as it is;
* **side-effecting**: it makes the model read or write a place, run code or
  start processes, or claim an accelerator (a cache folder, a device,
  callbacks, worker processes, a weights or word-vector file, a tokenizer
  function). Unless the caller consents (``trusted=True`` or ``params=``), a
  value other than the default (or one of the values listed as harmless) is
  reset to the default, and one :class:`~skcnn.exceptions.UntrustedParametersWarning`
  names what was reset;
* **checked**: code-like data that is checked before use (a regular
  expression may not be able to take exponential time).

:data:`PARAMETERS` is the one place that says it, per class of
:func:`skcnn.io._classes.allowed_classes`; ``tests/test_trust_boundary_load.py``
checks that every ``__init__`` parameter of every skcnn class is listed, so a
new parameter cannot be forgotten. A class it does not list (a third-party
plugin) has its parameters named in :data:`HARMLESS` and any path value reset.
"""

import inspect
import re
import warnings

from ..exceptions import ModelFileError, UntrustedParametersWarning

__all__ = ["PARAMETERS", "HARMLESS", "classify", "screen_entry", "regex_problem",
           "Reset", "reset_warning"]

_SCRATCH_DATA = ("architecture", "filters", "kernel_size", "pooling", "pool_size",
                 "hidden_units", "activation", "dropout", "batch_norm", "padding", "optimizer",
                 "learning_rate", "lr_schedule", "weight_decay", "momentum", "batch_size",
                 "max_epochs", "early_stopping", "validation_fraction", "n_iter_no_change",
                 "tol", "augment", "tta", "warm_start", "input_shape", "data_format",
                 "random_state", "verbose", "runtime")
_FINETUNE_DATA = ("backbone", "input_size", "head_hidden_units", "dropout", "unfreeze",
                  "freeze_epochs", "backbone_lr_mult", "layer_decay", "bn", "optimizer",
                  "learning_rate", "lr_schedule", "weight_decay", "momentum", "batch_size",
                  "max_epochs", "early_stopping", "validation_fraction", "n_iter_no_change",
                  "tol", "augment", "tta", "views", "warm_start", "precision",
                  "random_state", "verbose", "runtime")
_CLASSIFIER = ("class_weight", "threshold")
_REGRESSOR = ("loss", "standardize_target")

#: ``{class name: {"data": (...), "side_effects": (...), "checked": (...)}}`` for every
#: class a model file may name (looked up along the class's MRO).
PARAMETERS = {
    "CNNClassifier": {"data": _SCRATCH_DATA + _CLASSIFIER,
                      "side_effects": ("callbacks", "device")},
    "CNNRegressor": {"data": _SCRATCH_DATA + _REGRESSOR,
                     "side_effects": ("callbacks", "device")},
    "FineTunedClassifier": {"data": _FINETUNE_DATA + _CLASSIFIER + ("label_smoothing",),
                            "side_effects": ("callbacks", "device", "num_workers")},
    "FineTunedRegressor": {"data": _FINETUNE_DATA + _REGRESSOR,
                           "side_effects": ("callbacks", "device", "num_workers")},
    "TextCNNClassifier": {
        "data": ("level", "lowercase", "min_df", "max_vocabulary", "max_length",
                 "embedding_dim", "freeze_embeddings", "multichannel", "architecture",
                 "kernel_sizes", "n_filters", "dropout", "optimizer", "learning_rate",
                 "weight_decay", "momentum", "batch_size", "max_epochs", "early_stopping",
                 "validation_fraction", "n_iter_no_change", "tol", "class_weight",
                 "threshold", "warm_start", "random_state", "verbose", "runtime"),
        # embeddings: a path of word vectors read by fit; tokenizer: a function.
        "side_effects": ("device", "embeddings", "tokenizer"),
        "checked": ("token_pattern",)},
    "PretrainedFeatures": {"data": ("backbone", "layer", "pooling", "input_size",
                                    "batch_size", "precision", "channels_last", "verbose",
                                    "runtime"),
                           "side_effects": ("device", "num_workers", "cache")},
    "ImageLoader": {"data": ("size", "mode")},
    # Backbones: weights= is a weights name or the path of a state-dict file.
    "TorchvisionBackbone": {"data": ("model_name",), "side_effects": ("weights",)},
    "TimmBackbone": {"data": ("model_name",), "side_effects": ("weights",)},
    "EfficientNetLite0": {"side_effects": ("weights",)},
    "ConvNet": {"data": ("filters", "kernel_size", "pooling", "pool_size", "hidden_units",
                         "activation", "dropout", "batch_norm", "padding")},
    "LeNet5": {"data": ("activation", "pad")},
    "SimpleCNN": {"data": ("depth", "width", "kernel_size", "activation", "batch_norm",
                           "dropout")},
    "KimCNN": {"data": ("kernel_sizes", "n_filters", "dropout")},
    "CharCNN": {"data": ("n_filters", "dropout")},
}


def _is_cpu(value):
    return value in ("cpu", "auto") or value == {"__device__": "cpu"}


def _is_pair(value):  # embeddings=(words, matrix): data, not a file
    return (isinstance(value, dict) and isinstance(value.get("__tuple__"), list)
            and len(value["__tuple__"]) == 2 and isinstance(value["__tuple__"][0], list))


#: ``{side-effecting parameter: whether a stored (JSON) value is harmless}`` besides its
#: default, which is always kept. Also what a class outside :data:`PARAMETERS` resets.
HARMLESS = {
    "device": _is_cpu,                          # the CPU claims no accelerator
    "num_workers": lambda v: v == 0,            # no worker processes
    "cache": lambda v: v is False,              # no cache
    "callbacks": lambda v: False,
    "weights": lambda v: False,
    "embeddings": _is_pair,
    "tokenizer": lambda v: False,
}


def classify(cls):
    """``{"data": set, "side_effects": set, "checked": set}`` of ``cls``' parameters, or
    None when :data:`PARAMETERS` does not list the class (nor a base of it)."""
    for base in cls.__mro__:
        if base.__name__ in PARAMETERS and base.__module__.startswith("skcnn."):
            table = PARAMETERS[base.__name__]
            return {kind: set(table.get(kind, ())) for kind in ("data", "side_effects",
                                                                  "checked")}
    return None


class Reset:
    """A side-effecting parameter the file set and load reset: where it is, the value the
    file gave and the default it got."""

    def __init__(self, owner, path, name, stored, default):
        self.owner, self.path, self.name = owner, path, name
        self.stored, self.default = stored, default
        self.index = None

    def describe(self):
        from ._json import decode

        try:
            stored = decode(self.stored, self.name)
        except Exception:  # shown only; the value is not used
            stored = self.stored
        return f"{self.owner}.{self.name}={stored!r} (now {self.default!r})"


def _defaults(cls):
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _looks_like_path(value):
    return isinstance(value, dict) and set(value) == {"__path__"}


def _screen_params(cls, params, where, path, resets):
    """Reset, in the JSON ``params`` of ``cls``, what a file may not choose (appended to
    ``resets``); recurse into the plugins they hold."""
    from ._json import encode

    kinds = classify(cls)
    defaults = _defaults(cls)
    for name in list(params):
        value = params[name]
        if kinds is None:
            side = name in HARMLESS or _looks_like_path(value)
        else:
            side = name in kinds["side_effects"]
        if side and name in defaults:
            default_json = encode(defaults[name], name)
            harmless = HARMLESS.get(name, lambda v: False)
            if value != default_json and not harmless(value):
                resets.append(Reset(where, f"{path}{name}", name, value, defaults[name]))
                params[name] = default_json
                continue
        _screen_nested(value, f"{where}.{name}", f"{path}{name}__", resets)


def _screen_nested(value, where, path, resets):
    from ._classes import allowed_class

    if isinstance(value, list):
        for index, item in enumerate(value):
            _screen_nested(item, f"{where}[{index}]", None, resets)
    elif isinstance(value, dict):
        if "__object__" in value and isinstance(value.get("params"), dict):
            cls = allowed_class(value["__object__"], where)
            _screen_params(cls, value["params"], where, path or f"{where}.", resets)
            return
        for key, item in value.items():
            _screen_nested(item, f"{where}.{key}", None, resets)


def screen_entry(entry, index, resets, *, trusted):
    """Check an object entry of the manifest (in place): reset side-effecting parameters
    unless ``trusted``, refuse an unsafe token pattern unless ``trusted``. The resets are
    appended to ``resets`` with ``index`` set to the entry's."""
    start = len(resets)
    _screen_entry(entry, index, resets, trusted)
    for reset in resets[start:]:
        reset.index = index


def _screen_entry(entry, index, resets, trusted):
    from ._classes import allowed_class

    if "value" in entry:  # a plugin or config held by a scikit-learn object
        if not trusted:
            _screen_nested(entry["value"], f"object {index}", None, resets)
        return
    cls = allowed_class(entry.get("class"), f"object {index}")
    params = entry.get("params")
    if not isinstance(params, dict):
        return
    if not trusted:
        _screen_params(cls, params, cls.__name__, "", resets)
        if isinstance(entry.get("fitted"), dict):
            _screen_nested(entry["fitted"], cls.__name__, None, resets)
        kinds = classify(cls) or {"checked": set()}
        if "token_pattern" in kinds["checked"]:
            _check_patterns(cls, params, entry.get("fitted"))


def _check_patterns(cls, params, fitted):
    patterns = [("token_pattern", params["token_pattern"])] if "token_pattern" in params else []
    encoder = fitted.get("encoder_") if isinstance(fitted, dict) else None
    if isinstance(encoder, dict) and "token_pattern" in encoder:
        patterns.append(("the fitted tokenizer's token_pattern", encoder["token_pattern"]))
    for what, pattern in patterns:
        problem = regex_problem(pattern)
        if problem:
            raise ModelFileError(
                f"The {cls.__name__} in the model file has {what}={pattern!r}, which "
                f"{problem}; a regular expression from a file is only used when it cannot "
                "take exponential time on a text, so the file was refused. If you trust the "
                "file (and the pattern), load it with skcnn.load(path, trusted=True).")


# --------------------------------------------------------------------------- regexes

#: Longest token pattern taken from a file.
MAX_PATTERN_CHARS = 1_000

try:  # Python >= 3.11
    from re import _parser as _sre_parse
    from re._constants import (
        ASSERT,
        ASSERT_NOT,
        BRANCH,
        GROUPREF,
        GROUPREF_EXISTS,
        MAX_REPEAT,
        MIN_REPEAT,
        SUBPATTERN,
    )
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse
    from sre_constants import (
        ASSERT,
        ASSERT_NOT,
        BRANCH,
        GROUPREF,
        GROUPREF_EXISTS,
        MAX_REPEAT,
        MIN_REPEAT,
        SUBPATTERN,
    )

_REPEATS = {MAX_REPEAT, MIN_REPEAT}
try:
    from re._constants import POSSESSIVE_REPEAT
    _REPEATS.add(POSSESSIVE_REPEAT)
except ImportError:  # pragma: no cover - Python < 3.11
    pass


def _items(subpattern):
    """``(op, argument)`` pairs of a parsed pattern, children flattened in."""
    for op, av in subpattern:
        yield op, av
        for child in _children(op, av):
            yield from _items(child)


def _children(op, av):
    if op in _REPEATS:
        return [av[2]]
    if op == SUBPATTERN:
        return [av[-1]]
    if op == BRANCH:
        return list(av[1])
    if op in (ASSERT, ASSERT_NOT):
        return [av[1]]
    if op == GROUPREF_EXISTS:
        return [p for p in av[1:] if p is not None]
    if str(op) == "ATOMIC_GROUP":
        return [av]
    return []


def regex_problem(pattern):
    """Why ``pattern`` (from a file) could backtrack catastrophically, or None.

    Allowed: skcnn's default pattern and patterns in which no repeated part
    (``*``, ``+``, ``{m,n}`` with n > 1) holds another repeat or an alternation
    of several characters, and that have no backreference: these match in
    polynomial time. ``(a+)+$``, ``(a|aa)*$`` and ``(.*)\\1`` are refused.
    """
    from ..text.tokenize import DEFAULT_TOKEN_PATTERN

    if pattern == DEFAULT_TOKEN_PATTERN:
        return None
    if not isinstance(pattern, str):
        return f"is a {type(pattern).__name__}, not a string"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is longer than {MAX_PATTERN_CHARS} characters"
    try:
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError) as exc:
        return f"is not a valid regular expression ({exc})"
    for op, av in _items(parsed):
        if op in (GROUPREF, GROUPREF_EXISTS):
            return "uses a backreference"
        if op in _REPEATS and av[1] > 1:
            for inner_op, inner_av in _items(av[2]):
                if inner_op in _REPEATS and inner_av[1] > 1:
                    return ("repeats a part that is itself repeated (a nested quantifier, "
                            "as in (a+)+)")
                if inner_op == BRANCH:
                    return "repeats an alternation (as in (a|ab)*)"
    return None


# --------------------------------------------------------------------------- the warning

def reset_warning(resets, kept):
    """Issue one :class:`UntrustedParametersWarning` for ``resets`` not in ``kept`` (the
    names given to ``params=``)."""
    shown = [r for r in resets if r.path not in kept]
    if not shown:
        return
    settable = [r.path for r in shown if "." not in r.path]
    how = (f"skcnn.load(path, params={{{settable[0]!r}: ...}}) with the value you choose, or "
           if settable else "")
    warnings.warn(
        f"skcnn.load reset {len(shown)} parameter(s) that would let the model file choose "
        "where the model reads, writes or runs to their defaults: "
        f"{'; '.join(r.describe() for r in shown)}. A model file is data: such values are "
        f"only taken from you. To keep one, pass it yourself ({how}load a file you trust "
        "with skcnn.load(path, trusted=True)).",
        UntrustedParametersWarning, stacklevel=3)
