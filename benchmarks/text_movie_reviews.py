"""TextCNNClassifier against TF-IDF + LinearSVC on the movie-review sentences (or the shipped set).

Stratified 5-fold CV (shuffled, random_state=0) on ../shared/data/mr_polarity.csv
(Pang & Lee 2005; the same sentences as skcnn.datasets.load_movie_reviews), the
same folds for every model; prints each fold as it ends, then the mean accuracy
and the time of each model. ``--dataset sentiment-sentences`` runs the same on the
2,000 review sentences that ship with skcnn
(skcnn.datasets.load_sentiment_sentences; offline, no ../shared needed).

    python benchmarks/text_movie_reviews.py [--dataset movie-reviews|sentiment-sentences]
        [--data PATH] [--models textcnn,tfidf+svc] [--params "dict(max_epochs=4)"] [--threads 1]

Goal (issue 14): default TextCNNClassifier >= 0.765 on the movie reviews (Kim's
CNN-rand: 76.1, 10-fold); TF-IDF(1-2 grams) + LinearSVC measured 0.778 here.
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
    parser.add_argument("--dataset", default="movie-reviews",
                        choices=["movie-reviews", "sentiment-sentences"],
                        help="movie-reviews: the CSV of --data; sentiment-sentences: the set "
                             "that ships with skcnn")
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="with --dataset movie-reviews: a CSV with columns text and label")
    parser.add_argument("--models", default="tfidf+svc,textcnn")
    parser.add_argument("--params", default="dict()",
                        help="TextCNNClassifier keyword arguments, as a Python dict expression")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, default=None,
                        help="run this fold (1-based) only: a quick trial of a setting")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.dataset == "sentiment-sentences":
        from skcnn.datasets import load_sentiment_sentences

        X, y = load_sentiment_sentences(return_X_y=True)
    else:
        frame = pd.read_csv(args.data, keep_default_na=False)
        X, y = frame["text"].to_numpy(dtype=object), frame["label"].to_numpy()
    params = eval(args.params, {"dict": dict})  # noqa: S307 - a benchmark's own argument
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(X, y))
    if args.only_fold is not None:
        folds = [folds[args.only_fold - 1]]
    print(f"{args.dataset}: {len(X)} sentences, {args.folds}-fold stratified CV (shuffled, "
          f"random_state=0), torch {torch.__version__}, {args.threads} thread(s); "
          f"TextCNNClassifier params {params or 'default'}")
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
