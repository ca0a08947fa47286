"""What to do about the package checks: the REQUIRED and RECOMMENDATION actions."""

from ._packages import PROBLEMS, _canonical, _status

__all__ = ["apply_torch", "required_actions", "recommended_actions", "action"]


def apply_torch(packages, torch_info):
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


def action(message, command):
    return dict(message=message, command=command)


def required_actions(packages):
    """The REQUIRED section: a list of ``{"message", "command"}``."""
    actions = []
    by_status = {s: [e for e in packages if e["required"] and e["status"] == s] for s in PROBLEMS}
    if by_status["missing"]:
        names = [e["name"] for e in by_status["missing"]]
        actions.append(action(f"Please install: {', '.join(names)}", "pip install " + " ".join(names)))
    if by_status["outdated"]:
        names = [e["name"] for e in by_status["outdated"]]
        actions.append(action(f"Please upgrade: {', '.join(names)}",
                               "pip install --upgrade " + " ".join(names)))
    for entry in by_status["incompatible"]:
        actions.append(action(f"Please install a version of {entry['name']} with {entry['specifier']}",
                               f'pip install "{entry["name"]}{entry["specifier"]}"'))
    for entry in (e for e in by_status["broken"] if not e.get("needs")):
        actions.append(action(f"Installed but cannot be imported: {entry['name']} ({entry['detail']})",
                               f"pip install --force-reinstall {entry['name']}"))
    return actions


def recommended_actions(packages, sizes):
    """The RECOMMENDATION section: a list of ``{"message", "command"}``."""
    actions = []
    optional = [e for e in packages if not e["required"] and e["status"] in PROBLEMS]
    missing = {}
    for entry in (e for e in optional if e["status"] == "missing"):
        missing.setdefault(_smallest_extra(entry, sizes), []).append(entry["name"])
    for extra, names in missing.items():
        actions.append(action(f"Missing for the {extra} extra: {', '.join(names)}",
                               f'pip install "skcnn[{extra}]"'))
    outdated = [e["name"] for e in optional if e["status"] in ("outdated", "broken")]
    if outdated:
        actions.append(action(f"Too old: {', '.join(outdated)}",
                               "pip install --upgrade " + " ".join(outdated)))
    for entry in (e for e in optional if e["status"] == "incompatible"):
        actions.append(action(f"{entry['name']} does not satisfy {entry['specifier']}",
                               f'pip install "{entry["name"]}{entry["specifier"]}"'))
    return actions
