"""ONNX export of fitted skcnn estimators and of scikit-learn Pipelines that contain them.

:func:`to_onnx` puts skcnn's array preprocessing (layout, ``uint8`` scaling,
Pillow's resize and crop, normalisation) and the network into one ONNX graph
with a dynamic batch axis. For a Pipeline, :class:`~skcnn.PretrainedFeatures`
is registered as a ``skl2onnx`` converter that embeds that graph, so a
"CNN features + scikit-learn model" pipeline becomes one ONNX model that runs
in ONNX Runtime alone. Needs the ``onnx`` extra (``pip install "skcnn[onnx]"``).
"""

import copy
from importlib.util import find_spec

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._onnx_export import DEFAULT_OPSET, check_graph, export_module, make_session
from ..exceptions import OnnxExportError
from ..pretrained.features import PretrainedFeatures
from ..pretrained.finetune import FineTunedClassifier
from ..pretrained.regressor import FineTunedRegressor
from ..scratch.classifier import CNNClassifier
from ..scratch.regressor import CNNRegressor
from ..text.classifier import TextCNNClassifier
from ._array_graph import ArrayPreprocess, array_spec
from ._text_ids import TEXT_INPUT_NAME, token_ids

__all__ = ["to_onnx", "token_ids", "DEFAULT_OPSET"]

_SCRATCH = (CNNClassifier, CNNRegressor)
_FINETUNED = (FineTunedClassifier, FineTunedRegressor)
_SKCNN_ESTIMATORS = (PretrainedFeatures, *_SCRATCH, *_FINETUNED, TextCNNClassifier)
_INPUT_NAME = "images"
_EXTRA_HINT = 'Install the ONNX extra: pip install "skcnn[onnx]".'


def require_onnx(what="ONNX export"):
    """Raise an ImportError naming the extra when onnx or onnxruntime is missing."""
    missing = [name for name in ("onnx", "onnxruntime") if find_spec(name) is None]
    if missing:
        raise ImportError(f"{what} needs {' and '.join(missing)}. {_EXTRA_HINT}")


