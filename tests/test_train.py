"""End-to-end gradients of Algorithm 1's two steps, checked against finite differences.

The per-layer gradchecks cannot see wiring bugs between G, D and the losses, such
as backpropagating the real-batch loss through the cache of the fake pass
(papers.md §9). These tests differentiate the *whole* objective numerically.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend, losses
from tinygan.gradcheck import numerical_grad, rel_error


class Capture:
    """An 'optimizer' that records the gradients it is asked to apply and changes nothing."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def step(self):
        self.grads = {k: g.copy() for k, g in self.model.grads.items()}


def make_gan(seed, latent=2, data=3, hidden=4):
    r = backend.rng(seed)
    G = tg.Sequential(tg.Dense(latent, hidden, rng=r, dtype="float64"), tg.Tanh(),
                      tg.Dense(hidden, data, rng=r, dtype="float64"))
    D = tg.Sequential(tg.Dense(data, hidden, rng=r, dtype="float64"), tg.Tanh(),
                      tg.Dense(hidden, 1, rng=r, dtype="float64"))
    return G, D


def d_objective(G, D, x, z):
    """L_D(θ_D) computed from scratch with forwards only."""
    real = D.forward(x)
    fake = D.forward(G.forward(z))
    G.clear_cache()
    D.clear_cache()
    return losses.discriminator_loss(real, fake)[0]


def g_objective(G, D, z, kind):
    value = losses.generator_loss(D.forward(G.forward(z)), kind)[0]
    G.clear_cache()
    D.clear_cache()
    return value


def check_against_fd(model, analytic, objective):
    worst = 0.0
    for k, p in model.params.items():
        num = numerical_grad(objective, p)
        worst = max(worst, float(rel_error(analytic[k], num).max()))
    return worst


def stale_cache_update_d(G, D, x_real, z, opt_D):
    """The bug of papers.md §9: both forwards first, then both backwards.

    With a one-slot cache our layers refuse the second backward, so this version
    keeps its own copy of the caches to make the bug possible, as the buggy
    projects do: the real loss is backpropagated through the *fake* pass's cache.
    """
    D.zero_grad()
    x_fake = G.forward(z)
    G.clear_cache()
    real = D.forward(x_real)
    fake = D.forward(x_fake)
    caches = [layer.cache for layer in D.layers]
    _, d_real, d_fake = losses.discriminator_loss(real, fake)
    D.backward(d_real)                     # uses the fake pass's cache: wrong
    for layer, c in zip(D.layers, caches):
        layer.cache = c
    D.backward(d_fake)
    opt_D.step()


@given(seed=st.integers(0, 10_000), m=st.integers(1, 6))
def test_update_d_gradient_matches_finite_differences(seed, m):
    G, D = make_gan(seed)
    gen = np.random.default_rng(seed)
    x, z = gen.standard_normal((m, 3)), gen.standard_normal((m, 2))
    cap = Capture(D)
    tg.update_d(G, D, x, z, cap)
    assert check_against_fd(D, cap.grads, lambda: d_objective(G, D, x, z)) < 1e-6
    assert not any(g.any() for g in G.grads.values())  # G is not touched by D's step


@pytest.mark.parametrize("kind", ["minimax", "nonsaturating"])
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6))
def test_update_g_gradient_through_d_matches_finite_differences(kind, seed, m):
    G, D = make_gan(seed)
    z = np.random.default_rng(seed).standard_normal((m, 2))
    D.params["0.W"][...] += 0.0  # D's parameters stay fixed during G's step
    d_before = {k: v.copy() for k, v in D.params.items()}
    cap = Capture(G)
    tg.update_g(G, D, z, cap, kind)
    assert check_against_fd(G, cap.grads, lambda: g_objective(G, D, z, kind)) < 1e-6
    assert not any(g.any() for g in D.grads.values()), "D's grads must be discarded"
    for k, v in D.params.items():
        np.testing.assert_array_equal(v, d_before[k])


