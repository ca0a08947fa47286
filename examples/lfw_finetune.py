"""Faces vs non-faces (scikit-image's lfw_subset): fine-tuning against two baselines.

200 grayscale 25x25 crops (100 faces, 100 non-faces), stratified 5-fold CV
(shuffled, random_state=0), the same folds for all three models:

* an RBF SVC on the raw pixels,
* PretrainedFeatures (EfficientNet-Lite0, ImageNet weights that ship with skcnn's
  dependencies) + StandardScaler + LogisticRegression,
* FineTunedClassifier, the default recipe at 96x96 with 'standard'
  augmentation: a linear probe on the backbone's features, then the whole
  network fine-tuned from it (the backbone at a tenth of the head's learning
  rate with layer decay and frozen BatchNorm statistics, AdamW with warm-up and
  cosine decay, 6 epochs), keeping the better of the two on a validation split
  of each training fold.

About 10 minutes on 2 CPU cores; seconds on a GPU.

    python examples/lfw_finetune.py [--quick]
"""

import argparse
import time

import numpy as np
from skimage.data import lfw_subset
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skcnn import FineTunedClassifier, PretrainedFeatures

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="80 images, 3 folds, 2 epochs")
args = parser.parse_args()

images = lfw_subset()                               # (200, 25, 25) floats in [0, 1]
labels = np.r_[np.ones(100, dtype=int), np.zeros(100, dtype=int)]   # 1 = face
n_folds, epochs = 5, 6
if args.quick:
    keep = np.random.RandomState(0).permutation(200)[:80]
    images, labels, n_folds, epochs = images[keep], labels[keep], 3, 2
folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=0)

models = {
    "SVC (rbf) on raw pixels": (SVC(), images.reshape(len(images), -1)),
    "PretrainedFeatures + LogisticRegression": (
        make_pipeline(PretrainedFeatures(verbose=0), StandardScaler(),
                      LogisticRegression(max_iter=2000)), images),
    "FineTunedClassifier (efficientnet_lite0)": (
        FineTunedClassifier(backbone="efficientnet_lite0", input_size=96, max_epochs=epochs,
                            augment="standard", random_state=0, verbose=0), images),
}
for name, (model, X) in models.items():
    start = time.perf_counter()
    scores = cross_val_score(model, X, labels, cv=folds)
    print(f"{name:42s} {n_folds}-fold accuracy {scores.mean():.4f} +/- {scores.std():.4f}  "
          f"{scores.round(4)}  ({time.perf_counter() - start:.0f} s)", flush=True)
