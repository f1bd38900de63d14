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
