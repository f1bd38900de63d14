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
from tinygan.layers import Dense, LeakyReLU, ReLU, Sigmoid, no_grad
from tinygan.models import Sequential
from tinygan.optim import Adam
from tinygan.train import fake_batch

from .conftest import needs_torch

seeds = st.integers(0, 2**31 - 1)
KINK_MARGIN = 1e-2  # pre-activations are kept at least this far from 0


def _max_error(analytic, numeric):
    """Max scaled relative error (tinygan.gradcheck.rel_error), refusing to compare zeros.

    The critics below keep every unit alive, so each weight gradient compared here is far
    from zero; a ~0 numeric gradient means the check would measure only round-off, which
    is a broken test, not a passing one. The all-dead critic has its own exact test.
    """
    assert np.nanmax(abs(backend.to_numpy(numeric))) > 1e-6, "comparing a ~0 gradient"
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


def _critic(seed, in_dim, widths, alpha, n, norm=None, x=None, also=None):
    """A float64 MLP critic and an input batch whose pre-activations avoid the kinks.

    Each hidden unit's bias is shifted (a deterministic map, not a filter) by the first
    of 0, +δ, −δ, +2δ, … that keeps every sample's pre-activation at least KINK_MARGIN
    from 0, so finite differences never cross a kink of the (Leaky)ReLU, and that keeps
    the unit *alive* (positive for at least one sample), so that no gradient compared
    is exactly zero because a ReLU unit is dead for the whole batch. ``also``: more
    inputs (fake batches, interpolates) that are kept off the kinks too.

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
    if x is None:
        x = xp.asarray(np.random.default_rng(seed).normal(0, 1, (n, in_dim)))
    h = x if also is None else xp.concatenate([x, also])
    live = np.ones(x.shape[0], dtype=bool)  # rows of x with an active unit in every layer so far
    for layer in C.layers:
        if isinstance(layer, Dense):
            a = h @ layer.params["W"] + layer.params["b"]
            if layer is not C.layers[-1]:
                for j in range(a.shape[1]):
                    shift = _shift(backend.to_numpy(a[:, j]), live)
                    layer.params["b"][j] += shift
                    a[:, j] += shift
                live &= (backend.to_numpy(a[:x.shape[0]]) > 0).any(axis=1)
            h = a
        else:
            h = xp.maximum(h, layer.alpha * h)
    if norm is not None:
        mean_norm = float(xp.sqrt((critic_input_gradient(C, x)[1] ** 2).sum(axis=1)).mean())
        C.layers[-1].params["W"] *= norm / mean_norm  # > 0: some row of x is alive
    C.zero_grad()
    return C, x


def _shift(a, live):
    """A bias shift for one unit with pre-activations ``a`` (the rows of x first, then the
    extra inputs): the first of 0, +3δ, −3δ, +6δ, … (δ = KINK_MARGIN) that puts every value
    at least δ from 0 and one live row of x above it, preferring a shift that also leaves
    a row of x below 0 (so that f is not one affine map over the whole batch); if none
    does within 4·len(a) + 2 tries, the shift that puts the smallest value at +3δ."""
    shifts = [3 * KINK_MARGIN * ((step + 1) // 2) * (1 if step % 2 else -1)
              for step in range(0, 4 * a.size + 2)]
    n = live.size
    for mixed in (True, False):
        for shift in shifts:
            b = a + shift
            if abs(b).min() >= KINK_MARGIN and (b[:n][live] > 0).any() and \
                    (not mixed or (b[:n] < 0).any()):
                return shift
    return 3 * KINK_MARGIN - a.min()


critic_shapes = dict(
    seed=seeds, in_dim=st.integers(1, 4),
    widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    alpha=st.sampled_from([0.0, 0.01, 0.2, 0.5]), n=st.integers(1, 6))


@given(**critic_shapes)
def test_critic_input_gradient_matches_finite_differences(xp, seed, in_dim, widths, alpha, n):
    C, x = _critic(seed, in_dim, widths, alpha, n)
    scores, g, _, _ = critic_input_gradient(C, x)
    assert scores.shape == (n, 1) and g.shape == x.shape
    with no_grad(C):
        ref = C.forward(x)
    assert float(abs(scores - ref).max()) < 1e-12

    def f():
        with no_grad(C):
            return C.forward(x).sum()

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


def test_dead_critic_has_exactly_zero_penalty_gradient(xp):
    """Every ReLU unit dead for every sample: ∇ₓf = 0, P = λ exactly, and ∂P/∂W = 0 on both
    sides, exactly (the live-unit tests above never compare such zeros)."""
    gen = backend.rng(0)
    C = Sequential(Dense(3, 4, rng=gen, dtype="float64"), ReLU(),
                   Dense(4, 1, rng=gen, dtype="float64"))
    C[0].params["b"][...] = -100.0  # far below any pre-activation the inputs reach
    x = xp.asarray(np.random.default_rng(0).normal(size=(5, 3)))
    penalty, norms = gradient_penalty(C, x, 10.0)
    assert float(penalty) == 10.0 and float(abs(norms).max()) == 0.0
    for k, p in C.params.items():
        assert float(abs(C.grads[k]).max()) == 0.0, k
        assert float(abs(numerical_grad(lambda: gradient_penalty(C, x, 10.0)[0], p)).max()) \
            == 0.0, k


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_critic_input_gradient_takes_the_left_slope_at_zero(xp, alpha):
    """A pre-activation of exactly 0 gets the slope α, as the (Leaky)ReLU layer's backward."""
    C = Sequential(Dense(2, 3, init="zeros", dtype="float64"),
                   ReLU() if alpha == 0 else LeakyReLU(alpha), Dense(3, 1, init="zeros",
                                                                      dtype="float64"))
    C[0].params["W"][...] = xp.asarray([[1.0, 0.0, 2.0], [0.0, 0.0, -1.0]])
    C[2].params["W"][...] = xp.asarray([[1.0], [2.0], [3.0]])
    x = xp.asarray([[0.0, 1.0], [1.0, 2.0]])  # unit 0 of row 0 and unit 1 of both rows sit at 0
    _, g, _, _ = critic_input_gradient(C, x)
    out = C.forward(x)
    ref = C.backward(xp.ones_like(out))
    np.testing.assert_array_equal(backend.to_numpy(g), backend.to_numpy(ref))


