"""Default CNNClassifier against an RBF SVC on the pixels: 5-fold accuracy and fit time.

scikit-learn's 8x8 digits as they are, and ../shared/data/fashion_mnist_4443.npz when present
(StratifiedKFold, shuffled, random_state=0), with the threads given (default 2).

    python benchmarks/cnn_defaults.py [--threads 2] [--folds 5] [--skip-fashion]

Goals: digits >= 0.988; Fashion-MNIST >= SVC + 0.02.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.svm import SVC

from skcnn import CNNClassifier

FASHION = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_mnist_4443.npz"


def report(name, estimator, X, y, folds):
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    start = time.perf_counter()
    scores = cross_validate(estimator, X, y, cv=cv)
    total = time.perf_counter() - start
    print(f"{name:34s} accuracy {scores['test_score'].mean():.4f} "
          f"(+- {scores['test_score'].std():.4f})   fit {scores['fit_time'].mean():6.1f} s/fold"
          f"   total {total:6.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-fashion", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.folds}-fold")
    X, y = load_digits(return_X_y=True)
    report("digits 8x8: SVC(rbf) on pixels", SVC(), X / 16.0, y, args.folds)
    report("digits 8x8: CNNClassifier()", CNNClassifier(random_state=0, verbose=0, device="cpu"),
           X.reshape(-1, 8, 8) / 16.0, y, args.folds)
    if args.skip_fashion or not FASHION.exists():
        print(f"fashion: skipped ({FASHION} absent or --skip-fashion)")
        return
    data = np.load(FASHION)
    X, y = data["X"].astype(np.float32) / 255.0, data["y"]
    report("fashion 28x28: SVC(rbf) on pixels", SVC(), X.reshape(len(X), -1), y, args.folds)
    report("fashion 28x28: CNNClassifier()", CNNClassifier(random_state=0, verbose=0,
                                                           device="cpu"), X, y, args.folds)


if __name__ == "__main__":
    main()
