"""TextCNNClassifier: Kim's (2014) sentence CNN as a scikit-learn classifier."""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._engine import BatchIterator, averaged_outputs
from ..base import TRAINING_CONSTRAINTS, BaseImageClassifier
from ..data.images import read_once
from ..exceptions import InputError
from ._resolve import resolve_text_architecture
from .architectures import CharCNN, KimCNN, TextArchitecturePlugin, TextMeta
from .batches import PaddedTextBatches
from .inputs import as_documents
from .tokenize import DEFAULT_TOKEN_PATTERN, TextEncoder
from .word_vectors import WordVectorsError, check_pair, embedding_matrix, read_word_vectors

__all__ = ["TextCNNClassifier"]

#: Embedding size learnt from scratch when embedding_dim=None (words, characters).
DEFAULT_EMBEDDING_DIM = {"word": 300, "char": 16}

_ARCHITECTURE_PARAMS = ("kernel_sizes", "n_filters", "dropout")


class _VocabularyFilter:
    """``word in filter``: the word (or, with ``lowercase``, its lowercase form) is needed."""

    def __init__(self, vocabulary, lowercase):
        self.vocabulary = vocabulary
        self.lowercase = lowercase

    def __contains__(self, word):
        return word in self.vocabulary or (self.lowercase and word.lower() in self.vocabulary)


