"""Trust boundaries of folders, image sizes and inputs (issue 23, items 2 and 3).

* A folder is a boundary: a shard index of :func:`skcnn.extract_features` or a
  feature cache entry that leads outside its folder (``..``, an absolute path,
  a symbolic link) is refused, whatever checksum the index gives.
* Images: a bound on the pixels after the shorter-side resize as well as
  before (a 140-byte 60,000 x 1 PNG would otherwise grow to gigabytes), and a
  decompression bomb named by its file.
* Inputs: mixed label types, iterators read once, a tokenizer's return type,
  a class of one image in ``compare``, ONNX refusals, one-line CLI errors.

The cases that fit the catalogue's table are in ``test_input_catalogue.py``;
these need files, folders or processes of their own.
"""

import hashlib
import io
import json
import struct
import zlib

import numpy as np
import pytest
from conftest import FAST, blocked_network
from PIL import Image
from skimage import data as skdata
from sklearn.datasets import load_digits

from skcnn import (
    CNNClassifier,
    CNNRegressor,
    FineTunedClassifier,
    FineTunedRegressor,
    PretrainedFeatures,
    TextCNNClassifier,
    compare,
    extract_features,
    load_features,
)
from skcnn.cli import main
from skcnn.data.transforms import MAX_RESIZED_PIXELS
from skcnn.exceptions import FolderBoundaryError, InputError
from skcnn.pretrained.cache import FeatureStore

FEATURES = dict(input_size=32, batch_size=16, num_workers=0, verbose=0)
FINETUNE = dict(input_size=32, max_epochs=1, unfreeze="head", batch_size=16, num_workers=0,
                verbose=0, random_state=0)
TEXTS = ["a good film", "a bad film", "great acting", "awful plot", "good fun", "bad acting"]


@pytest.fixture(scope="module", autouse=True)
def no_network():
    with blocked_network():
        yield


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    """Six 16x16 PNGs of sklearn's digits and their labels (0/1 alternating)."""
    folder = tmp_path_factory.mktemp("digits")
    digits = (load_digits().images[:6] * (255 / 16)).round().astype(np.uint8)
    paths = []
    for i, image in enumerate(digits):
        path = folder / f"digit{i}.png"
        Image.fromarray(np.kron(image, np.ones((2, 2), np.uint8))).save(path)
        paths.append(str(path))
    return paths


