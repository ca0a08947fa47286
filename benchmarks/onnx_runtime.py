"""Images/s of PyTorch eager, ONNX Runtime (and optionally torch.compile) on the CPU.

In one run, with ``--threads`` threads for every runtime:

(bare network) for each backbone (efficientnet_lite0 with its offline
    ImageNet weights, resnet50 with random weights: nothing can be downloaded),
    the feature network of ``PretrainedFeatures`` (backbone + global pooling)
    on one preprocessed batch of ``--batch`` real images at ``--size`` px:
    PyTorch eager float32 channels-last under ``inference_mode`` (the
    reference, what skcnn's ``runtime='torch'`` runs), the graph skcnn exports
    in ONNX Runtime (what ``runtime='onnxruntime'`` runs), and with
    ``--compile`` ``torch.compile`` of the eager model.
(skcnn API) ``PretrainedFeatures(runtime=...).transform(paths)`` on
    ``--n-files`` JPEG files (crops of scikit-image's photos): decoding,
    resizing and normalisation included; the default backbone (and resnet50
    with ``--api-resnet50``).

(trained estimators, ``--estimators``) ``predict`` of each trained
    estimator with ``runtime='torch'`` and ``runtime='onnxruntime'``, through
    skcnn's own API (image preparation or tokenisation, softmax and target
    scaling included): ``cnn`` and ``cnn_regressor`` (default networks on
    scikit-learn's 1,797 digits upsampled to 28x28, as MNIST), ``finetuned`` and
    ``finetuned_regressor`` (the default backbone at ``--finetune-size`` px on
    ``--n-files`` photo crops given as arrays) and ``text`` (the default
    TextCNNClassifier on the 2,000 shipped sentiment sentences). Weights come
    from a short fit (speed does not depend on them). Prints images/s (or
    sentences/s), the ratio, the largest difference of the outputs (labels
    agreeing), the one-time export, and the ``runtime='auto'`` choice for each.

The runtimes are timed in alternation, ``--repeats`` times each, after one
warm-up pass, and the medians are reported with the min-max spread (the CPU
may be shared). Prints images/s, the ratio to eager measured in the same
run, the smallest per-image cosine similarity of the features to eager's,
and the ``runtime='auto'`` choice on this machine.

    python benchmarks/onnx_runtime.py [--size 224] [--batch 32] [--threads 2] [--repeats 5]
    python benchmarks/onnx_runtime.py --estimators cnn,cnn_regressor,finetuned,\
        finetuned_regressor,text [--finetune-size 224]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from extract_throughput import make_images  # noqa: E402

from skcnn import PretrainedFeatures  # noqa: E402
from skcnn.data.transforms import PilPreprocess  # noqa: E402
from skcnn.pretrained._runtime import network_session, resolve_runtime  # noqa: E402
from skcnn.pretrained.backbones import ResNet50  # noqa: E402


def cosine(a, b):
    """Smallest cosine similarity between matching rows of ``a`` and ``b``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.min((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def alternate(runners, repeats):
    """Run each ``name -> fn`` once to warm up, then ``repeats`` rounds in turn; seconds."""
    outputs = {name: fn() for name, fn in runners.items()}
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times, outputs


def summary(label, n, seconds, reference_seconds, features, reference_features):
    median = statistics.median(seconds)
    spread = (max(seconds) - min(seconds)) / median
    ratio = statistics.median(reference_seconds) / median
    print(f"  {label:34s} {n / median:7.1f} img/s (spread {spread:4.0%})  ratio to eager "
          f"{ratio:4.2f}  min cosine {cosine(features, reference_features):.6f}", flush=True)
    return ratio


def backbone_plugin(name, folder):
    if name == "resnet50":
        path = os.path.join(folder, "resnet50_random.pth")
        if not os.path.exists(path):
            import torchvision

            torch.manual_seed(0)
            torch.save(torchvision.models.resnet50().state_dict(), path)
        return ResNet50(weights=path)
    return name


def bare_network(name, plugin, args, images):
    estimator = PretrainedFeatures(backbone=plugin, input_size=args.size, verbose=0,
                                   channels_last=True).fit(images[:1])
    transform = PilPreprocess.from_config(estimator.preprocess_)
    batch = torch.stack([transform(Image.fromarray(image)) for image in images[:args.batch]])
    model = estimator.model_
    batch_cl = batch.contiguous(memory_format=torch.channels_last)

    def eager():
        with torch.inference_mode():
            return model(batch_cl).numpy()

    start = time.perf_counter()
    session = network_session(model, tuple(batch.shape[1:]), what=name)
    print(f"{name}: export + check {time.perf_counter() - start:.1f} s", flush=True)
    array = batch.numpy()
    runners = {"eager": eager,
               "onnxruntime": lambda: session.run(None, {"input": array})[0]}
    if args.compile:
        compiled = torch.compile(model)
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(batch_cl)
        print(f"{name}: torch.compile first call {time.perf_counter() - start:.1f} s")

        def run_compiled():
            with torch.inference_mode():
                return compiled(batch_cl).numpy()

        runners["torch.compile"] = run_compiled
    times, outputs = alternate(runners, args.repeats)
    print(f"{name}, bare network, batch {args.batch} at {args.size} px, {args.threads} threads:")
    return {runtime: summary(f"{runtime} ({'channels-last' if runtime == 'eager' else 'graph'})",
                             args.batch, times[runtime], times["eager"], outputs[runtime],
                             outputs["eager"])
            for runtime in runners}


def through_api(name, plugin, args, paths):
    estimators = {runtime: PretrainedFeatures(backbone=plugin, input_size=args.size, verbose=0,
                                              batch_size=args.batch, runtime=runtime)
                  .fit(paths[:1]) for runtime in ("torch", "onnxruntime")}
    start = time.perf_counter()
    estimators["onnxruntime"].transform(paths[:1])  # the export happens once, at first use
    print(f"{name}: first transform (export) {time.perf_counter() - start:.1f} s", flush=True)
    runners = {runtime: (lambda est=est: est.transform(paths)) for runtime, est in
               estimators.items()}
    times, outputs = alternate(runners, args.repeats)
    print(f"{name}, PretrainedFeatures(runtime=...).transform on {len(paths)} JPEG files "
          f"(decoding and preprocessing included), {args.threads} threads:")
    return {runtime: summary(f"runtime={runtime!r}", len(paths), times[runtime],
                             times["torch"], outputs[runtime], outputs["torch"])
            for runtime in runners}


def _estimator_cases(args, images):
    """name -> (unit, fitted estimator, inputs to predict)."""
    from skcnn import (
        CNNClassifier,
        CNNRegressor,
        FineTunedClassifier,
        FineTunedRegressor,
        TextCNNClassifier,
    )
    from skcnn.datasets import load_digits_images, load_sentiment_sentences

    quiet = dict(verbose=0, random_state=0, device="cpu")
    X, y = load_digits_images(size=28, return_X_y=True)
    photos = images[:args.n_files]
    photo_y = np.arange(len(photos)) % 3
    finetune = dict(input_size=args.finetune_size, max_epochs=1, unfreeze="head",
                    freeze_epochs=0, **quiet)
    sentences = load_sentiment_sentences()
    texts, labels = list(sentences.data), np.asarray(sentences.target)
    makers = {
        "cnn": lambda: ("img", CNNClassifier(max_epochs=1, **quiet).fit(X, y), X),
        "cnn_regressor": lambda: ("img", CNNRegressor(max_epochs=1, **quiet).fit(X, y * 1.0),
                                  X),
        "finetuned": lambda: ("img", FineTunedClassifier(**finetune).fit(photos[:16],
                                                                         photo_y[:16]), photos),
        "finetuned_regressor": lambda: ("img", FineTunedRegressor(**finetune).fit(
            photos[:16], photo_y[:16] * 1.0), photos),
        "text": lambda: ("sentences", TextCNNClassifier(max_epochs=1, **quiet).fit(
            texts[:1000], labels[:1000]), texts),
    }
    for name in args.estimators.split(","):
        if name not in makers:
            raise SystemExit(f"--estimators: unknown {name!r}; choose from {', '.join(makers)}")
        yield name, makers[name]()


def _predict(estimator, runtime, inputs):
    estimator.set_params(runtime=runtime)
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(inputs)
    return estimator.predict(inputs)


def trained_estimators(args, images):
    """``predict`` with runtime='torch' and 'onnxruntime' for each trained estimator."""
    from functools import partial

    from skcnn._onnx_runtime import AUTO_ONNXRUNTIME, chosen_runtime

    rows = []
    for name, (unit, estimator, inputs) in _estimator_cases(args, images):
        kind = type(estimator).__name__
        start = time.perf_counter()
        _predict(estimator, "onnxruntime", inputs[:2])  # the export, once per network
        export = time.perf_counter() - start
        runners = {runtime: partial(_predict, estimator, runtime, inputs)
                   for runtime in ("torch", "onnxruntime")}
        times, results = alternate(runners, args.repeats)
        torch_rate = len(inputs) / statistics.median(times["torch"])
        onnx_rate = len(inputs) / statistics.median(times["onnxruntime"])
        spread = max((max(t) - min(t)) / statistics.median(t) for t in times.values())
        diff = float(np.abs(results["onnxruntime"] - results["torch"]).max())
        if hasattr(estimator, "predict_proba"):
            same = "labels equal" if np.array_equal(results["onnxruntime"].argmax(1),
                                                    results["torch"].argmax(1)) \
                else "labels DIFFER"
        else:
            same = "values"
        auto = chosen_runtime(estimator.set_params(runtime="auto"))
        rows.append((name, kind, unit, len(inputs), torch_rate, onnx_rate, spread, diff, same,
                     export, auto))
        print(f"{name:20s} ({kind}, {len(inputs)} {unit}): torch {torch_rate:8.1f} {unit}/s  "
              f"onnxruntime {onnx_rate:8.1f} {unit}/s  ratio {onnx_rate / torch_rate:4.2f}  "
              f"(spread {spread:3.0%})  max |diff| {diff:.1e}, {same}; export {export:.1f} s; "
              f"'auto' -> {auto}", flush=True)
    print(f"predict through skcnn's API, {args.threads} threads; ratio = onnxruntime / torch "
          "(above 1: ONNX Runtime faster). 'auto' runs ONNX Runtime for: "
          f"{', '.join(sorted(AUTO_ONNXRUNTIME)) or 'none'}.")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-files", type=int, default=96)
    parser.add_argument("--backbones", default="efficientnet_lite0,resnet50")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--api-resnet50", action="store_true",
                        help="also time resnet50 through PretrainedFeatures")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--estimators", default=None,
                        help="time predict of these trained estimators instead (comma list of "
                             "cnn, cnn_regressor, finetuned, finetuned_regressor, text)")
    parser.add_argument("--finetune-size", type=int, default=224,
                        help="input_size of the fine-tuned estimators with --estimators")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = make_images(max(args.batch, args.n_files), size=256, seed=3)
    if args.estimators:
        trained_estimators(args, images)
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        return
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, image in enumerate(images[:args.n_files]):
            paths.append(os.path.join(folder, f"img_{i:04d}.jpg"))
            Image.fromarray(image).save(paths[-1], quality=90)
        names = args.backbones.split(",")
        if not args.skip_bare:
            for name in names:
                bare_network(name, backbone_plugin(name, folder), args, images)
        api_names = [names[0]] + (["resnet50"] if args.api_resnet50 else [])
        for name in api_names:
            through_api(name, backbone_plugin(name, folder), args, paths)
    choice = resolve_runtime("auto", "cpu", torch.float32)
    print(f"runtime='auto' on this machine (CPU, float32): {choice!r}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
