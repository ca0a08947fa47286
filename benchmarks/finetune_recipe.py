"""Default FineTunedClassifier against its own linear probe on a real photo set.

One stratified 70/30 split (random_state=0) of ``../shared/data/caltech20``
(1,552 object photos, 20 classes), loaded with :func:`skcnn.datasets.load_image_folder`.
Prints the test accuracy and fit time of

* ``FineTunedClassifier(random_state=0)`` with its defaults, and
* ``PretrainedFeatures()`` + ``StandardScaler`` + ``LogisticRegression``
  (the linear probe the fine-tuned default must not lose to; 0.961 measured
  before issue 13),

and the difference between them. Run it on two cores with the lock the
helpers share, e.g.::

    OMP_NUM_THREADS=2 flock /tmp/skcnn-bench.lock python benchmarks/finetune_recipe.py

Options: ``--data`` (another image folder), ``--subset N`` (N training images
per class at most, for quick exploration), ``--skip-probe``.

Goal (issue 13): fine-tuned >= probe (aim +1 point), fine-tune fit under
10 minutes on a 2-core CPU.
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

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech20"


def timed_fit_score(model, X_train, y_train, X_test, y_test):
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return float(np.mean(model.predict(X_test) == y_test)), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--subset", type=int, default=None,
                        help="at most this many training images per class")
    parser.add_argument("--skip-probe", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a FineTunedClassifier parameter (Python literal), to explore")
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        raise SystemExit(f"{args.data} is not a folder; pass --data <image folder>.")
    loaded = load_image_folder(args.data)
    X, y = np.asarray(loaded[0]), np.asarray(loaded[1])
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0)
    if args.subset:
        keep = np.concatenate([np.flatnonzero(y_train == c)[:args.subset]
                               for c in np.unique(y_train)])
        X_train, y_train = X_train[keep], y_train[keep]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(X_train)} "
          f"training / {len(X_test)} test images, {len(np.unique(y))} classes")
    probe_acc = None
    if not args.skip_probe:
        probe = make_pipeline(PretrainedFeatures(), StandardScaler(),
                              LogisticRegression(max_iter=1000))
        probe_acc, probe_s = timed_fit_score(probe, X_train, y_train, X_test, y_test)
        print(f"PretrainedFeatures + scaled LogisticRegression  accuracy {probe_acc:.3f}  "
              f"fit {probe_s:6.1f} s", flush=True)
    settings = {name: ast.literal_eval(value)
                for name, value in (item.split("=", 1) for item in args.set)}
    clf = FineTunedClassifier(random_state=0, **settings)
    acc, seconds = timed_fit_score(clf, X_train, y_train, X_test, y_test)
    print(f"FineTunedClassifier(random_state=0{''.join(f', {a}' for a in args.set)})  "
          f"accuracy {acc:.3f}  fit {seconds:6.1f} s")
    recipe = getattr(clf, "recipe_", None)
    if recipe is not None:
        print("recipe_:", {k: v for k, v in recipe.items() if k != "phases"})
        for phase in recipe["phases"]:
            details = {k: v for k, v in phase.items()
                       if k not in ("phase", "images") and not k.endswith("images")}
            for key, value in details.items():  # scores: without the per-image 'correct'
                if isinstance(value, dict):
                    details[key] = {k: round(v, 4) for k, v in value.items() if k != "correct"}
                elif isinstance(value, list):  # the interpolation candidates
                    details[key] = [{k: round(v, 4) for k, v in c.items() if k != "correct"}
                                    for c in value]
            print("  ", phase["phase"], f"on {len(phase['images'])} images", details)
    if probe_acc is not None:
        print(f"fine-tuned - probe: {100 * (acc - probe_acc):+.1f} points "
              "(goal >= 0, aim +1)")


if __name__ == "__main__":
    main()
