"""Conv2d and ConvTranspose2d: gradient checks, a naive loop oracle, the adjoint identity,
PyTorch cross-checks, and the error contract.

Derivation: derivations/03_transposed_convolution.md (section "How the tests verify this").
"""

import doctest

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gradcheck import check_layer
from tinygan.layers import conv as conv_module
from tinygan.layers.base import LayerInputError

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)


# -- hypothesis strategies: every drawn combination is valid (mapped, not filtered) ----------
@st.composite
def convT_configs(draw, max_size=4):
    """(N, C_in, C_out, H, W, K, S, P, O) with 0 ≤ O < S and a positive output size; DCGAN's
    K4 S2 P1 in a quarter of the draws (test_each_strategy_draws_every_corner)."""
    N, C_in, C_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    dcgan = draw(st.integers(0, 3)) == 3  # a quarter of the draws: DCGAN's K4 S2 P1
    K, S = (4, 2) if dcgan else (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    O = draw(st.integers(0, 2)) % S
    # S(min(H, W) − 1) + K − 2P + O ≥ 1  ⇔  P ≤ (S(min − 1) + K + O − 1) // 2
    P_max = (S * (min(H, W) - 1) + K + O - 1) // 2
    P = 1 if dcgan else draw(st.integers(0, 2)) % (P_max + 1)
    return N, C_in, C_out, H, W, K, S, P, O


@st.composite
def conv_configs(draw, max_extra=4):
    """(N, C_in, C_out, H, W, K, S, P) with H + 2P ≥ K (a positive output size); DCGAN's
    K4 S2 P1 in a quarter of the draws."""
    N, C_in, C_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 3:  # a quarter of the draws: DCGAN's K4 S2 P1
        K, S, P = 4, 2, 1
    else:
        K, S, P = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    H = max(1, K - 2 * P) + draw(st.integers(0, max_extra))
    W = max(1, K - 2 * P) + draw(st.integers(0, max_extra))
    return N, C_in, C_out, H, W, K, S, P


# -- explicit examples: every configuration a tinygan model uses, and the corners -------------
# (N, C_in, C_out, H, W, K, S, P, O). The model configurations are checked against the
# models themselves by test_every_model_conv_configuration_has_an_example below.
CONVT_EXAMPLES = [
    (2, 2, 1, 2, 2, 4, 2, 1, 0),    # DCGAN 8×8, G: ConvT(2w→w) on 2×2
    (2, 2, 1, 4, 4, 4, 2, 1, 0),    # DCGAN 8×8, G: ConvT(w→1) on 4×4
    (2, 2, 1, 7, 7, 4, 2, 1, 0),    # DCGAN 28×28, G: ConvT(2w→w) on 7×7
    (1, 1, 1, 14, 14, 4, 2, 1, 0),  # DCGAN 28×28, G: ConvT(w→1) on 14×14
    (1, 2, 2, 3, 2, 1, 2, 0, 0),    # K < S (gaps between patches), batch 1, H ≠ W
    (2, 1, 2, 2, 3, 2, 3, 0, 1),    # K < S with output_padding
    (1, 2, 3, 3, 4, 3, 2, 1, 1),    # output_padding > 0, odd kernel, batch 1
    (2, 3, 1, 1, 1, 3, 3, 0, 2),    # a 1×1 input, output_padding = S − 1
    (2, 2, 3, 3, 3, 3, 1, 1, 0),    # stride 1: a "same-size" transposed convolution
]
# (N, C_in, C_out, H, W, K, S, P)
CONV_EXAMPLES = [
    (2, 1, 2, 8, 8, 4, 2, 1),       # DCGAN 8×8, D: Conv(1→w) on 8×8
    (2, 2, 2, 4, 4, 4, 2, 1),       # DCGAN 8×8, D: Conv(w→2w) on 4×4
    (1, 1, 2, 28, 28, 4, 2, 1),     # DCGAN 28×28, D: Conv(1→w) on 28×28
    (1, 2, 1, 14, 14, 4, 2, 1),     # DCGAN 28×28, D: Conv(w→2w) on 14×14
    (1, 2, 2, 5, 6, 1, 2, 0),       # K < S (skipped pixels), batch 1
    (2, 1, 1, 7, 5, 2, 3, 1),       # K < S, padded
    (1, 1, 2, 6, 7, 3, 2, 0),       # (H + 2P − K) % S ≠ 0: the last input row is unused
    (2, 2, 1, 6, 9, 4, 3, 1),       # (H + 2P − K) % S ≠ 0 on both axes, S = 3
    (2, 3, 2, 4, 5, 3, 1, 1),       # stride 1, "same" padding
]


def with_examples(configs, **fixed):
    """@example(cfg=c, seed=i, **fixed) for every c: CI runs these whatever hypothesis draws."""
    def decorate(test):
        for i, cfg in enumerate(configs):
            test = example(cfg=cfg, seed=i, **fixed)(test)
        return test
    return decorate


def away_from_zero(a, margin=0.1):
    """Push values at least `margin` away from 0 (map, don't filter): a weight of 1e-4 on
    a tiny layer makes an element of dx so small that float64 differences are too coarse."""
    return np.where(a >= 0, a + margin, a - margin)


def make_convT(C_in, C_out, K, S, P, O, seed, bias=True, dtype="float64"):
    layer = tg.ConvTranspose2d(C_in, C_out, K, stride=S, padding=P, output_padding=O,
                               bias=bias, rng=backend.rng(seed), init=0.5, dtype=dtype)
    layer.params["W"][...] = backend.xp().asarray(
        away_from_zero(backend.to_numpy(layer.params["W"])))
    if bias:  # non-zero biases, so a wrong bias gradient cannot hide
        layer.params["b"][...] = backend.xp().asarray(
            np.random.default_rng(seed).standard_normal(C_out))
    return layer


def make_conv(C_in, C_out, K, S, P, seed, bias=True, dtype="float64"):
    layer = tg.Conv2d(C_in, C_out, K, stride=S, padding=P, bias=bias, rng=backend.rng(seed),
                      init=0.5, dtype=dtype)
    layer.params["W"][...] = backend.xp().asarray(
        away_from_zero(backend.to_numpy(layer.params["W"])))
    if bias:
        layer.params["b"][...] = backend.xp().asarray(
            np.random.default_rng(seed + 1).standard_normal(C_out))
    return layer


# -- the coverage is asserted, not assumed --------------------------------------------------
def _model_conv_configs():
    """(kind, H, W, K, S, P, O) of every conv layer in every model tinygan builds, read off
    a forward pass. A new model with conv layers goes into this list."""
    from tinygan.models.dcgan import DCGAN_SIZES, dcgan_pair

    models = []
    for size in DCGAN_SIZES:
        G, D, cfg = dcgan_pair(size, seed=0)
        models += [(G, (2, cfg["latent_dim"])), (D, (2, 1, size, size))]
    found = set()
    for model, shape in models:
        h = np.zeros(shape, dtype="float32")
        with tg.no_grad(model):
            for layer in model.layers:
                if isinstance(layer, (tg.Conv2d, tg.ConvTranspose2d)):
                    found.add((type(layer).__name__, h.shape[2], h.shape[3],
                               layer.kernel_size[0], layer.stride[0], layer.padding[0],
                               getattr(layer, "output_padding", (0,))[0]))
                h = layer.forward(h)
    return found


def test_every_model_conv_configuration_has_an_example():
    examples = {("ConvTranspose2d", H, W, K, S, P, O)
                for _, _, _, H, W, K, S, P, O in CONVT_EXAMPLES}
    examples |= {("Conv2d", H, W, K, S, P, 0) for _, _, _, H, W, K, S, P in CONV_EXAMPLES}
    used = _model_conv_configs()
    assert len(used) >= 8  # 2 sizes × (2 ConvT + 2 Conv)
    missing = used - examples
    assert not missing, f"add these (kind, H, W, K, S, P, O) to CONV(T)_EXAMPLES: {missing}"


CORNERS = {
    "K < S": lambda c: c[5] < c[6],
    "K > S": lambda c: c[5] > c[6],
    "S = 1": lambda c: c[6] == 1,
    "P > 0": lambda c: c[7] > 0,
    "batch 1": lambda c: c[0] == 1,
    "batch > 1": lambda c: c[0] > 1,
    "H ≠ W": lambda c: c[3] != c[4],
    "C_in ≠ C_out": lambda c: c[1] != c[2],
}
CONVT_CORNERS = {**CORNERS, "output_padding > 0": lambda c: c[8] > 0,
                 "K = 4, S = 2, P = 1": lambda c: c[5:9] == (4, 2, 1, 0)}
CONV_CORNERS = {**CORNERS, "(H + 2P − K) % S ≠ 0": lambda c: (c[3] + 2 * c[7] - c[5]) % c[6],
                "K = 4, S = 2, P = 1": lambda c: c[5:8] == (4, 2, 1)}


@pytest.mark.parametrize("strategy, corners", [
    (convT_configs(), CONVT_CORNERS), (convT_configs(max_size=7), CONVT_CORNERS),
    (conv_configs(), CONV_CORNERS), (conv_configs(max_extra=8), CONV_CORNERS)],
    ids=["convT", "convT-torch", "conv", "conv-torch"])
def test_each_strategy_draws_every_corner(strategy, corners):
    """Beyond the @examples, each strategy reaches each corner on its own within 200
    derandomized draws (a strategy that cannot draw K < S would make its random examples
    blind to it)."""
    drawn = []

    @settings(max_examples=200, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cfg=strategy)
    def draw(cfg):
        drawn.append(cfg)

    draw()
    for name, corner in corners.items():
        assert sum(map(corner, drawn)) >= 3, f"{name}: {sum(map(corner, drawn))} of {len(drawn)}"


def test_examples_cover_the_corners():
    for examples, corners in ((CONVT_EXAMPLES, CONVT_CORNERS), (CONV_EXAMPLES, CONV_CORNERS)):
        for name, corner in corners.items():
            assert any(corner(c) for c in examples), f"no explicit example with {name}"


# -- naive loop oracles (independent of im2col/col2im) ----------------------------------------
def naive_conv_transpose2d(x, W, b, S, P, O):
    """Every input pixel paints W[c_in] at stride S on a canvas; crop P; add b."""
    N, C_in, H, Wd = x.shape
    _, C_out, K, _ = W.shape
    H_out, W_out = S * (H - 1) + K - 2 * P + O, S * (Wd - 1) + K - 2 * P + O
    canvas = np.zeros((N, C_out, S * (H - 1) + K + O, S * (Wd - 1) + K + O))
    for n in range(N):
        for ci in range(C_in):
            for i in range(H):
                for j in range(Wd):
                    canvas[n, :, S * i:S * i + K, S * j:S * j + K] += x[n, ci, i, j] * W[ci]
    out = canvas[:, :, P:P + H_out, P:P + W_out]
    return out + (0 if b is None else b[None, :, None, None])


def naive_conv2d(x, W, b, S, P):
    """out[n, o, i, j] = b[o] + Σ pad(x)[n, :, S·i:S·i+K, S·j:S·j+K] · W[o]."""
    N, C_in, H, Wd = x.shape
    C_out, _, K, _ = W.shape
    xp_ = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    H_out, W_out = (H + 2 * P - K) // S + 1, (Wd + 2 * P - K) // S + 1
    out = np.zeros((N, C_out, H_out, W_out))
    for n in range(N):
        for o in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, o, i, j] = (xp_[n, :, S * i:S * i + K, S * j:S * j + K] * W[o]).sum()
    return out + (0 if b is None else b[None, :, None, None])


