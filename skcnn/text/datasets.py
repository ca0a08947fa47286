"""Text data sets that ship with skcnn."""

import gzip
from importlib.resources import files

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_movie_reviews"]

_CITATION = (
    "Bo Pang and Lillian Lee. 2005. Seeing stars: Exploiting class relationships for "
    "sentiment categorization with respect to rating scales. Proceedings of ACL 2005, "
    "115-124.")

_DESCR = f"""Sentence polarity dataset v1.0 (movie reviews, "rt-polarity")
---------------------------------------------------------------

10,662 snippets of Rotten Tomatoes reviews, half positive, half negative,
lowercased and tokenised with spaces, as distributed publicly by the authors
for research (http://www.cs.cornell.edu/people/pabo/movie-review-data/).
Kim (2014), 10-fold CV: CNN-rand 76.1, CNN-static (word2vec) 81.0.

Citation: {_CITATION}
"""


def load_movie_reviews(*, return_X_y=False, as_frame=False):
    """Pang & Lee's (2005) movie-review sentence polarity data (ships with skcnn).

    10,662 sentences labelled ``'pos'`` or ``'neg'`` (balanced). Works
    offline: the data are part of the package (gzip, 0.5 MB).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(texts, labels)`` instead of a Bunch.
    as_frame : bool, default=False
        Texts as a pandas Series and labels as a Series (``frame`` holds both).

    Returns
    -------
    data : Bunch with ``data`` (texts), ``target`` (labels), ``target_names``,
        ``frame`` (with ``as_frame``) and ``DESCR`` (with the citation); or
        ``(texts, labels)`` when ``return_X_y=True``.
    """
    import pandas as pd

    with gzip.open(files(__package__).joinpath("data", "mr_polarity.csv.gz").open("rb")) as f:
        frame = pd.read_csv(f, dtype={"label": str, "text": str}, keep_default_na=False)
    if as_frame:
        texts, labels = frame["text"], frame["label"]
    else:
        texts = frame["text"].to_numpy(dtype=object)
        labels = frame["label"].to_numpy(dtype=object)
    if return_X_y:
        return texts, labels
    return Bunch(data=texts, target=labels, target_names=np.array(["neg", "pos"], dtype=object),
                 frame=frame if as_frame else None, DESCR=_DESCR)
