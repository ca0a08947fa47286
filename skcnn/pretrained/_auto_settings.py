"""What the fine-tuning estimators' 'auto' parameters resolve to for the data of a fit
(``max_epochs``, ``augment``, ``dropout``; ``backbone`` and ``views`` have their own
modules), as methods of a mixin of :class:`~skcnn.pretrained.finetune.FineTuningMixin`."""

from ..data.augment import make_augmentation
from ..utils._hardware import resolve_device
from ._lpft import auto_finetune_augment, auto_finetune_epochs

__all__ = ["AutoSettings"]


class AutoSettings:
    """The 'auto' settings of the fine-tuning recipe (a mixin)."""

    def _head_dropout(self):
        """``dropout`` with 'auto' resolved: none after the probe (it is fitted without
        dropout, and dropping its features would undo it), 0.2 otherwise."""
        if isinstance(self.dropout, str):
            return 0.0 if self.freeze_epochs == "probe" else 0.2
        return self.dropout

    def _augmentation_choice(self, images):
        """``augment`` with 'auto' resolved for the images of this fit (None, a preset
        or a callable)."""
        if not (isinstance(self.augment, str) and self.augment == "auto"):
            return self.augment
        if self.unfreeze == "head":  # the frozen backbone's features are computed once
            return None
        return auto_finetune_augment(getattr(self, "_source_shape", None),
                                     int(images.shape[-1]), self.device_, self._task())

    def _resolve_epochs(self, epochs, n_images):
        if isinstance(epochs, str) and epochs == "auto":
            return auto_finetune_epochs(n_images, resolve_device(self.device))
        return epochs

    def _training_augmentation(self, inputs):
        if isinstance(self.augment, str) and self.augment == "auto":
            return self._augmentation_choice(inputs)  # None or a batch augmentation
        # A preset or the user's callable, applied image by image.
        return make_augmentation(self.augment, inputs.shape[2:])

    def _tta_augmentation(self, inputs):
        if isinstance(self.augment, str) and self.augment == "auto":
            # (training crops may be smaller than the input): 'light' views
            return make_augmentation("light", inputs.shape[2:])
        return make_augmentation(self.augment or "light", inputs.shape[2:])

    def _head_from_features(self):
        """True when only the head trains and the frozen backbone's output cannot change
        between epochs (BatchNorm frozen, no augmentation): its features are computed once."""
        # (with unfreeze='head', augment='auto' means no augmentation)
        return (self._cache_head_features and self.unfreeze == "head" and self.bn == "frozen"
                and (self.augment is None or self.augment == "auto"))
