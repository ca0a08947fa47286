"""Deprecated module path: the comparison lives in :mod:`skcnn.comparison`.

``from skcnn.compare import on_features`` (and the other names below) still
works and warns; import them from ``skcnn.comparison`` instead. The function
:func:`skcnn.compare` itself is unaffected.
"""

import sys
import warnings

#: The names this module defined before it became :mod:`skcnn.comparison`.
_MOVED = ("compare", "ComparisonResult", "ModelSpec", "on_features", "on_pixels",
          "count_parameters", "DEFAULT_MODELS", "MODEL_DESCRIPTIONS", "SMALL_SIZE")


def __getattr__(name):
    """Forward an old name to :mod:`skcnn.comparison`, with a DeprecationWarning."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import comparison

    # Importing this module (``from skcnn.compare import on_features``) made the
    # import system bind the package attribute ``skcnn.compare`` to this module,
    # after its code ran, shadowing the function ``skcnn.compare``. Only now, when
    # a name is looked up here, can the function be put back.
    sys.modules[__package__].compare = comparison.compare
    warnings.warn(f"skcnn.compare.{name} moved: import it from skcnn.comparison "
                  f"(from skcnn.comparison import {name}); the old path will be removed.",
                  DeprecationWarning, stacklevel=2)
    return getattr(comparison, name)
