"""CycleGAN's steps: the generators' step and the discriminators' step checked end to end
against finite differences of the full objective (float64; the two-chain order of the
one-slot caches is exactly what is being tested), the history pool against the official
semantics, the learning-rate schedule, and the unpaired data.

Derivation: derivations/07_cyclegan.md ("How the tests verify this").
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tinygan import backend
from tinygan.data import unpaired
from tinygan.gans import cyclegan as C
from tinygan.gans import lsgan
from tinygan.gradcheck import numerical_grad, rel_error
from tinygan.losses import l1_loss
from tinygan.models import cyclegan as MC

seeds = st.integers(0, 2**31 - 1)


class Recorder:
    """An optimizer that records the gradients it is asked to apply and changes nothing."""

    def __init__(self, model):
        self.model, self.seen, self.lr = model, None, 0.0

    def step(self):
        self.seen = {k: g.copy() for k, g in self.model.grads.items()}


def tiny_models(data, seed):
    rng = backend.rng(seed)
    if data == "digits":
        G, F = (MC.resnet_generator(1, 2, 1, rng, "float64") for _ in range(2))
        D_X, D_Y = (MC.patch_discriminator(1, 2, rng, "float64") for _ in range(2))
        scale = 10.0  # weights O(0.2), so every gradient is well above round-off
    else:
        G, F = (MC.mlp_generator(5, rng, "float64") for _ in range(2))
        D_X, D_Y = (MC.mlp_discriminator(5, rng, "float64") for _ in range(2))
        scale = 1.0
    gen = np.random.default_rng(seed)
    for model in (G, F, D_X, D_Y):
        for p in model.params.values():
            if p.ndim > 1:
                p *= scale
            else:  # non-zero biases: with zero ones a sample whose ReLUs all die feeds the
                p[...] = gen.normal(0, 0.5, p.shape)  # next ReLU exactly 0, on its kink
    return G, F, D_X, D_Y


def domains(data, seed, n=3):
    gen = np.random.default_rng(seed)
    shape = (n, 1, 8, 8) if data == "digits" else (n, 2)
    return gen.uniform(-1, 1, shape), gen.uniform(-1, 1, shape)


def full_objective(G, F, D_X, D_Y, x, y, lam, lam_id):
    """L of the paper (Eq. 3 + identity) with LSGAN terms, from plain forwards."""

    def run(model, inp):
        out = model.forward(inp)
        model.clear_cache()
        return out

    fake_y, fake_x = run(G, x), run(F, y)
    loss = lsgan.generator_loss(run(D_Y, fake_y))[0] + lsgan.generator_loss(run(D_X, fake_x))[0]
    loss = loss + lam * (l1_loss(run(F, fake_y), x)[0] + l1_loss(run(G, fake_x), y)[0])
    if lam_id:
        loss = loss + lam_id * lam * (l1_loss(run(G, y), y)[0] + l1_loss(run(F, x), x)[0])
    return loss


def _check(analytic, f, params, max_checks, gen):
    """Elementwise central differences on up to ``max_checks`` entries per tensor."""
    for k, p in params.items():
        idx = None
        if p.size > max_checks:
            idx = [tuple(np.unravel_index(i, p.shape))
                   for i in gen.choice(p.size, max_checks, replace=False)]
        err = rel_error(analytic[k], numerical_grad(f, p, indices=idx))
        assert err.max() < 1e-6, f"{k}: max rel err {err.max():.2e}"


def _directional(analytic, f, params, gen, h=1e-6, directions=3, tries=8):
    """⟨∇L, u⟩ against (L(θ + hu) − L(θ − hu))/2h along random unit directions u of *all*
    the parameters at once: O(1) evaluations however many parameters (STYLE §7).

    A direction along which some ReLU input crosses 0 within ±h (a kink: the one-sided
    slopes then differ by far more than the O(h) curvature term) is discarded and another
    drawn, as CH's gradient check detects non-differentiable points."""
    good = 0
    for _ in range(tries):
        u = {k: gen.standard_normal(p.shape) for k, p in params.items()}
        norm = np.sqrt(sum((v * v).sum() for v in u.values()))
        u = {k: v / norm for k, v in u.items()}
        slope = sum(float((analytic[k] * u[k]).sum()) for k in params)

        def at(t, u=u):
            for k, p in params.items():
                p += t * u[k]
            v = float(f())
            for k, p in params.items():
                p -= t * u[k]
            return v

        fp, f0, fm = at(h), float(f()), at(-h)
        right, left = (fp - f0) / h, (f0 - fm) / h
        if abs(right - left) > 1e-3 * max(abs(right) + abs(left), 1e-8):
            continue  # a kink inside [−h, h]
        num = (fp - fm) / (2 * h)
        # pass within 1e-6 relative, or within the difference's own round-off: each L is
        # exact to about ε·|L|, divided by h (seed 1581: slope 3.9e-5, |error| 1.3e-10,
        # while ε·max(|L|, 1)/h = 2.2e-10)
        roundoff = 16 * np.finfo(float).eps * max(abs(fp), abs(fm), 1.0) / h
        assert abs(slope - num) <= 1e-6 * (abs(slope) + abs(num)) + roundoff, (slope, num)
        good += 1
        if good == directions:
            return
    raise AssertionError(f"only {good} of {tries} random directions avoided a kink")


