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

The runtimes are timed in alternation, ``--repeats`` times each, after one
warm-up pass, and the medians are reported with the min-max spread (the CPU
may be shared). Prints images/s, the ratio to eager measured in the same
run, the smallest per-image cosine similarity of the features to eager's,
and the ``runtime='auto'`` choice on this machine.

    python benchmarks/onnx_runtime.py [--size 224] [--batch 32] [--threads 2] [--repeats 5]
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = make_images(max(args.batch, args.n_files), size=256, seed=3)
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
