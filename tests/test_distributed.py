"""skcnn on Dask: grid search and sharded feature extraction on a real loopback cluster.

One ``LocalCluster`` (2 worker processes, 1 thread each, 127.0.0.1 only) is
shared by the module and always shut down. The local runs compared with the
cluster's use the workers' torch thread count (``worker_threads``), so results
can be compared bit for bit: float32 convolutions round differently with
other thread counts (~1e-5).
"""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import joblib
import numpy as np
import pytest
import torch
from PIL import Image
from skimage.data import lfw_subset
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skcnn import CNNClassifier, PretrainedFeatures
from skcnn.extract import extract_features, load_features
from skcnn.utils import assigned_cuda_index, limit_torch_threads, restore_large_allocations, thread_share

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.xdist_group("dask")

SETTINGS = dict(input_size=64, batch_size=16)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    try:
        with distributed.Client(cluster) as dask_client:
            yield dask_client
    finally:
        cluster.close()


@contextmanager
def torch_threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def worker_threads(client):
    """The torch threads each worker uses (its share of the cores), the same on both."""
    threads = client.gather([client.submit(limit_torch_threads, pure=False, workers=[a])
                             for a in client.nthreads()])
    assert len(set(threads)) == 1
    return threads[0]


@pytest.fixture(scope="module")
def face_files(tmp_path_factory):
    """scikit-image's 200 LFW crops (100 faces, 100 non-faces) as PNG files."""
    folder = tmp_path_factory.mktemp("faces")
    paths = []
    for i, image in enumerate((lfw_subset() * 255).astype(np.uint8)):
        path = folder / f"{i:03d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def reference(face_files, worker_threads):
    """PretrainedFeatures.transform of all the files, in this process."""
    with torch_threads(worker_threads):
        return PretrainedFeatures(verbose=0, **SETTINGS).fit(face_files).transform(face_files)


# --------------------------------------------------------------------------- grid search


def test_grid_search_on_cluster_equals_local(client, worker_threads, digits8):
    X, y = digits8[0][:240], digits8[1][:240]
    grid = {"filters": [(4,), (8,)], "learning_rate": [0.01, 0.03]}
    estimator = CNNClassifier(kernel_size=3, hidden_units=(16,), max_epochs=4, batch_size=32,
                              verbose=0, random_state=0)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    with torch_threads(worker_threads):
        local = GridSearchCV(estimator, grid, cv=cv, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(estimator, grid, cv=cv, n_jobs=-1).fit(X, y)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    for k in range(3):
        np.testing.assert_array_equal(remote.cv_results_[f"split{k}_test_score"],
                                      local.cv_results_[f"split{k}_test_score"])
    assert remote.best_params_ == local.best_params_
    assert local.best_score_ > 0.5
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))


def test_text_grid_search_on_cluster_equals_local(client, worker_threads, movie_reviews_home):
    from skcnn import TextCNNClassifier
    from skcnn.datasets import load_movie_reviews

    texts, labels = load_movie_reviews(data_home=movie_reviews_home, return_X_y=True)
    texts, labels = texts[::40], labels[::40]  # 267 sentences, both classes
    estimator = TextCNNClassifier(embedding_dim=8, n_filters=4, max_epochs=2, batch_size=32,
                                  verbose=0, random_state=0)
    grid = {"kernel_sizes": [(2,), (2, 3)]}
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    with torch_threads(worker_threads):
        local = GridSearchCV(estimator, grid, cv=cv, n_jobs=1).fit(texts, labels)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(estimator, grid, cv=cv, n_jobs=-1).fit(texts, labels)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(remote.predict_proba(texts), local.predict_proba(texts))


def test_fitted_estimator_travels_between_processes(client, worker_threads, digits8):
    X, y = digits8[0][:200], digits8[1][:200]
    estimator = CNNClassifier(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=2,
                              verbose=0, random_state=0)
    fitted_there = client.submit(estimator.fit, X, y, pure=False).result()
    with torch_threads(worker_threads):
        fitted_here = CNNClassifier(**estimator.get_params()).fit(X, y)
    assert fitted_there.device_ == "cpu"
    np.testing.assert_array_equal(fitted_there.predict_proba(X), fitted_here.predict_proba(X))
    # ... and back: a model fitted here predicts the same on a worker.
    there = client.submit(fitted_here.predict_proba, X, pure=False).result()
    np.testing.assert_array_equal(there, fitted_here.predict_proba(X))