def test_interpolate_draws_one_uniform_epsilon_per_sample(xp):
    """x̂_n = ε_n x_n + (1 − ε_n) x̃_n with ε_n ~ U(0, 1), independent across samples and the
    same across a sample's features (WGAN-GP, Algorithm 1: one ε per sample)."""
    N = 4000
    gen = np.random.default_rng(0)
    x, x_fake = xp.asarray(gen.normal(size=(N, 3))), xp.asarray(gen.normal(size=(N, 3)))
    x_hat, eps = interpolate(x, x_fake, backend.rng(1))
    x, x_fake, x_hat, eps = (backend.to_numpy(a) for a in (x, x_fake, x_hat, eps))
    assert eps.shape == (N, 1)
    np.testing.assert_allclose(x_hat, eps * x + (1 - eps) * x_fake, rtol=1e-12, atol=1e-14)
    t = (x_hat - x_fake) / (x - x_fake)  # the position along each segment, per feature
    np.testing.assert_allclose(t, np.repeat(eps, 3, axis=1), rtol=1e-9)
    e = np.sort(eps[:, 0])
    assert len(np.unique(e)) == N and 0 < e[0] and e[-1] < 1
    ks = np.abs(e - (np.arange(1, N + 1) - 0.5) / N).max()  # Kolmogorov–Smirnov vs U(0, 1)
    assert ks < 1.63 / np.sqrt(N), f"KS statistic {ks:.4f}"  # the 1% critical value
    assert abs(np.corrcoef(eps[:-1, 0], eps[1:, 0])[0, 1]) < 4 / np.sqrt(N)


