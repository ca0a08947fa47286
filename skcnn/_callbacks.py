"""skcnn's own skorch callbacks: progress bar, cosine decay, early stopping that is not Ctrl-C."""

import math

from skorch.callbacks import Callback
from skorch.callbacks import EarlyStopping as _SkorchEarlyStopping

from ._progress import tqdm

__all__ = ["EpochProgressBar", "CosineDecay", "StopTraining", "EarlyStopping"]


class EpochProgressBar(Callback):
    """A tqdm bar that advances once per epoch and shows loss and accuracy."""

    def __init__(self, total=None, desc="training"):
        self.total = total
        self.desc = desc

    def on_train_begin(self, net, **kwargs):
        self.bar_ = tqdm(total=self.total, desc=self.desc, unit="epoch", leave=False)

    def on_epoch_end(self, net, **kwargs):
        last = net.history[-1]
        shown = {k: f"{last[k]:.4f}" for k in ("train_loss", "train_acc", "train_r2",
                                                "valid_loss", "valid_acc", "valid_r2")
                 if k in last}
        self.bar_.set_postfix(shown, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()

    def __getstate__(self):  # an open tqdm bar cannot be pickled
        state = self.__dict__.copy()
        state.pop("bar_", None)
        return state


class CosineDecay(Callback):
    """Decay the learning rate along a half cosine, from its value to 0, over
    ``total_steps`` training batches (stepped after every batch).

    With ``warmup_fraction`` > 0 the rate first rises linearly from 4% of its
    value over that share of the steps (the one-cycle policy).
    """

    def __init__(self, total_steps, warmup_fraction=0.0):
        self.total_steps = total_steps
        self.warmup_fraction = warmup_fraction

    def _factor(self, step):
        warmup = int(self.warmup_fraction * self.total_steps)
        if step < warmup:
            return 0.04 + 0.96 * step / warmup
        progress = (step - warmup) / max(self.total_steps - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    def on_train_begin(self, net, **kwargs):
        self.base_lrs_ = [group["lr"] for group in net.optimizer_.param_groups]
        self.step_ = 0
        self._apply(net)

    def _apply(self, net):
        factor = self._factor(self.step_)
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_):
            group["lr"] = base * factor

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self.step_ += 1
        self._apply(net)

    def on_train_end(self, net, **kwargs):
        # Leave the optimizer at its configured rate so warm starts begin afresh.
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_):
            group["lr"] = base


class StopTraining(KeyboardInterrupt):
    """Raised by a callback at the end of an epoch to end training normally.

    skorch's callbacks stop training by raising :class:`KeyboardInterrupt`,
    which :class:`TrainingNet` treats as Ctrl-C; this subclass is the stop
    signal it lets pass.
    """


class EarlyStopping(_SkorchEarlyStopping):
    """skorch's EarlyStopping, stopping with :class:`StopTraining`."""

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except StopTraining:
            raise
        except KeyboardInterrupt:
            raise StopTraining from None
