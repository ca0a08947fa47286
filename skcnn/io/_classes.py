"""The classes a skcnn model file may name: skcnn's estimators and installed plugins.

A model file names classes by their dotted path (``module.QualName``). Loading
looks the name up in :func:`allowed_classes`, a table built from classes that
are already imported (skcnn's own and the plugins installed through entry
points); it never imports a module or looks up an attribute named by the file.
A name that is not in the table is refused before anything else happens.
"""

from ..exceptions import ModelFileError

__all__ = ["class_key", "allowed_classes", "allowed_class", "is_skcnn_object"]

#: The skcnn estimators a file may hold, as "module:attribute" (imported on first use).
_ESTIMATORS = (
    ("skcnn.scratch.classifier", "CNNClassifier"),
    ("skcnn.pretrained.finetune", "FineTunedClassifier"),
    ("skcnn.pretrained.features", "PretrainedFeatures"),
    ("skcnn.data.loader", "ImageLoader"),
)


def class_key(cls):
    """The name a file records for ``cls``: ``module.QualName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _estimator_classes():
    from importlib import import_module

    return [getattr(import_module(module), name) for module, name in _ESTIMATORS]


def _plugin_classes():
    from .. import _registry
    from ..pretrained.backbones import BACKBONE_GROUP, TimmBackbone, TorchvisionBackbone
    from ..scratch._resolve import ARCHITECTURE_GROUP

    classes = [TorchvisionBackbone, TimmBackbone]  # "torchvision:<name>", "timm:<name>"
    for group in (ARCHITECTURE_GROUP, BACKBONE_GROUP):
        classes += list(_registry._discover(group).values())
    return classes


def allowed_classes():
    """``{class_key: class}`` of every class a model file may name."""
    return {class_key(cls): cls for cls in _estimator_classes() + _plugin_classes()}


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
