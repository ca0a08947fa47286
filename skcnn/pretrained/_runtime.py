"""Inference runtimes for PretrainedFeatures: PyTorch, or the exported graph in ONNX Runtime.

(The choice of runtime itself, shared with the trained estimators' ``predict``,
is :mod:`skcnn._onnx_runtime`.)

``runtime='onnxruntime'`` exports the network once (lazily, at the first
``transform`` after ``fit``), checks the graph against PyTorch on two batch
sizes, and runs batches through an ONNX Runtime CPU session. Sessions are kept
per network (backbone, weights, layer, pooling, input size, threads), at most
two per process, so refitting in a grid search does not export again.

The ``'auto'`` rule (from ``benchmarks/onnx_runtime.py``, where ONNX Runtime
ran efficientnet_lite0 and resnet50 faster than PyTorch eager with
channels-last on the CPU): ONNX Runtime when the network runs on the CPU in
float32 and ``onnx`` and ``onnxruntime`` are installed; PyTorch otherwise (on
a GPU, with half precision, or when the network cannot be exported, with a
warning).
"""

import threading
import warnings
from collections import OrderedDict

import numpy as np
import torch

from .._onnx_runtime import RUNTIMES, onnxruntime_available, resolve_runtime
from .._progress import tqdm
from ..data.transforms import iterate_batches
from ..utils._hardware import default_num_workers

__all__ = ["RUNTIMES", "onnxruntime_available", "resolve_runtime", "network_session",
           "run_session"]

_SESSIONS = OrderedDict()
_SESSIONS_SIZE = 2
_SESSIONS_LOCK = threading.Lock()


def network_session(module, input_shape, key=None, what="the network"):
    """An ONNX Runtime session running ``module`` on float32 ``(N, *input_shape)`` batches.

    Parameters
    ----------
    module : torch.nn.Module
        The network (not modified).
    input_shape : tuple of int
        ``(C, H, W)`` of one input.
    key : hashable, default=None
        Identifies the network's weights and settings: a session made for
        the same key in this process is reused. None: always export.
    what : str
        How errors name the network.

    Raises
    ------
    skcnn.exceptions.OnnxExportError
        When the network cannot be exported or its graph disagrees with it.
    """
    from .._onnx_export import check_graph, export_module, make_session

    threads = torch.get_num_threads()
    if key is not None:
        key = (key, tuple(input_shape), threads)
        with _SESSIONS_LOCK:
            session = _SESSIONS.get(key)
            if session is not None:
                _SESSIONS.move_to_end(key)
                return session
    reference = next(module.parameters(), torch.empty(0))
    if reference.device.type != "cpu" or module.training:
        module = _cpu_copy(module).eval()
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((n, *input_shape)).astype(np.float32) for n in (1, 3)]
    model = export_module(module, torch.from_numpy(batches[1]), input_name="input",
                          output_names=["output"], what=what)
    session = make_session(model, threads)
    check_graph(session, module, batches, what=what)
    if key is not None:
        with _SESSIONS_LOCK:
            _SESSIONS[key] = session
            while len(_SESSIONS) > _SESSIONS_SIZE:
                _SESSIONS.popitem(last=False)
    return session


def _cpu_copy(module):
    import copy

    return copy.deepcopy(module).cpu()


def run_session(session, dataset, n_outputs, *, batch_size, num_workers="auto", verbose=1,
                desc="inference"):
    """Run ``session`` over ``dataset`` (items ``(tensor, index)``) into a float32 array.

    The counterpart of :func:`skcnn.pretrained._inference.run_model`: same
    batching, decoding workers and progress bar.
    """
    workers = (default_num_workers(len(dataset), batch_size) if num_workers == "auto"
               else int(num_workers))
    input_name = session.get_inputs()[0].name
    output = np.empty((len(dataset), n_outputs), dtype=np.float32)
    n_batches = -(-len(dataset) // batch_size)
    progress = tqdm(total=len(dataset), desc=desc, unit="img", leave=False,
                    disable=not verbose or n_batches < 2)
    with progress:
        for batch, index in iterate_batches(dataset, batch_size, workers):
            array = np.ascontiguousarray(batch.numpy(), dtype=np.float32)
            output[index.numpy()] = session.run(None, {input_name: array})[0]
            progress.update(len(index))
    return output


def warn_fallback(error, what):
    """Warn that ``runtime='auto'`` fell back to PyTorch because of ``error``."""
    warnings.warn(f"runtime='auto' uses PyTorch for {what}: its ONNX export failed ({error}). "
                  "Pass runtime='torch' to skip the attempt.", UserWarning, stacklevel=4)
