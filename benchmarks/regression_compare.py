"""Regression in ``skcnn compare``: CNNs against SVR, Ridge and XGBoost on pixels and features.

The data set is ``skcnn.datasets.load_digits_rotation()`` (offline): scikit-learn's
1,797 digits at 16x16, each rotated by an angle drawn uniformly from [-45, 45]
degrees; the target is the angle. :func:`skcnn.compare` runs every built-in
regression model on the same 5 shuffled KFold splits (random_state=0) and
prints R² (the score), the mean absolute and root mean squared errors (in
degrees) and the time of each model, the one pretrained-feature extraction
counted once; the table is also written as Markdown when ``--output`` is given.

    python benchmarks/regression_compare.py [--models cnn,pixels+svr] [--threads 2]
        [--cv 5] [--output table.md] [--plot chart.png]
"""

import argparse
import time

import torch

from skcnn import compare
from skcnn.comparison import REGRESSION_MODELS
from skcnn.datasets import load_digits_rotation


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(REGRESSION_MODELS))
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer epochs: a smoke test")
    parser.add_argument("--output", default=None, help="also write the table (.md, .csv, ...)")
    parser.add_argument("--plot", default=None, help="also write the chart (.png, .svg, ...)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, angles = load_digits_rotation(return_X_y=True)
    start = time.perf_counter()
    result = compare(X, angles, models=args.models, cv=args.cv, quick=args.quick,
                     device="cpu", random_state=0, verbose=1)
    print(f"{len(X)} digits at 16x16 rotated by angles in [-45, 45] degrees (target); "
          f"torch threads: {args.threads}; whole comparison {time.perf_counter() - start:.0f} s")
    print(result.to_text())
    if args.output:
        result.save(args.output)
    if args.plot:
        result.save(args.plot)


if __name__ == "__main__":
    main()
