"""skcnn.inspection: what the plots draw, computed as arrays, checked against the networks
themselves on real data (scikit-learn's digits, scikit-image's LFW subset).

The kernels must be the Conv2d weights, the feature maps what a forward hook sees when the
network runs on the image prepared as predict/transform prepare it, and the learning curve
the entries of history_. Every estimator answers through its public inspection_target()
hook, and an estimator of one's own works once it has one.
"""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from torch import nn

from skcnn import CNNClassifier, FineTunedClassifier, PretrainedFeatures
from skcnn.datasets import load_lfw_faces
from skcnn.inspection import (
    InspectionTarget,
    available_layers,
    conv_kernels,
    feature_maps,
    learning_curve,
    resolve_target,
)
from skcnn.plotting import plot_feature_maps
from skcnn.pretrained import resolve_backbone

PRETRAINED = dict(backbone="efficientnet_lite0", input_size=32)


@pytest.fixture(scope="module")
def cnn(digits16):
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
def features(faces):
    return PretrainedFeatures(**PRETRAINED, device="cpu", verbose=0).fit(faces[0])


@pytest.fixture(scope="module")
def finetuned(faces):
    return FineTunedClassifier(**PRETRAINED, max_epochs=1, batch_size=8, num_workers=0,
                               verbose=0, random_state=0, device="cpu").fit(*faces)


def hooked_output(module, layer, x):
    """What a forward hook on ``layer`` records when ``module`` runs on ``x`` (eval mode)."""
    seen = []
    handle = module.get_submodule(layer).register_forward_hook(
        lambda _m, _i, out: seen.append(out.detach().clone()))
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        with torch.no_grad():
            module(x)
    finally:
        handle.remove()
        for m, mode in modes:
            m.training = mode
    return seen[0][0].numpy()


# ---------------------------------------------------------------------------- the hook
def test_each_estimator_answers_through_its_hook(cnn, features, finetuned, faces, digits16):
    target = cnn.inspection_target()
    assert isinstance(target, InspectionTarget)
    assert target.module is cnn.module_ and target.history is cnn.history_
    assert target.input_shape == (1, 16, 16) and target.preprocess is None
    # prepare is predict's own preparation: the network's output on it is predict_proba
    X = digits16[0][300:310]
    logits = target.module.eval()(torch.as_tensor(target.prepare(X)))
    np.testing.assert_allclose(torch.softmax(logits, 1).detach().numpy(), cnn.predict_proba(X),
                               rtol=1e-5, atol=1e-6)

    target = features.inspection_target()
    assert target.module is features.model_[0].model
    assert list(target.layer_names) == features.layer_names_
    assert target.preprocess == features.preprocess_ and target.history is None
    batch = torch.as_tensor(target.prepare(faces[0][:2]))
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == torch.float32

    target = finetuned.inspection_target()
    assert target.module is finetuned.module_.trunk.model
    assert list(target.layer_names) == finetuned.stages_
    assert target.label == "FineTunedClassifier (efficientnet_lite0)"

    backbone = resolve_backbone("efficientnet_lite0").load()
    target = backbone.inspection_target()
    assert target.module is backbone.model and target.layer_names == backbone.layer_names()

    for unfitted in (CNNClassifier(), FineTunedClassifier(), PretrainedFeatures()):
        with pytest.raises(NotFittedError):
            unfitted.inspection_target()


def test_searches_pipelines_and_plugins_are_unwrapped(features, faces):
    pipe = make_pipeline(PretrainedFeatures(**PRETRAINED, device="cpu", verbose=0),
                         LogisticRegression(max_iter=200)).fit(*faces)
    assert resolve_target(pipe).module is pipe[0].model_[0].model
    assert resolve_target(resolve_backbone("efficientnet_lite0")).label == \
        "backbone 'efficientnet_lite0'"
    with pytest.raises(TypeError, match="Cannot look inside a LogisticRegression"):
        resolve_target(LogisticRegression())
    with pytest.raises(TypeError, match="no skcnn network step"):
        resolve_target(make_pipeline(LogisticRegression()))


class ConvOnFlatDigits(BaseEstimator):
    """An estimator of one's own: one seeded convolution over 8x8 digits given as flat rows."""

    def fit(self, X, y=None):
        torch.manual_seed(0)
        self.conv_ = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU())
        return self

    def inspection_target(self):
        return InspectionTarget(
            module=self.conv_, label="ConvOnFlatDigits",
            prepare=lambda X: torch.as_tensor(np.asarray(X, np.float32).reshape(-1, 1, 8, 8)))


def test_an_estimator_of_ones_own_works_through_the_hook(digits8):
    X = digits8[0].reshape(len(digits8[0]), -1)  # flat rows of 64 pixels
    est = ConvOnFlatDigits().fit(X)
    found = feature_maps(est, X[5], layer=0)
    expected = est.conv_[0](torch.as_tensor(X[5].reshape(1, 1, 8, 8))).detach().numpy()[0]
    np.testing.assert_allclose(found["maps"], expected, rtol=1e-6)
    assert found["maps"].shape == (3, 6, 6) and found["label"] == "ConvOnFlatDigits"
    fig = plot_feature_maps(est, X[5], layer="1")  # the plots take it too
    assert "3 of 3 feature maps, 6x6" in fig._suptitle.get_text()

    class Broken(ConvOnFlatDigits):
        def inspection_target(self):
            return self.conv_

    with pytest.raises(TypeError, match="must return an InspectionTarget"):
        conv_kernels(Broken().fit(X))


