"""Nearest-neighbour upsampling by an integer factor (PyTorch's ``nn.Upsample(mode="nearest")``)."""

from __future__ import annotations

import numbers

from .. import backend
from .base import Layer, LayerInputError


class Upsample(Layer):
    """Repeat every pixel s×s times: (N, C, H, W) → (N, C, s·H, s·W), nearest neighbour.

    The "resize" half of a resize-convolution: ``Upsample(scale_factor=2)`` followed by a
    convolution doubles the resolution without the checkerboard a stride-2 transposed
    convolution leaves when its kernel is not divisible by the stride.

    Math
    ----
    Forward:  out[n, c, i, j] = x[n, c, ⌊i/s⌋, ⌊j/s⌋]
    Backward: every input pixel was copied into an s×s block of the output, so its
              gradient is the sum over that block (s×s sum pooling):
              dx[n, c, u, v] = Σ_{p<s, q<s} dout[n, c, s·u + p, s·v + q]
    The same with one spatial index (N, C, L) or three (N, C, D, H, W).

    Shapes
    ------
    x: (N, C, H, W) → out: (N, C, s·H, s·W)   (also (N, C, L) and (N, C, D, H, W))

    Parameters
    ----------
    scale_factor : int ≥ 1 (PyTorch's name; a float like 2.0 that is an integer is accepted)
    mode : "nearest" (the only mode here)

    Cache
    -----
    The input's shape and dtype.

    Derivation: derivations/07_cyclegan.md#nearest-upsampling

    >>> from tinygan import backend
    >>> x = backend.xp().arange(4.0).reshape(1, 1, 2, 2)
    >>> Upsample(scale_factor=2).forward(x)[0, 0]
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [2., 2., 3., 3.],
           [2., 2., 3., 3.]])
    """

    def __init__(self, scale_factor=2, mode="nearest"):
        super().__init__()
        if isinstance(scale_factor, bool) or not isinstance(scale_factor, numbers.Real) or \
                scale_factor != int(scale_factor) or scale_factor < 1:
            raise ValueError(f"Upsample needs an integer scale_factor ≥ 1, got {scale_factor!r}")
        if mode != "nearest":
            raise ValueError(f"Upsample supports mode='nearest' only, got mode={mode!r}")
        self.scale_factor = int(scale_factor)
        self.mode = mode

    def __repr__(self):
        return f"Upsample(scale_factor={self.scale_factor})"

    def forward(self, x):
        if getattr(x, "ndim", None) not in (3, 4, 5):
            self._check_input(x)
            raise LayerInputError(
                f"{self!r} expected input of shape (N, C, H, W) (or (N, C, L), "
                f"(N, C, D, H, W)), got {tuple(x.shape)}")
        self._check_input(x)
        xp = backend.get_array_module(x)
        s, N, C, spatial = self.scale_factor, x.shape[0], x.shape[1], x.shape[2:]
        # Work channels-last, so that an NCHW view of channels-last memory (a conv output)
        # is read in order and the result is again such a view (free for the next conv).
        xt = xp.moveaxis(x, 1, -1)                                   # (N, *spatial, C)
        expanded = (N,) + sum(((d, 1) for d in spatial), ()) + (C,)  # (N, H, 1, W, 1, C)
        target = (N,) + sum(((d, s) for d in spatial), ()) + (C,)    # (N, H, s, W, s, C)
        out = xp.broadcast_to(xt.reshape(expanded), target)
        out = out.reshape((N,) + tuple(d * s for d in spatial) + (C,))  # the one copy
        self.cache = (tuple(x.shape), x.dtype)
        return xp.moveaxis(out, -1, 1)                               # NCHW view

    def backward(self, dout, need_dx=True):
        shape, dtype = self._pop_cache()
        s, N, C, spatial = self.scale_factor, shape[0], shape[1], shape[2:]
        self._check_dout(dout, (N, C) + tuple(d * s for d in spatial), dtype)
        if not need_dx:
            return None
        xp = backend.get_array_module(dout)
        blocks = xp.moveaxis(dout, 1, -1).reshape(
            (N,) + sum(((d, s) for d in spatial), ()) + (C,))     # (N, H, s, W, s, C)
        dx = blocks.sum(axis=tuple(range(2, 2 + 2 * len(spatial), 2)))  # s×s sum pooling
        return xp.moveaxis(dx, -1, 1)                                # NCHW view
