"""Searching CNN hyperparameters on a budget: full grid vs successive halving vs Optuna.

The same 16-candidate grid of a CNNClassifier on the 8x8 digits (75% to
search on, 25% held out), three ways:

* GridSearchCV: every candidate for ``--epochs`` epochs on 3 folds;
* successive halving on epochs (skcnn.model_selection.halving_search_cv,
  HalvingGridSearchCV with resource='max_epochs'): every candidate for
  ``epochs / 9`` epochs, the best third 3x longer, ... up to ``--epochs``;
* Optuna: the grid in Optuna's GridSampler, one hold-out validation split per
  trial, bad trials pruned by a median pruner through skcnn's ``callbacks=``
  (optuna-integration's SkorchPruningCallback); see examples/optuna_pruning.py.

Printed per search: its best selection score (cross-validated accuracy for the
two scikit-learn searches, validation accuracy for Optuna), the held-out test
accuracy of the candidate it chose (refit on the 75%), the wall time, and the
ratio of halving's time to the grid's. Acceptance: halving's best
cross-validated accuracy within 1 point of the grid's, in under half its time.

    python benchmarks/search_budget.py [--epochs 27]

Times are measured on whatever the machine is doing meanwhile; on a shared
machine they are noisy.
"""

import argparse
import runpy
import time
from pathlib import Path

import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

from skcnn import CNNClassifier
from skcnn.datasets import load_digits_images
from skcnn.model_selection import halving_search_cv

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "optuna_pruning.py"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=27, help="epochs of a full training")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    example = runpy.run_path(str(EXAMPLE), run_name="optuna_example")
    grid = example["GRID"]

    X, y = load_digits_images(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    cnn = CNNClassifier(kernel_size=3, padding="same", hidden_units=(64,), batch_size=32,
                        max_epochs=args.epochs, verbose=0, random_state=0)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    n_candidates = len(grid["learning_rate"]) * len(grid["filters"]) * len(grid["dropout"])
    print(f"{n_candidates} candidates, {args.epochs} epochs each at most, 3-fold CV, "
          f"{len(X_train)} digits to search on, {len(X_test)} held out")

    rows = []
    start = time.perf_counter()
    full = GridSearchCV(cnn, grid, cv=folds).fit(X_train, y_train)
    rows.append(("GridSearchCV", full.best_score_, full.score(X_test, y_test),
                 time.perf_counter() - start, full.best_params_))

    start = time.perf_counter()
    halving = halving_search_cv(cnn, grid, min_epochs=max(args.epochs // 9, 1),
                                max_epochs=args.epochs, factor=3, cv=folds).fit(X_train, y_train)
    rows.append(("halving (epochs)", halving.best_score_, halving.score(X_test, y_test),
                 time.perf_counter() - start, halving.best_params_))
    print(f"halving: {halving.n_candidates_} candidates trained for {halving.n_resources_} "
          "epochs")

    start = time.perf_counter()
    study, optuna_test = example["run"](max_epochs=args.epochs, grid=grid)
    pruned = sum(trial.state.name == "PRUNED" for trial in study.trials)
    rows.append((f"Optuna ({pruned} pruned)", study.best_value, optuna_test,
                 time.perf_counter() - start, study.best_trial.params))

    print(f"{'search':<22} {'best score':>10} {'test acc':>9} {'time (s)':>9}  best candidate")
    for name, best, test, seconds, params in rows:
        print(f"{name:<22} {best:>10.4f} {test:>9.4f} {seconds:>9.1f}  {params}")
    gap = 100 * (full.best_score_ - halving.best_score_)
    ratio = rows[1][3] / rows[0][3]
    print(f"halving vs grid: best CV accuracy {gap:+.2f} points below, time ratio {ratio:.2f} "
          f"-> {'met' if gap <= 1 and ratio < 0.5 else 'NOT met'} (within 1 point, under 0.5)")


if __name__ == "__main__":
    main()