@pytest.mark.parametrize("data", ["points", "digits"])
@settings(max_examples=3)  # each example: a few hundred full-objective evaluations
@given(lam=st.sampled_from([10.0, 0.0, 2.5]), lam_id=st.sampled_from([0.5, 0.0]), seed=seeds)
@example(lam=0.0, lam_id=0.5, seed=1581)  # round-off in a small slope, before the allowance
def test_update_generators_follows_the_full_objective(data, lam, lam_id, seed):
    G, F, D_X, D_Y = tiny_models(data, seed)
    x, y = domains(data, seed)
    rec_G, rec_F = Recorder(G), Recorder(F)
    fake_x, fake_y, stats = C.update_generators(G, F, D_X, D_Y, x, y, rec_G, rec_F, lam, lam_id)

    def f():
        return full_objective(G, F, D_X, D_Y, x, y, lam, lam_id)

    np.testing.assert_allclose(float(stats["loss_G"]), float(f()), rtol=1e-12)
    np.testing.assert_allclose(fake_y, G.forward(x), rtol=1e-12, atol=1e-14)
    G.clear_cache()
    gen = np.random.default_rng(seed)
    if data == "points":  # every entry of G and F
        _check(rec_G.seen, f, G.params, 100, gen)
        _check(rec_F.seen, f, F.params, 100, gen)
    else:  # the conv nets: along random directions of G's and of F's parameters
        _directional(rec_G.seen, f, G.params, gen)
        _directional(rec_F.seen, f, F.params, gen)
    # the discriminators are frozen in this step
    assert all(not g.any() for D in (D_X, D_Y) for g in D.grads.values())


@pytest.mark.parametrize("data", ["points", "digits"])
@settings(max_examples=3)
@given(seed=seeds)
def test_update_discriminators_follows_the_lsgan_loss(data, seed):
    G, F, D_X, D_Y = tiny_models(data, seed)
    x, y = domains(data, seed)
    fake_x, fake_y = domains(data, seed + 1)
    recs = Recorder(D_X), Recorder(D_Y)
    C.update_discriminators(D_X, D_Y, x, y, fake_x, fake_y, *recs)
    gen = np.random.default_rng(seed)
    for D, rec, real, fake in [(D_X, recs[0], x, fake_x), (D_Y, recs[1], y, fake_y)]:
        def f(D=D, real=real, fake=fake):
            r = D.forward(real)
            D.clear_cache()
            k = D.forward(fake)
            D.clear_cache()
            return lsgan.discriminator_loss(r, k)[0]

        if data == "points":
            _check(rec.seen, f, D.params, 100, gen)
        else:
            _directional(rec.seen, f, D.params, gen)


def reference_pool(size, batches, rng):
    """The official ImagePool.query loop (util/image_pool.py), written on lists."""
    if size == 0:
        return batches
    stored, out = [], []
    for b in batches:
        res = []
        for img in b:
            if len(stored) < size:
                stored.append(img.copy())
                res.append(img.copy())
            elif float(rng.random()) > 0.5:
                j = int(rng.integers(0, size))
                res.append(stored[j].copy())
                stored[j] = img.copy()
            else:
                res.append(img.copy())
        out.append(np.stack(res))
    return out


@given(size=st.integers(0, 6), n=st.integers(1, 4), seed=seeds)
def test_history_pool_matches_the_official_semantics(xp, size, n, seed):
    gen = np.random.default_rng(seed)
    batches = [gen.standard_normal((n, 1, 2, 2)) for _ in range(5)]
    pool = C.HistoryPool(size, backend.rng(seed))
    mine = [backend.to_numpy(pool.query(xp.asarray(b))) for b in batches]
    theirs = reference_pool(size, batches, backend.rng(seed))
    for a, b in zip(mine, theirs):
        np.testing.assert_array_equal(a, b)
    assert pool.count == min(size, 5 * n)


def test_history_pool_of_size_zero_passes_fakes_through(xp):
    fakes = xp.asarray(np.arange(6.0).reshape(3, 2))
    assert C.HistoryPool(0).query(fakes) is fakes


def test_history_pool_returns_old_fakes_and_resumes(xp):
    pool = C.HistoryPool(4, backend.rng(0))
    first = xp.asarray(np.arange(4.0).reshape(4, 1))
    assert np.array_equal(backend.to_numpy(pool.query(first)), backend.to_numpy(first))
    state = pool.state_dict()
    twin = C.HistoryPool(4, backend.rng(0)).load_state_dict(state)
    twin.rng = backend.rng(1)
    pool.rng = backend.rng(1)
    later = xp.asarray(np.full((50, 1), 9.0))
    a, b = backend.to_numpy(pool.query(later)), backend.to_numpy(twin.query(later))
    np.testing.assert_array_equal(a, b)
    old = a[a[:, 0] != 9.0, 0]
    assert 0 < old.size < 50 and set(old) <= {0.0, 1.0, 2.0, 3.0}  # about half are swapped
    with pytest.raises(ValueError, match=r"HistoryPool needs a size ≥ 0, got -1"):
        C.HistoryPool(-1, backend.rng(0))


