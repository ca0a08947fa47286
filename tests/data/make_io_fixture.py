"""Write the model-file regression fixture that tests/test_io.py loads.

    python tests/data/make_io_fixture.py

writes ``cnn_digits_v1.skcnn`` (a tiny CNNClassifier fitted on the first 500
of scikit-learn's 8x8 digits with string labels, saved by skcnn.save in
model-file format version 1) and ``cnn_digits_v1_expected.json`` (its
probabilities for digits 1000..1099, computed by this script right after
fitting, before saving); ``cnn_regressor_digits_v1.skcnn`` (a tiny
CNNRegressor fitted on the same digits to predict 10 + 3 * digit, so the
target scaling is part of the file) and ``text_sentiment_v1.skcnn`` (a tiny
TextCNNClassifier fitted on the first 1,000 of skcnn's shipped sentiment
sentences: vocabulary and tokenizer settings in the file), each with its
``*_expected.json``. ``python tests/data/make_io_fixture.py regressor text``
writes only those two. The test loads the file with the current skcnn and
checks it gives the same predictions: a change that breaks loading files
written by this version fails the suite. Only rerun this script on purpose
(a new format version gets a new fixture next to the old one).
"""

import json
import os

import numpy as np
import torch

import skcnn
from skcnn import CNNClassifier, CNNRegressor, TextCNNClassifier
from skcnn.datasets import load_digits_images

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "cnn_digits_v1.skcnn")
EXPECTED = os.path.join(HERE, "cnn_digits_v1_expected.json")
#: The images the expected predictions are for (never seen in training).
TEST_ROWS = (1000, 1100)
PARAMS = dict(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=15, batch_size=32,
              class_weight="balanced", verbose=0, random_state=0, device="cpu")
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                  "nine"])


REGRESSOR = os.path.join(HERE, "cnn_regressor_digits_v1.skcnn")
REGRESSOR_PARAMS = dict(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=15,
                        batch_size=32, verbose=0, random_state=0, device="cpu")
TEXT = os.path.join(HERE, "text_sentiment_v1.skcnn")
TEXT_PARAMS = dict(embedding_dim=16, n_filters=8, max_length=40, max_epochs=8, verbose=0,
                   random_state=0, device="cpu")
#: The sentences the text model is fitted on, and those its expected predictions are for.
TEXT_TRAIN, TEXT_TEST = (0, 1000), (1000, 1100)


def _expected_path(model_path):
    return model_path.replace(".skcnn", "_expected.json")


def _write(model, path, rows, outputs):
    skcnn.save(model, path)
    with open(_expected_path(path), "w", encoding="utf-8") as f:
        json.dump({"test_rows": list(rows), **outputs,
                   "written_by": skcnn.io.file_info(path)["written_by"]}, f, indent=1)
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and {_expected_path(path)}")


def regressor():
    X, y = load_digits_images(return_X_y=True)
    model = CNNRegressor(**REGRESSOR_PARAMS).fit(X[:500], 10.0 + 3.0 * y[:500])
    test = X[TEST_ROWS[0]:TEST_ROWS[1]]
    predictions = model.predict(test)
    r2 = model.score(test, 10.0 + 3.0 * y[TEST_ROWS[0]:TEST_ROWS[1]])
    print(f"regressor R2 on the {len(test)} test digits: {r2:.2f}")
    _write(model, REGRESSOR, TEST_ROWS, {"predictions": predictions.tolist()})


def text():
    from skcnn.datasets import load_sentiment_sentences

    data = load_sentiment_sentences()
    texts, labels = list(data.data), list(data.target)
    model = TextCNNClassifier(**TEXT_PARAMS).fit(texts[slice(*TEXT_TRAIN)],
                                                 labels[slice(*TEXT_TRAIN)])
    test = texts[slice(*TEXT_TEST)]
    accuracy = float(np.mean(model.predict(test) == np.asarray(labels[slice(*TEXT_TEST)])))
    print(f"text accuracy on the {len(test)} test sentences: {accuracy:.2f}")
    _write(model, TEXT, TEXT_TEST, {"classes": model.classes_.tolist(),
                                    "predictions": model.predict(test).tolist(),
                                    "probabilities": model.predict_proba(test).round(8).tolist()})


def main():
    torch.set_num_threads(1)
    X, y = load_digits_images(return_X_y=True)
    model = CNNClassifier(**PARAMS).fit(X[:500], NAMES[y[:500]])
    test = X[TEST_ROWS[0]:TEST_ROWS[1]]
    proba = model.predict_proba(test)
    skcnn.save(model, MODEL)
    with open(EXPECTED, "w", encoding="utf-8") as f:
        json.dump({"test_rows": list(TEST_ROWS), "classes": model.classes_.tolist(),
                   "predictions": model.predict(test).tolist(),
                   "probabilities": proba.round(8).tolist(),
                   "written_by": skcnn.io.file_info(MODEL)["written_by"]}, f, indent=1)
    accuracy = float(np.mean(model.predict(test) == NAMES[y[TEST_ROWS[0]:TEST_ROWS[1]]]))
    print(f"accuracy on the {len(test)} test digits: {accuracy:.2f}")
    print(f"wrote {MODEL} ({os.path.getsize(MODEL)} bytes) and {EXPECTED}")


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    for part in sys.argv[1:] or ["classifier", "regressor", "text"]:
        {"classifier": main, "regressor": regressor, "text": text}[part]()
