"""Embedding (PyTorch's ``nn.Embedding``): a learned vector per class id."""

from __future__ import annotations

import numbers

from .. import backend
from .base import Layer, LayerInputError, check_dtype, check_rng


class Embedding(Layer):
    """Look up row ``ids[...]`` of a (num_embeddings, embedding_dim) table.

    A conditional GAN tells G (and D) which digit to make through a learned vector per
    class. Looking up row y is multiplying the one-hot row e_y by the table, so the layer
    is a Dense layer without bias whose input is one-hot, computed without the zeros.

    Math
    ----
    Forward:  out[k] = W[ids[k]]        (k runs over every position of ``ids``)
              = onehot(ids[k]) W
    Backward: dW = onehot(ids)ᵀ dout, i.e. a **scatter-add**: row v of dW collects the
              upstream gradient of every position that looked it up,
              dW[v] += Σ_{k : ids[k] = v} dout[k]
              A class that appears twice in the batch gets both gradients; a plain
              ``dW[ids] += dout`` would keep only one of them (fancy-index assignment
              writes each repeated row once). There is no gradient with respect to the
              integer ids: backward returns None.

    Shapes
    ------
    ids: any shape S, integer in [0, num_embeddings) → out: S + (embedding_dim,)
    W ("W"): (num_embeddings, embedding_dim), PyTorch's ``weight`` layout

    Parameters
    ----------
    num_embeddings : int, the number of classes V
    embedding_dim : int, D
    rng : Generator (``tinygan.backend.rng(seed)``), needed unless ``init="zeros"``
    init : "normal" (N(0, 1), PyTorch's default), a float σ for N(0, σ²), or "zeros"
    dtype : parameter dtype, default "float32"

    Cache
    -----
    The ids (flattened).

    Derivation: derivations/06_conditional_gan.md#embedding
    """

    def __init__(self, num_embeddings, embedding_dim, rng=None, init="normal",
                 dtype="float32"):
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"Embedding needs a positive integer {name}, got {v!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        dtype = check_dtype("Embedding", dtype)
        check_rng("Embedding", rng)
        shape = (self.num_embeddings, self.embedding_dim)
        xp = backend.xp()
        if init == "zeros":
            W = xp.zeros(shape, dtype=dtype)
        elif rng is None:
            raise ValueError("Embedding needs an explicit rng (tinygan.backend.rng(seed)) to "
                             f"draw its initial table with init={init!r}")
        elif init == "normal":
            W = rng.standard_normal(shape).astype(dtype)
        elif isinstance(init, numbers.Real) and not isinstance(init, bool) and init > 0:
            W = (float(init) * rng.standard_normal(shape)).astype(dtype)
        else:
            raise ValueError(f"unknown init {init!r} for Embedding; expected 'normal', a "
                             "positive std or 'zeros'")
        self.params["W"] = W
        self.grads = {"W": xp.zeros_like(W)}

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    def forward(self, ids):
        if not hasattr(ids, "dtype") or ids.dtype.kind not in "iu":
            got = f"dtype {ids.dtype}" if hasattr(ids, "dtype") else type(ids).__name__
            raise LayerInputError(f"{self!r} expected an integer array of class ids, got {got}"
                                  " (labels as integers, not one-hot rows or floats)")
        if backend.checks_enabled() and ids.size:
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= self.num_embeddings:
                raise LayerInputError(
                    f"{self!r} expected ids in [0, {self.num_embeddings}), got values from "
                    f"{lo} to {hi}")
        self.cache = (ids.reshape(-1), tuple(ids.shape))
        return self.params["W"][ids]                                 # ids.shape + (D,)

    def backward(self, dout, need_dx=True):
        flat, shape = self._pop_cache()
        self._check_dout(dout, shape + (self.embedding_dim,), self.params["W"].dtype)
        if not self.frozen:
            xp = backend.get_array_module(dout)
            # scatter-add: repeated ids accumulate (one flat integer index: add.at's fast path)
            xp.add.at(self.grads["W"], flat, dout.reshape(-1, self.embedding_dim))
        return None  # integer ids have no gradient
