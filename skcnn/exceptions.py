"""Errors raised by skcnn.

Each error also subclasses the built-in or scikit-learn type that code written
for scikit-learn already catches (mostly :class:`ValueError`), so
``except ValueError`` keeps working.
"""

__all__ = ["InputError", "ImageTooSmallError", "PluginNotFoundError", "ArchitectureError"]


class InputError(ValueError):
    """The images or labels given to an estimator cannot be used as they are."""


class ImageTooSmallError(InputError):
    """The images are smaller than the architecture needs."""


class PluginNotFoundError(ValueError, KeyError):
    """No installed plugin has the requested name.

    The message lists the names that are installed.
    """

    def __str__(self):  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ArchitectureError(ValueError):
    """An architecture could not be built for the data it was given."""
