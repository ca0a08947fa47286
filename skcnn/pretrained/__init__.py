"""Pretrained CNNs: backbone plugins, weight resolution and ImageNet helpers."""

from .._backbone import Backbone
from .backbones import (
    DEFAULT_BACKBONE,
    VGG16,
    AlexNet,
    ConvNeXtTiny,
    EfficientNetB0,
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
    GoogLeNet,
    MobileNetV3Large,
    ResNet18,
    ResNet50,
    TimmBackbone,
    TorchvisionBackbone,
    list_backbones,
    resolve_backbone,
)
from .imagenet import decode_predictions, imagenet_class_names, preprocess_images

__all__ = [
    "Backbone",
    "DEFAULT_BACKBONE",
    "TorchvisionBackbone",
    "TimmBackbone",
    "AlexNet",
    "GoogLeNet",
    "VGG16",
    "ResNet18",
    "ResNet50",
    "MobileNetV3Large",
    "EfficientNetB0",
    "ConvNeXtTiny",
    "EfficientNetLite0",
    "EfficientNetLite1",
    "EfficientNetLite2",
    "resolve_backbone",
    "list_backbones",
    "decode_predictions",
    "imagenet_class_names",
    "preprocess_images",
]
