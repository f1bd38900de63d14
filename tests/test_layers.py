"""Gradient checks, dtype and error contracts for the dense layers and activations."""

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gradcheck import check_layer

from .conftest import needs_torch

dims = st.integers(1, 6)
seeds = st.integers(0, 2**31 - 1)


def away_from_kink(x, margin=1e-3):
    """Move values at least `margin` away from 0 (map, don't filter): ReLU is not
    differentiable there and central differences straddling 0 would be wrong."""
    return np.where(x >= 0, x + margin, x - margin)


@given(n=dims, d_in=dims, d_out=dims, seed=seeds)
def test_dense_gradcheck(xp, n, d_in, d_out, seed):
    gen = np.random.default_rng(seed)
    layer = tg.Dense(d_in, d_out, rng=backend.rng(seed), dtype="float64")
    x = xp.asarray(gen.uniform(-2, 2, (n, d_in)))
    report = check_layer(layer, x, seed=seed)
    assert report.max_rel_error < 1e-6, str(report)
    assert [r.name for r in report.results] == ["dx", "dW", "db"]


@pytest.mark.parametrize("make", [tg.Sigmoid, tg.Tanh, tg.ReLU, lambda: tg.LeakyReLU(0.2),
                                  lambda: tg.LeakyReLU(0.01)],
                         ids=["sigmoid", "tanh", "relu", "lrelu0.2", "lrelu0.01"])
@given(shape=st.lists(dims, min_size=1, max_size=3), seed=seeds)
def test_activation_gradcheck(xp, make, shape, seed):
    gen = np.random.default_rng(seed)
    x = xp.asarray(away_from_kink(gen.uniform(-4, 4, shape)))
    report = check_layer(make(), x, seed=seed)
    assert report.max_rel_error < 1e-6, str(report)


@given(n=dims, hidden=dims, alpha=st.floats(0.0, 0.5), seed=seeds)
def test_sequential_gradcheck(xp, n, hidden, alpha, seed):
    r = backend.rng(seed)
    net = tg.Sequential(tg.Dense(3, hidden, rng=r), tg.LeakyReLU(alpha),
                        tg.Dense(hidden, 2, rng=r), tg.Tanh(), tg.Dense(2, 1, rng=r),
                        tg.Sigmoid())
    gen = np.random.default_rng(seed)
    # keep the LeakyReLU inputs off the kink: shift the first layer's bias away from 0
    x = xp.asarray(gen.uniform(-1, 1, (n, 3)))
    pre = backend.to_numpy(x @ net[0].params["W"].astype("float64"))
    net[0].params["b"][...] = xp.asarray(np.where(np.abs(pre).min(0) < 1e-2, 0.05, 0.0))
    report = check_layer(net, x, seed=seed)
    assert report.max_rel_error < 1e-6, str(report)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layers_preserve_dtype(xp, dtype):
    r = backend.rng(0)
    x = xp.asarray(np.linspace(-2, 2, 12).reshape(4, 3), dtype=dtype)
    for layer in [tg.Dense(3, 2, rng=r, dtype=dtype), tg.Sigmoid(), tg.Tanh(), tg.ReLU(),
                  tg.LeakyReLU()]:
        out = layer.forward(x)
        assert out.dtype == x.dtype, layer
        dx = layer.backward(xp.ones_like(out))
        assert dx.dtype == x.dtype and dx.shape == x.shape, layer
        for k, g in layer.grads.items():
            assert g.dtype == layer.params[k].dtype == x.dtype


def test_backward_accumulates_and_zero_grad_resets():
    r = backend.rng(0)
    layer = tg.Dense(3, 2, rng=r, dtype="float64")
    x = np.arange(6.0).reshape(2, 3)
    g = np.array([[1.0, -2.0], [0.5, 3.0]])
    layer.forward(x)
    layer.backward(g)
    once = layer.grads["W"].copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.grads["W"], 2 * once)
    ref = layer.grads["W"]
    layer.zero_grad()
    assert layer.grads["W"] is ref and not ref.any()  # in place: optimizers keep references


