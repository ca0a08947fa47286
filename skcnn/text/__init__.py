"""CNNs for text: :class:`TextCNNClassifier` (Kim 2014) and its parts.

Small modules with one job each: :mod:`.inputs` (what ``X`` may be),
:mod:`.tokenize` (tokens and the vocabulary), :mod:`.word_vectors` (word2vec
and GloVe files), :mod:`.architectures` (the networks, as plugins of the
entry-point group ``skcnn.text_architectures``), :mod:`.batches` (batches
padded to their own longest text) and :mod:`.classifier`.
"""

from ._resolve import TEXT_ARCHITECTURE_GROUP, list_text_architectures
from .architectures import CharCNN, KimCNN, TextArchitecturePlugin, TextMeta
from .classifier import TextCNNClassifier
from .word_vectors import WordVectorsError, read_word_vectors

__all__ = ["TextCNNClassifier", "KimCNN", "CharCNN", "TextArchitecturePlugin", "TextMeta",
           "list_text_architectures", "read_word_vectors", "WordVectorsError",
           "TEXT_ARCHITECTURE_GROUP"]