def to_onnx(estimator, X=None, *, target_opset=DEFAULT_OPSET):
    """Export a fitted estimator or Pipeline, preprocessing included, to ONNX.

    The graph takes arrays like ``X`` (same dtype and shape of one image,
    any number of images) and does to them what skcnn does to arrays:
    reading the layout, scaling ``uint8`` pixels, and for the pretrained
    estimators Pillow's resize (reproduced exactly), the center crop, gray
    to RGB and the mean/std normalisation. Images of other sizes need their
    own export.

    Parameters
    ----------
    estimator : fitted skcnn estimator or Pipeline
        :class:`~skcnn.CNNClassifier`, :class:`~skcnn.CNNRegressor`,
        :class:`~skcnn.FineTunedClassifier`, :class:`~skcnn.FineTunedRegressor`,
        :class:`~skcnn.PretrainedFeatures` or :class:`~skcnn.TextCNNClassifier`.
        A Pipeline (or any scikit-learn estimator) is converted with
        ``skl2onnx``; skcnn's steps are embedded as their ONNX graphs.
    X : array of images, or texts, default=None
        A sample of what the graph will take: ``uint8`` (0-255) or float
        (0-1) images as ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or flat
        rows ``(N, D)``, read as the estimator reads them. Its first images
        check the exported graph against PyTorch. ``None``: for
        :class:`~skcnn.CNNClassifier` and :class:`~skcnn.CNNRegressor`
        float32 ``(N, C, H, W)`` images of the fitted shape; for the
        pretrained estimators ``uint8`` RGB images ``(N, H, W, 3)`` of the
        backbone's input size. Required for a Pipeline. For
        :class:`~skcnn.TextCNNClassifier`: a few texts (or None) to check the
        graph with; the graph takes token ids, see Notes.
    target_opset : int, default=18
        ONNX opset of the graph.

    Returns
    -------
    model : onnx.ModelProto
        Save it with ``onnx.save_model(model, "model.onnx")``. Input
        ``images`` (``token_ids`` for the text classifier); outputs:
        ``features`` (float32, ``(N, n_features_out_)``) for
        :class:`~skcnn.PretrainedFeatures`; ``label`` (``classes_`` as
        int64, float64, bool or string) and ``probabilities`` (float64, as
        ``predict_proba``) for the classifiers; ``predictions`` (float64, in
        the scale of ``y``: the target scaling is part of the graph; ``(N,)``
        or ``(N, n_outputs_)`` as ``predict``) for the regressors; for a
        Pipeline the outputs ``skl2onnx`` names (``label`` and
        ``probabilities`` for a classifier, without ZipMap).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator (or a Pipeline step) is not fitted.
    skcnn.exceptions.OnnxExportError
        When a network cannot be traced, or a Pipeline step has no ONNX
        converter (the message names the step).

    Notes
    -----
    Outputs match skcnn's on the same arrays: labels exactly;
    probabilities and features within 1e-4 absolute (float32 kernels of
    PyTorch and ONNX Runtime sum in different orders), regression
    predictions within 1e-4 relative to the target's scale; this is what
    ``tests/test_onnx.py`` checks on real images and sentences. ``tta`` is
    not part of the graph (it is the plain prediction).

    The text classifier's tokenizer (lowercasing, the token pattern, the
    vocabulary, ``max_length``) is Python, not ONNX: the graph's input
    ``token_ids`` is int64 ``(batch, length)`` (both axes dynamic), the ids
    of each text padded with 0 at the end to at least the widest kernel.
    :func:`skcnn.io.onnx.token_ids` turns texts into exactly these ids (it
    runs the fitted tokenizer); ship the vocabulary with the graph, e.g. as
    the ``.skcnn`` file, or write ``vocabulary_`` to JSON.

    Examples
    --------
    >>> import onnxruntime as ort                                   # doctest: +SKIP
    >>> model = skcnn.to_onnx(clf, X_train[:8])                     # doctest: +SKIP
    >>> session = ort.InferenceSession(model.SerializeToString())   # doctest: +SKIP
    >>> labels, proba = session.run(None, {"images": X_test})       # doctest: +SKIP
    """
    require_onnx()
    if isinstance(estimator, TextCNNClassifier):
        _check_fitted(estimator)
        return text_graph(estimator, _text_batches(estimator, X), opset=target_opset)
    if isinstance(estimator, _SKCNN_ESTIMATORS):
        _check_fitted(estimator)
        spec = _input_spec(estimator, X)
        return estimator_graph(estimator, spec, _sample_batches(X, spec), opset=target_opset)
    return _sklearn_graph(estimator, X, target_opset)


# ---------------------------------------------------------------------- checks
def _check_fitted(estimator, step=None):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        where = f"Pipeline step {step!r} ({type(estimator).__name__})" if step else \
            f"This {type(estimator).__name__}"
        raise NotFittedError(
            f"{where} is not fitted, so there is nothing to export. Fit it first "
            "(estimator.fit(X, y)), then call skcnn.to_onnx(estimator, X).") from None


def _input_spec(estimator, X):
    if X is None:
        if isinstance(estimator, _SCRATCH):
            shape, dtype = (1, *estimator.input_shape_), np.float32
        else:
            height, width = estimator.preprocess_.input_size
            shape, dtype = (1, height, width, 3), np.uint8
        return array_spec(shape, dtype, data_format="channels_first"
                          if isinstance(estimator, _SCRATCH) else "channels_last")
    X = _as_array(X)
    if isinstance(estimator, _SCRATCH):
        spec = array_spec(X.shape, X.dtype, input_shape=estimator.input_shape_,
                          data_format=estimator.data_format)
        if tuple(spec.image_shape) != tuple(estimator.input_shape_):
            raise ValueError(
                f"X holds images of shape {spec.image_shape} (channels, height, width) but the "
                f"estimator was fitted on {tuple(estimator.input_shape_)}; pass a sample of "
                "the images it was fitted on.")
        return spec
    return array_spec(X.shape, X.dtype)


def _as_array(X):
    if not hasattr(X, "dtype") or not hasattr(X, "shape"):
        X = np.asarray(X)
    X = np.asarray(X)
    if X.dtype not in (np.uint8, np.float32, np.float64) or X.ndim not in (2, 3, 4):
        raise ValueError(
            f"X must be a sample of the image arrays the graph will take (uint8, float32 or "
            f"float64; 2, 3 or 4 dimensions); got {X.dtype} of shape {X.shape}. The graph "
            "works on decoded images: load files into an array first.")
    return X


