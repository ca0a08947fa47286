"""Tune a CNNClassifier with Optuna, pruning bad trials after a few epochs.

skcnn's ``callbacks=`` parameter hands any skorch callback to the training
loop. optuna-integration's ``SkorchPruningCallback`` reports a metric of the
skorch history to the trial after every epoch and stops the fit (it raises
``optuna.TrialPruned``) when the pruner judges the trial hopeless, so a bad
learning rate costs two or three epochs instead of all of them.

The metric must be in the history every epoch: ``early_stopping=True`` holds
out ``validation_fraction`` of the training images and records ``valid_acc``
(and ``valid_loss``); a patience as long as the fit keeps every epoch.

    pip install "skcnn[optuna]"
    python examples/optuna_pruning.py
"""

import optuna
from optuna_integration import SkorchPruningCallback
from sklearn.model_selection import train_test_split

from skcnn import CNNClassifier
from skcnn.datasets import load_digits_images

#: The search space (the same grid as benchmarks/search_budget.py).
GRID = {
    "learning_rate": [1e-4, 1e-3, 3e-3, 1e-2],
    "filters": [8, 32],  # one convolution block of 8 or 32 filters
    "dropout": [0.0, 0.25],
}


def run(n_trials=None, max_epochs=20, n_images=None, grid=GRID, seed=0):
    """Search ``grid`` with Optuna's grid sampler and a median pruner on the digits.

    Returns
    -------
    study : optuna.Study
        Its ``trials`` say which were pruned (``state == TrialState.PRUNED``).
    test_accuracy : float
        Accuracy on held-out digits of the best trial's network.
    """
    X, y = load_digits_images(return_X_y=True)
    if n_images is not None:
        X, y = X[:n_images], y[:n_images]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=seed)
    fitted = {}

    def objective(trial):
        params = {name: trial.suggest_categorical(name, values)
                  for name, values in grid.items()}
        clf = CNNClassifier(
            **params, kernel_size=3, padding="same", hidden_units=(64,), batch_size=32,
            max_epochs=max_epochs, early_stopping=True, validation_fraction=0.2,
            n_iter_no_change=max_epochs, verbose=0, random_state=seed,
            callbacks=[SkorchPruningCallback(trial, monitor="valid_acc")],
        )
        clf.fit(X_train, y_train)  # raises optuna.TrialPruned when the pruner says so
        fitted[trial.number] = clf
        return max(clf.validation_scores_)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.GridSampler(grid, seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
    )
    study.optimize(objective, n_trials=n_trials)
    best = fitted[study.best_trial.number]
    return study, best.score(X_test, y_test)


if __name__ == "__main__":
    import time

    start = time.perf_counter()
    study, accuracy = run()
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    print(f"{len(study.trials)} trials, {len(pruned)} pruned, "
          f"{time.perf_counter() - start:.1f} s")
    print(f"best trial {study.best_trial.params}: validation accuracy "
          f"{study.best_value:.4f}, test accuracy {accuracy:.4f}")
