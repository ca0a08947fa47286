"""A model file is data (issue 23, item 1): what ``skcnn.load`` takes from a file, and what not.

Each test builds a hostile or damaged file from a real saved model (tiny networks on
8x8 digits, the shipped sentiment sentences) and checks the outcome: side-effecting
parameters reset (with one warning) unless the caller consents, sizes refused before
anything is allocated, zip tricks refused, an exponential regex refused, the skops trust
list limited to what skcnn stores. Every test here fails on the code before the issue.
"""

import inspect
import io
import json
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import skcnn
from skcnn import CNNClassifier, FineTunedClassifier, PretrainedFeatures, TextCNNClassifier
from skcnn.exceptions import ModelFileError, ModelFileLimitError, UntrustedParametersWarning

pytest.importorskip("skops")

FAST = dict(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=1, batch_size=32,
            verbose=0, random_state=0, device="cpu")
FEATURES = dict(input_size=32, batch_size=16, num_workers=0, verbose=0, device="cpu")


# --------------------------------------------------------------------------- helpers

def _members(path):
    with zipfile.ZipFile(path) as archive:
        return [(info, archive.read(info.filename)) for info in archive.infolist()]


def _write(path, members):
    """A zip of ``members``: (ZipInfo or name, bytes) pairs, written as they are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(path, "w") as archive:
            for info, data in members:
                archive.writestr(info, data)
    return path


def _edit(source, target, edit):
    """``source`` with ``edit(manifest)`` applied to its manifest."""
    members = []
    for info, data in _members(source):
        if info.filename == "skcnn-model.json":
            manifest = json.loads(data)
            edit(manifest)
            data = json.dumps(manifest).encode()
        members.append((info, data))
    return _write(target, members)


def _load_quietly(path, **kwargs):
    """``skcnn.load`` and the UntrustedParametersWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = skcnn.load(path, **kwargs)
    return model, [w for w in caught if issubclass(w.category, UntrustedParametersWarning)]


@pytest.fixture(scope="module")
def digits(digits8):
    X, y = digits8
    return X[:120], y[:120]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits):
    """Saved files: a fitted CNN, a fitted PretrainedFeatures, a Pipeline holding it, a
    fitted text classifier, an unfitted FineTunedClassifier."""
    from skcnn.datasets import load_sentiment_sentences

    folder = tmp_path_factory.mktemp("trust")
    X, y = digits
    features = PretrainedFeatures(**FEATURES).fit(X[:10])
    F = features.transform(X[:40])
    texts = load_sentiment_sentences()
    text = TextCNNClassifier(embedding_dim=8, n_filters=4, max_epochs=1, verbose=0,
                             random_state=0, device="cpu").fit(
        list(texts.data[:200]), texts.target[:200])
    return {
        "cnn": skcnn.save(CNNClassifier(**FAST).fit(X, y), folder / "cnn.skcnn"),
        "features": skcnn.save(features, folder / "features.skcnn"),
        "pipeline": skcnn.save(Pipeline([("features", features),
                                         ("scale", StandardScaler().fit(F))]),
                               folder / "pipeline.skcnn"),
        "text": skcnn.save(text, folder / "text.skcnn"),
        "finetuned": skcnn.save(FineTunedClassifier(input_size=32, verbose=0),
                                folder / "finetuned.skcnn"),
        "texts": list(texts.data[200:220]),
    }


# --------------------------------------------------------------------------- 1. parameters