def test_each_worker_takes_its_share_of_the_cores(client, worker_threads):
    cores = client.run(lambda: len(os.sched_getaffinity(0)))
    slots = sum(client.nthreads().values())  # all on this host
    assert [worker_threads] * 2 == [thread_share(cores[a], slots) for a in client.nthreads()]
    # Dask starts workers with OMP_NUM_THREADS=1; on a bigger host the share is more.
    # (Asked in a task: OpenMP thread counts belong to the thread that runs the tasks.)
    in_tasks = client.gather([client.submit(torch.get_num_threads, pure=False, workers=[a])
                              for a in client.nthreads()])
    assert in_tasks == [worker_threads] * 2


def test_starting_a_cluster_does_not_cap_this_process(client):
    # LocalCluster leaves OMP_NUM_THREADS=1 in the process that started it; torch read
    # the variable at import, and skcnn must not apply the late change.
    assert os.environ.get("OMP_NUM_THREADS") == "1"
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert limit_torch_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_workers_serve_large_tensors_from_the_heap(client, monkeypatch):
    # Dask's MALLOC_TRIM_THRESHOLD_ turns off glibc's adaptive mmap threshold (a CNN
    # forward pass ran ~30% slower); skcnn raises the threshold in its workers.
    on_workers = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    if not all(on_workers.values()):
        pytest.skip("this Dask does not set MALLOC_TRIM_THRESHOLD_ for its workers")
    applied = client.gather([client.submit(restore_large_allocations, pure=False, workers=[a])
                             for a in client.nthreads()])
    assert applied == [True, True]
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert restore_large_allocations() is False  # nothing to undo outside Dask
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert restore_large_allocations() is False  # a threshold you set is kept


def test_thread_share_divides_the_cores():
    assert thread_share(16, 2) == 8
    assert thread_share(2, 2) == 1
    assert thread_share(2, 4) == 1  # never below one thread
    assert thread_share(7, 0) == 7


# --------------------------------------------------------------------------- one GPU per worker


def _fake_gpus(monkeypatch, free_gib):
    """A host with len(free_gib) GPUs; free_gib=None: NVML is not available."""
    import skcnn.utils._hardware as hardware

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(free_gib or [0] * 4))
    monkeypatch.setattr(hardware, "_free_gib_per_gpu", lambda n: free_gib)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SKCNN_CUDA_DEVICE", raising=False)


def test_auto_device_spreads_over_gpus(monkeypatch):
    _fake_gpus(monkeypatch, [10, 70, 30, 70])
    # The GPU with the most free memory; between equals, the one this pid starts at.
    monkeypatch.setattr(os, "getpid", lambda: 3)
    assert assigned_cuda_index() == 3
    monkeypatch.setattr(os, "getpid", lambda: 5)
    assert assigned_cuda_index() == 1
    # Workers started together (all GPUs empty, or no NVML) spread by pid, not all on GPU 0.
    for free in ([80, 80, 80, 80], None):
        _fake_gpus(monkeypatch, free)
        picks = set()
        for pid in range(100, 104):
            monkeypatch.setattr(os, "getpid", lambda pid=pid: pid)
            picks.add(assigned_cuda_index())
        assert picks == {0, 1, 2, 3}
    # A job that sees several GPUs through CUDA_VISIBLE_DEVICES (SLURM --gres=gpu:4) too.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    monkeypatch.setattr(os, "getpid", lambda: 102)
    assert assigned_cuda_index() == 2


