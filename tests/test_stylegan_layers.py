"""StyleGAN's layers: equalized learning rate, PixelNorm, the constant input, noise inputs, AdaIN.

Each is gradient-checked in float64 over hypothesis-drawn configurations (with @examples for
the configurations tinygan.models.stylegan uses), cross-checked against PyTorch where PyTorch
has the same operation, and fed bad input. Derivation: derivations/08_stylegan.md
"""

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygan import backend
from tinygan.gradcheck import check_layer
from tinygan.layers import Dense, LayerInputError
from tinygan.layers.equalized import Equalized, EqualizedConv2d, EqualizedDense
from tinygan.layers.style import AdaIN, ConstantInput, NoiseInput, PixelNorm
from tinygan.optim import Adam

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)
small = st.integers(1, 4)
gains = st.sampled_from([1.0, math.sqrt(2)])
lr_muls = st.sampled_from([1.0, 0.01, 0.5])


# -- equalized learning rate ------------------------------------------------------------------
@given(n=small, d_in=st.integers(1, 6), d_out=st.integers(1, 6), gain=gains, lr_mul=lr_muls,
       bias=st.booleans(), seed=seeds)
@example(n=2, d_in=32, d_out=32, gain=math.sqrt(2), lr_mul=0.01, bias=True, seed=0)  # mapping
@example(n=2, d_in=32, d_out=128, gain=1.0, lr_mul=1.0, bias=True, seed=1)  # AdaIN at 4×4
@example(n=2, d_in=32, d_out=16, gain=1.0, lr_mul=1.0, bias=True, seed=2)  # AdaIN at 8×8
@example(n=2, d_in=512, d_out=32, gain=math.sqrt(2), lr_mul=1.0, bias=True, seed=3)  # D's dense
@example(n=2, d_in=32, d_out=1, gain=1.0, lr_mul=1.0, bias=True, seed=4)  # D's logit
def test_equalized_dense_gradcheck(xp, n, d_in, d_out, gain, lr_mul, bias, seed):
    layer = EqualizedDense(d_in, d_out, gain=gain, lr_mul=lr_mul, bias=bias,
                           rng=backend.rng(seed), dtype="float64")
    if bias:
        layer.params["b"][...] = np.random.default_rng(seed).normal(0, 1, d_out)
    x = xp.asarray(np.random.default_rng(seed + 1).normal(0, 1, (n, d_in)))
    # f = Σ g ⊙ layer(x) is linear in x, in Ŵ and in b, so a central difference is exact
    # at any step but for round-off, ε|f|/h: take a big one. (At h = 1e-5, D's dense layer,
    # seed 3, missed by round-off alone: dW rel err 1.03e-6 where the kernel sums in
    # another order.) Ŵ has std 1/λ: the step scales with it.
    report = check_layer(layer, x, seed=seed, max_checks=60, h=1e-2 / lr_mul)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dW"] + (["db"] if bias else [])


@given(n=st.integers(1, 2), c_in=st.integers(1, 3), c_out=st.integers(1, 3),
       k=st.integers(1, 4), s=st.integers(1, 2), p=st.integers(0, 2), h=st.integers(0, 3),
       lr_mul=lr_muls, seed=seeds)
@example(n=2, c_in=64, c_out=64, k=3, s=1, p=1, h=4, lr_mul=1.0, seed=0)  # G at 4×4
@example(n=2, c_in=64, c_out=8, k=3, s=1, p=1, h=8, lr_mul=1.0, seed=1)  # G, after Upsample
@example(n=2, c_in=8, c_out=8, k=3, s=1, p=1, h=8, lr_mul=1.0, seed=2)  # G at 8×8
@example(n=2, c_in=8, c_out=1, k=1, s=1, p=0, h=8, lr_mul=1.0, seed=3)  # toRGB
@example(n=2, c_in=1, c_out=16, k=1, s=1, p=0, h=8, lr_mul=1.0, seed=4)  # D's fromRGB
@example(n=2, c_in=16, c_out=16, k=3, s=1, p=1, h=8, lr_mul=1.0, seed=5)  # D at 8×8
@example(n=2, c_in=16, c_out=32, k=4, s=2, p=1, h=8, lr_mul=1.0, seed=6)  # D's downsampling
@example(n=2, c_in=32, c_out=32, k=3, s=1, p=1, h=4, lr_mul=1.0, seed=7)  # D at 4×4
def test_equalized_conv2d_gradcheck(xp, n, c_in, c_out, k, s, p, h, lr_mul, seed):
    H = max(h, k - 2 * p, 1)  # at least one window (the @examples give the models' sizes)
    layer = EqualizedConv2d(c_in, c_out, k, stride=s, padding=p, lr_mul=lr_mul,
                            rng=backend.rng(seed), dtype="float64")
    layer.params["b"][...] = np.random.default_rng(seed).normal(0, 1, c_out)
    x = xp.asarray(np.random.default_rng(seed + 1).normal(0, 1, (n, c_in, H, H)))
    report = check_layer(layer, x, seed=seed, max_checks=60, h=1e-5 / lr_mul)
    assert report.max_rel_error < 1e-6, str(report)


