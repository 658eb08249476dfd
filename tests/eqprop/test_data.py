import gzip
import struct

import numpy as np
import pytest

from eqprop.data import IdxError, load_dataset, load_digits_split, load_idx, load_mnist, synthetic_blobs


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
    with pytest.raises(ValueError, match="valid datasets are: digits, mnist, blobs"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("mnist")
