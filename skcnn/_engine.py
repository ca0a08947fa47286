"""The training engine: a lean :class:`skorch.NeuralNet` for image batches.

skorch's defaults index a ``Dataset`` row by row and collate every batch in
Python, call ``loss.item()`` after every batch (a device sync) and record
per-batch history. On small CNNs that costs 15-35% of a plain PyTorch loop.
This engine keeps skorch's training loop, callbacks and history, but

* slices whole batches out of tensors (one gather per batch),
* accumulates loss and accuracy on the device and records them once per epoch,
* supports per-sample weights in the loss,
* trains any per-sample loss: cross-entropy (``task='multiclass'``), binary
  cross-entropy on sigmoid outputs (``'multilabel'``) or a regression loss
  (``'regression'``), and records the task's metric each epoch (``TASK_METRICS``).
* fails cleanly: Ctrl-C stops after the current batch, and an interrupted,
  diverged or failed training leaves the network at the end of its last
  complete epoch (see :meth:`TrainingNet.partial_fit`).
"""

import math
import signal
import threading
from contextlib import contextmanager

import torch
from skorch import NeuralNet
from skorch.callbacks import EpochTimer
from skorch.utils import TeeGenerator

from ._batches import BatchIterator, TensorBatches
from ._callbacks import CosineDecay, EarlyStopping, EpochProgressBar, StopTraining
from .exceptions import DivergenceError

__all__ = ["TensorBatches", "BatchIterator", "TrainingNet", "EpochProgressBar", "CosineDecay",
           "averaged_proba", "averaged_outputs", "TASK_METRICS", "WeightSnapshot",
           "StopTraining", "EarlyStopping"]

#: task -> the metric recorded per epoch as ``train_<name>`` / ``valid_<name>``:
#: accuracy (multi-label: every label right, at probability 0.5) or R² (mean over outputs).
TASK_METRICS = {"multiclass": "acc", "multilabel": "acc", "regression": "r2"}


class WeightSnapshot:
    """A copy of a module's weights and buffers, refreshed in place.

    The copy is allocated once, on the module's device; :meth:`take` copies
    the current values into it (no allocation), :meth:`restore` copies them
    back.
    """

    def __init__(self, module):
        self.state = {name: value.detach().clone() for name, value in module.state_dict().items()}

    @torch.no_grad()
    def take(self, module):
        for name, value in module.state_dict().items():
            self.state[name].copy_(value)

    @torch.no_grad()
    def restore(self, module):
        for name, value in module.state_dict().items():
            value.copy_(self.state[name])


@torch.no_grad()
def weights_are_finite(module):
    """Whether every floating-point weight and buffer of ``module`` is finite (one sync)."""
    checks = [value.isfinite().all() for value in module.state_dict().values()
              if value.is_floating_point()]
    return not checks or bool(torch.stack(checks).all())


