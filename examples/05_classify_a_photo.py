# %% [markdown]
# # 5. Classify a photo with an ImageNet network
#
# Pretrained networks come with their ImageNet head: `classify_images` returns the most
# probable of the 1,000 ImageNet classes for each image, like Keras'
# `model.predict` + `decode_predictions`. It takes file paths, PIL images or arrays, of any
# size; each image is resized and cropped the way the network expects.
#
# A few seconds on a CPU. (The environment variable `SKCNN_EXAMPLES_QUICK` changes nothing
# here.)

# %%
import os

from matplotlib.figure import Figure
from PIL import Image
from skimage import data

from skcnn import classify_images, decode_predictions, predict_imagenet_proba
from skcnn.plotting import show_figure

QUICK = os.environ.get("SKCNN_EXAMPLES_QUICK") == "1"  # nothing to shrink in this one

# %% [markdown]
# ## Chelsea the cat
#
# scikit-image ships a photo of a cat called Chelsea.

# %%
cat = data.chelsea()  # (300, 451, 3) uint8 RGB
(top,) = classify_images(cat[None], backbone="efficientnet_lite0", top=5)
print("chelsea:")
for name, probability in top:
    print(f"  {probability:6.1%}  {name}")

# %% [markdown]
# ## Several photos of different sizes
#
# Images of different sizes cannot share one array; pass them as a list of PIL images (or of
# file paths). `predict_imagenet_proba` gives all 1,000 probabilities and
# `decode_predictions` picks the top ones.

# %%
photos = {"chelsea": data.chelsea(), "coffee": data.coffee(), "rocket": data.rocket()}
proba, class_names = predict_imagenet_proba([Image.fromarray(p) for p in photos.values()],
                                            backbone="efficientnet_lite0")
predictions = decode_predictions(proba, top=3, class_names=class_names)
for (name, photo), top in zip(photos.items(), predictions):
    guesses = ", ".join(f"{label} ({p:.0%})" for label, p in top)
    print(f"{name:8s} {photo.shape[1]}x{photo.shape[0]}: {guesses}")

# %%
fig = Figure(figsize=(10, 3.2), layout="constrained")
for ax, photo, top in zip(fig.subplots(1, len(photos)), photos.values(), predictions):
    ax.imshow(photo)
    ax.set_title(f"{top[0][0]} ({top[0][1]:.0%})", fontsize=10)
    ax.set_axis_off()
show_figure(fig, "figures/05_photos.png")