def test_auto_device_follows_the_assignment(monkeypatch):
    import skcnn.utils._dask as dask_utils
    from skcnn.utils import resolve_device

    _fake_gpus(monkeypatch, [80, 80, 80, 80])
    worker = type("W", (), {"name": 6})()
    monkeypatch.setattr(dask_utils, "current_dask_worker", lambda: worker)
    # A LocalCluster worker named 6 on a 4-GPU host.
    assert assigned_cuda_index() == 2
    # dask-cuda set CUDA_VISIBLE_DEVICES with this worker's GPU first.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,0,1")
    assert assigned_cuda_index() == 0
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("SKCNN_CUDA_DEVICE", "1")
    assert assigned_cuda_index() == 1
    monkeypatch.setenv("SKCNN_CUDA_DEVICE", "7")
    with pytest.raises(ValueError, match="SKCNN_CUDA_DEVICE='7' is not a GPU index.*0..3"):
        assigned_cuda_index()
    # One visible GPU is the one.
    monkeypatch.delenv("SKCNN_CUDA_DEVICE")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert assigned_cuda_index() == 0


def test_nvml_is_not_asked_when_cuda_renumbers_the_gpus(monkeypatch):
    import skcnn.utils._hardware as hardware

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert hardware._free_gib_per_gpu(2) is None


# --------------------------------------------------------------------------- extraction


def test_extraction_on_cluster_equals_transform(client, face_files, reference, tmp_path):
    result = extract_features(face_files, output=tmp_path / "out", client=client,
                              shard_size=32, verbose=0, **SETTINGS)
    assert result.n_shards == 7 and result.n_computed_shards == 7
    features = result.load()
    assert features.dtype == np.float32 and features.shape == reference.shape
    np.testing.assert_array_equal(features, reference)
    # Both workers took shards, each with its own single copy of the network.
    records = [json.loads((tmp_path / "out" / "shards" / f"{i:05d}.json").read_text())
               for i in range(result.n_shards)]
    assert len({r["pid"] for r in records}) == 2
    assert sum(r["n_images"] for r in records) == len(face_files)
    np.testing.assert_array_equal(load_features(tmp_path / "out").load(), reference)


def test_killed_worker_then_rerun_gives_identical_output(client, face_files, reference,
                                                         tmp_path):
    output = tmp_path / "out"
    outcome = {}

    def run():
        try:
            outcome["result"] = extract_features(face_files, output=output, client=client,
                                                 shard_size=16, verbose=0, **SETTINGS)
        except Exception as exc:  # a lost worker may fail the run: the rerun must finish it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while not list((output / "shards").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    n_done_at_kill = len(list((output / "shards").glob("*.json")))
    victim_pid = sorted(client.run(os.getpid).values())[0]
    os.kill(victim_pid, signal.SIGKILL)
    thread.join(300)
    assert not thread.is_alive()
    assert 0 < n_done_at_kill < 13, "the worker was killed in the middle of the extraction"
    client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker

    rerun = extract_features(face_files, output=output, client=client, shard_size=16,
                             verbose=0, **SETTINGS)
    assert rerun.n_skipped_shards >= n_done_at_kill
    assert rerun.n_computed_shards + rerun.n_skipped_shards == 13
    np.testing.assert_array_equal(rerun.load(), reference)


def test_local_run_resumes_after_a_bad_file(face_files, reference, tmp_path):
    paths = list(face_files[:64])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    paths[40] = str(broken)  # shard 2 of 4
    with pytest.raises(RuntimeError, match=r"1 of 4 shards failed.*3 finished.*shard 2:.*broken"):
        extract_features(paths, output=tmp_path / "out", shard_size=16, verbose=0, **SETTINGS)
    assert sorted(p.name for p in (tmp_path / "out" / "shards").glob("*.json")) == \
        ["00000.json", "00001.json", "00003.json"]
    Image.open(face_files[40]).save(broken, format="PNG")  # repaired
    result = extract_features(paths, output=tmp_path / "out", shard_size=16, verbose=0,
                              **SETTINGS)
    assert (result.n_computed_shards, result.n_skipped_shards) == (1, 3)
    np.testing.assert_array_equal(result.load(), reference[:64])


