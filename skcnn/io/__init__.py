"""Saving and loading models: :func:`save` and :func:`load` (safetensors + JSON, no pickle).

See :mod:`skcnn.io.persist` for the file layout and the user guide page
"Saving and shipping a model".
"""

from ._limits import LoadLimits
from .persist import FORMAT_VERSION, file_info, load, save

__all__ = ["save", "load", "file_info", "LoadLimits", "FORMAT_VERSION"]
