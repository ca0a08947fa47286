"""Default FineTunedClassifier against its own linear probe, on several real image sets, in one table.

For each data set, one stratified 70/30 split (random_state=0), and:

* **default**: ``FineTunedClassifier(random_state=0)`` with its defaults
  (``backbone='auto'``: efficientnet_lite1 for photos, efficientnet_lite0 for small or
  grayscale arrays; ``views='auto'``: 3 crops along the longer side of elongated
  photos; LP-FT, then the WiSE-FT weight ``a`` chosen on its validation
  split), with its fit time, its chosen ``a`` and the wins/losses of the fine-tuned
  network against the probe on the validation images;
* **probe**: ``PretrainedFeatures()`` + ``StandardScaler`` + ``LogisticRegression``,
  scikit-learn's linear probe on the default features (efficientnet_lite0), with its
  fit time, and **own**: the same probe on the backbone the default fine-tuned (what
  the fine-tuned model must not lose to);
* **ft a=1**: the same fit's network at ``a = 1`` (trained on the 90% fit part);
* **oracle**: the best ``a`` of the same fit measured on the **test** split: an upper
  bound of what the validation choice can get, not a result.

``--backbone B`` fine-tunes and probes B instead.

Data sets (those present are run; ``--datasets`` picks):

* ``caltech20``: ``../shared/data/caltech20``, 1,552 object photos, 20 classes;
* ``fashion``: the first 2,000 of ``../shared/data/fashion_mnist_4443.npz``, 28x28
  grayscale clothes, 10 classes, at the 64 pixels ``skcnn compare`` gives small images;
* ``textures``: non-overlapping 64x64 patches of five of scikit-image's surfaces
  (brick, grass, gravel, moon, immunohistochemistry), 64 per class, at 64 px: a
  texture / aerial-like set far from ImageNet's objects;
* ``faces``: scikit-image's ``lfw_subset``, 200 25x25 faces and non-faces, at 64 px.

Run it on two cores, e.g.::

    OMP_NUM_THREADS=2 python benchmarks/finetune_recipe.py
    OMP_NUM_THREADS=2 python benchmarks/finetune_recipe.py --datasets caltech20 \
        --backbone efficientnet_lite0

Options: ``--data`` (another image folder, run alone), ``--subset N`` (N training images
per class at most), ``--set NAME=VALUE`` (a FineTunedClassifier parameter, to explore),
``--split S`` (another 70/30 split).

Goal (issue 24): on caltech20 the default is at least 1 point above the probe, within
1.5x the 350 s the recipe took before it.
"""

import argparse
import ast
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcnn import FineTunedClassifier, PretrainedFeatures
from skcnn.datasets import load_image_folder
from skcnn.pretrained._interpolate import INTERPOLATION_WEIGHTS, interpolate_states
from skcnn.pretrained._lpft import parameter_snapshot

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SMALL_INPUT = 64  # what skcnn compare feeds networks for images of 64 px or less
DEFAULT_PROBE = "efficientnet_lite0"  # PretrainedFeatures' default backbone


def caltech20():
    folder = SHARED / "caltech20"
    if not folder.is_dir():
        return None
    paths, labels = load_image_folder(folder)
    return np.asarray(paths), np.asarray(labels), None


def fashion():
    path = SHARED / "fashion_mnist_4443.npz"
    if not path.is_file():
        return None
    data = np.load(path)
    return data["X"][:2000], data["y"][:2000], SMALL_INPUT


def textures():
    from skimage import data

    images, labels = [], []
    for name in ("brick", "grass", "gravel", "moon", "immunohistochemistry"):
        image = getattr(data, name)()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        for top in range(0, 512, 64):
            for left in range(0, 512, 64):
                images.append(image[top:top + 64, left:left + 64])
                labels.append(name)
    return np.stack(images), np.asarray(labels), SMALL_INPUT


def faces():
    from skcnn.datasets import load_lfw_faces

    images, target = load_lfw_faces(return_X_y=True)
    return images, target, SMALL_INPUT


DATASETS = {"caltech20": caltech20, "fashion": fashion, "textures": textures, "faces": faces}


