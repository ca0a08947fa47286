"""benchmarks/gpu_check.py, the GPU check, runs as is: here in its quick mode on the CPU.

No GPU has run skcnn's CUDA paths in this suite, so whoever is lent one runs the script
unchanged; this test keeps it from rotting in the meantime. ``--cpu-rehearsal`` runs the
CUDA-only checks' code on the CPU (pickling into a process that sees no CUDA, the Dask
workers, XGBoost in ``skcnn.compare``, the throughput measurement), so a renamed API or
a broken path fails here, not on the first GPU.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the checks; runs none of them
    return module


@pytest.fixture(scope="module")
def quick_run():
    pytest.importorskip("skimage", reason="the lfw_subset data ship with scikit-image")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--cpu-rehearsal"],
                          capture_output=True, text=True, env=env, timeout=900)
    return done


def test_every_check_is_listed_once_and_none_fails(quick_run):
    module = _load_script()
    lines = quick_run.stdout.splitlines()
    assert quick_run.returncode == 0, quick_run.stdout + quick_run.stderr[-3000:]
    for name, _ in module.CHECKS:
        mine = [line for line in lines if re.match(rf"(PASS|FAIL|SKIP) {re.escape(name)}: ", line)]
        assert len(mine) == 1, (name, lines)
        if name in module.CUDA_ONLY and not torch.cuda.is_available():
            assert mine[0].startswith(f"SKIP {name}: no CUDA device (rehearsed on cpu: "), mine
        else:
            assert mine[0].startswith(f"PASS {name}: "), mine
    n = len(module.CHECKS)
    assert re.match(r"gpu_check: \d+ PASS, 0 FAIL, \d+ SKIP on ", lines[-1]), lines[-1]
    assert sum(int(k) for k in re.findall(r"(\d+) (?:PASS|SKIP)", lines[-1])) == n


def test_figures_say_what_was_decided_and_measured(quick_run):
    out = quick_run.stdout
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"resolve_device('auto') -> {device}" in out
    if device == "cpu":
        # the CPU computes in float32 unless told otherwise; a pickled CUDA model lands on it
        assert "resolve_precision('auto', 'cpu') -> float32" in out
        assert "restore_device('cuda:7') -> 'cpu'" in out
        # the same device before and after pickling: the same predictions and features
        assert "predictions agree 1.000" in out
        assert "max |feature difference| 0.00e+00" in out
        assert "worker 0 -> cpu, worker 1 -> cpu" in out
    assert re.search(r"accuracy \d\.\d{3}", out)
    assert re.search(r"\d images/s", out)


def test_unknown_check_names_are_refused():
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "device,no-such-check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unknown check(s) no-such-check" in done.stderr and "dask-gpu-per-worker" in done.stderr
