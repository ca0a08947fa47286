# %% [markdown]
# # 6. CNNs for text
#
# `TextCNNClassifier` is Kim's (2014) sentence CNN as a scikit-learn classifier: it takes a
# column of strings, learns its vocabulary in `fit` (so cross-validation stays
# fold-correct) and trains on the same engine as the image CNNs. Here it meets the linear
# model text practitioners already trust, TF-IDF of words and word pairs with a linear SVM,
# on the same folds.
#
# * Data: 2,000 review sentences labelled positive or negative, the Amazon (phones and
#   accessories) and Yelp (restaurants) parts of Kotzias et al.'s (2015) *Sentiment
#   Labelled Sentences* (CC BY 4.0). They ship with skcnn, so this runs offline:
#   `skcnn.datasets.load_sentiment_sentences()`.
# * Larger: Pang & Lee's 10,662 movie-review sentences, the set Kim's paper reports on,
#   come from `skcnn.datasets.load_movie_reviews()`, which downloads the authors' archive
#   (0.5 MB) once into `~/.cache/skcnn` (or `$SKCNN_DATA`). Swap it in below for numbers
#   comparable with the literature.
#
# About two minutes on two CPU cores at full size. `SKCNN_EXAMPLES_QUICK=1` runs a small
# network for fewer epochs (a smoke test).

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
from skcnn.datasets import load_sentiment_sentences

QUICK = os.environ.get("SKCNN_EXAMPLES_QUICK") == "1"
torch.set_num_threads(1)  # small convolutions on a shared CPU run best on one thread

# %% [markdown]
# ## The data

# %%
reviews = load_sentiment_sentences()
texts, labels = reviews.data, reviews.target
print(f"{len(texts)} sentences, {(labels == 'pos').sum()} positive, "
      f"from {', '.join(np.unique(reviews.source))}")
for i in (0, 1, 1000):
    print(f"  {labels[i]} ({reviews.source[i]}): {texts[i]}")
folds = StratifiedKFold(n_splits=3 if QUICK else 5, shuffle=True, random_state=0)

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
# On 2,000 short sentences learnt from scratch, the linear model is hard to beat: the CNN
# has to learn its word embeddings from 1,600 training sentences per fold. Pretrained word
# vectors (`embeddings=` a word2vec or GloVe file) are what closes the gap in Kim's paper.
#
# ## What the CNN learnt
#
# `transform` gives each sentence's max-pooled features, one per filter; an SVM can take
# them from there. The fitted estimator also tells what its vocabulary covers.

# %%
cnn.fit(texts, labels)
features = cnn.transform(texts[:5])
print("features per sentence:", features.shape[1], cnn.get_feature_names_out()[:3].tolist())
print("vocabulary:", len(cnn.vocabulary_), "tokens")
for sentence in ["The battery lasts for days and the sound is great.",
                 "Cold food, rude waiter, never again."]:
    print(f"{cnn.predict([sentence])[0]}: {sentence}")