# -- gradient checks ------------------------------------------------------------------------
@with_examples(CONVT_EXAMPLES)
@given(cfg=convT_configs(), seed=seeds)
def test_conv_transpose2d_gradcheck(xp, cfg, seed):
    N, C_in, C_out, H, W, K, S, P, O = cfg
    layer = make_convT(C_in, C_out, K, S, P, O, seed)
    x = xp.asarray(np.random.default_rng(seed).uniform(-2, 2, (N, C_in, H, W)))
    dout = xp.asarray(away_from_zero(np.random.default_rng(seed + 2).standard_normal(
        (N, C_out, layer.output_size(H), layer.output_size(W)))))
    report = check_layer(layer, x, seed=seed, max_checks=60, dout=dout)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dW", "db"]


@with_examples(CONV_EXAMPLES)
@given(cfg=conv_configs(), seed=seeds)
def test_conv2d_gradcheck(xp, cfg, seed):
    N, C_in, C_out, H, W, K, S, P = cfg
    layer = make_conv(C_in, C_out, K, S, P, seed)
    x = xp.asarray(np.random.default_rng(seed).uniform(-2, 2, (N, C_in, H, W)))
    dout = xp.asarray(away_from_zero(np.random.default_rng(seed + 2).standard_normal(
        (N, C_out, layer.output_size(H), layer.output_size(W)))))
    report = check_layer(layer, x, seed=seed, max_checks=60, dout=dout)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dW", "db"]


