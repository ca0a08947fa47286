"""Text in :func:`skcnn.compare` and ``skcnn compare``: data loading and default models.

:func:`skcnn.compare` calls :func:`text_model_specs` when ``X`` holds texts.

Default text models, all fitted on the texts as given, in every fold:

* ``textcnn``: :class:`~skcnn.TextCNNClassifier` with its defaults (Kim 2014, CNN-rand);
* ``tfidf+svc``: ``TfidfVectorizer(ngram_range=(1, 2))`` + ``LinearSVC``;
* ``tfidf+logreg``: the same TF-IDF + ``LogisticRegression``;
* ``tfidf+xgboost``: TF-IDF (words and bigrams in 2+ texts) + ``XGBClassifier``;
* ``textcnn-features+svc``: the CNN's max-pooled sentence features + ``LinearSVC``.
"""

import os
import warnings

__all__ = ["TEXT_MODELS", "TEXT_MODEL_DESCRIPTIONS", "is_text", "text_model_specs",
           "load_text_table", "warn_duplicates", "DuplicateTextWarning"]

#: Names of the built-in text models, in the order they run.
TEXT_MODELS = ("textcnn", "tfidf+svc", "tfidf+logreg", "tfidf+xgboost", "textcnn-features+svc")

TEXT_MODEL_DESCRIPTIONS = {
    "textcnn": "TextCNNClassifier (Kim 2014: widths 3,4,5 x 100 filters, embeddings learnt)",
    "tfidf+svc": "TF-IDF of words and word bigrams + LinearSVC",
    "tfidf+logreg": "TF-IDF of words and word bigrams + LogisticRegression",
    "tfidf+xgboost": "TF-IDF of words and bigrams (in 2+ texts) + XGBClassifier",
    "textcnn-features+svc": "TextCNNClassifier's pooled sentence features + LinearSVC",
}


class DuplicateTextWarning(UserWarning):
    """The data hold the same text more than once."""


def is_text(X):
    """Whether ``X`` is a 1-D sequence of strings (or a one-column frame of them)."""
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:
        if X.shape[1] != 1:
            return False
        X = X.iloc[:, 0]
    if hasattr(X, "dtype") and getattr(X, "ndim", 1) != 1:
        return False
    try:
        first = [x for _, x in zip(range(20), iter(X))]
    except TypeError:
        return False
    if not first or not all(isinstance(x, str) for x in first):
        return False
    # Image file paths are strings too: they go to the image models.
    from ..datasets import IMAGE_EXTENSIONS

    return not any(x.lower().endswith(IMAGE_EXTENSIONS) or os.path.isfile(x) for x in first)


def _as_text_list(X):
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:
        X = X.iloc[:, 0]
    return [str(t) for t in (X.tolist() if hasattr(X, "tolist") else X)]


def warn_duplicates(X):
    """Warn when exact duplicate texts are present: copies that land in both a
    training and a test fold inflate every model's score. Returns their count."""
    texts = _as_text_list(X)
    n_duplicates = len(texts) - len(set(texts))
    if n_duplicates:
        warnings.warn(
            f"{n_duplicates} of the {len(texts)} texts repeat an earlier one exactly. Copies "
            "that land in both a training and a test fold inflate every score; drop them "
            "first (e.g. df.drop_duplicates(subset=text_column)).",
            DuplicateTextWarning, stacklevel=3)
    return n_duplicates


