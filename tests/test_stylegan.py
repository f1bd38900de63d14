"""StyleGAN's training pieces: the R1 double backward (two ways), the generator's backward with
style mixing and truncation, the update steps end to end, and the losses.

R1 = (γ/2)·mean‖∇ₓD(x)‖² depends on a gradient of D, so ∂R1/∂θ is a second derivative written
by hand in tinygan.gans.stylegan.r1_penalty. It is checked against central differences of R1
itself and against torch ``autograd.grad(create_graph=True)``.
Derivation: derivations/08_stylegan.md
"""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gans import stylegan as sg
from tinygan.gradcheck import numerical_grad, rel_error
from tinygan.layers import Conv2d, Dense, Flatten, LeakyReLU, ReLU, Sigmoid
from tinygan.layers.equalized import Equalized
from tinygan.models import Sequential
from tinygan.models.stylegan import (
    StyleGenerator,
    mix_styles,
    mix_styles_backward,
    style_discriminator,
    truncate,
)

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)
# The three whole-network checks below (R1 by differences and by torch, G's gradcheck) are
# the costliest tests of the family: they draw half the profile's examples (CI: 15), besides
# their @examples of the models' own configurations.
half = settings(max_examples=max(5, settings.default.max_examples // 2))


# -- helpers ---------------------------------------------------------------------------------
def _plain_twin_of(D):
    """The same D with plain Conv2d/Dense layers (runtime weights copied): R1 must not care."""
    layers = []
    for layer in D.layers:
        if isinstance(layer, Equalized):
            inner = layer.inner
            if isinstance(inner, Dense):
                new = Dense(inner.in_features, inner.out_features, init="zeros", dtype="float64")
            else:
                new = Conv2d(inner.in_channels, inner.out_channels, inner.kernel_size,
                             stride=inner.stride, padding=inner.padding, init="zeros",
                             dtype="float64")
            new.params["W"][...] = layer.runtime_weight()
            new.params["b"][...] = layer.params["b"] * layer.lr_mul
            layers.append(new)
        elif isinstance(layer, LeakyReLU) and layer.alpha == 0:
            layers.append(ReLU())
        else:
            layers.append(layer)
    return Sequential(*layers)


def _make_d(resolution, channels, alpha, equalized, seed):
    D = style_discriminator(resolution, channels, rng=backend.rng(seed), dtype="float64")
    gen = np.random.default_rng(seed + 7)
    for k, p in D.params.items():  # non-zero biases, so that ∂R1/∂b = 0 means something
        if k.endswith(".b"):
            p[...] = gen.normal(0, 0.3, p.shape)
    for layer in D.layers:
        if isinstance(layer, LeakyReLU):
            layer.alpha = float(alpha)
    return D if equalized else _plain_twin_of(D)


def _penalty_and_pattern(D, x, gamma):
    """R1 computed from the first backward alone (no parameter gradients touched), and the
    pattern of (Leaky)ReLU slopes, to detect a finite difference that crosses a kink."""
    _, g, record = sg.d_input_gradient(D, x)
    n = x.shape[0]
    pen = gamma / 2 * float((g * g).reshape(n, -1).sum(1).mean())
    pattern = tuple(r["slope"].tobytes() for r in record if "slope" in r)
    return pen, pattern


def _fd_of_penalty(D, x, gamma, p, indices, h):
    """Central differences of R1 w.r.t. p at ``indices``. R1 is quadratic in any single weight
    (g is linear in it), so central differences are exact up to round-off, unless they cross a
    kink: then h is shrunk for that element (a map, not a filter)."""
    _, base = _penalty_and_pattern(D, x, gamma)
    out = []
    for ix in indices:
        old = p[ix].copy()
        step = h
        for _ in range(6):
            p[ix] = old + step
            fp, pat_p = _penalty_and_pattern(D, x, gamma)
            p[ix] = old - step
            fm, pat_m = _penalty_and_pattern(D, x, gamma)
            p[ix] = old
            if pat_p == base == pat_m:
                break
            step /= 10
        else:  # pragma: no cover - would need a pre-activation within 1e-10 of a kink
            raise AssertionError(f"no kink-free step found at {ix}")
        out.append((fp - fm) / (2 * step))
    return np.array(out)


def _sample(shape, k, gen):
    size = math.prod(shape)
    flat = gen.choice(size, size=min(k, size), replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


# -- R1: first backward, double backward by finite differences and by torch ---------------------
d_configs = st.tuples(st.sampled_from([4, 8]), st.integers(1, 3), st.sampled_from([0.05, 0.2, 0.5]),
                      st.booleans(), st.integers(1, 3), st.sampled_from([1.0, 10.0]))


@half
@given(cfg=d_configs, seed=seeds)
@example(cfg=(8, 16, 0.2, True, 2, 10.0), seed=0)  # the model's D (narrower) at γ = 10
@example(cfg=(8, 1, 0.05, False, 1, 1.0), seed=1)  # a last layer rescaled to ~1e6
def test_r1_double_backward_matches_finite_differences_of_the_penalty(cfg, seed):
    resolution, channels, alpha, equalized, n, gamma = cfg
    D = _make_d(resolution, channels, alpha, equalized, seed)
    gen = np.random.default_rng(seed)
    x = gen.uniform(-1, 1, (n, 1, resolution, resolution))
    # Scale the last layer (which moves no kink) so that the mean ‖∇ₓD‖ is 1: a narrow D
    # with slope 0.05 can otherwise have gradients ~1e-10, where differences see round-off.
    _, g, _ = sg.d_input_gradient(D, x)
    D.params[f"{len(D) - 1}.W"][...] /= np.sqrt((g * g).reshape(n, -1).sum(1)).mean()
    D.zero_grad()
    r1, sq = sg.r1_penalty(D, x, gamma)
    pen, _ = _penalty_and_pattern(D, x, gamma)
    assert float(r1) == pytest.approx(pen, rel=1e-12)
    assert sq.shape == (n,) and float(r1) > 0
    grads = {k: g.copy() for k, g in D.grads.items()}
    checked = 0
    for k, p in D.params.items():
        idx = _sample(p.shape, 3, gen)
        # the step and the zero-guard scale with the weights: the rescaled last layer can be
        # ~1e6, and then ∂R1/∂W = 2·R1/W is small only because W is big
        size = max(1.0, float(np.abs(p).max()))
        numeric = _fd_of_penalty(D, x, gamma, p, idx, h=1e-4 * size)
        analytic = np.array([grads[k][ix] for ix in idx])
        if k.endswith(".b"):  # the Jacobians do not depend on the biases: exactly zero
            assert not grads[k].any(), k
            np.testing.assert_allclose(numeric, 0, atol=1e-8 * max(1.0, pen), err_msg=k)
            continue
        scale = max(np.abs(analytic).max(), np.abs(numeric).max()) * size
        assert scale > 1e-6 * pen, f"{k}: the check would compare zeros"
        err = rel_error(analytic, numeric).max()
        assert err < 1e-6, f"{k}: max rel err {err:.2e}\n{analytic}\n{numeric}"
        checked += 1
    assert checked == sum(1 for k in D.params if k.endswith(".W"))


def test_d_input_gradient_is_the_per_sample_gradient(rng):
    D = _make_d(8, 2, 0.2, True, 3)
    x = rng.uniform(-1, 1, (3, 1, 8, 8))
    scores, g, _ = sg.d_input_gradient(D, x)
    assert not any(v.any() for v in D.grads.values())  # D was frozen: no parameter gradients

    def f():
        out = D.forward(x)
        D.clear_cache()
        return float(out.sum())

    idx = _sample(x.shape, 20, rng)
    numeric = numerical_grad(f, x, indices=idx)
    assert rel_error(np.array([g[i] for i in idx]), np.array([numeric[i] for i in idx])).max() \
        < 1e-6
    # row n is ∇ D(x_n) alone: a sample's gradient does not depend on the others
    _, g0, _ = sg.d_input_gradient(D, x[:1])
    np.testing.assert_allclose(g0, g[:1], rtol=1e-12, atol=1e-15)


@needs_torch
@pytest.mark.torch
@half
@given(cfg=d_configs, seed=seeds)
@example(cfg=(8, 16, 0.2, True, 4, 10.0), seed=0)
def test_r1_double_backward_matches_torch_create_graph(cfg, seed):
    import torch
    import torch.nn.functional as F

    resolution, channels, alpha, equalized, n, gamma = cfg
    D = _make_d(resolution, channels, alpha, equalized, seed)
    x = np.random.default_rng(seed).uniform(-1, 1, (n, 1, resolution, resolution))
    D.zero_grad()
    r1, _ = sg.r1_penalty(D, x, gamma)

    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in D.params.items()}
    tx = torch.tensor(x, requires_grad=True)
    h = tx
    for i, layer in enumerate(D.layers):
        if isinstance(layer, (Equalized, Dense, Conv2d)):
            inner = layer.inner if isinstance(layer, Equalized) else layer
            c = layer.coefs["W"] if isinstance(layer, Equalized) else 1.0
            lm = layer.lr_mul if isinstance(layer, Equalized) else 1.0
            W, b = c * tparams[f"{i}.W"], lm * tparams[f"{i}.b"]
            if isinstance(inner, Dense):
                h = F.linear(h, W.T, b)
            else:
                h = F.conv2d(h, W, b, stride=inner.stride, padding=inner.padding)
        elif isinstance(layer, LeakyReLU):
            h = F.leaky_relu(h, layer.alpha) if layer.alpha else F.relu(h)
        else:
            h = h.reshape(h.shape[0], -1)
    (g,) = torch.autograd.grad(h.sum(), tx, create_graph=True)
    tr1 = gamma / 2 * (g ** 2).reshape(n, -1).sum(1).mean()
    tr1.backward()
    assert float(r1) == pytest.approx(float(tr1.detach()), rel=1e-10)
    for k, t in tparams.items():
        theirs = t.grad.numpy() if t.grad is not None else np.zeros_like(D.grads[k])
        np.testing.assert_allclose(D.grads[k], theirs, rtol=1e-9, atol=1e-12, err_msg=k)


# -- R1 over convolutions of other ranks (3D-GAN's critic is Conv3d) ----------------------------
def _rank_d(rank, channels, alpha, seed, size):
    """Conv(stride 2) → LeakyReLU → Conv → LeakyReLU → Flatten → Dense, at ``rank``, float64,
    with non-zero biases."""
    conv = {1: tg.Conv1d, 2: Conv2d, 3: tg.Conv3d}[rank]
    r = backend.rng(seed)
    out = size // 2
    D = Sequential(conv(1, channels, 3, stride=2, padding=1, rng=r, init=0.5, dtype="float64"),
                   LeakyReLU(alpha),
                   conv(channels, channels, 3, padding=1, rng=r, init=0.5, dtype="float64"),
                   LeakyReLU(alpha), Flatten(),
                   Dense(channels * out ** rank, 1, rng=r, init=0.5, dtype="float64"))
    gen = np.random.default_rng(seed + 7)
    for k, p in D.params.items():
        if k.endswith(".b"):
            p[...] = gen.normal(0, 0.3, p.shape)
    return D


rank_configs = st.tuples(st.sampled_from([1, 3]), st.integers(1, 2),
                         st.sampled_from([0.05, 0.2]), st.integers(1, 3),
                         st.sampled_from([1.0, 10.0]))


@half
@given(cfg=rank_configs, seed=seeds)
@example(cfg=(3, 2, 0.2, 2, 10.0), seed=0)
def test_r1_double_backward_at_ranks_1_and_3(cfg, seed):
    """The same double backward through Conv1d and Conv3d (the twin is the layer's own
    class), against finite differences of the penalty."""
    rank, channels, alpha, n, gamma = cfg
    size = 4
    D = _rank_d(rank, channels, alpha, seed, size)
    x = np.random.default_rng(seed).uniform(-1, 1, (n, 1) + (size,) * rank)
    D.zero_grad()
    r1, _ = sg.r1_penalty(D, x, gamma)
    pen, _ = _penalty_and_pattern(D, x, gamma)
    assert float(r1) == pytest.approx(pen, rel=1e-12) and pen > 0
    grads = {k: g.copy() for k, g in D.grads.items()}
    gen = np.random.default_rng(seed + 1)
    for k, p in D.params.items():
        idx = _sample(p.shape, 4, gen)
        numeric = _fd_of_penalty(D, x, gamma, p, idx, h=1e-4)
        analytic = np.array([grads[k][ix] for ix in idx])
        if k.endswith(".b"):
            assert not grads[k].any(), k
            np.testing.assert_allclose(numeric, 0, atol=1e-8 * max(1.0, pen), err_msg=k)
            continue
        assert np.abs(numeric).max() > 1e-6 * pen, f"{k}: the check would compare zeros"
        err = rel_error(analytic, numeric).max()
        assert err < 1e-6, f"{k}: max rel err {err:.2e}\n{analytic}\n{numeric}"


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("rank", [1, 3])
def test_r1_at_ranks_1_and_3_matches_torch_create_graph(rank):
    import torch
    import torch.nn.functional as F

    D = _rank_d(rank, 2, 0.2, 5, 4)
    x = np.random.default_rng(5).uniform(-1, 1, (3, 1) + (4,) * rank)
    D.zero_grad()
    r1, _ = sg.r1_penalty(D, x, 10.0)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in D.params.items()}
    tx = torch.tensor(x, requires_grad=True)
    conv = {1: F.conv1d, 3: F.conv3d}[rank]
    h = F.leaky_relu(conv(tx, tp["0.W"], tp["0.b"], stride=2, padding=1), 0.2)
    h = F.leaky_relu(conv(h, tp["2.W"], tp["2.b"], padding=1), 0.2)
    h = F.linear(h.reshape(3, -1), tp["5.W"].T, tp["5.b"])
    (g,) = torch.autograd.grad(h.sum(), tx, create_graph=True)
    (10.0 / 2 * (g ** 2).reshape(3, -1).sum(1).mean()).backward()
    for k, t in tp.items():
        theirs = t.grad.numpy() if t.grad is not None else np.zeros_like(D.grads[k])
        np.testing.assert_allclose(D.grads[k], theirs, rtol=1e-9, atol=1e-12, err_msg=k)
    assert float(r1) > 0


def test_r1_vanishes_for_a_constant_d_and_scales_with_gamma(rng):
    D = _make_d(4, 2, 0.2, True, 0)
    x = rng.uniform(-1, 1, (2, 1, 4, 4))
    D.zero_grad()
    r1_10, sq = sg.r1_penalty(D, x, 10.0)
    g10 = {k: v.copy() for k, v in D.grads.items()}
    D.zero_grad()
    r1_1, _ = sg.r1_penalty(D, x, 1.0)
    assert float(r1_10) == pytest.approx(10 * float(r1_1), rel=1e-12)
    assert float(r1_1) == pytest.approx(0.5 * float(sq.mean()), rel=1e-12)
    for k in g10:
        np.testing.assert_allclose(g10[k], 10 * D.grads[k], rtol=1e-10, atol=1e-14)
    D.params["0.W"][...] = 0  # D(x) no longer depends on x: no penalty, no gradient
    D.zero_grad()
    r1, sq = sg.r1_penalty(D, x, 10.0)
    assert float(r1) == 0 and not any(v.any() for v in D.grads.values())


def test_r1_errors():
    D = Sequential(Flatten(), Dense(4, 1, rng=backend.rng(0)), Sigmoid())
    x = np.zeros((2, 1, 2, 2), "float32")
    with pytest.raises(TypeError, match=r"layer 2 of D is Sigmoid\(\).*covers"):
        sg.r1_penalty(D, x)
    with pytest.raises(ValueError, match="γ ≥ 0"):
        sg.r1_penalty(style_discriminator(4, 2), x, gamma=-1)


# -- the generator: mixing, truncation, backward -------------------------------------------------
def _tiny_g(seed, **kw):
    cfg = dict(latent_dim=3, w_dim=3, mapping_layers=2, channels=2, resolution=8)
    cfg.update(kw)
    return StyleGenerator(**cfg, rng=backend.rng(seed), dtype="float64")


def _randomise(model, seed, scale=0.3):
    gen = np.random.default_rng(seed)
    for k, p in model.params.items():
        if not k.endswith(".W"):  # biases, noise strengths, the constant: away from defaults
            p[...] = p + gen.normal(0, scale, p.shape)


def _smooth_g(G):
    """Tanh in place of G's LeakyReLUs, in place: finite differences then never straddle a
    kink (seed 47777, mixing, ψ 0.7, n 2: the noise strength's difference moved from 15.43 to
    15.11 to 14.95 as h fell from 1e-4 to 1e-6, the analytic value 14.95). LeakyReLU keeps
    its own gradient check; here the check is of the wiring around it."""
    for i, layer in enumerate(G.mapping.layers):
        if isinstance(layer, LeakyReLU):
            G.mapping.layers[i] = tg.Tanh()
    for layer in G.synthesis.style_layers:
        layer.act = tg.Tanh()
    return G


@half
@given(mixing=st.booleans(), psi=st.sampled_from([1.0, 0.7]), n=st.integers(1, 3),
       seed=seeds)
@example(mixing=True, psi=0.7, n=2, seed=0)
@example(mixing=True, psi=0.7, n=2, seed=47777)  # a kink, before _smooth_g
@example(mixing=True, psi=1.0, n=1, seed=47777)  # round-off, before the floor
@example(mixing=True, psi=1.0, n=1, seed=35)  # truncation, with the 2-point difference
def test_style_generator_gradcheck(mixing, psi, n, seed):
    G = _smooth_g(_tiny_g(seed))
    _randomise(G, seed)
    gen = np.random.default_rng(seed + 1)
    G.w_avg[...] = gen.normal(0, 0.5, G.w_dim)
    z = gen.normal(0, 1, (n, 3))
    z2, cutoff = (gen.normal(0, 1, (n, 3)), int(gen.integers(1, 4))) if mixing else (None, None)
    noise = G.draw_noise(n, backend.rng(seed))
    out = G.forward(z, noise, z2=z2, cutoff=cutoff, psi=psi)
    dout = gen.normal(0, 1, out.shape)
    G.zero_grad()
    G.backward(dout)
    analytic = {k: v.copy() for k, v in G.grads.items()}

    def f():
        y = G.forward(z, noise, z2=z2, cutoff=cutoff, psi=psi)
        G.clear_cache()
        return float((y * dout).sum()), float(np.abs(y * dout).sum())

    # a directional check per tensor (CH/JAX style): along a random unit vector u, the
    # 4-point central difference [8(f₊₁ − f₋₁) − (f₊₂ − f₋₂)]/12h = ⟨∂f/∂p, u⟩ + O(h⁴).
    # The 2-point one's O(h²) term was 4.5e-8 at seed 35 (AdaIN over a 4×4 map of small
    # variance is strongly curved: the error fell 100× per 10× in h).
    for k, p in G.params.items():
        u = gen.normal(0, 1, p.shape)
        u /= np.linalg.norm(u)
        # the mapping's stored parameters are its runtime ones over λ = 0.01: scale the step
        h = 1e-5 * (100 if k.startswith("mapping") else 1)
        old = p.copy()
        fs = {}
        for step in (2, 1, -1, -2):
            p[...] = old + step * h * u
            fs[step] = f()
        p[...] = old
        numeric = (8 * (fs[1][0] - fs[-1][0]) - (fs[2][0] - fs[-2][0])) / (12 * h)
        a = float((analytic[k] * u).sum())
        # round-off: each f is a sum of terms of total size S, exact to about ε·S, and the
        # difference divides by h (seed 47777: ⟨g, u⟩ = 2.4e-5, |error| 2.3e-10 = ε·S/h·0.3)
        roundoff = np.finfo(float).eps * max(s for _, s in fs.values()) / h
        assert abs(a - numeric) <= 1e-6 * (abs(a) + abs(numeric)) + roundoff, \
            (k, a, numeric, roundoff)


def test_mixing_and_truncation_in_w():
    gen = np.random.default_rng(0)
    w1, w2 = gen.normal(0, 1, (2, 5)), gen.normal(0, 1, (2, 5))
    ws = mix_styles(w1, w2, 2, 4)
    np.testing.assert_array_equal(ws[:, :2], np.stack([w1, w1], 1))
    np.testing.assert_array_equal(ws[:, 2:], np.stack([w2, w2], 1))
    d = gen.normal(0, 1, ws.shape)
    dw1, dw2 = mix_styles_backward(d, 2)
    # the adjoint: ⟨mix(w1, w2), d⟩ = ⟨w1, dw1⟩ + ⟨w2, dw2⟩
    assert (ws * d).sum() == pytest.approx((w1 * dw1).sum() + (w2 * dw2).sum(), rel=1e-12)
    avg = gen.normal(0, 1, 5)
    np.testing.assert_allclose(truncate(ws, avg, 1.0), ws)
    np.testing.assert_allclose(truncate(ws, avg, 0.0), np.broadcast_to(avg, ws.shape))
    np.testing.assert_allclose(truncate(ws, avg, 0.5), (ws + avg) / 2)
    with pytest.raises(ValueError, match="cutoff must be in"):
        mix_styles(w1, w2, 5, 4)


def test_generator_mixing_uses_one_mapping_pass_and_the_right_slots():
    """G(z1, z2, cutoff) equals the synthesis of mix_styles(f(z1), f(z2), cutoff)."""
    G = _tiny_g(0)
    _randomise(G, 0)
    gen = np.random.default_rng(1)
    z1, z2 = gen.normal(0, 1, (2, 3)), gen.normal(0, 1, (2, 3))
    noise = G.draw_noise(2, backend.rng(0))
    img = G.forward(z1, noise, z2=z2, cutoff=1)
    G.clear_cache()
    w1 = G.mapping.forward(z1)
    G.mapping.clear_cache()
    w2 = G.mapping.forward(z2)
    G.mapping.clear_cache()
    ref = G.synthesis.forward(mix_styles(w1, w2, 1, G.num_styles), noise)
    G.synthesis.clear_cache()
    np.testing.assert_allclose(img, ref, rtol=1e-12)
    assert not np.allclose(ref, G.forward(z1, noise))
    G.clear_cache()


def test_draw_mixing_probability_and_cutoffs():
    rng = backend.rng(0)
    draws = [sg.draw_mixing(rng, 2, 3, 4, prob=0.9) for _ in range(2000)]
    mixed = [c for z2, c in draws if z2 is not None]
    assert 0.87 < len(mixed) / len(draws) < 0.93
    assert set(mixed) == {1, 2, 3}
    assert all(z2 is None for z2, _ in (sg.draw_mixing(rng, 2, 3, 4, prob=0.0)
                                        for _ in range(50)))
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\]"):
        sg.draw_mixing(rng, 2, 3, 4, prob=1.5)


