"""The progress bar class: tqdm's notebook widget where ipywidgets is installed, text elsewhere.

``tqdm.auto`` warns ("IProgress not found") in every notebook without
ipywidgets before falling back to text; choosing here avoids the warning.
"""

from importlib.util import find_spec

if find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:
    from tqdm.std import tqdm

__all__ = ["tqdm"]
