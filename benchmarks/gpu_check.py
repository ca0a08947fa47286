"""Every device decision and CUDA path of skcnn, one line per check with its figure.

Run it as is on a machine with a CUDA GPU (under 10 minutes on one GPU):

    python benchmarks/gpu_check.py            # the full check
    python benchmarks/gpu_check.py --quick    # tiny sizes: a smoke test of the script itself

Each line reads ``PASS <check>: <figure>``, ``FAIL <check>: <what went wrong>`` or
``SKIP <check>: <reason>``; the last line counts them and the exit status is 1 when a
check failed. Without CUDA every check is still listed: the CUDA-only ones say
``SKIP <check>: no CUDA device``, the others run on the CPU. With ``--cpu-rehearsal``
the CUDA-only checks also run their code on the CPU (the line still says SKIP, with the
CPU figure after it), which is how the test suite keeps this script from rotting.

The checks:

* ``device``, ``precision``, ``restore-device``, ``cpus``: what ``skcnn.utils`` decides
  here (device for ``'auto'``, the precision ``'auto'`` picks and the bfloat16
  capability it rests on, where a model pickled on ``cuda:7`` lands, CPU counts);
* ``train-cnn``: ``CNNClassifier`` on scikit-learn's digits (float32 on the device);
* ``train-finetune-auto``: ``FineTunedClassifier`` (efficientnet_lite0, its shipped
  weights) on scikit-image's ``lfw_subset`` with ``precision='auto'`` (autocast in
  bfloat16 on GPUs that have it natively, float16 with a gradient scaler elsewhere);
* ``train-finetune-float16`` (CUDA): the same with ``precision='float16'``: autocast
  plus ``GradScaler``, whose final scale is shown;
* ``features-logreg``: ``PretrainedFeatures`` + logistic regression on ``lfw_subset``;
* ``throughput-efficientnet_lite0``, ``throughput-resnet50`` (CUDA): images/s of
  ``PretrainedFeatures.transform`` at 224x224 on the GPU and on the CPU in the same run,
  and their ratio (resnet50 with random weights: its ImageNet weights are not offline);
* ``compare-xgboost-cuda`` (CUDA): ``skcnn.compare(..., device='cuda')`` with the
  XGBoost models, which must report device ``cuda`` (the CUDA build of ``xgboost``,
  not ``xgboost-cpu``);
* ``pickle-cuda-hidden`` (CUDA): a CUDA-fitted ``CNNClassifier`` and
  ``PretrainedFeatures`` pickled, then loaded and used in a subprocess with
  ``CUDA_VISIBLE_DEVICES=""``; their predictions / features against the GPU's;
* ``dask-gpu-per-worker`` (CUDA): one fit on each worker of a 2-worker Dask
  ``LocalCluster`` with ``device='auto'``: which GPU each worker's fit used.

Only public skcnn APIs are used (``skcnn.utils``, the estimators, ``skcnn.compare``).
"""

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

CUDA_ONLY = {"train-finetune-float16", "throughput-efficientnet_lite0", "throughput-resnet50",
             "compare-xgboost-cuda", "pickle-cuda-hidden", "dask-gpu-per-worker"}


class Skip(Exception):
    """A check that cannot run here; its message is the reason."""


