"""Data sets: those that ship with the software (images, and labelled review sentences), the movie
reviews (downloaded once into a cache folder), and loaders for your own."""

import os
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

from ._sklearn_compat import Interval, validate_params
from .exceptions import InputError

__all__ = ["load_digits_images", "load_lfw_faces", "load_image_folder", "load_npz",
           "load_dataset", "IMAGE_EXTENSIONS", "load_movie_reviews", "get_data_home",
           "MOVIE_REVIEWS_URL", "load_sentiment_sentences", "load_digits_rotation"]

#: File extensions :func:`load_image_folder` reads as images (case-insensitive).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".gif", ".tif",
                    ".tiff", ".webp")


def _resize(images, size):
    """Bilinear resize of ``(N, H, W)`` float images to ``size`` x ``size``."""
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False,
                            antialias=size < images.shape[-1])
    return resized[:, 0].clamp_(0.0, 1.0).numpy()


#: Where :func:`load_movie_reviews` downloads the authors' archive from.
MOVIE_REVIEWS_URL = "http://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
#: The archive's file name in the data folder (:func:`get_data_home`).
MOVIE_REVIEWS_ARCHIVE = "rt-polaritydata.tar.gz"
#: Members of the archive read by :func:`load_movie_reviews`, and their labels.
_MOVIE_REVIEWS_MEMBERS = {"rt-polarity.pos": "pos", "rt-polarity.neg": "neg"}

_MOVIE_REVIEWS_DESCR = """Sentence polarity dataset v1.0 (movie reviews, "rt-polarity")
---------------------------------------------------------------

10,662 snippets of Rotten Tomatoes reviews, 5,331 positive and 5,331
negative, lowercased and tokenised with spaces, as distributed publicly by
the authors for research (http://www.cs.cornell.edu/people/pabo/movie-review-data/).
Kim (2014), 10-fold CV: CNN-rand 76.1, CNN-static (word2vec) 81.0.

Citation: Bo Pang and Lillian Lee. 2005. Seeing stars: Exploiting class
relationships for sentiment categorization with respect to rating scales.
Proceedings of ACL 2005, 115-124.
"""


def get_data_home(data_home=None):
    """The folder where skcnn keeps downloaded data sets, created if missing.

    ``data_home`` when given, else the environment variable ``SKCNN_DATA``,
    else ``~/.cache/skcnn`` (like scikit-learn's ``get_data_home``).

    Returns
    -------
    path : pathlib.Path
    """
    if data_home is None:
        data_home = os.environ.get("SKCNN_DATA") or Path("~", ".cache", "skcnn")
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _movie_review_sentences(archive):
    """``(texts, labels)`` from the bytes of ``rt-polaritydata.tar.gz``: every
    non-empty line of rt-polarity.pos, then of rt-polarity.neg (latin-1, stripped)."""
    import io
    import tarfile

    found = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if member.isfile() and name in _MOVIE_REVIEWS_MEMBERS:
                found[name] = tar.extractfile(member).read()
    missing = [name for name in _MOVIE_REVIEWS_MEMBERS if name not in found]
    if missing:
        raise InputError(f"The archive lacks {' and '.join(missing)}; it is not the authors' "
                         f"{MOVIE_REVIEWS_ARCHIVE}.")
    texts, labels = [], []
    for name, label in _MOVIE_REVIEWS_MEMBERS.items():
        lines = [line.strip() for line in found[name].decode("latin-1").splitlines()]
        lines = [line for line in lines if line]
        texts += lines
        labels += [label] * len(lines)
    return texts, labels


def _movie_reviews_archive(data_home, download_if_missing):
    """The bytes of the cached archive, downloaded first when missing (and allowed)."""
    folder = get_data_home(data_home)
    path = folder / MOVIE_REVIEWS_ARCHIVE
    if path.is_file():
        return path, path.read_bytes()
    how = (f"Download {MOVIE_REVIEWS_URL} where there is internet and put "
           f"{MOVIE_REVIEWS_ARCHIVE} in {str(folder)!r} (or point data_home or the SKCNN_DATA "
           "environment variable at the folder that holds it).")
    if not download_if_missing:
        raise FileNotFoundError(f"{str(path)!r} not found and download_if_missing=False. {how}")
    import tarfile
    import urllib.request

    from ._files import atomic_write

    try:
        with urllib.request.urlopen(MOVIE_REVIEWS_URL, timeout=60) as response:
            data = response.read()
    except OSError as exc:  # URLError, timeouts, refused connections
        raise FileNotFoundError(f"{str(path)!r} not found and the download failed ({exc}). "
                                f"{how}") from None
    try:
        _movie_review_sentences(data)
    except (InputError, tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{MOVIE_REVIEWS_URL} did not return the expected archive ({exc}); "
                         f"nothing was saved. {how}") from None
    atomic_write(path, data, suffix=".tar.gz")
    return path, data


