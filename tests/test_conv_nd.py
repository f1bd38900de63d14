"""The convolution of any rank (ConvNd, ConvTransposeNd): float64 gradient checks and PyTorch
cross-checks at ranks 1, 2 and 3, with per-axis kernel, stride, padding and output padding.

The 2-D layers' own corner-by-corner tests are in test_conv.py and test_conv_phases.py;
here every rank goes through the same checks, with hypothesis drawing a different K, S, P
(and O) on each axis, so a bug that swaps or merges axes cannot hide behind square
hyperparameters. The configurations tinygan's 3D-GAN and shape classifier use are
@examples. Derivation: derivations/03_transposed_convolution.md#any-rank.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gradcheck import check_layer

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)
# a third of the profile's examples per test (10 in CI): these 15 tests share what test_conv.py
# checks at rank 2 in depth, and the CI test step has a time budget
lean = settings(max_examples=max(3, settings.default.max_examples // 3))
CONV = {1: tg.Conv1d, 2: tg.Conv2d, 3: tg.Conv3d}
CONVT = {1: tg.ConvTranspose1d, 2: tg.ConvTranspose2d, 3: tg.ConvTranspose3d}


@st.composite
def axis_convT(draw, max_size):
    """(H, K, S, P, O) for one axis, with 0 ≤ O < S and a positive output size."""
    H, K, S = draw(st.integers(1, max_size)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    O = draw(st.integers(0, 2)) % S
    P = draw(st.integers(0, 2)) % ((S * (H - 1) + K + O - 1) // 2 + 1)
    return H, K, S, P, O


@st.composite
def axis_conv(draw, max_extra):
    """(H, K, S, P) for one axis with H + 2P ≥ K."""
    K, S, P = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    return max(1, K - 2 * P) + draw(st.integers(0, max_extra)), K, S, P


def convT_nd(rank, max_size=3):
    """(N, C_in, C_out, axes): axes a list of ``rank`` (H, K, S, P, O)."""
    return st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3),
                     st.lists(axis_convT(max_size), min_size=rank, max_size=rank))


def conv_nd(rank, max_extra=3):
    """(N, C_in, C_out, axes): axes a list of ``rank`` (H, K, S, P)."""
    return st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3),
                     st.lists(axis_conv(max_extra), min_size=rank, max_size=rank))


# the 3-D layers of tinygan's models (G and D of models/gan3d.py, the judge of metrics.py),
# with the channels cut to keep the checks short: (N, C_in, C_out, axes)
GAN3D_CONVT = [(2, 3, 2, [(1, 4, 1, 0, 0)] * 3),     # G: z (1³) → 4³
               (1, 2, 1, [(4, 4, 2, 1, 0)] * 3)]     # G: 4³ → 8³ (and 8³ → 16³)
GAN3D_CONV = [(1, 1, 2, [(8, 4, 2, 1)] * 3),         # D and the judge: 16³ → 8³, at 8³
              (2, 2, 1, [(4, 4, 1, 0)] * 3)]         # D: 4³ → 1³ (the logit)


def _randomise(layer, seed):
    """Weights pushed ≥ 0.1 from zero and a non-zero bias, so no gradient entry is tiny."""
    gen = np.random.default_rng(seed)
    W = gen.standard_normal(layer.params["W"].shape) * 0.5
    layer.params["W"][...] = backend.xp().asarray(np.where(W >= 0, W + 0.1, W - 0.1))
    if "b" in layer.params:
        layer.params["b"][...] = backend.xp().asarray(gen.standard_normal(layer.out_channels))
    return layer


def build(cfg, transposed, seed, bias=True):
    N, C_in, C_out, axes = cfg
    rank = len(axes)
    K, S, P = ([a[i] for a in axes] for i in (1, 2, 3))
    kw = {"output_padding": [a[4] for a in axes]} if transposed else {}
    cls = (CONVT if transposed else CONV)[rank]
    layer = cls(C_in, C_out, tuple(K), stride=tuple(S), padding=tuple(P), bias=bias,
                rng=backend.rng(seed), dtype="float64", **kw)
    shape = (N, C_in, *(a[0] for a in axes))
    return _randomise(layer, seed), shape


def _out_shape(layer, shape):
    return (shape[0], layer.out_channels,
            *(layer.output_size(h, axis=a) for a, h in enumerate(shape[2:])))


def _gradcheck(xp, cfg, transposed, seed):
    layer, shape = build(cfg, transposed, seed)
    gen = np.random.default_rng(seed + 1)
    x = xp.asarray(gen.uniform(-2, 2, shape))
    dout = gen.standard_normal(_out_shape(layer, shape))
    dout = xp.asarray(np.where(dout >= 0, dout + 0.1, dout - 0.1))
    report = check_layer(layer, x, seed=seed, max_checks=40, dout=dout)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dW", "db"]


# -- float64 gradient checks, every rank --------------------------------------------------------
@lean
@given(cfg=convT_nd(1, max_size=5), seed=seeds)
def test_conv_transpose1d_gradcheck(xp, cfg, seed):
    _gradcheck(xp, cfg, True, seed)


@lean
@given(cfg=convT_nd(2), seed=seeds)
def test_conv_transpose2d_gradcheck_per_axis_hyperparameters(xp, cfg, seed):
    _gradcheck(xp, cfg, True, seed)


@lean
@example(cfg=GAN3D_CONVT[0], seed=0)
@example(cfg=GAN3D_CONVT[1], seed=1)
@given(cfg=convT_nd(3, max_size=2), seed=seeds)
def test_conv_transpose3d_gradcheck(xp, cfg, seed):
    _gradcheck(xp, cfg, True, seed)


@lean
@given(cfg=conv_nd(1, max_extra=5), seed=seeds)
def test_conv1d_gradcheck(xp, cfg, seed):
    _gradcheck(xp, cfg, False, seed)


@lean
@given(cfg=conv_nd(2), seed=seeds)
def test_conv2d_gradcheck_per_axis_hyperparameters(xp, cfg, seed):
    _gradcheck(xp, cfg, False, seed)


@lean
@example(cfg=GAN3D_CONV[0], seed=0)
@example(cfg=GAN3D_CONV[1], seed=1)
@given(cfg=conv_nd(3, max_extra=2), seed=seeds)
def test_conv3d_gradcheck(xp, cfg, seed):
    _gradcheck(xp, cfg, False, seed)


# -- PyTorch cross-checks, every rank -----------------------------------------------------------
def _matches_torch(cfg, transposed, seed, bias):
    import torch

    layer, shape = build(cfg, transposed, seed, bias=bias)
    rank = len(cfg[3])
    gen = np.random.default_rng(seed + 1)
    x = gen.standard_normal(shape)
    out = layer.forward(x)
    dout = gen.standard_normal(out.shape)
    dx = layer.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True) if bias else None
    K, S, P = ([a[i] for a in cfg[3]] for i in (1, 2, 3))
    if transposed:
        fn = getattr(torch.nn.functional, f"conv_transpose{rank}d")
        tout = fn(tx, tW, tb, stride=S, padding=P, output_padding=[a[4] for a in cfg[3]])
    else:
        fn = getattr(torch.nn.functional, f"conv{rank}d")
        tout = fn(tx, tW, tb, stride=S, padding=P)
    tout.backward(torch.tensor(dout))
    pairs = [(out, tout), (dx, tx.grad), (layer.grads["W"], tW.grad)]
    pairs += [(layer.grads["b"], tb.grad)] if bias else []
    for mine, theirs in pairs:
        assert mine.shape == tuple(theirs.shape)
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("rank", [1, 2, 3])
@lean
@given(cfg=st.data(), bias=st.booleans(), seed=seeds)
def test_conv_transpose_matches_torch(rank, cfg, bias, seed):
    _matches_torch(cfg.draw(convT_nd(rank, max_size=4 if rank < 3 else 3)), True, seed, bias)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("rank", [1, 2, 3])
@lean
@given(cfg=st.data(), bias=st.booleans(), seed=seeds)
def test_conv_matches_torch(rank, cfg, bias, seed):
    _matches_torch(cfg.draw(conv_nd(rank, max_extra=4 if rank < 3 else 3)), False, seed, bias)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("transposed, cfg", [(True, c) for c in GAN3D_CONVT]
                         + [(False, c) for c in GAN3D_CONV])
def test_the_3d_gan_layers_match_torch(transposed, cfg):
    _matches_torch(cfg, transposed, seed=0, bias=True)


# -- the adjoint identity holds at every rank ------------------------------------------------
@pytest.mark.parametrize("rank", [1, 2, 3])
@lean
@given(cfg=st.data(), seed=seeds)
def test_adjoint_identity_every_rank(xp, rank, cfg, seed):
    """⟨ConvT(x), y⟩ = ⟨x, Conv(y)⟩ with shared weights, per-axis hyperparameters."""
    N, C_in, C_out, axes = cfg.draw(convT_nd(rank))
    convT, shape = build((N, C_in, C_out, axes), True, seed, bias=False)
    conv = CONV[rank](C_out, C_in, convT.kernel_size, stride=convT.stride,
                      padding=convT.padding, bias=False, init="zeros", dtype="float64")
    conv.params["W"][...] = convT.params["W"]
    gen = np.random.default_rng(seed)
    x = xp.asarray(gen.standard_normal(shape))
    Tx = convT.forward(x)
    y = xp.asarray(gen.standard_normal(Tx.shape))
    Cy = conv.forward(y)
    assert Cy.shape == x.shape
    assert float((Tx * y).sum()) == pytest.approx(float((x * Cy).sum()), rel=1e-10, abs=1e-10)


# -- arguments and errors ---------------------------------------------------------------------
def test_int_and_tuple_arguments_agree_and_layouts_are_pytorchs():
    a = tg.Conv3d(2, 5, 4, stride=2, padding=1, rng=backend.rng(0))
    b = tg.Conv3d(2, 5, (4, 4, 4), stride=(2, 2, 2), padding=(1, 1, 1), rng=backend.rng(0))
    assert a.kernel_size == b.kernel_size == (4, 4, 4) and a.stride == (2, 2, 2)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert a.params["W"].shape == (5, 2, 4, 4, 4)
    assert tg.ConvTranspose1d(2, 5, 3, rng=backend.rng(0)).params["W"].shape == (2, 5, 3)
    assert repr(tg.Conv3d(1, 8, (3, 4, 4), stride=2, rng=backend.rng(0))) == \
        "Conv3d(1→8, k=(3, 4, 4), s=2)"


def test_errors_name_the_rank_and_what_was_received():
    r = backend.rng(0)
    with pytest.raises(ValueError, match=r"Conv3d needs kernel_size as an integer or a tuple "
                                         r"of 3 integers .* got \(4, 4\)"):
        tg.Conv3d(1, 2, (4, 4), rng=r)
    with pytest.raises(ValueError, match=r"ConvTranspose1d needs output_padding < stride"):
        tg.ConvTranspose1d(1, 1, 4, stride=2, output_padding=2, rng=r)
    with pytest.raises(tg.LayerInputError, match=r"Conv3d.*\(N, 2, \?, \?, \?\)|Conv3d.*got "
                                                 r"\(1, 2, 8, 8\)"):
        tg.Conv3d(2, 3, 4, rng=r).forward(np.zeros((1, 2, 8, 8), dtype="float32"))
    with pytest.raises(ValueError, match=r"input of size 2×2×2 padded by P=0 is 2×2×2, "
                                         r"smaller than the kernel K=4"):
        tg.Conv3d(1, 1, 4, rng=r).forward(np.zeros((1, 1, 2, 2, 2), dtype="float32"))
    with pytest.raises(TypeError, match="ConvNd has no spatial rank"):
        tg.layers.ConvNd(1, 1, 3, rng=r)