def test_the_end_to_end_check_catches_the_stale_cache_bug():
    G, D = make_gan(0)
    gen = np.random.default_rng(0)
    x, z = gen.standard_normal((5, 3)), gen.standard_normal((5, 2))
    cap = Capture(D)
    stale_cache_update_d(G, D, x, z, cap)
    err = check_against_fd(D, cap.grads, lambda: d_objective(G, D, x, z))
    assert err > 0.1, f"the stale-cache bug went unnoticed (max rel error {err:.2e})"


def test_one_slot_cache_refuses_the_stale_cache_pattern():
    G, D = make_gan(0)
    x = np.zeros((2, 3))
    D.forward(x)
    D.forward(x)
    D.backward(np.ones((2, 1)))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        D.backward(np.ones((2, 1)))


def _samplers(seed, data_dim=3, latent=2):
    gen = np.random.default_rng(seed)
    calls = {"real": 0}

    def real(m):
        calls["real"] += 1
        return gen.standard_normal((m, data_dim)) * 0.5 + 1.0

    return real, (lambda m: gen.standard_normal((m, latent))), calls


def test_fit_runs_k_discriminator_steps_and_records_history():
    G, D = make_gan(1)
    real, noise, calls = _samplers(1)
    hist = tg.fit(G, D, real, noise, tg.Adam(G, 1e-3), tg.Adam(D, 1e-3), num_steps=7,
                  batch_size=8, k=3)
    assert calls["real"] == 7 * 3
    arrays = hist.as_arrays()
    assert set(arrays) == {"loss_D", "loss_G", "D_real", "D_fake"}
    assert all(len(v) == 7 and np.isfinite(v).all() for v in arrays.values())
    assert ((arrays["D_real"] > 0) & (arrays["D_real"] < 1)).all()


def test_fit_is_reproducible_with_fixed_seeds():
    results = []
    for _ in range(2):
        G, D = make_gan(3)
        real, noise, _ = _samplers(3)
        h = tg.fit(G, D, real, noise, tg.SGD(G, 0.05), tg.SGD(D, 0.05), 20, 4)
        results.append((h.as_arrays()["loss_G"], G.params["2.W"].copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_fit_stops_on_a_non_finite_loss_naming_the_step():
    G, D = make_gan(2)
    real, noise, calls = _samplers(2)

    def poisoned(m):
        x = real(m)
        if calls["real"] > 3:
            x[0, 0] = np.inf
        return x

    # let the inf reach the loss instead of the input check; NumPy's own warnings about
    # inf - inf are not what this test is about
    with backend.checks(False), np.errstate(invalid="ignore", over="ignore"):
        with pytest.raises(tg.TrainingDiverged, match=r"stopped at step 3: the .* loss is nan"):
            tg.fit(G, D, poisoned, noise, tg.SGD(G, 0.01), tg.SGD(D, 0.01), 10, 4)


def test_fit_argument_errors():
    G, D = make_gan(0)
    real, noise, _ = _samplers(0)
    with pytest.raises(ValueError, match="k ≥ 1"):
        tg.fit(G, D, real, noise, tg.SGD(G, 0.1), tg.SGD(D, 0.1), 1, 4, k=0)
    with pytest.raises(ValueError, match="unknown generator loss"):
        tg.fit(G, D, real, noise, tg.SGD(G, 0.1), tg.SGD(D, 0.1), 1, 4, generator_loss="x")


def test_update_d_reports_the_mean_probabilities_before_its_step():
    G, D = make_gan(4)
    gen = np.random.default_rng(4)
    x, z = gen.standard_normal((6, 3)), gen.standard_normal((6, 2))
    fake = G.forward(z)
    G.clear_cache()
    want_real = tg.sigmoid(D.forward(x)).mean()
    want_fake = tg.sigmoid(D.forward(fake)).mean()
    D.clear_cache()
    want_loss = d_objective(G, D, x, z)
    stats = tg.update_d(G, D, x, z, Capture(D))
    np.testing.assert_allclose(stats["D_real"], want_real, rtol=1e-12)
    np.testing.assert_allclose(stats["D_fake"], want_fake, rtol=1e-12)
    np.testing.assert_allclose(stats["loss_D"], want_loss, rtol=1e-12)