def load_movie_reviews(*, data_home=None, download_if_missing=True, return_X_y=False,
                       as_frame=False):
    """Pang & Lee's (2005) movie-review sentence polarity data ("rt-polarity").

    10,662 sentences labelled ``'pos'`` or ``'neg'`` (balanced). The first
    call downloads the authors' archive (``rt-polaritydata.tar.gz``, 0.5 MB, from
    http://www.cs.cornell.edu/people/pabo/movie-review-data/)
    into ``data_home``; later calls read it from there, offline. Texts are
    the lines of ``rt-polarity.pos`` then ``rt-polarity.neg``, decoded as
    latin-1 and stripped.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder of the cached archive; see :func:`get_data_home` (default
        ``$SKCNN_DATA`` or ``~/.cache/skcnn``).
    download_if_missing : bool, default=True
        Download the archive when it is not in ``data_home``; False raises
        instead.
    return_X_y : bool, default=False
        Return ``(texts, labels)`` instead of a Bunch.
    as_frame : bool, default=False
        Texts and labels as pandas Series (``frame`` holds both).

    Returns
    -------
    data : Bunch with ``data`` (texts), ``target`` (labels), ``target_names``,
        ``frame`` (with ``as_frame``), ``filename`` (the archive) and ``DESCR``
        (with the citation); or ``(texts, labels)`` when ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        When the archive is not cached and cannot be downloaded (or
        ``download_if_missing=False``): the message names the file and the
        folder to put it in.
    InputError
        When the cached file is not the authors' archive.
    """
    import tarfile

    path, archive = _movie_reviews_archive(data_home, download_if_missing)
    try:
        texts, labels = _movie_review_sentences(archive)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{str(path)!r} is not a readable tar.gz archive ({exc}); delete it "
                         f"and call load_movie_reviews again, or replace it with "
                         f"{MOVIE_REVIEWS_URL}.") from None
    texts = np.array(texts, dtype=object)
    labels = np.array(labels, dtype=object)
    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame({"label": labels, "text": texts})
        texts, labels = frame["text"], frame["label"]
    if return_X_y:
        return texts, labels
    return Bunch(data=texts, target=labels, target_names=np.array(["neg", "pos"], dtype=object),
                 frame=frame, filename=str(path), DESCR=_MOVIE_REVIEWS_DESCR)


#: Folder of the data files that ship inside the package.
_DATA_FILES = Path(__file__).resolve().parent / "_datafiles"
#: The shipped parts of Kotzias et al.'s Sentiment Labelled Sentences: source name ->
#: (gzip file, size and SHA-256 of the authors' uncompressed file).
_SENTIMENT_SENTENCES = {
    "amazon": ("amazon_cells_labelled.txt.gz", 58226,
               "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3"),
    "yelp": ("yelp_labelled.txt.gz", 61320,
             "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea"),
}

_SENTIMENT_SENTENCES_DESCR = """Sentiment Labelled Sentences (Amazon and Yelp parts)
----------------------------------------------------

2,000 English sentences from reviews, labelled by their creators as
positive ('pos', 1,000) or negative ('neg', 1,000): 1,000 from reviews of
mobile phones and accessories on amazon.com and 1,000 from restaurant reviews
on yelp.com, 500 of each label per site, chosen to have a clear polarity.
The sentences are as written (mixed case, punctuation, typos). Fourteen
short ones ("Works great.", "I love this place.") occur twice within their
site, with the same label; they are kept, as published (skcnn.compare warns
about them).

Kotzias et al. (2015) also published 1,000 IMDb sentences in the same set;
they are not shipped (no copy of them could be checked against the
original). For movie reviews see load_movie_reviews (10,662 sentences,
downloaded once).

Licence: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), as
distributed by the UCI Machine Learning Repository,
https://doi.org/10.24432/C57604. Provenance, checksums and the authors'
readme: skcnn/_datafiles/README-sentiment-sentences.txt.

Citation: Dimitrios Kotzias, Misha Denil, Nando de Freitas and Padhraic
Smyth. 2015. From Group to Individual Labels using Deep Features.
Proceedings of KDD 2015, 597-606. https://doi.org/10.1145/2783258.2783380
"""

