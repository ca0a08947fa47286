"""skcnn.utils decides device, precision and CPUs once; skcnn doctor reports the same decisions."""

import pytest
import torch

from skcnn import doctor
from skcnn.utils import _hardware as hardware
from skcnn.utils import bfloat16_support, resolve_precision, usable_cpus


@pytest.fixture
def fake_gpu(monkeypatch):
    """One CUDA device whose compute capability the test chooses."""
    def with_capability(major, minor):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (major, minor))
        # What the emulation-counting default of torch says for every GPU.
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    return with_capability


@pytest.mark.parametrize("capability, expected", [
    ((7, 5), torch.float16),   # T4: bfloat16 only emulated
    ((7, 0), torch.float16),   # V100
    ((8, 0), torch.bfloat16),  # A100
    ((9, 0), torch.bfloat16),  # H100/H200
])
def test_auto_precision_on_cuda_follows_native_bfloat16(fake_gpu, capability, expected):
    fake_gpu(*capability)
    assert resolve_precision("auto", torch.device("cuda")) == expected
    assert resolve_precision("auto", "cuda:0") == expected
    assert bfloat16_support("cuda")["fast"] is (expected == torch.bfloat16)


def test_doctor_reports_what_the_estimators_decide(fake_gpu):
    """doctor's bfloat16 verdict per GPU is bfloat16_support's, the one resolve_precision uses."""
    fake_gpu(7, 5)
    gpus = dict(devices=[dict(index=0, name="Tesla T4", memory_gib=15.0, capability="7.5")])
    reported = doctor.check_bfloat16(gpus)["gpus"][0]
    assert reported["fast"] is False and "7.5 < 8.0" in reported["how"]
    assert resolve_precision("auto", "cuda") == torch.float16


def test_explicit_precision_and_the_cpu():
    assert resolve_precision("auto", "cpu") == torch.float32
    assert resolve_precision("bfloat16", "cpu") == torch.bfloat16
    assert resolve_precision("float16", "cuda") == torch.float16


def test_usable_cpus_honours_the_container_quota(monkeypatch):
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(hardware, "_affinity", lambda: 16)
    monkeypatch.setattr(hardware, "cgroup_cpu_quota", lambda: 2.5)
    assert usable_cpus() == 2
    assert doctor.check_threads()["usable_cpus"] == 2
    monkeypatch.setattr(hardware, "cgroup_cpu_quota", lambda: None)
    assert usable_cpus() == 16
    assert hardware.cpu_model_threads() == 8 and hardware.cpu_model_threads(n_jobs=4) == 1


def test_worker_counts_leave_a_cpu_for_the_network(monkeypatch):
    monkeypatch.setattr(hardware, "usable_cpus", lambda: 3)
    assert hardware.default_num_workers(10_000, 32) == 2
    assert hardware.default_num_workers(64, 32) == 0  # too little work to pay for processes


@pytest.mark.parametrize("device, phrase", [
    ("gpu", "not a device torch knows"),
    ("cuda:7", "CUDA is not available"),
])
def test_unknown_or_missing_devices_are_named(device, phrase):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.raises(ValueError, match=phrase):
        hardware.resolve_device(device)
