"""ONNX export (skcnn.to_onnx) and the ONNX Runtime inference runtime, on real images.

The graphs must give what skcnn gives on the same arrays: labels exactly,
probabilities and features within 1e-4 (absolute and relative: PyTorch's and
ONNX Runtime's float32 kernels sum in different orders), for one image and
for a batch of 37.
"""

import pickle
import warnings

import numpy as np
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

import skcnn  # noqa: E402
from skcnn import CNNClassifier, FineTunedClassifier, PretrainedFeatures  # noqa: E402
from skcnn.exceptions import OnnxExportError  # noqa: E402

TOL = dict(atol=1e-4, rtol=1e-4)


def run(model, X):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"images": X})


@pytest.fixture(scope="module")
def photos():
    """40 uint8 RGB crops (120x160) of scikit-image's photos: chelsea, coffee, astronaut."""
    from skimage import data

    rng = np.random.default_rng(0)
    out = []
    for i in range(40):
        photo = (data.chelsea(), data.coffee(), data.astronaut())[i % 3]
        top = rng.integers(0, photo.shape[0] - 240)
        left = rng.integers(0, photo.shape[1] - 320)
        crop = Image.fromarray(photo[top:top + 240, left:left + 320]).resize((160, 120))
        out.append(np.asarray(crop))
    return np.stack(out)


@pytest.fixture(scope="module")
def faces():
    """scikit-image's lfw_subset: 100 faces then 100 non-faces, 25x25 gray floats in [0, 1]."""
    from skimage.data import lfw_subset

    X = lfw_subset()
    y = np.r_[np.full(100, "face"), np.full(100, "other")]
    order = np.random.default_rng(0).permutation(len(X))
    return X[order], y[order]


def test_cnn_classifier_flat_digits(digits8, fast):
    X, y = digits8
    flat = X.reshape(len(X), -1)  # flat rows, read as 8x8 images
    clf = CNNClassifier(**fast).fit(flat[:300], y[:300])
    model = skcnn.to_onnx(clf, flat[:4])
    for batch in (flat[300:301], flat[300:337]):
        label, proba = run(model, batch)
        np.testing.assert_array_equal(label, clf.predict(batch))
        np.testing.assert_allclose(proba, clf.predict_proba(batch), **TOL)
    assert proba.shape == (37, 10) and label.dtype == np.int64


def test_cnn_classifier_uint8_channels_last_string_labels(digits8, fast):
    X, y = digits8
    images = np.repeat((X[..., None] * 255).round().astype(np.uint8), 3, axis=-1)  # (N, 8, 8, 3)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])[y]
    clf = CNNClassifier(**fast).fit(images[:300], names[:300])
    model = skcnn.to_onnx(clf, images[:4])
    label, proba = run(model, images[300:337])
    np.testing.assert_array_equal(label, clf.predict(images[300:337]))
    np.testing.assert_allclose(proba, clf.predict_proba(images[300:337]), **TOL)
    assert set(label) <= set(names)  # the labels are the class names


def test_pretrained_features_photos(photos):
    features = PretrainedFeatures(input_size=64, verbose=0).fit(photos[:2])
    model = skcnn.to_onnx(features, photos[:3])  # uint8 (N, 120, 160, 3): resized in the graph
    assert "uint8 channels-last" in model.doc_string
    for batch in (photos[:1], photos[3:40]):
        (got,) = run(model, batch)
        np.testing.assert_allclose(got, features.transform(batch), **TOL)
    assert got.shape == (37, features.n_features_out_)