def test_equalized_init_is_he_at_runtime_and_unit_at_rest():
    """Stored Ŵ ~ N(0, 1/λ²); runtime W = cŴ has He's std gain/√fan_in."""
    for lr_mul in (1.0, 0.01):
        layer = EqualizedDense(400, 300, lr_mul=lr_mul, rng=backend.rng(0), dtype="float64")
        stored = layer.params["W"]
        assert stored.std() == pytest.approx(1 / lr_mul, rel=0.01)
        assert layer.runtime_weight().std() == pytest.approx(math.sqrt(2 / 400), rel=0.01)
    conv = EqualizedConv2d(16, 8, 3, padding=1, gain=1.0, rng=backend.rng(0))
    assert conv.fan_in == 16 * 9 and conv.coefs["W"] == pytest.approx(1 / 12)


def test_adam_moves_every_layer_by_the_same_relative_amount():
    """The point of equalization: Adam's first step is lr·sign(g) on the stored Ŵ, so the
    runtime W moves by c·lr, i.e. by λ·lr·(√fan_in/gain)·(gain/√fan_in) = λ·lr relative to
    the He scale, whatever the fan-in. A plain He-initialised Dense moves by lr absolute,
    which is lr·√fan_in/gain relative: 10× faster for a layer with 100× the fan-in."""
    lr, gen = 1e-3, np.random.default_rng(0)
    rel = {}
    for d_in, lr_mul in [(4, 1.0), (400, 1.0), (400, 0.01)]:
        layer = EqualizedDense(d_in, 3, lr_mul=lr_mul, rng=backend.rng(1), dtype="float64")
        before = layer.runtime_weight().copy()
        # ε ≪ |g|: the stored gradient c·dW is small (λ = 0.01 makes it 100× smaller still)
        opt = Adam(layer, lr=lr, betas=(0.0, 0.99), eps=1e-14)
        x = gen.normal(0, 1, (5, d_in))
        layer.forward(x)
        layer.backward(gen.normal(0, 1, (5, 3)))
        opt.step()
        step = np.abs(layer.runtime_weight() - before)
        he = math.sqrt(2 / d_in)
        np.testing.assert_allclose(step, layer.coefs["W"] * lr, rtol=1e-5)  # |ΔW| = c·lr
        rel[(d_in, lr_mul)] = float(step.mean() / he)
    assert rel[(4, 1.0)] == pytest.approx(lr, rel=1e-5)
    assert rel[(400, 1.0)] == pytest.approx(lr, rel=1e-5)
    assert rel[(400, 0.01)] == pytest.approx(0.01 * lr, rel=1e-5)
    # and without equalization the wide layer's relative step is 10× the narrow one's
    plain = {}
    for d_in in (4, 400):
        layer = Dense(d_in, 3, rng=backend.rng(1), init=math.sqrt(2 / d_in), dtype="float64")
        w0 = layer.params["W"].copy()
        opt = Adam(layer, lr=lr, betas=(0.0, 0.99), eps=1e-14)
        layer.forward(gen.normal(0, 1, (5, d_in)))
        layer.backward(gen.normal(0, 1, (5, 3)))
        opt.step()
        plain[d_in] = float(np.abs(layer.params["W"] - w0).mean() / math.sqrt(2 / d_in))
    assert plain[400] / plain[4] == pytest.approx(10, rel=1e-4)


def test_equalized_frozen_and_accumulation():
    layer = EqualizedConv2d(2, 3, 3, padding=1, rng=backend.rng(0), dtype="float64")
    x = np.random.default_rng(0).normal(0, 1, (2, 2, 4, 4))
    g = np.random.default_rng(1).normal(0, 1, (2, 3, 4, 4))
    layer.forward(x)
    dx1 = layer.backward(g)
    first = layer.grads["W"].copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.grads["W"], 2 * first, rtol=1e-12)  # += accumulates
    from tinygan.layers import frozen

    layer.zero_grad()
    with frozen(layer):
        layer.forward(x)
        dx2 = layer.backward(g)
    assert not layer.grads["W"].any() and np.allclose(dx1, dx2)


