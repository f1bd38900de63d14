"""Conditional GAN and AC-GAN: the two-input models gradient-checked, and each update step
checked end to end against finite differences of its own objective (float64, BatchNorm in
train mode), so that a stale cache, a gradient that skips D, a label mixed up between D's
and G's step, or a missing scatter-add would all show.

Derivation: derivations/06_conditional_gan.md ("How the tests verify this").
"""

import copy

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gans import acgan, cgan
from tinygan.gradcheck import DEFAULT_H, check_layer, numerical_grad, rel_error
from tinygan.layers.base import LayerInputError, no_grad
from tinygan.losses import bce_with_logits, softmax_cross_entropy
from tinygan.models import conditional as C
from tinygan.models.dcgan import model_state

seeds = st.integers(0, 2**31 - 1)


class Bound(tg.Layer):
    """A two-input model with its labels fixed, seen as a one-input layer by check_layer."""

    def __init__(self, model, y):
        super().__init__()
        self.model, self.y = model, y
        self.layers = [model]  # so that no_grad/frozen reach the model's layers

    def __repr__(self):
        return f"Bound({self.model!r})"

    params = property(lambda self: self.model.params, lambda self, v: None)
    grads = property(lambda self: self.model.grads, lambda self, v: None)
    cache = property(lambda self: None, lambda self, v: None)

    def forward(self, x):
        return self.model.forward(x, self.y)

    def backward(self, dout, need_dx=True):
        return self.model.backward(dout, need_dx)

    def zero_grad(self):
        self.model.zero_grad()

    def astype(self, dtype):
        self.model.astype(dtype)
        return self

    def clear_cache(self):
        self.model.clear_cache()


def tiny_pair(method, seed):
    """A small conditional pair in float64 (width 3, latent 4, embedding 3), 8×8 images."""
    rng = backend.rng(seed)
    G = C.conditional_generator(latent_dim=4, width=3, embed_dim=3, rng=rng, dtype="float64")
    make_d = C.cgan_discriminator if method == "cgan" else C.acgan_discriminator
    D = make_d(width=3, rng=rng, dtype="float64")
    for model in (G, D):  # larger weights than DCGAN's 0.02, so every gradient is O(1)
        for p in model.params.values():
            if p.ndim > 1:
                p *= 20
    return G, D


def smooth(model):
    """Tanh in place of every (Leaky)ReLU, in place: central differences then never straddle
    a kink (seed 85361 put a pre-activation within h = 1e-5 of 0 and failed G's check at
    1.06e-6), as in test_conv's end-to-end stack; the activations have their own checks."""
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (tg.ReLU, tg.LeakyReLU)):
            model.layers[i] = tg.Tanh()
        elif hasattr(layer, "layers"):
            smooth(layer)
    return model


def batch(seed, n=4):
    gen = np.random.default_rng(seed)
    y = gen.permutation(np.arange(n) % 10)
    y[-1] = y[0]  # a repeated label: the embedding's scatter-add must add both
    return (gen.uniform(-1, 1, (n, 1, 8, 8)), y, gen.standard_normal((n, 4)),
            gen.integers(0, 10, n))


@settings(max_examples=5)
@given(seed=seeds)
@example(seed=85361)  # a ReLU input within h of its kink, before smooth()
def test_conditional_generator_gradcheck(seed):
    G, _ = tiny_pair("cgan", seed)
    _, y, z, _ = batch(seed)
    report = check_layer(Bound(smooth(G), y), z, seed=seed, max_checks=25)
    assert report.max_rel_error < 1e-6, str(report)
    assert "d0.W" in [r.name for r in report.results]  # the embedding table is checked


@settings(max_examples=5)
@given(seed=seeds)
def test_label_map_discriminator_gradcheck(seed):
    _, D = tiny_pair("cgan", seed)
    x, y, _, _ = batch(seed)
    report = check_layer(Bound(smooth(D), y), x, seed=seed, max_checks=25)
    assert report.max_rel_error < 1e-6, str(report)


