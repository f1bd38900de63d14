"""Algorithm 1's two steps and its loop, checked end to end.

* The gradient each step applies equals central differences of *that step's*
  objective, on the batches that step drew (``update_d``/``update_g`` alone, and
  through ``fit`` on a small DCGAN with BatchNorm in train mode, k = 1 and k = 2).
* ``fit``'s randomness: k fresh data batches and k + 1 fresh noise batches per
  iteration, none reused (a reused batch leaves the loss finite and the curves
  plausible, so only a test that looks at the batches notices).
* G's BatchNorm running statistics move once per iteration (tinygan/train.py).

The per-layer gradchecks cannot see wiring bugs between G, D and the losses, such
as backpropagating the real-batch loss through the cache of the fake pass
(papers.md §9); these tests differentiate the *whole* objective numerically.
"""

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend, losses
from tinygan.gradcheck import numerical_grad, rel_error
from tinygan.layers.base import Layer, no_grad
from tinygan.models.dcgan import dcgan_pair


class Capture:
    """An 'optimizer' that records the gradients it is asked to apply and changes nothing."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def step(self):
        self.grads = {k: g.copy() for k, g in self.model.grads.items()}


class RecordingSGD(tg.SGD):
    """Plain SGD that records, per step, the parameters before it and the update applied."""

    def __init__(self, model, lr):
        super().__init__(model, lr)
        self.before, self.after, self.applied = [], [], []

    def step(self):
        model = self.models[0]
        before = {k: p.copy() for k, p in model.params.items()}
        super().step()
        self.before.append(before)
        self.after.append({k: p.copy() for k, p in model.params.items()})
        # the gradient the step applied, read off the parameters: (θ − θ') / lr
        self.applied.append({k: (before[k] - p) / self.lr for k, p in model.params.items()})


def make_gan(seed, latent=2, data=3, hidden=4):
    r = backend.rng(seed)
    G = tg.Sequential(tg.Dense(latent, hidden, rng=r, dtype="float64"), tg.Tanh(),
                      tg.Dense(hidden, data, rng=r, dtype="float64"))
    D = tg.Sequential(tg.Dense(data, hidden, rng=r, dtype="float64"), tg.Tanh(),
                      tg.Dense(hidden, 1, rng=r, dtype="float64"))
    return G, D


def forward_only(model, x):
    with no_grad(model):
        return model.forward(x)


def d_objective(G, D, x, z):
    """L_D(θ_D) computed from scratch with forwards only (each batch its own forward)."""
    real = forward_only(D, x)
    fake = forward_only(D, forward_only(G, z))
    return losses.discriminator_loss(real, fake)[0]


def g_objective(G, D, z, kind):
    return losses.generator_loss(forward_only(D, forward_only(G, z)), kind)[0]


def worst_error(model, analytic, objective, max_checks=None, seed=0):
    """Max scaled relative error of ``analytic`` against central differences of ``objective``
    (over ``max_checks`` sampled elements per tensor, or all of them)."""
    worst, gen = 0.0, np.random.default_rng(seed)
    for k, p in model.params.items():
        idx = None
        if max_checks is not None and p.size > max_checks:
            flat = gen.choice(p.size, max_checks, replace=False)
            idx = [tuple(int(i) for i in np.unravel_index(f, p.shape)) for f in flat]
        num = numerical_grad(objective, p, indices=idx)
        assert np.nanmax(abs(num)) > 1e-6, f"∂L/∂{k} is ~0: the check would compare zeros"
        worst = max(worst, float(rel_error(analytic[k], num).max()))
    return worst


# -- each step alone ---------------------------------------------------------------------------
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6))
def test_update_d_gradient_matches_finite_differences(seed, m):
    G, D = make_gan(seed)
    gen = np.random.default_rng(seed)
    x, z = gen.standard_normal((m, 3)), gen.standard_normal((m, 2))
    cap = Capture(D)
    tg.update_d(G, D, x, z, cap)
    assert worst_error(D, cap.grads, lambda: d_objective(G, D, x, z)) < 1e-6
    assert not any(g.any() for g in G.grads.values())  # D's step leaves G's grads alone


@pytest.mark.parametrize("kind", ["minimax", "nonsaturating", "maximum_likelihood"])
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6))
def test_update_g_gradient_through_d_matches_finite_differences(kind, seed, m):
    G, D = make_gan(seed)
    z = np.random.default_rng(seed).standard_normal((m, 2))
    cap = Capture(G)
    tg.update_g(G, D, z, cap, kind)
    assert worst_error(G, cap.grads, lambda: g_objective(G, D, z, kind)) < 1e-6
    assert not any(g.any() for g in D.grads.values()), "D is frozen in G's step"


def stale_cache_update_d(G, D, x_real, z, opt_D):
    """The bug of papers.md §9: both forwards first, then both backwards.

    Our layers refuse a second forward before the first one's backward, so this version
    throws the real pass's cache away and keeps its own copy of the fake pass's caches,
    as the buggy projects do: the real loss is backpropagated through the *fake* pass.
    """
    D.zero_grad()
    x_fake = tg.fake_batch(G, z)
    real = D.forward(x_real)
    D.clear_cache()                        # what the buggy projects do without saying
    fake = D.forward(x_fake)
    caches = [layer.cache for layer in D.layers]
    _, d_real, d_fake = losses.discriminator_loss(real, fake)
    D.backward(d_real)                     # uses the fake pass's cache: wrong
    for layer, c in zip(D.layers, caches):
        layer.cache = c
    D.backward(d_fake)
    opt_D.step()


def test_the_end_to_end_check_catches_the_stale_cache_bug():
    G, D = make_gan(0)
    gen = np.random.default_rng(0)
    x, z = gen.standard_normal((5, 3)), gen.standard_normal((5, 2))
    cap = Capture(D)
    stale_cache_update_d(G, D, x, z, cap)
    err = worst_error(D, cap.grads, lambda: d_objective(G, D, x, z))
    assert err > 0.1, f"the stale-cache bug went unnoticed (max rel error {err:.2e})"


def test_update_d_reports_the_mean_probabilities_before_its_step():
    G, D = make_gan(4)
    gen = np.random.default_rng(4)
    x, z = gen.standard_normal((6, 3)), gen.standard_normal((6, 2))
    fake = forward_only(G, z)
    want_real = tg.sigmoid(forward_only(D, x)).mean()
    want_fake = tg.sigmoid(forward_only(D, fake)).mean()
    want_loss = d_objective(G, D, x, z)
    stats = tg.update_d(G, D, x, z, Capture(D))
    np.testing.assert_allclose(stats["D_real"], want_real, rtol=1e-12)
    np.testing.assert_allclose(stats["D_fake"], want_fake, rtol=1e-12)
    np.testing.assert_allclose(stats["loss_D"], want_loss, rtol=1e-12)


@pytest.mark.parametrize("cost", sorted(losses.GENERATOR_LOSSES))
def test_update_g_reports_the_mean_probability_before_its_step(cost):
    """D_fake is mean σ(a) before the step, for every cost. (Not 1 + Σ dL/da for the
    non-saturating cost, as update_d's D_real is: near D = 0, where the saturation
    experiment works, that cancels away the digits: 1e-11 relative error in float64.)"""
    G, D = make_gan(5)
    z = np.random.default_rng(5).standard_normal((6, 2))
    want = tg.sigmoid(forward_only(D, forward_only(G, z))).mean()
    stats = tg.update_g(G, D, z, Capture(G), loss=cost)
    np.testing.assert_allclose(stats["D_fake"], want, rtol=1e-12)


# -- fit's randomness: every batch fresh ----------------------------------------------------------
class Spy(Layer):
    """The identity, recording every input it sees and which of them were backpropagated."""

    def __init__(self):
        super().__init__()
        self.seen, self.backpropagated = [], []

    def forward(self, x):
        self.seen.append(backend.to_numpy(x).copy())
        self.cache = len(self.seen) - 1
        return x

    def backward(self, dout, need_dx=True):
        self.backpropagated.append(self.seen[self._pop_cache()])
        return dout


class Draws:
    """Samplers of data and noise that keep every batch they hand out."""

    def __init__(self, seed, data_dim=3, latent=2):
        self.gen = np.random.default_rng(seed)
        self.data_dim, self.latent = data_dim, latent
        self.real, self.noise = [], []

    def sample_real(self, m):
        self.real.append(self.gen.standard_normal((m, self.data_dim)) * 0.5 + 1.0)
        return self.real[-1]

    def sample_noise(self, m):
        self.noise.append(self.gen.standard_normal((m, self.latent)))
        return self.noise[-1]


def _row_counts(batches):
    """How often each row (as bytes) occurs in a list of (m, d) arrays."""
    counts = {}
    for b in batches:
        for row in np.asarray(b):
            counts[row.tobytes()] = counts.get(row.tobytes(), 0) + 1
    return counts


@pytest.mark.parametrize("k", [1, 2, 3])
def test_fit_draws_fresh_data_and_noise_for_every_step(k):
    """k data batches and k + 1 noise batches per iteration, each used exactly once.

    Order-free: the test looks at which rows reached D and G, so it does not care
    whether update_d feeds the real batch first or concatenates it with the fake one.
    Each of these fails it: one noise batch for all k D steps; G's step reusing the last
    D step's noise; one data batch for all k D steps.
    """
    steps, m = 3, 4
    G, D = make_gan(k)
    G = tg.Sequential(Spy(), *G.layers)
    D = tg.Sequential(Spy(), *D.layers)
    draws = Draws(k)
    tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.05), tg.SGD(D, 0.05),
           num_steps=steps, batch_size=m, k=k)
    assert len(draws.real) == steps * k and len(draws.noise) == steps * (k + 1)
    seen_by_g = _row_counts(G[0].seen)
    assert all(seen_by_g.get(r.tobytes()) == 1 for b in draws.noise for r in b), \
        "a noise batch was fed to G twice, or never"
    assert sum(seen_by_g.values()) == steps * (k + 1) * m
    seen_by_d = _row_counts(D[0].seen)
    assert all(seen_by_d.get(r.tobytes()) == 1 for b in draws.real for r in b), \
        "a data batch was fed to D twice, or never"
    # G's own step: one fresh batch per iteration, never one that D's steps used
    assert len(G[0].backpropagated) == steps
    g_rows = _row_counts(G[0].backpropagated)
    d_step_noise = {r.tobytes() for i in range(steps) for b in draws.noise[i * (k + 1):][:k]
                    for r in b}
    assert len(g_rows) == steps * m and not set(g_rows) & d_step_noise


@pytest.mark.parametrize("m", [2, 3])
def test_each_pack_holds_m_distinct_fresh_samples(m):
    """PacGAN: D judges packs of m *independent* samples: pack n is samples n·m … n·m + m − 1
    of the batch, none repeated within a pack or anywhere else."""
    packs, steps = 3, 2
    G, _ = make_gan(0)
    r = backend.rng(1)
    before, after = Spy(), Spy()
    D = tg.Sequential(before, tg.Pack(m), after, tg.Dense(3 * m, 4, rng=r, dtype="float64"),
                      tg.LeakyReLU(0.2), tg.Dense(4, 1, rng=r, dtype="float64"))
    draws = Draws(5)
    tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.05), tg.SGD(D, 0.05),
           num_steps=steps, batch_size=packs * m, k=1)
    assert len(before.seen) == len(after.seen) == 3 * steps
    for x, p in zip(before.seen, after.seen):
        assert p.shape == (packs, 3 * m)
        for n in range(packs):
            members = p[n].reshape(m, 3)
            np.testing.assert_array_equal(members, x[n * m:(n + 1) * m])
            assert len({row.tobytes() for row in members}) == m
    counts = _row_counts(before.seen)
    assert all(c == 1 for c in counts.values()), "a sample reached D twice"
    assert all(counts.get(r.tobytes()) == 1 for b in draws.real for r in b)


# -- the whole loop on a DCGAN with BatchNorm: the applied update is that step's gradient ----------
def _small_dcgan(seed):
    """dcgan_pair at 4×4 (width 2, latent 3), float64, weights scaled up from N(0, 0.02²) so
    that D's output and G's gradients are far above finite-difference round-off."""
    G, D, _ = dcgan_pair(4, latent_dim=3, width=2, seed=seed, dtype="float64")
    gen = np.random.default_rng(seed)
    for model in (G, D):
        for k, p in model.params.items():
            if k.endswith(".W"):
                p *= 20.0
            elif k.endswith(".b"):
                p += gen.uniform(-0.5, 0.5, p.shape)
    return G, D


@pytest.mark.parametrize("k", [1, 2])
def test_fit_on_a_dcgan_applies_the_gradient_of_each_steps_objective(k):
    """Through ``fit`` itself, BatchNorm in train mode, float64: at each of the k D steps
    and the G step of each iteration, the update SGD applied, (θ − θ')/lr, equals central
    differences of that step's objective (24 sampled elements of each parameter tensor,
    all of the smaller ones), at the parameters before the step, on the batches that step
    drew (the i-th data and noise batches for the i-th D step, the next noise batch for
    G's step)."""
    steps, m, lr = 2, 4, 0.05
    G, D = _small_dcgan(k)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    gen = np.random.default_rng(k)
    real = [gen.uniform(-1, 1, (m, 1, 4, 4)) for _ in range(steps * k)]
    noise = [gen.standard_normal((m, 3)) for _ in range(steps * (k + 1))]
    it_real, it_noise = iter(real), iter(noise)
    opt_G, opt_D = RecordingSGD(G, lr), RecordingSGD(D, lr)
    tg.fit(G, D, lambda n: next(it_real), lambda n: next(it_noise), opt_G, opt_D,
           num_steps=steps, batch_size=m, k=k)
    assert len(opt_D.applied) == steps * k and len(opt_G.applied) == steps

    def load(model, params):
        for key, p in model.params.items():
            p[...] = params[key]
        return model

    for i in range(steps):
        load(G0, opt_G.before[i])  # G does not move during the D steps
        for j in range(k):
            s = i * k + j
            load(D0, opt_D.before[s])
            x, z = real[s], noise[i * (k + 1) + j]
            err = worst_error(D0, opt_D.applied[s],
                              lambda x=x, z=z: d_objective(G0, D0, x, z), max_checks=24, seed=s)
            assert err < 1e-6, f"iteration {i}, D step {j}: max rel error {err:.2e}"
        load(D0, opt_D.after[i * k + k - 1])  # D after this iteration's last D step
        z = noise[i * (k + 1) + k]
        err = worst_error(G0, opt_G.applied[i],
                          lambda z=z: g_objective(G0, D0, z, "nonsaturating"), max_checks=24,
                          seed=i)
        assert err < 1e-6, f"iteration {i}, G step: max rel error {err:.2e}"


# -- G's BatchNorm statistics: once per iteration ------------------------------------------------
class CountingBatchNorm(tg.BatchNorm):
    """A BatchNorm that counts how often its running mean is written after construction."""

    @property
    def running_mean(self):
        return self._rm

    @running_mean.setter
    def running_mean(self, value):
        self.updates = getattr(self, "updates", -1) + 1  # the first write is __init__'s
        self._rm = value


def _bn_gan(seed):
    r = backend.rng(seed)
    G = tg.Sequential(tg.Dense(2, 4, rng=r, dtype="float64", bias=False),
                      CountingBatchNorm(4, dtype="float64"), tg.ReLU(),
                      tg.Dense(4, 3, rng=r, dtype="float64"))
    D = tg.Sequential(tg.Dense(3, 4, rng=r, dtype="float64"), CountingBatchNorm(4, dtype="float64"),
                      tg.LeakyReLU(0.2), tg.Dense(4, 1, rng=r, dtype="float64"))
    return G, D


@pytest.mark.parametrize("k", [1, 3])
def test_g_batchnorm_statistics_move_once_per_iteration(k):
    """pytorch/examples' dcgan updates G's running statistics once per iteration (one
    netG(noise) call); so does fit, whatever k. D's move with each of its 2k + 1 forwards."""
    G, D = _bn_gan(0)
    draws = Draws(0)
    tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.05), tg.SGD(D, 0.05),
           num_steps=4, batch_size=5, k=k)
    assert G[1].updates == 4
    assert D[1].updates == 4 * (2 * k + 1)