#: BibTeX of the paper that published the sentiment sentences.
SENTIMENT_SENTENCES_CITATION = """@inproceedings{kotzias2015group,
  author    = {Kotzias, Dimitrios and Denil, Misha and de Freitas, Nando and Smyth, Padhraic},
  title     = {From Group to Individual Labels Using Deep Features},
  booktitle = {Proceedings of the 21th ACM SIGKDD International Conference on Knowledge
               Discovery and Data Mining},
  pages     = {597--606},
  year      = {2015},
  doi       = {10.1145/2783258.2783380}
}"""


def _sentiment_sentence_lines(source):
    """Lines ``(sentence, label)`` of one shipped file, after checking its checksum."""
    import gzip
    import hashlib

    name, size, sha256 = _SENTIMENT_SENTENCES[source]
    path = _DATA_FILES / name
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is missing from the installed package; "
                                "reinstall skcnn (pip install --force-reinstall skcnn).")
    raw = gzip.decompress(path.read_bytes())
    if len(raw) != size or hashlib.sha256(raw).hexdigest() != sha256:
        raise InputError(f"{str(path)!r} does not hold the expected data (size or SHA-256 "
                         "differs); reinstall skcnn.")
    rows = []
    for line in raw.decode("utf-8").splitlines():
        text, label = line.rsplit("\t", 1)
        rows.append((text.strip(), "pos" if label.strip() == "1" else "neg"))
    return rows


@validate_params({"return_X_y": ["boolean"], "as_frame": ["boolean"]},
                 prefer_skip_nested_validation=True)
def load_sentiment_sentences(*, return_X_y=False, as_frame=False):
    """2,000 review sentences labelled positive or negative; ships with skcnn (offline).

    The Amazon and Yelp parts of Kotzias et al.'s (2015) *Sentiment Labelled
    Sentences* (UCI Machine Learning Repository): 1,000 sentences from reviews
    of phones and accessories on amazon.com, then 1,000 from restaurant
    reviews on yelp.com, each labelled ``'pos'`` or ``'neg'`` by the creators,
    500 of each per site. Texts are the authors' lines, stripped; nothing is
    lowercased or tokenised. A small set for examples, tests and quick
    comparisons; :func:`load_movie_reviews` is the larger (downloaded)
    benchmark.

    Licence: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), as
    distributed by the UCI repository (https://doi.org/10.24432/C57604);
    the files, their checksums (verified on every load) and provenance are in
    ``skcnn/_datafiles`` (``README-sentiment-sentences.txt``). The IMDb third
    of the published set is not included.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(texts, labels)`` instead of a Bunch.
    as_frame : bool, default=False
        Texts, labels and sources as pandas objects: ``frame`` is a DataFrame
        with columns ``text``, ``label`` and ``source``.

    Returns
    -------
    data : Bunch
        ``data`` (texts, object array of str), ``target`` (``'pos'`` or
        ``'neg'``), ``target_names`` (``['neg', 'pos']``), ``source``
        (``'amazon'`` or ``'yelp'`` for each text), ``frame`` (with
        ``as_frame=True``, else None), ``filename`` (the data folder),
        ``DESCR`` (description, licence and citation) and ``citation``
        (BibTeX). With ``return_X_y=True``, ``(texts, labels)`` instead.

    References
    ----------
    D. Kotzias, M. Denil, N. de Freitas and P. Smyth. From Group to Individual
    Labels using Deep Features. KDD 2015, 597-606.
    https://doi.org/10.1145/2783258.2783380

    Examples
    --------
    >>> from skcnn.datasets import load_sentiment_sentences
    >>> texts, labels = load_sentiment_sentences(return_X_y=True)
    >>> texts.shape, sorted(set(labels))
    ((2000,), ['neg', 'pos'])
    """
    texts, labels, sources = [], [], []
    for source in _SENTIMENT_SENTENCES:
        rows = _sentiment_sentence_lines(source)
        texts += [text for text, _ in rows]
        labels += [label for _, label in rows]
        sources += [source] * len(rows)
    texts = np.array(texts, dtype=object)
    labels = np.array(labels, dtype=object)
    sources = np.array(sources, dtype=object)
    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame({"text": texts, "label": labels, "source": sources})
        texts, labels, sources = frame["text"], frame["label"], frame["source"]
    if return_X_y:
        return texts, labels
    return Bunch(data=texts, target=labels, target_names=np.array(["neg", "pos"], dtype=object),
                 source=sources, frame=frame, filename=str(_DATA_FILES),
                 DESCR=_SENTIMENT_SENTENCES_DESCR, citation=SENTIMENT_SENTENCES_CITATION)