class Context:
    """What every check needs: the device, the size of the run and the data sets."""

    def __init__(self, quick, rehearsal):
        import torch

        from skcnn.utils import resolve_device

        self.quick = quick
        self.rehearsal = rehearsal
        self.cuda = torch.cuda.is_available()
        self.device = str(resolve_device("auto"))
        self._digits = self._lfw = None

    def digits(self):
        """scikit-learn's digits (8x8) split 70/30, stratified."""
        if self._digits is None:
            from sklearn.model_selection import train_test_split

            from skcnn.datasets import load_digits_images

            X, y = load_digits_images(return_X_y=True)
            if self.quick:
                X, y = X[:400], y[:400]
            self._digits = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
        return self._digits

    def lfw(self):
        """scikit-image's lfw_subset (200 faces / non-faces, 25x25) split 75/25, stratified."""
        if self._lfw is None:
            from sklearn.model_selection import train_test_split

            from skcnn.datasets import load_lfw_faces

            X, y = load_lfw_faces(return_X_y=True)
            if self.quick:  # 24 faces and 24 non-faces
                X, y = np.r_[X[:24], X[-24:]], np.r_[y[:24], y[-24:]]
            self._lfw = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        return self._lfw


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _synchronize(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- device decisions


def check_device(ctx):
    import torch

    from skcnn.utils import assigned_cuda_index

    text = f"resolve_device('auto') -> {ctx.device}; torch {torch.__version__}"
    if ctx.cuda:
        index = assigned_cuda_index()
        text += (f", CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s), "
                 f"assigned_cuda_index() -> {index} ({torch.cuda.get_device_name(index)})")
        if not ctx.device.startswith("cuda"):
            raise AssertionError(text + ": CUDA is available but 'auto' did not pick it")
    else:
        text += ", CUDA not available"
    return text


def check_precision(ctx):
    import torch

    from skcnn.utils import bfloat16_support, resolve_precision

    dtype = resolve_precision("auto", ctx.device)
    support = bfloat16_support(ctx.device)
    text = (f"resolve_precision('auto', {ctx.device!r}) -> {str(dtype).replace('torch.', '')}; "
            f"bfloat16 fast={support['fast']} ({support['how']})")
    if torch.device(ctx.device).type == "cuda":
        expected = torch.bfloat16 if support["fast"] else torch.float16
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
            text += f"; torch.cuda.is_bf16_supported(including_emulation=False)={native}"
        except TypeError:
            pass
    else:
        expected = torch.float32
    if dtype != expected:
        raise AssertionError(f"{text}: expected {expected}")
    return text


def check_restore_device(ctx):
    import torch

    from skcnn.utils import restore_device

    landed = restore_device("cuda:7")
    expected = "cpu" if not ctx.cuda else ("cuda" if torch.cuda.device_count() <= 7 else "cuda:7")
    if landed != expected:
        raise AssertionError(f"restore_device('cuda:7') -> {landed!r}, expected {expected!r}")
    return f"restore_device('cuda:7') -> {landed!r}; restore_device('cpu') -> " \
           f"{restore_device('cpu')!r}"


def check_cpus(ctx):
    import torch

    from skcnn.utils import cgroup_cpu_quota, cpu_model_threads, default_num_workers, usable_cpus

    return (f"usable_cpus()={usable_cpus()} (os.cpu_count()={os.cpu_count()}, container quota "
            f"{cgroup_cpu_quota()}), default_num_workers(10000, 64)="
            f"{default_num_workers(10000, 64)}, cpu_model_threads()={cpu_model_threads()}, "
            f"torch threads {torch.get_num_threads()}")


# --------------------------------------------------------------------------- training


def _cnn(device, quick):
    from skcnn import CNNClassifier

    return CNNClassifier(filters=(8,) if quick else (32, 64), kernel_size=3, padding="same",
                         batch_norm=True, hidden_units=(16,) if quick else (128,),
                         optimizer="adam", batch_size=64, max_epochs=2 if quick else 15,
                         device=device, random_state=0, verbose=0)


def check_train_cnn(ctx):
    X_train, X_test, y_train, y_test = ctx.digits()
    clf = _cnn(ctx.device, ctx.quick)
    _, seconds = _timed(clf.fit, X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    return (f"digits {len(X_train)} train / {len(X_test)} test, {clf.n_iter_} epochs on "
            f"{clf.device_}: fit {seconds:.1f} s, accuracy {accuracy:.3f}")


def _finetuned(device, precision, quick):
    from skcnn import FineTunedClassifier

    return FineTunedClassifier(backbone="efficientnet_lite0", input_size=16 if quick else 96,
                               unfreeze="all", freeze_epochs=0 if quick else 1,
                               max_epochs=1 if quick else 8, batch_size=32,
                               learning_rate=1e-3, precision=precision, device=device,
                               random_state=0, verbose=0)


def _finetune_line(ctx, clf, seconds):
    _, X_test, _, y_test = ctx.lfw()
    accuracy = clf.score(X_test, y_test)
    autocast = getattr(clf.net_, "precision", None)
    autocast = "off (float32)" if autocast is None else str(autocast).replace("torch.", "")
    return (f"lfw_subset {len(y_test)} test images, efficientnet_lite0 at {clf.input_size} px, "
            f"{clf.n_iter_} epochs on {clf.device_}, autocast {autocast}: fit {seconds:.1f} s, "
            f"accuracy {accuracy:.3f}")


def check_train_finetune_auto(ctx):
    X_train, _, y_train, _ = ctx.lfw()
    clf = _finetuned(ctx.device, "auto", ctx.quick)
    _, seconds = _timed(clf.fit, X_train, y_train)
    return _finetune_line(ctx, clf, seconds)


def check_train_finetune_float16(ctx, device):
    X_train, _, y_train, _ = ctx.lfw()
    clf = _finetuned(device, "float16", ctx.quick)
    _, seconds = _timed(clf.fit, X_train, y_train)
    scaler = getattr(clf.net_, "grad_scaler_", None)
    text = _finetune_line(ctx, clf, seconds)
    if scaler is None:
        raise AssertionError(text + ": no GradScaler was used for float16 training")
    return text + f"; GradScaler final scale {scaler.get_scale():g}"


def check_features_logreg(ctx):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skcnn import PretrainedFeatures
    from skcnn.utils import resolve_precision

    X_train, X_test, y_train, y_test = ctx.lfw()
    features = PretrainedFeatures(backbone="efficientnet_lite0", input_size=32 if ctx.quick
                                  else 96, device=ctx.device, verbose=0)
    pipe = make_pipeline(features, StandardScaler(), LogisticRegression(max_iter=2000))
    _, seconds = _timed(pipe.fit, X_train, y_train)
    accuracy = pipe.score(X_test, y_test)
    precision = str(resolve_precision(features.precision, features.device_)).replace("torch.",
                                                                                        "")
    return (f"lfw_subset, efficientnet_lite0 features ({features.n_features_out_}) at "
            f"{features.input_size} px on {features.device_} in {precision}: fit "
            f"{seconds:.1f} s, accuracy {accuracy:.3f}")


# --------------------------------------------------------------------------- throughput


def _images_per_second(features, images, device):
    features.transform(images[: min(len(images), 32)])  # warm-up: kernels, cuDNN autotuning
    _synchronize(device)
    _, seconds = _timed(features.transform, images)
    _synchronize(device)
    return len(images) / seconds


def _throughput(ctx, device, name, backbone):
    from skcnn import PretrainedFeatures

    side = 64 if ctx.quick else 224
    n_gpu = 16 if ctx.quick else 2048
    n_cpu = 4 if ctx.quick else 48
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(max(n_gpu, n_cpu), side, side, 3), dtype=np.uint8)
    rates = {}
    for where, n in ((device, n_gpu), ("cpu", n_cpu)):
        if where in rates:  # a rehearsal on the CPU measures it once
            continue
        features = PretrainedFeatures(backbone=backbone, input_size=side, device=where,
                                      verbose=0).fit(images[:2])
        rates[where] = _images_per_second(features, images[:n], where)
    if device == "cpu":
        return f"{name} at {side}x{side}: cpu {rates['cpu']:.1f} images/s"
    return (f"{name} at {side}x{side}: {device} {rates[device]:.0f} images/s, cpu "
            f"{rates['cpu']:.1f} images/s, ratio {rates[device] / rates['cpu']:.1f}x")


def check_throughput_lite0(ctx, device):
    return _throughput(ctx, device, "efficientnet_lite0 (shipped weights)", "efficientnet_lite0")


def check_throughput_resnet50(ctx, device):
    import torch
    import torchvision

    from skcnn.pretrained import ResNet50

    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "resnet50_random.pth")
        torch.save(torchvision.models.resnet50().state_dict(), weights)
        return _throughput(ctx, device, "resnet50 (random weights)", ResNet50(weights=weights))


