"""WGAN and WGAN-GP: gradient checks of the Wasserstein losses and of the gradient penalty.

The gradient penalty P = λ·mean(‖∇ₓf(x̂)‖ − 1)² depends on a gradient, so ∂P/∂W is a
second derivative, written by hand in tinygan.gans.wgan.gradient_penalty. It is checked here
against central differences of P itself (float64), and against PyTorch's
``autograd.grad(create_graph=True)`` where torch is installed.
Derivation: derivations/05_wgan_gp_double_backward.md
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import backend
from tinygan.gans.wgan import (
    clip_weights,
    critic_input_gradient,
    critic_loss,
    generator_loss_wasserstein,
    gradient_penalty,
    interpolate,
    update_critic,
    update_generator,
)
from tinygan.gradcheck import check_function, numerical_grad, rel_error
from tinygan.layers import Dense, LeakyReLU, ReLU, Sigmoid
from tinygan.models import Sequential

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)
KINK_MARGIN = 1e-2  # pre-activations are kept at least this far from 0


def _max_error(analytic, numeric):
    """Max scaled relative error; 0 where both gradients are at round-off level (< 1e-8)."""
    if max(float(abs(analytic).max()), float(abs(numeric).max())) < 1e-8:
        return 0.0
    return float(rel_error(analytic, numeric).max())


@given(n_real=st.integers(1, 8), n_fake=st.integers(1, 8), seed=seeds)
def test_critic_loss_gradcheck(xp, n_real, n_fake, seed):
    gen = np.random.default_rng(seed)
    real = xp.asarray(gen.normal(0, 3, (n_real, 1)))
    fake = xp.asarray(gen.normal(0, 3, (n_fake, 1)))
    report = check_function(critic_loss, real, fake, names=["d_real", "d_fake"])
    assert report.max_rel_error < 1e-6, str(report)
    loss = critic_loss(real, fake)[0]
    assert float(loss) == pytest.approx(float(fake.mean() - real.mean()))


@given(n=st.integers(1, 8), seed=seeds)
def test_generator_loss_wasserstein_gradcheck(xp, n, seed):
    fake = xp.asarray(np.random.default_rng(seed).normal(0, 3, (n, 1)))
    report = check_function(generator_loss_wasserstein, fake, names=["d_fake"])
    assert report.max_rel_error < 1e-6, str(report)


def _critic(seed, in_dim, widths, alpha, n, norm=None):
    """A float64 MLP critic and an input batch whose pre-activations avoid the kinks.

    Each hidden unit's bias is shifted (a deterministic map, not a filter) by the first
    of 0, +δ, −δ, +2δ, … that keeps every sample's pre-activation at least KINK_MARGIN
    from 0, so finite differences never cross a kink of the (Leaky)ReLU.

    ``norm``: scale the last layer (which moves no kink) so that the mean ‖∇ₓf‖ is
    ``norm``. A narrow critic with slope 0.01 can otherwise have ‖∇ₓf‖ ~ 1e-5, where
    P ≈ λ while ∂P/∂W ~ 1e-5 and finite differences measure only round-off.
    """
    gen = backend.rng(seed)
    layers, d = [], in_dim
    for w in widths:
        act = ReLU() if alpha == 0 else LeakyReLU(alpha)
        layers += [Dense(d, w, rng=gen, dtype="float64"), act]
        d = w
    layers.append(Dense(d, 1, rng=gen, dtype="float64"))
    C = Sequential(*layers)
    xp = backend.xp()
    x = xp.asarray(np.random.default_rng(seed).normal(0, 1, (n, in_dim)))
    h = x
    for layer in C.layers:
        if isinstance(layer, Dense):
            a = h @ layer.params["W"] + layer.params["b"]
            if layer is not C.layers[-1]:
                for j in range(a.shape[1]):
                    for step in range(0, 4 * n + 2):
                        shift = 3 * KINK_MARGIN * ((step + 1) // 2) * (1 if step % 2 else -1)
                        if float(xp.abs(a[:, j] + shift).min()) >= KINK_MARGIN:
                            break
                    layer.params["b"][j] += shift
                    a[:, j] += shift
            h = a
        else:
            h = xp.maximum(h, layer.alpha * h)
    if norm is not None:
        mean_norm = float(xp.sqrt((critic_input_gradient(C, x)[1] ** 2).sum(axis=1)).mean())
        if mean_norm > 0:  # 0 only if every unit is dead (ReLU): then P = λ and ∂P/∂W = 0
            C.layers[-1].params["W"] *= norm / mean_norm
    C.zero_grad()
    return C, x


critic_shapes = dict(
    seed=seeds, in_dim=st.integers(1, 4),
    widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    alpha=st.sampled_from([0.0, 0.01, 0.2, 0.5]), n=st.integers(1, 6))


@given(**critic_shapes)
def test_critic_input_gradient_matches_finite_differences(xp, seed, in_dim, widths, alpha, n):
    C, x = _critic(seed, in_dim, widths, alpha, n)
    scores, g, _, _ = critic_input_gradient(C, x)
    assert scores.shape == (n, 1) and g.shape == x.shape
    ref = C.forward(x)
    C.clear_cache()
    assert float(abs(scores - ref).max()) < 1e-12

    def f():
        out = C.forward(x)
        C.clear_cache()
        return out.sum()

    err = _max_error(g, numerical_grad(f, x))
    assert err < 1e-6, f"∇ₓf: max rel error {err:.2e} (seed {seed})"


@given(lam=st.floats(0.1, 20.0), norm=st.floats(0.2, 3.0), **critic_shapes)
def test_gradient_penalty_double_backward_matches_finite_differences(
        xp, seed, in_dim, widths, alpha, n, lam, norm):
    C, x = _critic(seed, in_dim, widths, alpha, n, norm)
    penalty, norms = gradient_penalty(C, x, lam)
    assert norms.shape == (n,)
    assert float(penalty) == pytest.approx(lam * float(((norms - 1) ** 2).mean()), rel=1e-12)
    analytic = {k: g.copy() for k, g in C.grads.items()}

    def f():
        return gradient_penalty(C, x, lam)[0]

    for k, p in C.params.items():
        # Central differences with Richardson extrapolation, (4·D(h/2) − D(h))/3, which
        # cancels the O(h²) truncation term; h = 1e-4 keeps the round-off eps·P/h ~ 1e-12,
        # small beside the smallest gradient entries that the relative error looks at.
        # The kink margin 1e-2 is far larger than the pre-activation changes h causes.
        num = (4 * numerical_grad(f, p, h=5e-5) - numerical_grad(f, p, h=1e-4)) / 3
        if k.endswith(".b"):  # biases only move the piecewise-constant slopes: ∂P/∂b = 0
            assert float(abs(num).max()) < 1e-6 and float(abs(analytic[k]).max()) == 0.0
            continue
        err = _max_error(analytic[k], num)
        assert err < 1e-6, f"∂P/∂{k}: max rel error {err:.2e} (seed {seed}, λ {lam})"


def test_gradient_penalty_vanishes_for_a_unit_norm_linear_critic(xp):
    C = Sequential(Dense(3, 1, init="zeros", dtype="float64"))
    C[0].params["W"][:, 0] = xp.asarray([0.6, 0.0, 0.8])  # ‖w‖ = 1 everywhere
    x = xp.asarray(np.random.default_rng(0).normal(size=(5, 3)))
    penalty, norms = gradient_penalty(C, x, 10.0)
    assert float(penalty) == pytest.approx(0.0, abs=1e-24)
    assert float(abs(norms - 1).max()) < 1e-15
    assert float(abs(C.grads["0.W"]).max()) < 1e-12


def test_gradient_penalty_rejects_a_critic_it_cannot_differentiate_twice(xp):
    gen = backend.rng(0)
    x = xp.zeros((2, 2))
    with pytest.raises(TypeError, match="Dense and ReLU/LeakyReLU"):
        gradient_penalty(Sequential(Dense(2, 3, rng=gen, dtype="float64"), Sigmoid(),
                                    Dense(3, 1, rng=gen, dtype="float64")), x)
    with pytest.raises(ValueError, match="Dense"):
        gradient_penalty(Sequential(Dense(2, 3, rng=gen, dtype="float64")), x)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        gradient_penalty(Sequential(Dense(2, 1, rng=gen, dtype="float64")), xp.zeros((2, 3)))


class _NoStep:
    """An optimizer stand-in: the gradients stay in .grads for the check."""

    def step(self):
        pass


@given(seed=seeds, lam=st.sampled_from([None, 0.5, 10.0]))
def test_update_critic_gradient_is_that_of_the_whole_critic_loss(xp, seed, lam):
    """End to end (papers.md §9): ∂/∂θ_C of mean f(x̃) − mean f(x) + P, with fixed ε."""
    C, x_real = _critic(seed, 2, [5, 4], 0.2, 4)
    gen = backend.rng(seed + 1)
    G = Sequential(Dense(2, 2, rng=gen, dtype="float64"))
    z = xp.asarray(np.random.default_rng(seed).normal(size=(4, 2)))
    update_critic(G, C, x_real, z, _NoStep(), gp_lambda=lam, rng=backend.rng(7))
    analytic = {k: g.copy() for k, g in C.grads.items()}

    def f():
        x_fake = G.forward(z)
        G.clear_cache()
        loss = critic_loss(C.forward(x_real), C.forward(x_fake))[0]
        C.clear_cache()
        if lam:
            x_hat, _ = interpolate(x_real, x_fake, backend.rng(7))
            keep = {k: g.copy() for k, g in C.grads.items()}
            loss = loss + gradient_penalty(C, x_hat, lam)[0]
            for k, g in C.grads.items():
                g[...] = keep[k]
        return loss

    for k, p in C.params.items():
        err = _max_error(analytic[k], numerical_grad(f, p))
        assert err < 1e-5, f"∂L_C/∂{k}: max rel error {err:.2e} (seed {seed}, λ {lam})"


@given(seed=seeds)
def test_update_generator_trains_G_through_the_critic(xp, seed):
    """∂/∂θ_G of −mean f(G(z)) must flow through C (a G that never trains is a known bug)."""
    C, _ = _critic(seed, 2, [5], 0.2, 1)
    gen = backend.rng(seed + 1)
    G = Sequential(Dense(2, 2, rng=gen, dtype="float64"))
    z = xp.asarray(np.random.default_rng(seed).normal(size=(3, 2)))
    before = {k: p.copy() for k, p in G.params.items()}

    class Capture:
        def step(self):
            self.grads = {k: g.copy() for k, g in G.grads.items()}

    opt = Capture()
    update_generator(G, C, z, opt)
    assert all(float(abs(g).max()) == 0 for g in C.grads.values())  # C is frozen: grads untouched

    def f():
        out = C.forward(G.forward(z))
        C.clear_cache()
        G.clear_cache()
        return -out.mean()

    for k, p in G.params.items():
        assert float(abs(p - before[k]).max()) == 0
        err = _max_error(opt.grads[k], numerical_grad(f, p))
        assert err < 1e-5, f"∂L_G/∂{k}: max rel error {err:.2e}"


def test_clip_weights_bounds_every_parameter(xp):
    gen = backend.rng(0)
    C = Sequential(Dense(2, 8, rng=gen, init=1.0), LeakyReLU(0.2), Dense(8, 1, rng=gen, init=1.0))
    clip_weights(C, 0.01)
    assert all(float(abs(p).max()) <= 0.01 for p in C.params.values())
    with pytest.raises(ValueError, match="c > 0"):
        clip_weights(C, 0.0)


@needs_torch
@pytest.mark.torch
@given(lam=st.floats(0.1, 20.0), norm=st.floats(0.2, 3.0), **critic_shapes)
def test_gradient_penalty_matches_torch_create_graph(seed, in_dim, widths, alpha, n, lam, norm):
    import torch

    backend.use("numpy")
    C, x = _critic(seed, in_dim, widths, alpha, n, norm)
    penalty, _ = gradient_penalty(C, x, lam)
    tW = {k: torch.tensor(v, requires_grad=True) for k, v in C.params.items()}
    tx = torch.tensor(x, requires_grad=True)
    h = tx
    for i, layer in enumerate(C.layers):
        if isinstance(layer, Dense):
            h = h @ tW[f"{i}.W"] + tW[f"{i}.b"]
        else:
            h = torch.nn.functional.leaky_relu(h, layer.alpha)
    (g,) = torch.autograd.grad(h.sum(), tx, create_graph=True)
    tp = lam * ((g.norm(dim=1) - 1) ** 2).mean()
    tp.backward()
    assert float(penalty) == pytest.approx(tp.item(), rel=1e-10, abs=1e-12)
    for k, v in tW.items():
        ref = v.grad.numpy() if v.grad is not None else np.zeros_like(C.grads[k])
        np.testing.assert_allclose(C.grads[k], ref, rtol=1e-9, atol=1e-12, err_msg=k)
