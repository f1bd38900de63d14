"""A reader (and writer) for the IDX files that MNIST and Fashion-MNIST come in.

tinygan never downloads anything: you fetch the four files yourself and give the
path. An IDX file is a 4-byte magic number, then one big-endian 32-bit size per
dimension, then the values in C order::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64 (all big-endian)
    byte  3     number of dimensions d (images: 3, labels: 1)
    4·d bytes   the sizes, big-endian uint32
    the rest    prod(sizes) values

Files may be gzip-compressed (``.gz``). Every rule above is checked and a broken
file gets an error that names the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import os
import struct

from .. import backend

__all__ = ["IDXError", "read_idx", "write_idx", "load_mnist", "find_mnist_files"]

np = backend.numpy

# type code -> big-endian dtype
_TYPES = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_CODES = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in _TYPES.items()}


class IDXError(ValueError):
    """An IDX file that does not follow the format (or does not match its partner)."""


def _read_bytes(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise IDXError(f"{path}: cannot read it as {'gzip' if opener is gzip.open else 'a file'}"
                       f" ({type(exc).__name__}: {exc})") from exc


def read_idx(path):
    """Read one IDX file (plain or ``.gz``) into a host NumPy array in native byte order.

    Raises :class:`IDXError` when the magic number, the number of dimensions, the
    sizes or the payload length are wrong, and ``FileNotFoundError`` for a missing file.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.idx")
    >>> write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(p).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    data = _read_bytes(path)
    name = os.fspath(path)
    if len(data) < 4:
        raise IDXError(f"{name}: {len(data)} bytes is too short for the 4-byte IDX magic number")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXError(f"{name}: not an IDX file: the magic number must start with two zero "
                       f"bytes, got 0x{data[:4].hex()}")
    if code not in _TYPES:
        known = ", ".join(f"0x{k:02X}" for k in _TYPES)
        raise IDXError(f"{name}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim < 1:
        raise IDXError(f"{name}: the IDX header declares {ndim} dimensions; need at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, "
                       f"the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        raise IDXError(f"{name}: the header says shape {shape} of {dtype.name} "
                       f"({expected} bytes of data) but the file holds {got} bytes "
                       f"({'truncated' if got < expected else 'trailing bytes'})")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write a host array as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=").str[1:]
    if key not in _CODES:
        raise IDXError(f"write_idx: dtype {a.dtype} has no IDX type code; use one of "
                       "uint8, int8, int16, int32, float32, float64")
    if a.ndim < 1 or a.ndim > 255:
        raise IDXError(f"write_idx: need 1 to 255 dimensions, got {a.ndim}")
    code = _CODES[key]
    payload = (bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
               + np.ascontiguousarray(a, dtype=_TYPES[code]).tobytes())
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_mnist_files(path, split="train"):
    """The (images, labels) file paths for ``split`` in a folder, or for one images file.

    ``path`` is either a folder holding ``train-images-idx3-ubyte[.gz]`` and
    ``train-labels-idx1-ubyte[.gz]`` (``t10k-…`` for ``split="test"``), the standard
    MNIST/Fashion-MNIST names (also with a dot before ``idx``, as some mirrors
    spell them), or the path of an images file, in which case labels are looked
    for next to it and may be missing (``None``).
    """
    path = os.fspath(path)
    if split not in _STEMS:
        raise ValueError(f"find_mnist_files: split must be 'train' or 'test', got {split!r}")
    if os.path.isfile(path):
        d, base = os.path.split(path)
        guess = base.replace("images-idx3", "labels-idx1").replace("images.idx3",
                                                                   "labels.idx1")
        lab = os.path.join(d, guess)
        return path, (lab if guess != base and os.path.isfile(lab) else None)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no such file or folder (an IDX images file or a folder "
                                "holding one was expected)")

    def find(stem):
        for s in (stem, stem.replace("-idx", ".idx")):
            for ext in ("", ".gz"):
                p = os.path.join(path, s + ext)
                if os.path.isfile(p):
                    return p
        return None

    img_stem, lab_stem = _STEMS[split]
    images = find(img_stem)
    if images is None:
        raise FileNotFoundError(f"{path}: no {img_stem} or {img_stem}.gz in this folder "
                                "(the MNIST/Fashion-MNIST file names are expected)")
    return images, find(lab_stem)


def load_mnist(path, split="train", scale="tanh", dtype="float32", limit=None):
    """MNIST-style images (N, 1, H, W) scaled for a GAN, and labels (or ``None``).

    Parameters
    ----------
    path : a folder with the standard file names or an images file (see
        :func:`find_mnist_files`).
    scale : ``"tanh"`` maps 0..255 to [−1, 1] (for a tanh generator), ``"unit"`` to [0, 1].
    limit : keep only the first ``limit`` images (quick runs).

    Returns host NumPy arrays: images of ``dtype`` and int64 labels (or ``None``).
    """
    img_path, lab_path = find_mnist_files(path, split)
    images = read_idx(img_path)
    if images.ndim != 3:
        raise IDXError(f"{img_path}: images must have 3 dimensions (N, H, W), got shape "
                       f"{images.shape}")
    if images.dtype != np.uint8:
        raise IDXError(f"{img_path}: images must be uint8 (type code 0x08), got {images.dtype}")
    labels = None
    if lab_path is not None:
        labels = read_idx(lab_path)
        if labels.ndim != 1:
            raise IDXError(f"{lab_path}: labels must have 1 dimension, got shape {labels.shape}")
        if labels.shape[0] != images.shape[0]:
            raise IDXError(f"{lab_path} holds {labels.shape[0]} labels but {img_path} holds "
                           f"{images.shape[0]} images")
        labels = labels.astype(np.int64)
    if limit is not None:
        images = images[:limit]
        labels = None if labels is None else labels[:limit]
    x = images[:, None, :, :].astype(dtype)  # (N, 1, H, W)
    if scale == "tanh":
        x = x / x.dtype.type(127.5) - x.dtype.type(1)
    elif scale == "unit":
        x = x / x.dtype.type(255)
    else:
        raise ValueError(f"load_mnist: scale must be 'tanh' or 'unit', got {scale!r}")
    return x, labels
