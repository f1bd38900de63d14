"""The packaged 8×8 digits (checksum, shapes, labels, split) and the IDX reader."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan.data import digits
from tinygan.data.idx import IDXError, find_mnist_files, load_mnist, read_idx, write_idx


# -- the digits that ship ----------------------------------------------------------------
def test_packaged_digits_checksum_shapes_and_labels():
    images, labels = digits.load_digits_raw()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.uint8
    assert images.min() == 0 and images.max() == 16
    counts = np.bincount(labels, minlength=10)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert digits._sha256(images, labels) == digits.DIGITS_SHA256


@pytest.mark.parametrize("scale, lo, hi", [("tanh", -1.0, 1.0), ("unit", 0.0, 1.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_digits_scales_to_the_generator_range(scale, lo, hi, dtype):
    x, y = digits.load_digits(scale=scale, dtype=dtype)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.dtype(dtype)
    assert x.min() == lo and x.max() == hi
    raw, _ = digits.load_digits_raw()
    np.testing.assert_allclose(x[:, 0], lo + (hi - lo) * raw / 16, atol=1e-6)
    assert y.dtype == np.int64 and set(y.tolist()) == set(range(10))


def test_load_digits_rejects_unknown_scale():
    with pytest.raises(ValueError, match="scale must be 'tanh' or 'unit'"):
        digits.load_digits(scale="bytes")


def test_a_damaged_digits_file_fails_its_checksum(tmp_path):
    images, labels = digits.load_digits_raw()
    images = images.copy()
    images[0, 0, 0] += 1  # one pixel changed
    bad = tmp_path / "digits.npz"
    np.savez_compressed(bad, images=images, labels=labels)
    with pytest.raises(digits.DigitsChecksumError, match="SHA-256"):
        digits.load_digits_raw(bad)


def test_split_is_deterministic_disjoint_and_class_balanced():
    _, y = digits.load_digits_raw()
    tr, te = digits.train_test_split(y, seed=0)
    tr2, te2 = digits.train_test_split(y, seed=0)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(te, te2)
    assert not np.array_equal(te, digits.train_test_split(y, seed=1)[1])
    assert np.intersect1d(tr, te).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, te])), np.arange(1797))
    # every class split in half, to within one image
    diff = np.bincount(y[tr], minlength=10) - np.bincount(y[te], minlength=10)
    assert np.abs(diff).max() <= 1


# -- IDX files -----------------------------------------------------------------------------
IDX_DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
       dtype=st.sampled_from(IDX_DTYPES), gz=st.booleans(), seed=st.integers(0, 2**16))
def test_idx_roundtrip(tmp_path_factory, shape, dtype, gz, seed):
    gen = np.random.default_rng(seed)
    a = (gen.standard_normal(shape) * 50).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.idx" + (".gz" if gz else ""))
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian_as_the_format_says(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.arange(6, dtype=np.int16).reshape(2, 3))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 2])
    assert struct.unpack(">2I", raw[4:12]) == (2, 3)
    assert struct.unpack(">6h", raw[12:]) == (0, 1, 2, 3, 4, 5)


def _good_header(n=2, h=3, w=3):
    return bytes([0, 0, 0x08, 3]) + struct.pack(">3I", n, h, w)


@pytest.mark.parametrize("payload, match", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "two zero bytes"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
    (_good_header() + bytes(17), "truncated"),
    (_good_header() + bytes(19), "trailing bytes"),
])
def test_corrupt_idx_files_get_clear_errors(tmp_path, payload, match):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(payload)
    with pytest.raises(IDXError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_not_gzip_and_missing_files(tmp_path):
    fake_gz = tmp_path / "x.gz"
    fake_gz.write_bytes(b"not gzip at all")
    with pytest.raises(IDXError, match="gzip"):
        read_idx(fake_gz)
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte"):
        find_mnist_files(tmp_path)


def _write_mnist(folder, n=12, size=28, gz=True, n_labels=None, seed=0):
    gen = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{ext}",
              gen.integers(0, 256, size=(n, size, size), dtype=np.uint8))
    write_idx(folder / f"train-labels-idx1-ubyte{ext}",
              (np.arange(n if n_labels is None else n_labels) % 10).astype(np.uint8))


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_a_folder(tmp_path, gz):
    _write_mnist(tmp_path, gz=gz)
    x, y = load_mnist(tmp_path)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    assert y.tolist() == [i % 10 for i in range(12)]
    raw = read_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}")
    np.testing.assert_allclose(x[:, 0], raw / 127.5 - 1, atol=1e-6)
    x4, y4 = load_mnist(tmp_path, limit=4, scale="unit")
    assert x4.shape[0] == 4 and y4.shape == (4,) and 0 <= x4.min() and x4.max() <= 1


def test_load_mnist_from_an_images_file_finds_its_labels(tmp_path):
    _write_mnist(tmp_path, gz=False)
    images, labels = find_mnist_files(tmp_path / "train-images-idx3-ubyte")
    assert labels == str(tmp_path / "train-labels-idx1-ubyte")
    assert load_mnist(images)[1] is not None


def test_load_mnist_checks_labels_and_images_agree(tmp_path):
    _write_mnist(tmp_path, n=12, n_labels=11)
    with pytest.raises(IDXError, match="holds 11 labels but .* holds 12 images"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_wrong_rank_and_type(tmp_path):
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 2, 4) + bytes(8))
    with pytest.raises(IDXError, match="3 dimensions"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 4, 4), dtype=np.float32))
    with pytest.raises(IDXError, match="must be uint8"):
        load_mnist(tmp_path)