@validate_params({"size": [Interval(Integral, 1, None, closed="left"), None],
                  "return_X_y": ["boolean"]}, prefer_skip_nested_validation=True)
def load_digits_images(*, size=None, return_X_y=False):
    """scikit-learn's 1,797 handwritten digits as ``float32`` images in [0, 1].

    Parameters
    ----------
    size : int, default=None
        Resize the 8x8 images to ``size`` x ``size`` (bilinear). The default
        :class:`~skcnn.CNNClassifier` network needs at least 10x10.
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : Bunch with ``images`` (N, H, W), ``target`` (N,), ``target_names``
        and ``DESCR``; or ``(images, target)`` when ``return_X_y=True``.
    """
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    if size is not None and size != images.shape[-1]:
        images = _resize(images, int(size))
    if return_X_y:
        return images, digits.target
    return Bunch(images=images, target=digits.target, target_names=digits.target_names,
                 DESCR=digits.DESCR)


@validate_params({"size": [Interval(Integral, 1, None, closed="left")],
                  "max_angle": [Interval(Real, 0, 180, closed="right")],
                  "random_state": ["random_state"], "return_X_y": ["boolean"]},
                 prefer_skip_nested_validation=True)
def load_digits_rotation(*, size=16, max_angle=45.0, random_state=0, return_X_y=False):
    """scikit-learn's digits, each rotated by a random angle: a regression data set (offline).

    Each of the 1,797 digits (:func:`load_digits_images`, enlarged to
    ``size`` x ``size``) is rotated about its centre by an angle drawn
    uniformly from ``[-max_angle, max_angle]`` degrees (bilinear, the
    corners filled with black); the target is that angle. Used by
    ``skcnn compare --dataset digits-rotation`` and
    ``examples/regression_rotation.py``.

    Parameters
    ----------
    size : int, default=16
        Side of the images, before rotation.
    max_angle : float in (0, 180], default=45.0
        Largest rotation, in degrees, either way.
    random_state : int, RandomState instance or None, default=0
        Draws the angles: the same int gives the same data set.
    return_X_y : bool, default=False
        Return ``(images, angles)`` instead of a Bunch.

    Returns
    -------
    data : Bunch with ``images`` (N, size, size) float32 in [0, 1], ``target``
        (N,) angles in degrees (float64, counter-clockwise positive),
        ``digits`` (the digit each image shows) and ``DESCR``; or
        ``(images, target)`` when ``return_X_y=True``.

    Examples
    --------
    >>> from skcnn.datasets import load_digits_rotation
    >>> images, angles = load_digits_rotation(return_X_y=True)
    >>> images.shape, bool(abs(angles).max() <= 45)
    ((1797, 16, 16), True)
    """
    from scipy.ndimage import rotate
    from sklearn.utils import check_random_state

    images, digits = load_digits_images(size=size, return_X_y=True)
    # An int seeds NumPy's Generator (the angles examples/regression_rotation.py has always
    # drawn); a RandomState instance (or None) is used as scikit-learn would.
    rng = (np.random.default_rng(int(random_state)) if isinstance(random_state, Integral)
           else check_random_state(random_state))
    angles = rng.uniform(-max_angle, max_angle, len(images))
    rotated = np.stack([rotate(image, angle, reshape=False, order=1, mode="constant")
                        for image, angle in zip(images, angles)]).clip(0, 1).astype(np.float32)
    if return_X_y:
        return rotated, angles
    return Bunch(images=rotated, target=angles, digits=digits,
                 DESCR=(f"scikit-learn's {len(images)} digits at {size}x{size}, each rotated by "
                        f"a random angle in [-{max_angle:g}, {max_angle:g}] degrees (the "
                        "target, counter-clockwise positive)."))