def test_every_parameter_of_every_skcnn_class_is_classified():
    """PARAMETERS says, for each class a file may name, whether each __init__ parameter is
    data, side-effecting or checked: a new parameter fails here until it is classified."""
    from skcnn.io._classes import allowed_classes
    from skcnn.io._trust import HARMLESS, PARAMETERS, classify

    for key, cls in allowed_classes().items():
        if not cls.__module__.startswith("skcnn."):
            continue  # a third-party plugin: HARMLESS names and path values are reset
        kinds = classify(cls)
        assert kinds is not None, f"{key} ({cls.__qualname__}) is not in PARAMETERS"
        names = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
        listed = [n for kind in kinds.values() for n in kind]
        assert sorted(listed) == sorted(set(listed)), f"{key}: a parameter listed twice"
        assert set(names) <= set(listed), f"{key}: unclassified {set(names) - set(listed)}"
        if cls.__name__ in PARAMETERS:  # listed itself (not through a base): no stale names
            assert set(listed) == set(names), f"{key}: not parameters {set(listed) - set(names)}"
        assert all(n in HARMLESS for n in kinds["side_effects"]), key
    # The side-effecting ones named by the issue.
    assert classify(PretrainedFeatures)["side_effects"] == {"cache", "device", "num_workers"}
    assert {"callbacks", "device"} <= classify(CNNClassifier)["side_effects"]
    assert classify(TextCNNClassifier)["checked"] == {"token_pattern"}
    assert set(PARAMETERS) >= {"CNNClassifier", "FineTunedRegressor", "ImageLoader"}


def test_a_cache_folder_from_the_file_is_not_used(tmp_path, saved, digits, monkeypatch):
    """The issue's case: a saved PretrainedFeatures whose cache names another folder made
    transform write cache entries there."""
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "chosen-by-the-file"
    bad = _edit(saved["features"], tmp_path / "bad.skcnn",
                lambda m: m["objects"][0]["params"].update(cache=str(elsewhere)))
    X = digits[0][:8]

    model, caught = _load_quietly(bad)
    assert model.cache is None and model.cache_dir_ is None
    model.transform(X)
    assert not elsewhere.exists()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "PretrainedFeatures.cache=" in message and str(elsewhere) in message
    assert "params={'cache': ...}" in message and "trusted=True" in message

    mine = tmp_path / "my-cache"
    model, caught = _load_quietly(bad, params={"cache": str(mine)})
    assert caught == [] and model.cache_dir_ == mine.absolute()
    model.transform(X)
    assert mine.exists() and any(mine.rglob("*")) and not elsewhere.exists()

    model, caught = _load_quietly(bad, trusted=True)
    assert caught == [] and model.cache == str(elsewhere)


def test_side_effecting_parameters_inside_a_pipeline_are_reset(tmp_path, saved):
    elsewhere = tmp_path / "elsewhere"

    def edit(manifest):
        params = manifest["objects"][0]["params"]
        params.update(cache=str(elsewhere), num_workers=64, device="cuda:7")

    bad = _edit(saved["pipeline"], tmp_path / "bad.skcnn", edit)
    model, caught = _load_quietly(bad)
    features = model.named_steps["features"]
    assert (features.cache, features.num_workers, features.device) == (None, "auto", "auto")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "reset 3 parameter(s)" in message and "features__" in message
    # An explicit override keeps that one (and the warning names only the others).
    model, caught = _load_quietly(bad, params={"features__num_workers": 2})
    assert model.named_steps["features"].num_workers == 2
    assert "reset 2 parameter(s)" in str(caught[0].message)


@pytest.mark.parametrize("edit, name, default", [
    (lambda p: p.update(device="cuda:7"), "device", "auto"),
    (lambda p: p.update(callbacks=["print"]), "callbacks", None),
], ids=["device", "callbacks"])
def test_device_and_callbacks_from_the_file_are_reset(tmp_path, saved, digits, edit, name,
                                                      default):
    bad = _edit(saved["cnn"], tmp_path / "bad.skcnn", lambda m: edit(m["objects"][0]["params"]))
    model, caught = _load_quietly(bad)
    assert getattr(model, name) == default and len(caught) == 1
    assert f"CNNClassifier.{name}=" in str(caught[0].message)
    assert model.predict(digits[0][:5]).shape == (5,)
    # The CPU is harmless: the file's device="cpu" stays, without a warning.
    model, caught = _load_quietly(saved["cnn"])
    assert model.device == "cpu" and caught == []


def test_a_backbone_weights_path_from_the_file_is_reset(tmp_path, saved):
    def edit(manifest):
        manifest["objects"][0]["params"]["backbone"] = {
            "__object__": "skcnn.backbones:resnet18",
            "params": {"weights": {"__path__": "/etc/passwd"}}}

    bad = _edit(saved["finetuned"], tmp_path / "bad.skcnn", edit)
    model, caught = _load_quietly(bad)
    assert model.backbone.weights is None and len(caught) == 1
    assert "backbone__weights" in str(caught[0].message)
    model, caught = _load_quietly(bad, params={"backbone__weights": "IMAGENET1K_V1"})
    assert model.backbone.weights == "IMAGENET1K_V1" and caught == []


