"""The plots that look inside a network (skcnn.plotting): filters, feature maps, learning
curves, on real data (scikit-learn's digits, scikit-image's LFW subset and its cat photo).

Every figure is rendered to PNG and read back: it must not be blank and must have one axes
per panel. The fits are tiny (a few epochs, 16x16 digits, 32x32 input for the pretrained
network, whose weights ship in a pip package), so the module runs in seconds.
"""

import io

import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from torch import nn

from skcnn import CNNClassifier, FineTunedClassifier, PretrainedFeatures
from skcnn.datasets import load_lfw_faces
from skcnn.plotting import plot_feature_maps, plot_filters, plot_learning_curve, show_figure
from skcnn.pretrained import resolve_backbone

PRETRAINED = dict(backbone="efficientnet_lite0", input_size=32)


# ---------------------------------------------------------------------------- helpers
def rendered(fig):
    """The figure as an (H, W, 3) float array, through a PNG file."""
    assert isinstance(fig, Figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")[..., :3]


def assert_not_blank(fig):
    pixels = rendered(fig)
    assert pixels.shape[0] > 50 and pixels.shape[1] > 100
    assert pixels.std() > 0.05
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20


def panels(fig):
    """The visible axes that are not colour bars."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


# ---------------------------------------------------------------------------- fitted models
@pytest.fixture(scope="module")
def cnn(digits16):
    """Two conv layers (4 and 6 filters) on 16x16 digits, early stopping: validation curves."""
    X, y = digits16
    return CNNClassifier(filters=(4, 6), hidden_units=(16,), max_epochs=4, batch_size=32,
                         early_stopping=True, n_iter_no_change=10, verbose=0,
                         random_state=0).fit(X[:300], y[:300])


@pytest.fixture(scope="module")
def faces():
    X, y = load_lfw_faces(return_X_y=True)
    keep = np.r_[0:12, 100:112]
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def finetuned(faces):
    X, y = faces
    return FineTunedClassifier(**PRETRAINED, max_epochs=2, batch_size=8, num_workers=0,
                               verbose=0, random_state=0, device="cpu").fit(X, y)


@pytest.fixture(scope="module")
def features(faces):
    return PretrainedFeatures(**PRETRAINED, device="cpu", verbose=0).fit(faces[0])


@pytest.fixture(scope="module")
def backbone():
    return resolve_backbone("efficientnet_lite0").load()


@pytest.fixture(scope="module")
def cat():
    from skimage.data import chelsea

    return chelsea()  # (300, 451, 3) uint8


# ---------------------------------------------------------------------------- filters
def test_filters_of_a_cnn_one_panel_per_filter_on_a_symmetric_scale(cnn):
    fig = plot_filters(cnn)  # first conv: 1 input channel, 4 filters
    assert len(panels(fig)) == 4
    assert len(colorbars(fig)) == 1
    assert_not_blank(fig)
    image = panels(fig)[0].get_images()[0]
    low, high = image.get_clim()
    assert low == pytest.approx(-high)  # diverging map centred on 0
    assert "4 of 4 filters" in fig._suptitle.get_text()


def test_filters_by_name_averaged_over_inputs_and_capped(cnn):
    second = [name for name, m in cnn.module_.named_modules() if isinstance(m, nn.Conv2d)][1]
    fig = plot_filters(cnn, second, max_filters=3)
    assert len(panels(fig)) == 3
    title = fig._suptitle.get_text()
    assert "3 of 6 filters" in title and "mean over its 4 input channels" in title
    assert_not_blank(fig)
    np.testing.assert_allclose(  # each panel: the kernel averaged over its input channels
        panels(fig)[2].get_images()[0].get_array(),
        cnn.module_.get_submodule(second).weight[2].detach().mean(0).numpy(), rtol=1e-6)


@pytest.mark.parametrize("which", ["finetuned", "features", "backbone", "pipeline"])
def test_first_pretrained_filters_are_rgb_images(which, request, faces):
    if which == "pipeline":  # the network step of a fitted pipeline
        estimator = make_pipeline(PretrainedFeatures(**PRETRAINED, device="cpu", verbose=0),
                                  LogisticRegression(max_iter=200)).fit(*faces)
    else:
        estimator = request.getfixturevalue(which)
    fig = plot_filters(estimator, max_filters=16)  # conv_stem: 3 -> 32, 3x3
    assert len(panels(fig)) == 16
    assert not colorbars(fig)
    assert panels(fig)[0].get_images()[0].get_array().shape == (3, 3, 3)  # an RGB kernel
    assert "16 of 32 filters" in fig._suptitle.get_text()
    assert "conv_stem" in fig._suptitle.get_text()
    assert_not_blank(fig)


def test_filters_of_a_plain_module_and_negative_index():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(2, 5, 3), nn.ReLU(), nn.Conv2d(5, 7, 3))
    fig = plot_filters(module, -1)
    assert len(panels(fig)) == 7
    assert_not_blank(fig)


def test_filters_of_a_layer_that_is_not_a_convolution(cnn, backbone):
    with pytest.raises(ValueError, match=r"is a ReLU, not a Conv2d.*Valid layers: .*'0', '3'"):
        plot_filters(cnn, "1")
    with pytest.raises(ValueError, match=r"layer=2 is out of range.*2 Conv2d layer"):
        plot_filters(cnn, 2)
    with pytest.raises(ValueError, match=r"no layer 'conv1'.*'conv_stem'"):
        plot_filters(backbone, "conv1")
    with pytest.raises(ValueError, match=r"contains the convolution 'blocks.1.0.conv_pw'"):
        plot_filters(backbone, "blocks.1")
    with pytest.raises(ValueError, match="max_filters must be a positive int"):
        plot_filters(cnn, max_filters=0)


def test_unfitted_estimators_raise_not_fitted():
    for estimator in (CNNClassifier(), FineTunedClassifier(), PretrainedFeatures()):
        with pytest.raises(NotFittedError):
            plot_filters(estimator)
    with pytest.raises(TypeError, match="Cannot look inside a LogisticRegression"):
        plot_filters(LogisticRegression())


# ---------------------------------------------------------------------------- feature maps
def test_feature_maps_of_a_cnn(cnn, digits16):
    X, _ = digits16
    fig = plot_feature_maps(cnn, X[500])
    assert len(panels(fig)) == 4 + 1  # four maps and the input
    assert_not_blank(fig)
    # the maps are the first convolution's output for this image
    expected = cnn.module_[0](torch.from_numpy(X[500][None, None])).detach().numpy()[0]
    np.testing.assert_allclose(panels(fig)[1].get_images()[0].get_array(), expected[0],
                               rtol=1e-5, atol=1e-6)
    fig = plot_feature_maps(cnn, X[500].ravel(), layer="2", max_maps=3, show_input=False)
    assert len(panels(fig)) == 3  # after the pooling, from a flat row
    assert "3 of 4 feature maps, 7x7" in fig._suptitle.get_text()
    # a batch of one flat row, X[:1] of (N, D) data, as predict takes it
    flat = plot_feature_maps(cnn, X[500:501].reshape(1, -1), layer="2", max_maps=3,
                             show_input=False)
    np.testing.assert_array_equal(panels(flat)[0].get_images()[0].get_array(),
                                  panels(fig)[0].get_images()[0].get_array())


def test_feature_maps_of_pretrained_networks(finetuned, features, backbone, faces, cat, tmp_path):
    fig = plot_feature_maps(features, cat, layer="blocks.1", max_maps=8)  # a stage, RGB uint8
    assert len(panels(fig)) == 9
    assert panels(fig)[0].get_images()[0].get_array().shape == (32, 32, 3)  # input, as fed
    assert_not_blank(fig)

    face = faces[0][0]  # (25, 25) grayscale floats
    fig = plot_feature_maps(finetuned, face, layer=0, max_maps=6)
    assert len(panels(fig)) == 7
    assert_not_blank(fig)

    from PIL import Image

    path = tmp_path / "cat.png"
    Image.fromarray(cat).save(path)
    fig = plot_feature_maps(backbone, str(path), layer="forward_features", max_maps=4,
                            show_input=False)
    assert len(panels(fig)) == 4
    assert "of 1280 feature maps, 7x7" in fig._suptitle.get_text()  # 224x224 input


def test_feature_maps_leave_training_modes_as_they_were(finetuned, faces):
    finetuned.module_.train()  # the fine-tuned net trains with its BatchNorm layers frozen
    modes = [m.training for m in finetuned.module_.modules()]
    assert any(modes) and not all(modes)
    plot_feature_maps(finetuned, faces[0][0], layer="blocks.0", max_maps=2)
    assert [m.training for m in finetuned.module_.modules()] == modes
    finetuned.module_.eval()


def test_colour_cnn_takes_channels_last_or_first_images(digits16):
    X, y = digits16
    rgb = np.stack([X[:120], 1 - X[:120], X[:120] ** 2], axis=-1)  # (120, 16, 16, 3)
    clf = CNNClassifier(filters=(5,), hidden_units=(), max_epochs=1, verbose=0,
                        random_state=0).fit(rgb, y[:120])
    fig = plot_filters(clf)
    assert len(panels(fig)) == 5 and not colorbars(fig)  # RGB kernels
    last = plot_feature_maps(clf, rgb[0])
    first = plot_feature_maps(clf, rgb[0].transpose(2, 0, 1))
    for a, b in zip(panels(last), panels(first)):
        np.testing.assert_array_equal(a.get_images()[0].get_array(), b.get_images()[0].get_array())
    assert panels(last)[0].get_images()[0].get_array().shape == (16, 16, 3)  # colour input
    with pytest.raises(ValueError, match=r"image has shape \(16, 16\).*fitted on images of "
                                         r"3x16x16.*stack it to three channels"):
        plot_feature_maps(clf, X[0])


def test_feature_maps_unknown_layer_lists_the_valid_ones(cnn, finetuned, digits16):
    image = digits16[0][0]
    with pytest.raises(ValueError, match=r"no layer 'conv1'\. Valid layers: Conv2d layers, by "
                                         r"index 0-1 or by name: '0', '3'.*'1' \(ReLU\)"):
        plot_feature_maps(cnn, image, layer="conv1")
    with pytest.raises(ValueError, match=r"layer=5 is out of range"):
        plot_feature_maps(cnn, image, layer=5)
    with pytest.raises(ValueError, match=r"shape \(1, 16\), not a 4-D feature map.*Valid layers"):
        plot_feature_maps(cnn, image, layer="7")  # a Linear layer
    with pytest.raises(ValueError, match=r"no layer 'layer4'.*'conv_stem'.*stages: 'blocks.0'"):
        plot_feature_maps(finetuned, image, layer="layer4")
    with pytest.raises(TypeError, match="layer must be an int"):
        plot_feature_maps(cnn, image, layer=1.5)


def test_feature_maps_image_of_the_wrong_shape(cnn, features, digits16):
    image = digits16[0][0]  # (16, 16)
    expected = r"fitted on images of 1x16x16 \(channels x height x width\)"
    with pytest.raises(ValueError, match=r"image has shape \(16, 16, 3\), but .*" + expected
                       + r".*[Cc]onvert it to grayscale"):
        plot_feature_maps(cnn, np.stack([image] * 3, axis=-1))
    with pytest.raises(ValueError, match=r"image has shape \(20,\).*" + expected
                       + r".*1-D array is not an image"):
        plot_feature_maps(cnn, image.ravel()[:20])
    with pytest.raises(ValueError, match=r"image has shape \(8, 8\).*Resize it to 16x16"):
        plot_feature_maps(cnn, image[:8, :8])
    with pytest.raises(ValueError, match=r"image has shape \(3, 16, 16\).*batch of 3 images"):
        plot_feature_maps(cnn, digits16[0][:3])
    with pytest.raises(ValueError, match=r"image has shape \(625,\), but PretrainedFeatures takes "
                                         r"one image of any size"):
        plot_feature_maps(features, np.zeros(625))
    with pytest.raises(ValueError, match=r"image has shape \(2, 8, 8, 3\).*not a batch of 2"):
        plot_feature_maps(features, np.zeros((2, 8, 8, 3)))
    module = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(ValueError, match=r"image has shape \(8, 8\), but the network's first "
                                         r"convolution reads 3 channel"):
        plot_feature_maps(module, np.zeros((8, 8)))
    assert len(panels(plot_feature_maps(module, np.zeros((8, 8, 3), np.uint8)))) == 5


# ---------------------------------------------------------------------------- learning curves
def lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_learning_curve_with_validation(cnn):
    fig = plot_learning_curve(cnn)
    assert len(panels(fig)) == 2
    assert_not_blank(fig)
    loss, score = panels(fig)
    for ax, key in ((loss, "loss"), (score, "acc")):
        shown = lines(ax)
        assert {"training", "validation"} <= set(shown)
        np.testing.assert_allclose(shown["training"].get_ydata(), cnn.history_[:, f"train_{key}"])
        np.testing.assert_allclose(shown["validation"].get_ydata(),
                                   cnn.history_[:, f"valid_{key}"])
        assert list(shown["training"].get_xdata()) == [1, 2, 3, 4]
        assert any(label.startswith("weights restored from epoch") for label in shown)


def test_learning_curve_without_validation_and_through_a_pipeline(digits16, finetuned):
    X, y = digits16
    clf = CNNClassifier(filters=(2,), hidden_units=(), max_epochs=2, verbose=0, random_state=0)
    fig = plot_learning_curve(make_pipeline(clf).fit(X[:100], y[:100]))
    assert len(panels(fig)) == 2
    for ax in panels(fig):
        assert set(lines(ax)) == {"training"}
    assert_not_blank(fig)
    fig = plot_learning_curve(finetuned)
    assert len(panels(fig)) == 2
    assert "FineTunedClassifier: 2 epochs" in fig._suptitle.get_text()


def test_learning_curve_of_an_unfitted_estimator():
    with pytest.raises(NotFittedError):
        plot_learning_curve(CNNClassifier())
    with pytest.raises(NotFittedError):
        plot_learning_curve(FineTunedClassifier())
    with pytest.raises(TypeError, match="has no history_"):
        plot_learning_curve(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))


# ---------------------------------------------------------------------------- show_figure
def test_show_figure_saves_outside_a_notebook(cnn, tmp_path, capsys):
    path = show_figure(plot_filters(cnn), tmp_path / "out" / "filters.png")
    assert path == str(tmp_path / "out" / "filters.png")
    assert matplotlib.image.imread(path).std() > 0.05
    assert "figure saved to" in capsys.readouterr().out
    assert show_figure(plot_filters(cnn)) is None
