"""Optimizers that update a model's ``params`` in place from its ``grads``.

Each optimizer is given a model (anything with ``params``/``grads`` dicts: a layer,
a Sequential) and keeps its state (velocities, moments) per parameter name. The
conventions follow PyTorch's, so a learner can compare step by step.
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
