"""Residual: a block whose output is its input plus what its layers add, out = x + F(x)."""

from __future__ import annotations

from ..layers.base import LayerInputError
from .sequential import Sequential


class Residual(Sequential):
    """A residual block (He et al. 2016): ``out = x + F(x)``, F the layers in order.

    CycleGAN's generator transforms an image in a stack of these at low resolution: each
    block starts near the identity (F small), so the generator's default is "change
    little", which suits a translation that keeps the content. It is a container, like
    :class:`Sequential`, whose ``params``/``grads`` it shares (keys ``"<index>.<name>"``).

    Math
    ----
    Forward:  out = x + F(x)
    Backward: the identity path adds the upstream gradient unchanged:
              dx = dout + J_Fᵀ dout
    F's output must have the shape of x (a residual block never changes the size).

    Shapes
    ------
    x: any shape F keeps → out: the shape of x

    Cache: none of its own (F's layers keep theirs).

    Derivation: derivations/07_cyclegan.md#the-residual-block
    """

    def __repr__(self):
        return f"Residual({', '.join(repr(layer) for layer in self.layers)})"

    def forward(self, x):
        fx = super().forward(x)
        if tuple(fx.shape) != tuple(x.shape):
            raise LayerInputError(
                f"{self!r}: the block's layers turn input of shape {tuple(x.shape)} into "
                f"{tuple(fx.shape)}; out = x + F(x) needs F to keep the shape")
        return x + fx

    def backward(self, dout, need_dx=True):
        dfx = super().backward(dout, need_dx=need_dx)
        return dout + dfx if need_dx else None