# --------------------------------------------------------------------------- compare, XGBoost


def check_compare_xgboost(ctx, device):
    import skcnn

    try:
        import xgboost
    except ImportError as exc:
        raise Skip(f"xgboost is not installed ({exc}); pip install xgboost") from None
    if device.startswith("cuda") and not xgboost.build_info().get("USE_CUDA"):
        raise AssertionError(f"xgboost {xgboost.__version__} was built without CUDA (the "
                             "xgboost-cpu wheel?): pip install xgboost")
    X_train, X_test, y_train, y_test = ctx.digits()
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    models = ["pixels+xgboost"] if ctx.quick else ["pixels+xgboost", "features+xgboost"]
    result, seconds = _timed(skcnn.compare, X, y, models=models, cv=3, device=device,
                             quick=ctx.quick, verbose=0)
    table = result.table
    parts = []
    for _, row in table.iterrows():
        if row["status"] != "ok":
            raise AssertionError(f"{row['model']}: {row['status']}")
        if device.startswith("cuda") and not str(row["device"]).startswith("cuda"):
            raise AssertionError(f"{row['model']} ran on {row['device']}, not on CUDA")
        parts.append(f"{row['model']} on {row['device']}: accuracy "
                     f"{row['accuracy_mean']:.3f}, fit {row['fit_time']:.2f} s/fold")
    return f"xgboost {xgboost.__version__}, 3 folds of digits: " + "; ".join(parts) + \
        f" ({seconds:.1f} s in all)"


