"""Write the model-file regression fixture that tests/test_io.py loads.

    python tests/data/make_io_fixture.py

writes ``cnn_digits_v1.skcnn`` (a tiny CNNClassifier fitted on the first 500
of scikit-learn's 8x8 digits with string labels, saved by skcnn.save in
model-file format version 1) and ``cnn_digits_v1_expected.json`` (its
probabilities for digits 1000..1099, computed by this script right after
fitting, before saving). The test loads the file with the current skcnn and
checks it gives the same predictions: a change that breaks loading files
written by this version fails the suite. Only rerun this script on purpose
(a new format version gets a new fixture next to the old one).
"""

import json
import os

import numpy as np
import torch

import skcnn
from skcnn import CNNClassifier
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
    main()