def test_sequential_params_are_the_layers_arrays():
    r = backend.rng(0)
    net = tg.Sequential(tg.Dense(2, 3, rng=r), tg.ReLU(), tg.Dense(3, 1, rng=r))
    assert list(net.params) == ["0.W", "0.b", "2.W", "2.b"]
    assert net.params["2.W"] is net[2].params["W"]
    assert net.grads["0.b"] is net[0].grads["b"]
    assert net.num_params() == 2 * 3 + 3 + 3 + 1
    assert repr(net) == "Sequential(Dense(2→3), ReLU(), Dense(3→1))"


# --- bad input: each error names the layer and what it expected -----------------------

def test_wrong_feature_count_names_layer_and_shapes():
    layer = tg.Dense(4, 2, rng=backend.rng(0))
    with pytest.raises(tg.LayerInputError, match=r"Dense\(4→2\) expected input of shape "
                       r"\(N, 4\), got \(3, 5\)"):
        layer.forward(np.zeros((3, 5), dtype="float32"))


def test_wrong_rank_is_not_broadcast():
    layer = tg.Dense(4, 2, rng=backend.rng(0))
    with pytest.raises(tg.LayerInputError, match=r"expected input of shape \(N, 4\), got \(4,\)"):
        layer.forward(np.zeros(4, dtype="float32"))


def test_wrong_dtype_names_both_dtypes():
    layer = tg.Dense(4, 2, rng=backend.rng(0))  # float32 parameters
    with pytest.raises(tg.LayerInputError, match="float32 parameters but received float64"):
        layer.forward(np.zeros((2, 4)))
    with pytest.raises(tg.LayerInputError, match="floating-point array, got dtype int64"):
        tg.Tanh().forward(np.zeros((2, 4), dtype="int64"))
    with pytest.raises(tg.LayerInputError, match="expected an array, got list"):
        tg.ReLU().forward([1.0, 2.0])


def test_a_layer_that_accepted_an_input_still_refuses_a_bad_one():
    # _check_input remembers the last accepted shape and dtype; anything else is checked again
    layer = tg.Dense(4, 2, rng=backend.rng(0))
    layer.forward(np.zeros((3, 4), dtype="float32"))
    layer.clear_cache()
    with pytest.raises(tg.LayerInputError, match=r"expected input of shape \(N, 4\), got \(3, 5\)"):
        layer.forward(np.zeros((3, 5), dtype="float32"))
    with pytest.raises(tg.LayerInputError, match="float32 parameters but received float64"):
        layer.forward(np.zeros((3, 4)))
    layer.astype("float64")  # the parameters' dtype changed: float32 input is refused now
    with pytest.raises(tg.LayerInputError, match="float64 parameters but received float32"):
        layer.forward(np.zeros((3, 4), dtype="float32"))


def test_nan_input_is_refused():
    with pytest.raises(tg.LayerInputError, match=r"Sigmoid\(\) received 1 non-finite"):
        tg.Sigmoid().forward(np.array([[0.0, np.nan]]))
    with backend.checks(False):  # the GPU fast path can turn the sync-costing check off
        tg.Sigmoid().forward(np.array([[0.0, 1.0]]))


def test_backward_without_forward_raises():
    for layer in [tg.Dense(2, 2, rng=backend.rng(0)), tg.Sigmoid(), tg.LeakyReLU()]:
        with pytest.raises(RuntimeError, match="without a matching forward"):
            layer.backward(np.zeros((1, 2), dtype="float32"))
    layer = tg.Tanh()
    out = layer.forward(np.zeros((1, 2)))
    layer.backward(out)
    with pytest.raises(RuntimeError, match=r"Tanh\(\)\.backward\(\) was called without"):
        layer.backward(out)  # the cache has one slot and backward consumes it


def test_dout_of_wrong_shape_raises():
    layer = tg.Dense(3, 2, rng=backend.rng(0), dtype="float64")
    layer.forward(np.zeros((4, 3)))
    with pytest.raises(tg.LayerInputError, match=r"expected dout of shape \(4, 2\)"):
        layer.backward(np.zeros((1, 2)))


def test_constructor_errors():
    with pytest.raises(ValueError, match="explicit rng"):
        tg.Dense(2, 2)
    with pytest.raises(ValueError, match="alpha"):
        tg.LeakyReLU(1.5)
    with pytest.raises(TypeError, match="not a Layer"):
        tg.Sequential(tg.ReLU(), "relu")