@contextmanager
def _stop_after_batch_on_sigint(net):
    """While training in the main thread, Ctrl-C asks ``net`` to stop after its
    current batch instead of raising wherever Python happens to be (a second
    Ctrl-C interrupts at once). Elsewhere, or when the program installed its
    own SIGINT handler, nothing changes."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def request_stop(signum, frame):
        if net._stop_requested:
            raise KeyboardInterrupt
        net._stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class TrainingNet(NeuralNet):
    """skorch net for ``(N, C, H, W)`` tensors with a weighted per-sample loss.

    Expects datasets of type :class:`TensorBatches`. ``shuffle_seed`` seeds the
    per-fit data order; ``augment`` transforms training batches only. The
    ``criterion`` must return per-sample (``reduction='none'``) losses;
    ``task`` ('multiclass', 'multilabel' or 'regression') chooses the metric
    recorded each epoch (see ``TASK_METRICS``).

    After :meth:`partial_fit`, ``interrupted_`` says whether Ctrl-C stopped it.
    """

    task = "multiclass"  # (nets pickled before the task parameter existed)
    _stop_requested = False  # set by Ctrl-C during partial_fit
    _epoch_open = False  # an epoch has begun and not yet ended

    def __init__(self, *args, shuffle_seed=0, augment=None, precision=None, task="multiclass",
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.shuffle_seed = shuffle_seed
        self.augment = augment
        self.precision = precision
        self.task = task

    def _autocast(self):
        device = torch.device(self.device)
        return torch.autocast(device.type, dtype=self.precision or torch.float32,
                              enabled=self.precision is not None)

    def infer(self, x, **fit_params):
        if self.precision is None:
            return self.module_(x, **fit_params)
        with self._autocast():
            return self.module_(x, **fit_params)

    def _scaler(self):
        """A gradient scaler for float16 training (bfloat16 needs none)."""
        if self.precision != torch.float16:
            return None
        if getattr(self, "grad_scaler_", None) is None:
            self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        return self.grad_scaler_

    def train_step(self, batch, **fit_params):
        """One optimisation step; no closure (none of our optimizers needs one)."""
        scaler = self._scaler()
        if scaler is None:
            self._zero_grad_optimizer()
            step = self.train_step_single(batch, **fit_params)
            self.notify("on_grad_computed", named_parameters=TeeGenerator(
                self.get_all_learnable_params()), batch=batch, training=True)
            for name in self._optimizers:
                getattr(self, name + "_").step()
            return step
        self._zero_grad_optimizer()
        self._set_training(True)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred.float(), yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return self._count_correct({"loss": loss, "y_pred": y_pred}, batch)

    # ------------------------------------------------------------------ failures
    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` epochs from the current weights.

        As skorch's, except for how training ends early:

        * Ctrl-C (SIGINT, in the main thread) finishes the current batch; the
          weights go back to the end of the last complete epoch (the epoch that
          was cut short leaves no history), ``interrupted_`` is set, the last
          history entry gets ``interrupted=True`` and the
          :class:`KeyboardInterrupt` is re-raised (skorch swallows it).
          A callback ends training normally by raising :class:`StopTraining`
          (as this module's :class:`EarlyStopping` does).
        * A non-finite training loss, or weights that became non-finite,
          raise :class:`~skcnn.exceptions.DivergenceError` at the end of that
          epoch, with the weights of the last finite epoch restored (those
          before this call if it was the first) and the optimizer's running
          statistics reset.
        * Any other error during an epoch also restores the last complete
          epoch's weights before it propagates.

        The weights are copied once per epoch, on their device, for this.
        """
        if not self.initialized_:
            self.initialize()
        self.interrupted_ = False
        self._stop_requested = self._epoch_open = False
        self._last_complete = WeightSnapshot(self.module_)
        self.notify("on_train_begin", X=X, y=y)
        try:
            with _stop_after_batch_on_sigint(self):
                self.fit_loop(X, y, **fit_params)
            if self._stop_requested:  # Ctrl-C during the last epoch's bookkeeping
                raise KeyboardInterrupt
        except StopTraining:  # a callback ended training (e.g. early stopping)
            self._rewind_open_epoch()
            self.notify("on_train_end", X=X, y=y)
            return self
        except KeyboardInterrupt:
            self._rewind_open_epoch()
            self.interrupted_ = True
            if len(self.history):
                self.history.record("interrupted", True)
            self._end_failed_training(X, y)
            raise
        except BaseException:
            self._rewind_open_epoch()
            self._end_failed_training(X, y)
            raise
        finally:
            self._stop_requested = False
            self._last_complete = None
        self.notify("on_train_end", X=X, y=y)
        return self

    def _rewind_open_epoch(self):
        """Back to the last complete epoch: its weights, and no entry for the open one."""
        if self._epoch_open:
            self._last_complete.restore(self.module_)
            if len(self.history):
                del self.history[-1]
            self._epoch_open = False

    def _end_failed_training(self, X, y):
        if len(self.history):  # callbacks (e.g. EarlyStopping) read the last epoch
            self.notify("on_train_end", X=X, y=y)
        elif "progress" in dict(self.callbacks_):
            dict(self.callbacks_)["progress"].on_train_end(self)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                               **kwargs)
        self._epoch_open = True

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # Runs before the callbacks' on_epoch_end: they see a checked epoch.
        loss = self.history[-1].get("train_loss", 0.0)
        if not (math.isfinite(loss) and weights_are_finite(self.module_)):
            epoch = len(self.history)
            self._rewind_open_epoch()
            for optimizer in self._optimizers:  # its moments may hold NaN too
                getattr(self, optimizer + "_").state.clear()
            lr = float(self.lr)
            what = (f"the training loss became {loss}" if not math.isfinite(loss)
                    else "the weights became NaN or infinite")
            error = DivergenceError(
                f"Training diverged in epoch {epoch}: {what}. Lower the learning rate "
                f"(it is {lr:g}; try {lr / 10:g}).")
            error.epoch = epoch
            raise error
        self._last_complete.take(self.module_)
        self._epoch_open = False

    @property
    def _default_callbacks(self):
        return [("epoch_timer", EpochTimer())]

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        # skorch opens an empty per-batch history entry here; losses are
        # recorded per epoch instead, so skip that bookkeeping.
        pass

    def get_dataset(self, X, y=None):
        if isinstance(X, TensorBatches):
            return X
        return TensorBatches(torch.as_tensor(X), y)

    def get_iterator(self, dataset, training=False):
        generator = None
        if training:
            generator = torch.Generator().manual_seed(self.shuffle_seed + len(self.history))
        return BatchIterator(dataset, self.batch_size, shuffle=training,
                             generator=generator, device=self.device,
                             augment=self.augment if training else None)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target, weight = y_true
        losses = self.criterion_(y_pred.float(), target)
        if losses.ndim > 1:  # one loss per output (multi-label, regression): mean per image
            losses = losses.flatten(1).mean(1)
        return losses.mean() if weight is None else (losses * weight).mean()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._mode_set = None  # modes may have been changed since (predict, user code)
        return super().on_train_begin(net, X=X, y=y, **kwargs)

    def _set_training(self, training=True):
        # skorch switches every module's mode before every batch; a recursive
        # ``train()`` on a large backbone is measurable, so only switch when the
        # mode this net last set differs (submodules may disagree with the
        # top-level flag, e.g. a pretrained backbone loaded in eval mode).
        if getattr(self, "_mode_set", None) is not training:
            super()._set_training(training)
            self._mode_set = training

    def _count_correct(self, step, batch):
        """Add the batch's sums behind the epoch metric to ``step`` (as "n_correct")."""
        _, (target, _) = batch
        y_pred = step["y_pred"].detach()
        if self.task == "regression":
            # squared errors, target sums and squared sums per output: R² at the epoch's end
            y_pred, target = y_pred.float().flatten(1), target.float().flatten(1)
            step["n_correct"] = torch.stack([((y_pred - target) ** 2).sum(0), target.sum(0),
                                             (target ** 2).sum(0)])
        elif self.task == "multilabel":
            step["n_correct"] = ((y_pred > 0) == (target > 0.5)).all(1).sum()
        else:
            step["n_correct"] = (y_pred.argmax(1) == target).sum()
        return step

    def _epoch_metric(self, totals, n_seen):
        """The epoch's accuracy, or R² (uniform mean over the outputs), from summed batch stats."""
        if self.task != "regression":
            return float(totals) / n_seen
        sse, total, squares = totals.double().cpu()
        sst = squares - total ** 2 / n_seen
        r2 = torch.where(sst > 0, 1 - sse / sst.clamp_min(1e-300),
                         (sse == 0).double())  # constant target: 1 if exact, else 0
        return float(r2.mean())

    def train_step_single(self, batch, **fit_params):
        return self._count_correct(super().train_step_single(batch, **fit_params), batch)

    def validation_step(self, batch, **fit_params):
        return self._count_correct(super().validation_step(batch, **fit_params), batch)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One pass over ``iterator``; loss and accuracy go to the epoch's history
        once, so no per-batch ``.item()`` synchronises the device."""
        if iterator is None:
            return
        loss_sum = correct = 0
        n_seen = n_batches = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            size = len(batch[0])
            loss_sum = loss_sum + step["loss"].detach() * size
            correct = correct + step["n_correct"]
            n_seen += size
            n_batches += 1
            self.notify("on_batch_end", batch=batch, training=training, **step)
            if self._stop_requested:  # Ctrl-C: this batch is done, stop here
                raise KeyboardInterrupt
        self.history.record(prefix + "_batch_count", n_batches)
        if n_seen:
            self.history.record(prefix + "_loss", float(loss_sum) / n_seen)
            self.history.record(f"{prefix}_{TASK_METRICS[self.task]}",
                                self._epoch_metric(correct, n_seen))

    @torch.inference_mode()
    def predict_logits(self, X, augment=None):
        """Logits for ``X`` (a tensor, or a :class:`TensorBatches` that forms its own
        batches), in eval mode and batches, on the CPU.

        ``augment`` transforms each batch first (test-time augmentation).
        """
        self.module_.eval()
        self._mode_set = False
        dataset = X if isinstance(X, TensorBatches) else TensorBatches(X)
        iterator = BatchIterator(dataset, self.batch_size, device=self.device, augment=augment)
        with self._autocast():
            outputs = [self.module_(Xb).float().cpu() for Xb, _ in iterator]
        if not outputs:
            return torch.empty((0, 0))
        return torch.cat(outputs)


_ACTIVATIONS = {
    "softmax": lambda logits: torch.softmax(logits, dim=1),
    "sigmoid": torch.sigmoid,
    None: lambda outputs: outputs,
}


def averaged_outputs(net, X, augment=None, tta=0, seed=0, activation="softmax"):
    """The network's outputs for ``X`` after ``activation`` ('softmax', 'sigmoid' or None);
    with ``tta`` > 0 the average over the plain images and ``tta`` augmented views of
    them (seeded, so repeatable)."""
    apply = _ACTIVATIONS[activation]
    logits = net.predict_logits(X)
    if not bool(torch.isfinite(logits).all()):
        raise DivergenceError(
            "The network's outputs are NaN or infinite, so it has no predictions to give: "
            "its weights are not finite (a diverged training?). Fit it again with a lower "
            "learning rate.")
    outputs = apply(logits.double())
    if tta and augment is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(tta):
                outputs += apply(net.predict_logits(X, augment=augment).double())
        outputs /= tta + 1
    return outputs.numpy()


def averaged_proba(net, X, augment=None, tta=0, seed=0):
    """Class probabilities of ``X`` (softmax), averaged over ``tta`` augmented views."""
    return averaged_outputs(net, X, augment, tta, seed, activation="softmax")
