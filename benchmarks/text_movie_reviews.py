"""TextCNNClassifier against TF-IDF + LinearSVC on the movie-review sentences.

Stratified 5-fold CV (shuffled, random_state=0) on ../shared/data/mr_polarity.csv
(Pang & Lee 2005; the same sentences as skcnn.datasets.load_movie_reviews), the
same folds for every model; prints each fold as it ends, then the mean accuracy
and the time of each model.

    python benchmarks/text_movie_reviews.py [--data PATH] [--models textcnn,tfidf+svc]
        [--params "dict(max_epochs=4)"] [--threads 1]

Goal (issue 14): default TextCNNClassifier >= 0.765 (Kim's CNN-rand: 76.1, 10-fold);
TF-IDF(1-2 grams) + LinearSVC measured 0.778 here.
"""

import argparse
import os
import time

import numpy as np
import pandas as pd
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from skcnn import TextCNNClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mr_polarity.csv")


def models(params):
    return {
        "textcnn": lambda: TextCNNClassifier(verbose=0, random_state=0, **params),
        "tfidf+svc": lambda: make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LinearSVC()),
        "tfidf+logreg": lambda: make_pipeline(TfidfVectorizer(ngram_range=(1, 2)),
                                              LogisticRegression(max_iter=1000)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--models", default="tfidf+svc,textcnn")
    parser.add_argument("--params", default="dict()",
                        help="TextCNNClassifier keyword arguments, as a Python dict expression")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, default=None,
                        help="run this fold (1-based) only: a quick trial of a setting")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frame = pd.read_csv(args.data, keep_default_na=False)
    X, y = frame["text"].to_numpy(dtype=object), frame["label"].to_numpy()
    params = eval(args.params, {"dict": dict})  # noqa: S307 - a benchmark's own argument
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(X, y))
    if args.only_fold is not None:
        folds = [folds[args.only_fold - 1]]
    print(f"{len(X)} sentences, {args.folds}-fold stratified CV (shuffled, random_state=0), "
          f"torch {torch.__version__}, {args.threads} thread(s); TextCNNClassifier params "
          f"{params or 'default'}")
    factories = models(params)
    for name in args.models.split(","):
        scores, start = [], time.perf_counter()
        for k, (train, test) in enumerate(folds):
            model = factories[name]().fit(X[train], y[train])
            scores.append(model.score(X[test], y[test]))
            print(f"  {name} fold {k + 1}: {scores[-1]:.4f}", flush=True)
        seconds = time.perf_counter() - start
        print(f"{name:14s} accuracy {np.mean(scores):.4f} +/- {np.std(scores):.4f}   "
              f"{seconds:.1f} s for {len(folds)} fold(s)", flush=True)


if __name__ == "__main__":
    main()
