"""BatchNorm: gradient checks in train and eval mode for (N, D) and (N, C, H, W),
per-channel statistics, running statistics, PyTorch cross-checks and errors.

Derivation: derivations/03_transposed_convolution.md#batchnorm
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gradcheck import check_layer
from tinygan.layers.base import LayerInputError

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)


@st.composite
def bn_shapes(draw):
    """(N, D) or (N, C, *spatial) with 1, 2 or 3 spatial axes (L, H×W, D×H×W), M ≥ 3
    values per feature (mapped, not filtered).

    With M = 2 the normalised values are ±σ/√(σ² + ε) ≈ ±1 whatever x is, so dx is of
    order ε/σ² and float64 central differences cannot resolve it; M = 2 is covered by
    the PyTorch comparison instead."""
    rank = draw(st.sampled_from([0, 2, 2, 1, 3]))  # 2-D maps most often (DCGAN's)
    if rank == 0:
        return (draw(st.integers(3, 6)), draw(st.integers(1, 4)))
    spatial = tuple(draw(st.integers(1, 3 if rank < 3 else 2)) for _ in range(rank))
    N = max(draw(st.integers(1, 3)), -(-3 // int(np.prod(spatial))))
    return (N, draw(st.integers(1, 3)), *spatial)


def spread_input(shape, seed):
    """Values whose per-feature spread is bounded below (map, don't filter): each feature's
    M = N·H·W values are a shuffled 0, 1, …, M−1 plus noise in ±0.3, squeezed into a
    range of about 3, then scaled and shifted. Two nearly equal values would give σ² ≈ 0
    and a huge 1/√(σ² + ε); a large σ would make dx ~ γ/σ tiny; either way float64
    central differences would lose the digits the check needs."""
    gen = np.random.default_rng(seed)
    C = shape[1]
    M = int(np.prod(shape)) // C
    rows = np.stack([gen.permutation(M) for _ in range(C)], axis=1).astype(float)
    rows = (rows + gen.uniform(-0.3, 0.3, rows.shape)) * (3.0 / M)
    rows = rows * gen.uniform(0.5, 2.0, C) + gen.uniform(-3, 3, C)
    if len(shape) == 2:
        return rows
    N, C, *spatial = shape
    d = len(spatial)
    return np.ascontiguousarray(rows.reshape(N, *spatial, C).transpose(0, d + 1,
                                                                        *range(1, d + 1)))


def make_bn(C, seed, train=True, eps=1e-5):
    gen = np.random.default_rng(seed + 1)
    xp = backend.xp()
    bn = tg.BatchNorm(C, eps=eps, dtype="float64")
    bn.params["gamma"][...] = xp.asarray(gen.uniform(0.5, 2.0, C) * gen.choice([-1, 1], C))
    bn.params["beta"][...] = xp.asarray(gen.standard_normal(C))
    bn.running_mean = xp.asarray(gen.standard_normal(C))
    bn.running_var = xp.asarray(gen.uniform(0.5, 2.0, C))
    return bn if train else bn.eval()


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@given(shape=bn_shapes(), eps=st.sampled_from([1e-5, 1e-2, 0.5]), seed=seeds)
def test_batchnorm_gradcheck(xp, train, shape, eps, seed):
    bn = make_bn(shape[1], seed, train, eps)
    x = xp.asarray(spread_input(shape, seed))
    report = check_layer(bn, x, seed=seed)  # random dout: sum(BN(x)) has zero gradient
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dgamma", "dbeta"]


def test_gradient_of_sum_is_zero_so_tests_need_random_dout(xp):
    """Why every check above uses a random upstream gradient: with dout = 1 the true dx is
    exactly 0 in train mode, so even the wrong 'diagonal' backward γ·dout/σ would look
    plausible only if compared against it; the full formula gives 0."""
    bn = make_bn(3, 0)
    x = xp.asarray(spread_input((4, 3, 2, 2), 0))
    out = bn.forward(x)
    dx = bn.backward(xp.ones_like(out))
    assert float(abs(dx).max()) < 1e-12


@given(shape=bn_shapes(), seed=seeds)
def test_train_mode_normalises_per_channel(xp, shape, seed):
    """Statistics per channel over N and every spatial axis, not per position (N only): the
    output equals the formula with those axes, written out directly, at every rank."""
    bn = make_bn(shape[1], seed)
    x = spread_input(shape, seed)
    out = backend.to_numpy(bn.forward(xp.asarray(x)))
    axes = (0, *range(2, len(shape)))
    bshape = (1, -1) + (1,) * (len(shape) - 2)
    gamma = backend.to_numpy(bn.params["gamma"]).reshape(bshape)
    beta = backend.to_numpy(bn.params["beta"]).reshape(bshape)
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    np.testing.assert_allclose(out, gamma * (x - mu) / np.sqrt(var + 1e-5) + beta,
                               rtol=1e-12, atol=1e-12)
    if len(shape) > 2 and np.prod(shape[2:]) > 1 and shape[0] > 1:
        per_position = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5) * gamma + beta
        assert not np.allclose(out, per_position)


def test_running_statistics_update(xp):
    """running ← (1 − m)·running + m·batch, with the unbiased variance, as PyTorch."""
    gen = np.random.default_rng(0)
    x = gen.standard_normal((5, 2, 3, 3)) * 2 + 1
    bn = tg.BatchNorm(2, momentum=0.25, dtype="float64")
    bn.forward(xp.asarray(x))
    mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(backend.to_numpy(bn.running_mean), 0.25 * mu, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(bn.running_var), 0.75 + 0.25 * var,
                               rtol=1e-12)
    bn.clear_cache()
    bn.eval()  # eval: the running statistics are used and left unchanged
    rm, rv = backend.to_numpy(bn.running_mean).copy(), backend.to_numpy(bn.running_var).copy()
    out = backend.to_numpy(bn.forward(xp.asarray(x)))
    expected = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(bn.running_mean), rm)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)])
def test_dtype_preserved(xp, dtype, shape):
    bn = tg.BatchNorm(3, dtype=dtype)
    x = xp.asarray(np.random.default_rng(0).standard_normal(shape), dtype=dtype)
    out = bn.forward(x)
    dx = bn.backward(xp.asarray(np.random.default_rng(1).standard_normal(shape), dtype=dtype))
    assert out.dtype == dx.dtype == x.dtype and out.shape == dx.shape == x.shape
    assert bn.running_mean.dtype == bn.running_var.dtype == x.dtype
    assert all(g.dtype == x.dtype for g in bn.grads.values())
    bn.astype("float64")
    assert bn.running_var.dtype == bn.params["gamma"].dtype == np.float64


def test_accepts_channels_last_views_from_conv(xp):
    """A ConvTranspose2d output (an NCHW view of channels-last memory) gives the same result
    as a contiguous copy."""
    g = tg.ConvTranspose2d(3, 4, 4, 2, 1, rng=backend.rng(0), dtype="float64")
    y = g.forward(xp.asarray(np.random.default_rng(0).standard_normal((2, 3, 4, 4))))
    bn = tg.BatchNorm(4, dtype="float64")
    a = backend.to_numpy(bn.forward(y))
    bn.clear_cache()
    b = backend.to_numpy(bn.forward(xp.ascontiguousarray(y)))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@given(shape=bn_shapes(), two=st.booleans(), seed=seeds)
def test_batchnorm_matches_torch(train, shape, two, seed):
    import torch

    if two:  # the smallest batch train mode allows: M = 2 values per feature
        shape = (2, shape[1]) + (1,) * (len(shape) - 2)
    bn = make_bn(shape[1], seed, train)
    rm, rv = torch.tensor(bn.running_mean.copy()), torch.tensor(bn.running_var.copy())
    gen = np.random.default_rng(seed)
    x = spread_input(shape, seed)
    dout = gen.standard_normal(shape)
    out = bn.forward(x)
    dx = bn.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tg_ = torch.tensor(bn.params["gamma"], requires_grad=True)
    tb = torch.tensor(bn.params["beta"], requires_grad=True)
    tout = torch.nn.functional.batch_norm(tx, rm, rv, tg_, tb, training=train, momentum=0.1,
                                          eps=1e-5)
    tout.backward(torch.tensor(dout))
    for mine, theirs in [(out, tout), (dx, tx.grad), (bn.grads["gamma"], tg_.grad),
                         (bn.grads["beta"], tb.grad), (bn.running_mean, rm),
                         (bn.running_var, rv)]:
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-9, atol=1e-11)


def test_errors(xp):
    with pytest.raises(ValueError, match=r"BatchNorm needs a positive integer num_features"):
        tg.BatchNorm(0)
    with pytest.raises(ValueError, match=r"momentum"):
        tg.BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match=r"eps > 0"):
        tg.BatchNorm(3, eps=0)
    bn = tg.BatchNorm(3)
    with pytest.raises(LayerInputError, match=r"BatchNorm\(3\) expected input of shape "
                                              r"\(N, 3\) or \(N, 3, \*spatial\) .*got \(3,\)"):
        bn.forward(xp.zeros((3,), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"expected input of shape \(N, 3, \*, \*, \*\), "
                                              r"got \(4, 2, 2, 2, 2\)"):
        bn.forward(xp.zeros((4, 2, 2, 2, 2), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"expected input of shape \(N, 3, \*, \*\), "
                                              r"got \(4, 2, 5, 5\)"):
        bn.forward(xp.zeros((4, 2, 5, 5), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"more than one value per feature.*\(1, 3\)"):
        bn.forward(xp.zeros((1, 3), dtype="float32"))
    bn.eval()
    out = bn.forward(xp.zeros((1, 3), dtype="float32"))  # eval mode: one example is fine
    with pytest.raises(LayerInputError, match=r"expected dout of shape \(1, 3\)"):
        bn.backward(xp.zeros((2, 3), dtype="float32"))
    assert out.shape == (1, 3)
