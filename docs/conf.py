"""Sphinx configuration for skcnn's documentation.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (warnings
are errors). Nothing is fetched from the network: no intersphinx.
"""

import re
import shutil
from pathlib import Path

import skcnn

project = "skcnn"
author = "skcnn developers"
copyright = "skcnn developers"
release = skcnn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# API reference: one generated page per public name (docs/generated/, not tracked).
autosummary_generate = True
autosummary_generate_overwrite = True
autodoc_member_order = "groupwise"
autodoc_typehints = "none"
autodoc_inherit_docstrings = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"skcnn {release}"
html_theme_options = {
    "description": "CNNs as scikit-learn estimators",
    "fixed_sidebar": True,
    "sidebar_collapse": True,
}
html_static_path = []
html_show_sourcelink = False
html_copy_source = False

# Methods inherited from scikit-learn (``score``, ``get_params``, ``set_output`` ...)
# keep their docstrings, but those refer to labels of scikit-learn's own
# documentation (``:ref:`User Guide <metadata_routing>```, ``:term:`...```), which would be
# broken links here: show their text instead.
_REF = re.compile(r":(?:ref|doc|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _unlink_foreign_refs(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("skcnn"):
        return
    for i, line in enumerate(lines):
        if ":ref:" in line or ":doc:" in line or ":term:" in line:
            lines[i] = _REF.sub(lambda m: m.group(1).strip() or "the scikit-learn docs", line)


def _remove_stale_stubs(app):
    # autosummary (re)writes a stub for every listed name; a stub left from a
    # name that was renamed or removed would be an orphan page (a warning).
    shutil.rmtree(Path(app.srcdir) / "generated", ignore_errors=True)


def setup(app):
    app.connect("builder-inited", _remove_stale_stubs, priority=100)  # before autosummary
    app.connect("autodoc-process-docstring", _unlink_foreign_refs)
