"""backend.over_rows: the elementwise passes and col2im run in blocks of rows on threads.

The blocks must cover the rows exactly once, and each layer that uses it must give the
same bits split as whole: the passes are elementwise (LeakyReLU/ReLU, BatchNorm's
centring, affine and input-gradient passes), copies (Conv2d's padding, im2col's gather)
or independent per image (col2im), and no reduction is split. Checked here at 2 and 3
threads with the size threshold lowered so that small arrays split, against the
one-thread path, forward and backward, parameters' gradients included. The float64
gradient checks and the PyTorch cross-checks of these layers run in their own files on
the one-thread path, which these tests show gives the same bits.
"""

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend
from tinygan.layers.conv import col2im


@pytest.fixture
def split_small(monkeypatch):
    """Split any array of a few elements: the threshold down to one byte."""
    monkeypatch.setattr(backend, "_MIN_CHUNK_BYTES", 1)
    yield
    backend.set_threads(1)


@pytest.mark.parametrize("k", [2, 3])
def test_blocks_cover_every_row_once(split_small, k):
    backend.set_threads(k)
    for n in (1, 2, 5, 7):
        x = np.arange(n * 3.0).reshape(n, 3)
        seen = np.zeros(n, dtype=int)

        def mark(rows, x):
            rows += 1                                     # a view of `seen`: counts visits
            x *= 2

        backend.over_rows(mark, seen, x)
        assert seen.tolist() == [1] * n, (n, k, seen)
        assert np.array_equal(x, 2 * np.arange(n * 3.0).reshape(n, 3))


def test_one_thread_and_small_arrays_are_one_call(monkeypatch):
    calls = []
    backend.over_rows(lambda a: calls.append(a.shape), np.zeros((8, 2)))
    backend.set_threads(2)
    try:
        backend.over_rows(lambda a: calls.append(a.shape), np.zeros((8, 2)))  # 128 bytes
    finally:
        backend.set_threads(1)
    assert calls == [(8, 2), (8, 2)]


def test_a_block_error_reaches_the_caller(split_small):
    backend.set_threads(2)

    def fail_second_half(a):
        if a[0] >= 4:
            raise RuntimeError("second block")

    with pytest.raises(RuntimeError, match="second block"):
        backend.over_rows(fail_second_half, np.arange(8))


def test_bad_thread_counts_are_refused():
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="positive integer"):
            backend.set_threads(bad)


def _same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _gap(a, b):
    return np.abs(a - b).max() if a.shape == b.shape else f"shapes {a.shape} {b.shape}"


def _run(make, x, k):
    """Output, input gradient and parameter gradients of a fresh layer at k threads."""
    backend.set_threads(k)
    layer = make()
    out = np.array(layer.forward(x))
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    dx = np.array(layer.backward(dout))
    return [out, dx] + [np.array(g) for g in layer.grads.values()]


def _layers():
    r = lambda: backend.rng(3)  # noqa: E731 - each layer gets the same weights
    return {
        "leaky_relu": (lambda: tg.layers.LeakyReLU(0.2), (6, 3, 5, 5)),
        "relu": (lambda: tg.layers.ReLU(), (6, 3, 5, 5)),
        "batchnorm": (lambda: tg.layers.BatchNorm(3), (6, 3, 5, 5)),
        "batchnorm_eval": (lambda: tg.layers.BatchNorm(3).eval(), (6, 3, 5, 5)),
        "batchnorm_dense": (lambda: tg.layers.BatchNorm(4), (7, 4)),
        "conv2d": (lambda: tg.layers.Conv2d(3, 4, 4, stride=2, padding=1, rng=r()),
                   (6, 3, 8, 8)),
        "conv_transpose2d": (lambda: tg.layers.ConvTranspose2d(3, 2, 4, stride=2, padding=1,
                                                               rng=r()), (6, 3, 4, 4)),
    }


@pytest.mark.parametrize("name", sorted(_layers()))
@pytest.mark.parametrize("k", [2, 3])
def test_split_layers_give_the_one_thread_bits(split_small, name, k):
    make, shape = _layers()[name]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x[0, 0] = 0.0                                         # the kink, too
    # split first: a lost block would leave what the allocator hands back, which after
    # the whole run can be that run's own (right) values
    split = _run(make, x, k)
    whole = _run(make, x, 1)
    for i, (a, b) in enumerate(zip(whole, split)):
        assert _same_bits(a, b), f"{name} at {k} threads, array {i}: max |Δ| {_gap(a, b)}"


def test_col2im_split_over_images_gives_the_whole_batch_bits(split_small):
    g = np.random.default_rng(1)
    cols = g.standard_normal((5 * 3 * 3, 16 * 2)).astype(np.float32)
    bias = g.standard_normal(2).astype(np.float32)
    backend.set_threads(3)
    split = col2im(cols, 4, 2, (3, 3), (6, 6), padding=1, bias=bias)
    backend.set_threads(1)
    whole = col2im(cols, 4, 2, (3, 3), (6, 6), padding=1, bias=bias)
    assert _same_bits(whole, split), f"max |Δ| {_gap(whole, split)}"