def _chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def declared_png(path, width, height):
    """A PNG whose header declares ``width x height`` gray pixels, with one tiny (short) IDAT.

    Pillow reads the size from the header; decoding the pixels would fail
    (the data is truncated), so an error about the size proves the size
    was checked before decoding.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                     + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def thin_png(tmp_path_factory):
    """A real 60,000 x 1 PNG of 140-odd bytes."""
    path = tmp_path_factory.mktemp("thin") / "line_60000x1.png"
    Image.fromarray(np.full((1, 60_000), 128, np.uint8)).save(path, optimize=True)
    assert path.stat().st_size < 1000
    return path


@pytest.fixture(scope="module")
def bomb_png(tmp_path_factory):
    """69 bytes declaring 60,000 x 60,000 pixels (Pillow's DecompressionBombError)."""
    return declared_png(tmp_path_factory.mktemp("bomb") / "declared_60000x60000.png",
                        60_000, 60_000)


# =========================================================================== folders
@pytest.fixture
def feature_folder(tmp_path, digit_files):
    """``(output folder, its features)``: one shard of six digit images, deep in tmp_path."""
    output = tmp_path / "a" / "b" / "features"
    features = extract_features(digit_files, output=output, input_size=32, shard_size=8,
                                verbose=0).load()
    return output, features


def _npy(values):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def _point_index_at(output, name, data):
    """Rewrite shard 0's index to name ``name``, with the right checksum of ``data``."""
    index = output / "shards" / "00000.json"
    record = json.loads(index.read_text())
    record["file"] = name
    record["sha256"] = hashlib.sha256(data).hexdigest()
    index.write_text(json.dumps(record))


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_shard_index_naming_a_file_outside_the_folder_is_refused(feature_folder, how):
    output, features = feature_folder
    data = _npy(np.full(features.shape, 42.0))  # what an attacker would have read as features
    outside = output.parent / "outside.npy"
    outside.write_bytes(data)
    if how == "dotdot":
        name = "../../outside.npy"
    elif how == "absolute":
        name = str(outside)
    else:
        (output / "shards" / "link.npy").symlink_to(outside)
        name = "link.npy"
    _point_index_at(output, name, data)
    with pytest.raises(FolderBoundaryError) as info:
        load_features(output).load()
    message = str(info.value)
    assert str(output) in message and "shard 0" in message and name in message
    assert "outside the folder" in message
    # iter_shards (the streaming reader) refuses it too, and so does resuming the extraction
    with pytest.raises(FolderBoundaryError):
        next(load_features(output).iter_shards())


def test_resumed_extraction_refuses_an_index_leading_outside(feature_folder, digit_files):
    output, features = feature_folder
    data = _npy(np.zeros(features.shape))
    (output.parent / "outside.npy").write_bytes(data)
    _point_index_at(output, "../../outside.npy", data)
    with pytest.raises(FolderBoundaryError, match="shards/../../outside.npy"):
        extract_features(digit_files, output=output, input_size=32, shard_size=8, verbose=0)


def test_index_file_that_links_outside_is_refused(feature_folder, tmp_path):
    output, _ = feature_folder
    index = output / "shards" / "00000.json"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(index.read_text())
    index.unlink()
    index.symlink_to(elsewhere)
    with pytest.raises(FolderBoundaryError, match="symbolic link that leads outside"):
        load_features(output).load()


def test_a_link_inside_the_folder_and_a_linked_folder_still_load(feature_folder, tmp_path):
    """What stays inside is fine: a shard renamed through an inner link, the folder as a link."""
    output, features = feature_folder
    index = output / "shards" / "00000.json"
    record = json.loads(index.read_text())
    (output / "shards" / "renamed.npy").symlink_to(output / "shards" / record["file"])
    record["file"] = "renamed.npy"
    index.write_text(json.dumps(record))
    link = tmp_path / "features-link"
    link.symlink_to(output, target_is_directory=True)
    np.testing.assert_array_equal(load_features(link).load(), features)


def _cache_entries(cache):
    return sorted(cache.glob("*/*/*.f32"))


def test_cache_entry_linking_outside_the_cache_is_refused(tmp_path):
    cache = tmp_path / "cache"
    images = skdata.astronaut()[::16, ::16][None].repeat(2, axis=0)
    images[1] = 255 - images[1]
    first = PretrainedFeatures(cache=cache, **FEATURES).fit(images).transform(images)
    entries = _cache_entries(cache)
    assert len(entries) == 2
    for entry in entries:  # every entry now a link to a copy outside the cache
        outside = tmp_path / entry.name
        outside.write_bytes(entry.read_bytes())
        entry.unlink()
        entry.symlink_to(outside)
    with pytest.raises(FolderBoundaryError) as info:
        PretrainedFeatures(cache=cache, **FEATURES).fit(images).transform(images)
    assert str(cache) in str(info.value) and "symbolic link that leads outside" in str(info.value)
    # the store itself: reading and writing an entry through the link are refused
    store = FeatureStore(cache, {"a": 1}, n_features=first.shape[1])
    store.put("00" * 16, first[0])
    sub = store.path("00" * 16).parent
    (tmp_path / "elsewhere").mkdir()
    for path in sub.iterdir():
        path.unlink()
    sub.rmdir()
    sub.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(FolderBoundaryError, match="the feature cache entry 0000"):
        store.get("00" * 16)
    with pytest.raises(FolderBoundaryError):
        store.put("00" * 16, first[0])
    assert not any((tmp_path / "elsewhere").iterdir())  # nothing written there


def test_cache_folder_that_is_a_link_works(tmp_path):
    real = tmp_path / "real-cache"
    real.mkdir()
    link = tmp_path / "cache-link"
    link.symlink_to(real, target_is_directory=True)
    images = skdata.astronaut()[::16, ::16][None]
    first = PretrainedFeatures(cache=link, **FEATURES).fit(images).transform(images)
    again = PretrainedFeatures(cache=link, **FEATURES).fit(images)
    np.testing.assert_array_equal(again.transform(images), first)
    assert again.n_computed_ == 0  # found through the link


# =========================================================================== images
def test_thin_image_is_refused_by_name_before_it_is_resized(thin_png, digit_files):
    files = [*digit_files[:2], str(thin_png), digit_files[2]]
    with pytest.raises(InputError) as info:
        PretrainedFeatures(**FEATURES).fit_transform(files)
    message = str(info.value)
    assert str(thin_png) in message and "60000x1 pixels" in message
    assert "aspect ratio of 60,000:1" in message and f"{MAX_RESIZED_PIXELS:,}" in message
    assert "Crop it" in message


def test_thin_image_size_is_checked_from_the_header(tmp_path):
    """The file's pixel data is truncated: only the header was read when it was refused."""
    path = declared_png(tmp_path / "declared_1000000x2.png", 1_000_000, 2)
    with pytest.raises(InputError, match=r"1000000x2 pixels, an aspect ratio of 500,000:1"):
        PretrainedFeatures(**FEATURES).fit_transform([path])
    normal = declared_png(tmp_path / "declared_64x64.png", 64, 64)
    with pytest.raises(InputError, match="truncated or corrupt"):  # decoded: the data is bad
        PretrainedFeatures(**FEATURES).fit_transform([normal])


def test_thin_arrays_and_pil_images_are_refused_by_index():
    line = np.full((2, 1, 70_000), 200, np.uint8)  # (N, H, W): two 70,000 x 1 images
    with pytest.raises(InputError, match=r"image 0 is 70000x1 pixels"):
        PretrainedFeatures(**FEATURES).fit_transform(line)
    with pytest.raises(InputError, match=r"image 0 is 1x70000 pixels"):
        FineTunedClassifier(**FINETUNE).fit([Image.new("RGB", (1, 70_000))] * 2, [0, 1])


def test_preprocess_images_refuses_a_thin_pil_image():
    from skcnn.plugins import PreprocessConfig
    from skcnn.pretrained.imagenet import preprocess_images

    config = PreprocessConfig(input_size=(224, 224), resize_size=256, mean=(0.5,) * 3,
                              std=(0.5,) * 3)
    ok = preprocess_images([Image.fromarray(skdata.astronaut())], config)
    assert ok.shape == (1, 3, 224, 224)
    with pytest.raises(InputError, match=r"images\[1\] is 80000x1 pixels"):
        preprocess_images([Image.fromarray(skdata.astronaut()), Image.new("L", (80_000, 1))],
                          config)


def test_wide_panorama_within_the_bound_works(tmp_path):
    """100:1 resizes to 25,600 x 256 (6.6 M pixels): well within the bound, features as usual."""
    path = tmp_path / "panorama.png"
    strip = np.tile(skdata.astronaut()[250:290:4, ::2], (1, 4, 1))[:, :1000]  # 10 x 1000 x 3
    Image.fromarray(strip).save(path)
    features = PretrainedFeatures(**FEATURES).fit_transform([path])
    same = PretrainedFeatures(**FEATURES).fit_transform([Image.open(path)])
    assert features.shape == (1, 1280) and np.isfinite(features).all()
    np.testing.assert_allclose(features, same, atol=1e-6)


def test_decompression_bomb_names_its_file_among_others(bomb_png, digit_files):
    files = [*digit_files[:3], str(bomb_png), *digit_files[3:]]
    with pytest.raises(InputError) as info:
        PretrainedFeatures(**FEATURES).fit_transform(files)
    message = str(info.value)
    assert str(bomb_png) in message and "decompression bomb" in message
    assert "PIL.Image.MAX_IMAGE_PIXELS" in message
    with pytest.raises(InputError, match="declared_60000x60000.png"):
        FineTunedClassifier(**FINETUNE).fit([bomb_png, *digit_files[:3]], [0, 1, 0, 1])


def _one_error_line(err, *phrases):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("which", ["thin", "bomb"])
def test_predict_cli_refuses_thin_and_huge_images_in_one_line(which, thin_png, bomb_png,
                                                               capsys):
    path = thin_png if which == "thin" else bomb_png
    assert main(["predict", str(path)]) == 2
    captured = capsys.readouterr()
    phrase = "aspect ratio" if which == "thin" else "decompression bomb"
    _one_error_line(captured.err, "skcnn predict: error:", str(path), phrase)
    assert captured.out == ""


# =========================================================================== labels
MIXED = [1, "a", 2, "a", 1, 2]


@pytest.mark.parametrize("make", [
    lambda: CNNClassifier(**FAST),
    lambda: CNNRegressor(**FAST),
    lambda: FineTunedClassifier(**FINETUNE),
    lambda: FineTunedRegressor(**FINETUNE),
], ids=["cnn", "cnn-regressor", "finetuned", "finetuned-regressor"])
def test_mixed_label_types_are_refused_by_every_image_estimator(make, digit_files):
    X = np.stack([np.asarray(Image.open(p)) for p in digit_files])
    for y in (MIXED, np.array(MIXED, dtype=object)):
        with pytest.raises(InputError, match=r"Mix of label input types \(string and number\)"):
            make().fit(X, y)


def test_mixed_label_types_are_refused_by_text_and_compare(digit_files):
    with pytest.raises(InputError, match=r"Mix of label input types \(string and number\)"):
        TextCNNClassifier(max_epochs=1, verbose=0).fit(TEXTS, MIXED)
    X = np.stack([np.asarray(Image.open(p)) for p in digit_files])
    with pytest.raises(ValueError, match=r"Mix of label input types \(string and number\)"):
        compare(X, MIXED, models=["pixels+svc"], cv=2, verbose=0)


def test_uniform_labels_still_work_as_scikit_learn_reads_them(digit_files):
    X = np.stack([np.asarray(Image.open(p)) for p in digit_files])
    clf = CNNClassifier(**FAST).fit(X, [1, 2.0, 1, 2.0, 1, 2.0])  # ints and floats: numbers
    assert list(clf.classes_) == [1.0, 2.0]
    clf = CNNClassifier(**FAST).fit(X, np.array(["1", "a"] * 3, dtype=object))
    assert list(clf.classes_) == ["1", "a"]


# =========================================================================== iterators, text
def test_text_reads_a_generator_once():
    labels = [1, 0, 1, 0, 1, 0]
    params = dict(max_epochs=2, verbose=0, random_state=0, batch_size=4)
    from_list = TextCNNClassifier(**params).fit_transform(TEXTS, labels)
    from_generator = TextCNNClassifier(**params).fit_transform((t for t in TEXTS), labels)
    np.testing.assert_allclose(from_generator, from_list, atol=1e-6)
    clf = TextCNNClassifier(**params).fit((t for t in TEXTS), labels)  # fit and predict too
    assert set(clf.vocabulary_) >= {"good", "film"}
    np.testing.assert_array_equal(clf.predict(iter(TEXTS)), clf.predict(TEXTS))


@pytest.mark.parametrize("tokenizer, phrase", [
    (lambda text: text.upper(), "tokenizer returned a str ('A GOOD FILM')"),
    (lambda text: None, "tokenizer returned NoneType"),
    (lambda text: [len(w) for w in text.split()], "a token of type int (1)"),
], ids=["str", "none", "int-tokens"])
def test_tokenizer_return_type_is_checked(tokenizer, phrase):
    with pytest.raises(InputError) as info:
        TextCNNClassifier(tokenizer=tokenizer, max_epochs=1, verbose=0).fit(TEXTS, [1, 0] * 3)
    assert phrase in str(info.value) and "tokenizer=str.split" in str(info.value)


def test_tokenizer_returning_a_list_works():
    clf = TextCNNClassifier(tokenizer=str.split, max_epochs=1, verbose=0, random_state=0)
    clf.fit(TEXTS, [1, 0] * 3)
    assert {"good", "film", "acting"} <= set(clf.vocabulary_)


# =========================================================================== compare
def test_compare_refuses_a_class_of_one_image_up_front(digit_files):
    X = np.stack([np.asarray(Image.open(p)) for p in digit_files])
    y = ["zero", "one", "zero", "one", "zero", "rare"]
    for split in (dict(cv=2), dict(test_size=0.5)):
        with pytest.raises(ValueError, match=r"class 'rare' has a single image \(of 6\)"):
            compare(X, y, models=["pixels+svc"], verbose=0, **split)


def test_cli_compare_with_a_class_of_one_image_is_one_clear_line(tmp_path, capsys):
    photo = skdata.chelsea()[::8, ::8]
    for name, count in (("cat", 4), ("dog", 4), ("rare", 1)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.roll(photo, 3 * i + len(name), axis=1)).save(
                tmp_path / "photos" / name / f"{i}.png")
    code = main(["compare", "--dataset", str(tmp_path / "photos"), "--models",
                 "features+logreg", "--no-plot", "--verbose", "0"])
    captured = capsys.readouterr()
    assert code == 2
    _one_error_line(captured.err, "skcnn compare: error:", "class 'rare' has a single image",
                    "Add images of that class")


# =========================================================================== ONNX
def test_to_onnx_wraps_skl2onnx_refusals_in_onnx_export_error(digit_files):
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnx")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    import skcnn
    from skcnn.exceptions import OnnxExportError

    X = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in digit_files])
    pipe = make_pipeline(PretrainedFeatures(**FEATURES), FunctionTransformer(np.log1p),
                         LogisticRegression()).fit(X, [0, 1] * 3)
    with pytest.raises(OnnxExportError) as info:
        skcnn.to_onnx(pipe, X[:2])
    message = str(info.value)
    assert "Pipeline step 'functiontransformer' (FunctionTransformer)" in message
    assert "transform function is None" in message  # skl2onnx's reason, kept


# =========================================================================== CLI
def test_cli_unexpected_error_is_one_line_and_debug_shows_the_traceback(capsys):
    """scikit-learn refuses 100 folds of 300 digits: an error no subcommand handles itself."""
    args = ["digits", "--quick", "--cv", "100", "--verbose", "0"]
    assert main(args) == 1
    _one_error_line(capsys.readouterr().err, "skcnn digits: error: ValueError: n_splits=100",
                    "--debug")
    with pytest.raises(ValueError, match="n_splits=100"):
        main(["--debug", *args])
    with pytest.raises(ValueError, match="n_splits=100"):
        main([*args, "--debug"])


def test_cli_handled_error_with_debug_shows_the_traceback(tmp_path, capsys):
    missing = tmp_path / "missing.png"
    assert main(["predict", str(missing)]) == 2
    _one_error_line(capsys.readouterr().err, "Image file not found")
    with pytest.raises(InputError, match="Image file not found"):
        main(["predict", str(missing), "--debug"])