def test_bad_trusted_and_params_arguments_are_refused(saved):
    with pytest.raises(TypeError, match="trusted= must be"):
        skcnn.load(saved["cnn"], trusted="mypackage.MyScaler")
    with pytest.raises(ValueError, match="params= does not fit the loaded CNNClassifier"):
        skcnn.load(saved["cnn"], params={"no_such_parameter": 1})


# --------------------------------------------------------------------------- 2. limits

def test_a_zip_bomb_manifest_is_refused_before_it_is_inflated(tmp_path, saved):
    """A manifest deflated from ~100 MB (the issue's was 1 GB) is over the 64 MiB limit."""
    members = _members(saved["cnn"])
    manifest = members[0][1]
    assert members[0][0].filename == "skcnn-model.json"
    padding = b" " * (100 << 20)
    bomb = manifest[:-1] + padding + manifest[-1:]  # still valid JSON
    info = zipfile.ZipInfo("skcnn-model.json")
    info.compress_type = zipfile.ZIP_DEFLATED
    bad = _write(tmp_path / "bomb.skcnn", [(info, bomb)] + members[1:])
    assert bad.stat().st_size < 1 << 20
    with pytest.raises(ModelFileLimitError, match=r"skcnn-model.json.*over the limit of "
                                                  r"67,108,864 bytes \(max_manifest_bytes\)"):
        skcnn.load(bad)
    assert skcnn.load(bad, limits={"max_manifest_bytes": 200 << 20}).n_features_in_ == 64


def test_a_lying_declared_size_is_refused(tmp_path, saved):
    """The central directory says the manifest is 100 bytes; it inflates to more."""
    data = bytearray(Path(saved["cnn"]).read_bytes())
    with zipfile.ZipFile(saved["cnn"]) as archive:
        names = [i.filename for i in archive.infolist()]
    at = data.find(b"PK\x01\x02")  # the first central directory entry: the manifest's
    assert names[0] == "skcnn-model.json"
    data[at + 24:at + 28] = (100).to_bytes(4, "little")  # uncompressed size
    bad = tmp_path / "lying.skcnn"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="cannot be read|damaged"):
        skcnn.load(bad)


def test_too_many_members_are_refused(tmp_path, saved):
    members = _members(saved["cnn"]) + [(f"weights/{i + 1}.safetensors", b"")
                                        for i in range(1200)]
    bad = _write(tmp_path / "many.skcnn", members)
    with pytest.raises(ModelFileLimitError, match=r"1,202 zip members, over the limit of "
                                                  r"1,000 \(max_members\)"):
        skcnn.load(bad)


@pytest.mark.parametrize("spec, error, phrase", [
    # The 3 KB file: one element of dtype <U300000000 (here <U30000000, 120 MB).
    ({"dtype": "<U30000000", "shape": [1], "data": ["x"]}, ModelFileLimitError,
     r"strings of 30,000,000 characters, over the limit of 100,000 \(max_string_chars\)"),
    ({"dtype": "<f8", "shape": [40_000_000], "data": [0.0] * 10}, ModelFileError,
     "10 values do not fill shape"),
    ({"dtype": "<i8", "shape": [-1], "data": list(range(10))}, ModelFileError,
     "not a list of non-negative ints"),
    ({"dtype": "<i8", "shape": [2], "data": ["x", "y"]}, ModelFileError,
     "must be numbers or strings|do not fit dtype"),
    ({"dtype": "|O", "shape": [1], "data": [1]}, ModelFileError, "is not allowed"),
], ids=["wide-string", "shape-larger-than-data", "negative-shape", "strings-as-ints",
        "object-dtype"])
def test_arrays_are_checked_before_they_are_allocated(tmp_path, saved, spec, error, phrase):
    bad = _edit(saved["cnn"], tmp_path / "array.skcnn",
                lambda m: m["objects"][0]["fitted"].update(classes_={"__ndarray__": spec}))
    with pytest.raises(error, match=phrase):
        skcnn.load(bad)


