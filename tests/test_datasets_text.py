"""The labelled sentences that ship inside skcnn: the loader, its files, the wheel, the README.

``load_sentiment_sentences`` reads two gzip files from ``skcnn/_datafiles`` (the Amazon
and Yelp parts of Kotzias et al.'s Sentiment Labelled Sentences), checks their SHA-256
and returns them as scikit-learn's loaders do. Nothing here needs ../shared or a network.
"""

import gzip
import io
import re
import shutil
import subprocess
import sys
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from skcnn import datasets
from skcnn.datasets import load_dataset, load_sentiment_sentences
from skcnn.exceptions import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_texts_labels_and_sources_are_the_published_ones():
    data = load_sentiment_sentences()
    assert data.data.shape == data.target.shape == data.source.shape == (2000,)
    assert data.data.dtype == object and all(isinstance(t, str) for t in data.data)
    assert list(data.target_names) == ["neg", "pos"]
    # 500 positive and 500 negative sentences per site, as the authors' readme says
    pairs = list(zip(data.source, data.target))
    for source in ("amazon", "yelp"):
        for label in ("neg", "pos"):
            assert pairs.count((source, label)) == 500
    assert list(data.source[:1000]) == ["amazon"] * 1000
    # the authors' lines, stripped, in their order, accents kept
    assert data.data[0] == ("So there is no way for me to plug it in here in the US unless I go "
                            "by a converter.")
    assert data.target[0] == "neg" and data.target[1] == "pos"   # "Good case, Excellent value."
    assert data.data[1000] == "Wow... Loved this place." and data.target[1000] == "pos"
    assert data.data[-1].startswith("Then, as if I hadn't wasted enough of my life there")
    assert any("fiancé" in text for text in data.data)
    assert all(text == text.strip() and text and "\t" not in text for text in data.data)
    assert len(set(data.data)) == 2000 - 14   # 14 sentences occur twice, as published


def test_return_X_y_and_as_frame():
    X, y = load_sentiment_sentences(return_X_y=True)
    bunch = load_sentiment_sentences()
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    assert bunch.frame is None

    pd = pytest.importorskip("pandas")
    framed = load_sentiment_sentences(as_frame=True)
    assert isinstance(framed.frame, pd.DataFrame)
    assert list(framed.frame.columns) == ["text", "label", "source"]
    assert framed.frame.shape == (2000, 3)
    assert framed.frame.groupby(["source", "label"]).size().eq(500).all()
    Xf, yf = load_sentiment_sentences(return_X_y=True, as_frame=True)
    assert isinstance(Xf, pd.Series) and isinstance(yf, pd.Series)
    assert Xf.tolist() == X.tolist() and yf.tolist() == y.tolist()
    with pytest.raises(ValueError, match="return_X_y"):
        load_sentiment_sentences(return_X_y="yes")


def test_citation_licence_and_provenance_ship_with_the_data():
    data = load_sentiment_sentences()
    for needle in ("CC BY 4.0", "Kotzias", "10.24432/C57604", "10.1145/2783258.2783380"):
        assert needle in data.DESCR
    assert data.citation.startswith("@inproceedings{") and "Kotzias" in data.citation
    notes = (Path(data.filename) / "README-sentiment-sentences.txt").read_text(encoding="utf-8")
    assert "https://creativecommons.org/licenses/by/4.0/legalcode" in notes
    for _, size, sha256 in datasets._SENTIMENT_SENTENCES.values():
        assert sha256 in notes and f"{size:,}" in notes
    # the authors' readme, verbatim, and the source repositories with their commits
    assert "Please cite the paper if you want to use it :)" in notes
    assert "798141edcf0d9faf76ed5a2c4cf9f06f14148a87" in notes
    assert "0b7edcf6f048d73769fd188ea68978e93f6036a2" in notes


def _copy_data_files(tmp_path, monkeypatch):
    folder = tmp_path / "_datafiles"
    shutil.copytree(datasets._DATA_FILES, folder)
    monkeypatch.setattr(datasets, "_DATA_FILES", folder)
    return folder


def test_an_altered_or_missing_file_is_refused(tmp_path, monkeypatch):
    folder = _copy_data_files(tmp_path, monkeypatch)
    path = folder / "yelp_labelled.txt.gz"
    raw = gzip.decompress(path.read_bytes()).replace(b"Wow...", b"Wow!!!")  # same size
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(InputError, match="SHA-256.*reinstall skcnn"):
        load_sentiment_sentences()
    path.unlink()
    with pytest.raises(FileNotFoundError, match="yelp_labelled.txt.gz.*reinstall"):
        load_sentiment_sentences()


def test_compare_knows_the_set_by_name():
    X, y, description = load_dataset("sentiment-sentences")
    assert len(X) == len(y) == 2000 and isinstance(X[0], str)
    assert "Kotzias" in description and "CC BY 4.0" in description
    with pytest.raises(FileNotFoundError, match="sentiment-sentences"):
        load_dataset("no-such-set")


def test_a_built_wheel_holds_the_data_files(tmp_path):
    """A non-editable install gets the files: build the wheel as pip does and look inside."""
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "skcnn", source / "skcnn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp_path / "wheel")],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "wheel").glob("skcnn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = {f"skcnn/_datafiles/{p.name}" for p in datasets._DATA_FILES.iterdir()}
        assert shipped <= names
        assert archive.read("skcnn/_datafiles/amazon_cells_labelled.txt.gz") == \
            (datasets._DATA_FILES / "amazon_cells_labelled.txt.gz").read_bytes()


def _readme_text_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.split("<!-- ci:text-example -->", 1)[1]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_readme_text_example_runs_offline():
    code = _readme_text_example()
    default = "TextCNNClassifier(random_state=0)"
    assert default in code and "load_sentiment_sentences" in code
    # the README's own code, with a smaller network so that the test stays fast
    code = code.replace(default, "TextCNNClassifier(random_state=0, verbose=0, "
                                 "embedding_dim=32, n_filters=32, max_epochs=4)")
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    text = out.getvalue()
    cnn, svm = map(float, re.search(r"TextCNN (\d\.\d+)\s+TF-IDF \+ LinearSVC (\d\.\d+)",
                                    text).groups())
    assert svm >= 0.78 and cnn >= 0.65, text
    assert re.search(r"\['(pos|neg)' '(pos|neg)'\]", text), text   # two predicted labels