def test_sigmoid_is_finite_and_exact_in_the_tails():
    x = np.array([-1000.0, -745.0, -40.0, 0.0, 40.0, 1000.0])
    s = tg.sigmoid(x)
    assert np.isfinite(s).all()
    np.testing.assert_allclose(s[2], np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-14)
    assert s[3] == 0.5 and s[-1] == 1.0


# --- PyTorch cross-checks (skip without torch) ------------------------------------------

@needs_torch
@pytest.mark.torch
def test_dense_and_activations_match_torch():
    import torch

    gen = np.random.default_rng(0)
    x = gen.standard_normal((5, 4))
    dout = gen.standard_normal((5, 3))
    layer = tg.Dense(4, 3, rng=backend.rng(0), dtype="float64")
    out = layer.forward(x)
    dx = layer.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True)
    tout = torch.nn.functional.linear(tx, tW.T, tb)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], tW.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], tb.grad.numpy(), rtol=1e-12)

    x = away_from_kink(gen.standard_normal((6, 5)))
    dout = gen.standard_normal((6, 5))
    pairs = [(tg.Sigmoid(), torch.sigmoid), (tg.Tanh(), torch.tanh), (tg.ReLU(), torch.relu),
             (tg.LeakyReLU(0.2), lambda t: torch.nn.functional.leaky_relu(t, 0.2))]
    for ours, theirs in pairs:
        tx = torch.tensor(x, requires_grad=True)
        tout = theirs(tx)
        tout.backward(torch.tensor(dout))
        np.testing.assert_allclose(ours.forward(x), tout.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.backward(dout), tx.grad.numpy(), rtol=1e-12)


# --- skipping work that nobody uses ----------------------------------------------------

def test_need_dx_false_skips_only_the_input_gradient():
    r = backend.rng(0)
    net = tg.Sequential(tg.Dense(3, 4, rng=r, dtype="float64"), tg.Tanh(),
                        tg.Dense(4, 2, rng=r, dtype="float64"))
    x = np.random.default_rng(0).standard_normal((5, 3))
    g = np.random.default_rng(1).standard_normal((5, 2))
    net.forward(x)
    dx = net.backward(g)
    full = {k: v.copy() for k, v in net.grads.items()}
    net.zero_grad()
    net.forward(x)
    assert net.backward(g, need_dx=False) is None
    for k, v in net.grads.items():
        np.testing.assert_array_equal(v, full[k])
    assert dx.shape == x.shape


def test_frozen_model_passes_gradients_through_but_keeps_its_own_at_zero():
    r = backend.rng(0)
    net = tg.Sequential(tg.Dense(3, 4, rng=r, dtype="float64"), tg.LeakyReLU(0.1),
                        tg.Dense(4, 1, rng=r, dtype="float64"))
    x = np.random.default_rng(0).standard_normal((5, 3))
    g = np.random.default_rng(1).standard_normal((5, 1))
    net.forward(x)
    expected = net.backward(g)
    net.zero_grad()
    with tg.frozen(net):
        assert all(layer.frozen for layer in net.layers)
        net.forward(x)
        dx = net.backward(g)
    np.testing.assert_allclose(dx, expected, rtol=1e-15)
    assert not any(v.any() for v in net.grads.values())
    assert not any(layer.frozen for layer in net.layers)  # restored on exit


# --- the slope at exactly 0 ----------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.2])
def test_slope_at_exactly_zero_is_the_left_slope(xp, alpha):
    """At x = 0 (and −0.0) the derivative is α, the left slope, as PyTorch's leaky_relu and
    relu backward take it; the gradchecks above keep x away from 0, so only this test sees
    the kink itself."""
    layer = tg.ReLU() if alpha == 0 else tg.LeakyReLU(alpha)
    x = xp.asarray(np.array([[-1.0, -0.0, 0.0, 1e-300, -1e-300, 2.0]]))
    out = layer.forward(x)
    np.testing.assert_array_equal(backend.to_numpy(out),
                                  [[-alpha, 0.0, 0.0, 1e-300, -alpha * 1e-300, 2.0]])
    dout = xp.asarray(np.array([[3.0, 5.0, 7.0, 11.0, 13.0, 17.0]]))
    np.testing.assert_array_equal(backend.to_numpy(layer.backward(dout)),
                                  [[3 * alpha, 5 * alpha, 7 * alpha, 11.0, 13 * alpha, 17.0]])


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_slope_at_zero_matches_torch(alpha):
    import torch

    x = np.array([-1.0, 0.0, -0.0, 2.0])
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.leaky_relu(tx, alpha).backward(torch.ones(4, dtype=torch.float64))
    layer = tg.ReLU() if alpha == 0 else tg.LeakyReLU(alpha)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones(4)), tx.grad.numpy())