def test_gradcheck_dcgan_shape_directional(xp):
    """The real DCGAN shape (k4 s2 p1, 7×7 → 14×14) with sampled elements."""
    layer = make_convT(8, 4, 4, 2, 1, 0, seed=3)
    x = xp.asarray(np.random.default_rng(3).standard_normal((2, 8, 7, 7)))
    report = check_layer(layer, x, seed=3, max_checks=40)
    assert report.max_rel_error < 1e-6, str(report)


# -- oracles independent of the gradient check ------------------------------------------------
@with_examples(CONVT_EXAMPLES, bias=True)
@given(cfg=convT_configs(), bias=st.booleans(), seed=seeds)
def test_conv_transpose2d_matches_naive_loops(xp, cfg, bias, seed):
    N, C_in, C_out, H, W, K, S, P, O = cfg
    layer = make_convT(C_in, C_out, K, S, P, O, seed, bias=bias)
    x = np.random.default_rng(seed).standard_normal((N, C_in, H, W))
    out = backend.to_numpy(layer.forward(xp.asarray(x)))
    Wn = backend.to_numpy(layer.params["W"])
    b = backend.to_numpy(layer.params["b"]) if bias else None
    expected = naive_conv_transpose2d(x, Wn, b, S, P, O)
    assert out.shape == expected.shape == (N, C_out, layer.output_size(H), layer.output_size(W))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@with_examples(CONV_EXAMPLES)