def _toy_wgan(seed):
    gen = backend.rng(seed)
    G = Sequential(Dense(2, 4, rng=gen, dtype="float64"), LeakyReLU(0.2),
                   Dense(4, 2, rng=gen, dtype="float64"))
    C = Sequential(Dense(2, 4, rng=gen, dtype="float64"), LeakyReLU(0.2),
                   Dense(4, 1, rng=gen, dtype="float64"))
    return G, C


def test_fit_wgan_draws_fresh_batches_and_a_fresh_epsilon_every_critic_step(monkeypatch):
    """n_critic data batches and n_critic + 1 noise batches per G step, none reused, and a
    new ε for every critic step (not the same draw again: one generator for the run)."""
    from tinygan.gans import wgan

    from .test_train import Draws, Spy, _row_counts

    seen_eps = []

    def recording_interpolate(x_real, x_fake, rng):
        out = interpolate(x_real, x_fake, rng)
        seen_eps.append(backend.to_numpy(out[1]).copy())
        return out

    monkeypatch.setattr(wgan, "interpolate", recording_interpolate)
    steps, n_critic, m = 3, 2, 4
    G, C = _toy_wgan(0)
    G = Sequential(Spy(), *G.layers)
    draws = Draws(0, data_dim=2)
    wgan.fit_wgan(G, C, draws.sample_real, draws.sample_noise, Adam(G, 1e-3), Adam(C, 1e-3),
                  steps, m, n_critic=n_critic, gp_lambda=1.0, seed=0)
    assert len(draws.real) == steps * n_critic and len(draws.noise) == steps * (n_critic + 1)
    seen = _row_counts(G[0].seen)
    assert all(seen.get(r.tobytes()) == 1 for b in draws.noise for r in b)
    assert len(G[0].backpropagated) == steps
    critic_noise = {r.tobytes() for i in range(steps)
                    for b in draws.noise[i * (n_critic + 1):][:n_critic] for r in b}
    assert not set(_row_counts(G[0].backpropagated)) & critic_noise
    assert len(seen_eps) == steps * n_critic
    assert len({e.tobytes() for e in seen_eps}) == len(seen_eps), "an ε draw was repeated"


