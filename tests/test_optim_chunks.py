"""Optimizers on flat chunks: the same numbers as a loop over the parameter arrays.

``tinygan.optim`` runs each rule on flat vectors of at most ``CHUNK`` elements (big
parameters cut into views, small ones packed). Nothing about the arithmetic may change:
the tests compare every step, bit for bit, with a plain per-array loop written out
below, over hypothesis-drawn parameter shapes, with ``CHUNK`` shrunk so that small arrays
take every path (cut, packed, a pack closing, a strided array on its own).
"""

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend, optim


class Params(tg.Layer):
    """Named parameters of given shapes (and, optionally, a transposed, strided one)."""

    def __init__(self, shapes, seed, strided=False, xp=np):
        super().__init__()
        gen = np.random.default_rng(seed)
        for i, s in enumerate(shapes):
            self.params[f"p{i}"] = xp.asarray(gen.standard_normal(s).astype("float32"))
        if strided:  # F-order
            self.params["t"] = xp.asarray(gen.standard_normal((5, 7)).astype("float32")).T
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}


def loop_step(kind, opt, state, params, grads, t):
    """The rules written per array, in the order of operations tinygan uses."""
    for k, p in params.items():
        g, st_ = grads[k], state.setdefault(k, {})
        xp = backend.get_array_module(p)
        if kind == "adam":
            m = st_.setdefault("m", xp.zeros_like(p))
            v = st_.setdefault("v", xp.zeros_like(p))
            c1, c2 = 1 - opt.b1 ** t, 1 - opt.b2 ** t
            m *= opt.b1
            m += g * np.float32(1 - opt.b1)
            v *= opt.b2
            v += (g * g) * np.float32(1 - opt.b2)
            step = xp.sqrt(v) + np.float32(opt.eps * math.sqrt(c2))
            step = m / step
            step *= np.float32(opt.lr * math.sqrt(c2) / c1)
        elif kind == "sgd":
            v = st_.setdefault("v", xp.zeros_like(p))
            v *= opt.momentum
            v += g
            step = v * np.float32(opt.lr)
        else:
            s = st_.setdefault("s", xp.zeros_like(p))
            s *= opt.rho
            s += (g * g) * np.float32(1 - opt.rho)
            step = (np.float32(opt.lr) * g) / (xp.sqrt(s) + np.float32(opt.eps))
        p -= step


shapes = st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=6)


@pytest.mark.parametrize("kind", ["adam", "sgd", "rmsprop"])
@given(shape_list=shapes, strided=st.booleans(), seed=st.integers(0, 1000))
@example(shape_list=[(1, 1), (1, 2), (2, 3), (1, 7), (3, 3), (9, 9), (2, 2), (1, 5), (1, 6)],
         strided=True, seed=0)  # two packs (the second opened when 32 would overflow), cuts
def test_chunked_steps_equal_a_loop_over_arrays_bit_for_bit(xp, monkeypatch, kind, shape_list,
                                                            strided, seed):
    monkeypatch.setattr(optim, "CHUNK", 32)  # 1×1 … 9×9 arrays: cut, packed, closing packs
    ours, ref = Params(shape_list, seed, strided, xp), Params(shape_list, seed, strided, xp)
    make = {"adam": lambda m: tg.Adam(m, lr=1e-2, betas=(0.5, 0.999)),
            "sgd": lambda m: tg.SGD(m, lr=0.1, momentum=0.9),
            "rmsprop": lambda m: tg.RMSProp(m, lr=1e-2)}[kind]
    opt, twin, state = make(ours), make(ref), {}
    gen = np.random.default_rng(seed + 1)
    for t in range(1, 4):
        for k in ours.grads:
            g = xp.asarray(gen.standard_normal(ours.grads[k].shape).astype("float32"))
            ours.grads[k][...] = g
            ref.grads[k][...] = g
        opt.step()
        loop_step(kind, twin, state, ref.params, ref.grads, t)
        for k in ours.params:
            np.testing.assert_array_equal(backend.to_numpy(ours.params[k]),
                                          backend.to_numpy(ref.params[k]), err_msg=k)
    for k, st_ in state.items():  # per-parameter state reads as a plain array of its shape
        for name, a in st_.items():
            np.testing.assert_array_equal(backend.to_numpy(opt.state[(0, k)][name]),
                                          backend.to_numpy(a), err_msg=f"{k}.{name}")