@given(cfg=conv_configs(), seed=seeds)
def test_conv2d_matches_naive_loops(xp, cfg, seed):
    N, C_in, C_out, H, W, K, S, P = cfg
    layer = make_conv(C_in, C_out, K, S, P, seed)
    x = np.random.default_rng(seed).standard_normal((N, C_in, H, W))
    out = backend.to_numpy(layer.forward(xp.asarray(x)))
    expected = naive_conv2d(x, backend.to_numpy(layer.params["W"]),
                            backend.to_numpy(layer.params["b"]), S, P)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def _adjoint_pair(cfg, seed):
    """A ConvTranspose2d and the Conv2d that shares its weights: the two sides of A and Aᵀ.

    The transpose's weight (C_in, C_out, K, K) is exactly Conv2d(C_out→C_in)'s layout.
    """
    N, C_in, C_out, H, W, K, S, P, O = cfg
    convT = make_convT(C_in, C_out, K, S, P, O, seed, bias=False)
    conv = tg.Conv2d(C_out, C_in, K, stride=S, padding=P, bias=False, init="zeros",
                     dtype="float64")
    conv.params["W"][...] = convT.params["W"]
    return convT, conv


@with_examples(CONVT_EXAMPLES)
@given(cfg=convT_configs(), seed=seeds)
def test_adjoint_identity(xp, cfg, seed):
    """⟨ConvT(x), y⟩ = ⟨x, Conv(y)⟩ with the same weights: ConvT multiplies by Aᵀ, Conv by A."""
    N, C_in, C_out, H, W, K, S, P, O = cfg
    convT, conv = _adjoint_pair(cfg, seed)
    gen = np.random.default_rng(seed)
    x = xp.asarray(gen.standard_normal((N, C_in, H, W)))
    Tx = convT.forward(x)
    y = xp.asarray(gen.standard_normal(Tx.shape))
    Cy = conv.forward(y)
    assert Cy.shape == x.shape  # the conv maps the transpose's output size back to H×W
    lhs, rhs = float((Tx * y).sum()), float((x * Cy).sum())
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