def test_equalized_errors():
    with pytest.raises(ValueError, match="lr_mul"):
        EqualizedDense(3, 2, lr_mul=0, rng=backend.rng(0))
    with pytest.raises(ValueError, match="gain"):
        EqualizedConv2d(3, 2, 3, gain=-1.0, rng=backend.rng(0))
    with pytest.raises(ValueError, match="explicit rng"):
        EqualizedDense(3, 2)
    with pytest.raises(TypeError, match="wraps a Dense or Conv2d"):
        Equalized(PixelNorm(), rng=backend.rng(0))
    layer = EqualizedConv2d(3, 2, 3, rng=backend.rng(0))
    with pytest.raises(LayerInputError, match=r"EqualizedConv2d\(3→2, k=3.*expected input of "
                       r"shape \(N, 3, \*, \*\), got \(1, 2, 5, 5\)"):
        layer.forward(np.zeros((1, 2, 5, 5), "float32"))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        layer.backward(np.zeros((1, 2, 3, 3), "float32"))


# -- PixelNorm -------------------------------------------------------------------------------
@given(n=small, d=st.integers(2, 8), scale=st.floats(0.1, 10), seed=seeds)  # d = 1: y = sign(x)
@example(n=3, d=32, scale=1.0, seed=0)  # the mapping network's latent
def test_pixelnorm_gradcheck(xp, n, d, scale, seed):
    # (x from another seed than check_layer's dout: with dout = x the gradient of the
    # scale-invariant ⟨x, PixelNorm(x)⟩ is exactly 0 and the check would compare zeros)
    x = xp.asarray(np.random.default_rng(seed + 1).normal(0, scale, (n, d)))
    report = check_layer(PixelNorm(), x, seed=seed)
    assert report.max_rel_error < 1e-6, str(report)
    y = backend.to_numpy(PixelNorm().forward(x))
    ms = (backend.to_numpy(x) ** 2).mean(axis=1)
    np.testing.assert_allclose((y ** 2).mean(axis=1), ms / (ms + 1e-8), rtol=1e-12)  # ≈ 1


# -- ConstantInput and NoiseInput ----------------------------------------------------------------
@given(n=small, c=small, size=st.integers(1, 4), seed=seeds)
@example(n=2, c=64, size=4, seed=0)  # the model's constant
def test_constant_input_gradcheck(xp, n, c, size, seed):
    layer = ConstantInput(c, size, dtype="float64")
    layer.params["const"][...] = xp.asarray(np.random.default_rng(seed).normal(0, 1,
                                                                                (c, size, size)))
    report = check_layer(layer, n, seed=seed, max_checks=60)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dconst"]


@given(n=small, c=small, h=st.integers(1, 5), seed=seeds)
@example(n=2, c=64, h=4, seed=0)  # the model's 4×4 layers
@example(n=2, c=8, h=8, seed=1)  # and its 8×8 layers
def test_noise_input_gradcheck(xp, n, c, h, seed):
    gen = np.random.default_rng(seed)
    layer = NoiseInput(c, dtype="float64")
    layer.params["weight"][...] = xp.asarray(gen.normal(0, 1, c))
    x = xp.asarray(gen.normal(0, 1, (n, c, h, h)))
    noise = xp.asarray(gen.normal(0, 1, (n, 1, h, h)))
    report = check_layer(layer, (x, noise), seed=seed, max_checks=60)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dweight"]


def test_noise_is_per_pixel_and_scaled_per_channel():
    layer = NoiseInput(3, dtype="float64")
    layer.params["weight"][...] = [0.0, 1.0, -2.0]
    noise = np.random.default_rng(0).normal(0, 1, (2, 1, 4, 4))
    out = layer.forward(np.zeros((2, 3, 4, 4)), noise)
    layer.clear_cache()
    np.testing.assert_array_equal(out[:, 0], 0)
    np.testing.assert_array_equal(out[:, 1], noise[:, 0])
    np.testing.assert_array_equal(out[:, 2], -2 * noise[:, 0])