# -- losses and the two update steps ---------------------------------------------------------
def test_logistic_losses_are_softplus():
    gen = np.random.default_rng(0)
    real, fake = gen.normal(0, 3, (5, 1)), gen.normal(0, 3, (4, 1))
    loss, d_r, d_f = sg.d_logistic_loss(real, fake)
    assert float(loss) == pytest.approx(np.logaddexp(0, -real).mean()
                                        + np.logaddexp(0, fake).mean(), rel=1e-12)
    np.testing.assert_allclose(d_r, -1 / (1 + np.exp(real)) / 5, rtol=1e-10)
    np.testing.assert_allclose(d_f, 1 / (1 + np.exp(-fake)) / 4, rtol=1e-10)
    lg, dg = sg.g_nonsaturating_loss(fake)
    assert float(lg) == pytest.approx(np.logaddexp(0, -fake).mean(), rel=1e-12)
    np.testing.assert_allclose(dg, -1 / (1 + np.exp(fake)) / 4, rtol=1e-10)


@needs_torch
@pytest.mark.torch
def test_logistic_losses_match_torch_softplus():
    import torch
    import torch.nn.functional as F

    gen = np.random.default_rng(1)
    real, fake = gen.normal(0, 3, (5, 1)), gen.normal(0, 3, (4, 1))
    loss, d_r, d_f = sg.d_logistic_loss(real, fake)
    lg, dg = sg.g_nonsaturating_loss(fake)
    tr, tf = (torch.tensor(a, requires_grad=True) for a in (real, fake))
    t_loss = F.softplus(-tr).mean() + F.softplus(tf).mean()  # the official D loss
    t_loss.backward()
    assert float(loss) == pytest.approx(t_loss.item(), rel=1e-12)
    np.testing.assert_allclose(d_r, tr.grad.numpy(), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(d_f, tf.grad.numpy(), rtol=1e-10, atol=1e-15)
    tf2 = torch.tensor(fake, requires_grad=True)
    t_g = F.softplus(-tf2).mean()  # the non-saturating G loss
    t_g.backward()
    assert float(lg) == pytest.approx(t_g.item(), rel=1e-12)
    np.testing.assert_allclose(dg, tf2.grad.numpy(), rtol=1e-10, atol=1e-15)

class _Capture:
    """An 'optimizer' that records the gradients a step would apply, and applies nothing."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def step(self):
        self.grads = {k: v.copy() for k, v in self.model.grads.items()}


def test_update_d_gradient_is_that_of_the_whole_objective():
    """The gradient update_d applies = ∂/∂θ_D [logistic loss + R1] by central differences
    (papers.md §9: stale caches are caught only end to end)."""
    G = _tiny_g(1, channels=2)
    _randomise(G, 1)
    D = _make_d(8, 2, 0.2, True, 2)
    gen = np.random.default_rng(3)
    x = gen.uniform(-1, 1, (3, 1, 8, 8))
    z, z2 = gen.normal(0, 1, (3, 3)), gen.normal(0, 1, (3, 3))
    noise = G.draw_noise(3, backend.rng(4))
    opt = _Capture(D)
    stats = sg.update_d(G, D, x, z, noise, opt, z2=z2, cutoff=2, r1_gamma=10.0)

    def objective():
        fake = G.forward(z, noise, z2=z2, cutoff=2)
        G.clear_cache()
        real_l, fake_l = D.forward(x), None
        D.clear_cache()
        fake_l = D.forward(fake)
        D.clear_cache()
        pen, _ = _penalty_and_pattern(D, x, 10.0)
        return float(sg.d_logistic_loss(real_l, fake_l)[0]) + pen

    assert float(stats["loss_D"]) == pytest.approx(objective(), rel=1e-12)
    for k, p in D.params.items():
        idx = _sample(p.shape, 4, gen)
        numeric = numerical_grad(objective, p, indices=idx)
        a = np.array([opt.grads[k][i] for i in idx])
        assert rel_error(a, np.array([numeric[i] for i in idx])).max() < 1e-6, k
    assert not any(v.any() for v in G.grads.values())  # G got nothing from D's step


def test_update_g_trains_g_through_d_and_tracks_w_avg():
    G = _tiny_g(5)
    _randomise(G, 5)
    D = _make_d(8, 2, 0.2, True, 6)
    gen = np.random.default_rng(7)
    z, z2 = gen.normal(0, 1, (3, 3)), gen.normal(0, 1, (3, 3))
    noise = G.draw_noise(3, backend.rng(8))
    opt = _Capture(G)
    sg.update_g(G, D, z, noise, opt, z2=z2, cutoff=1, w_avg_beta=0.9)

    def objective():
        out = D.forward(G.forward(z, noise, z2=z2, cutoff=1))
        G.clear_cache()
        D.clear_cache()
        return float(sg.g_nonsaturating_loss(out)[0])

    for k, p in G.params.items():
        idx = _sample(p.shape, 3, gen)
        h = 1e-5 * (100 if k.startswith("mapping") else 1)
        numeric = numerical_grad(objective, p, h=h, indices=idx)
        a = np.array([opt.grads[k][i] for i in idx])
        assert rel_error(a, np.array([numeric[i] for i in idx])).max() < 1e-6, k
    assert not any(v.any() for v in D.grads.values())  # D frozen in G's step
    w = G.mapping.forward(z)
    G.mapping.clear_cache()
    np.testing.assert_allclose(G.w_avg, 0.1 * w.mean(0), rtol=1e-12)  # from w̄ = 0


def test_fit_cut_short_leaves_models_that_train_again(monkeypatch):
    """Interrupted between G's forward and its backward, fit_stylegan drops the pending
    caches (as tinygan.train.fit does), so the next fit does not trip the one-slot check."""
    G, D = _tiny_g(2), _make_d(8, 2, 0.2, True, 3)
    opt_G, opt_D = sg.stylegan_optimizers(G, D)
    gen = np.random.default_rng(4)

    def sample_real(m):
        return gen.uniform(-1, 1, (m, 1, 8, 8))

    def interrupted(logits):
        raise KeyboardInterrupt("pulled")

    monkeypatch.setattr(sg, "g_nonsaturating_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sg.fit_stylegan(G, D, sample_real, opt_G, opt_D, 2, 3, backend.rng(5))
    monkeypatch.undo()
    h = sg.fit_stylegan(G, D, sample_real, opt_G, opt_D, 2, 3, backend.rng(5))
    assert len(h) == 2 and all(np.isfinite(h.loss_G))


def test_fit_names_the_step_and_the_layer_that_blew_up():
    """It stopped with a bare NonFiniteInputError (no step); it shares fit's Watch now."""
    from tinygan.train import TrainingDiverged

    G, D = _tiny_g(2), _make_d(8, 2, 0.2, True, 3)
    gen = np.random.default_rng(4)
    with pytest.raises(TrainingDiverged, match=r"^training stopped at step 1 in the generator "
                                               r"step: D layer 1, LeakyReLU\(0.2\), received "
                                               r"384 non-finite.*\(lr_G = 1e\+08, lr_D = "
                                               r"1e\+08\)"), np.errstate(over="ignore",
                                                                        invalid="ignore"):
        sg.fit_stylegan(G, D, lambda m: gen.uniform(-1, 1, (m, 1, 8, 8)), tg.SGD(G, 1e8),
                        tg.SGD(D, 1e8), 50, 3, backend.rng(5))
