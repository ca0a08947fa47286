"""Export a torch module to an ONNX model with a dynamic batch axis, checked against torch.

The bottom layer: used by the ONNX Runtime runtime of the estimators
(:mod:`skcnn.pretrained._runtime`) and by :func:`skcnn.to_onnx` (:mod:`skcnn.io.onnx`).
"""

import io
import warnings

import numpy as np
import torch

from .exceptions import OnnxExportError

__all__ = ["DEFAULT_OPSET", "export_module", "make_session", "check_graph"]

#: ONNX opset of exported graphs (ONNX Runtime >= 1.14 runs it).
DEFAULT_OPSET = 18


def _legacy_export(module, example, input_name, output_names, opset, input_axes):
    buffer = io.BytesIO()
    axes = {name: {0: "batch"} for name in output_names}
    axes[input_name] = dict(input_axes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, (example,), buffer, input_names=[input_name],
                          output_names=list(output_names), dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True, dynamo=False)
    import onnx

    return onnx.load_from_string(buffer.getvalue())


def _dynamo_export(module, example, input_name, output_names, opset, input_axes):
    dims = {axis: torch.export.Dim(name, min=1) for axis, name in input_axes.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (example,), input_names=[input_name],
                                    output_names=list(output_names),
                                    dynamic_shapes=(dims,), opset_version=opset,
                                    dynamo=True, verbose=False)
    return program.model_proto


def export_module(module, example, *, input_name, output_names, opset=DEFAULT_OPSET,
                  what="the network", input_axes=None):
    """``module`` (in eval mode, on the CPU; not modified) as an ``onnx.ModelProto``.

    The batch axis of the input and outputs is dynamic, and so are the other
    axes of the input named in ``input_axes`` (``{axis: name}``, e.g.
    ``{0: "batch", 1: "length"}`` for token ids).

    The TorchScript exporter runs first (seconds, where the dynamo-based one
    takes about a minute for a small CNN); the dynamo exporter is the fallback.

    Raises
    ------
    OnnxExportError
        When neither exporter can trace ``module``.
    """
    if module.training:
        raise ValueError("Put the module in eval mode before exporting it.")
    errors = []
    input_axes = {0: "batch", **(input_axes or {})}
    for exporter in (_legacy_export, _dynamo_export):
        try:
            with torch.no_grad():
                return exporter(module, example, input_name, output_names, opset, input_axes)
        except Exception as exc:  # noqa: BLE001 - summarised in the error below
            errors.append(f"{exporter.__name__.strip('_').replace('_', ' ')}: "
                          f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}")
    raise OnnxExportError(
        f"{what} could not be exported to ONNX ({'; '.join(errors)}). Make its forward pass "
        "traceable (tensor operations only: no NumPy calls, .item() or Python branches on "
        "tensor values) or keep the PyTorch runtime (runtime='torch').")


def make_session(model, threads=None):
    """An ONNX Runtime CPU session for ``model`` (a ModelProto or serialised bytes)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def check_graph(session, module, batches, *, what="the network", rtol=1e-4):
    """Run ``session`` and ``module`` on each batch; raise if they disagree.

    A network whose forward pass depends on Python values (``.item()``,
    NumPy, branches on tensor values, the batch size) traces into a graph
    that is only right for the example it was traced with: comparing
    batches of different sizes catches that.
    """
    input_name = session.get_inputs()[0].name
    for batch in batches:
        with torch.inference_mode():
            expected = module(torch.from_numpy(np.ascontiguousarray(batch)))
        expected = expected[0] if isinstance(expected, (tuple, list)) else expected
        expected = expected.float().numpy()
        got = session.run(None, {input_name: batch})[0]
        scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=rtol,
                                                          atol=rtol * scale):
            diff = (float(np.abs(got - expected).max()) if got.shape == expected.shape
                    else f"shape {got.shape} instead of {expected.shape}")
            raise OnnxExportError(
                f"The ONNX graph of {what} does not reproduce it on a batch of {len(batch)} "
                f"(largest difference: {diff}): its forward pass depends on values the "
                "tracer cannot follow (NumPy calls, .item(), Python branches on tensor "
                "values or on the batch size). Rewrite it with tensor operations only, or "
                "keep the PyTorch runtime (runtime='torch').")
