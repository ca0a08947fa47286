# %% [markdown]
# # 1. A CNN on the digits, tuned with `GridSearchCV`
#
# `CNNClassifier` is a scikit-learn estimator, so scikit-learn's model selection works on it
# unchanged. This notebook trains convolutional networks from scratch on scikit-learn's
# handwritten digits (8x8 pixels, resized to 16x16) and lets `GridSearchCV` pick the
# architecture, one of the three built-in ones:
#
# * `"convnet"`: two blocks of convolution and max pooling (32 and 64 filters), a dense layer;
# * `"simple_cnn"`: a small VGG-style network with BatchNorm and global average pooling;
# * `"lenet5"`: LeCun's LeNet-5 (tanh activations, average pooling).
#
# About 1 minute on two CPU cores, seconds on a GPU. With the environment variable
# `SKCNN_EXAMPLES_QUICK=1` it runs on less data, fewer epochs and a smaller grid (what
# the test suite does). The same file runs as a script: `python examples/01_digits_cnn_gridsearch.py`.

# %%
import os
import time

import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

from skcnn import CNNClassifier
from skcnn.datasets import load_digits_images

QUICK = os.environ.get("SKCNN_EXAMPLES_QUICK") == "1"

# %% [markdown]
# ## The data
#
# `load_digits_images` returns the 1,797 digits as `float32` images in [0, 1]. A quarter
# is kept aside as a test set that the search never sees.

# %%
X, y = load_digits_images(size=16, return_X_y=True)  # (1797, 16, 16)
if QUICK:
    X, y = X[:600], y[:600]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)
print(f"{len(X_train)} training and {len(X_test)} test images of "
      f"{X.shape[1]}x{X.shape[2]} pixels, {len(set(y))} classes")

# %% [markdown]
# ## The search
#
# Every setting is scored by stratified cross-validation on the training set, then the
# best one is refitted on all of it. `random_state` fixes the weight initialisation and
# the order of the batches, so the run is repeatable; the learning rate decays to zero
# along a cosine over the epochs (`lr_schedule="cosine"`), so training ends on stable
# weights. Any other parameter can join the grid, e.g. `"learning_rate": [1e-3, 3e-3]`,
# or the parameters of an architecture given as a plugin instance, e.g.
# `"architecture": [SimpleCNN()], "architecture__width": [16, 32]`. (On a machine with
# many cores, `n_jobs=-1` fits the candidates in parallel.)

# %%
cnn = CNNClassifier(max_epochs=6 if QUICK else 15, batch_size=32, learning_rate=3e-3,
                    lr_schedule="cosine", random_state=0, verbose=0)
param_grid = {"architecture": ["convnet", "simple_cnn", "lenet5"]}
folds = StratifiedKFold(n_splits=2 if QUICK else 3, shuffle=True, random_state=0)
search = GridSearchCV(cnn, param_grid, cv=folds)

start = time.perf_counter()
search.fit(X_train, y_train)
print(f"{len(search.cv_results_['params'])} settings x {folds.get_n_splits()} folds in "
      f"{time.perf_counter() - start:.0f} s")

# %%
results = pd.DataFrame(search.cv_results_)
columns = [c for c in results if c.startswith("param_")] + [
    "mean_test_score", "std_test_score", "mean_fit_time", "rank_test_score"]
print(results[columns].sort_values("rank_test_score").round(3).to_string(index=False))

# %% [markdown]
# ## The winner, on the test set

# %%
print(f"best parameters: {search.best_params_}")
print(f"best cross-validated accuracy: {search.best_score_:.3f}")
test_accuracy = accuracy_score(y_test, search.predict(X_test))
print(f"test accuracy: {test_accuracy:.3f}")