def test_linear_decay_is_the_official_rule():
    """1 − max(0, t + 1 − n)/(d + 1), per step: constant for the first half, then linear."""
    import doctest

    T = 200
    f = [C.linear_decay(t, T) for t in range(T)]
    assert f[:100] == [1.0] * 100
    np.testing.assert_allclose(np.diff(f[99:]), -1 / 101)
    assert abs(f[-1] - 1 / 101) < 1e-15
    assert doctest.testmod(C).failed == 0


def test_point_domains_are_related_by_the_known_map():
    X, Y, T = unpaired.point_domains()
    np.testing.assert_allclose(T(X.means), Y.means, atol=1e-12)
    np.testing.assert_allclose(T.inverse()(Y.means), X.means, atol=1e-12)
    x, k = X.sample(20000, backend.rng(0), "float64")
    counts = np.bincount(k, minlength=5) / 20000
    np.testing.assert_allclose(counts, X.weights, atol=0.01)  # unequal weights, as drawn
    assert (x - X.means[k]).std() == pytest.approx(X.std, rel=0.03)


def test_digit_styles_split_halves_and_know_the_truth():
    dd = unpaired.digit_styles(seed=0)
    assert dd.x.shape[1:] == dd.y.shape[1:] == (1, 8, 8)
    assert abs(dd.x.shape[0] - dd.y.shape[0]) <= 10 and dd.x.shape[0] + dd.y.shape[0] == 1797
    # tanh's range, end to end: inside [−1, 1] and reaching both ends (background −1, full
    # ink 1), so that data left in [0, 1] (min 0) or squashed fails here
    for name in ("x", "y", "x_true_y", "y_true_x"):
        v = getattr(dd, name)
        lo, hi = float(v.min()), float(v.max())
        assert -1 <= lo < -0.9 and 0.9 < hi <= 1, f"{name} spans [{lo:.3f}, {hi:.3f}]"
    # the styles differ (thick has more ink) and the truth is the other style of the source
    assert float(dd.y.mean()) > float(dd.x.mean()) + 0.4
    u = (dd.x + 1) / 2
    np.testing.assert_allclose((dd.x_true_y + 1) / 2,
                               unpaired.thick(np.cbrt(u.astype("float64"))), atol=1e-5)
    # no image of X's source half appears in Y
    xs = {r.tobytes() for r in np.round(np.cbrt((dd.x + 1) / 2), 4).reshape(len(dd.x), -1)}
    ys = {r.tobytes() for r in np.round(np.cbrt((dd.y_true_x + 1) / 2), 4).reshape(len(dd.y), -1)}
    assert len(xs & ys) < 5  # (a handful of the 1,797 digits are exact duplicates)


class LrLog(Recorder):
    """A Recorder that also notes the learning rate it was asked to step with."""

    def __init__(self, model):
        super().__init__(model)
        self.lrs = []

    def step(self):
        super().step()
        self.lrs.append(self.lr)


class TaggedPool:
    """A history pool whose answer is a new array (the fakes + 100), kept for the test."""

    def __init__(self):
        self.answers = []

    def query(self, fakes):
        self.answers.append(fakes + 100.0)
        return self.answers[-1]


def test_fit_decays_every_learning_rate_and_trains_d_on_the_pools_answers(monkeypatch):
    """Each step: all four optimizers at lr·linear_decay(step), and the discriminators
    trained on what the pools returned (not on the step's own fakes)."""
    G, F, D_X, D_Y = tiny_models("points", 0)
    gen = np.random.default_rng(0)
    opts = [LrLog(m) for m in (G, F, D_X, D_Y)]
    pools = TaggedPool(), TaggedPool()
    seen = []
    real_step = C.update_discriminators

    def spy(D_X_, D_Y_, x, y, fake_x, fake_y, opt_DX, opt_DY):
        seen.append((fake_x, fake_y))
        return real_step(D_X_, D_Y_, x, y, fake_x, fake_y, opt_DX, opt_DY)

    monkeypatch.setattr(C, "update_discriminators", spy)
    T, lr = 4, 0.1
    def draw(m):
        return gen.uniform(-1, 1, (m, 2))

    C.fit(G, F, D_X, D_Y, draw, draw, opts, pools, num_steps=T, lr=lr, batch_size=3)
    want = [lr * C.linear_decay(t, T) for t in range(T)]
    assert want[-1] < want[0]  # the schedule does decay over these steps
    for opt in opts:
        assert opt.lrs == want
    assert len(seen) == T and [len(p.answers) for p in pools] == [T, T], "pools not asked"
    for t, (fx, fy) in enumerate(seen):
        assert fx is pools[0].answers[t] and fy is pools[1].answers[t]
