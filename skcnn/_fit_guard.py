"""Fits that fail leave nothing wrong behind: the all-or-nothing ``_train``, Ctrl-C and
warm starts whose architecture changed (a mixin of :class:`~skcnn.base.BaseImageEstimator`)."""

import warnings

import numpy as np

from ._engine import TASK_METRICS
from .exceptions import DivergenceError, TrainingInterruptedWarning
from .utils._dask import limit_torch_threads

__all__ = ["AllOrNothingFitMixin"]


class AllOrNothingFitMixin:
    """``_train`` around the estimator's ``_fit_network``: fitted attributes change only
    when training ends normally (or, after Ctrl-C, with at least one complete epoch)."""

    def _train(self, X, y, sample_weight, *, epochs, resume, classes, validate, partial):
        """Fit all-or-nothing: the fitted attributes change only when training ends
        normally (or, after Ctrl-C, with at least one complete epoch)."""
        limit_torch_threads()
        if resume:
            self._check_same_architecture(partial)
        before = dict(self.__dict__)  # validation (validate_data) writes into self
        n_before = len(self.net_.history) if resume else 0
        progress = {"training": False}
        try:
            fitted, interrupted = self._fit_network(
                X, y, sample_weight, epochs=epochs, resume=resume, classes=classes,
                validate=validate, partial=partial, progress=progress)
        except BaseException as exc:
            self._restore(before)
            if resume and progress["training"]:
                self._keep_warm_start_progress(exc, n_before, validate)
            elif isinstance(exc, DivergenceError):
                _reword(exc, f"{type(self).__name__} is left as it was before this fit.")
            raise
        n_new = fitted["n_iter_"] - n_before
        name = type(self).__name__
        if interrupted and n_new == 0 and not resume:
            self._restore(before)
            warnings.warn(f"Training was interrupted during its first epoch: {name} is left as "
                          "it was before this fit.", TrainingInterruptedWarning, stacklevel=4)
            raise KeyboardInterrupt
        self.__dict__.update(fitted)
        if interrupted:
            kept = (f"keeps the weights after epoch {self.n_iter_}, the last complete one"
                    if n_new else "keeps its weights from before this fit")
            warnings.warn(
                f"Training was interrupted (Ctrl-C) after {n_new} complete epoch(s) of this "
                f"fit: {name} {kept} (the best one with early_stopping), and "
                "history_[-1]['interrupted'] is True.", TrainingInterruptedWarning,
                stacklevel=4)
            raise KeyboardInterrupt
        return self

    def _restore(self, state):
        self.__dict__.clear()
        self.__dict__.update(state)

    def _keep_warm_start_progress(self, exc, n_before, validate):
        """A warm start failed while training: the network (trained in place) is
        back at its last complete epoch; make the fitted attributes match it and
        say so in the error."""
        net = self.net_
        n_new = len(net.history) - n_before
        self.__dict__.update(self._history_attributes(net, n_before, validate))
        name = type(self).__name__
        if n_new:
            note = (f"The warm start had already trained {n_new} complete epoch(s): {name} "
                    f"keeps their weights (n_iter_={self.n_iter_}), not those from before "
                    "this fit.")
        else:
            note = f"No epoch of this warm start completed: {name} keeps its previous weights"
            note += (" (its optimizer's running averages were reset)."
                     if isinstance(exc, DivergenceError) else ".")
        _reword(exc, note)

    @staticmethod
    def _history_attributes(net, n_before, validate):
        history = net.history
        score = "valid_" + TASK_METRICS[net.task]
        return {
            "history_": history,
            "n_iter_": len(history),
            "loss_curve_": [float(h["train_loss"]) for h in history],
            "validation_scores_": (  # accuracy, or R² for regressors
                [float(h[score]) for h in history[n_before:] if score in h]
                if validate else None),
        }

    # ------------------------------------------------------------------ warm starts
    def _architecture_params(self):
        """Names of the parameters that shape the network (a warm start cannot change them)."""
        return ()

    def _architecture_signature(self):
        """Each architecture parameter as (comparable value, repr); a plugin given by
        name compares as the plugin it stands for ('simple_cnn' == SimpleCNN())."""
        resolvers = self._plugin_resolvers()
        signature = {}
        for name in self._architecture_params():
            value = getattr(self, name)
            comparable = value
            if isinstance(value, str) and name in resolvers:
                comparable = resolvers[name](value)
            signature[name] = (_comparable(comparable), repr(value))
        return signature

    def _check_same_architecture(self, partial):
        built = self.__dict__.get("_built_with")
        if built is None:  # pickled by an older skcnn
            return
        now = self._architecture_signature()
        changed = [f"{name} (built with {old[1]}, now {now[name][1]})"
                   for name, old in built.items() if name in now and now[name][0] != old[0]]
        changed += [f"{name} (now {now[name][1]})" for name in now if name not in built]
        if changed:
            how = ("partial_fit continues" if partial
                   else "warm_start=True continues")
            raise ValueError(
                f"{how} the fitted network, but {', '.join(changed)} changed since it was "
                "built, and the fitted network cannot take the new value(s). Set "
                "warm_start=False (or call fit instead of partial_fit) to build a new network "
                "with them, or set them back to continue training."
            )


def _comparable(value):
    """A value that compares equal for equal parameter settings: plugins by their
    class and parameters, lists/tuples/arrays by their items."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        return (type(value), tuple(sorted((k, _comparable(v)) for k, v in params.items())))
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_comparable(v) for v in value)
    return value


def _reword(exc, note):
    """Add ``note`` to the message of an error on its way up."""
    if isinstance(exc, DivergenceError) and exc.args:
        exc.args = (f"{exc.args[0]} {note}", *exc.args[1:])
    elif hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)