def load_lfw_faces(*, return_X_y=False):
    """Faces and non-faces: scikit-image's ``lfw_subset``, 200 grayscale 25x25 crops.

    The first 100 are faces (label 1), the other 100 non-faces (label 0).
    Needs scikit-image (``pip install scikit-image``); the data ship with it.

    Returns
    -------
    data : Bunch with ``images`` (200, 25, 25) float in [0, 1], ``target``
        and ``target_names`` (``['non-face', 'face']``); or
        ``(images, target)`` when ``return_X_y=True``.
    """
    try:
        from skimage.data import lfw_subset
    except ImportError:
        raise ImportError("The lfw-faces data set ships with scikit-image, which is not "
                          "installed: pip install scikit-image") from None
    images = np.asarray(lfw_subset(), dtype=np.float32)
    target = np.r_[np.ones(100, dtype=int), np.zeros(100, dtype=int)]
    if return_X_y:
        return images, target
    return Bunch(images=images, target=target, target_names=np.array(["non-face", "face"]),
                 DESCR="scikit-image's lfw_subset: 100 faces (1) and 100 non-faces (0), 25x25.")


def _check_image_file(path):
    """Raise an InputError naming ``path`` when it is not a readable image."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums, without decoding
        with Image.open(path) as image:
            if image.format == "JPEG":
                # verify() does not notice a truncated JPEG; decoding at 1/8
                # scale does, and costs little.
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except Exception as exc:  # UnidentifiedImageError, OSError, SyntaxError, ...
        detail = str(exc).strip() or type(exc).__name__
        raise InputError(f"{str(path)!r} is not a readable image ({detail}). The file may be "
                         "corrupt or truncated; re-export it or remove it from the folder.") from None


def load_image_folder(path, *, verify=True):
    """File paths and labels of an image folder with one subfolder per class.

    The layout of torchvision's ``ImageFolder``::

        path/cat/001.jpg
        path/cat/002.png
        path/dog/abc.jpg

    Class folders are sorted by name, files within them (searched
    recursively) by path. Files whose extension is not an image's
    (:data:`IMAGE_EXTENSIONS`) and files outside the class folders are
    skipped with one warning that counts them; hidden files and folders
    (names starting with a dot) are ignored.

    Parameters
    ----------
    path : str or path-like
        The folder.
    verify : bool, default=True
        Open every image file to check it (Pillow's ``verify``, and a cheap
        reduced-size decode for JPEGs), so that a corrupt file is reported
        now, by name, rather than in the middle of a training run.

    Returns
    -------
    paths : list of str
    labels : ndarray of str
        The class (subfolder name) of each file.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    InputError
        When it is not a folder, holds no images, holds a single class or an
        empty class folder, or a file with an image extension is corrupt.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"Image folder not found: {str(root)!r}. Check the path.")
    if not root.is_dir():
        raise InputError(f"{str(root)!r} is a file, not a folder; pass a folder with one "
                         "subfolder of images per class.")
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                        key=lambda d: d.name)
    loose = [f for f in root.iterdir() if f.is_file() and not f.name.startswith(".")]
    if not class_dirs:
        loose_images = [f for f in loose if f.suffix.lower() in IMAGE_EXTENSIONS]
        if loose_images:
            raise InputError(
                f"{str(root)!r} holds {len(loose_images)} image(s) but no class subfolders. Put "
                f"each class's images in its own subfolder, e.g. {root / 'cat' / 'img1.jpg'} "
                f"and {root / 'dog' / 'img2.jpg'}.")
        raise InputError(f"{str(root)!r} is empty: it has no class subfolders with images. Put "
                         "each class's images in its own subfolder (path/<class>/<image>).")
    paths, labels, skipped, empty = [], [], len(loose), []
    for class_dir in class_dirs:
        found = []
        for folder, subdirs, files in os.walk(class_dir, followlinks=True):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                    found.append(os.path.join(folder, name))
                else:
                    skipped += 1
        if not found:
            empty.append(class_dir.name)
        paths += found
        labels += [class_dir.name] * len(found)
    if skipped:
        warnings.warn(
            f"Skipped {skipped} file(s) in {str(root)!r} that are not images in a class folder "
            f"(image extensions: {', '.join(IMAGE_EXTENSIONS)}).", UserWarning, stacklevel=2)
    if not paths:
        raise InputError(f"{str(root)!r} has class subfolders ({', '.join(d.name for d in class_dirs)})"
                         " but no image files in them.")
    if empty:
        raise InputError(
            f"Class folder(s) {', '.join(map(repr, empty))} in {str(root)!r} hold no image files; "
            "add images or remove the folder(s).")
    if len(class_dirs) < 2:
        raise InputError(
            f"{str(root)!r} has a single class ({class_dirs[0].name!r}); a classifier needs at "
            "least two. Put each class's images in its own subfolder.")
    if verify:
        for file in paths:
            _check_image_file(file)
    return paths, np.array(labels)