class RecordingClassifier(FineTunedClassifier):
    """The default recipe, keeping the two ends of its interpolation for this benchmark."""

    def _keep_better(self, net, images, features, targets, valid_idx, criterion, recipe, *,
                     probe, trunk_before, seed, device, **views):
        finetuned = parameter_snapshot(net.module_)
        start = {**finetuned, **{"trunk." + k: v for k, v in (trunk_before or {}).items()},
                 **{"head." + k: v for k, v in probe[1].items()}}
        self.ends_ = start, finetuned
        super()._keep_better(net, images, features, targets, valid_idx, criterion, recipe,
                             probe=probe, trunk_before=trunk_before, seed=seed, device=device,
                             **views)


def accuracy(model, X, y):
    return float(np.mean(model.predict(X) == y))


def test_by_weight(clf, X_test, y_test):
    """Test accuracy of the fit's interpolations (``a`` to accuracy), then restores it."""
    final = parameter_snapshot(clf.module_)
    start, finetuned = clf.ends_
    scores = {}
    for weight in INTERPOLATION_WEIGHTS:
        clf.module_.load_state_dict(interpolate_states(start, finetuned, weight))
        scores[weight] = accuracy(clf, X_test, y_test)
    clf.module_.load_state_dict(final)
    return scores


def run(name, X, y, input_size, args, settings):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.split)
    if args.subset:
        keep = np.concatenate([np.flatnonzero(y_train == c)[:args.subset]
                               for c in np.unique(y_train)])
        X_train, y_train = X_train[keep], y_train[keep]
    print(f"\n== {name}: {len(X_train)} training / {len(X_test)} test images, "
          f"{len(np.unique(y))} classes, input_size={input_size}", flush=True)
    clf = RecordingClassifier(backbone=args.backbone, input_size=input_size, random_state=0,
                              **settings)
    started = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_s = time.perf_counter() - started
    # The probe on PretrainedFeatures' default backbone, and on the one fine-tuned
    # (its own probe) when 'auto' chose another.
    probes = {}
    for backbone in dict.fromkeys([DEFAULT_PROBE if args.backbone == "auto" else args.backbone,
                                   clf.backbone_]):
        probe = make_pipeline(
            PretrainedFeatures(backbone=backbone, input_size=input_size, verbose=0),
            StandardScaler(), LogisticRegression(max_iter=2000))
        started = time.perf_counter()
        probe.fit(X_train, y_train)
        probes[backbone] = accuracy(probe, X_test, y_test), time.perf_counter() - started
        print(f"probe ({backbone}) accuracy {probes[backbone][0]:.4f}  fit "
              f"{probes[backbone][1]:6.1f} s", flush=True)
    probe_acc, probe_s = next(iter(probes.values()))
    own_acc = probes[clf.backbone_][0]
    acc = accuracy(clf, X_test, y_test)
    by_weight = test_by_weight(clf, X_test, y_test) if hasattr(clf, "ends_") else {}
    recipe = clf.recipe_
    choose = next((p for p in recipe["phases"] if p["phase"] == "choose"), None)
    wins = losses = 0
    if choose is not None:
        probe_right = np.asarray(choose["probe"]["correct"], dtype=bool)
        tuned_right = np.asarray(choose["finetune"]["correct"], dtype=bool)
        wins, losses = int(np.sum(tuned_right & ~probe_right)), int(np.sum(probe_right & ~tuned_right))
    print(f"default ({clf.backbone_}) accuracy {acc:.4f}  fit {fit_s:6.1f} s  "
          f"chose a={recipe.get('interpolation')}"
          f"  validation wins/losses of a=1 against the probe: {wins}/{losses}", flush=True)
    if choose is not None:
        print("  validation accuracy by a: " + ", ".join(
            f"{c['weight']:.2f}: {c['accuracy']:.4f}" for c in choose["candidates"]))
        evidence = choose.get("evidence") or {}
        if "p_value" in evidence:
            print(f"  best candidate a={evidence['best']:.2f} against a=0.50: "
                  f"{evidence['wins']}/{evidence['losses']} images, p={evidence['p_value']:.3f}")
    if by_weight:
        print("  test accuracy by a (oracle): " + ", ".join(
            f"{a:.2f}: {s:.4f}" for a, s in by_weight.items()))
    best = max(by_weight, key=by_weight.get) if by_weight else None
    return dict(name=name, n=f"{len(X_train)}/{len(X_test)}", probe=probe_acc, probe_s=probe_s,
                backbone=clf.backbone_.replace("efficientnet_", ""), own=own_acc,
                finetuned=by_weight.get(1.0, float("nan")), default=acc, fit_s=fit_s,
                weight=recipe.get("interpolation"), wins=wins, losses=losses,
                oracle=by_weight.get(best, float("nan")), oracle_weight=best)


