"""Shared fixtures and fast settings for the skcnn test suite."""

import io
import json
import socket
import tarfile
import urllib.error
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from skcnn.datasets import load_digits_images

# The test machines are small and shared: intra-op threads that spin-wait for
# each other make tiny convolutions tens of times slower than one thread.
# (Parallel workers, e.g. GridSearchCV(n_jobs=2), start their own processes
# and are not affected by this setting.)
torch.set_num_threads(1)

#: Tiny network and training settings that keep every fit well under a second.
FAST = dict(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=3, batch_size=32,
            verbose=0, random_state=0)


@pytest.fixture(scope="session")
def digits8():
    """sklearn's digits as (N, 8, 8) float32 images in [0, 1] and labels 0..9."""
    X, y = load_digits_images(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def digits16():
    """The digits resized to 16x16."""
    X, y = load_digits_images(size=16, return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def small_digits(digits8):
    """300 training and 200 held-out 8x8 digits (all ten classes in each)."""
    X, y = digits8
    return X[:300], y[:300], X[300:500], y[300:500]


@pytest.fixture(scope="session")
def lfw():
    """scikit-image's 200 LFW images (float64 in [0, 1], 25x25) and labels (1 face, 0
    non-face)."""
    from skimage.data import lfw_subset

    X = lfw_subset()
    y = np.r_[np.ones(100, dtype=int), np.zeros(100, dtype=int)]
    return X, y


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def fast():
    """A fresh copy of the fast CNNClassifier settings (``FAST``)."""
    return dict(FAST)


BLOCKED = "network access is blocked in skcnn's tests"


@contextmanager
def blocked_network():
    """Refuse every network connection and torch.hub download; yield the attempts made.

    Unix sockets stay usable: DataLoader worker processes pass tensors through them.
    """
    attempts = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(*args, **kwargs):
        attempts.append(args[1:2] or args[:1])
        raise OSError(BLOCKED)

    def local_only(original):
        def guarded(sock, *args, **kwargs):
            if sock.family == socket.AF_UNIX:
                return original(sock, *args, **kwargs)
            return refuse(sock, *args, **kwargs)
        return guarded

    def refuse_download(url, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError(BLOCKED)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", local_only(connect))
        mp.setattr(socket.socket, "connect_ex", local_only(connect_ex))
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(torch.hub, "download_url_to_file", refuse_download)
        yield attempts


#: The project's development data, beside the clone (absent from users' clones).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MOVIE_REVIEWS_CSV = SHARED_DATA / "mr_polarity.csv"


def write_movie_reviews_archive(folder, texts, labels):
    """Write ``folder/rt-polaritydata.tar.gz`` laid out as the authors' archive.

    ``rt-polaritydata/rt-polarity.pos`` and ``.neg`` hold one latin-1 sentence a
    line, with the trailing space before the newline of the original files.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for label in ("pos", "neg"):
            data = "".join(f"{text} \n" for text, y in zip(texts, labels)
                           if y == label).encode("latin-1")
            info = tarfile.TarInfo(f"rt-polaritydata/rt-polarity.{label}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = Path(folder) / "rt-polaritydata.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def shared_movie_reviews():
    """``(texts, labels)`` of ../shared/data/mr_polarity.csv; skips the test where it is absent."""
    if not MOVIE_REVIEWS_CSV.is_file():
        pytest.skip(f"the development data {MOVIE_REVIEWS_CSV} are absent (they sit beside the "
                    "project's clone in CI); the movie reviews cannot be downloaded in tests")
    import pandas as pd

    frame = pd.read_csv(MOVIE_REVIEWS_CSV, keep_default_na=False)
    return frame["text"].tolist(), frame["label"].tolist()


@pytest.fixture(scope="session")
def movie_reviews_home(tmp_path_factory):
    """A data folder holding rt-polaritydata.tar.gz rebuilt from ../shared/data/mr_polarity.csv
    (for load_movie_reviews(data_home=...) offline); skips where the csv is absent."""
    texts, labels = shared_movie_reviews()
    folder = tmp_path_factory.mktemp("skcnn_data")
    write_movie_reviews_archive(folder, texts, labels)
    return folder


def edit_stored_attribute(source, target, name, value, only_if=None):
    """Write ``target``: the skcnn model file ``source`` with every stored attribute
    ``name`` of its manifest (``only_if``: only where it equals that) set to ``value``,
    as an edited or damaged file would have it."""
    with zipfile.ZipFile(source) as archive:
        members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    found = []

    def edit(node):
        if isinstance(node, dict):
            if name in node and (only_if is None or node[name] == only_if):
                node[name] = value
                found.append(True)
            for child in node.values():
                edit(child)
        elif isinstance(node, list):
            for child in node:
                edit(child)

    with zipfile.ZipFile(target, "w") as archive:
        for info, payload in members:
            if info.filename == "skcnn-model.json":
                manifest = json.loads(payload)
                edit(manifest)
                payload = json.dumps(manifest).encode()
            archive.writestr(info, payload)
    assert found, f"the manifest stores {name}"
    return target
