# %% [markdown]
# # 2. Pretrained features with an SVM and XGBoost
#
# A network trained on ImageNet turns any image into a vector of features that a classical
# model can learn from, even with very few labelled images. `PretrainedFeatures` is a
# scikit-learn transformer, so it goes into a `Pipeline` in front of any classifier and
# the whole pipeline is cross-validated as one model.
#
# * Data: scikit-image's LFW subset, 200 grayscale crops of 25x25 pixels, 100 faces and
#   100 non-faces.
# * Network: EfficientNet-Lite0, whose ImageNet weights ship with skcnn's dependencies
#   (no download).
#
# Under a minute on two CPU cores. `SKCNN_EXAMPLES_QUICK=1` runs a smaller version.

# %%
import os
import time

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from skcnn import PretrainedFeatures
from skcnn.datasets import load_lfw_faces

QUICK = os.environ.get("SKCNN_EXAMPLES_QUICK") == "1"

# %% [markdown]
# ## The data

# %%
faces = load_lfw_faces()
X, y = faces.images, faces.target  # (200, 25, 25) floats in [0, 1]; 1 = face
print(f"{len(X)} images of {X.shape[1]}x{X.shape[2]} pixels: "
      f"{(y == 1).sum()} {faces.target_names[1]}s, {(y == 0).sum()} {faces.target_names[0]}s")
folds = StratifiedKFold(n_splits=3 if QUICK else 5, shuffle=True, random_state=0)


def report(name, scores, seconds):
    """One line per model: mean and spread of the fold accuracies."""
    print(f"{name:36s} accuracy {scores.mean():.3f} +/- {scores.std():.3f} over "
          f"{len(scores)} folds ({seconds:.1f} s)")


# %% [markdown]
# ## A baseline: an SVM on the raw pixels

# %%
start = time.perf_counter()
scores = cross_val_score(SVC(), X.reshape(len(X), -1), y, cv=folds)
report("SVC on raw pixels", scores, time.perf_counter() - start)

# %% [markdown]
# ## Pretrained features + SVM
#
# The images are upscaled to the network's input size (224x224, or 64x64 in the quick
# run). The network is not trained: `fit` only loads it, so nothing leaks between folds.
# With `cache=True` the features of each image are stored on disk (in
# `$SKCNN_CACHE_DIR/features`, else your user cache folder) and computed only once: the
# cross-validation below, the grid search and the XGBoost pipeline all reuse them. The
# features go to the SVM as they are: standardising them first makes it worse here.

# %%
features = PretrainedFeatures(backbone="efficientnet_lite0", input_size=64 if QUICK else None,
                              cache=True, verbose=0)
svm = make_pipeline(features, SVC())
start = time.perf_counter()
scores = cross_val_score(svm, X, y, cv=folds)
report("PretrainedFeatures + SVC", scores, time.perf_counter() - start)

# %% [markdown]
# A grid search over the SVM's `C` refits the whole pipeline for every candidate and
# fold; thanks to the cache the network does not run again.

# %%
start = time.perf_counter()
search = GridSearchCV(svm, {"svc__C": [0.1, 1.0, 10.0]}, cv=folds).fit(X, y)
print(f"best C: {search.best_params_['svc__C']}, cross-validated accuracy "
      f"{search.best_score_:.3f} ({time.perf_counter() - start:.1f} s)")

# %% [markdown]
# ## Pretrained features + XGBoost
#
# Gradient-boosted trees on the same features. XGBoost is optional
# (`pip install xgboost`); without it this step is skipped.

# %%
try:
    from xgboost import XGBClassifier
except ImportError:
    XGBClassifier = None
    print("xgboost is not installed (pip install xgboost): skipping the XGBoost model.")

if XGBClassifier is not None:
    boosted = make_pipeline(clone(features), XGBClassifier(
        n_estimators=50 if QUICK else 200, max_depth=3, learning_rate=0.1, n_jobs=1,
        random_state=0))
    start = time.perf_counter()
    scores = cross_val_score(boosted, X, y, cv=folds)
    report("PretrainedFeatures + XGBoost", scores, time.perf_counter() - start)
