"""skcnn.datasets: image folders, .npz files, lfw-faces, and compare on image files."""

import warnings

import numpy as np
import pytest
from PIL import Image

from skcnn import compare
from skcnn.cli import main
from skcnn.datasets import load_dataset, load_image_folder, load_lfw_faces, load_npz
from skcnn.exceptions import InputError


def _image(path, value, size=(40, 40), fmt=None):
    rng = np.random.RandomState(value)
    array = (rng.rand(*size, 3) * 60 + value).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)
    return path


@pytest.fixture
def folder(tmp_path):
    """Two classes, 6 images each (PNG and JPEG, one in a nested folder), and two stray files."""
    root = tmp_path / "pets"
    for i in range(6):
        _image(root / "dog" / f"d{i}.png", 20 + i)
        name = f"c{i}.jpg" if i < 5 else "more/c5.JPG"
        _image(root / "cat" / name, 180 + i, fmt="JPEG")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("stray file outside the class folders")
    (root / "dog" / ".DS_Store").write_bytes(b"\0\1")  # hidden: ignored silently
    return root


def test_image_folder_paths_and_labels(folder):
    with pytest.warns(UserWarning, match="Skipped 2 file") as record:
        paths, labels = load_image_folder(folder)
    assert len(record) == 1  # one warning that counts them
    assert labels.tolist() == ["cat"] * 6 + ["dog"] * 6  # classes sorted
    assert paths[:6] == sorted(paths[:6]) and paths[6:] == sorted(paths[6:])
    assert paths[5].endswith("c5.JPG")  # nested folders are searched, extensions any case
    assert all(str(folder) in p for p in paths)
    assert not any(p.endswith((".txt", ".md", ".DS_Store")) for p in paths)


def test_image_folder_without_stray_files_does_not_warn(tmp_path):
    for i in range(2):
        _image(tmp_path / "a" / f"{i}.png", i)
        _image(tmp_path / "b" / f"{i}.png", 100 + i)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths, labels = load_image_folder(tmp_path)
    assert len(paths) == 4 and set(labels) == {"a", "b"}


def test_corrupt_image_is_named(folder):
    bad = folder / "dog" / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.warns(UserWarning), pytest.raises(InputError, match="broken.png") as info:
        load_image_folder(folder)
    assert "not a readable image" in str(info.value)


def test_truncated_jpeg_is_named(folder):
    good = (folder / "cat" / "c0.jpg").read_bytes()
    (folder / "cat" / "c_truncated.jpg").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning), pytest.raises(InputError, match="c_truncated.jpg"):
        load_image_folder(folder)


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="is empty"):
        load_image_folder(tmp_path)


def test_folder_with_one_class(tmp_path):
    for i in range(3):
        _image(tmp_path / "only" / f"{i}.png", i)
    with pytest.raises(InputError, match="single class .'only'.") as info:
        load_image_folder(tmp_path)
    assert "at least two" in str(info.value)


def test_images_without_class_folders(tmp_path):
    _image(tmp_path / "a.png", 1)
    with pytest.raises(InputError, match="no class subfolders"):
        load_image_folder(tmp_path)


def test_empty_class_folder(tmp_path):
    _image(tmp_path / "a" / "1.png", 1)
    (tmp_path / "b").mkdir()
    with pytest.raises(InputError, match="'b'.*hold no image files"):
        load_image_folder(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image_folder(tmp_path / "nope")


def test_npz(tmp_path):
    np.savez(tmp_path / "ok.npz", X=np.zeros((4, 8, 8)), y=np.array(["a", "b", "a", "b"]))
    X, y = load_npz(tmp_path / "ok.npz")
    assert X.shape == (4, 8, 8) and y.tolist() == ["a", "b", "a", "b"]
    np.savez(tmp_path / "bad.npz", X=np.zeros((4, 8, 8)))
    with pytest.raises(InputError, match="no array named y .*it holds: X"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", X=np.zeros((4, 8, 8)), y=np.arange(3))
    with pytest.raises(InputError, match="one label per image"):
        load_npz(tmp_path / "short.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="Could not read .* not an archive"):
        load_npz(tmp_path / "junk.npz")
    np.savez(tmp_path / "objects.npz", X=np.zeros((2, 8, 8)), y=np.array([1, "a"], dtype=object))
    with pytest.raises(InputError, match="object arrays"):
        load_npz(tmp_path / "objects.npz")


def test_load_dataset_names_and_errors(tmp_path):
    X, y, description = load_dataset("digits")
    assert X.shape == (1797, 8, 8) and "digits" in description
    with pytest.raises(FileNotFoundError, match="digits or lfw-faces"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(InputError, match="neither a folder of images nor an .npz"):
        load_dataset(tmp_path / "data.txt")


def test_lfw_faces():
    X, y = load_lfw_faces(return_X_y=True)
    assert X.shape == (200, 25, 25) and X.dtype == np.float32
    assert y.tolist() == [1] * 100 + [0] * 100
    assert load_lfw_faces().target_names.tolist() == ["non-face", "face"]


def test_compare_on_image_files(folder):
    with pytest.warns(UserWarning):
        paths, labels = load_image_folder(folder)
    res = compare(paths, labels, ["pixels+svc", "features+logreg"], cv=2, quick=True, verbose=0)
    assert (res.table["status"] == "ok").all(), res.table["status"].tolist()
    # files are loaded once at 32x32 for the pixel models, and that time is reported
    assert res.small_images == {"size": (32, 32), "resized": True, "mode": "RGB"}
    assert res.table.set_index("model").loc["pixels+svc", "extract_time"] > 0
    assert res.features["n_images"] == 12
    assert "resized to 32x32" in res.to_text()
    assert set(res.classes) == {"cat", "dog"}


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "is empty"),
    (lambda root: _image(root / "only" / "1.png", 1), "single class"),
])
def test_cli_bad_folders(make, message, tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    make(root)
    assert main(["compare", "--dataset", str(root), "--no-plot", "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skcnn compare: error:") and message in err


def test_cli_folder_warns_once_about_stray_files(folder, tmp_path, capsys):
    code = main(["compare", "--dataset", str(folder), "--models", "pixels+svc", "--cv", "2",
                 "--plot", str(tmp_path / "c.png"), "--verbose", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.count("Skipped 2 file") == 1
    assert (tmp_path / "c.png").exists()