# ---------------------------------------------------------------------------- kernels
def test_kernels_are_the_conv_weights(cnn, features):
    convs = [(n, m) for n, m in cnn.module_.named_modules() if isinstance(m, nn.Conv2d)]
    for index, (name, conv) in enumerate(convs):
        for layer in (index, name):
            found = conv_kernels(cnn, layer)
            assert found["name"] == name and found["kind"] == "Conv2d"
            np.testing.assert_array_equal(found["weight"], conv.weight.detach().numpy())
            np.testing.assert_array_equal(found["bias"], conv.bias.detach().numpy())
    assert conv_kernels(cnn, -1)["weight"].shape == tuple(convs[-1][1].weight.shape)
    found = conv_kernels(features, "conv_stem")  # the backbone's names, RGB input
    np.testing.assert_array_equal(found["weight"],
                                  features.model_[0].model.conv_stem.weight.detach().numpy())
    assert found["in_channels"] == 3 and found["out_channels"] == 32
    found["weight"][:] = 0  # a copy: the network keeps its weights
    assert conv_kernels(cnn)["weight"].any()


def test_available_layers(cnn, features):
    layers = available_layers(cnn)
    assert layers["conv2d"] == [n for n, m in cnn.module_.named_modules()
                                if isinstance(m, nn.Conv2d)]
    assert ("1", "ReLU") in layers["other"] and layers["stages"] == []
    layers = available_layers(features)
    assert layers["stages"] == features.layer_names_ and "conv_stem" in layers["conv2d"]


# ---------------------------------------------------------------------------- feature maps
def test_feature_maps_of_a_cnn_are_the_forward_hook_output(cnn, digits16):
    X = digits16[0]
    target = cnn.inspection_target()
    prepared = torch.as_tensor(target.prepare(X[500:501]))
    for layer in ("0", "2", "3"):
        found = feature_maps(cnn, X[500], layer)
        np.testing.assert_allclose(found["maps"], hooked_output(cnn.module_, layer, prepared),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(found["input"], prepared[0].numpy())
    # one flat row, or a batch of one, gives the same maps
    np.testing.assert_array_equal(feature_maps(cnn, X[500].ravel(), 1)["maps"],
                                  feature_maps(cnn, X[500:501].reshape(1, -1), 1)["maps"])
    assert found["picture"].shape == (16, 16)


def test_feature_maps_of_pretrained_networks_match_transform_and_predict(features, finetuned,
                                                                          faces):
    face = faces[0][3]  # (25, 25) grayscale, resized to 32x32 by the backbone's preprocessing
    target = features.inspection_target()
    prepared = torch.as_tensor(target.prepare(faces[0][3:4]))
    found = feature_maps(features, face, "blocks.1")
    np.testing.assert_allclose(found["maps"], hooked_output(target.module, "blocks.1", prepared),
                               rtol=1e-5, atol=1e-6)
    assert found["picture"].shape == (32, 32, 3) and 0 <= found["picture"].min()
    # the maps at the extracted layer, averaged, are the features transform returns
    layer = features.model_[0].layer
    maps = feature_maps(features, face, layer)["maps"]
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), features.transform(faces[0][3:4])[0],
                               rtol=1e-4, atol=1e-5)
    # the fine-tuned net: its head on the pooled maps of the trunk gives predict_proba
    net = finetuned.module_.eval()
    maps = feature_maps(finetuned, face, net.trunk.layer)["maps"]
    with torch.no_grad():
        logits = net.head(torch.as_tensor(maps).mean(dim=(1, 2))[None])
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy()[0],
                               finetuned.predict_proba(faces[0][3:4])[0], rtol=1e-4, atol=1e-5)


def test_feature_maps_of_a_plain_module_lay_out_channels():
    from skimage.data import astronaut

    image = astronaut()[::16, ::16]  # (32, 32, 3) uint8
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    found = feature_maps(module, image)
    x = torch.as_tensor(image.transpose(2, 0, 1)[None] / 255.0, dtype=torch.float32)
    np.testing.assert_allclose(found["maps"], module[0](x).detach().numpy()[0], rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="first convolution reads 3 channel"):
        feature_maps(module, image[..., 0])


# ---------------------------------------------------------------------------- learning curve
def test_learning_curve_series_are_the_history(cnn, digits16):
    curve = learning_curve(cnn)
    assert curve["n_epochs"] == 4 and curve["label"] == "CNNClassifier"
    assert set(curve["series"]) == {"train_loss", "valid_loss", "train_acc", "valid_acc"}
    for key, (epochs, values) in curve["series"].items():
        np.testing.assert_array_equal(epochs, [1, 2, 3, 4])
        np.testing.assert_allclose(values, cnn.history_[:, key])
    stopper = dict(cnn.net_.callbacks_)["early_stopping"]
    assert curve["restored_epoch"] == stopper.best_epoch_
    assert curve["lowest_valid_loss_epoch"] == int(np.argmin(cnn.history_[:, "valid_loss"])) + 1

    X, y = digits16
    clf = CNNClassifier(filters=(2,), hidden_units=(), max_epochs=2, early_stopping=True,
                        verbose=0, random_state=0).fit(X[:100], y[:100])
    curve = learning_curve(make_pipeline(clf.partial_fit(X[100:200], y[100:200])))
    epochs, values = curve["series"]["train_loss"]  # fit's 2 epochs, then partial_fit's
    np.testing.assert_array_equal(epochs, [1, 2, 3])
    np.testing.assert_allclose(values, clf.history_[:, "train_loss"])
    np.testing.assert_array_equal(curve["series"]["valid_loss"][0], [1, 2])
    assert curve["restored_epoch"] is None  # partial_fit holds out nothing


def test_learning_curve_needs_a_history():
    with pytest.raises(NotFittedError):
        learning_curve(CNNClassifier())
    with pytest.raises(TypeError, match="has no history_"):
        learning_curve(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
