# %% [markdown]
# # 4. Looking inside a CNN
#
# What did the network learn? `skcnn.plotting` draws
#
# * `plot_learning_curve`: loss and accuracy per epoch, on the training and validation data;
# * `plot_filters`: the learned kernels of a convolution layer;
# * `plot_feature_maps`: what one image becomes at a layer of the network;
#
# and scikit-learn's `ConfusionMatrixDisplay` shows which classes get confused. The plots
# are matplotlib figures built without pyplot: `show_figure` displays them in a notebook
# and saves them under `figures/` when this file runs as a script.
#
# Under a minute on two CPU cores. `SKCNN_EXAMPLES_QUICK=1` runs a smaller version.

# %%
import os

from matplotlib.figure import Figure
from skimage.data import chelsea
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

from skcnn import CNNClassifier
from skcnn.datasets import load_digits_images
from skcnn.plotting import plot_feature_maps, plot_filters, plot_learning_curve, show_figure
from skcnn.pretrained import resolve_backbone

QUICK = os.environ.get("SKCNN_EXAMPLES_QUICK") == "1"

# %% [markdown]
# ## A small CNN on the digits
#
# Two convolution blocks of 8 and 16 filters. `early_stopping=True` holds out 10% of the
# training images: training stops when their loss has not improved for 5 epochs and the
# weights of the best epoch are restored. The validation curve shows up in the learning
# curve.

# %%
X, y = load_digits_images(size=16, return_X_y=True)
if QUICK:
    X, y = X[:600], y[:600]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)
cnn = CNNClassifier(filters=(8, 16), kernel_size=3, padding="same", hidden_units=(64,),
                    learning_rate=3e-3, batch_size=32, max_epochs=12 if QUICK else 40,
                    early_stopping=True, n_iter_no_change=5, random_state=0, verbose=0)
cnn.fit(X_train, y_train)
print(f"{cnn.n_iter_} epochs, test accuracy: {cnn.score(X_test, y_test):.3f}")

# %% [markdown]
# ## Learning curve

# %%
show_figure(plot_learning_curve(cnn), "figures/04_learning_curve.png")

# %% [markdown]
# ## Filters of the first convolution
#
# Eight 3x3 kernels applied to the grayscale digit: red weights add the pixel's value,
# blue ones subtract it, so most act as small edge or stroke detectors.

# %%
show_figure(plot_filters(cnn), "figures/04_filters.png")

# %% [markdown]
# ## Feature maps of one test digit
#
# The output of the first convolution (layer 0 counts the convolutions), then of the second
# (16 maps at half the resolution, after the first pooling).

# %%
digit = X_test[0]
show_figure(plot_feature_maps(cnn, digit, layer=0), "figures/04_feature_maps_0.png")
show_figure(plot_feature_maps(cnn, digit, layer=1), "figures/04_feature_maps_1.png")

# %% [markdown]
# ## Confusion matrix
#
# No skcnn function needed: scikit-learn's display works with any classifier. Giving it the
# axes of a `Figure` keeps pyplot out (without `ax` it draws through pyplot as usual).

# %%
fig = Figure(figsize=(5.5, 4.5), layout="constrained")
ConfusionMatrixDisplay.from_estimator(cnn, X_test, y_test, ax=fig.subplots(), colorbar=False)
show_figure(fig, "figures/04_confusion_matrix.png")

# %% [markdown]
# ## Inside a pretrained network
#
# The same plots work on pretrained networks (a `Backbone`, or a fitted
# `PretrainedFeatures` or `FineTunedClassifier`). EfficientNet-Lite0's first layer has 32
# RGB kernels of 3x3, drawn in colour (grey is 0): most respond to a colour contrast
# (green against purple, say) or to an edge in some direction; a few are close to zero.

# %%
backbone = resolve_backbone("efficientnet_lite0").load()
print(backbone, "stages:", backbone.layer_names())
show_figure(plot_filters(backbone), "figures/04_pretrained_filters.png")

# %% [markdown]
# A photo goes through the backbone's own preprocessing (resize, crop, normalise; the
# first panel shows it as the network receives it). Early maps keep the cat's outline;
# deeper stages respond to larger, more abstract patterns at a coarser resolution.

# %%
cat = chelsea()
show_figure(plot_feature_maps(backbone, cat, layer="conv_stem", max_maps=16),
            "figures/04_cat_conv_stem.png")
show_figure(plot_feature_maps(backbone, cat, layer="blocks.2", max_maps=16),
            "figures/04_cat_blocks2.png")