# -- AdaIN ---------------------------------------------------------------------------------------
@given(n=small, c=small, h=st.integers(1, 4), w_dim=small, seed=seeds)
@example(n=2, c=64, h=4, w_dim=32, seed=0)  # the synthesis network's 4×4 layers
@example(n=2, c=8, h=8, w_dim=32, seed=1)  # and its 8×8 layers
def test_adain_gradcheck(xp, n, c, h, w_dim, seed):
    h = max(h, 2) if h == 1 else h
    gen = np.random.default_rng(seed)
    layer = AdaIN(c, w_dim, rng=backend.rng(seed), dtype="float64")
    layer.params["b"][...] = xp.asarray(gen.normal(0, 0.5, 2 * c))
    x = xp.asarray(gen.normal(1, 2, (n, c, h, h)))
    w = xp.asarray(gen.normal(0, 1, (n, w_dim)))
    report = check_layer(layer, (x, w), seed=seed, input_names=["dx", "dw"], max_checks=60)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dw", "dW", "db"]


def test_adain_sets_each_maps_mean_and_std_from_w():
    """After AdaIN, map (n, c) has mean y_b and standard deviation |1 + y_s| (ε aside)."""
    gen = np.random.default_rng(0)
    layer = AdaIN(3, 5, rng=backend.rng(0), dtype="float64")
    x = gen.normal(4, 3, (2, 3, 4, 4))
    w = gen.normal(0, 1, (2, 5))
    out = layer.forward(x, w)
    layer.clear_cache()
    y = w @ layer.affine.runtime_weight() + layer.params["b"]
    np.testing.assert_allclose(out.mean(axis=(2, 3)), y[:, 3:], atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(2, 3)), np.abs(1 + y[:, :3]), rtol=1e-6)
    # and the input's own statistics are gone: shifting and scaling x changes nothing
    out2 = layer.forward(5 * x - 7, w)
    layer.clear_cache()
    np.testing.assert_allclose(out2, out, rtol=1e-9, atol=1e-9)


def test_style_layer_errors():
    with pytest.raises(ValueError, match="eps > 0"):
        PixelNorm(eps=0)
    with pytest.raises(ValueError, match="positive integer channels"):
        NoiseInput(0)
    with pytest.raises(ValueError, match="positive integer w_dim"):
        AdaIN(3, 2.5, rng=backend.rng(0))
    ada = AdaIN(3, 4, rng=backend.rng(0))
    x = np.zeros((2, 3, 4, 4), "float32")
    with pytest.raises(LayerInputError, match=r"AdaIN\(3, w=4\) expected input of shape "
                       r"\(2, 4\), got \(3, 4\)"):
        ada.forward(x, np.zeros((3, 4), "float32"))
    with pytest.raises(LayerInputError, match="at least 2 pixels"):
        ada.forward(np.zeros((2, 3, 1, 1), "float32"), np.zeros((2, 4), "float32"))
    with pytest.raises(LayerInputError, match=r"expected noise of shape \(2, 1, 4, 4\)"):
        NoiseInput(3).forward(x, np.zeros((2, 3, 4, 4), "float32"))
    with pytest.raises(LayerInputError, match="positive batch size"):
        ConstantInput(3).forward(0)


# -- PyTorch cross-checks --------------------------------------------------------------------
def _torch_compare(pairs):
    for mine, theirs in pairs:
        np.testing.assert_allclose(backend.to_numpy(mine), theirs.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


@needs_torch
@pytest.mark.torch
@given(n=small, d_in=st.integers(1, 6), d_out=st.integers(1, 6), lr_mul=lr_muls, seed=seeds)
def test_equalized_dense_matches_torch(n, d_in, d_out, lr_mul, seed):
    import torch

    gen = np.random.default_rng(seed)
    layer = EqualizedDense(d_in, d_out, lr_mul=lr_mul, rng=backend.rng(seed), dtype="float64")
    layer.params["b"][...] = gen.normal(0, 1, d_out)
    x, g = gen.normal(0, 1, (n, d_in)), gen.normal(0, 1, (n, d_out))
    out = layer.forward(x)
    dx = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True)
    c = lr_mul * math.sqrt(2) / math.sqrt(d_in)
    tout = torch.nn.functional.linear(tx, (c * tW).T, lr_mul * tb)
    tout.backward(torch.tensor(g))
    _torch_compare([(out, tout), (dx, tx.grad), (layer.grads["W"], tW.grad),
                    (layer.grads["b"], tb.grad)])


@needs_torch
@pytest.mark.torch
@given(c_in=small, c_out=small, k=st.integers(1, 4), s=st.integers(1, 2), p=st.integers(0, 1),
       seed=seeds)
