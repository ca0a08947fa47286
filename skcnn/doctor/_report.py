"""The report: every check run, its verdict, and its text or JSON form."""

import json
import platform
import sys

from . import _machine, _packages
from ._advice import action, apply_torch, recommended_actions, required_actions
from ._packages import PROBLEMS, _apply_imports, _canonical

__all__ = ["diagnose", "format_report", "run", "READY", "RULE"]

_TORCH_INSTALL_HINT = ("For a CUDA or ROCm build of torch, take the pip command from "
                       "https://pytorch.org/get-started/locally/")
READY = "All right, you are ready to go!"
RULE = "====="


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
    torch_info = _machine.probe_torch()
    packages = _packages.check_packages(dist)
    report = dict(python=dict(version=platform.python_version(), executable=sys.executable,
                              platform=platform.platform()),
                  skcnn=_packages.installed_version(dist))
    notes = []
    if packages is None:
        required = [action(f"The package metadata of {dist!r} was not found: install the package",
                            "pip install -e .  # in a source checkout")]
        packages, recommended = [], []
    else:
        apply_torch(packages, torch_info)
        _apply_imports(packages)
        groups = _packages.declared_requirements(dist) or {}
        sizes = {extra: len(reqs) for extra, reqs in groups.items() if extra is not None}
        required = required_actions(packages)
        recommended = recommended_actions(packages, sizes)
        if any(_canonical(e["name"]) == "torch" and e["required"] and e["status"] in PROBLEMS
               for e in packages):
            notes.append(_TORCH_INSTALL_HINT)
    gpus = _machine.check_gpus()
    report.update(packages=packages, required=required, recommended=recommended, notes=notes,
                  torch=torch_info, gpus=gpus, bfloat16=_machine.check_bfloat16(gpus),
                  threads=_machine.check_threads(), backbones=_machine.check_backbones(),
                  jupyter=_machine.check_jupyter())
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