def test_damaged_shard_is_detected_and_recomputed(face_files, reference, tmp_path):
    paths = face_files[:48]
    extract_features(paths, output=tmp_path / "out", shard_size=16, verbose=0, **SETTINGS)
    (shard,) = (tmp_path / "out" / "shards").glob("00001-*.npy")
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="Shard 1 .* damaged .*Run extract_features again"):
        load_features(tmp_path / "out").load()
    result = extract_features(paths, output=tmp_path / "out", shard_size=16, verbose=0,
                              **SETTINGS)
    assert result.n_computed_shards == 1
    np.testing.assert_array_equal(result.load(), reference[:48])


def test_duplicate_paths_are_computed_once_in_a_fixed_order(face_files, reference, tmp_path):
    paths = [face_files[3], face_files[1], face_files[3], face_files[2], face_files[1]]
    result = extract_features(paths, output=tmp_path / "a", shard_size=2, verbose=0,
                              **SETTINGS)
    assert result.n_shards == 2  # three unique images
    features = result.load()
    # Shards of 2 are other batches than the reference's 16: float32 rounding differs.
    np.testing.assert_allclose(features, reference[[3, 1, 3, 2, 1]], rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(features[0], features[2])
    np.testing.assert_array_equal(features[1], features[4])
    # A relative spelling of the same file is the same image.
    relative = os.path.relpath(face_files[3])
    again = extract_features(paths + [relative], output=tmp_path / "a", shard_size=2,
                             verbose=0, **SETTINGS)
    assert again.n_computed_shards == 0
    np.testing.assert_array_equal(again.load()[-1], features[0])
    assert load_features(tmp_path / "a").paths == paths + [relative]


def test_same_images_in_another_order_resume_and_follow_the_new_order(face_files, tmp_path):
    paths = face_files[:24]
    first = extract_features(paths, output=tmp_path / "out", shard_size=8, verbose=0,
                             **SETTINGS).load()
    shuffled = [paths[i] for i in np.random.RandomState(0).permutation(24)] + [paths[5]]
    again = extract_features(shuffled, output=tmp_path / "out", shard_size=8, verbose=0,
                             **SETTINGS)
    assert (again.n_computed_shards, again.n_skipped_shards) == (0, 3)
    expected = first[[paths.index(p) for p in shuffled]]
    np.testing.assert_array_equal(again.load(), expected)
    np.testing.assert_array_equal(load_features(tmp_path / "out").load(), expected)


def test_relative_paths_load_from_any_folder(face_files, tmp_path, monkeypatch, reference):
    folder = os.path.dirname(face_files[0])
    monkeypatch.chdir(folder)
    names = ["000.png", face_files[0], "001.png", "./000.png"]  # two spellings of one file
    result = extract_features(names, output="out-rel", shard_size=16, verbose=0, **SETTINGS)
    monkeypatch.chdir(tmp_path)  # elsewhere: the folder and the rows are still right
    features = result.load()
    assert load_features(os.path.join(folder, "out-rel")).paths == names
    np.testing.assert_array_equal(load_features(os.path.join(folder, "out-rel")).load(),
                                  features)
    np.testing.assert_allclose(features, reference[[0, 0, 1, 0]], rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(features[0], features[3])


def test_leftovers_of_killed_writes_are_handled(face_files, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / ".tmp-abc").write_bytes(b"half a manifest")  # killed during the first write
    extract_features(face_files[:16], output=output, shard_size=8, verbose=0, **SETTINGS)
    # A second writer of shard 0 (a retried task) left its own file; the index names one.
    shards = output / "shards"
    (shard0,) = shards.glob("00000-*.npy")
    stale = shards / "00000-0123456789abcdef.npy"
    stale.write_bytes(shard0.read_bytes())
    os.utime(stale, (0, 0))
    old_tmp = shards / ".tmp-killed"
    old_tmp.write_bytes(b"x")
    os.utime(old_tmp, (0, 0))
    result = extract_features(face_files[:16], output=output, shard_size=8, verbose=0,
                              **SETTINGS)
    assert result.n_computed_shards == 0
    assert sorted(p.name for p in output.rglob("*") if p.name.startswith(".tmp-")) == []
    assert not stale.exists() and shard0.exists()


def test_foreign_manifest_is_refused(face_files, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.json").write_text('{"name": "something else"}')
    with pytest.raises(ValueError, match="not a manifest written by extract_features"):
        extract_features(face_files[:4], output=tmp_path / "out", verbose=0, **SETTINGS)


@pytest.mark.parametrize("change, named", [
    (dict(input_size=96), "preprocess"),
    (dict(pooling="max"), "pooling"),
])
def test_folder_of_other_settings_is_refused(face_files, tmp_path, change, named):
    paths = face_files[:16]
    extract_features(paths, output=tmp_path / "out", shard_size=16, verbose=0, **SETTINGS)
    before = sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    with pytest.raises(ValueError, match=f"other settings .*{named}.*never mixed"):
        extract_features(paths, output=tmp_path / "out", shard_size=16, verbose=0,
                         **{**SETTINGS, **change})
    after = sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert before == after  # nothing written


def test_folder_of_another_backbone_is_refused(face_files, tmp_path):
    from torchvision import models

    from skcnn.pretrained.backbones import ResNet18

    torch.manual_seed(0)
    weights = tmp_path / "resnet18_random.pth"
    torch.save(models.resnet18(weights=None).state_dict(), weights)
    paths = face_files[:8]
    extract_features(paths, output=tmp_path / "out", verbose=0, **SETTINGS)
    with pytest.raises(ValueError, match="other settings .*backbone.*never mixed"):
        extract_features(paths, ResNet18(weights=str(weights)), output=tmp_path / "out",
                         verbose=0, **SETTINGS)


def test_other_images_or_shard_size_are_refused(face_files, tmp_path):
    extract_features(face_files[:16], output=tmp_path / "out", shard_size=8, verbose=0,
                     **SETTINGS)
    with pytest.raises(ValueError, match="another set of images .*16 unique images there, 17"):
        extract_features(face_files[:17], output=tmp_path / "out", shard_size=8, verbose=0,
                         **SETTINGS)
    with pytest.raises(ValueError, match="shard_size=8, this call has shard_size=4"):
        extract_features(face_files[:16], output=tmp_path / "out", shard_size=4, verbose=0,
                         **SETTINGS)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no manifest.json"):
        extract_features(face_files[:16], output=tmp_path / "other", verbose=0, **SETTINGS)


def test_closed_client_is_refused(client, face_files, tmp_path):
    closed = distributed.Client(client.scheduler.address)
    closed.close()
    with pytest.raises(ValueError, match="client is closed.*client=None"):
        extract_features(face_files[:4], output=tmp_path / "out", client=closed, verbose=0,
                         **SETTINGS)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("paths, message", [
    ("one.jpg", "single path"),
    (np.zeros((2, 8, 8)), "array of pixels"),
    ([np.zeros((8, 8))], "found ndarray"),
    ([], "paths is empty"),
])
def test_bad_paths(paths, message, tmp_path):
    with pytest.raises((TypeError, ValueError), match=message):
        extract_features(paths, output=tmp_path / "out", verbose=0)


def test_core_does_not_import_dask():
    code = ("import sys, skcnn, skcnn.extract, skcnn.base, skcnn.utils\n"
            "from skcnn import CNNClassifier, PretrainedFeatures\n"
            "skcnn.utils.limit_torch_threads(); skcnn.utils.resolve_device('auto')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_skcnn_errors_reach_the_client_intact(client, face_files):
    from skcnn import exceptions

    # Raised on a worker (where Dask installs tblib's exception pickling) ...
    future = client.submit(PretrainedFeatures(layer="no_such_layer", verbose=0).fit,
                           face_files[:2], pure=False)
    with pytest.raises(exceptions.LayerNotFoundError, match="no_such_layer"):
        future.result()
    # ... and every skcnn error, also those that subclass OSError or KeyError.
    import pickle

    for name in exceptions.__all__:
        error = getattr(exceptions, name)(f"{name}: the message")
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == f"{name}: the message"
