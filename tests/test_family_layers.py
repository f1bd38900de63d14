"""The GAN family's layers: gradient checks over hypothesis-drawn configurations (with
@examples for the configurations our models use), loop oracles, PyTorch cross-checks
(forward and backward) and the error contract.

Derivations: derivations/07_cyclegan.md and derivations/06_conditional_gan.md, sections
"How the tests verify this".
"""

import doctest

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gradcheck import check_layer
from tinygan.layers import upsample as upsample_module
from tinygan.layers.base import LayerInputError

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)


def _random(shape, seed, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


# -- Upsample -------------------------------------------------------------------------------
@st.composite
def upsample_configs(draw):
    """(shape, s): 1, 2 or 3 spatial axes of size 1-3, factor 1-3."""
    spatial = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + tuple(
        draw(st.integers(1, 3)) for _ in range(spatial))
    return shape, draw(st.integers(1, 3))


@given(cfg=upsample_configs(), seed=seeds)
@example(cfg=((2, 4, 4, 4), 2), seed=0)    # the CycleGAN digits generator: 4×4 → 8×8
@example(cfg=((1, 2, 2, 3), 2), seed=1)    # non-square
def test_upsample_gradcheck(xp, cfg, seed):
    shape, s = cfg
    x = xp.asarray(_random(shape, seed))
    report = check_layer(tg.Upsample(scale_factor=s), x, seed=seed)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx"]


def test_upsample_backward_is_sum_pooling(xp):
    gen = np.random.default_rng(0)
    x, g = gen.standard_normal((2, 3, 3, 4)), gen.standard_normal((2, 3, 6, 8))
    up = tg.Upsample(2)
    y = backend.to_numpy(up.forward(xp.asarray(x)))
    dx = backend.to_numpy(up.backward(xp.asarray(g)))
    want_y, want_dx = np.empty_like(g), np.zeros_like(x)
    for i in range(6):
        for j in range(8):
            want_y[:, :, i, j] = x[:, :, i // 2, j // 2]
            want_dx[:, :, i // 2, j // 2] += g[:, :, i, j]
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-14, atol=1e-14)
    # adjoint identity <Ux, g> = <x, Uᵀg>
    assert abs((y * g).sum() - (x * dx).sum()) < 1e-12


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_upsample_dtype_and_layout(xp, dtype):
    """Layers preserve dtype; a channels-last view (a conv output) gives the same result."""
    x = xp.asarray(_random((2, 3, 4, 5), 0), dtype=dtype)
    up = tg.Upsample(2)
    y = up.forward(x)
    dx = up.backward(xp.ones_like(y))
    assert y.dtype == dx.dtype == x.dtype and dx.shape == x.shape and y.shape == (2, 3, 8, 10)
    view = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y2 = up.forward(view)
    up.clear_cache()
    np.testing.assert_array_equal(backend.to_numpy(y), backend.to_numpy(y2))


def test_upsample_doctest():
    result = doctest.testmod(upsample_module, verbose=False)
    assert result.attempted >= 1 and result.failed == 0


@needs_torch
@pytest.mark.torch
@given(cfg=upsample_configs(), seed=seeds)
@example(cfg=((2, 4, 4, 4), 2), seed=0)
def test_upsample_matches_torch(cfg, seed):
    import torch

    shape, s = cfg
    x, g = _random(shape, seed), _random(tuple(shape[:2]) + tuple(d * s for d in shape[2:]),
                                         seed + 1)
    up = tg.Upsample(scale_factor=s)
    y, dx = up.forward(x), None
    dx = up.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.Upsample(scale_factor=s, mode="nearest")(tx)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_upsample_errors(xp):
    with pytest.raises(ValueError, match=r"Upsample needs an integer scale_factor ≥ 1, got 1.5"):
        tg.Upsample(1.5)
    with pytest.raises(ValueError, match=r"scale_factor ≥ 1, got 0"):
        tg.Upsample(0)
    with pytest.raises(ValueError, match=r"mode='nearest' only, got mode='bilinear'"):
        tg.Upsample(2, mode="bilinear")
    assert tg.Upsample(2.0).scale_factor == 2
    up = tg.Upsample(2)
    with pytest.raises(LayerInputError, match=r"Upsample\(scale_factor=2\) expected input of "
                                              r"shape \(N, C, H, W\).*got \(4, 3\)"):
        up.forward(xp.zeros((4, 3), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"floating-point array, got dtype int64"):
        up.forward(xp.zeros((1, 1, 2, 2), dtype="int64"))
    up.forward(xp.zeros((1, 1, 2, 2), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"expected dout of shape \(1, 1, 4, 4\)"):
        up.backward(xp.zeros((1, 1, 2, 2), dtype="float32"))
    with pytest.raises(RuntimeError, match=r"without a matching forward"):
        up.backward(xp.zeros((1, 1, 4, 4), dtype="float32"))


# -- ReflectionPad2d ------------------------------------------------------------------------
@st.composite
def pad_configs(draw):
    """(shape, (l, r, t, b)) with each padding < the size it pads (mapped, not filtered)."""
    N, C, H, W = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 4)),
                  draw(st.integers(1, 4)))
    l, r = (draw(st.integers(0, 3)) % W for _ in range(2))
    t, b = (draw(st.integers(0, 3)) % H for _ in range(2))
    return (N, C, H, W), (l, r, t, b)


@given(cfg=pad_configs(), seed=seeds)
@example(cfg=((2, 2, 8, 8), (1, 1, 1, 1)), seed=0)   # the digits generator at 8×8
@example(cfg=((2, 3, 4, 4), (1, 1, 1, 1)), seed=1)   # its residual blocks at 4×4
@example(cfg=((1, 1, 3, 4), (3, 2, 2, 1)), seed=2)   # every side different, at the limit
def test_reflection_pad_gradcheck(xp, cfg, seed):
    shape, pads = cfg
    report = check_layer(tg.ReflectionPad2d(pads), xp.asarray(_random(shape, seed)), seed=seed)
    assert report.max_rel_error < 1e-6, str(report)


@needs_torch
@pytest.mark.torch
@given(cfg=pad_configs(), seed=seeds)
@example(cfg=((2, 2, 8, 8), (1, 1, 1, 1)), seed=0)
def test_reflection_pad_matches_numpy_and_torch(cfg, seed):
    import torch

    shape, (l, r, t, b) = cfg
    x = _random(shape, seed)
    layer = tg.ReflectionPad2d((l, r, t, b))
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), mode="reflect"))
    g = _random(y.shape, seed + 1)
    dx = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.ReflectionPad2d((l, r, t, b))(tx)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_reflection_pad_errors(xp):
    with pytest.raises(ValueError, match=r"ReflectionPad2d needs a padding ≥ 0.*got \(1, 2\)"):
        tg.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match=r"got -1"):
        tg.ReflectionPad2d(-1)
    layer = tg.ReflectionPad2d(2)
    with pytest.raises(LayerInputError, match=r"ReflectionPad2d\(2\): each padding must be "
                                              r"smaller than the size it pads.*\(1, 1, 2, 5\)"):
        layer.forward(xp.zeros((1, 1, 2, 5), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"expected input of shape 4-D, got \(2, 5\)"):
        layer.forward(xp.zeros((2, 5), dtype="float32"))
    y = layer.forward(xp.zeros((1, 1, 3, 3), dtype="float32"))
    assert y.shape == (1, 1, 7, 7) and y.dtype == np.float32
    with pytest.raises(LayerInputError, match=r"expected dout of shape \(1, 1, 7, 7\)"):
        layer.backward(xp.zeros((1, 1, 3, 3), dtype="float32"))


def test_padding_doctest():
    from tinygan.layers import padding

    result = doctest.testmod(padding, verbose=False)
    assert result.attempted >= 1 and result.failed == 0


# -- InstanceNorm2d -------------------------------------------------------------------------
@st.composite
def in_shapes(draw):
    """(N, C, H, W) with H·W ≥ 3 (mapped): with 2 pixels x̂ = ±1 whatever x is and float64
    differences cannot resolve dx (as for BatchNorm with M = 2; torch covers H·W = 2)."""
    H = draw(st.integers(1, 3))
    W = max(draw(st.integers(1, 3)), -(-3 // H))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)


def spread_images(shape, seed):
    """Each (n, c) channel: a shuffled 0..M−1 plus noise in ±0.3, scaled to a range of ~3,
    then scaled and shifted (map, don't filter): a bounded-below spread keeps 1/σ sane."""
    gen = np.random.default_rng(seed)
    N, C, H, W = shape
    M = H * W
    v = np.stack([gen.permutation(M) for _ in range(N * C)]).astype(float)
    v = (v + gen.uniform(-0.3, 0.3, v.shape)) * (3.0 / M)
    v = v * gen.uniform(0.5, 2.0, (N * C, 1)) + gen.uniform(-3, 3, (N * C, 1))
    return v.reshape(N, C, H, W)


def make_in(C, seed, affine, eps=1e-5):
    layer = tg.InstanceNorm2d(C, eps=eps, affine=affine, dtype="float64")
    if affine:
        gen = np.random.default_rng(seed + 1)
        xp = backend.xp()
        layer.params["gamma"][...] = xp.asarray(gen.uniform(0.5, 2.0, C) *
                                                gen.choice([-1, 1], C))
        layer.params["beta"][...] = xp.asarray(gen.standard_normal(C))
    return layer


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@given(shape=in_shapes(), eps=st.sampled_from([1e-5, 1e-2, 0.5]), seed=seeds)
@example(shape=(2, 4, 8, 8), eps=1e-5, seed=0)   # the digits generator's first block
@example(shape=(2, 8, 2, 2), eps=1e-5, seed=1)   # the PatchGAN's last normalised map
def test_instance_norm_gradcheck(xp, affine, shape, eps, seed):
    layer = make_in(shape[1], seed, affine, eps)
    report = check_layer(layer, xp.asarray(spread_images(shape, seed)), seed=seed,
                         max_checks=40)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == (["dx", "dgamma", "dbeta"] if affine
                                                 else ["dx"])


def test_instance_norm_statistics_per_image(xp):
    x = spread_images((3, 2, 3, 4), 0)
    layer = make_in(2, 0, affine=True)
    out = backend.to_numpy(layer.forward(xp.asarray(x)))
    mu, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    gamma = backend.to_numpy(layer.params["gamma"]).reshape(1, -1, 1, 1)
    beta = backend.to_numpy(layer.params["beta"]).reshape(1, -1, 1, 1)
    np.testing.assert_allclose(out, gamma * (x - mu) / np.sqrt(var + 1e-5) + beta, rtol=1e-12,
                               atol=1e-12)
    # another image in the batch does not change this one's output (unlike BatchNorm)
    layer.backward(xp.asarray(np.zeros_like(x)))
    x2 = x.copy()
    x2[1:] = 10 * x2[1:] - 4
    out2 = backend.to_numpy(layer.forward(xp.asarray(x2)))
    np.testing.assert_allclose(out2[0], out[0], rtol=1e-12, atol=1e-12)
    # the gradient has no component along a per-(n, c) shift (plain variant)
    plain = make_in(2, 0, affine=False)
    plain.forward(xp.asarray(x))
    dx = backend.to_numpy(plain.backward(xp.asarray(np.random.default_rng(0).standard_normal(
        x.shape))))
    np.testing.assert_allclose(dx.sum(axis=(2, 3)), 0, atol=1e-12)
    plain.eval()  # no running statistics: eval mode normalises the same way
    np.testing.assert_allclose(backend.to_numpy(plain.forward(xp.asarray(x))),
                               (x - mu) / np.sqrt(var + 1e-5), rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@given(shape=in_shapes(), two=st.booleans(), seed=seeds)
def test_instance_norm_matches_torch(affine, shape, two, seed):
    import torch

    if two:  # the smallest map train mode allows: two pixels
        shape = shape[:2] + (1, 2)
    layer = make_in(shape[1], seed, affine)
    x, g = spread_images(shape, seed), np.random.default_rng(seed).standard_normal(shape)
    y = layer.forward(x)
    dx = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.params["gamma"], requires_grad=True) if affine else None
    tb = torch.tensor(layer.params["beta"], requires_grad=True) if affine else None
    ty = torch.nn.functional.instance_norm(tx, weight=tw, bias=tb, eps=1e-5)
    ty.backward(torch.tensor(g))
    pairs = [(y, ty), (dx, tx.grad)]
    if affine:
        pairs += [(layer.grads["gamma"], tw.grad), (layer.grads["beta"], tb.grad)]
    for mine, theirs in pairs:
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_instance_norm_dtype(xp, dtype):
    layer = tg.InstanceNorm2d(3, affine=True, dtype=dtype)
    x = xp.asarray(_random((2, 3, 4, 4), 0), dtype=dtype)
    y = layer.forward(x)
    dx = layer.backward(xp.asarray(_random((2, 3, 4, 4), 1), dtype=dtype))
    assert y.dtype == dx.dtype == x.dtype and dx.shape == x.shape
    assert all(g.dtype == x.dtype for g in layer.grads.values())


def test_instance_norm_errors(xp):
    with pytest.raises(ValueError, match=r"InstanceNorm2d needs a positive integer "
                                         r"num_features, got 0"):
        tg.InstanceNorm2d(0)
    with pytest.raises(ValueError, match=r"eps > 0"):
        tg.InstanceNorm2d(3, eps=0)
    with pytest.raises(ValueError, match=r"track_running_stats=True\) is not implemented"):
        tg.InstanceNorm2d(3, track_running_stats=True)
    layer = tg.InstanceNorm2d(3)
    assert repr(layer) == "InstanceNorm2d(3)" and layer.params == {}
    with pytest.raises(LayerInputError, match=r"InstanceNorm2d\(3\) expected input of shape "
                                              r"\(N, 3, \*, \*\), got \(2, 4, 5, 5\)"):
        layer.forward(xp.zeros((2, 4, 5, 5), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"more than one pixel per channel.*\(2, 3, 1, 1\)"):
        layer.forward(xp.zeros((2, 3, 1, 1), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"float32 parameters but received float64"):
        tg.InstanceNorm2d(3, affine=True).forward(xp.zeros((2, 3, 2, 2)))


# -- Embedding ------------------------------------------------------------------------------
@st.composite
def embedding_configs(draw):
    """(K, D, ids shape): ids of 1 or 2 dims with at least one repeated id (mapped: the
    batch is larger than the number of classes, so a repeat is guaranteed)."""
    K, D = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    n = K + 1 + draw(st.integers(0, 4))
    shape = (n,) if draw(st.booleans()) else (n, draw(st.integers(1, 2)))
    return K, D, shape


@given(cfg=embedding_configs(), seed=seeds)
@example(cfg=(10, 10, (32,)), seed=0)   # the cGAN generator's table over a batch
def test_embedding_gradcheck(xp, cfg, seed):
    K, D, shape = cfg
    layer = tg.Embedding(K, D, rng=backend.rng(seed), dtype="float64")
    ids = xp.asarray(np.random.default_rng(seed).integers(0, K, shape))
    assert len(np.unique(backend.to_numpy(ids))) < ids.size  # repeats are in every draw
    report = check_layer(layer, ids, seed=seed)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dW"]


def test_embedding_repeated_ids_accumulate(xp):
    gen = np.random.default_rng(0)
    ids = np.array([3, 1, 3, 3, 0, 1])
    g = gen.standard_normal((6, 4))
    layer = tg.Embedding(5, 4, rng=backend.rng(0), dtype="float64")
    out = layer.forward(xp.asarray(ids))
    np.testing.assert_array_equal(backend.to_numpy(out), backend.to_numpy(layer.params["W"])[ids])
    assert layer.backward(xp.asarray(g)) is None
    E = np.eye(5)[ids]                                            # one-hot, (N, K)
    np.testing.assert_allclose(backend.to_numpy(layer.grads["W"]), E.T @ g, rtol=1e-14)
    wrong = np.zeros((5, 4))
    wrong[ids] += g                                               # keeps one row per id
    assert not np.allclose(wrong, E.T @ g)


@needs_torch
@pytest.mark.torch
@given(cfg=embedding_configs(), seed=seeds)
def test_embedding_matches_torch(cfg, seed):
    import torch

    K, D, shape = cfg
    layer = tg.Embedding(K, D, rng=backend.rng(seed), dtype="float64")
    gen = np.random.default_rng(seed)
    ids = gen.integers(0, K, shape)
    g = gen.standard_normal(shape + (D,))
    y = layer.forward(ids)
    layer.backward(g)
    emb = torch.nn.Embedding(K, D, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(layer.params["W"]))
    ty = emb(torch.tensor(ids))
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_allclose(layer.grads["W"], emb.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-12)


def test_embedding_errors(xp):
    with pytest.raises(ValueError, match=r"Embedding needs a positive integer num_embeddings, "
                                         r"got 0"):
        tg.Embedding(0, 3, rng=backend.rng(0))
    with pytest.raises(ValueError, match=r"explicit rng"):
        tg.Embedding(3, 3)
    layer = tg.Embedding(10, 4, rng=backend.rng(0))
    assert repr(layer) == "Embedding(10, 4)" and layer.params["W"].shape == (10, 4)
    with pytest.raises(LayerInputError, match=r"Embedding\(10, 4\) expected an integer array "
                                              r"of class ids, got dtype float32"):
        layer.forward(xp.zeros(3, dtype="float32"))
    with pytest.raises(LayerInputError, match=r"ids in \[0, 10\), got values from -1 to 10"):
        layer.forward(xp.asarray(np.array([-1, 3, 10])))
    layer.forward(xp.asarray(np.array([1, 2])))
    with pytest.raises(LayerInputError, match=r"expected dout of shape \(2, 4\)"):
        layer.backward(xp.zeros((2, 5), dtype="float32"))


# -- Residual -------------------------------------------------------------------------------
def _cyclegan_block(C, seed, dtype="float64"):
    """CycleGAN's block. No conv bias: instance norm removes it (its gradient is exactly
    0, which the official code computes anyway)."""
    r = backend.rng(seed)
    return tg.Residual(tg.ReflectionPad2d(1),
                       tg.Conv2d(C, C, 3, rng=r, init=0.5, bias=False, dtype=dtype),
                       tg.InstanceNorm2d(C), tg.ReLU(), tg.ReflectionPad2d(1),
                       tg.Conv2d(C, C, 3, rng=r, init=0.5, bias=False, dtype=dtype),
                       tg.InstanceNorm2d(C))


@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(2, 4), seed=seeds)
@example(N=2, C=4, H=4, seed=0)   # the digits generator's blocks
def test_residual_gradcheck(xp, N, C, H, seed):
    block = _cyclegan_block(C, seed)
    x = xp.asarray(spread_images((N, C, H, H + 1), seed))
    report = check_layer(block, x, seed=seed, max_checks=30)
    assert report.max_rel_error < 1e-6, str(report)
    # the identity path: dx = dout + J_Fᵀ dout
    g = xp.asarray(_random(x.shape, seed + 2))
    block.forward(x)
    dx = block.backward(g)
    inner = tg.Sequential(*block.layers)
    inner.forward(x)
    np.testing.assert_allclose(backend.to_numpy(dx), backend.to_numpy(g + inner.backward(g)),
                               rtol=1e-12, atol=1e-12)


def test_residual_params_and_errors(xp):
    block = _cyclegan_block(2, 0, dtype="float32")
    assert list(block.params) == ["1.W", "5.W"]
    assert block.params["1.W"] is block[1].params["W"]
    assert repr(block).startswith("Residual(ReflectionPad2d(1), Conv2d(2→2, k=3)")
    bad = tg.Residual(tg.Conv2d(2, 2, 3, rng=backend.rng(0)))
    with pytest.raises(LayerInputError, match=r"turn input of shape \(1, 2, 4, 4\) into "
                                              r"\(1, 2, 2, 2\); out = x \+ F\(x\) needs F"):
        bad.forward(xp.zeros((1, 2, 4, 4), dtype="float32"))