def load_npz(path):
    """``(X, y)`` from an ``.npz`` file holding arrays named ``X`` and ``y``.

    Save one with ``np.savez(path, X=images, y=labels)``; object arrays are
    refused (``allow_pickle=False``), so save labels as numbers or strings.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"File not found: {str(path)!r}. Check the path.")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise InputError(f"Could not read {str(path)!r} as .npz: it is not an archive written "
                         "by np.savez. Save one with np.savez(path, X=images, y=labels).")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys()) if hasattr(data, "keys") else []
            missing = [k for k in ("X", "y") if k not in keys]
            if missing:
                raise InputError(
                    f"{str(path)!r} has no array named {' or '.join(missing)} (it holds: "
                    f"{', '.join(keys) if keys else 'nothing'}). Save the images as X and the "
                    "labels as y: np.savez(path, X=images, y=labels).")
            X, y = data["X"], data["y"]
    except InputError:
        raise
    except ValueError as exc:
        if "Object arrays" in str(exc) or "allow_pickle" in str(exc):
            raise InputError(f"{str(path)!r} holds object arrays, which are not loaded for "
                             "safety; save X as a numeric array and y as numbers or strings."
                             ) from None
        raise InputError(f"Could not read {str(path)!r} as .npz: {exc}") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"Could not read {str(path)!r} as .npz: {exc}") from None
    if X.ndim == 0 or y.ndim != 1 or len(X) != len(y):
        raise InputError(f"{str(path)!r}: X has shape {X.shape} and y {y.shape}; y must hold "
                         "one label per image of X.")
    return X, y


#: Data-set names :func:`load_dataset` knows, besides paths.
DATASETS = ("digits", "lfw-faces", "sentiment-sentences", "digits-rotation")


def load_dataset(spec):
    """``(X, y, description)`` for ``skcnn compare --dataset``.

    ``spec`` is ``'digits'`` (scikit-learn's 8x8 digits), ``'lfw-faces'``
    (:func:`load_lfw_faces`), ``'sentiment-sentences'`` (texts:
    :func:`load_sentiment_sentences`), ``'digits-rotation'`` (regression:
    :func:`load_digits_rotation`), a folder with one subfolder per class
    (:func:`load_image_folder`) or an ``.npz`` file with ``X`` and ``y``
    (:func:`load_npz`).
    """
    spec = str(spec)
    if spec == "digits":
        X, y = load_digits_images(return_X_y=True)
        return X, y, "scikit-learn's digits (8x8 grayscale)"
    if spec in ("digits-rotation", "digits_rotation"):
        X, y = load_digits_rotation(return_X_y=True)
        return X, y, ("scikit-learn's digits at 16x16, each rotated by a random angle in "
                      "[-45, 45] degrees; target: the angle (regression)")
    if spec in ("lfw-faces", "lfw_faces", "lfw"):
        X, y = load_lfw_faces(return_X_y=True)
        return X, y, "scikit-image's lfw_subset, faces (1) vs non-faces (0), 25x25 grayscale"
    if spec in ("sentiment-sentences", "sentiment_sentences"):
        X, y = load_sentiment_sentences(return_X_y=True)
        return X, y, ("Sentiment Labelled Sentences (Kotzias et al. 2015; Amazon and Yelp parts, "
                      "CC BY 4.0): 2,000 review sentences, pos/neg")
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(
            f"No data set named {spec!r} and no such file or folder. Use "
            f"{' or '.join(DATASETS)}, a folder with one subfolder of images per class, an "
            ".npz file with arrays X and y, or a table of texts with --text-column.")
    if path.is_dir():
        X, y = load_image_folder(path)
        return X, y, f"image folder {str(path)!r}"
    if path.suffix.lower() == ".npz":
        X, y = load_npz(path)
        return X, y, f"{str(path)!r}"
    raise InputError(f"{str(path)!r} is neither a folder of images nor an .npz file; pass a "
                     "folder with one subfolder per class, or an .npz with arrays X and y.")
