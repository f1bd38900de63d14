"""Optimizers that update a model's ``params`` in place from its ``grads``.

Each optimizer is given a model (anything with ``params``/``grads`` dicts: a layer,
a Sequential) and keeps its state (velocities, moments) per parameter name. The
conventions follow PyTorch's, so a learner can compare step by step.

``state_dict()`` returns that state as host arrays and numbers (the step count ``t``,
the current ``lr``, and per parameter Adam's m and v, SGD's momentum buffer v or
RMSProp's average s); ``load_state_dict`` puts it back, so a run resumed from a
checkpoint takes exactly the steps it would have taken. Scratch buffers are not state.
"""

from __future__ import annotations

import math

from . import backend

__all__ = ["Optimizer", "SGD", "Adam", "RMSProp"]


class Optimizer:
    """Shared plumbing: walks the matching ``params``/``grads`` of one or more models."""

    def __init__(self, model, lr):
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.models = list(model) if isinstance(model, (list, tuple)) else [model]
        self.lr = float(lr)
        self.t = 0  # number of steps taken
        self.state: dict = {}

    def _pairs(self):
        """(key, param, grad) for every parameter. Fetched each step so they are the live arrays."""
        for i, m in enumerate(self.models):
            params, grads = m.params, m.grads
            for k, p in params.items():
                yield (i, k), p, grads[k]

    def zero_grad(self):
        for m in self.models:
            m.zero_grad()

    def step(self):
        self.t += 1
        for key, p, g in self._pairs():
            self._update(key, p, g)

    def _update(self, key, p, g):  # pragma: no cover - abstract
        raise NotImplementedError

    #: per-parameter arrays that are scratch space, not state (never saved)
    _scratch = ("buf",)
    #: state whose overflow to inf stops the updates *silently* (θ moves by m/√v = 0 while
    #: every parameter stays finite): the trainer checks these after each step
    overflow_slots: tuple = ()

    def state_arrays(self, names=None):
        """``((model, param), name, array)`` for the live state arrays (no copies).

        ``names`` restricts them to those slots, e.g. ``opt.overflow_slots``.
        """
        for key, st in self.state.items():
            for name, a in st.items():
                if name not in self._scratch and (names is None or name in names):
                    yield key, name, a

    def state_dict(self):
        """``{"type", "t", "lr", "slots": {"<model>:<param>": {"m": host array, …}}}``."""
        slots = {f"{i}:{k}": {name: backend.to_numpy(a).copy() for name, a in st.items()
                              if name not in self._scratch}
                 for (i, k), st in self.state.items()}
        return {"type": type(self).__name__, "t": self.t, "lr": self.lr, "slots": slots}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`'s output, checking the type and every slot's shape."""
        if state.get("type") != type(self).__name__:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved state is of "
                             f"a {state.get('type')} optimizer")
        params = {f"{i}:{k}": p for (i, k), p, _ in self._pairs()}
        new = {}
        for key, arrays in state["slots"].items():
            if key not in params:
                raise ValueError(f"{type(self).__name__}.load_state_dict: saved state for "
                                 f"parameter {key!r}, which this optimizer's models lack")
            p = params[key]
            xp = backend.get_array_module(p)
            i, _, k = key.partition(":")
            for name, value in arrays.items():
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"{type(self).__name__}.load_state_dict: saved {name} of "
                                     f"{key} has shape {tuple(value.shape)}, the parameter "
                                     f"{tuple(p.shape)}")
                new.setdefault((int(i), k), {})[name] = xp.array(value, dtype=p.dtype)
        self.state = new
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        return self

    def _zeros(self, key, name, like):
        st = self.state.setdefault(key, {})
        if name not in st:
            st[name] = backend.get_array_module(like).zeros_like(like)
        return st[name]


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum, PyTorch's convention.

    Math
    ----
    v ← μ·v + g
    θ ← θ − lr·v          (μ = 0: θ ← θ − lr·g, plain SGD)
    """

    def __init__(self, model, lr=0.01, momentum=0.0):
        super().__init__(model, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)

    def _update(self, key, p, g):
        if self.momentum == 0.0:
            p -= self.lr * g
            return
        v = self._zeros(key, "v", p)
        v *= self.momentum
        v += g
        p -= self.lr * v


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction by (1 − βᵗ), t = the step count.

    Math
    ----
    m ← β₁m + (1 − β₁)g,        v ← β₂v + (1 − β₂)g²
    m̂ = m / (1 − β₁ᵗ),          v̂ = v / (1 − β₂ᵗ)
    θ ← θ − lr · m̂ / (√v̂ + ε)

    A common bug corrects by (1 − β) instead of (1 − βᵗ); the test of a hand-computed
    second step catches it.
    """

    overflow_slots = ("v",)

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(model, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        self.b1, self.b2, self.eps = float(b1), float(b2), float(eps)

    def _update(self, key, p, g):
        xp = backend.get_array_module(p)
        m = self._zeros(key, "m", p)
        v = self._zeros(key, "v", p)
        buf = self._zeros(key, "buf", p)  # scratch: no temporaries allocated per step
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        # 1. m ← β₁m + (1 − β₁)g
        m *= self.b1
        xp.multiply(g, 1 - self.b1, out=buf)
        m += buf
        # 2. v ← β₂v + (1 − β₂)g²
        v *= self.b2
        xp.multiply(g, g, out=buf)
        buf *= 1 - self.b2
        v += buf
        # 3. θ ← θ − lr·m̂/(√v̂ + ε). Multiplying numerator and denominator by √c₂:
        #    lr·m̂/(√v̂ + ε) = (lr·√c₂/c₁)·m/(√v + ε√c₂): the corrections become two scalars.
        xp.sqrt(v, out=buf)
        buf += self.eps * math.sqrt(c2)
        xp.divide(m, buf, out=buf)
        buf *= self.lr * math.sqrt(c2) / c1
        p -= buf


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton 2012), PyTorch's convention (ε outside the root).

    Math
    ----
    s ← ρ·s + (1 − ρ)·g²
    θ ← θ − lr · g / (√s + ε)
    """

    overflow_slots = ("s",)

    def __init__(self, model, lr=1e-2, rho=0.99, eps=1e-8):
        super().__init__(model, lr)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"RMSProp: rho must be in [0, 1), got {rho}")
        self.rho, self.eps = float(rho), float(eps)

    def _update(self, key, p, g):
        xp = backend.get_array_module(p)
        s = self._zeros(key, "s", p)
        s *= self.rho
        s += (1 - self.rho) * (g * g)
        p -= self.lr * g / (xp.sqrt(s) + self.eps)
