"""The ``runtime`` of a trained estimator's ``predict``: PyTorch eager, or its network's
ONNX graph in ONNX Runtime.

Bottom layer (next to :mod:`skcnn._onnx_export` and :mod:`skcnn._engine`): the
estimators call :func:`inference_net` for the object whose ``predict_logits``
their ``predict`` / ``predict_proba`` run. With ``runtime='onnxruntime'`` (or
``'auto'`` where it measured faster) that is an :class:`OnnxNet`: the same
batches, the same logits from the network exported once (at the first
prediction), checked against PyTorch on two batch sizes, run in an ONNX Runtime
CPU session. Everything around the network (preparing images or tokenising
texts, softmax, target scaling, test-time augmentation) stays as it is, so
the results differ from PyTorch's only by float32 rounding (1e-4 at most, as
:func:`skcnn._onnx_export.check_graph` checks).

The session is kept per network (weakly: it goes with the network) and is made
again when the weights change (their tensors' version counters: a further
``fit`` or ``partial_fit``, ``load_state_dict``); nothing is stored on the
estimator, so pickling, ``clone`` and ``skcnn.save`` are unaffected.
"""

import threading
import warnings
import weakref
from importlib.util import find_spec

import numpy as np
import torch

from ._batches import BatchIterator, TensorBatches

__all__ = ["RUNTIMES", "AUTO_ONNXRUNTIME", "onnxruntime_available", "resolve_runtime",
           "inference_net", "chosen_runtime", "OnnxNet"]

RUNTIMES = ("torch", "onnxruntime", "auto")
_EXTRA_HINT = 'pip install "skcnn[onnx]"'

#: The estimators whose ``predict`` ``runtime='auto'`` runs in ONNX Runtime (on the CPU, in
#: float32): those where it measured faster than PyTorch eager through skcnn's own
#: ``predict`` (``python benchmarks/onnx_runtime.py --estimators``, 2 threads: 3.5x to 5.4x
#: for these; figures in docs/onnx.rst). TextCNNClassifier keeps PyTorch: ONNX Runtime ran
#: its batches of varying length at 0.4x to 0.8x PyTorch's sentences/s.
AUTO_ONNXRUNTIME = frozenset({"CNNClassifier", "CNNRegressor", "FineTunedClassifier",
                              "FineTunedRegressor"})

_SESSIONS = weakref.WeakKeyDictionary()  # network -> (weights' versions, threads, session)
_LOCK = threading.Lock()


def onnxruntime_available():
    """True when ``onnx`` and ``onnxruntime`` can be imported."""
    return find_spec("onnx") is not None and find_spec("onnxruntime") is not None


def resolve_runtime(runtime, device, dtype, *, auto_prefers_onnxruntime=True):
    """``'torch'`` or ``'onnxruntime'`` for ``runtime`` on ``device`` with compute ``dtype``.

    ``'auto'`` is ONNX Runtime on the CPU in float32 when it is installed and
    ``auto_prefers_onnxruntime`` (it measured faster for this network), else PyTorch.

    Raises
    ------
    ImportError, ValueError
        When ``runtime='onnxruntime'`` cannot run here; the message says why
        and what to change.
    """
    if runtime == "torch":
        return "torch"
    on_cpu = torch.device(device).type == "cpu"
    dtype = torch.float32 if dtype is None else dtype
    if runtime == "onnxruntime":
        if not onnxruntime_available():
            raise ImportError(f"runtime='onnxruntime' needs onnx and onnxruntime: {_EXTRA_HINT}, "
                              "or use runtime='torch'.")
        if not on_cpu:
            raise ValueError(
                f"runtime='onnxruntime' runs on the CPU but the network is on {device}. Pass "
                "device='cpu', or runtime='auto' (ONNX Runtime on the CPU, PyTorch on a GPU).")
        if dtype != torch.float32:
            raise ValueError(
                f"runtime='onnxruntime' computes in float32, not {dtype}. Pass "
                "precision='float32' (or 'auto'), or runtime='torch'.")
        return "onnxruntime"
    if auto_prefers_onnxruntime and on_cpu and dtype == torch.float32 \
            and onnxruntime_available():
        return "onnxruntime"
    return "torch"


def chosen_runtime(estimator):
    """What a fitted trained estimator's ``predict`` runs on: 'torch' or 'onnxruntime'."""
    net = estimator.net_
    return resolve_runtime(getattr(estimator, "runtime", "torch"), net.device,
                           getattr(net, "precision", None),
                           auto_prefers_onnxruntime=type(estimator).__name__ in AUTO_ONNXRUNTIME)


