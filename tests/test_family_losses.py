"""The GAN family's losses: L1 (cycle, identity), least squares and LSGAN's two losses,
gradient checks, PyTorch cross-checks, errors, and LSGAN's optimal D as a formula.

Derivation: derivations/07_cyclegan.md (sections on the L1 and least-squares losses).
"""

import doctest

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygan import losses
from tinygan.gans import lsgan
from tinygan.gradcheck import check_function

from .conftest import needs_torch

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)
seeds = st.integers(0, 2**31 - 1)


def _pair(shape, seed, margin=1e-3):
    """x and a target with |x − t| ≥ margin everywhere (map, don't filter): |·| has a kink."""
    gen = np.random.default_rng(seed)
    t = gen.uniform(-1, 1, shape)
    d = gen.uniform(-2, 2, shape)
    return t + np.where(d >= 0, d + margin, d - margin), t


@given(shape=shapes, seed=seeds)
@example(shape=(2, 1, 8, 8), seed=0)   # the cycle loss on a batch of digits
def test_l1_loss_gradcheck(xp, shape, seed):
    x, t = (xp.asarray(a) for a in _pair(shape, seed))
    report = check_function(lambda x: losses.l1_loss(x, t), x, title="l1_loss")
    assert report.max_rel_error < 1e-6, str(report)


@given(shape=shapes, seed=seeds)
@example(shape=(2, 1, 2, 2), seed=0)   # a PatchGAN's output map
def test_least_squares_loss_gradcheck(xp, shape, seed):
    x, t = (xp.asarray(a) for a in _pair(shape, seed))
    report = check_function(lambda x: losses.least_squares_loss(x, t), x,
                            title="least_squares_loss")
    assert report.max_rel_error < 1e-6, str(report)


@given(n_real=st.integers(1, 6), n_fake=st.integers(1, 6), a=st.sampled_from([0.0, -1.0]),
       b=st.sampled_from([1.0, 0.5]), c=st.sampled_from([1.0, 0.0]), seed=seeds)
def test_lsgan_losses_gradcheck(xp, n_real, n_fake, a, b, c, seed):
    gen = np.random.default_rng(seed)
    r = xp.asarray(gen.uniform(-2, 2, (n_real, 1, 2, 2)))
    f = xp.asarray(gen.uniform(-2, 2, (n_fake, 1, 2, 2)))
    report = check_function(lambda r, f: lsgan.discriminator_loss(r, f, a=a, b=b), r, f,
                            names=["d_real", "d_fake"], title="lsgan D")
    assert report.max_rel_error < 1e-6, str(report)
    report = check_function(lambda f: lsgan.generator_loss(f, c=c), f, title="lsgan G")
    assert report.max_rel_error < 1e-6, str(report)


@needs_torch
@pytest.mark.torch
@given(shape=shapes, seed=seeds)
def test_losses_match_torch(shape, seed):
    import torch

    x, t = _pair(shape, seed)
    for mine, theirs in [(losses.l1_loss, torch.nn.L1Loss()),
                         (losses.least_squares_loss, torch.nn.MSELoss())]:
        loss, dx = mine(x, t)
        tx = torch.tensor(x, requires_grad=True)
        tl = theirs(tx, torch.tensor(t))
        tl.backward()
        np.testing.assert_allclose(float(loss), tl.item(), rtol=1e-12)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    # CycleGAN's GANLoss('lsgan'): D = 0.5·(MSE(D(x), 1) + MSE(D(G(z)), 0)); G = MSE(D(G(z)), 1)
    gen = np.random.default_rng(seed)
    r, f = gen.standard_normal(shape), gen.standard_normal(shape)
    loss_d, d_r, d_f = lsgan.discriminator_loss(r, f)
    tr, tf = torch.tensor(r, requires_grad=True), torch.tensor(f, requires_grad=True)
    mse = torch.nn.MSELoss()
    td = 0.5 * (mse(tr, torch.ones_like(tr)) + mse(tf, torch.zeros_like(tf)))
    td.backward()
    np.testing.assert_allclose(float(loss_d), td.item(), rtol=1e-12)
    np.testing.assert_allclose(d_r, tr.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d_f, tf.grad.numpy(), rtol=1e-12, atol=1e-15)
    loss_g, d_g = lsgan.generator_loss(f)
    tf.grad = None
    tgl = mse(tf, torch.ones_like(tf))
    tgl.backward()
    np.testing.assert_allclose(float(loss_g), tgl.item(), rtol=1e-12)
    np.testing.assert_allclose(d_g, tf.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_l1_subgradient_at_zero_and_dtype(xp):
    x = xp.asarray(np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32"))
    loss, dx = losses.l1_loss(x, x.copy())
    assert float(loss) == 0 and float(abs(dx).max()) == 0
    assert dx.dtype == loss.dtype == np.float32
    loss, dx = losses.least_squares_loss(x, x + 1)
    assert dx.dtype == np.float32 and float(loss) == 1.0


def test_lsgan_optimal_d_formula():
    """(b·p + a·q)/(p + q) is the pointwise minimiser of p(d − b)² + q(d − a)²: checked on a
    grid of d for random densities and targets, and a = 0, b = 1 gives the GAN's D*."""
    gen = np.random.default_rng(0)
    p, q = gen.uniform(0.01, 3, 50), gen.uniform(0.01, 3, 50)
    d = np.linspace(-3, 3, 60001)[:, None]
    for a, b in [(0.0, 1.0), (-1.0, 1.0), (0.3, 2.0)]:
        best = d[np.argmin(p * (d - b) ** 2 + q * (d - a) ** 2, axis=0), 0]
        np.testing.assert_allclose(lsgan.optimal_d(p, q, a, b), best, atol=1e-4)
    np.testing.assert_allclose(lsgan.optimal_d(p, q), p / (p + q), rtol=1e-15)
    assert np.isnan(lsgan.optimal_d(np.array([0.0]), np.array([0.0]))[0])
    result = doctest.testmod(lsgan, verbose=False)
    assert result.attempted >= 1 and result.failed == 0


def test_loss_errors(xp):
    x = xp.zeros((2, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"l1_loss: inputs and targets must have the same shape "
                                         r"\(no broadcasting\), got \(2, 3\) and \(3,\)"):
        losses.l1_loss(x, xp.zeros(3, dtype="float32"))
    with pytest.raises(ValueError, match=r"least_squares_loss: first argument must be a "
                                         r"floating-point array, got list"):
        losses.least_squares_loss([1.0], x)
