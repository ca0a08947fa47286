"""The classes a skcnn model file may name: skcnn's estimators and installed plugins.

A model file names each class by a stable public name, not by the module that
happens to define it, so files keep loading when skcnn's modules move:

* ``skcnn.CNNClassifier``, ``skcnn.CNNRegressor``, ``skcnn.FineTunedClassifier``,
  ``skcnn.FineTunedRegressor``, ``skcnn.TextCNNClassifier``,
  ``skcnn.PretrainedFeatures``, ``skcnn.ImageLoader``: the estimators;
* ``<entry-point group>:<name>``, e.g. ``skcnn.architectures:simple_cnn`` or
  ``skcnn.backbones:resnet50``: a plugin by its registered name;
* ``skcnn.pretrained.TorchvisionBackbone`` and ``skcnn.pretrained.TimmBackbone``
  (what ``"torchvision:<model>"`` and ``"timm:<model>"`` resolve to).

Loading looks the name up in :func:`allowed_classes`, a table built from
classes skcnn imports itself (its own and the plugins installed through entry
points); it never imports a module or looks up an attribute named by the file.
A name that is not in the table is refused before anything else happens.
"""

from ..exceptions import ModelFileError

__all__ = ["class_key", "allowed_classes", "allowed_class", "is_skcnn_object"]

#: The public names of the skcnn estimators a file may hold.
_ESTIMATORS = ("CNNClassifier", "CNNRegressor", "FineTunedClassifier", "FineTunedRegressor",
               "TextCNNClassifier", "PretrainedFeatures", "ImageLoader")


def allowed_classes():
    """``{name in the file: class}`` of every class a model file may name."""
    import skcnn

    from .. import _registry
    from ..pretrained.backbones import BACKBONE_GROUP, TimmBackbone, TorchvisionBackbone
    from ..scratch._resolve import ARCHITECTURE_GROUP
    from ..text._resolve import TEXT_ARCHITECTURE_GROUP

    table = {f"skcnn.{name}": getattr(skcnn, name) for name in _ESTIMATORS}
    table["skcnn.pretrained.TorchvisionBackbone"] = TorchvisionBackbone
    table["skcnn.pretrained.TimmBackbone"] = TimmBackbone
    for group in (ARCHITECTURE_GROUP, BACKBONE_GROUP, TEXT_ARCHITECTURE_GROUP):
        for name, cls in sorted(_registry._discover(group).items()):
            table[f"{group}:{name}"] = cls
    return table


def class_key(cls):
    """The name a file records for ``cls``, or None when a file cannot name it."""
    for key, allowed in allowed_classes().items():
        if allowed is cls:
            return key
    return None


def allowed_class(key, where):
    """The class recorded as ``key``, or :class:`ModelFileError` when it is not allowed."""
    table = allowed_classes()
    if not isinstance(key, str) or key not in table:
        raise ModelFileError(
            f"The model file names the class {key!r} ({where}), which is not a skcnn estimator "
            "or an installed skcnn plugin; it was refused and nothing was run. Only files "
            "written by skcnn.save can be loaded. If the class is a plugin of yours, install "
            "the package that registers it (entry-point group skcnn.architectures or "
            "skcnn.backbones) and load the file again."
        )
    return table[key]


def is_skcnn_object(value):
    """Whether ``value`` is stored by skcnn itself (an estimator, plugin or config of skcnn)."""
    from sklearn.base import BaseEstimator

    from ..plugins import PreprocessConfig

    if isinstance(value, PreprocessConfig):
        return True
    module = type(value).__module__ or ""
    if isinstance(value, BaseEstimator) and (module == "skcnn" or module.startswith("skcnn.")):
        return True
    from ..plugins import ArchitecturePlugin, BackbonePlugin

    return isinstance(value, (ArchitecturePlugin, BackbonePlugin))
