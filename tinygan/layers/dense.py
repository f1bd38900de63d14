"""Dense (fully connected) layer: out = x @ W + b."""

from __future__ import annotations

import math

from .. import backend
from .base import Layer, check_dtype, check_rng, check_size


class Dense(Layer):
    """A fully connected layer, ``out = x W + b``.

    Math
    ----
    Forward:  out = x W + b
    Backward: dx = dout Wᵀ,   dW = xᵀ dout,   db = Σ_n dout[n]
              (dx skipped when need_dx=False; dW, db skipped inside ``frozen``)

    Shapes
    ------
    x: (N, D_in) → out: (N, D_out);  W: (D_in, D_out);  b: (D_out,)

    Parameters
    ----------
    in_features, out_features : int
    rng : Generator, optional
        Source of the initial weights (``tinygan.backend.rng(seed)``). Needed unless
        ``init="zeros"``.
    init : {"glorot", "normal", "zeros"} or float
        ``"glorot"``: U(±√(6/(D_in+D_out))); ``"normal"``: N(0, 1) as in the 2×2 toy;
        a float σ: N(0, σ²) (DCGAN uses 0.02). Biases start at zero except for
        ``"normal"``, which draws them too.
    bias : bool
    dtype : the parameters' dtype (float32 for training, float64 for gradchecks).

    Cache
    -----
    x (the input).

    Derivation: derivations/01_backprop_dense_sigmoid_bce.md#dense
    """

    def __init__(self, in_features, out_features, rng=None, init="glorot", bias=True,
                 dtype="float32"):
        super().__init__()
        self.in_features = check_size("Dense", "in_features", in_features)
        self.out_features = check_size("Dense", "out_features", out_features)
        dtype = check_dtype("Dense", dtype)
        check_rng("Dense", rng)
        xp = backend.xp()
        shape = (self.in_features, self.out_features)
        if init == "zeros":
            W = xp.zeros(shape, dtype=dtype)
        elif rng is None:
            raise ValueError("Dense needs an explicit rng (tinygan.backend.rng(seed)) to draw "
                             f"its initial weights with init={init!r}")
        elif init == "glorot":
            limit = math.sqrt(6.0 / (self.in_features + self.out_features))
            W = rng.uniform(-limit, limit, size=shape).astype(dtype)
        elif init == "normal":
            W = rng.standard_normal(shape).astype(dtype)
        elif isinstance(init, (int, float)):
            W = (float(init) * rng.standard_normal(shape)).astype(dtype)
        else:
            raise ValueError(f"unknown init {init!r} for Dense")
        self.params["W"] = W
        if bias:
            if init == "normal":
                self.params["b"] = rng.standard_normal((self.out_features,)).astype(dtype)
            else:
                self.params["b"] = xp.zeros((self.out_features,), dtype=dtype)
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def __repr__(self):
        return f"Dense({self.in_features}→{self.out_features})"

    def forward(self, x):
        self._check_input(x, shape=(None, self.in_features))
        self.cache = x
        out = x @ self.params["W"]
        if "b" in self.params:
            out += self.params["b"]
        return out

    def backward(self, dout, need_dx=True):
        x = self._pop_cache()
        self._check_dout(dout, (x.shape[0], self.out_features), x.dtype)
        if not self.frozen:
            self.grads["W"] += x.T @ dout
            if "b" in self.grads:
                self.grads["b"] += dout.sum(axis=0)
        return dout @ self.params["W"].T if need_dx else None