@with_examples(CONVT_EXAMPLES)
@given(cfg=convT_configs(), seed=seeds)
def test_each_backward_is_the_other_forward(xp, cfg, seed):
    """ConvT.backward(dy) = Conv.forward(dy) and Conv.backward(dx) = ConvT.forward(dx)."""
    N, C_in, C_out, H, W, K, S, P, O = cfg
    convT, conv = _adjoint_pair(cfg, seed)
    gen = np.random.default_rng(seed)
    x = xp.asarray(gen.standard_normal((N, C_in, H, W)))
    y = convT.forward(x)
    dy = xp.asarray(gen.standard_normal(y.shape))
    np.testing.assert_allclose(backend.to_numpy(convT.backward(dy)),
                               backend.to_numpy(conv.forward(dy)), rtol=1e-12, atol=1e-12)
    # conv's input had ConvT's output size, so its backward lands on that grid too
    g = xp.asarray(gen.standard_normal(x.shape))
    np.testing.assert_allclose(backend.to_numpy(conv.backward(g)),
                               backend.to_numpy(convT.forward(g)), rtol=1e-12, atol=1e-12)


def test_im2col_col2im_are_adjoint(xp):
    """⟨im2col(a), c⟩ = ⟨a, col2im(c)⟩: the gather and the scatter-add are transposes."""
    gen = np.random.default_rng(0)
    for K, S, Ho, Wo, C in [(4, 2, 3, 5, 2), (3, 1, 4, 4, 3), (2, 3, 2, 3, 1)]:
        Hp, Wp = S * (Ho - 1) + K + 1, S * (Wo - 1) + K  # one spare row: untouched by windows
        a = xp.asarray(gen.standard_normal((2, Hp, Wp, C)))
        c = xp.asarray(gen.standard_normal((2 * Ho * Wo, K * K * C)))
        cols = conv_module.im2col(a, K, S, (Ho, Wo))
        img = conv_module.col2im(c, K, S, (Ho, Wo), (Hp, Wp))
        assert cols.shape == c.shape and img.shape == a.shape
        assert float((cols * c).sum()) == pytest.approx(float((a * img).sum()), rel=1e-12)


# -- PyTorch cross-checks -----------------------------------------------------------------------
def _matches_torch(layer, x, torch_fn, seed):
    """Forward, dx, dW and db of ``layer`` equal torch's for the same input and upstream grad."""
    import torch

    out = layer.forward(x)
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
    dx = layer.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True)
    tout = torch_fn(tx, tW, tb)
    tout.backward(torch.tensor(dout))
    for mine, theirs in [(out, tout), (dx, tx.grad), (layer.grads["W"], tW.grad),
                         (layer.grads["b"], tb.grad)]:
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.torch
@with_examples(CONVT_EXAMPLES)
@given(cfg=convT_configs(max_size=7), seed=seeds)
def test_conv_transpose2d_matches_torch(cfg, seed):
    import torch

    N, C_in, C_out, H, W, K, S, P, O = cfg
    x = np.random.default_rng(seed).standard_normal((N, C_in, H, W))
    _matches_torch(make_convT(C_in, C_out, K, S, P, O, seed), x,
                   lambda tx, tW, tb: torch.nn.functional.conv_transpose2d(
                       tx, tW, tb, stride=S, padding=P, output_padding=O), seed)


@needs_torch
@pytest.mark.torch
@with_examples(CONV_EXAMPLES)
@given(cfg=conv_configs(max_extra=8), seed=seeds)
def test_conv2d_matches_torch(cfg, seed):
    import torch

    N, C_in, C_out, H, W, K, S, P = cfg
    x = np.random.default_rng(seed).standard_normal((N, C_in, H, W))
    _matches_torch(make_conv(C_in, C_out, K, S, P, seed), x,
                   lambda tx, tW, tb: torch.nn.functional.conv2d(tx, tW, tb, stride=S,
                                                                 padding=P), seed)


# -- sizes, dtypes, contract ----------------------------------------------------------------------
def test_output_size_doctests():
    """The output-size formulas in the docstrings are executed, not just printed."""
    result = doctest.testmod(conv_module, verbose=False)
    assert result.attempted >= 8 and result.failed == 0


@pytest.mark.parametrize("H,K,S,P,O,expected", [
    (7, 4, 2, 1, 0, 14), (14, 4, 2, 1, 0, 28), (4, 4, 1, 0, 0, 7), (7, 3, 2, 1, 1, 14),
    (1, 4, 1, 0, 0, 4), (5, 1, 3, 0, 2, 15)])
