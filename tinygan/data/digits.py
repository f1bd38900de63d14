"""The 8×8 handwritten digits that ship with tinygan (UCI, Alpaydin & Kaynak, CC BY 4.0).

1,797 grey images of the digits 0-9, about 180 of each, pixel values 0..16 (counts of
"on" pixels in 4×4 blocks of a 32×32 bitmap). It is the set scikit-learn ships as
``load_digits``; tinygan carries its own copy (``digits.npz``, 45 kB) so nothing is
downloaded and scikit-learn is not needed. Attribution: ``DIGITS_LICENSE.txt``.

* :func:`load_digits` — images (N, 1, 8, 8) scaled to [−1, 1] (for a tanh generator)
  or [0, 1], and labels.
* :func:`train_test_split` — a deterministic, seeded, class-balanced 50/50 split.
"""

from __future__ import annotations

import hashlib
import os

from .. import backend

__all__ = ["DIGITS_SHA256", "DigitsChecksumError", "digits_path", "load_digits_raw",
           "load_digits", "train_test_split"]

np = backend.numpy

#: SHA-256 of ``images.tobytes() + labels.tobytes()`` (uint8, C order).
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
NUM_CLASSES = 10
MAX_VALUE = 16


class DigitsChecksumError(RuntimeError):
    """The packaged digits file does not hold the data it should."""


def digits_path():
    """Where the packaged ``digits.npz`` lives."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")


def _sha256(images, labels):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()


def load_digits_raw(path=None):
    """The packaged arrays as stored: uint8 images (1797, 8, 8) in 0..16, uint8 labels.

    The content is checked against :data:`DIGITS_SHA256`; a mismatch raises
    :class:`DigitsChecksumError` (a damaged install, or a file edited by hand).
    """
    path = digits_path() if path is None else path
    with np.load(path) as f:
        images, labels = f["images"], f["labels"]
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DigitsChecksumError(f"{path}: expected uint8 arrays, got {images.dtype} and "
                                  f"{labels.dtype}")
    digest = _sha256(images, labels)
    if digest != DIGITS_SHA256:
        raise DigitsChecksumError(f"{path}: SHA-256 of the data is {digest}, expected "
                                  f"{DIGITS_SHA256}; reinstall tinygan")
    return images, labels


def load_digits(scale="tanh", dtype="float32"):
    """The digits as images (N, 1, 8, 8) and int64 labels (N,), on the current backend.

    Parameters
    ----------
    scale : ``"tanh"`` maps 0..16 to [−1, 1] (``x/8 − 1``), matching a generator with a
        tanh output; ``"unit"`` maps to [0, 1] (``x/16``).
    dtype : the images' dtype (float32 to train, float64 for gradchecks).

    Shapes: images (1797, 1, 8, 8) — NCHW with one channel; labels (1797,).
    """
    images, labels = load_digits_raw()
    x = images[:, None, :, :].astype(dtype)  # (N, 1, 8, 8)
    half = x.dtype.type(MAX_VALUE / 2)
    if scale == "tanh":
        x = x / half - x.dtype.type(1)
    elif scale == "unit":
        x = x / x.dtype.type(MAX_VALUE)
    else:
        raise ValueError(f"load_digits: scale must be 'tanh' or 'unit', got {scale!r}")
    return backend.asarray(x), backend.asarray(labels.astype(np.int64))


def train_test_split(labels, seed=0, test_fraction=0.5):
    """Deterministic class-balanced split: (train_idx, test_idx) as host int64 arrays.

    Within each class the indices are shuffled by a generator seeded with ``seed`` and
    the first ``round(test_fraction · n_class)`` go to the test half, so both halves hold
    every digit in the same proportion. The same ``seed`` always gives the same split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got "
                         f"{test_fraction}")
    y = backend.to_numpy(labels).astype(np.int64)
    gen = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        gen.shuffle(idx)
        k = int(round(test_fraction * idx.size))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
