"""Reshape and Flatten: move between vectors and feature maps (no arithmetic)."""

from __future__ import annotations

import math

from .base import Layer, LayerInputError


class Reshape(Layer):
    """Reshape every example to ``shape`` (the batch axis is kept), e.g. (N, 6272) → (N, 128, 7, 7).

    Math
    ----
    Forward:  out[n] = reshape(x[n], shape)  (row-major / C order, as ``torch.reshape``)
    Backward: dx = reshape(dout, x.shape): a reshape only relabels the elements.

    Shapes
    ------
    x: (N, *in_shape) → out: (N, *shape), with prod(in_shape) = prod(shape)

    Parameters
    ----------
    shape : tuple of positive int, excluding the batch axis (no -1).

    Cache
    -----
    The input's shape and dtype.

    Derivation: derivations/03_transposed_convolution.md#reshape-and-flatten
    """

    def __init__(self, shape):
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1
                            for s in shape):
            raise ValueError(f"Reshape needs a target shape of positive ints (batch axis "
                             f"excluded), got {shape!r}")
        self.shape = shape
        self.size = math.prod(shape)

    def __repr__(self):
        return f"Reshape({'×'.join(map(str, self.shape))})"

    def forward(self, x):
        self._check_input(x)
        if x.ndim < 1 or math.prod(x.shape[1:]) != self.size:
            raise LayerInputError(
                f"{self!r} cannot reshape input of shape {tuple(x.shape)} to "
                f"(N, {', '.join(map(str, self.shape))}): each example has "
                f"{math.prod(x.shape[1:]) if x.ndim else 0} elements, expected {self.size}")
        self.cache = (tuple(x.shape), x.dtype)
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, dout, need_dx=True):
        shape, dtype = self._pop_cache()
        self._check_dout(dout, (shape[0],) + self.shape, dtype)
        return dout.reshape(shape)


class Flatten(Layer):
    """Flatten every example to a vector: (N, C, H, W) → (N, C·H·W), in C order like PyTorch.

    Math
    ----
    Forward:  out[n] = ravel(x[n]);   Backward: dx = reshape(dout, x.shape)

    Shapes
    ------
    x: (N, *rest) → out: (N, prod(rest))

    Cache
    -----
    The input's shape and dtype.

    Derivation: derivations/03_transposed_convolution.md#reshape-and-flatten
    """

    def __repr__(self):
        return "Flatten()"

    def forward(self, x):
        self._check_input(x)
        if x.ndim < 2:
            raise LayerInputError(f"{self!r} expected input of shape (N, ...) with at least "
                                  f"2 dimensions, got {tuple(x.shape)}")
        self.cache = (tuple(x.shape), x.dtype)
        return x.reshape(x.shape[0], -1)

    def backward(self, dout, need_dx=True):
        shape, dtype = self._pop_cache()
        self._check_dout(dout, (shape[0], math.prod(shape[1:])), dtype)
        return dout.reshape(shape)
