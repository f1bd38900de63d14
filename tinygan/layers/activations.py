"""Elementwise activations. Each caches the one array its derivative needs."""

from __future__ import annotations

from .. import backend
from .base import Layer, cache_array


def sigmoid(x):
    """σ(x) = 1/(1 + e⁻ˣ) = e^min(x, 0) / (1 + e^(−|x|)), a form in which nothing overflows.

    For x ≥ 0 the numerator is 1 and this is 1/(1 + e⁻ˣ); for x < 0 it is eˣ/(1 + eˣ).
    Both exponents are ≤ 0, so both exponentials lie in (0, 1]: finite everywhere, with
    full relative precision in the tails; the naive ``exp(x)/(1 + exp(x))`` overflows
    for x > ~709 (float64). No branch and no ``where``: a select over both results was
    measured 10× slower than an exp on large arrays (shared/reference/performance.md).
    """
    xp = backend.get_array_module(x)
    return xp.exp(xp.minimum(x, 0)) / (1 + xp.exp(-xp.abs(x)))


class _Elementwise(Layer):
    """Shared plumbing: any floating shape in, same shape and dtype out."""

    def _check_backward(self, dout, like):
        self._check_dout(dout, like.shape, like.dtype)


class Sigmoid(_Elementwise):
    """σ(x) = 1/(1 + e⁻ˣ).

    Math
    ----
    Forward:  s = σ(x)
    Backward: dx = dout · s(1 − s)

    Shapes: any; out has the shape of x.

    Cache: s (the output): the derivative depends on the output alone.

    Derivation: derivations/01_backprop_dense_sigmoid_bce.md#sigmoid
    """

    def __repr__(self):
        return "Sigmoid()"

    def forward(self, x):
        self._check_input(x)
        s = sigmoid(x)
        self.cache = s
        return s

    def backward(self, dout, need_dx=True):
        s = self._pop_cache()
        self._check_backward(dout, s)
        return dout * s * (1 - s)


class Tanh(_Elementwise):
    """tanh(x).

    Math
    ----
    Forward:  t = tanh(x)
    Backward: dx = dout · (1 − t²)

    Shapes: any; out has the shape of x.

    Cache: t (the output).

    Derivation: derivations/01_backprop_dense_sigmoid_bce.md#tanh
    """

    def __repr__(self):
        return "Tanh()"

    def forward(self, x):
        self._check_input(x)
        xp = backend.get_array_module(x)
        t = xp.tanh(x)
        self.cache = t
        return t

    def backward(self, dout, need_dx=True):
        t = self._pop_cache()
        self._check_backward(dout, t)
        return dout * (1 - t * t)


class LeakyReLU(_Elementwise):
    """max(x, αx) for 0 ≤ α < 1 (α = 0 is ReLU).

    Math
    ----
    Forward:  out = max(x, αx) = x · slope
    Backward: dx = dout · slope,  slope = 1 where x > 0, α elsewhere
              (at x = 0 we take the left slope α, as PyTorch does)

    Shapes: any; out has the shape of x.

    Cache: slope (an array of 1s and αs in x's dtype, kept by the layer between calls),
    so backward is one multiply.

    ``np.maximum`` rather than ``np.where`` keeps the forward branch-free, which was
    measured 20× faster on this kind of machine (shared/reference/performance.md).

    Derivation: derivations/01_backprop_dense_sigmoid_bce.md#relu-and-leakyrelu
    """

    def __init__(self, alpha=0.2):
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"LeakyReLU needs 0 ≤ alpha < 1, got {alpha}")
        self.alpha = float(alpha)

    def __repr__(self):
        return f"LeakyReLU({self.alpha})"

    def forward(self, x):
        self._check_input(x)
        xp = backend.get_array_module(x)
        # [x > 0] as 1s and 0s of x's dtype, written into the array the cache keeps between
        # calls (cache_array: a fresh multi-megabyte slope per call is page-faulted in)
        slope, out = cache_array(self, "slope", x), xp.empty_like(x)
        alpha = x.dtype.type(self.alpha)

        def leaky_relu(x, slope, out):
            xp.greater(x, 0, out=slope)             # [x > 0] as 1s and 0s of x's dtype
            if alpha == 0:
                xp.maximum(x, alpha, out=out)
            else:
                # slope = max([x > 0], α) is exactly 1 or α, and x·slope is exactly
                # max(x, αx) for finite x: three passes over x instead of five
                xp.maximum(slope, alpha, out=slope)
                xp.multiply(x, slope, out=out)

        # the slope goes into the array the cache keeps between calls (cache_array: a
        # fresh multi-megabyte slope per call is page-faulted in); a large map is done in
        # blocks of images on every core (backend.over_rows: the same bits)
        backend.over_rows(leaky_relu, x, slope, out)
        self.cache = slope
        return out

    def backward(self, dout, need_dx=True):
        slope = self._pop_cache()
        self._check_backward(dout, slope)
        xp = backend.get_array_module(dout)
        dx = xp.empty_like(dout)
        backend.over_rows(lambda dout, slope, dx: xp.multiply(dout, slope, out=dx),
                          dout, slope, dx)
        return dx


class ReLU(LeakyReLU):
    """max(x, 0): LeakyReLU with α = 0.

    Math
    ----
    Forward:  out = max(x, 0)
    Backward: dx = dout · [x > 0]

    Cache: the mask [x > 0] in x's dtype.

    Derivation: derivations/01_backprop_dense_sigmoid_bce.md#relu-and-leakyrelu
    """

    def __init__(self):
        super().__init__(alpha=0.0)

    def __repr__(self):
        return "ReLU()"