def _sample_batches(X, spec, rng_seed=0):
    """A one-image batch and a three-image batch for checking the graph."""
    if X is None:
        rng = np.random.default_rng(rng_seed)
        if spec.dtype == np.uint8:
            X = rng.integers(0, 256, (3, *spec.shape), dtype=np.uint8)
        else:
            X = rng.random((3, *spec.shape)).astype(spec.dtype)
    X = np.ascontiguousarray(_as_array(X))
    index = np.arange(3) % len(X)
    return [X[:1], X[index]]


# ---------------------------------------------------------------------- skcnn estimators
class _Probabilities(nn.Module):
    """Softmax in float64, as ``predict_proba`` computes it."""

    def forward(self, logits):
        return torch.softmax(logits.to(torch.float64), dim=1)


class _TargetScale(nn.Module):
    """The network's outputs in the scale of ``y``, in float64, as ``predict`` returns them."""

    def __init__(self, mean, scale, one_d):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float64)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float64)))
        self.one_d = bool(one_d)

    def forward(self, outputs):
        values = outputs.to(torch.float64) * self.scale + self.mean
        return values.reshape(-1) if self.one_d else values


def output_head(estimator):
    """``(module, output name)`` turning the network's outputs into what the estimator
    returns: probabilities (classifiers) or values in the scale of ``y`` (regressors)."""
    if is_classifier(estimator):
        if getattr(estimator, "_multilabel", False):
            raise OnnxExportError(
                f"This {type(estimator).__name__} was fitted on a multi-label indicator y; "
                "skcnn.to_onnx exports single-label classifiers only. Export the network "
                "yourself (torch.onnx.export(estimator.module_, ...)) and apply a sigmoid.")
        return _Probabilities(), "probabilities"
    return (_TargetScale(estimator.target_mean_, estimator.target_scale_,
                         getattr(estimator, "_y_1d", False)), "predictions")


def _network_parts(estimator):
    """(preprocessing config or None, network, output names) of a fitted estimator."""
    if isinstance(estimator, PretrainedFeatures):
        return estimator.preprocess_, estimator.model_, ["features"]
    config = estimator.preprocess_ if isinstance(estimator, _FINETUNED) else None
    head, output = output_head(estimator)
    return config, nn.Sequential(estimator.module_, head), [output]


def estimator_graph(estimator, spec, batches, *, opset=DEFAULT_OPSET):
    """The ONNX model of a fitted skcnn estimator for input ``spec``, checked on ``batches``."""
    config, network, outputs = _network_parts(estimator)
    try:
        preprocess = ArrayPreprocess(spec, config)
    except ValueError as exc:
        raise OnnxExportError(f"{type(estimator).__name__}: {exc}") from None
    network = copy.deepcopy(network).cpu().float()
    module = nn.Sequential(preprocess, network).eval()
    what = f"the network of this {type(estimator).__name__}"
    example = torch.from_numpy(batches[-1])
    model = export_module(module, example, input_name=_INPUT_NAME, output_names=outputs,
                          opset=opset, what=what)
    check_graph(make_session(model), module, batches, what=what)
    if is_classifier(estimator):
        _add_labels(model, estimator.classes_)
    model.doc_string = (f"skcnn {type(estimator).__name__}; input {_INPUT_NAME!r}: "
                        f"{spec.describe()}")
    return model


# ---------------------------------------------------------------------- text
def _text_batches(estimator, X, rng_seed=0):
    """Token-id batches of two lengths (the shortest the network takes, and longer)."""
    if X is not None:
        texts = list(X) if not isinstance(X, str) else [X]
        index = np.arange(3) % max(len(texts), 1)
        first, three = token_ids(estimator, texts[:1]), token_ids(estimator,
                                                                  [texts[i] for i in index])
        if first.shape[1] != three.shape[1]:
            return [first, three]
    rng = np.random.default_rng(rng_seed)
    shortest = int(getattr(estimator, "_min_length_", 1))
    size = estimator.encoder_.size
    batches = [rng.integers(1, size, (n, length)).astype(np.int64)
               for n, length in ((1, shortest), (3, shortest + 9))]
    batches[1][0, shortest + 2:] = 0  # a padded row
    return batches


