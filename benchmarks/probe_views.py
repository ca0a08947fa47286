"""Which crops of a photo a linear probe should see: the backbone's center crop against views
that cover the whole image, on caltech20, over several 70/30 splits.

The pooled features of every photo are computed once per view with the frozen backbone
(efficientnet_lite1 by default, ``--backbone``); then ``StandardScaler`` +
``LogisticRegression`` is fitted on the training part of each split (random_state 0 to
4) and scored on its test part. Views (all at the backbone's input size S):

* ``center``: the backbone's own preprocessing (shorter side to S / 0.875, center crop S);
* ``full``: the shorter side to S, center crop S (the whole shorter side);
* ``squash``: the photo resized to S x S (its aspect ratio lost);
* ``letterbox``: the longer side to S, padded with grey to S x S;
* ``start`` / ``end``: like ``full`` at the left/top and right/bottom ends of the longer
  side (``FineTunedClassifier(views=3)`` takes start, full and end).

Combinations: the mean of the three views' features (train and test: what
FineTunedClassifier's probe does), the three views as extra training rows with their
probabilities averaged, and center + letterbox probabilities averaged.

Run it on two cores::

    OMP_NUM_THREADS=2 python benchmarks/probe_views.py
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcnn import PretrainedFeatures
from skcnn.datasets import load_image_folder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _resize_shorter(image, side):
    width, height = image.size
    scale = side / min(width, height)
    return image.resize((max(side, round(width * scale)), max(side, round(height * scale))),
                        Image.BICUBIC)


def _square(image, left, top, side):
    return image.crop((left, top, left + side, top + side))


def views(image, side, resize):
    """The named views of one PIL image."""
    image = image.convert("RGB")
    out = {}
    resized = _resize_shorter(image, resize)
    out["center"] = _square(resized, (resized.width - side) // 2, (resized.height - side) // 2,
                            side)
    whole = _resize_shorter(image, side)
    slack_x, slack_y = whole.width - side, whole.height - side
    out["full"] = _square(whole, slack_x // 2, slack_y // 2, side)
    out["start"] = _square(whole, 0, 0, side)
    out["end"] = _square(whole, slack_x, slack_y, side)
    out["squash"] = image.resize((side, side), Image.BICUBIC)
    scale = side / max(image.size)
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.BICUBIC)
    box = Image.new("RGB", (side, side), (128, 128, 128))
    box.paste(small, ((side - small.width) // 2, (side - small.height) // 2))
    out["letterbox"] = box
    return out


def view_features(paths, backbone):
    """``{view name: (N, F) features}`` of every photo."""
    extractor = PretrainedFeatures(backbone=backbone, verbose=0).fit(paths[:1])
    config = extractor.preprocess_
    side, resize = config.input_size[0], config.resize_size
    mean = torch.tensor(config.mean).view(3, 1, 1)
    std = torch.tensor(config.std).view(3, 1, 1)

    def tensor(image):
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
        return (pixels - mean) / std

    parts = {}
    with torch.inference_mode():
        for start in range(0, len(paths), 32):
            batch = [views(Image.open(p), side, resize) for p in paths[start:start + 32]]
            for name in batch[0]:
                images = torch.stack([tensor(v[name]) for v in batch])
                images = images.contiguous(memory_format=torch.channels_last)
                parts.setdefault(name, []).append(extractor.model_(images).float().numpy())
    return {name: np.concatenate(p) for name, p in parts.items()}


def probe_accuracy(train_rows, y_train, test_views, y_test):
    """Accuracy of a probe fitted on the stacked ``train_rows`` (each (n, F), labels
    repeated), predicting the mean probability over ``test_views``."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    model.fit(np.concatenate(train_rows), np.concatenate([y_train] * len(train_rows)))
    proba = sum(model.predict_proba(v) for v in test_views)
    return float(np.mean(model.classes_[proba.argmax(1)] == y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite1")
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args()
    folder = SHARED / "caltech20"
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not there; this benchmark needs ../shared/data/caltech20.")
    paths, labels = load_image_folder(folder)
    paths, y = np.asarray(paths), np.asarray(labels)
    started = time.perf_counter()
    F = view_features(paths, args.backbone)
    print(f"{args.backbone}: features of {len(paths)} photos in {len(F)} views, "
          f"{time.perf_counter() - started:.0f} s")
    three = ("start", "full", "end")
    mean3 = sum(F[v] for v in three) / 3
    rows = {}
    for split in range(args.splits):
        train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y,
                                       random_state=split)
        result = {name: probe_accuracy([F[name][train]], y[train], [F[name][test]], y[test])
                  for name in ("center", "full", "squash", "letterbox")}
        result["3 views, mean features"] = probe_accuracy([mean3[train]], y[train],
                                                          [mean3[test]], y[test])
        result["3 views as rows, mean proba"] = probe_accuracy(
            [F[v][train] for v in three], y[train], [F[v][test] for v in three], y[test])
        result["center + letterbox proba"] = probe_accuracy(
            [F["center"][train]], y[train], [F["center"][test], F["letterbox"][test]], y[test])
        for name, accuracy in result.items():
            rows.setdefault(name, []).append(accuracy)
    print(f"\n{'view':<30}" + "".join(f"{'split ' + str(s):>9}" for s in range(args.splits))
          + f"{'mean':>9}{'- center':>10}")
    base = np.mean(rows["center"])
    for name, scores in rows.items():
        print(f"{name:<30}" + "".join(f"{s:9.4f}" for s in scores)
              + f"{np.mean(scores):9.4f}{100 * (np.mean(scores) - base):+10.2f}")


if __name__ == "__main__":
    main()
