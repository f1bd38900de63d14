"""Equalized learning rate (Karras et al. 2018; all of StyleGAN): EqualizedDense, EqualizedConv2d.

A layer stores its weight at unit variance, Ŵ ~ N(0, 1/λ²), and multiplies it at run time
by He's constant times a learning-rate multiplier λ:

    W = c·Ŵ,   c = λ·gain/√fan_in,      b = λ·b̂

so the network computes exactly what a He-initialised layer computes, but the optimizer
sees the *stored* Ŵ. With Adam, whose step is (nearly) invariant to the scale of the
gradient, every stored parameter then moves by about lr per step, so every *runtime*
weight moves by about c·lr, i.e. by λ·lr relative to its own size: the relative speed
of learning is the same in every layer whatever its fan-in ("equalized"), and λ slows
one sub-network down on purpose (StyleGAN's mapping network: λ = 0.01).

The wrapper :class:`Equalized` holds the stored parameters and an ordinary inner layer
(:class:`~tinygan.layers.Dense` or :class:`~tinygan.layers.Conv2d`) whose parameters are
rewritten as c·Ŵ and λ·b̂ before each forward. The backward is the inner layer's backward
followed by the chain rule through the constant scale: dŴ = c·dW, db̂ = λ·db. So the
wrapper depends only on the inner layer's public contract (params, grads, forward,
backward), not on how the inner layer computes.

Derivation: derivations/08_stylegan.md#equalized-learning-rate
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from .base import Layer
from .conv import Conv2d
from .dense import Dense

__all__ = ["Equalized", "EqualizedDense", "EqualizedConv2d"]

SQRT2 = math.sqrt(2.0)


def _check_scale(name, what, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{name} needs a positive finite {what}, got {value!r}")
    return float(value)


class Equalized(Layer):
    """Equalized learning rate around an inner Dense or Conv2d: W = c·Ŵ, b = λ·b̂.

    Math
    ----
    Stored Ŵ ~ N(0, 1/λ²) and b̂ = 0; runtime coefficient c = λ·gain/√fan_in.
    Forward:  out = inner(x; W = c·Ŵ, b = λ·b̂)
    Backward: dx = inner.backward(dout);  dŴ = c·dW;  db̂ = λ·db
              (dW, db: the inner layer's gradients with respect to its runtime weights)

    fan_in = D_in for Dense, C_in·K·K for Conv2d. With Adam the step of the runtime
    weight is ≈ c·lr, i.e. λ·lr relative to its initial scale gain/√fan_in, the same in
    every layer (derivations/08_stylegan.md#what-it-does-to-adams-step).

    Shapes: those of the inner layer; ``params``/``grads`` hold the *stored* "W", "b".

    Parameters
    ----------
    inner : a Dense or Conv2d built with ``init="zeros"`` (its parameters are overwritten).
    gain : He's gain, √2 before a (Leaky)ReLU, 1 before a linear output.
    lr_mul : λ, the learning-rate multiplier (StyleGAN's mapping network: 0.01).
    rng : Generator for Ŵ.

    Cache: none of its own; the inner layer's one-slot cache.

    Derivation: derivations/08_stylegan.md#equalized-learning-rate
    """

    def __init__(self, inner, gain=SQRT2, lr_mul=1.0, rng=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(inner, (Dense, Conv2d)):
            raise TypeError(f"{name} wraps a Dense or Conv2d layer, got {inner!r}")
        if rng is None:
            raise ValueError(f"{name} needs an explicit rng (tinygan.backend.rng(seed)) to "
                             "draw its stored weights")
        self.gain = _check_scale(name, "gain", gain)
        self.lr_mul = _check_scale(name, "lr_mul", lr_mul)
        self.inner = inner
        W = inner.params["W"]
        fan_in = W.shape[0] if isinstance(inner, Dense) else math.prod(W.shape[1:])
        self.fan_in = int(fan_in)
        # runtime = coef · stored, per parameter
        self.coefs = {"W": self.lr_mul * self.gain / math.sqrt(self.fan_in)}
        xp = backend.xp()
        self.params["W"] = (rng.standard_normal(W.shape) / self.lr_mul).astype(W.dtype)
        if "b" in inner.params:
            self.coefs["b"] = self.lr_mul
            self.params["b"] = xp.zeros_like(inner.params["b"])
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def __repr__(self):
        inner = repr(self.inner)
        extra = f", gain={self.gain:.3g}" + (f", lr_mul={self.lr_mul:g}" if self.lr_mul != 1
                                              else "")
        return f"Equalized{inner[:-1]}{extra})"

    # the inner layer holds the runtime weights and the cache
    def _set_runtime(self):
        xp = backend.get_array_module(self.params["W"])
        for k, coef in self.coefs.items():
            xp.multiply(self.params[k], self.params[k].dtype.type(coef),
                        out=self.inner.params[k])

    def runtime_weight(self):
        """The runtime weight c·Ŵ, freshly computed (the array the inner layer multiplies by)."""
        self._set_runtime()
        return self.inner.params["W"]

    def forward(self, x):
        if isinstance(self.inner, Dense):
            self._check_input(x, shape=(None, self.inner.in_features))
        else:
            self._check_input(x, shape=(None, self.inner.in_channels, None, None))
        self._set_runtime()
        return self.inner.forward(x)

    def backward(self, dout, need_dx=True):
        if self.inner.cache is None:
            raise RuntimeError(f"{self!r}.backward() was called without a matching forward(): "
                               "each forward caches what one backward needs")
        self.inner.frozen = self.frozen
        self.inner.zero_grad()
        dx = self.inner.backward(dout, need_dx=need_dx)
        if not self.frozen:
            for k, coef in self.coefs.items():
                self.grads[k] += self.inner.grads[k].dtype.type(coef) * self.inner.grads[k]
        return dx

    # the inner layer is a child: frozen(), no_grad(), train() and eval() reach it
    @property
    def layers(self):
        return [self.inner]

    def clear_cache(self):
        self.inner.clear_cache()

    def train(self):
        self.inner.train()
        return super().train()

    def eval(self):
        self.inner.eval()
        return super().eval()

    def astype(self, dtype):
        super().astype(dtype)
        self.inner.astype(dtype)
        return self


class EqualizedDense(Equalized):
    """A Dense layer with equalized learning rate: out = x (cŴ) + λb̂, c = λ·gain/√D_in.

    Math
    ----
    Forward:  out = c·x Ŵ + λ·b̂
    Backward: dx = c·dout Ŵᵀ,  dŴ = c·xᵀ dout,  db̂ = λ·Σ_n dout[n]

    Shapes: x (N, D_in) → out (N, D_out);  Ŵ (D_in, D_out);  b̂ (D_out,)

    Parameters
    ----------
    in_features, out_features : int
    gain : float, default √2
    lr_mul : float, default 1
    bias : bool, default True
    rng : Generator (required)
    dtype : default "float32"

    Cache: the inner Dense's input x.

    Derivation: derivations/08_stylegan.md#equalized-learning-rate
    """

    def __init__(self, in_features, out_features, gain=SQRT2, lr_mul=1.0, bias=True, rng=None,
                 dtype="float32"):
        super().__init__(Dense(in_features, out_features, init="zeros", bias=bias, dtype=dtype),
                         gain=gain, lr_mul=lr_mul, rng=rng)


class EqualizedConv2d(Equalized):
    """A Conv2d with equalized learning rate: W = cŴ with c = λ·gain/√(C_in·K·K), b = λb̂.

    Math
    ----
    Forward:  out = conv(x; cŴ) + λ·b̂
    Backward: dx = conv's input gradient with cŴ;  dŴ = c·(conv's weight gradient);
              db̂ = λ·Σ_{n,i,j} dout[n, :, i, j]

    Shapes: x (N, C_in, H, W) → out (N, C_out, H_out, W_out);  Ŵ (C_out, C_in, K, K)

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride, padding : int, defaults 1 and 0 (StyleGAN's 3×3 "same" convolutions: padding 1)
    gain, lr_mul, bias, rng, dtype : as :class:`EqualizedDense`

    Cache: the inner Conv2d's cache.

    Derivation: derivations/08_stylegan.md#equalized-learning-rate
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, gain=SQRT2,
                 lr_mul=1.0, bias=True, rng=None, dtype="float32"):
        super().__init__(Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                padding=padding, bias=bias, init="zeros", dtype=dtype),
                         gain=gain, lr_mul=lr_mul, rng=rng)
