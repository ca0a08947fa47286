"""Multi-label TextCNNClassifier against per-label TF-IDF + LogisticRegression.

The 2,000 review sentences that ship with skcnn
(:func:`skcnn.datasets.load_sentiment_sentences`, offline) get two labels each,
{positive, from Yelp} (the Yelp half are restaurant reviews, the Amazon half
phones and accessories), as a 0/1 indicator matrix. Same 5 shuffled folds
(KFold, random_state=0) for every model; prints the samples-averaged F1 (and
the per-label F1) of each model with its time:

* TextCNNClassifier on the indicator matrix (one sigmoid per label, binary
  cross-entropy), with its defaults or ``--params``;
* TF-IDF (words and bigrams) + LogisticRegression, one per label
  (LogisticRegression inside MultiOutputClassifier);
* two trivial predictors that ignore the text: every label for every
  sentence (the best constant for samples-F1 here), and none.

Samples-F1 averages each sentence's F1 between its true and predicted label
sets; a quarter of the sentences (negative, Amazon) have no label, and an
empty prediction for them counts as right (``zero_division=1``).

    python benchmarks/text_multilabel.py [--params "dict(max_epochs=4)"] [--threads 2]
"""

import argparse
import time

import numpy as np
import torch
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline

from skcnn import TextCNNClassifier
from skcnn.datasets import load_sentiment_sentences

LABELS = ("positive", "from_yelp")


def sentences_two_labels():
    """``(texts, Y)``: the shipped sentences and their {positive, from_yelp} indicator matrix."""
    data = load_sentiment_sentences()
    Y = np.column_stack([data.target == "pos", data.source == "yelp"]).astype(np.int64)
    return data.data, Y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="dict()",
                        help="TextCNNClassifier keyword arguments, as a Python dict expression")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = eval(args.params, {"__builtins__": {}}, {"dict": dict})  # noqa: S307 (a CLI)
    texts, Y = sentences_two_labels()
    models = {
        "TextCNNClassifier (multi-label)": lambda: TextCNNClassifier(
            verbose=0, random_state=0, **params),
        "TF-IDF + LogisticRegression per label": lambda: make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2)),
            MultiOutputClassifier(LogisticRegression(max_iter=1000))),
        "every label (trivial)": lambda: DummyClassifier(strategy="constant",
                                                         constant=np.ones(len(LABELS), int)),
        "no label (trivial)": lambda: DummyClassifier(strategy="constant",
                                                      constant=np.zeros(len(LABELS), int)),
    }
    folds = list(KFold(args.folds, shuffle=True, random_state=0).split(texts))
    print(f"{len(texts)} sentences, labels {LABELS}, {Y.mean(0).round(3).tolist()} positive "
          f"rates; {args.folds}-fold KFold (shuffled, random_state=0), {args.threads} thread(s); "
          f"TextCNNClassifier({args.params})")
    print(f"{'model':<40} {'samples-F1':>17} {'F1 per label':>16} {'time (s)':>9}")
    for name, make in models.items():
        scores, per_label, start = [], [], time.perf_counter()
        for train, test in folds:
            model = make().fit(texts[train], Y[train])
            predicted = np.asarray(model.predict(texts[test]))
            scores.append(f1_score(Y[test], predicted, average="samples", zero_division=1))
            per_label.append(f1_score(Y[test], predicted, average=None, zero_division=0))
        seconds = time.perf_counter() - start
        labels = " ".join(f"{v:.3f}" for v in np.mean(per_label, axis=0))
        print(f"{name:<40} {np.mean(scores):.3f} +/- {np.std(scores):.3f} {labels:>16} "
              f"{seconds:>9.1f}")


if __name__ == "__main__":
    main()