def test_update_d_leaves_g_statistics_and_update_g_moves_them_once():
    G, D = _bn_gan(1)
    gen = np.random.default_rng(1)
    x, z = gen.standard_normal((6, 3)), gen.standard_normal((6, 2))
    bn = G[1]
    bn.running_mean = bn.running_mean + 0.3  # not at the initial values
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    tg.update_d(G, D, x, z, Capture(D))
    np.testing.assert_array_equal(bn.running_mean, rm)
    np.testing.assert_array_equal(bn.running_var, rv)
    pre = z @ G[0].params["W"]  # what G's BatchNorm sees in G's step (before opt_G moves W)
    tg.update_g(G, D, z, Capture(G))
    np.testing.assert_allclose(bn.running_mean, 0.9 * rm + 0.1 * pre.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 * rv + 0.1 * pre.var(0, ddof=1), rtol=1e-12)


def test_fake_batch_is_g_in_train_mode_without_cache_or_statistics():
    G, _ = _bn_gan(2)
    z = np.random.default_rng(2).standard_normal((5, 2))
    rm = G[1].running_mean.copy()
    out = tg.fake_batch(G, z)
    np.testing.assert_array_equal(G[1].running_mean, rm)
    ref = G.forward(z)  # a train-mode forward: batch statistics, as fake_batch used
    np.testing.assert_allclose(out, ref, rtol=1e-14)
    assert not np.allclose(G[1].running_mean, rm)  # an ordinary forward does move them
    G.clear_cache()
    tg.fake_batch(G, z)
    with pytest.raises(RuntimeError, match="without a matching forward"):
        G.backward(np.ones_like(out))