# --- the one-slot cache is loud -----------------------------------------------------------

def _every_layer():
    r = backend.rng(0)
    return [
        (tg.Dense(3, 2, rng=r, dtype="float64"), (4, 3)),
        (tg.Sigmoid(), (4, 3)), (tg.Tanh(), (4, 3)), (tg.ReLU(), (4, 3)),
        (tg.LeakyReLU(0.2), (4, 3)),
        (tg.Conv2d(2, 3, 3, stride=2, padding=1, rng=r, dtype="float64"), (2, 2, 5, 5)),
        (tg.ConvTranspose2d(2, 3, 4, stride=2, padding=1, rng=r, dtype="float64"), (2, 2, 3, 3)),
        (tg.BatchNorm(3, dtype="float64"), (4, 3)),
        (tg.Reshape((3, 1)), (4, 3)), (tg.Flatten(), (2, 2, 3, 1)), (tg.Pack(2), (4, 3)),
        (tg.Sequential(tg.Dense(3, 2, rng=r, dtype="float64"), tg.Tanh()), (4, 3)),
    ]


@pytest.mark.parametrize("layer, shape", _every_layer(), ids=lambda v: repr(v)
                         if not isinstance(v, tuple) else None)
def test_second_forward_before_backward_raises_unless_told(layer, shape):
    """forward(a); forward(b); backward(da) would backpropagate da through b's cache: the
    stale-cache bug. In training mode the second forward raises; the caller who means it
    says so with no_grad() (no cache stored) or clear_cache() (cache dropped)."""
    gen = np.random.default_rng(0)
    a, b = gen.standard_normal(shape), gen.standard_normal(shape)
    out_a = layer.forward(a)
    dout = gen.standard_normal(out_a.shape)
    with pytest.raises(RuntimeError, match=r"forward\(\) was called again before backward\(\) "
                                           r"consumed the cache"):
        layer.forward(b)
    with tg.no_grad(layer):
        layer.forward(b)  # stores nothing: a's cache is still there, intact
    dx = layer.backward(dout)
    ref = copy.deepcopy(layer)
    ref.clear_cache()
    ref.forward(a)
    np.testing.assert_array_equal(dx, ref.backward(dout))  # a's gradient, not b's
    layer.forward(a)
    layer.clear_cache()
    layer.forward(b)  # fine after clear_cache
    layer.clear_cache()
    with tg.no_grad(layer):
        layer.forward(a)
    with pytest.raises(RuntimeError, match="without a matching forward.*no_grad"):
        layer.backward(dout)
    layer.eval()  # eval mode: forwards for sampling and plots replace the cache silently
    layer.forward(a)
    layer.forward(b)
    layer.clear_cache()
    layer.train()


def test_no_grad_restores_the_flags_and_nests():
    net = tg.Sequential(tg.Dense(3, 2, rng=backend.rng(0)), tg.BatchNorm(2))
    with tg.no_grad(net, update_stats=False):
        assert not any(layer.caching or layer.update_stats for layer in net.layers)
        with tg.no_grad(net):  # an inner no_grad does not switch the statistics back on
            assert not any(layer.update_stats for layer in net.layers)
        assert not any(layer.update_stats for layer in net.layers)
    assert all(layer.caching and layer.update_stats for layer in net.layers)


def test_no_grad_update_stats_false_keeps_running_statistics():
    bn = tg.BatchNorm(2, dtype="float64")
    x = np.random.default_rng(0).standard_normal((5, 2)) * 3 + 1
    with tg.no_grad(bn, update_stats=False):
        out = bn.forward(x)
    np.testing.assert_array_equal(bn.running_mean, [0.0, 0.0])
    np.testing.assert_array_equal(bn.running_var, [1.0, 1.0])
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-12)  # still the batch's statistics
    with tg.no_grad(bn):  # torch.no_grad semantics: the statistics move
        bn.forward(x)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(0), rtol=1e-12)