def test_a_short_wgan_gp_run_moves_the_critic_and_the_generator_the_right_way():
    """On a 2-D Gaussian, 60 steps of WGAN-GP (λ = 1): the critic's estimate of the
    Wasserstein distance, mean f(x) − mean f(G(z)), first rises (the critic learns) and
    then falls as G's samples move onto the data (seed 3 measured: a peak of 3.0 at step
    14, −0.09 over the last 10 steps; G's mean from 2.04 to 0.45 away from the data's)."""
    from tinygan.gans.wgan import fit_wgan

    G, C = _toy_wgan(3)
    gen = np.random.default_rng(3)
    target = np.array([2.0, -1.0])

    def sample_real(m):
        return target + 0.3 * gen.standard_normal((m, 2))

    def sample_noise(m):
        return gen.standard_normal((m, 2))

    z = np.random.default_rng(9).standard_normal((500, 2))

    def distance():
        with no_grad(G):
            return float(np.linalg.norm(G.forward(z).mean(0) - target))

    start = distance()
    h = fit_wgan(G, C, sample_real, sample_noise, Adam(G, 1e-2, betas=(0.5, 0.9)),
                 Adam(C, 1e-2, betas=(0.5, 0.9)), 60, 32, n_critic=5, gp_lambda=1.0, seed=0)
    end = distance()
    wdist = np.array(h.D_real) - np.array(h.D_fake)
    peak = wdist[:30].max()
    assert peak > 1.0 and wdist[-10:].mean() < 0.25 * peak, wdist
    assert end < 0.35 * start, (start, end)


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
    """End to end (papers.md §9): ∂/∂θ_C of mean f(x̃) − mean f(x) + P, with fixed ε.

    The critic is kept off its kinks on the real batch, the fake batch and the
    interpolates alike, so that the finite differences are exact to round-off."""
    gen = backend.rng(seed + 1)
    G = Sequential(Dense(2, 2, rng=gen, init="normal", dtype="float64"))
    z = xp.asarray(np.random.default_rng(seed).normal(size=(5, 2)))
    x_real = xp.asarray(np.random.default_rng(seed + 2).normal(size=(5, 2)) + [0.7, -0.4])
    x_fake = fake_batch(G, z)
    x_hat, _ = interpolate(x_real, x_fake, backend.rng(7))
    C, _ = _critic(seed, 2, [5, 4], 0.2, 10, x=xp.concatenate([x_real, x_fake]), also=x_hat)
    update_critic(G, C, x_real, z, _NoStep(), gp_lambda=lam, rng=backend.rng(7))
    analytic = {k: g.copy() for k, g in C.grads.items()}

    def f():
        fake = fake_batch(G, z)
        with no_grad(C):
            loss = critic_loss(C.forward(x_real), C.forward(fake))[0]
        if lam:
            x_hat, _ = interpolate(x_real, fake, backend.rng(7))
            keep = {k: g.copy() for k, g in C.grads.items()}
            loss = loss + gradient_penalty(C, x_hat, lam)[0]
            for k, g in C.grads.items():
                g[...] = keep[k]
        return loss

    for k, p in C.params.items():
        num = numerical_grad(f, p)
        if k.endswith(".b") and float(abs(analytic[k]).max()) < 1e-15:
            # exact zeros, checked as such: the offset of the last layer cancels in
            # mean f(x̃) − mean f(x), and f is affine on each region of constant slopes, so
            # a hidden bias's gradient is a difference of region counts that can balance
            assert float(abs(num).max()) < 1e-9, f"∂L_C/∂{k}: analytic 0, numeric {num}"
            continue
        err = _max_error(analytic[k], num)
        assert err < 1e-6, f"∂L_C/∂{k}: max rel error {err:.2e} (seed {seed}, λ {lam})"


@given(seed=seeds)
def test_update_generator_trains_G_through_the_critic(xp, seed):
    """∂/∂θ_G of −mean f(G(z)) must flow through C (a G that never trains is a known bug)."""
    gen = backend.rng(seed + 1)
    G = Sequential(Dense(2, 2, rng=gen, dtype="float64"))
    z = xp.asarray(np.random.default_rng(seed).normal(size=(3, 2)))
    C, _ = _critic(seed, 2, [5], 0.2, 3, x=fake_batch(G, z))

    class Capture:
        def step(self):
            self.grads = {k: g.copy() for k, g in G.grads.items()}

    opt = Capture()
    update_generator(G, C, z, opt)
    assert all(float(abs(g).max()) == 0 for g in C.grads.values())  # C is frozen: grads untouched

    def f():
        with no_grad(G), no_grad(C):
            return -C.forward(G.forward(z)).mean()

    for k, p in G.params.items():
        err = _max_error(opt.grads[k], numerical_grad(f, p))
        assert err < 1e-6, f"∂L_G/∂{k}: max rel error {err:.2e}"


def test_clip_weights_bounds_every_parameter(xp):
    """WGAN clips *every* parameter, biases included, to [−c, c]; values inside stay put."""
    gen = backend.rng(0)
    C = Sequential(Dense(2, 8, rng=gen, init="normal"), LeakyReLU(0.2),
                   Dense(8, 1, rng=gen, init="normal"))  # normal biases: not all zero
    before = {k: backend.to_numpy(p).copy() for k, p in C.params.items()}
    c = 0.1
    clip_weights(C, c)
    for k, p in C.params.items():
        assert (abs(before[k]) > c).any(), k  # the test would prove nothing otherwise
        np.testing.assert_array_equal(backend.to_numpy(p), np.clip(before[k], -c, c), err_msg=k)
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