def test_label_maps_are_the_one_hot_planes():
    y = np.array([3, 0, 3])
    maps = C.label_maps(y, 10, (2, 2), "float32")
    assert maps.shape == (3, 10, 2, 2)
    np.testing.assert_array_equal(maps[:, :, 1, 0], np.eye(10)[y])
    _, D = tiny_pair("cgan", 0)
    x = np.zeros((3, 1, 8, 8))
    a = D.forward(x, y)
    D.clear_cache()
    b = D.forward(x, np.array([3, 1, 3]))  # the label changes D's answer
    D.clear_cache()
    assert np.isclose(a[0, 0], a[2, 0], rtol=1e-12) and abs(a[1, 0] - b[1, 0]) > 1e-3


class Recorder:
    """An optimizer that records the gradients it is asked to apply and changes nothing."""

    def __init__(self, model):
        self.model, self.seen = model, None

    def step(self):
        self.seen = {k: g.copy() for k, g in self.model.grads.items()}

    def zero_grad(self):
        self.model.zero_grad()


def _compare(analytic, f, params, max_checks=12, seed=0):
    """Each parameter's recorded gradient against central differences of the loss f.

    Pass: scaled relative error < 1e-6, or an absolute error within the differences' own
    round-off, 16·ε·max(|f|, 1)/h. The second covers a tensor whose whole gradient is tiny
    (seed 284: G's embedding table, |∂L/∂θ| ≤ 5e-7, |error| 1.2e-11 while ε|f|/h = 1.9e-11,
    smooth networks, so not a kink); a wrong formula misses both by orders of magnitude."""
    gen = np.random.default_rng(seed)
    roundoff = 16 * np.finfo(float).eps * max(abs(float(f())), 1.0) / DEFAULT_H
    worst = 0.0
    for k, p in params.items():
        idx = None
        if p.size > max_checks:
            idx = [tuple(np.unravel_index(i, p.shape))
                   for i in gen.choice(p.size, max_checks, replace=False)]
        num = numerical_grad(f, p, h=DEFAULT_H, indices=idx)
        err = np.where(np.abs(analytic[k] - num) <= roundoff, 0.0, rel_error(analytic[k], num))
        worst = max(worst, float(err.max()))
        assert err.max() < 1e-6, f"{k}: {err.max():.2e}"
    return worst


def _cgan_objectives(method, G, D, x, y, z, y_fake):
    """The D and G losses of ``method``, recomputed from scratch (caches cleared)."""

    def forward_d(inp, labels):
        out = D.forward(inp, labels) if method == "cgan" else D.forward(inp)
        D.clear_cache()
        return out

    def gen(zz, labels):
        out = G.forward(zz, labels)
        G.clear_cache()
        return out

    def parts(out, labels, target):
        if method == "cgan":
            return bce_with_logits(out, np.full_like(out, target))[0]
        s, c = acgan.split_heads(out)
        return bce_with_logits(s, np.full_like(s, target))[0] + softmax_cross_entropy(c, labels)[0]

    def loss_d():
        return parts(forward_d(x, y), y, 1.0) + parts(forward_d(gen(z, y_fake), y_fake), y_fake,
                                                      0.0)

    def loss_g():
        return parts(forward_d(gen(z, y_fake), y_fake), y_fake, 1.0)

    return loss_d, loss_g


@pytest.mark.parametrize("method", ["cgan", "acgan"])
@settings(max_examples=3)  # each example: ~200 finite differences through G and D
@given(seed=seeds)
@example(seed=178)  # a (Leaky)ReLU input within h of its kink, before smooth()
@example(seed=284)  # round-off in a tiny gradient, before the allowance
def test_update_steps_follow_their_objectives(method, seed):
    """update_d's D gradient = ∂L_D/∂θ_D and update_g's G gradient = ∂L_G/∂θ_G, by finite
    differences of the objectives written out independently (train-mode BatchNorm)."""
    G, D = map(smooth, tiny_pair(method, seed))
    x, y, z, y_fake = batch(seed)
    steps = cgan if method == "cgan" else acgan
    loss_d, loss_g = _cgan_objectives(method, G, D, x, y, z, y_fake)
    rec_D, rec_G = Recorder(D), Recorder(G)
    before = copy.deepcopy(G.params)
    stats = steps.update_d(G, D, x, y, z, y_fake, rec_D)
    np.testing.assert_allclose(float(stats["loss_D"]), float(loss_d()), rtol=1e-12)
    _compare(rec_D.seen, loss_d, D.params, seed=seed)
    assert all(not g.any() for g in G.grads.values())  # D's step leaves G alone
    stats = steps.update_g(G, D, z, y_fake, rec_G)
    np.testing.assert_allclose(float(stats["loss_G"]), float(loss_g()), rtol=1e-12)
    _compare(rec_G.seen, loss_g, G.params, seed=seed)
    assert all(np.array_equal(before[k], G.params[k]) for k in before)


