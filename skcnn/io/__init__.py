"""Getting fitted estimators out of Python: ONNX export (:mod:`skcnn.io.onnx`)."""
