"""Reflection padding (PyTorch's ``nn.ReflectionPad2d``): borders mirrored, not zero."""

from __future__ import annotations

import numbers

from .. import backend
from .base import Layer, LayerInputError


class ReflectionPad2d(Layer):
    """Pad an image with its own mirror image, the border pixel not repeated.

    CycleGAN's generator pads every convolution this way: zero padding would show the
    network a dark frame that is not in the data, and the generator learns to paint it.

    Math
    ----
    Notation: x (N, C, H, W), paddings l, r (left, right), t, b (top, bottom), each
    smaller than the size it pads (l, r < W and t, b < H, as PyTorch requires).
    Forward, with the reflection of an index i ∈ [−t, H + b):
        ρ_H(i) = −i for i < 0,  i for 0 ≤ i < H,  2(H − 1) − i for i ≥ H
        out[n, c, t + i, l + j] = x[n, c, ρ_H(i), ρ_W(j)]
    Backward: each input pixel was copied to every output position that reflects onto
    it, so it collects their gradients: the padded border is *folded back* onto the
    image (columns first, then rows, which also folds the corners twice):
        dx[n, c, u, v] = Σ_{i, j : ρ_H(i) = u, ρ_W(j) = v} dout[n, c, t + i, l + j]

    Shapes
    ------
    x: (N, C, H, W) → out: (N, C, H + t + b, W + l + r)

    Parameters
    ----------
    padding : int (the same on all four sides) or a 4-tuple (left, right, top, bottom),
        PyTorch's order.

    Cache
    -----
    The input's shape and dtype.

    Derivation: derivations/07_cyclegan.md#reflection-padding

    >>> from tinygan import backend
    >>> x = backend.xp().arange(3.0).reshape(1, 1, 1, 3)
    >>> ReflectionPad2d((2, 1, 0, 0)).forward(x)[0, 0, 0]
    array([2., 1., 0., 1., 2., 1.])
    """

    def __init__(self, padding):
        super().__init__()
        pads = (padding,) * 4 if isinstance(padding, numbers.Integral) else tuple(padding)
        if len(pads) != 4 or any(isinstance(p, bool) or not isinstance(p, numbers.Integral)
                                 or p < 0 for p in pads):
            raise ValueError("ReflectionPad2d needs a padding ≥ 0: an int or a 4-tuple "
                             f"(left, right, top, bottom) of ints, got {padding!r}")
        self.padding = tuple(int(p) for p in pads)

    def __repr__(self):
        l, r, t, b = self.padding
        return f"ReflectionPad2d({l})" if l == r == t == b else \
            f"ReflectionPad2d({self.padding})"

    def forward(self, x):
        self._check_input(x, ndim=4)
        l, r, t, b = self.padding
        N, C, H, W = x.shape
        if max(l, r) >= W or max(t, b) >= H:
            raise LayerInputError(
                f"{self!r}: each padding must be smaller than the size it pads (a reflection "
                f"does not repeat the border pixel), got (left, right, top, bottom) = "
                f"{self.padding} for input of shape {tuple(x.shape)}")
        xp = backend.get_array_module(x)
        xt = x.transpose(0, 2, 3, 1)                               # (N, H, W, C) view
        out = xp.empty((N, H + t + b, W + l + r, C), dtype=x.dtype)
        # 1. the image, then its mirrored columns (flip of the l columns after the first,
        #    and of the r columns before the last), 2. then the mirrored rows, full width
        rows = slice(t, t + H)
        out[:, rows, l:l + W] = xt
        out[:, rows, :l] = xt[:, :, 1:l + 1][:, :, ::-1]
        out[:, rows, l + W:] = xt[:, :, W - 1 - r:W - 1][:, :, ::-1]
        out[:, :t] = out[:, t + 1:2 * t + 1][:, ::-1]
        out[:, t + H:] = out[:, t + H - 1 - b:t + H - 1][:, ::-1]
        self.cache = (tuple(x.shape), x.dtype)
        return out.transpose(0, 3, 1, 2)                           # NCHW view

    def backward(self, dout, need_dx=True):
        (N, C, H, W), dtype = self._pop_cache()
        l, r, t, b = self.padding
        self._check_dout(dout, (N, C, H + t + b, W + l + r), dtype)
        if not need_dx:
            return None
        d = dout.transpose(0, 2, 3, 1)                             # (N, H+t+b, W+l+r, C)
        # 1. fold the padded columns back onto the columns they mirror (all rows)
        g = d[:, :, l:l + W].copy()                                # (N, H+t+b, W, C)
        g[:, :, 1:l + 1] += d[:, :, :l][:, :, ::-1]
        g[:, :, W - 1 - r:W - 1] += d[:, :, l + W:][:, :, ::-1]
        # 2. fold the padded rows back onto the rows they mirror
        dx = g[:, t:t + H].copy()                                  # (N, H, W, C)
        dx[:, 1:t + 1] += g[:, :t][:, ::-1]
        dx[:, H - 1 - b:H - 1] += g[:, t + H:][:, ::-1]
        return dx.transpose(0, 3, 1, 2)                            # NCHW view