def text_graph(estimator, batches, *, opset=DEFAULT_OPSET):
    """The ONNX model of a fitted TextCNNClassifier on token ids, checked on ``batches``."""
    head, output = output_head(estimator)
    network = nn.Sequential(copy.deepcopy(estimator.module_).cpu().float(), head).eval()
    what = f"the network of this {type(estimator).__name__}"
    # Traced on the longer batch: the network's own padding to its widest kernel is
    # then not part of the graph, which token_ids does instead.
    model = export_module(network, torch.from_numpy(batches[-1]), input_name=TEXT_INPUT_NAME,
                          output_names=[output], opset=opset, what=what,
                          input_axes={1: "length"})
    check_graph(make_session(model), network, batches, what=what)
    _add_labels(model, estimator.classes_)
    model.doc_string = (f"skcnn {type(estimator).__name__}; input {TEXT_INPUT_NAME!r}: int64 "
                        "token ids (batch, length), each text's ids padded with 0 to at "
                        f"least {int(getattr(estimator, '_min_length_', 1))}: see "
                        "skcnn.io.onnx.token_ids")
    return model


def _classes_tensor(classes):
    from onnx import numpy_helper

    classes = np.asarray(classes)
    if classes.dtype.kind in "iu":
        values = classes.astype(np.int64)
    elif classes.dtype.kind == "f":
        values = classes.astype(np.float64)
    elif classes.dtype.kind == "b":
        values = classes.astype(bool)
    elif classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes.tolist()):
        values = np.array(classes.tolist(), dtype=object)
    else:
        raise OnnxExportError(
            f"The classes ({classes.dtype}) cannot be ONNX labels; fit the classifier on "
            "integer, float, boolean or string labels.")
    return numpy_helper.from_array(values, name="classes")


def _add_labels(model, classes):
    """Append ``label = classes[argmax(probabilities)]`` as the first output."""
    from onnx import helper

    graph = model.graph
    classes_tensor = _classes_tensor(classes)
    graph.initializer.append(classes_tensor)
    graph.node.extend([
        helper.make_node("ArgMax", ["probabilities"], ["label_index"], axis=1, keepdims=0),
        helper.make_node("Gather", ["classes", "label_index"], ["label"], axis=0),
    ])
    label = helper.make_tensor_value_info("label", classes_tensor.data_type, ["batch"])
    outputs = [label, *graph.output]
    del graph.output[:]
    graph.output.extend(outputs)


# ---------------------------------------------------------------------- scikit-learn
def _sklearn_graph(estimator, X, opset):
    if find_spec("skl2onnx") is None:
        raise ImportError(f"Exporting a {type(estimator).__name__} needs skl2onnx. {_EXTRA_HINT}")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, UInt8TensorType

    from ._skl2onnx import check_convertible, register_converters

    register_converters()
    check_convertible(estimator)
    if X is None:
        raise ValueError(
            f"Pass X, a sample of the arrays the {type(estimator).__name__} takes: "
            "skcnn.to_onnx(pipeline, X_train[:8]). Its dtype and image shape fix the graph's "
            "input.")
    X = _as_array(X)
    tensor_type = {np.dtype(np.uint8): UInt8TensorType, np.dtype(np.float32): FloatTensorType,
                   np.dtype(np.float64): DoubleTensorType}[X.dtype]
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    try:
        return convert_sklearn(estimator,
                               initial_types=[(_INPUT_NAME, tensor_type([None, *X.shape[1:]]))],
                               target_opset=opset, options=options)
    except (RuntimeError, NotImplementedError) as exc:
        # skl2onnx's MissingConverter, MissingShapeCalculator and its converters' own refusals
        # (a FunctionTransformer with a function, an unsupported option): the documented type.
        from ._skl2onnx import _steps

        named = [f"Pipeline step {name!r} ({type(step).__name__})"
                 for name, step in _steps(estimator) if type(step).__name__ in str(exc)]
        where = named[0] if named and hasattr(estimator, "steps") else type(estimator).__name__
        raise OnnxExportError(
            f"{where} cannot be exported to ONNX: skl2onnx says: {str(exc).strip()} Replace the "
            "step with one skl2onnx converts as it is set, or register a converter for it with "
            "skl2onnx.update_registered_converter.") from exc