@example(c_in=3, c_out=4, k=4, s=2, p=1, seed=0)
def test_equalized_conv2d_matches_torch(c_in, c_out, k, s, p, seed):
    import torch

    gen = np.random.default_rng(seed)
    layer = EqualizedConv2d(c_in, c_out, k, stride=s, padding=p, rng=backend.rng(seed),
                            dtype="float64")
    layer.params["b"][...] = gen.normal(0, 1, c_out)
    x = gen.normal(0, 1, (2, c_in, k + 3, k + 3))
    out = layer.forward(x)
    g = gen.normal(0, 1, out.shape)
    dx = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True)
    c = math.sqrt(2) / math.sqrt(c_in * k * k)
    tout = torch.nn.functional.conv2d(tx, c * tW, tb, stride=s, padding=p)
    tout.backward(torch.tensor(g))
    _torch_compare([(out, tout), (dx, tx.grad), (layer.grads["W"], tW.grad),
                    (layer.grads["b"], tb.grad)])


@needs_torch
@pytest.mark.torch
@given(n=small, d=st.integers(1, 8), seed=seeds)
def test_pixelnorm_matches_torch_rms_norm(n, d, seed):
    import torch

    gen = np.random.default_rng(seed)
    x, g = gen.normal(0, 2, (n, d)), gen.normal(0, 1, (n, d))
    layer = PixelNorm()
    out = layer.forward(x)
    dx = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.rms_norm(tx, (d,), eps=1e-8)
    tout.backward(torch.tensor(g))
    _torch_compare([(out, tout), (dx, tx.grad)])


@needs_torch
@pytest.mark.torch
@given(n=small, c=small, h=st.integers(2, 5), w_dim=small, seed=seeds)
def test_adain_matches_torch_instance_norm(n, c, h, w_dim, seed):
    import torch

    gen = np.random.default_rng(seed)
    layer = AdaIN(c, w_dim, rng=backend.rng(seed), dtype="float64")
    layer.params["b"][...] = gen.normal(0, 0.5, 2 * c)
    x, w = gen.normal(1, 2, (n, c, h, h)), gen.normal(0, 1, (n, w_dim))
    g = gen.normal(0, 1, x.shape)
    out = layer.forward(x, w)
    dx, dw = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True)
    y = torch.nn.functional.linear(tw, (tW / math.sqrt(w_dim)).T, tb)
    norm = torch.nn.functional.instance_norm(tx, eps=1e-8)
    tout = norm * (1 + y[:, :c, None, None]) + y[:, c:, None, None]
    tout.backward(torch.tensor(g))
    _torch_compare([(out, tout), (dx, tx.grad), (dw, tw.grad), (layer.grads["W"], tW.grad),
                    (layer.grads["b"], tb.grad)])


# -- the loud one-slot cache (the base class's contract) holds for these layers too ------------
def _style_layers():
    r = backend.rng(0)
    return [
        (EqualizedDense(3, 2, rng=r, dtype="float64"), [(4, 3)]),
        (EqualizedConv2d(2, 3, 3, padding=1, rng=r, dtype="float64"), [(2, 2, 4, 4)]),
        (PixelNorm(), [(4, 3)]),
        (AdaIN(2, 3, rng=r, dtype="float64"), [(2, 2, 4, 4), (2, 3)]),
        (NoiseInput(2, dtype="float64"), [(2, 2, 4, 4), (2, 1, 4, 4)]),
    ]


@pytest.mark.parametrize("layer, shapes", _style_layers(), ids=lambda v: repr(v)
                         if not isinstance(v, list) else None)
def test_second_forward_before_backward_raises_unless_told(layer, shapes):
    from tinygan.layers import no_grad

    gen = np.random.default_rng(0)
    a = [gen.standard_normal(s) for s in shapes]
    b = [gen.standard_normal(s) for s in shapes]
    out = layer.forward(*a)
    dout = gen.standard_normal(out.shape)
    with pytest.raises(RuntimeError, match=r"forward\(\) was called again before backward"):
        layer.forward(*b)
    with no_grad(layer):
        layer.forward(*b)  # stores nothing, in the layer or in its inner layers
    first = layer.backward(dout)
    layer.clear_cache()
    layer.forward(*a)
    again = layer.backward(dout)
    for u, v in zip(first if isinstance(first, tuple) else (first,),
                    again if isinstance(again, tuple) else (again,)):
        np.testing.assert_array_equal(u, v)  # a's gradient both times, not b's
    layer.eval()  # eval mode (inner layers too): forwards for plots replace the cache
    layer.forward(*a)
    layer.forward(*b)
    layer.clear_cache()
    layer.train()
