"""ImageNet helpers, and ImageNet classification with the offline default backbone.

Network access is blocked for the whole module.
"""


import numpy as np
import pytest
import torch
from conftest import blocked_network
from PIL import Image

import skcnn
from skcnn.plugins import PreprocessConfig
from skcnn.pretrained import (
    EfficientNetLite0,
    decode_predictions,
    imagenet_class_names,
    preprocess_images,
)


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Block the network for this module; yields the list of attempted accesses."""
    with blocked_network() as attempts:
        yield attempts


# --------------------------------------------------------------------------- class names


def test_imagenet_class_names():
    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) >= 998
    assert names[0] == "tench"
    assert names[281:286] == ["tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"]
    assert names[967] == "espresso"
    names.append("mutating the copy is harmless")
    assert len(imagenet_class_names()) == 1000


# --------------------------------------------------------------------------- decode_predictions


def test_decode_predictions_sorted_per_image():
    probs = np.full((2, 1000), 0.0)
    probs[0, [285, 281, 282, 5]] = [0.5, 0.3, 0.15, 0.05]
    probs[1, 967] = 1.0
    decoded = decode_predictions(probs, top=3)
    assert skcnn.decode_predictions is decode_predictions
    assert decoded[0] == [("Egyptian cat", 0.5), ("tabby", 0.3), ("tiger cat", 0.15)]
    assert decoded[1][0] == ("espresso", 1.0)
    assert all(isinstance(p, float) for _, p in decoded[0])
    # torch tensors (also on another dtype) and lists work the same way
    half = torch.tensor(probs, dtype=torch.float16)
    assert decode_predictions(half, top=1)[1] == [("espresso", 1.0)]
    assert decode_predictions(probs.tolist(), top=1)[0] == [("Egyptian cat", 0.5)]
    assert decode_predictions(probs[:0]) == []


def test_decode_predictions_custom_class_names():
    decoded = decode_predictions([[0.2, 0.8]], top=5, class_names=["cat", "dog"])
    assert decoded == [[("dog", 0.8), ("cat", 0.2)]]  # top is capped at the number of classes


@pytest.mark.parametrize(
    "probabilities, kwargs, message",
    [
        (np.full(1000, 0.001), {}, r"2-D .*reshape\(1, -1\)"),
        (np.full((1, 10), 0.1), {}, "10 columns but there are 1000 class names"),
        (np.full((1, 3), 0.3), {"class_names": ["a", "b"]}, "3 columns but there are 2"),
        (np.full((1, 1000), 0.001), {"top": 0}, "top must be an integer >= 1"),
        (np.full((1, 1000), 0.001), {"top": 2.5}, "top must be an integer >= 1"),
        (np.full((1, 1000), np.nan), {}, "NaN"),
        (np.linspace(-3, 5, 1000)[None], {}, "look like logits: apply a softmax"),
        ([["a"] * 1000], {}, "2-D array of numbers"),
    ],
)
def test_decode_predictions_validates(probabilities, kwargs, message):
    with pytest.raises(ValueError, match=message):
        decode_predictions(probabilities, **kwargs)


# --------------------------------------------------------------------------- preprocess_images


def config(**overrides):
    values = dict(input_size=(4, 4), resize_size=4, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                  interpolation="nearest")
    values.update(overrides)
    return PreprocessConfig(**values)


def test_preprocess_normalises():
    gray = Image.new("RGB", (4, 4), (255, 0, 128))
    out = preprocess_images([gray, gray], config())
    assert out.shape == (2, 3, 4, 4) and out.dtype == torch.float32
    expected = torch.tensor([2.0, -2.0, (128 / 255 - 0.5) / 0.25])
    torch.testing.assert_close(out[0, :, 0, 0], expected)


def test_preprocess_resizes_shorter_side_and_center_crops():
    # 12 x 6 image: left third red, middle third green, right third blue.
    arr = np.zeros((6, 12, 3), dtype=np.uint8)
    arr[:, :4, 0] = 255
    arr[:, 4:8, 1] = 255
    arr[:, 8:, 2] = 255
    out = preprocess_images([Image.fromarray(arr)], config(input_size=(3, 3), resize_size=3))
    # shorter side 6 -> 3, so 6 x 3; the center crop keeps the green middle column
    values = out[0] * 0.25 + 0.5
    assert values.shape == (3, 3, 3)
    torch.testing.assert_close(values[:, :, 1], torch.tensor([[0.0] * 3, [1.0] * 3, [0.0] * 3]))


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "F", "CMYK", "1"])
def test_preprocess_converts_any_mode(mode):
    image = Image.new("RGB", (5, 7), (200, 200, 200)).convert(mode)
    if mode == "I;16":
        image = Image.fromarray(np.full((7, 5), 200 * 257, dtype=np.uint16))
    elif mode == "F":
        image = Image.fromarray(np.full((7, 5), 200 / 255, dtype=np.float32))
    out = preprocess_images([image], config())
    assert out.shape == (1, 3, 4, 4)
    assert torch.isfinite(out).all()
    if mode not in ("1", "CMYK"):
        # (the web palette of mode P holds 204, not 200)
        torch.testing.assert_close(out * 0.25 + 0.5, torch.full_like(out, 200 / 255), atol=0.02,
                                   rtol=0)


def test_preprocess_transparent_pixels_become_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    out = preprocess_images([image], config()) * 0.25 + 0.5
    torch.testing.assert_close(out, torch.ones_like(out))


def test_preprocess_matches_torchvision_transforms():
    from torchvision.models import ResNet18_Weights

    from skcnn.pretrained import ResNet18

    rng = np.random.RandomState(0)
    image = Image.fromarray(rng.randint(0, 256, (300, 451, 3), dtype=np.uint8))
    ours = preprocess_images([image], ResNet18().preprocess_config())
    theirs = ResNet18_Weights.IMAGENET1K_V1.transforms()(image)[None]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_preprocess_bad_input():
    with pytest.raises(ValueError, match="empty"):
        preprocess_images([], config())
    with pytest.raises(TypeError, match=r"images\[1\] is a ndarray, not a PIL image"):
        preprocess_images([Image.new("RGB", (4, 4)), np.zeros((4, 4, 3))], config())


# --------------------------------------------------------------------------- ImageNet predictions


@pytest.fixture(scope="module")
def lite0():
    return EfficientNetLite0().load()


def classify(backbone, images):
    x = preprocess_images(images, backbone.preprocess)
    with torch.inference_mode():
        probs = torch.softmax(backbone.model(x), dim=1)
    return decode_predictions(probs, top=3, class_names=backbone.class_names)


def test_chelsea_and_coffee_with_the_offline_default_backbone(lite0):
    from skimage import data

    photos = [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]
    chelsea, coffee = classify(lite0, photos)
    print("chelsea top 3:", chelsea)
    print("coffee top 3:", coffee)
    assert {name for name, _ in chelsea} == {"Egyptian cat", "tabby", "tiger cat"}
    assert coffee[0][0] == "espresso"
    assert coffee[0][1] > 0.9
    assert sum(p for _, p in chelsea) > 0.85