def test_chunk_layout_cuts_big_parameters_and_packs_small_ones(monkeypatch):
    monkeypatch.setattr(optim, "CHUNK", 64)
    m = Params([(2, 2), (10, 10), (1, 3), (3, 3)], seed=0)  # 4, 100, 3, 9 elements
    opt = tg.Adam(m)
    opt.step()
    layout = [[(i, a, b) for i, a, b in c.pieces] for c in opt._chunks]
    # the 100-element array (≥ CHUNK/4) in views of 64 and 36; 4 + 3 + 9 packed together
    assert layout == [[(1, 0, 64)], [(1, 64, 100)], [(0, 0, 4), (2, 0, 3), (3, 0, 9)]]
    assert opt.state[(0, "p1")]["m"].shape == (10, 10)
    assert np.shares_memory(opt.state[(0, "p0")]["m"], opt._chunks[-1].state["m"])


def test_a_replaced_parameter_array_keeps_its_state_and_gets_updated():
    r = tg.backend.rng(0)
    net = tg.Sequential(tg.Dense(3, 4, rng=r), tg.Tanh(), tg.Dense(4, 1, rng=r))
    opt = tg.Adam(net, lr=0.1)
    for g in net.grads.values():
        g += 1.0
    opt.step()
    m_before = opt.state[(0, "0.W")]["m"].copy()
    net.astype("float64")  # new parameter and gradient arrays
    for g in net.grads.values():
        g += 1.0
    W = net[0].params["W"].copy()
    opt.step()
    assert opt.state[(0, "0.W")]["m"].dtype == np.float64
    np.testing.assert_allclose(opt.state[(0, "0.W")]["m"], 0.9 * m_before + 0.1, rtol=1e-6)
    assert not np.array_equal(net[0].params["W"], W)  # the new array was updated


@pytest.mark.parametrize("what", ["params", "grads"])
@pytest.mark.parametrize("which", [0, 2, 3])
def test_an_array_replaced_in_any_layer_is_noticed(which, what):
    """The per-step check walks every layer, nested containers included, and compares
    parameters and gradients: after one layer's W or dW is replaced by a new array (the
    first layer, the last, one inside a nested Sequential), the next step reads the new
    gradient and writes the new parameter."""
    r = tg.backend.rng(1)
    net = tg.Sequential(tg.Dense(3, 4, rng=r), tg.Tanh(), tg.Dense(4, 2, rng=r),
                        tg.Sequential(tg.Dense(2, 1, rng=r)))
    opt = tg.Adam(net, lr=0.1)
    for g in net.grads.values():
        g += 1.0
    opt.step()
    net.zero_grad()
    layer = net[which] if which < 3 else net[3][0]
    getattr(layer, what)["W"] = getattr(layer, what)["W"].copy()
    layer.grads["W"] += 1.0  # the only non-zero gradient of the second step
    W = layer.params["W"].copy()
    opt.step()
    key = (0, {0: "0.W", 2: "2.W", 3: "3.0.W"}[which])
    np.testing.assert_allclose(opt.state[key]["m"], 0.9 * 0.1 + 0.1 * 1.0, rtol=1e-6)
    assert not np.array_equal(layer.params["W"], W)  # the live array was updated


@pytest.mark.parametrize("into", ["a new optimizer", "the same optimizer"])
def test_resuming_from_a_state_dict_takes_the_same_steps(into):
    """Save at step 3; load into a fresh optimizer, or into the one that has taken a
    detour step since (its chunks must be laid out again around the loaded moments)."""
    def run(resume):
        r = tg.backend.rng(0)
        net = tg.Sequential(tg.Dense(3, 40, rng=r), tg.Tanh(), tg.Dense(40, 1, rng=r))
        opt = tg.Adam(net, lr=0.01)
        gen = np.random.default_rng(0)
        for t in range(6):
            if t == 3 and resume:
                saved, params = opt.state_dict(), {k: v.copy() for k, v in net.params.items()}
                if into == "the same optimizer":  # a detour step, then back
                    for g in net.grads.values():
                        g[...] = 1.0
                    opt.step()
                    for k, v in net.params.items():
                        v[...] = params[k]
                else:
                    opt = tg.Adam(net, lr=0.01)
                opt.load_state_dict(saved)
            for g in net.grads.values():
                g[...] = gen.standard_normal(g.shape)
            opt.step()
        return net.params

    a, b = run(False), run(True)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