def test_generator_reads_its_label():
    """Eval mode (each sample alone): the same z and label give the same image, another
    label another image. A G that ignored y passes every gradient check (its embedding
    rows would simply all be row 0's)."""
    G, _ = tiny_pair("cgan", 0)
    G.eval()
    z = np.random.default_rng(0).standard_normal((3, 4))
    with no_grad(G):
        a = G.forward(z, np.array([1, 2, 3]))
        b = G.forward(z, np.array([1, 7, 3]))
    np.testing.assert_array_equal(a[[0, 2]], b[[0, 2]])
    assert np.abs(a[1] - b[1]).max() > 1e-3


def _running_stats(model):
    return {k: v.copy() for k, v in model_state(model).items() if "running" in k}


@pytest.mark.parametrize("method", ["cgan", "acgan"])
def test_g_batchnorm_statistics_move_in_g_step_only(method):
    """D's fakes come from G without moving G's running statistics; G's own step moves
    them (once per iteration, as tinygan.train)."""
    G, D = tiny_pair(method, 0)
    x, y, z, y_fake = batch(0)
    steps = cgan if method == "cgan" else acgan
    before = _running_stats(G)
    assert len(before) >= 2  # G has BatchNorm layers
    steps.update_d(G, D, x, y, z, y_fake, Recorder(D))
    for k, v in _running_stats(G).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    steps.update_g(G, D, z, y_fake, Recorder(G))
    assert all(not np.array_equal(v, before[k]) for k, v in _running_stats(G).items())


def test_fit_draws_fresh_labels_for_each_step():
    """D's fake labels, G's labels and the real batch's labels are separate draws."""
    G, D = tiny_pair("cgan", 0)
    seen = []

    def step_d(G_, D_, x, y, z, y_fake, opt):
        seen.append(("d", tuple(y), tuple(y_fake), z.copy()))
        return {"loss_D": 1.0, "D_real": 0.5, "D_fake": 0.5}

    def step_g(G_, D_, z, y, opt):
        seen.append(("g", tuple(y), z.copy()))
        return {"loss_G": 1.0, "D_fake": 0.5}

    gen = np.random.default_rng(0)
    counter = iter(range(10**6))
    old = cgan.update_d, cgan.update_g
    cgan.update_d, cgan.update_g = step_d, step_g
    try:
        cgan.fit(G, D, lambda m: (np.zeros((m, 1, 8, 8)), np.full(m, next(counter) % 10)),
                 lambda m: gen.standard_normal((m, 4)), lambda m: gen.integers(0, 10, m),
                 None, None, num_steps=2, batch_size=16)
    finally:
        cgan.update_d, cgan.update_g = old
    (_, y_real, y_fake_d, z_d), (_, y_g, z_g) = seen[0], seen[1]
    assert y_fake_d != y_g and y_fake_d != y_real and y_g != y_real
    assert not np.array_equal(z_d, z_g)
    assert seen[2][2] != y_fake_d  # the next step draws again


def test_conditional_errors():
    G, D = tiny_pair("cgan", 0)
    with pytest.raises(LayerInputError, match=r"expected noise of shape \(N, 4\), got \(2, 5\)"):
        G.forward(np.zeros((2, 5)), np.array([1, 2]))
    with pytest.raises(LayerInputError, match=r"expected integer labels of shape \(2,\)"):
        G.forward(np.zeros((2, 4)), np.array([1.0, 2.0]))
    with pytest.raises(LayerInputError, match=r"expected integer labels of shape \(2,\)"):
        D.forward(np.zeros((2, 1, 8, 8)), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"unknown conditional method 'wgan'"):
        C.conditional_pair("wgan")
    with pytest.raises(ValueError, match=r"\(N, 1 \+ K\) outputs"):
        acgan.split_heads(np.zeros((3, 1)))