def test_conv_transpose_output_size_formula(xp, H, K, S, P, O, expected):
    layer = tg.ConvTranspose2d(2, 3, K, stride=S, padding=P, output_padding=O,
                               rng=backend.rng(0))
    out = layer.forward(xp.zeros((1, 2, H, H), dtype="float32"))
    assert out.shape == (1, 3, expected, expected) == (1, 3, layer.output_size(H),
                                                       layer.output_size(H))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["convT", "conv"])
def test_dtype_preserved_and_grads_accumulate(xp, dtype, kind):
    if kind == "convT":
        layer = tg.ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=backend.rng(0),
                                   dtype=dtype)
        x = xp.asarray(np.random.default_rng(0).standard_normal((2, 3, 5, 5)), dtype=dtype)
    else:
        layer = tg.Conv2d(3, 2, 4, stride=2, padding=1, rng=backend.rng(0), dtype=dtype)
        x = xp.asarray(np.random.default_rng(0).standard_normal((2, 3, 8, 8)), dtype=dtype)
    out = layer.forward(x)
    dout = xp.asarray(np.random.default_rng(1).standard_normal(out.shape), dtype=dtype)
    dx = layer.backward(dout)
    assert out.dtype == dx.dtype == x.dtype and dx.shape == x.shape
    first = {k: backend.to_numpy(g).copy() for k, g in layer.grads.items()}
    for k, g in layer.grads.items():
        assert g.dtype == layer.params[k].dtype == x.dtype
    layer.forward(x)
    layer.backward(dout)
    for k, g in layer.grads.items():  # a second backward adds the same amount again
        np.testing.assert_allclose(backend.to_numpy(g), 2 * first[k], rtol=1e-5)
    layer.zero_grad()
    assert all(float(abs(g).max()) == 0 for g in layer.grads.values())


def test_accepts_non_contiguous_and_channels_last_views(xp):
    """Outputs are NCHW views of channels-last memory; feeding them (or any strided view)
    to the next layer gives the same result as a contiguous copy."""
    r = backend.rng(0)
    g = tg.ConvTranspose2d(4, 3, 4, stride=2, padding=1, rng=r, dtype="float64")
    d = tg.Conv2d(3, 5, 3, stride=1, padding=1, rng=r, dtype="float64")
    x = xp.asarray(np.random.default_rng(0).standard_normal((2, 4, 6, 6)))
    y = g.forward(x)
    z1 = d.forward(y)
    d.clear_cache()
    z2 = d.forward(xp.ascontiguousarray(y))
    np.testing.assert_allclose(backend.to_numpy(z1), backend.to_numpy(z2), rtol=0, atol=0)
    d.clear_cache()
    x_view = xp.asarray(np.random.default_rng(1).standard_normal((2, 4, 12, 6)))[:, :, ::2, :]
    g.clear_cache()
    a = backend.to_numpy(g.forward(x_view))
    g.clear_cache()
    b = backend.to_numpy(g.forward(xp.ascontiguousarray(x_view)))
    np.testing.assert_allclose(a, b, rtol=0, atol=0)


def test_repr():
    assert repr(tg.ConvTranspose2d(128, 64, 4, 2, 1, rng=backend.rng(0))) == \
        "ConvTranspose2d(128→64, k=4, s=2, p=1)"
    assert repr(tg.Conv2d(1, 64, 4, 2, 1, rng=backend.rng(0))) == "Conv2d(1→64, k=4, s=2, p=1)"


# -- errors ---------------------------------------------------------------------------------------
def test_construction_errors():
    r = backend.rng(0)
    with pytest.raises(ValueError, match=r"ConvTranspose2d needs output_padding < stride.*"
                                         r"output_padding=2 with stride=2"):
        tg.ConvTranspose2d(1, 1, 4, stride=2, output_padding=2, rng=r)
    with pytest.raises(ValueError, match=r"ConvTranspose2d needs padding ≥ 0, got -1"):
        tg.ConvTranspose2d(1, 1, 4, padding=-1, rng=r)
    with pytest.raises(ValueError, match=r"Conv2d needs stride ≥ 1, got 0"):
        tg.Conv2d(1, 1, 3, stride=0, rng=r)
    with pytest.raises(ValueError, match=r"Conv2d needs kernel_size ≥ 1, got 0"):
        tg.Conv2d(1, 1, 0, rng=r)
    with pytest.raises(ValueError, match=r"Conv2d needs in_channels ≥ 1"):
        tg.Conv2d(0, 1, 3, rng=r)
    with pytest.raises(TypeError, match=r"Conv2d needs an integer kernel_size, got 3.0"):
        tg.Conv2d(1, 1, 3.0, rng=r)
    with pytest.raises(ValueError, match=r"needs an explicit rng"):
        tg.Conv2d(1, 1, 3)
    with pytest.raises(ValueError, match=r"unknown init"):
        tg.ConvTranspose2d(1, 1, 3, rng=r, init="glorot-ish")


