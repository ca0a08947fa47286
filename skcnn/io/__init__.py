"""Getting fitted estimators out of Python: ONNX export (:mod:`skcnn.io.onnx`) and
inference runtimes (:mod:`skcnn.io.runtime`)."""