def test_pipeline_features_scaler_svc_faces(faces):
    X, y = faces
    pipe = make_pipeline(PretrainedFeatures(input_size=64, verbose=0), StandardScaler(),
                         SVC(probability=True, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) in sklearn >= 1.9
        pipe.fit(X[:150], y[:150])
        model = skcnn.to_onnx(pipe, X[:4])  # float64 gray (N, 25, 25): to RGB, upsampled
        for batch in (X[150:151], X[150:187]):
            label, proba = run(model, batch)
            np.testing.assert_array_equal(label, pipe.predict(batch))
            np.testing.assert_allclose(proba, pipe.predict_proba(batch), **TOL)
    assert (label == y[150:187]).mean() > 0.8  # faces are told apart from other images
    assert [node.op_type for node in model.graph.node].count("Conv") > 10  # one graph


def test_fine_tuned_classifier_faces(faces):
    X, y = faces
    images = (X * 255).round().astype(np.uint8)
    clf = FineTunedClassifier(input_size=64, max_epochs=1, batch_size=32, verbose=0,
                              random_state=0).fit(images[:96], y[:96])
    model = skcnn.to_onnx(clf, images[:4])
    for batch in (images[150:151], images[150:187]):
        label, proba = run(model, batch)
        np.testing.assert_array_equal(label, clf.predict(batch))
        np.testing.assert_allclose(proba, clf.predict_proba(batch), **TOL)


def test_onnxruntime_runtime_on_files_matches_torch(photos, tmp_path):
    paths = []
    for i, image in enumerate(photos[:37]):
        paths.append(str(tmp_path / f"photo_{i}.jpg"))
        Image.fromarray(image).save(paths[-1], quality=90)
    reference = PretrainedFeatures(input_size=64, verbose=0).fit(paths[:1]).transform(paths)
    features = PretrainedFeatures(input_size=64, verbose=0, runtime="onnxruntime")
    assert "_onnx_state" not in features.__dict__  # nothing is built by the constructor
    features.fit(paths[:1])
    assert features.runtime_ == "onnxruntime"
    assert features._onnx_state["session"] is None  # nor by fit: the first transform exports
    np.testing.assert_allclose(features.transform(paths), reference, **TOL)
    np.testing.assert_allclose(features.transform(paths[:1]), reference[:1], **TOL)
    restored = pickle.loads(pickle.dumps(features))  # the session is dropped, then rebuilt
    assert restored._onnx_state["session"] is None
    np.testing.assert_allclose(restored.transform(paths[:5]), reference[:5], **TOL)
    assert PretrainedFeatures(runtime="auto").fit(paths[:1]).runtime_ == "onnxruntime"


def test_runtime_onnxruntime_refuses_half_precision(photos):
    with pytest.raises(ValueError, match="precision='float32'"):
        PretrainedFeatures(runtime="onnxruntime", precision="bfloat16",
                           verbose=0).fit(photos[:1])


def test_unfitted_estimator_is_refused():
    with pytest.raises(NotFittedError, match=r"Fit it first .*skcnn.to_onnx"):
        skcnn.to_onnx(CNNClassifier())
    pipe = make_pipeline(StandardScaler(), SVC())
    with pytest.raises(NotFittedError, match="Pipeline step 'standardscaler'"):
        skcnn.to_onnx(pipe, np.zeros((2, 4), np.float32))


class Doubler(TransformerMixin, BaseEstimator):
    """A transformer skl2onnx has no converter for."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        return X * 2


def test_pipeline_step_without_converter_is_named(faces):
    X, y = faces
    pipe = make_pipeline(StandardScaler(), Doubler(), SVC()).fit(X[:60].reshape(60, -1), y[:60])
    with pytest.raises(OnnxExportError, match=r"Pipeline step 'doubler' \(Doubler\) has no ONNX "
                                              r"converter.*update_registered_converter"):
        skcnn.to_onnx(pipe, X[:2].reshape(2, -1))


class NumpyRoundTrip(nn.Module):
    """A network whose forward leaves torch for NumPy: a tracer records a constant."""

    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        self.linear = nn.Linear(in_channels * image_size[0] * image_size[1], n_classes)

    def forward(self, x):
        scale = 10.0 * float(np.abs(x.detach().cpu().numpy()).mean()) + 1.0
        return self.linear(x.flatten(1)) * scale


def test_untraceable_network_is_refused(digits8, fast):
    X, y = digits8
    fast.pop("filters"), fast.pop("kernel_size"), fast.pop("hidden_units")
    clf = CNNClassifier(architecture=NumpyRoundTrip, **fast).fit(X[:100], y[:100])
    with pytest.raises(OnnxExportError, match="tensor operations only"):
        skcnn.to_onnx(clf, X[:5])


# ---------------------------------------------------------------------- regressors, text
def test_cnn_regressor_digits_in_the_target_scale(digits8, fast):
    from skcnn import CNNRegressor

    X, y = digits8
    target = np.stack([1000.0 + 25.0 * y, (y % 3).astype(float)], axis=1)
    for y_fit in (target[:, 0], target):  # 1-D and two targets
        reg = CNNRegressor(**fast).fit(X[:300], y_fit[:300])
        model = skcnn.to_onnx(reg, X[:4])
        for batch in (X[300:301], X[300:337]):
            (got,) = run(model, batch)
            expected = reg.predict(batch)
            assert got.shape == expected.shape and got.dtype == np.float64
            # Within 1e-4 of the target's scale (the float32 network times target_scale_).
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * target.std(0).max())
    assert np.ptp(got[:, 0]) > 1.0 and got[:, 0].mean() > 500  # the original scale


def test_fine_tuned_regressor_faces(faces):
    from skcnn import FineTunedRegressor

    X, y = faces
    target = (y == "face") * 40.0 + 60.0
    reg = FineTunedRegressor(input_size=32, max_epochs=1, batch_size=32, verbose=0,
                             unfreeze="head", freeze_epochs=0, random_state=0)
    reg.fit(X[:64], target[:64])
    model = skcnn.to_onnx(reg, X[:4])  # float64 gray (N, 25, 25): RGB, resize in the graph
    for batch in (X[150:151], X[150:187]):
        (got,) = run(model, batch)
        np.testing.assert_allclose(got, reg.predict(batch), rtol=0, atol=1e-4 * 40.0)
    assert got.shape == (37,) and 55 < got.mean() < 105


@pytest.fixture(scope="module")
def sentences():
    from skcnn.datasets import load_sentiment_sentences

    data = load_sentiment_sentences()
    return list(data.data), np.asarray(data.target)


@pytest.mark.parametrize("params", [{}, {"level": "char", "max_length": 100}],
                         ids=["word", "char"])
def test_text_classifier_sentences_token_ids(sentences, params):
    from skcnn import TextCNNClassifier
    from skcnn.io.onnx import token_ids

    texts, labels = sentences
    clf = TextCNNClassifier(embedding_dim=8, n_filters=8, max_epochs=2, verbose=0,
                            random_state=0, device="cpu", **params).fit(texts[:600],
                                                                        labels[:600])
    model = skcnn.to_onnx(clf, texts[:5])
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    assert [(i.name, i.type, i.shape) for i in session.get_inputs()] == [
        ("token_ids", "tensor(int64)", ["batch", "length"])]
    lengths = set()
    for batch in (texts[1000:1001], texts[1000:1037], ["ok"]):  # "ok": shorter than a kernel
        ids = token_ids(clf, batch)
        lengths.add(ids.shape[1])
        label, proba = session.run(None, {"token_ids": ids})
        np.testing.assert_array_equal(label, clf.predict(batch))
        np.testing.assert_allclose(proba, clf.predict_proba(batch), **TOL)
    assert len(lengths) == 3 and set(label) <= {"neg", "pos"}


def test_multilabel_classifier_export_is_refused_with_the_fix(digits8, fast):
    X, y = digits8
    Y = np.stack([y % 2, y > 4], axis=1).astype(int)
    clf = CNNClassifier(**fast).fit(X[:100], Y[:100])
    with pytest.raises(OnnxExportError, match="multi-label.*torch.onnx.export"):
        skcnn.to_onnx(clf, X[:2])


# ---------------------------------------------------------------------- predict's runtime
def _predictions(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


def test_predict_runtime_onnxruntime_matches_torch(digits8, fast, sentences, recwarn):
    from skcnn import CNNRegressor, TextCNNClassifier
    from skcnn._onnx_runtime import OnnxNet, chosen_runtime

    X, y = digits8
    texts, labels = sentences
    cases = [(CNNClassifier(**fast), X[:200], y[:200], X[300:337]),
             (CNNRegressor(**fast), X[:200], 10.0 + 5.0 * y[:200], X[300:337]),
             (TextCNNClassifier(embedding_dim=8, n_filters=4, max_epochs=1, verbose=0,
                                random_state=0, device="cpu"), texts[:300], labels[:300],
              texts[1000:1037])]
    for est, X_fit, y_fit, X_test in cases:
        est.fit(X_fit, y_fit)
        reference = _predictions(est, X_test)
        labels_torch = est.predict(X_test)
        est.set_params(runtime="onnxruntime")
        assert chosen_runtime(est) == "onnxruntime" and isinstance(est._inference_net(), OnnxNet)
        for batch in (slice(0, 1), slice(0, 37)):
            np.testing.assert_allclose(_predictions(est, X_test[batch]), reference[batch],
                                       rtol=1e-4, atol=1e-4 * max(1.0, np.abs(reference).max()))
        if est.predict(X_test).dtype.kind != "f":
            np.testing.assert_array_equal(est.predict(X_test), labels_torch)
        # Further training: the graph is exported again from the new weights.
        est.partial_fit(X_fit, y_fit)
        updated = _predictions(est, X_test)
        np.testing.assert_allclose(updated, _predictions(est.set_params(runtime="torch"),
                                                         X_test), rtol=1e-4, atol=1e-4 * max(
            1.0, np.abs(updated).max()))
        assert not np.allclose(updated, reference)
        # Nothing is stored on the estimator: it pickles and saves as before.
        est.set_params(runtime="onnxruntime")
        restored = pickle.loads(pickle.dumps(est))
        np.testing.assert_allclose(_predictions(restored, X_test), updated, rtol=1e-4,
                                   atol=1e-4 * max(1.0, np.abs(updated).max()))
    assert not [w for w in recwarn if "runtime" in str(w.message)]


def test_predict_runtime_auto_and_fallbacks(digits8, fast, monkeypatch):
    from skcnn import _onnx_runtime

    X, y = digits8
    clf = CNNClassifier(**fast, runtime="auto").fit(X[:100], y[:100])
    monkeypatch.setattr(_onnx_runtime, "AUTO_ONNXRUNTIME", frozenset())
    assert _onnx_runtime.chosen_runtime(clf) == "torch"  # not measured faster: PyTorch
    monkeypatch.setattr(_onnx_runtime, "AUTO_ONNXRUNTIME", frozenset({"CNNClassifier"}))
    assert _onnx_runtime.chosen_runtime(clf) == "onnxruntime"
    monkeypatch.setattr(_onnx_runtime, "onnxruntime_available", lambda: False)
    assert _onnx_runtime.chosen_runtime(clf) == "torch"  # not installed: PyTorch
    with pytest.raises(ImportError, match=r"skcnn\[onnx\]"):
        clf.set_params(runtime="onnxruntime").predict(X[:2])
    with pytest.raises(ValueError, match="runtime"):
        CNNClassifier(**fast, runtime="tensorrt").fit(X[:20], y[:20])


def test_predict_runtime_untraceable_network_falls_back_with_auto(digits8, fast, monkeypatch):
    from skcnn import _onnx_runtime

    X, y = digits8
    fast.pop("filters"), fast.pop("kernel_size"), fast.pop("hidden_units")
    clf = CNNClassifier(architecture=NumpyRoundTrip, **fast).fit(X[:100], y[:100])
    reference = clf.predict_proba(X[100:140])
    with pytest.raises(OnnxExportError, match="runtime='torch'"):
        clf.set_params(runtime="onnxruntime").predict(X[100:140])
    monkeypatch.setattr(_onnx_runtime, "AUTO_ONNXRUNTIME", frozenset({"CNNClassifier"}))
    with pytest.warns(UserWarning, match="runtime='auto' uses PyTorch"):
        got = clf.set_params(runtime="auto").predict_proba(X[100:140])
    np.testing.assert_array_equal(got, reference)