def inference_net(estimator):
    """What ``predict`` calls ``predict_logits`` on: ``estimator.net_`` (PyTorch), or an
    :class:`OnnxNet` over it (ONNX Runtime)."""
    if getattr(estimator, "runtime", "torch") == "torch":
        return estimator.net_
    if chosen_runtime(estimator) == "torch":
        return estimator.net_
    return OnnxNet(estimator.net_, _example_batches(estimator),
                   what=f"the network of this {type(estimator).__name__}",
                   fallback=estimator.runtime == "auto")


def _example_batches(estimator):
    """A function ``X -> two small input batches`` to check the exported graph with."""
    encoder = getattr(estimator, "encoder_", None)
    if encoder is not None:  # token ids: two lengths, the shortest the network takes first
        shortest = int(getattr(estimator, "_min_length_", 1))

        def token_batches(_):
            rng = np.random.default_rng(0)
            batches = [rng.integers(1, encoder.size, (n, length)).astype(np.int64)
                       for n, length in ((1, shortest), (3, shortest + 9))]
            batches[1][0, shortest + 2:] = 0
            return batches, {1: "length"}

        return token_batches

    def image_batches(X):
        images = X.X if isinstance(X, TensorBatches) else X
        sample = np.ascontiguousarray(images[:3].detach().cpu().numpy(), dtype=np.float32)
        return [sample[:1], sample[np.arange(3) % len(sample)]], None

    return image_batches


class OnnxNet:
    """``predict_logits`` of a :class:`~skcnn._engine.TrainingNet`, in ONNX Runtime.

    Test-time augmented views (``augment``) still run in PyTorch.

    Parameters
    ----------
    net : TrainingNet
        The fitted net (its module and batch size).
    examples : callable
        ``X -> (batches, extra dynamic input axes)`` for the export and its check.
    what : str
        How errors name the network.
    fallback : bool
        Use PyTorch, with a warning, when the network cannot be exported
        (``runtime='auto'``); otherwise the export error is raised.
    """

    def __init__(self, net, examples, *, what, fallback):
        self.net = net
        self.examples = examples
        self.what = what
        self.fallback = fallback

    def session(self, X):
        """The ONNX Runtime session of the net's network as it is now (None: use PyTorch)."""
        module = self.net.module_
        versions = tuple(t._version for t in (*module.parameters(), *module.buffers()))
        threads = torch.get_num_threads()
        with _LOCK:
            cached = _SESSIONS.get(module)
        if cached is not None and cached[:2] == (versions, threads):
            return cached[2]
        session = self._export(module, X, threads)
        with _LOCK:
            _SESSIONS[module] = (versions, threads, session)
        return session

    def _export(self, module, X, threads):
        from ._onnx_export import check_graph, export_module, make_session
        from .exceptions import OnnxExportError

        batches, axes = self.examples(X)
        was_training = module.training
        module.eval()
        try:
            model = export_module(module, torch.from_numpy(batches[-1]), input_name="input",
                                  output_names=["logits"], what=self.what, input_axes=axes)
            session = make_session(model, threads)
            check_graph(session, module, batches, what=self.what)
        except OnnxExportError as exc:
            if not self.fallback:
                raise
            warnings.warn(f"runtime='auto' uses PyTorch for {self.what}: its ONNX export "
                          f"failed ({exc}). Pass runtime='torch' to skip the attempt.",
                          UserWarning, stacklevel=6)
            return None
        finally:
            module.train(was_training)
        return session

    def predict_logits(self, X, augment=None):
        """Logits for ``X`` (a tensor or a :class:`TensorBatches`), as the net gives them."""
        if augment is not None or len(X) == 0:
            return self.net.predict_logits(X, augment=augment)
        session = self.session(X)
        if session is None:
            return self.net.predict_logits(X)
        dataset = X if isinstance(X, TensorBatches) else TensorBatches(X)
        outputs = []
        for batch, _ in BatchIterator(dataset, self.net.batch_size):
            array = batch.numpy()
            array = np.ascontiguousarray(array, dtype=np.int64 if array.dtype == np.int64
                                         else np.float32)
            outputs.append(torch.from_numpy(session.run(None, {"input": array})[0]))
        return torch.cat(outputs)
