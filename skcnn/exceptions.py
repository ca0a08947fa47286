"""Errors raised by skcnn.

Each error also subclasses the built-in or scikit-learn type that code written
for scikit-learn already catches (mostly :class:`ValueError`), so
``except ValueError`` keeps working.
"""

__all__ = [
    "InputError",
    "ImageTooSmallError",
    "PluginNotFoundError",
    "ArchitectureError",
    "LayerNotFoundError",
    "WeightsUnavailableError",
    "IncompatibleWeightsError",
    "ModelFileError",
    "FolderBoundaryError",
    "ModelFileLimitError",
    "OnnxExportError",
    "DivergenceError",
    "TrainingInterruptedWarning",
    "UntrustedParametersWarning",
]


class _Picklable:
    """Pickle as ``type(self)(*args)`` plus the instance's attributes.

    An explicit ``__reduce__`` keeps the errors picklable where a library
    replaces exception pickling (Dask's workers install tblib's, which cannot
    rebuild errors that also subclass OSError), so an error raised on a
    worker reaches the client intact.
    """

    def __reduce__(self):
        return type(self), tuple(self.args), (self.__dict__ or None)


class InputError(_Picklable, ValueError):
    """The images or labels given to an estimator cannot be used as they are."""


class ImageTooSmallError(InputError):
    """The images are smaller than the architecture needs."""


class PluginNotFoundError(_Picklable, ValueError, KeyError):
    """No installed plugin has the requested name.

    The message lists the names that are installed.
    """

    def __str__(self):  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ArchitectureError(_Picklable, ValueError):
    """An architecture could not be built for the data it was given."""


class LayerNotFoundError(_Picklable, ValueError):
    """A backbone has no layer of the requested name.

    The message lists the valid layer names.
    """


class WeightsUnavailableError(_Picklable, ValueError, OSError):
    """Pretrained weights are neither available locally nor downloadable.

    The message names the file that is missing, the folder to place it in,
    and a backbone whose weights work offline.
    """

    def __str__(self):  # OSError would otherwise format (errno, strerror) pairs
        return str(self.args[0]) if self.args else ""


class IncompatibleWeightsError(_Picklable, ValueError):
    """A weights file does not fit the network it is loaded into."""


class ModelFileError(_Picklable, ValueError):
    """A file given to :func:`skcnn.load` (or a path given to :func:`skcnn.save`) cannot
    be used: not a skcnn model file, written by a newer format version, naming a class
    that is not allowed, or holding weights that do not fit the rebuilt network.

    The message says what was wrong and what to do.
    """


class FolderBoundaryError(_Picklable, ValueError):
    """A path read from a folder's own records leads outside that folder.

    The shard indexes of :func:`skcnn.extract_features` and the entries of a
    feature cache (``PretrainedFeatures(cache=...)``) name files inside their
    folder. A name with ``..``, an absolute path, or a symbolic link that
    resolves outside the folder is refused, whatever checksum the record
    gives (whoever wrote the record could write the checksum too). The
    message names the entry and the folder.
    """


class ModelFileLimitError(ModelFileError):
    """A model file declares or holds more than :func:`skcnn.load`'s limits allow.

    Raised before anything is allocated or built: too many zip members, a member
    (or all of them) larger than its limit, a string dtype wider than the bound,
    an array or a JSON document too large or too deeply nested. The message names
    the member and the limit (a field of :class:`skcnn.io.LoadLimits`) and how to
    raise it for a file you trust.
    """


class UntrustedParametersWarning(UserWarning):
    """:func:`skcnn.load` reset parameters that would let the file choose where the model
    reads, writes or runs (a cache folder, a device, callbacks, worker processes, a
    weights or word-vector path) to their defaults.

    Issued once per load; the message names each parameter with the value the file
    gave and how to keep it (``params=`` or ``trusted=True``).
    """


class OnnxExportError(_Picklable, ValueError):
    """An estimator or one of its steps cannot be exported to ONNX.

    The message names the estimator (or the Pipeline step) and the fix.
    """


class DivergenceError(_Picklable, ValueError, FloatingPointError):
    """Training diverged: the loss (or a weight) became NaN or infinite.

    Raised by ``fit`` and ``partial_fit`` once the epoch in which it happened
    has ended. The message names that epoch and suggests a lower learning
    rate. A ``ValueError`` (as scikit-learn's MLP raises for non-finite
    weights), so ``GridSearchCV`` scores such a fit with ``error_score`` and
    goes on; also a ``FloatingPointError``, what ``numpy.errstate`` raises.
    """


class TrainingInterruptedWarning(UserWarning):
    """A fit was interrupted (Ctrl-C): it keeps the last complete epoch's weights.

    Issued just before ``fit`` re-raises the :class:`KeyboardInterrupt`.
    """