def print_table(rows):
    header = (f"{'data':<10} {'train/test':>10} {'probe':>7} {'(s)':>6} {'tuned':>6} "
              f"{'own':>7} {'ft a=1':>7} {'default':>7} {'(s)':>6} {'a':>5} {'W/L':>6} "
              f"{'- probe':>8} {'- own':>6} {'oracle':>12}")
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        weight = "-" if r["weight"] is None else f"{r['weight']:.2f}"
        oracle = "-" if r["oracle_weight"] is None else f"{r['oracle']:.4f}@{r['oracle_weight']:.2f}"
        print(f"{r['name']:<10} {r['n']:>10} {r['probe']:7.4f} {r['probe_s']:6.0f} "
              f"{r['backbone']:>6} {r['own']:7.4f} {r['finetuned']:7.4f} {r['default']:7.4f} "
              f"{r['fit_s']:6.0f} {weight:>5} {r['wins']:>2}/{r['losses']:<3} "
              f"{100 * (r['default'] - r['probe']):+8.1f} {100 * (r['default'] - r['own']):+6.1f} "
              f"{oracle:>12}")
    print("probe: PretrainedFeatures + StandardScaler + LogisticRegression (on "
          f"{DEFAULT_PROBE} with --backbone auto); tuned: the backbone fine-tuned; own: the "
          "probe on that backbone; ft a=1: the fine-tuned network alone; default: "
          "FineTunedClassifier's choice; W/L: validation images the fine-tuned network gets "
          "right and the probe wrong, and the reverse; - probe / - own: default minus probe / "
          "own probe in points; oracle: best a on the test split (a bound).")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated, among {', '.join(DATASETS)}")
    parser.add_argument("--data", default=None, help="another image folder (run alone)")
    parser.add_argument("--backbone", default="auto",
                        help="the fine-tuned backbone and its probe's ('auto': "
                             "FineTunedClassifier's default, probed on efficientnet_lite0 "
                             "and on the backbone it picked)")
    parser.add_argument("--subset", type=int, default=None,
                        help="at most this many training images per class")
    parser.add_argument("--split", type=int, default=0,
                        help="random_state of the 70/30 split (0: the one the docs report)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a FineTunedClassifier parameter (Python literal), to explore")
    args = parser.parse_args()
    settings = {name: ast.literal_eval(value)
                for name, value in (item.split("=", 1) for item in args.set)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, backbone "
          f"{args.backbone}, settings {settings or 'default'}")
    if args.data is not None:
        if not Path(args.data).is_dir():
            raise SystemExit(f"{args.data} is not a folder; pass --data <image folder>.")
        paths, labels = load_image_folder(args.data)
        loaders = {Path(args.data).name: lambda: (np.asarray(paths), np.asarray(labels), None)}
    else:
        unknown = set(args.datasets.split(",")) - set(DATASETS)
        if unknown:
            raise SystemExit(f"unknown data set(s) {sorted(unknown)}; use {', '.join(DATASETS)}")
        loaders = {name: DATASETS[name] for name in args.datasets.split(",")}
    rows = []
    for name, load in loaders.items():
        loaded = load()
        if loaded is None:
            print(f"\n== {name}: not found under {SHARED}, skipped")
            continue
        rows.append(run(name, *loaded, args, settings))
    print_table(rows)


if __name__ == "__main__":
    main()
