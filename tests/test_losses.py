"""Losses: gradient checks, stability at extreme logits, agreement of the two BCE forms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import losses
from tinygan.gradcheck import check_function

from .conftest import needs_torch

shapes = st.tuples(st.integers(1, 8), st.integers(1, 3))
seeds = st.integers(0, 2**31 - 1)


def _labels(gen, shape):
    return (gen.random(shape) < 0.5).astype("float64")


@given(shape=shapes, seed=seeds, soft=st.booleans())
def test_bce_with_logits_gradcheck(xp, shape, seed, soft):
    gen = np.random.default_rng(seed)
    a = xp.asarray(gen.uniform(-6, 6, shape))
    y = xp.asarray(gen.random(shape) if soft else _labels(gen, shape))
    report = check_function(lambda a: losses.bce_with_logits(a, y), a, title="bce_with_logits")
    assert report.max_rel_error < 1e-6, str(report)


@given(shape=shapes, seed=seeds)
def test_bce_on_probabilities_gradcheck(xp, shape, seed):
    gen = np.random.default_rng(seed)
    p = xp.asarray(gen.uniform(0.05, 0.95, shape))
    y = xp.asarray(gen.random(shape))
    report = check_function(lambda p: losses.bce(p, y), p, title="bce")
    assert report.max_rel_error < 1e-6, str(report)


@given(n_real=st.integers(1, 8), n_fake=st.integers(1, 8), seed=seeds)
def test_discriminator_loss_gradcheck(xp, n_real, n_fake, seed):
    gen = np.random.default_rng(seed)
    r = xp.asarray(gen.uniform(-6, 6, (n_real, 1)))
    f = xp.asarray(gen.uniform(-6, 6, (n_fake, 1)))
    report = check_function(losses.discriminator_loss, r, f, names=["d_real", "d_fake"])
    assert report.max_rel_error < 1e-6, str(report)


@pytest.mark.parametrize("kind", sorted(losses.GENERATOR_LOSSES))
@given(n=st.integers(1, 8), seed=seeds)
def test_generator_losses_gradcheck(xp, kind, n, seed):
    gen = np.random.default_rng(seed)
    a = xp.asarray(gen.uniform(-6, 6, (n, 1)))
    report = check_function(lambda a: losses.generator_loss(a, kind), a, title=kind)
    assert report.max_rel_error < 1e-6, str(report)


@given(shape=shapes, seed=seeds)
def test_logit_and_probability_forms_agree(shape, seed):
    gen = np.random.default_rng(seed)
    a = gen.uniform(-8, 8, shape)
    y = gen.random(shape)
    p = 1 / (1 + np.exp(-a))
    l1, da = losses.bce_with_logits(a, y)
    l2, dp = losses.bce(p, y)
    np.testing.assert_allclose(l1, l2, rtol=1e-10)
    np.testing.assert_allclose(da, dp * p * (1 - p), rtol=1e-8, atol=1e-15)  # chain rule


def test_gradient_is_sigmoid_minus_label_over_n():
    a = np.array([[-2.0], [0.0], [3.0]])
    y = np.array([[1.0], [0.0], [1.0]])
    _, da = losses.bce_with_logits(a, y)
    np.testing.assert_allclose(da, (1 / (1 + np.exp(-a)) - y) / 3, rtol=1e-14)


@given(shape=shapes, seed=seeds, label=st.sampled_from([0, 1, 0.25]),
       dtype=st.sampled_from(["float32", "float64"]))
def test_a_number_label_gives_the_bits_of_an_array_full_of_it(xp, shape, seed, label, dtype):
    # the trainer passes y = 1 / y = 0 for its all-real / all-fake batches; the result must be
    # bit-identical to the array form, so that checkpoints and histories do not move
    gen = np.random.default_rng(seed)
    a = xp.asarray(gen.uniform(-30, 30, shape).astype(dtype))
    a[0, 0] = 0.0  # max(a, 0) = 0 and σ(a) = 1/2 exactly
    l_num, d_num = losses.bce_with_logits(a, label)
    l_arr, d_arr = losses.bce_with_logits(a, xp.full_like(a, label))
    assert l_num.dtype == l_arr.dtype == a.dtype and d_num.dtype == d_arr.dtype == a.dtype
    assert l_num.tobytes() == l_arr.tobytes() and d_num.tobytes() == d_arr.tobytes()


@given(shape=shapes, seed=seeds, kind=st.sampled_from(sorted(losses.GENERATOR_LOSSES)),
       dtype=st.sampled_from(["float32", "float64"]))
def test_generator_loss_mean_prob_is_the_bits_of_the_sigmoid_mean(xp, shape, seed, kind, dtype):
    # the trainer's D_fake history comes from here: it must not move by one bit
    from tinygan.layers.activations import sigmoid

    gen = np.random.default_rng(seed)
    a = xp.asarray(gen.uniform(-30, 30, shape).astype(dtype))
    a[0, 0] = 0.0
    loss, grad, mean_d = losses.generator_loss(a, kind, mean_prob=True)
    plain_loss, plain_grad = losses.generator_loss(a, kind)
    assert mean_d.tobytes() == (sigmoid(a).sum() / a.size).tobytes()
    assert loss.tobytes() == plain_loss.tobytes() and grad.tobytes() == plain_grad.tobytes()


def test_extreme_logits_are_finite_without_warnings():
    # warnings are errors under pytest, so an overflow in exp would fail here
    a = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y = np.array([[1.0], [0.0], [0.0], [1.0]])
    loss, da = losses.bce_with_logits(a, y)
    assert np.isfinite(loss) and np.isfinite(da).all()
    np.testing.assert_allclose(loss, (0 + 0 + 1000 + 1000) / 4)
    np.testing.assert_allclose(da.ravel(), [0, 0, 0.25, -0.25])
    for fn in (losses.generator_loss_minimax, losses.generator_loss_nonsaturating):
        value, grad = fn(a)
        assert np.isfinite(value) and np.isfinite(grad).all()
    value, dr, df = losses.discriminator_loss(a, -a)
    assert np.isfinite(value) and np.isfinite(dr).all() and np.isfinite(df).all()


def test_gan_losses_at_d_one_half():
    zero = np.zeros((4, 1))
    assert np.isclose(losses.discriminator_loss(zero, zero)[0], 2 * np.log(2))
    assert np.isclose(losses.generator_loss_nonsaturating(zero)[0], np.log(2))
    assert np.isclose(losses.generator_loss_minimax(zero)[0], -np.log(2))


def test_generator_loss_gradients_per_logit_match_the_tutorial():
    # papers.md §3: d cost / d logit at D(G(z)) = 0.001 is -D for minimax, -(1 - D) otherwise
    d = np.array([[0.001], [0.5], [0.9]])
    a = np.log(d / (1 - d))
    n = len(a)
    np.testing.assert_allclose(losses.generator_loss_minimax(a)[1] * n, -d, rtol=1e-12)
    np.testing.assert_allclose(losses.generator_loss_nonsaturating(a)[1] * n, -(1 - d),
                               rtol=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError,
                       match=r"same shape \(no broadcasting\), got \(3, 1\) and \(3,\)"):
        losses.bce_with_logits(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="logits must be a floating-point array, got list"):
        losses.bce_with_logits([0.0, 1.0], 1)
    with pytest.raises(ValueError, match="strictly inside"):
        losses.bce(np.array([0.0, 0.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="unknown generator loss 'wasserstein'"):
        losses.generator_loss(np.zeros((2, 1)), "wasserstein")
    with pytest.raises(ValueError, match="floating-point"):
        losses.generator_loss_minimax([0.0, 1.0])


@needs_torch
@pytest.mark.torch
def test_bce_with_logits_matches_torch():
    import torch

    gen = np.random.default_rng(0)
    a = gen.uniform(-20, 20, (7, 1))
    y = gen.random((7, 1))
    ta = torch.tensor(a, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(ta, torch.tensor(y))
    tl.backward()
    loss, da = losses.bce_with_logits(a, y)
    np.testing.assert_allclose(loss, tl.item(), rtol=1e-12)
    np.testing.assert_allclose(da, ta.grad.numpy(), rtol=1e-10)
    p = 1 / (1 + np.exp(-np.clip(a, -10, 10)))
    tp = torch.tensor(p, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(y))
    tl.backward()
    loss, dp = losses.bce(p, y)
    np.testing.assert_allclose(loss, tl.item(), rtol=1e-10)
    np.testing.assert_allclose(dp, tp.grad.numpy(), rtol=1e-8)