# -- fit's bookkeeping ---------------------------------------------------------------------------
def test_fit_records_the_mean_of_its_k_discriminator_steps():
    """History.loss_D/D_real/D_fake are the means over the k D steps, loss_G is G's step's."""
    G, D = make_gan(1)
    draws = Draws(1)
    hist = tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.05),
                  tg.SGD(D, 0.05), num_steps=2, batch_size=8, k=3)
    G2, D2 = make_gan(1)  # replay the same steps by hand
    opt_G, opt_D = tg.SGD(G2, 0.05), tg.SGD(D2, 0.05)
    for i in range(2):
        d = [tg.update_d(G2, D2, draws.real[3 * i + j], draws.noise[4 * i + j], opt_D)
             for j in range(3)]
        g = tg.update_g(G2, D2, draws.noise[4 * i + 3], opt_G)
        for key in ("loss_D", "D_real", "D_fake"):
            assert getattr(hist, key)[i] == pytest.approx(np.mean([float(s[key]) for s in d]),
                                                          rel=1e-12)
        assert hist.loss_G[i] == pytest.approx(float(g["loss_G"]), rel=1e-12)
    assert set(hist.as_arrays()) == {"loss_D", "loss_G", "D_real", "D_fake", "D_accuracy",
                                     "D_updated"}
    assert hist.D_updated == [1.0, 1.0]  # without d_accuracy_limit every D step is applied


