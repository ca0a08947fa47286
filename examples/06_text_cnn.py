# %% [markdown]
# # 6. CNNs for text
#
# `TextCNNClassifier` is Kim's (2014) sentence CNN as a scikit-learn classifier: it takes a
# column of strings, learns its vocabulary in `fit` (so cross-validation stays
# fold-correct) and trains on the same engine as the image CNNs. Here it meets the linear
# model text practitioners already trust, TF-IDF of words and word pairs with a linear SVM,
# on the same folds.
#
# * Data: Pang & Lee's (2005) movie-review sentences, 10,662 snippets labelled positive or
#   negative. `skcnn.datasets.load_movie_reviews` downloads the authors' archive (0.5 MB)
#   once into `~/.cache/skcnn` (or `$SKCNN_DATA`) and reads it from there afterwards.
#
# A few minutes on two CPU cores at full size. `SKCNN_EXAMPLES_QUICK=1` runs a small
# version on 1,500 sentences (a smoke test: CNNs need more data than that to shine).

# %%
import os
import time

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from skcnn import TextCNNClassifier
from skcnn.datasets import load_movie_reviews

QUICK = os.environ.get("SKCNN_EXAMPLES_QUICK") == "1"
torch.set_num_threads(1)  # small convolutions on a shared CPU run best on one thread

# %% [markdown]
# ## The data

# %%
reviews = load_movie_reviews()
texts, labels = reviews.data, reviews.target
if QUICK:
    keep = np.random.RandomState(0).permutation(len(texts))[:1500]
    texts, labels = texts[keep], labels[keep]
print(f"{len(texts)} sentences, {(labels == 'pos').sum()} positive")
print("e.g.", texts[0])
folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

# %% [markdown]
# ## A text CNN beside TF-IDF + linear SVM, on the same folds

# %%
cnn = TextCNNClassifier(random_state=0, verbose=0)
if QUICK:
    cnn.set_params(embedding_dim=32, n_filters=32, max_epochs=6, learning_rate=3e-3)
tfidf_svc = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LinearSVC())
for name, model in [("TF-IDF + LinearSVC", tfidf_svc), ("TextCNNClassifier", cnn)]:
    start = time.perf_counter()
    scores = cross_val_score(model, texts, labels, cv=folds)
    print(f"{name:20s} accuracy {scores.mean():.3f} +/- {scores.std():.3f} "
          f"({time.perf_counter() - start:.0f} s)")

# %% [markdown]
# ## What the CNN learnt
#
# `transform` gives each sentence's max-pooled features, one per filter; an SVM can take
# them from there. The fitted estimator also tells what its vocabulary covers.

# %%
cnn.fit(texts, labels)
features = cnn.transform(texts[:5])
print("features per sentence:", features.shape[1], cnn.get_feature_names_out()[:3].tolist())
print("vocabulary:", len(cnn.vocabulary_), "tokens")
for sentence in ["a gripping , beautifully acted film .", "a dull , lifeless mess ."]:
    print(f"{cnn.predict([sentence])[0]}: {sentence}")
