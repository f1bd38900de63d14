"""Optimizers against their formulas on hand-computed steps, and against PyTorch."""

import re

import numpy as np
import pytest

import tinygan as tg

from .conftest import needs_torch


class Param(tg.Layer):
    """A bare parameter holder, so a step can be computed by hand."""

    def __init__(self, value):
        super().__init__()
        self.params["w"] = np.array(value, dtype="float64")
        self.grads["w"] = np.zeros_like(self.params["w"])


def test_sgd_plain_step():
    p = Param([1.0, -2.0])
    opt = tg.SGD(p, lr=0.1)
    p.grads["w"][...] = [0.5, -1.0]
    opt.step()
    np.testing.assert_allclose(p.params["w"], [1.0 - 0.05, -2.0 + 0.1], rtol=1e-15)


def test_sgd_momentum_two_steps_by_hand():
    p = Param([1.0])
    opt = tg.SGD(p, lr=0.1, momentum=0.9)
    p.grads["w"][...] = 2.0
    opt.step()                       # v = 2,            w = 1 - 0.2 = 0.8
    p.grads["w"][...] = -1.0
    opt.step()                       # v = 0.9*2 - 1 = 0.8, w = 0.8 - 0.08 = 0.72
    np.testing.assert_allclose(p.params["w"], [0.72], rtol=1e-14)


def test_adam_two_steps_by_hand():
    p = Param([0.5])
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = tg.Adam(p, lr=lr, betas=(b1, b2), eps=eps)
    w = 0.5
    m = v = 0.0
    for t, g in enumerate([0.3, -0.2], start=1):
        p.grads["w"][...] = g
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(p.params["w"], [w], rtol=1e-13)
    # the first step of Adam moves every parameter by ~lr (m̂/√v̂ = ±1): a (1 − β)
    # bias correction instead of (1 − βᵗ) would break the second step above.
    assert opt.t == 2


def test_adam_first_step_is_lr_sized():
    p = Param([0.0, 0.0, 0.0])
    opt = tg.Adam(p, lr=1e-3)
    p.grads["w"][...] = [1e-4, -3.0, 50.0]
    opt.step()
    np.testing.assert_allclose(p.params["w"], [-1e-3, 1e-3, -1e-3], rtol=1e-3)


def test_rmsprop_step_by_hand():
    p = Param([1.0])
    opt = tg.RMSProp(p, lr=0.01, rho=0.9, eps=1e-8)
    p.grads["w"][...] = 2.0
    opt.step()
    s = 0.1 * 4.0
    np.testing.assert_allclose(p.params["w"], [1.0 - 0.01 * 2.0 / (np.sqrt(s) + 1e-8)])


def test_optimizer_updates_sequential_layers_in_place():
    r = tg.backend.rng(0)
    net = tg.Sequential(tg.Dense(2, 2, rng=r, dtype="float64"), tg.Tanh())
    W = net[0].params["W"]
    before = W.copy()
    opt = tg.SGD(net, lr=1.0)
    net[0].grads["W"][...] = 1.0
    opt.step()
    assert net[0].params["W"] is W
    np.testing.assert_allclose(W, before - 1.0)


def test_optimizer_argument_errors():
    p = Param([1.0])
    with pytest.raises(ValueError, match="SGD: lr must be a finite number > 0, got 0$"):
        tg.SGD(p, lr=0)
    for bad in (float("nan"), float("inf"), -1e-3, "0.1", True, None):
        with pytest.raises(ValueError, match=f"Adam: lr must be a finite number > 0, got "
                                             f"{re.escape(repr(bad))}$"):
            tg.Adam(p, lr=bad)
    for opt in (tg.Adam, tg.RMSProp):
        with pytest.raises(ValueError, match=r"eps must be a finite number ≥ 0, got -1e-08$"):
            opt(p, eps=-1e-8)
    assert tg.Adam(p, lr=np.float32(2e-4)).lr == pytest.approx(2e-4)  # NumPy scalars are numbers
    with pytest.raises(ValueError, match="betas"):
        tg.Adam(p, betas=(1.0, 0.9))


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "adam", "rmsprop"])
def test_optimizers_match_torch_over_ten_steps(name):
    import torch

    gen = np.random.default_rng(0)
    grads = gen.standard_normal((10, 5))
    p = Param(gen.standard_normal(5))
    tp = torch.tensor(p.params["w"].copy(), requires_grad=True)
    ours, theirs = {
        "sgd": (tg.SGD(p, lr=0.1), torch.optim.SGD([tp], lr=0.1)),
        "sgd_momentum": (tg.SGD(p, lr=0.1, momentum=0.5),
                         torch.optim.SGD([tp], lr=0.1, momentum=0.5)),
        "adam": (tg.Adam(p, lr=2e-4, betas=(0.5, 0.999)),
                 torch.optim.Adam([tp], lr=2e-4, betas=(0.5, 0.999))),
        "rmsprop": (tg.RMSProp(p, lr=5e-5), torch.optim.RMSprop([tp], lr=5e-5, alpha=0.99)),
    }[name]
    for g in grads:
        p.grads["w"][...] = g
        ours.step()
        tp.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(p.params["w"], tp.detach().numpy(), rtol=1e-12, atol=1e-15)
