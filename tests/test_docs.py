"""The documentation builds with warnings as errors and documents every public name.

Sphinx runs in a subprocess, as a user would run it (``-W --keep-going``, a
fresh environment with ``-E``), on a copy of the folders the pages include
files from: the build never writes into the working tree (autosummary writes
its stub pages next to the sources) and starts without stale stubs.
Nothing is downloaded: the configuration uses no intersphinx.
"""

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")

# One build, shared by every test here: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("docs")

ROOT = Path(__file__).resolve().parents[1]
#: What the pages may include (``literalinclude:: ../README.md``, ``../examples/...``).
COPIED = ("docs", "examples", "benchmarks", "README.md")
_IGNORE = shutil.ignore_patterns("_build", "generated", "__pycache__", "build", "*.egg-info",
                                 ".ipynb_checkpoints", "*.png", "*.npz")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(html folder, completed process, seconds) of one HTML build."""
    tmp = tmp_path_factory.mktemp("docs_build")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp / name, ignore=_IGNORE)
        elif source.is_file():
            shutil.copy2(source, tmp / name)
    html = tmp / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
           str(tmp / "docs"), str(html)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=900)
    return html, proc, time.perf_counter() - start


def _anchors(html):
    """Every ``id="skcnn...."`` in the built pages: the documented objects."""
    ids = set()
    for page in html.rglob("*.html"):
        ids.update(re.findall(r'id="(skcnn\.[\w.]+)"', page.read_text(encoding="utf-8")))
    return ids


def test_docs_build_without_warnings(built):
    html, proc, seconds = built
    assert proc.returncode == 0, (
        f"sphinx-build -W failed (exit {proc.returncode}, {seconds:.0f} s); warnings:\n"
        f"{proc.stderr}\n{proc.stdout[-3000:]}")
    for page in ("index", "getting_started", "cnn_classifier", "pretrained_features",
                 "fine_tuning", "input_formats", "compare", "classify_photo", "saving",
                 "speed_and_memory", "plugins", "distributed", "inspection", "doctor", "api",
                 "regression_multilabel", "search_budget"):
        assert (html / f"{page}.html").is_file(), page


def _missing(ids, module_name, names):
    return [f"{module_name}.{name}" for name in names if f"{module_name}.{name}" not in ids]


def test_every_public_name_is_documented(built):
    import skcnn

    html, proc, _ = built
    if proc.returncode != 0:
        pytest.skip("the build failed (see test_docs_build_without_warnings)")
    ids = _anchors(html)
    missing = _missing(ids, "skcnn", skcnn.__all__)
    assert not missing, (
        f"public names without an API entry: {missing}; add them to an autosummary list in "
        "docs/api.rst")
    generated = html / "generated"
    no_page = [name for name in skcnn.__all__ if not name.startswith("__")
               and not (generated / f"skcnn.{name}.html").is_file()]
    assert not no_page, f"no generated API page for {no_page}"


@pytest.mark.parametrize("module_name", ["skcnn.datasets", "skcnn.plotting",
                                         "skcnn.inspection", "skcnn.model_selection"])
def test_module_functions_are_documented(built, module_name):
    import importlib

    html, proc, _ = built
    if proc.returncode != 0:
        pytest.skip("the build failed (see test_docs_build_without_warnings)")
    module = importlib.import_module(module_name)
    functions = [name for name in module.__all__ if callable(getattr(module, name))]
    assert functions
    missing = _missing(_anchors(html), module_name, functions)
    assert not missing, f"functions without an API entry: {missing}; add them to docs/api.rst"


def test_readme_commands_are_in_getting_started(built):
    html, proc, _ = built
    if proc.returncode != 0:
        pytest.skip("the build failed (see test_docs_build_without_warnings)")
    page = re.sub(r"<[^>]+>", "", (html / "getting_started.html").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker in ("ci:main-command", "ci:test-command"):
        after = readme.split(marker, 1)[1].splitlines()
        command = next(line for line in after[1:] if line.strip() and not line.startswith("```"))
        # the page shows the README's command (HTML-escaped quotes aside)
        shown = page.replace("&quot;", '"').replace("&amp;", "&").replace("&#34;", '"')
        assert command.strip() in shown, (marker, command)