def test_a_skops_array_must_hold_the_bytes_its_shape_declares(tmp_path, saved):
    members = _members(saved["pipeline"])
    for i, (info, data) in enumerate(members):
        if info.filename == "sklearn.skops":
            inner = _members(io.BytesIO(data))
            npy = next(j for j, (item, _) in enumerate(inner) if item.filename.endswith(".npy"))
            item, array_bytes = inner[npy]
            array = np.lib.format.read_array(io.BytesIO(array_bytes))
            buffer = io.BytesIO()
            header = {"descr": array.dtype.str, "fortran_order": False,
                      "shape": (10 ** 9,)}
            np.lib.format.write_array_header_1_0(buffer, header)
            inner[npy] = (item, buffer.getvalue() + array.tobytes())
            out = io.BytesIO()
            _write(out, inner)
            members[i] = (info, out.getvalue())
    bad = _write(tmp_path / "npy.skcnn", members)
    with pytest.raises(ModelFileError, match=r"\.npy.*(over the limit|declares shape)"):
        skcnn.load(bad)


def _with_member(source, target, info, data):
    return _write(target, _members(source) + [(info, data)])


def _symlink(name):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (0o120777 << 16)
    return info


@pytest.mark.parametrize("trick", ["duplicate", "absolute", "dotdot", "symlink", "nested-zip"])
def test_zip_tricks_are_refused(tmp_path, saved, trick):
    members = _members(saved["cnn"])
    if trick == "duplicate":  # a second manifest after the first: which one is read?
        manifest = json.loads(members[0][1])
        manifest["objects"][0]["params"]["max_epochs"] = 99
        members.append(("skcnn-model.json", json.dumps(manifest).encode()))
        phrase = "holds the member 'skcnn-model.json' twice"
    elif trick == "absolute":
        members.append(("/tmp/evil.py", b"print('hi')"))
        phrase = "absolute name"
    elif trick == "dotdot":
        members.append(("weights/../../evil.py", b"print('hi')"))
        phrase = r"'\.\.' in its name"
    elif trick == "symlink":
        members = [(_symlink(i.filename) if i.filename.startswith("weights/") else i, d)
                   for i, d in members]
        phrase = "symbolic link"
    else:
        inner = io.BytesIO()
        _write(inner, [("skcnn-model.json", members[0][1])])
        members.append(("model.zip", inner.getvalue()))
        phrase = "is not one skcnn.save writes"
    bad = _write(tmp_path / f"{trick}.skcnn", members)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ModelFileError, match=phrase):
        skcnn.load(bad)
    with pytest.raises(ModelFileError, match=phrase):
        skcnn.io.file_info(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_weights_that_are_a_nested_zip_are_refused(tmp_path, saved):
    members = _members(saved["cnn"])
    inner = io.BytesIO()
    _write(inner, members)
    members = [(i, inner.getvalue() if i.filename.startswith("weights/") else d)
               for i, d in members]
    with pytest.raises(ModelFileError, match="is a zip archive, not safetensors"):
        skcnn.load(_write(tmp_path / "nested.skcnn", members))


def test_deeply_nested_json_is_refused(tmp_path, saved):
    def edit(manifest):
        value = 0
        for _ in range(200):
            value = [value]
        manifest["objects"][0]["fitted"]["recipe_"] = value

    with pytest.raises(ModelFileLimitError, match=r"deeper than 100 levels"):
        skcnn.load(_edit(saved["cnn"], tmp_path / "deep.skcnn", edit))


# --------------------------------------------------------------------------- 3. code-like data

def _catastrophic_seconds(k):
    from skcnn.text.tokenize import TextEncoder

    encoder = TextEncoder(token_pattern=r"(a+)+$")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        encoder.tokens("a" * k + "!")
        best = min(best, time.perf_counter() - start)
    return best


def test_an_exponential_token_pattern_from_a_file_is_refused(tmp_path, saved):
    """The issue's case: token_pattern (a+)+$ takes time doubling with each character
    (shown on 12 vs 17 characters: milliseconds); such a file is refused unless trusted."""
    assert _catastrophic_seconds(17) > 8 * _catastrophic_seconds(12)

    def edit(manifest):
        entry = manifest["objects"][0]
        entry["params"]["token_pattern"] = r"(a+)+$"
        entry["fitted"]["encoder_"]["token_pattern"] = r"(a+)+$"

    bad = _edit(saved["text"], tmp_path / "regex.skcnn", edit)
    with pytest.raises(ModelFileError, match=r"token_pattern='\(a\+\)\+\$'.*nested quantifier"
                                             r".*trusted=True"):
        skcnn.load(bad)
    # Only in the fitted tokenizer (what predict uses) is refused too.
    bad = _edit(saved["text"], tmp_path / "encoder.skcnn", lambda m: m["objects"][0][
        "fitted"]["encoder_"].update(token_pattern=r"(\w|\w\w)*$"))
    with pytest.raises(ModelFileError, match="fitted tokenizer's token_pattern.*alternation"):
        skcnn.load(bad)
    model = skcnn.load(bad, trusted=True)
    assert model.encoder_.token_pattern == r"(\w|\w\w)*$"
    # The saved default loads and predicts.
    assert len(skcnn.load(saved["text"]).predict(saved["texts"])) == 20


@pytest.mark.parametrize("pattern, safe", [
    (r"(?u)\w+(?:'\w+)*|[^\w\s]", True),  # skcnn's default
    (r"(?u)\b\w\w+\b", True),             # scikit-learn's CountVectorizer default
    (r"[A-Za-z]+|\d+", True),
    (r"\w+", True),
    (r"(a+)+$", False),
    (r"(?:a*)*b", False),
    (r"(a|aa)*$", False),
    (r"(.*)\1", False),
    (r"([a-z]+)*=", False),
    (r"(", False),
])
def test_the_token_pattern_check(pattern, safe):
    from skcnn.io._trust import regex_problem

    assert (regex_problem(pattern) is None) == safe, regex_problem(pattern)


@pytest.mark.parametrize("name", ["sklearn.metrics._scorer.Counter", "collections.Counter",
                                  "functools.partial", "itertools.chain"])
def test_the_skops_trust_list_names_only_what_skcnn_stores(tmp_path, saved, name):
    """A skops node typed sklearn.metrics._scorer.Counter (collections.Counter imported
    there) loaded; now only classes defined in scikit-learn are trusted."""
    from skcnn.io._sklearn import _is_trusted_name

    assert not _is_trusted_name(name)
    assert _is_trusted_name("sklearn.model_selection._split.StratifiedKFold")
    assert _is_trusted_name("sklearn.metrics._scorer._PassthroughScorer")
    module, _, cls = name.rpartition(".")
    members = _members(saved["pipeline"])
    for i, (info, data) in enumerate(members):
        if info.filename == "sklearn.skops":
            inner = _members(io.BytesIO(data))
            for j, (item, content) in enumerate(inner):
                if item.filename == "schema.json":
                    schema = json.loads(content)
                    node = schema["content"]["content"]["steps"]["content"][1]["content"][1]
                    assert node["__class__"] == "StandardScaler"
                    node.update({"__class__": cls, "__module__": module})
                    inner[j] = (item, json.dumps(schema).encode())
            out = io.BytesIO()
            _write(out, inner)
            members[i] = (info, out.getvalue())
    bad = _write(tmp_path / "typed.skcnn", members)
    with pytest.raises(ModelFileError, match=f"not trusted: {name}"):
        skcnn.load(bad)


# --------------------------------------------------------------------------- 4. file_info

@pytest.mark.parametrize("root", ["x", ["skops"], 3])
def test_file_info_of_a_manifest_whose_root_is_not_an_object(tmp_path, saved, root):
    bad = _edit(saved["cnn"], tmp_path / "root.skcnn", lambda m: m.update(root=root))
    with pytest.raises(ModelFileError, match="no valid root or objects"):
        skcnn.io.file_info(bad)
    with pytest.raises(ModelFileError, match="lacks its objects or root"):
        skcnn.load(bad)
