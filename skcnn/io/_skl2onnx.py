"""skl2onnx converters that embed skcnn's ONNX graphs in a converted Pipeline."""

import numpy as np

from ..exceptions import OnnxExportError
from ..pretrained.features import PretrainedFeatures

__all__ = ["register_converters", "check_convertible"]

_REGISTERED = False


def _features_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType

    batch = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([batch, operator.raw_operator.n_features_out_])


def _input_spec(variable):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, UInt8TensorType

    from ._array_graph import array_spec

    dtypes = {UInt8TensorType: np.uint8, FloatTensorType: np.float32,
              DoubleTensorType: np.float64}
    dtype = dtypes.get(type(variable.type))
    shape = list(variable.type.shape)
    if dtype is None or any(not isinstance(s, (int, np.integer)) for s in shape[1:]):
        raise OnnxExportError(
            f"PretrainedFeatures takes uint8, float32 or float64 images of a fixed shape in "
            f"the graph; got {variable.type}. Pass a sample of the images to skcnn.to_onnx.")
    return array_spec([1, *shape[1:]], dtype)


def _features_converter(scope, operator, container):
    from onnx import numpy_helper

    from .onnx import _sample_batches, estimator_graph

    estimator = operator.raw_operator
    spec = _input_spec(operator.inputs[0])
    opset = min(int(container.target_opset), 20)
    model = estimator_graph(estimator, spec, _sample_batches(None, spec), opset=opset)
    prefix = scope.get_unique_variable_name("skcnn_features") + "_"
    names = {model.graph.input[0].name: operator.inputs[0].full_name,
             model.graph.output[0].name: operator.outputs[0].full_name}

    def rename(name):
        return "" if name == "" else names.get(name, prefix + name)

    for tensor in model.graph.initializer:
        value = numpy_helper.from_array(numpy_helper.to_array(tensor), rename(tensor.name))
        container.add_initializer(value.name, value.data_type, list(value.dims), value)
    versions = {entry.domain: entry.version for entry in model.opset_import}
    for node in model.graph.node:
        if any(attr.g.node or attr.graphs for attr in node.attribute):
            raise OnnxExportError("The backbone's graph has subgraphs (If/Loop), which the "
                                  "Pipeline converter cannot embed; export it alone.")
        copy = type(node)()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        inputs = list(node.input)
        while inputs and inputs[-1] == "":  # omitted trailing optional inputs
            inputs.pop()
        if "" in inputs:  # skl2onnx's ordering cannot place an unnamed input
            raise OnnxExportError(
                f"The backbone's graph has a {node.op_type} node with an omitted optional "
                "input, which the Pipeline converter cannot embed; export the "
                "PretrainedFeatures step alone with skcnn.to_onnx.")
        del copy.input[:], copy.output[:]
        copy.input.extend(rename(n) for n in inputs)
        copy.output.extend(rename(n) for n in node.output)
        domain = node.domain or ""
        container.node_domain_version_pair_sets.add((domain, versions.get(domain, opset)))
        container.nodes.append(copy)


def register_converters():
    """Register skcnn's converters with skl2onnx (once per process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter

    update_registered_converter(PretrainedFeatures, "SkcnnPretrainedFeatures",
                                _features_shape, _features_converter)
    _REGISTERED = True


def _steps(estimator, prefix=""):
    """(name, estimator) of every step, nested Pipelines flattened with ``outer__inner`` names."""
    steps = getattr(estimator, "steps", None)
    if steps is None:
        return [(prefix or type(estimator).__name__, estimator)]
    found = []
    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        found += _steps(step, f"{prefix}__{name}" if prefix else name)
    return found


def check_convertible(estimator):
    """Raise a clear error for an unfitted step or a step skl2onnx cannot convert."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    from .onnx import _check_fitted

    for name, step in _steps(estimator):
        _check_fitted(step, name if hasattr(estimator, "steps") else None)
        if type(step) not in sklearn_operator_name_map:
            where = (f"Pipeline step {name!r} ({type(step).__name__})"
                     if hasattr(estimator, "steps") else type(step).__name__)
            hint = (" skcnn's classifiers export alone (skcnn.to_onnx(classifier, X)), not "
                    "as a Pipeline step; put PretrainedFeatures in the Pipeline instead."
                    if type(step).__module__.startswith("skcnn") else "")
            raise OnnxExportError(
                f"{where} has no ONNX converter, so the Pipeline cannot be exported.{hint} "
                "Replace the step with one skl2onnx supports, or register a converter for it "
                "with skl2onnx.update_registered_converter.")
