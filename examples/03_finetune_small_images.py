# %% [markdown]
# # 3. Fine-tuning a pretrained network on a small image set
#
# `FineTunedClassifier` puts a new classification head on a pretrained network and trains
# both on your images: first the head alone, then the whole network at a smaller learning
# rate. Here it learns faces vs non-faces from 140 images of 25x25 pixels (scikit-image's
# LFW subset) and is compared with the cheaper alternative: pretrained features and a
# logistic regression, with the network frozen.
#
# Under a minute on two CPU cores, seconds on a GPU. `SKCNN_EXAMPLES_QUICK=1` runs a smaller
# version (smaller input, fewer images and epochs).

# %%
import os
import time

import numpy as np
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcnn import FineTunedClassifier, PretrainedFeatures
from skcnn.datasets import load_lfw_faces
from skcnn.plotting import plot_learning_curve, show_figure

QUICK = os.environ.get("SKCNN_EXAMPLES_QUICK") == "1"

# %% [markdown]
# ## The data: 70% to train, 30% to test

# %%
faces = load_lfw_faces()
X_train, X_test, y_train, y_test = train_test_split(
    faces.images, faces.target, test_size=0.3, stratify=faces.target, random_state=0)
if QUICK:
    X_train, y_train = X_train[:80], y_train[:80]
print(f"{len(X_train)} training and {len(X_test)} test images")

# %% [markdown]
# ## Fine-tuning
#
# The images are upscaled to `input_size` (96x96; the network's own 224 would be slower and
# no better on such small crops). One epoch trains the head alone (`freeze_epochs=1`), the
# others the whole network with the backbone at a tenth of the head's learning rate,
# BatchNorm statistics frozen, a cosine learning-rate decay and random flips, shifts and
# colour changes of the training images (`augment="standard"`).

# %%
size = 48 if QUICK else 96
finetuned = FineTunedClassifier(
    backbone="efficientnet_lite0", input_size=size, max_epochs=3 if QUICK else 6,
    freeze_epochs=1, backbone_lr_mult=0.1, augment=None if QUICK else "standard",
    random_state=0, verbose=0)
start = time.perf_counter()
finetuned.fit(X_train, y_train)
finetune_seconds = time.perf_counter() - start
finetune_accuracy = finetuned.score(X_test, y_test)

# %% [markdown]
# ## The frozen alternative: features + logistic regression

# %%
frozen = make_pipeline(PretrainedFeatures(backbone="efficientnet_lite0", input_size=size,
                                          verbose=0),
                       StandardScaler(), LogisticRegression(max_iter=2000))
start = time.perf_counter()
frozen.fit(X_train, y_train)
frozen_seconds = time.perf_counter() - start
frozen_accuracy = frozen.score(X_test, y_test)

# %%
print(f"{'model':44s} {'test accuracy':>13s} {'fit time':>9s}")
print(f"{'FineTunedClassifier':44s} {finetune_accuracy:13.3f} {finetune_seconds:8.1f}s")
print(f"{'PretrainedFeatures + LogisticRegression':44s} {frozen_accuracy:13.3f} "
      f"{frozen_seconds:8.1f}s")

# %% [markdown]
# On so few, so small images both do well; fine-tuning pays off as the images grow larger
# and differ more from ImageNet's photos, at the price of training the whole network.
#
# ## Training curves and predictions
#
# The fine-tuned network's loss and accuracy per epoch (see notebook 4 for more plots):

# %%
show_figure(plot_learning_curve(finetuned), "figures/03_learning_curve.png")

# %% [markdown]
# Some test images with the fine-tuned network's prediction (red: wrong).

# %%
predicted = finetuned.predict(X_test)
order = np.r_[np.flatnonzero(predicted != y_test), np.flatnonzero(predicted == y_test)][:16]
fig = Figure(figsize=(8, 2.4), layout="constrained")
for i, index in enumerate(order):
    ax = fig.add_subplot(2, 8, i + 1)
    ax.imshow(X_test[index], cmap="gray")
    ax.set_title(faces.target_names[predicted[index]], fontsize=8,
                 color="red" if predicted[index] != y_test[index] else "black")
    ax.set_axis_off()
show_figure(fig, "figures/03_predictions.png")
