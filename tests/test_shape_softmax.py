"""Reshape, Flatten and softmax cross-entropy: gradient checks, oracles, torch, errors.

Derivation: derivations/03_transposed_convolution.md#softmax-cross-entropy
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.gradcheck import check_function, check_layer
from tinygan.layers.base import LayerInputError
from tinygan.losses import softmax_cross_entropy

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)


# -- Reshape / Flatten --------------------------------------------------------------------------
@given(n=st.integers(1, 3), dims=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       seed=seeds)
def test_flatten_and_reshape_gradcheck_and_round_trip(xp, n, dims, seed):
    gen = np.random.default_rng(seed)
    x = xp.asarray(gen.standard_normal((n, *dims)))
    # dout bounded away from 0 (mapped): an element of 1e-5 is below float64's resolution
    # of the differences of a sum of O(1) terms
    g = gen.uniform(0.5, 1.5, (n, *dims)) * gen.choice([-1, 1], (n, *dims))
    flat, back = tg.Flatten(), tg.Reshape(tuple(dims))
    assert check_layer(flat, x, seed=seed, dout=xp.asarray(g.reshape(n, -1))).max_rel_error < 1e-6
    v = flat.forward(x)
    assert v.shape == (n, math.prod(dims))
    np.testing.assert_array_equal(np.asarray(tg.backend.to_numpy(back.forward(v))),
                                  tg.backend.to_numpy(x))
    assert check_layer(back, v, seed=seed, dout=xp.asarray(g)).max_rel_error < 1e-6
    dv = back.backward(x)  # the gradient is the inverse relabelling
    np.testing.assert_array_equal(tg.backend.to_numpy(flat.backward(dv)),
                                  tg.backend.to_numpy(x))


def test_flatten_matches_torch_order(xp):
    """C order, as torch.flatten(x, 1): channel-major, then rows, then columns."""
    x = xp.arange(2 * 3 * 2 * 2, dtype="float32").reshape(2, 3, 2, 2)
    out = tg.backend.to_numpy(tg.Flatten().forward(x))
    np.testing.assert_array_equal(out[1], np.arange(12, 24))


def test_shape_errors(xp):
    with pytest.raises(ValueError, match=r"Reshape needs a target shape of positive ints"):
        tg.Reshape((128, -1))
    r = tg.Reshape((128, 7, 7))
    with pytest.raises(LayerInputError, match=r"Reshape\(128×7×7\) cannot reshape input of "
                                              r"shape \(4, 100\).*expected 6272"):
        r.forward(xp.zeros((4, 100), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"Flatten\(\) expected input of shape \(N, ...\)"):
        tg.Flatten().forward(xp.zeros((4,), dtype="float32"))
    f = tg.Flatten()
    f.forward(xp.zeros((4, 2, 3), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"expected dout of shape \(4, 6\)"):
        f.backward(xp.zeros((4, 2, 3), dtype="float32"))


# -- softmax cross-entropy ------------------------------------------------------------------------
def naive_softmax_cross_entropy(z, y):
    """Scalar loops: −(1/N) Σ log p[n, y_n] with logsumexp = m + log1p(Σ_{k ≠ top} e^(z−m)),
    summed exactly (math.fsum); plain log(1 + t) would lose the digits of a confident row."""
    N, K = z.shape
    total = 0.0
    for n in range(N):
        top = max(range(K), key=lambda k: z[n, k])
        m = z[n, top]
        t = math.fsum(math.exp(z[n, k] - m) for k in range(K) if k != top)
        total += (m - z[n, y[n]]) + math.log1p(t)  # subtract first: no cancellation
    return total / N


@given(n=st.integers(1, 6), k=st.integers(1, 6), scale=st.floats(0.1, 5), seed=seeds)
def test_softmax_cross_entropy_gradcheck(xp, n, k, scale, seed):
    """Larger logits are covered by the oracle and torch tests below."""
    gen = np.random.default_rng(seed)
    z = gen.standard_normal((n, k)) * scale
    y = xp.asarray(gen.integers(0, k, n))
    report = check_function(lambda a: softmax_cross_entropy(a, y), xp.asarray(z),
                            names=["dlogits"], title="softmax_cross_entropy")
    assert report.max_rel_error < 1e-6, str(report)


@given(n=st.integers(1, 6), k=st.integers(1, 6), scale=st.floats(0.1, 30), seed=seeds)
def test_softmax_cross_entropy_matches_naive_loops(xp, n, k, scale, seed):
    gen = np.random.default_rng(seed)
    z = gen.standard_normal((n, k)) * scale
    y = gen.integers(0, k, n)
    loss, dz = softmax_cross_entropy(xp.asarray(z), xp.asarray(y))
    assert float(loss) == pytest.approx(naive_softmax_cross_entropy(z, y), rel=1e-12,
                                        abs=1e-15)
    # (p − onehot)/N, with p from the same scalar loops
    p = np.array([[math.exp(z[i, j] - max(z[i])) for j in range(k)] for i in range(n)])
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tg.backend.to_numpy(dz), (p - np.eye(k)[y]) / n, rtol=1e-10,
                               atol=1e-15)
    np.testing.assert_allclose(tg.backend.to_numpy(dz).sum(axis=1), 0, atol=1e-15)


def test_softmax_cross_entropy_is_stable_for_huge_logits(xp):
    z = xp.asarray([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]], dtype="float32")
    loss, dz = softmax_cross_entropy(z, xp.asarray([1, 2]))
    assert float(loss) == pytest.approx(1000.0, rel=1e-6)  # row 0 costs 2000, row 1 costs 0
    assert bool(xp.isfinite(dz).all()) and dz.dtype == z.dtype and loss.dtype == z.dtype
    np.testing.assert_allclose(tg.backend.to_numpy(dz), [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-7)


@needs_torch
@pytest.mark.torch
@given(n=st.integers(1, 6), k=st.integers(1, 6), seed=seeds)
def test_softmax_cross_entropy_matches_torch(n, k, seed):
    import torch

    gen = np.random.default_rng(seed)
    z, y = gen.standard_normal((n, k)) * 3, gen.integers(0, k, n)
    loss, dz = softmax_cross_entropy(z, y)
    tz = torch.tensor(z, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tz, torch.tensor(y))
    tloss.backward()
    assert float(loss) == pytest.approx(tloss.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(dz, tz.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_softmax_cross_entropy_errors(xp):
    z = xp.zeros((4, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels must be integer "
                                         r"class indices, got dtype float"):
        softmax_cross_entropy(z, xp.zeros(4))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(4,\) to match "
                                         r"logits \(4, 3\), got \(4, 3\)"):
        softmax_cross_entropy(z, xp.zeros((4, 3), dtype="int64"))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for 3 classes, got "
                                         r"values from 0 to 3"):
        softmax_cross_entropy(z, xp.asarray([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, K\)"):
        softmax_cross_entropy(xp.zeros(4, dtype="float32"), xp.asarray([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"logits must be a floating-point array"):
        softmax_cross_entropy(xp.zeros((4, 3), dtype="int64"), xp.asarray([0, 1, 2, 0]))
    loss, dz = softmax_cross_entropy(z, [0, 1, 2, 0])  # a plain list of ints is accepted
    assert float(loss) == pytest.approx(math.log(3), rel=1e-6)
