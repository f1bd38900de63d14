"""PacGAN packing: the discriminator judges m samples at once, concatenated into one input.

Lin, Khetan, Fanti & Oh (2018) show that a discriminator that sees *packs* of m
independent samples, all real or all fake, penalises mode collapse: a pack of m fakes
from a collapsed G looks far less like m real samples than one fake looks like one
real sample. Nothing else changes: same losses, same trainer.

We implement packing as a layer with no parameters, :class:`Pack`, placed in front of
an ordinary discriminator: it reshapes a batch of N·m samples into N packs. For vectors
a pack is the m rows side by side; for images and volumes it is the m samples stacked as
channels (what the paper does for its convolutional D), so only D's first layer changes. Because
the trainer (:func:`tinygan.train.fit`) draws ``batch_size`` samples, a packed D sees
``batch_size / m`` packs per step; choose ``batch_size = m · packs``.

Derivation: derivations/05_wgan_gp_double_backward.md#packing
"""

from __future__ import annotations

from ..layers.base import Layer

__all__ = ["Pack", "packed"]


class Pack(Layer):
    """Concatenate each run of m consecutive samples into one (no parameters).

    Math
    ----
    Forward:  out[n] = [x[n·m], x[n·m+1], …, x[n·m+m−1]]  (concatenation along axis 1)
    Backward: dx = dout reshaped back: the pack's gradient is split among its members.

    Shapes
    ------
    x: (N·m, D) → out: (N, m·D); and for maps of any spatial rank
    x: (N·m, C, *spatial) → out: (N, m·C, *spatial): the m samples become m·C channels.
    Both are one C-order reshape, because the m members of a pack are consecutive rows.

    Cache: the input shape.

    Derivation: derivations/05_wgan_gp_double_backward.md#packing
    """

    def __init__(self, m):
        super().__init__()
        if int(m) != m or m < 1:
            raise ValueError(f"Pack needs a positive integer pack size m, got {m}")
        self.m = int(m)

    def __repr__(self):
        return f"Pack({self.m})"

    def forward(self, x):
        self._check_input(x)
        if x.ndim < 2:
            raise ValueError(f"{self!r} expected (N·m, D) or (N·m, C, …) samples, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[0] % self.m:
            raise ValueError(f"{self!r} needs a batch that is a multiple of m = {self.m}, "
                             f"got {x.shape[0]} samples")
        self.cache = (x.shape, x.dtype)
        return x.reshape((x.shape[0] // self.m, self.m * x.shape[1]) + x.shape[2:])

    def backward(self, dout, need_dx=True):
        shape, dtype = self._pop_cache()
        self._check_dout(dout, (shape[0] // self.m, self.m * shape[1]) + shape[2:], dtype)
        return dout.reshape(shape) if need_dx else None  # (N·m, …)


def packed(D, m):
    """Prepend a :class:`Pack` to the Sequential ``D`` (whose first layer takes m·D inputs,
    or m·C channels)."""
    from ..models import Sequential

    layers = D.layers if isinstance(D, Sequential) else [D]
    return Sequential(Pack(m), *layers)
