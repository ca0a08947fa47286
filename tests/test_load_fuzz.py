"""Fuzzing skcnn.load: mutated model files load or raise skcnn's documented error, nothing else.

Three small files are saved once (a fitted CNNClassifier on 8x8 digits, a fitted
Pipeline of an ImageLoader and a CNNClassifier, an unfitted TextCNNClassifier);
hypothesis mutates their bytes in memory (truncation, bit flips, member renames,
edits of the JSON manifest, zip tricks: duplicate names, absolute and ``..`` names,
symlink entries, nested zips) and each mutated file is written to a temporary file
and loaded. Every outcome must be the loaded model or a
:class:`~skcnn.exceptions.ModelFileError` (its subclass ModelFileLimitError
included); no other exception type, and nothing written outside (the temporary
folder and the working directory keep their contents). At least 2,000 files run,
derandomized so that CI runs the same files every time.
"""

import io
import json
import os
import time
import warnings
import zipfile

import pytest
from sklearn.base import BaseEstimator
from sklearn.pipeline import make_pipeline

import skcnn
from skcnn import CNNClassifier, ImageLoader, TextCNNClassifier
from skcnn.exceptions import ModelFileError

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("skops")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

N_FILES = 2000
FAST = dict(filters=(4,), kernel_size=3, hidden_units=(8,), max_epochs=1, batch_size=32,
            verbose=0, random_state=0, device="cpu")


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info, archive.read(info.filename)) for info in archive.infolist()]


def _zip(members):
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(out, "w") as archive:
            for info, data in members:
                archive.writestr(info, data)
    return out.getvalue()


def _paths(value, prefix=()):
    """Every key path into a JSON value."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, prefix + (index,))
    return found


_FOLDER = {}


@pytest.fixture(scope="module")
def originals(tmp_path_factory, digits8):
    X, y = digits8
    folder = tmp_path_factory.mktemp("fuzz")
    files = {
        "cnn": CNNClassifier(**FAST).fit(X[:80], y[:80]),
        "pipeline": make_pipeline(ImageLoader(size=8, mode="L"),
                                  CNNClassifier(**FAST)).fit(X[:80], y[:80]),
        "text": TextCNNClassifier(embedding_dim=4, n_filters=2, device="cpu"),
    }
    saved = {}
    for name, model in files.items():
        path = skcnn.save(model, folder / f"{name}.skcnn")
        data = open(path, "rb").read()
        manifest = json.loads(_members(data)[0][1])
        saved[name] = (data, _paths(manifest))
    _FOLDER["path"] = tmp_path_factory.mktemp("fuzz-load")
    return saved


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["__tuple__", "__ndarray__", "__object__", "skcnn.CNNClassifier",
                       "os.system", "<U300000000", "|O", "/etc/passwd", "../../x", "cuda:7"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["__tuple__", "__ndarray__", "__object__", "params", "dtype", "shape",
                        "data", "__path__", "__device__", "x"]), children, max_size=3),
    max_leaves=6)

_NAMES = st.sampled_from(["skcnn-model.json", "sklearn.skops", "weights/0.safetensors",
                          "weights/1.safetensors", "/abs/skcnn-model.json", "../evil.py",
                          "weights/../../evil", "weights/", "x.zip", "C:/evil"])


def _set(manifest, path, value):
    if not path:
        return value
    target = manifest
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return manifest


_DELETE = object()


@st.composite
def mutated(draw, originals):
    name = draw(st.sampled_from(sorted(originals)))
    data, paths = originals[name]
    kind = draw(st.sampled_from(["truncate", "flip", "rename", "json", "duplicate", "add",
                                 "symlink", "nested", "json+flip"]))
    if kind == "truncate":
        return kind, data[:draw(st.integers(0, len(data) - 1))]
    if kind == "flip":
        out = bytearray(data)
        for at in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            out[at] ^= 1 << draw(st.integers(0, 7))
        return kind, bytes(out)
    members = _members(data)
    if kind == "rename":
        index = draw(st.integers(0, len(members) - 1))
        info, content = members[index]
        members[index] = (draw(_NAMES), content)
    elif kind in ("json", "json+flip"):
        manifest = json.loads(members[0][1])
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths))
            value = draw(st.one_of(_JSON, st.just(_DELETE))) if path else draw(_JSON)
            try:
                manifest = _set(manifest, path, value)
            except (KeyError, IndexError, TypeError):  # an earlier edit removed the path
                pass
        text = json.dumps(manifest).encode()
        if kind == "json+flip" and text:
            out = bytearray(text)
            out[draw(st.integers(0, len(out) - 1))] ^= 1 << draw(st.integers(0, 7))
            text = bytes(out)
        members[0] = ("skcnn-model.json", text)
    elif kind == "duplicate":
        index = draw(st.integers(0, len(members) - 1))
        members.append(members[index])
    elif kind == "add":
        members.append((draw(_NAMES), draw(st.binary(max_size=64))))
    elif kind == "symlink":
        index = draw(st.integers(0, len(members) - 1))
        info = zipfile.ZipInfo(members[index][0].filename)
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        members[index] = (info, draw(st.sampled_from([b"/etc/passwd", members[index][1]])))
    else:  # a nested zip in place of a member, or beside them
        index = draw(st.integers(0, len(members) - 1))
        inner = _zip(members)
        if draw(st.booleans()):
            members[index] = (members[index][0], inner)
        else:
            members.append((draw(_NAMES), inner))
    return kind, _zip(members)


def _listing(folder):
    return sorted(os.listdir(folder))


OUTCOMES = {"loaded": 0, "refused": 0}


def test_mutated_files_load_or_raise_the_documented_error(originals, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = _FOLDER["path"]
    cwd_before = _listing(tmp_path)
    start = time.perf_counter()

    @settings(max_examples=N_FILES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=mutated(originals))
    def load_one(case):
        kind, data = case
        path = folder / "mutated.skcnn"
        path.write_bytes(data)
        before = _listing(folder)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = skcnn.load(path)
        except ModelFileError:
            OUTCOMES["refused"] += 1
        else:
            assert isinstance(model, BaseEstimator), (kind, type(model))
            OUTCOMES["loaded"] += 1
        assert _listing(folder) == before, kind
        assert _listing(tmp_path) == cwd_before, kind

    load_one()
    seconds = time.perf_counter() - start
    total = sum(OUTCOMES.values())
    print(f"\nfuzzed skcnn.load on {total} mutated files in {seconds:.1f} s: "
          f"{OUTCOMES['loaded']} loaded, {OUTCOMES['refused']} refused with ModelFileError")
    assert total >= N_FILES
    assert OUTCOMES["refused"] > 0 and OUTCOMES["loaded"] > 0