def text_model_specs(models, *, quick=False, random_state=0, device="auto", n_jobs=None):
    """``{name: ModelSpec}`` for text; ``models`` as in :func:`skcnn.compare`
    (None: every built-in text model)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from ..text.classifier import TextCNNClassifier
    from ..utils import cpu_model_threads, resolve_device
    from ._models import ModelSpec, _int_seed, _xgboost_device, _xgboost_status

    if models is None:
        models = list(TEXT_MODELS)
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    items = list(models.items()) if isinstance(models, dict) else [(m, m) for m in models]
    if not items:
        raise ValueError(f"models is empty; pass at least one ({', '.join(TEXT_MODELS)}).")
    cnn = dict(device=str(device), verbose=0,
               random_state=_int_seed(random_state) if random_state is not None else None)
    if quick:
        cnn["max_epochs"] = 2  # otherwise TextCNNClassifier's own default
    specs = {}
    for name, value in items:
        if isinstance(value, ModelSpec):
            specs[str(name)] = value
            continue
        if not isinstance(value, str):
            if not hasattr(value, "fit"):
                raise TypeError(f"Model {name!r} is a {type(value).__name__}, not an estimator.")
            specs[str(name)] = ModelSpec(value, "raw")
            continue
        if value not in TEXT_MODELS:
            raise ValueError(f"Unknown text model {value!r}. Valid names: "
                             f"{', '.join(TEXT_MODELS)}; or pass a dict of name -> estimator.")
        if value == "textcnn":
            spec = ModelSpec(TextCNNClassifier(**cnn))
        elif value == "tfidf+svc":
            spec = ModelSpec(make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LinearSVC()))
        elif value == "tfidf+logreg":
            spec = ModelSpec(make_pipeline(TfidfVectorizer(ngram_range=(1, 2)),
                                           LogisticRegression(max_iter=1000)))
        elif value == "tfidf+xgboost":
            xgboost, reason = _xgboost_status()
            if xgboost is None:
                spec = ModelSpec(None, skip=reason)
            else:
                spec = ModelSpec(make_pipeline(
                    TfidfVectorizer(ngram_range=(1, 2), min_df=2),
                    xgboost.XGBClassifier(
                        n_estimators=50 if quick else 300, max_depth=6, learning_rate=0.3,
                        tree_method="hist", n_jobs=cpu_model_threads(n_jobs),
                        device=_xgboost_device(xgboost, resolve_device(device)),
                        random_state=0 if random_state is None else _int_seed(random_state))))
        else:  # textcnn-features+svc
            spec = ModelSpec(make_pipeline(TextCNNClassifier(**cnn), LinearSVC()))
        spec.description = TEXT_MODEL_DESCRIPTIONS[value]
        specs[str(name)] = spec
    return specs


def load_text_table(source, text_column="text", label_column="label"):
    """``(texts, labels, description)`` from a CSV, TSV or Parquet file or a DataFrame.

    Rows whose text or label is missing are dropped with a warning.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        frame, where = source, "the DataFrame"
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such file: {path!r}. Give a .csv, .tsv or .parquet "
                                    "file with a text and a label column.")
        ext = path.lower().rsplit(".", 2)
        ext = ext[-2] if ext[-1] in ("gz", "bz2", "zip", "xz") and len(ext) > 2 else ext[-1]
        if ext == "parquet":
            frame = pd.read_parquet(path)
        elif ext in ("tsv", "tab"):
            frame = pd.read_csv(path, sep="\t")
        elif ext == "csv":
            frame = pd.read_csv(path)
        else:
            raise ValueError(f"Cannot tell the format of {path!r}: use a .csv, .tsv or .parquet "
                             "file.")
        where = repr(path)
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where} has no column {' or '.join(map(repr, missing))}; its columns are "
            f"{', '.join(map(repr, map(str, frame.columns)))}. Name them with --text-column "
            "and --label-column.")
    keep = frame[text_column].notna() & frame[label_column].notna()
    keep &= frame[text_column].astype(str).str.strip() != ""
    if not keep.all():
        warnings.warn(f"Dropped {int((~keep).sum())} row(s) of {where} without a text or a label.",
                      UserWarning, stacklevel=2)
    frame = frame[keep]
    texts = frame[text_column].astype(str).to_numpy(dtype=object)
    labels = frame[label_column].to_numpy()
    return texts, labels, (f"{where}: {len(texts)} texts (column {text_column!r}), labels from "
                           f"column {label_column!r}")