# --------------------------------------------------------------------------- pickling


_LOADER = """
import os, pickle, sys
import numpy as np
import torch
folder = sys.argv[1]
with open(os.path.join(folder, "models.pkl"), "rb") as f:
    clf, features = pickle.load(f)
X = np.load(os.path.join(folder, "X.npy"))
np.save(os.path.join(folder, "pred.npy"), clf.predict(X))
np.save(os.path.join(folder, "feat.npy"), features.transform(X))
print(torch.cuda.is_available(), clf.device_, features.device_)
"""


def check_pickle_cuda_hidden(ctx, device):
    from skcnn import PretrainedFeatures

    X_train, X_test, y_train, _ = ctx.digits()
    clf = _cnn(device, True).fit(X_train, y_train)
    features = PretrainedFeatures(backbone="efficientnet_lite0", input_size=32,
                                  precision="float32", device=device, verbose=0).fit(X_train)
    X = X_test[:64]
    pred, feat = clf.predict(X), features.transform(X)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "models.pkl"), "wb") as f:
            pickle.dump((clf, features), f)
        np.save(os.path.join(tmp, "X.npy"), X)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
        done = subprocess.run([sys.executable, "-c", _LOADER, tmp], env=env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise AssertionError("loading with CUDA hidden failed:\n" + done.stderr[-2000:])
        cuda_there, clf_device, features_device = done.stdout.split()[-3:]
        pred_there = np.load(os.path.join(tmp, "pred.npy"))
        feat_there = np.load(os.path.join(tmp, "feat.npy"))
    agreement = float(np.mean(pred_there == pred))
    diff = float(np.max(np.abs(feat_there - feat)))
    text = (f"fitted on {clf.device_}, loaded with CUDA_VISIBLE_DEVICES='' (cuda available there: "
            f"{cuda_there}): CNNClassifier on {clf_device}, predictions agree {agreement:.3f}; "
            f"PretrainedFeatures on {features_device}, max |feature difference| {diff:.2e}")
    if cuda_there != "False" or clf_device != "cpu" or features_device != "cpu" or agreement < 0.95:
        raise AssertionError(text)
    return text


# --------------------------------------------------------------------------- Dask


def _fit_on_worker(X, y):
    """One CNNClassifier fit with device='auto' inside a Dask worker: where it ran."""
    import torch
    from dask.distributed import get_worker

    from skcnn import CNNClassifier

    clf = CNNClassifier(filters=(8,), kernel_size=3, hidden_units=(16,), max_epochs=2,
                        device="auto", random_state=0, verbose=0).fit(X, y)
    return dict(worker=str(get_worker().name), device=clf.device_,
                visible=os.environ.get("CUDA_VISIBLE_DEVICES"),
                n_gpus=torch.cuda.device_count() if torch.cuda.is_available() else 0)


def check_dask_gpu_per_worker(ctx, device):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise Skip(f"dask.distributed is not installed ({exc}); pip install '.[distributed]'") \
            from None
    X_train, _, y_train, _ = ctx.digits()
    # A quick rehearsal on the CPU runs the workers as threads of this process (the
    # check's code, not its figure); on a GPU each worker is a process of its own.
    processes = not (ctx.quick and device == "cpu")
    start = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        workers = sorted(client.scheduler_info()["workers"])
        futures = [client.submit(_fit_on_worker, X_train, y_train, pure=False, workers=[w])
                   for w in workers]
        runs = sorted(client.gather(futures), key=lambda r: r["worker"])
    seconds = time.perf_counter() - start
    text = ", ".join(f"worker {r['worker']} -> {r['device']}" for r in runs)
    text += (f" ({runs[0]['n_gpus']} GPU(s) visible to each worker, workers are "
             f"{'processes' if processes else 'threads'}; {seconds:.1f} s)")
    for r in runs:
        n_gpus = r["n_gpus"]
        expected = f"cuda:{int(r['worker']) % n_gpus}" if n_gpus else "cpu"
        if device.startswith("cuda") and r["device"] != expected:
            raise AssertionError(f"{text}: worker {r['worker']} should use {expected}")
    return text


# --------------------------------------------------------------------------- running


CHECKS = [
    ("device", check_device),
    ("precision", check_precision),
    ("restore-device", check_restore_device),
    ("cpus", check_cpus),
    ("train-cnn", check_train_cnn),
    ("train-finetune-auto", check_train_finetune_auto),
    ("train-finetune-float16", check_train_finetune_float16),
    ("features-logreg", check_features_logreg),
    ("throughput-efficientnet_lite0", check_throughput_lite0),
    ("throughput-resnet50", check_throughput_resnet50),
    ("compare-xgboost-cuda", check_compare_xgboost),
    ("pickle-cuda-hidden", check_pickle_cuda_hidden),
    ("dask-gpu-per-worker", check_dask_gpu_per_worker),
]


def run_check(ctx, name, fn):
    """Run one check; returns ('PASS'|'FAIL'|'SKIP', line)."""
    start = time.perf_counter()
    rehearsed = False
    try:
        if name in CUDA_ONLY:
            if ctx.cuda:
                figure = fn(ctx, ctx.device)
            elif ctx.rehearsal:
                figure = fn(ctx, "cpu")
                rehearsed = True
            else:
                raise Skip("no CUDA device")
        else:
            figure = fn(ctx)
        status = "PASS"
    except Skip as exc:
        status, figure = "SKIP", str(exc)
    except Exception as exc:  # a check that breaks must not hide the others
        status = "FAIL"
        figure = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    if rehearsed:
        status, figure = (("SKIP", f"no CUDA device (rehearsed on cpu: {figure})")
                          if status == "PASS" else (status, f"rehearsed on cpu: {figure}"))
    seconds = time.perf_counter() - start
    return status, f"{status} {name}: {figure} [{seconds:.1f} s]"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and epochs: checks the script, not the figures")
    parser.add_argument("--cpu-rehearsal", action="store_true",
                        help="without CUDA, run the CUDA-only checks' code on the CPU too "
                             "(still reported as SKIP)")
    parser.add_argument("--only", default=None,
                        help="comma-separated check names to run (default: all)")
    args = parser.parse_args(argv)
    names = [name for name, _ in CHECKS]
    only = None if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        parser.error(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(names)}")

    start = time.perf_counter()
    ctx = Context(quick=args.quick, rehearsal=args.cpu_rehearsal)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for name, fn in CHECKS:
        if only is not None and name not in only:
            continue
        status, line = run_check(ctx, name, fn)
        counts[status] += 1
        print(line, flush=True)
    print(f"gpu_check: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP "
          f"on {ctx.device}{' (quick)' if args.quick else ''} in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