def test_fit_is_reproducible_with_fixed_seeds():
    results = []
    for _ in range(2):
        G, D = make_gan(3)
        draws = Draws(3)
        h = tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.05),
                   tg.SGD(D, 0.05), 20, 4)
        results.append((h.as_arrays()["loss_G"], G.params["2.W"].copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_fit_stops_on_a_non_finite_loss_naming_the_step():
    G, D = make_gan(2)
    draws = Draws(2)

    def poisoned(m):
        x = draws.sample_real(m)
        if len(draws.real) > 3:
            x[0, 0] = np.inf
        return x

    # let the inf reach the loss instead of the input check; NumPy's own warnings about
    # inf - inf are not what this test is about
    with backend.checks(False), np.errstate(invalid="ignore", over="ignore"):
        with pytest.raises(tg.TrainingDiverged, match=r"stopped at step 3: the .* loss is nan"):
            tg.fit(G, D, poisoned, draws.sample_noise, tg.SGD(G, 0.01), tg.SGD(D, 0.01), 10, 4)


def test_fit_argument_errors():
    G, D = make_gan(0)
    draws = Draws(0)
    with pytest.raises(ValueError, match="k ≥ 1"):
        tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.1), tg.SGD(D, 0.1),
               1, 4, k=0)
    with pytest.raises(ValueError, match="unknown generator loss"):
        tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.1), tg.SGD(D, 0.1),
               1, 4, generator_loss="x")


class Tripwire(Layer):
    """The identity, until its ``at``-th forward, which raises (after the layers before it
    have cached their inputs)."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt("pulled")
        self.cache = x.shape
        return x

    def backward(self, dout, need_dx=True):
        self._pop_cache()
        return dout


def test_fit_cut_short_leaves_models_that_train_again():
    """Interrupted between a forward and its backward, fit drops the pending caches, so the
    next fit (a resumed run, a notebook cell run again) does not trip the one-slot check."""
    G, D = make_gan(6)
    D = tg.Sequential(*D.layers[:2], Tripwire(at=3), *D.layers[2:])  # 3rd D forward: G's step
    draws = Draws(6)
    with pytest.raises(KeyboardInterrupt):
        tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.05), tg.SGD(D, 0.05),
               num_steps=2, batch_size=4)
    assert all(layer.cache is None for model in (G, D) for layer in model.layers)
    hist = tg.fit(G, D, draws.sample_real, draws.sample_noise, tg.SGD(G, 0.05),
                  tg.SGD(D, 0.05), num_steps=2, batch_size=4)
    assert len(hist) == 2