class TextCNNClassifier(TransformerMixin, BaseImageClassifier):
    """A convolutional network for short texts (Kim 2014), as a scikit-learn classifier.

    Texts are tokenised, their tokens embedded, and parallel 1-D convolutions
    of several widths (default 3, 4 and 5 tokens, 100 filters each) slide over
    the embeddings; each filter's maximum over the text (max-over-time
    pooling) forms the sentence's features, followed by dropout and a softmax
    layer (one sigmoid per label for a multi-label ``y``, see below).
    Tokenisation and the vocabulary are learnt in ``fit`` from that fit's
    texts only, so cross-validation stays fold-correct. Training uses the same
    engine as :class:`~skcnn.CNNClassifier` (optimizers, early stopping, class
    and sample weights, warm starts, ``partial_fit``, progress bar,
    ``history_``).

    Parameters
    ----------
    level : {'word', 'char'}, default='word'
        'word' tokenises with ``token_pattern`` (or ``tokenizer``) and uses
        Kim's CNN; 'char' reads every character as a token and uses a
        character CNN after Zhang et al. (2015), suited to short noisy texts.
    lowercase : bool, default=True
        Lowercase texts before tokenising.
    token_pattern : str, default=r"(?u)\\w+(?:'\\w+)*|[^\\w\\s]"
        Regular expression whose matches are the tokens: words (with inner
        apostrophes, "don't") and single punctuation marks.
    tokenizer : callable, default=None
        ``tokenizer(text) -> list of str``, replacing ``token_pattern``
        (word level). Texts given as lists of tokens are used as they are.
    min_df : int, default=None
        Tokens found in fewer training texts are treated as unknown. None: 2
        without ``embeddings`` (tokens seen once then train the unknown
        token's embedding, which tokens new at predict time share; with 1 it
        would stay random, never trained); 1 with ``embeddings`` (every word
        the vectors cover keeps its vector) or when no token occurs twice.
    max_vocabulary : int, default=None
        Keep only this many tokens, those found in the most training texts.
    max_length : int, default=None
        Truncation rule: only the first ``max_length`` tokens of each text
        are used (in ``fit`` and ``predict``); None keeps every token. Must
        be at least the widest kernel.
    embedding_dim : int, default=None
        Size of the token embeddings. None: the word vectors' size with
        ``embeddings``, otherwise 300 for words (Kim's size) and 16 for
        characters. Together with ``min_df=None`` and ``max_epochs=3`` this
        default reached 0.765 (5-fold) on the movie reviews where 128
        dimensions, ``min_df=1`` and 4 epochs reached 0.756 (see
        ``docs/text.rst``); 128 trains about 1.7 times faster on a CPU.
    embeddings : None, str, path or (words, matrix), default=None
        None learns the embeddings from scratch (Kim's CNN-rand). A path
        reads word vectors in word2vec text or binary or GloVe text format;
        a pair gives the words and their vectors. Vocabulary tokens found
        there start from their vectors (looked up as they are, then
        lowercased), the others from ``U[-a, a]`` with the vectors'
        variance, as Kim did. ``embedding_coverage_`` says how much was covered.
    freeze_embeddings : bool, default=False
        Keep the embeddings fixed during training (Kim's CNN-static); False
        fine-tunes them (CNN-non-static).
    multichannel : bool, default=False
        Kim's CNN-multichannel: a frozen copy of the initial embeddings beside
        the trained ones, every filter applied to both.
    architecture : None, str or TextArchitecturePlugin, default=None
        None builds :class:`~skcnn.text.KimCNN` from ``kernel_sizes``,
        ``n_filters`` and ``dropout`` (``level='word'``) or
        :class:`~skcnn.text.CharCNN` from ``n_filters`` and ``dropout``
        (``level='char'``). A name picks an installed plugin of the group
        ``skcnn.text_architectures``; a plugin instance is used with its own
        parameters (tunable as ``architecture__<param>``).
    kernel_sizes : tuple of int, default=(3, 4, 5)
        Widths of the parallel convolutions, in tokens.
    n_filters : int, default=100
        Filters of each width.
    dropout : float in [0, 1), default=0.5
        Dropout on the pooled features.
    optimizer : {'adadelta', 'adam', 'adamw', 'sgd', 'rmsprop'}, default='adam'
        Optimizer.
    learning_rate : float, default=None
        None: the optimizer's usual default (0.001 for Adam).
    weight_decay : float, default=0.0
        L2 penalty.
    momentum : float, default=0.9
        Momentum for 'sgd' and 'rmsprop'.
    batch_size : int, default=50
        Texts per training step (Kim's mini-batch size).
    max_epochs : int, default=3
        Passes over the training texts per ``fit``. With Adam, CNN-rand fits
        the training sentences within a few epochs and then overfits:
        3 scored above 4 on the movie reviews (0.765 against 0.762, 5-fold).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training texts, stop when
        their loss stops improving and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=3
    tol : float, default=1e-4
    class_weight : dict, 'balanced' or None, default=None
    threshold : float in (0, 1), default=0.5
        Multi-label ``y`` only: :meth:`predict` marks the labels whose
        probability is at least ``threshold``.
    warm_start : bool, default=False
    device : str or torch.device, default='auto'
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the random embeddings, dropout and the data order:
        with an int the same texts give the same predictions on the CPU.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar per fit.
    runtime : {'torch', 'onnxruntime', 'auto'}, default='torch'
        What runs the network when predicting (``predict``, ``predict_proba``): PyTorch,
        or its graph exported to ONNX (once, at the first prediction after a
        fit) in ONNX Runtime on the CPU, with the same results within 1e-4
        (needs ``pip install "skcnn[onnx]"``). 'auto' takes ONNX Runtime where
        it measured faster for this estimator (see the ONNX guide), on the
        CPU in float32, and PyTorch otherwise.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels; ``0 .. K-1`` (column numbers) for a multi-label ``y``.
    vocabulary_ : dict
        Token -> embedding row (0 pads, 1 is the unknown token).
    embedding_dim_ : int
    embedding_coverage_ : dict or None
        With ``embeddings``: ``n_vocabulary`` (tokens in the vocabulary),
        ``n_covered`` (of those, found among the vectors), ``vocabulary``
        (their share) and ``tokens`` (share of the training tokens, with
        repeats, whose vector was found). None without embeddings.
    unknown_rate_ : float
        Share of the training tokens outside the vocabulary (0 with
        ``min_df=1`` and no ``max_vocabulary``).
    truncated_ : int
        Training texts cut to ``max_length``.
    n_features_in_ : int
        Only when fitted on a 2-D table (columns read as tokens).
    net_, module_, history_, loss_curve_, validation_scores_, n_iter_, device_
        As for :class:`~skcnn.CNNClassifier`.

    Notes
    -----
    Numbers are not texts: a 1-D array of numbers, an image array, ``None``
    or NaN among the texts and empty texts are refused with an error that
    names the fix. A 2-D array is read as one text per row whose tokens are
    its cells (``"<column>:<value>"``, floats rounded to 2 significant
    digits), with a warning when they are numbers; this is how scikit-learn's
    estimator checks feed it.

    Multi-label: a 2-D 0/1 indicator ``y`` of K labels (e.g. from
    :class:`~sklearn.preprocessing.MultiLabelBinarizer`) trains K sigmoid
    outputs with binary cross-entropy, as :class:`~skcnn.CNNClassifier` does;
    :meth:`predict` then returns the (N, K) indicator matrix and
    :meth:`predict_proba` the probability of each label. A label that never
    or always occurs in a fit's texts gives a warning; ``class_weight`` is
    refused (weight texts with ``sample_weight``).

    Examples
    --------
    >>> from skcnn import TextCNNClassifier
    >>> texts = ["a great film", "a dull film", "great acting", "dull and long"] * 10
    >>> labels = ["pos", "neg", "pos", "neg"] * 10
    >>> clf = TextCNNClassifier(max_epochs=5, embedding_dim=16, verbose=0, random_state=0)
    >>> clf.fit(texts, labels).predict(["great"]).tolist()
    ['pos']
    """

    _parameter_constraints = {
        **{k: v for k, v in TRAINING_CONSTRAINTS.items() if k not in ("augment", "tta")},
        "level": [StrOptions({"word", "char"})],
        "lowercase": ["boolean"],
        "token_pattern": [str],
        "tokenizer": [callable, None],
        "min_df": [Interval(Integral, 1, None, closed="left"), None],
        "max_vocabulary": [Interval(Integral, 1, None, closed="left"), None],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "embeddings": [None, str, os.PathLike, tuple, list],
        "freeze_embeddings": ["boolean"],
        "multichannel": ["boolean"],
        "architecture": [None, str, TextArchitecturePlugin],
        "kernel_sizes": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "n_filters": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, *, level="word", lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN,
                 tokenizer=None, min_df=None, max_vocabulary=None, max_length=None,
                 embedding_dim=None, embeddings=None, freeze_embeddings=False,
                 multichannel=False, architecture=None, kernel_sizes=(3, 4, 5), n_filters=100,
                 dropout=0.5, optimizer="adam", learning_rate=None, weight_decay=0.0,
                 momentum=0.9, batch_size=50, max_epochs=3, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=3, tol=1e-4, class_weight=None,
                 threshold=0.5, warm_start=False, device="auto", random_state=None, verbose=1,
                 runtime="torch"):
        self.level = level
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.tokenizer = tokenizer
        self.min_df = min_df
        self.max_vocabulary = max_vocabulary
        self.max_length = max_length
        self.embedding_dim = embedding_dim
        self.embeddings = embeddings
        self.freeze_embeddings = freeze_embeddings
        self.multichannel = multichannel
        self.architecture = architecture
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.threshold = threshold
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime

    #: What the samples are called in messages (see BaseImageClassifier).
    _SAMPLES = "texts"

    # No test-time or training augmentation for texts.
    augment = None
    tta = 0

    def _plugin_resolvers(self):
        return {"architecture": resolve_text_architecture}

    # ------------------------------------------------------------------ architecture
    def _architecture_plugin(self):
        if self.architecture is None:
            if self.level == "char":
                return CharCNN(n_filters=self.n_filters, dropout=self.dropout)
            return KimCNN(kernel_sizes=self.kernel_sizes, n_filters=self.n_filters,
                          dropout=self.dropout)
        return resolve_text_architecture(self.architecture)

    def _min_length(self):
        return self._architecture_plugin().min_length()

    # ------------------------------------------------------------------ inputs
    def _prepare_images(self, X, reset):
        """Texts -> padded LongTensor of token indices (the engine's inputs)."""
        documents, n_columns = as_documents(X, estimator=self)
        if n_columns is not None:
            validate_data(self, X, reset=reset, skip_check_array=True)
        elif reset:
            for name in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(name, None)
        if not documents:
            raise InputError("X holds no texts (0 samples); pass at least one text.")
        if reset:
            widest = self._min_length()
            if self.max_length is not None and self.max_length < widest:
                raise InputError(
                    f"max_length={self.max_length} is shorter than the widest kernel "
                    f"({widest} tokens): no window would fit. Set max_length >= {widest}, or "
                    "use smaller kernel_sizes.")
            self.encoder_ = self._fit_encoder(documents)
            self.vocabulary_ = self.encoder_.vocabulary_
        ids, stats = self.encoder_.encode(documents)
        if reset:
            self.unknown_rate_ = stats["n_unknown"] / max(stats["n_tokens"], 1)
            self.truncated_ = stats["n_truncated"]
        return ids

    def _fit_encoder(self, documents):
        """The fitted TextEncoder. ``min_df=None``: 2 when the embeddings are learnt from
        scratch (tokens seen once train the unknown token, which tokens new at predict
        time then share), 1 with word vectors (every word they cover keeps its vector)
        or when no token occurs twice."""
        def fit(min_df):
            return TextEncoder(level=self.level, lowercase=self.lowercase,
                               token_pattern=self.token_pattern, tokenizer=self.tokenizer,
                               min_df=min_df, max_vocabulary=self.max_vocabulary,
                               max_length=self.max_length).fit(documents)

        if self.min_df is not None:
            return fit(self.min_df)
        if self.embeddings is None:
            try:
                return fit(2)
            except InputError:  # no token occurs twice: keep them all
                pass
        return fit(1)

    def _make_dataset(self, inputs, y=None, weight=None):
        return PaddedTextBatches(inputs, y, weight, min_length=self._min_length_)

    def _training_augmentation(self, inputs):
        return None

    def _input_meta(self, inputs, n_outputs):
        matrix = self._initial_embeddings(inputs)
        self.embedding_dim_ = int(matrix.shape[1]) if matrix is not None else int(
            self.embedding_dim or DEFAULT_EMBEDDING_DIM[self.level])
        return TextMeta(vocabulary_size=self.encoder_.size, embedding_dim=self.embedding_dim_,
                        n_outputs=n_outputs, padding_index=0, embedding_matrix=matrix,
                        freeze_embeddings=self.freeze_embeddings,
                        multichannel=self.multichannel)

    def _initial_embeddings(self, ids):
        """The embedding matrix from ``embeddings`` (None without) and its coverage."""
        self.embedding_coverage_ = None
        if self.embeddings is None:
            return None
        vocabulary = _VocabularyFilter(self.vocabulary_, self.lowercase)
        if isinstance(self.embeddings, (tuple, list)) and len(self.embeddings) == 2 \
                and not isinstance(self.embeddings[0], str):
            words, vectors = check_pair(self.embeddings)
        elif isinstance(self.embeddings, (str, bytes)) or hasattr(self.embeddings, "__fspath__"):
            words, vectors = read_word_vectors(self.embeddings, vocabulary=vocabulary)
        else:
            raise WordVectorsError(
                "embeddings must be None, the path of a word2vec/GloVe file, or a (words, "
                f"matrix) pair; got a {type(self.embeddings).__name__}.")
        if self.embedding_dim is not None and vectors.shape[1] != self.embedding_dim:
            raise WordVectorsError(
                f"The word vectors have {vectors.shape[1]} dimensions but embedding_dim="
                f"{self.embedding_dim}. Set embedding_dim={vectors.shape[1]} (or None, which "
                "takes the vectors' size), or give vectors of the size you want.")
        matrix, covered = embedding_matrix(self.encoder_.index_to_token(), words, vectors,
                                           self.lowercase, seed=self._seed)
        n_vocabulary = len(self.vocabulary_)
        token_ids = ids[ids > 1]
        n_covered_tokens = int(torch.as_tensor(covered)[token_ids].sum()) if len(token_ids) else 0
        self.embedding_coverage_ = {
            "n_vocabulary": n_vocabulary,
            "n_covered": int(covered.sum()),
            "vocabulary": float(covered.sum()) / max(n_vocabulary, 1),
            "tokens": n_covered_tokens / max(int((ids > 0).sum()), 1),
        }
        if not covered.any():
            warnings.warn(
                "None of the vocabulary's tokens was found among the word vectors; the "
                "embeddings start random as without them. Check that the file's language and "
                "case match the texts (lowercase=False for cased vectors).",
                UserWarning, stacklevel=5)
        return matrix

    def _build_module(self, meta):
        plugin = self._architecture_plugin()
        module = plugin.build(meta)
        self._feature_names = plugin.feature_names
        return module

    # ------------------------------------------------------------------ training
    def _train(self, X, y, sample_weight, *, epochs, resume, classes, validate, partial):
        if not resume:
            self._min_length_ = self._min_length()
        return super()._train(X, y, sample_weight, epochs=epochs, resume=resume,
                              classes=classes, validate=validate, partial=partial)

    # ------------------------------------------------------------------ prediction
    def _dataset_for(self, X):
        check_is_fitted(self)
        return self._make_dataset(self._prepare_images(X, reset=False))

    def predict_proba(self, X):
        """Class probabilities of each text (per-label probabilities if multi-label).

        Parameters
        ----------
        X : sequence of str
            Texts (see the class description for the accepted forms).

        Returns
        -------
        proba : ndarray of shape (N, n_classes)
            Columns follow ``classes_``. Single-label: rows sum to 1.
            Multi-label: column k is the probability that label k applies
            (as :class:`~skcnn.CNNClassifier`).
        """
        dataset = self._dataset_for(X)  # checks that the estimator is fitted first
        return averaged_outputs(self._inference_net(), dataset,
                                activation="sigmoid" if self._is_multilabel() else "softmax")

    def predict(self, X):
        """Most probable class of each text, or the labels that apply (multi-label).

        Parameters
        ----------
        X : sequence of str

        Returns
        -------
        y_pred : ndarray of shape (N,) or (N, n_labels)
            Multi-label: the 0/1 indicator matrix of the labels whose
            probability is at least ``threshold``.
        """
        return super().predict(X)  # BaseImageClassifier.predict, through predict_proba

    @torch.inference_mode()
    def transform(self, X):
        """The max-pooled sentence features of each text (the classifier's input).

        Parameters
        ----------
        X : sequence of str

        Returns
        -------
        features : ndarray of shape (N, n_features), float32
            Column names from :meth:`get_feature_names_out`.
        """
        dataset = self._dataset_for(X)
        module = self.net_.module_
        if not hasattr(module, "features"):
            raise InputError(
                f"The text network {type(module).__name__} has no features(ids) method, so "
                "transform cannot return sentence features; add one to the architecture.")
        module.eval()
        self.net_._mode_set = False
        iterator = BatchIterator(dataset, self.net_.batch_size, device=self.net_.device)
        outputs = [module.features(batch).float().cpu() for batch, _ in iterator]
        return torch.cat(outputs).numpy()

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then return the sentence features of ``X``.

        Parameters
        ----------
        X : sequence of str
            An iterator (a generator) is read once, at the start.
        y : array-like of shape (N,) or (N, n_labels)
        **fit_params
            ``sample_weight``.

        Returns
        -------
        features : ndarray of shape (N, n_features)
        """
        X = read_once(X)
        return self.fit(X, y, **fit_params).transform(X)

    def get_feature_names_out(self, input_features=None):
        """Names of the :meth:`transform` columns (``width3_filter0``, ...).

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        n = self.net_.module_.classifier.in_features if hasattr(
            self.net_.module_, "classifier") else len(self.transform(["a"])[0])
        names = self._feature_names(n)
        if len(names) != n:
            names = [f"feature{i}" for i in range(n)]
        return np.asarray(names, dtype=object)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