def test_forward_errors(xp):
    r = backend.rng(0)
    convT = tg.ConvTranspose2d(2, 3, 3, stride=1, padding=2, rng=r)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(2→3, k=3, p=2\): input of size "
                                         r"1×1 gives a non-positive output size -1×-1"):
        convT.forward(xp.zeros((1, 2, 1, 1), dtype="float32"))
    conv = tg.Conv2d(2, 3, 5, rng=r)
    with pytest.raises(ValueError, match=r"Conv2d\(2→3, k=5\): input of size 4×6 padded by "
                                         r"P=0 is 4×6, smaller than the kernel K=5"):
        conv.forward(xp.zeros((1, 2, 4, 6), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"expected input of shape \(N, 2, \*, \*\), "
                                              r"got \(1, 3, 8, 8\)"):
        conv.forward(xp.zeros((1, 3, 8, 8), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"got \(2, 8, 8\)"):
        conv.forward(xp.zeros((2, 8, 8), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"has float32 parameters but received float64"):
        conv.forward(xp.zeros((1, 2, 8, 8), dtype="float64"))
    with pytest.raises(LayerInputError, match=r"floating-point array, got dtype int64"):
        convT.forward(xp.zeros((1, 2, 4, 4), dtype="int64"))
    with pytest.raises(RuntimeError, match=r"without a matching forward"):
        convT.backward(xp.zeros((1, 3, 2, 2), dtype="float32"))
    out = convT.forward(xp.zeros((1, 2, 4, 4), dtype="float32"))
    with pytest.raises(LayerInputError, match=r"expected dout of shape \(1, 3, 2, 2\)"):
        convT.backward(xp.zeros((1, 3, 4, 4), dtype="float32"))
    assert out.shape == (1, 3, 2, 2)


def test_small_dcgan_stack_gradcheck(xp):
    """G and D in miniature, chained: the NCHW views of channels-last memory that conv and
    BatchNorm layers hand each other, Reshape and Flatten included, give correct gradients
    end to end (Tanh instead of ReLU keeps central differences away from kinks). Layers
    followed by BatchNorm have no bias: BatchNorm subtracts the channel mean, so such a
    bias has exactly zero gradient (a gradcheck of it compares 0 with float noise)."""
    r = backend.rng(5)
    G = tg.Sequential(tg.Dense(3, 4 * 3 * 3, rng=r, init=0.5), tg.Reshape((4, 3, 3)),
                      tg.BatchNorm(4), tg.Tanh(),
                      tg.ConvTranspose2d(4, 3, 4, stride=2, padding=1, bias=False, rng=r,
                                         init=0.3),
                      tg.BatchNorm(3), tg.Tanh(),
                      tg.ConvTranspose2d(3, 1, 4, stride=2, padding=1, rng=r, init=0.3),
                      tg.Tanh())
    D = tg.Sequential(tg.Conv2d(1, 3, 4, stride=2, padding=1, rng=r, init=0.3), tg.Tanh(),
                      tg.Conv2d(3, 4, 4, stride=2, padding=1, bias=False, rng=r, init=0.3),
                      tg.BatchNorm(4), tg.Tanh(), tg.Flatten(),
                      tg.Dense(4 * 3 * 3, 1, rng=r, init=0.5))
    model = tg.Sequential(*G.layers, *D.layers)
    z = xp.asarray(np.random.default_rng(5).standard_normal((4, 3)))
    assert G.astype("float64").forward(z).shape == (4, 1, 12, 12)
    G.clear_cache()
    report = check_layer(model, z, seed=5, max_checks=15)
    assert report.max_rel_error < 1e-6, str(report)
