"""Batch normalisation over features (N, D) or channels (N, C, *spatial); instance normalisation."""

from __future__ import annotations

from .. import backend
from .base import Layer, LayerInputError, cache_array, check_dtype


class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy 2015), as in DCGAN's G and D.

    One layer for every layout: a map (N, C, *spatial) with any number of spatial axes
    (a sequence (N, C, L), an image (N, C, H, W), a volume (N, C, D, H, W)) is normalised
    **per channel** over N and every spatial axis (not per position), which is exactly a
    (N, D) BatchNorm on the (M, C) matrix of its positions, M = N·∏spatial. PyTorch's
    BatchNorm1d, BatchNorm2d and BatchNorm3d in one class. Below, M is the number of rows
    (M = N for (N, D) input).

    Math
    ----
    Train mode (batch statistics, biased variance):
        μ = (1/M) Σ_m x_m,   σ² = (1/M) Σ_m (x_m − μ)²,   r = 1/√(σ² + ε)
        x̂ = (x − μ) r,        out = γ x̂ + β
        running_mean ← (1 − m)·running_mean + m·μ
        running_var  ← (1 − m)·running_var  + m·σ²·M/(M − 1)   (unbiased, as PyTorch)
    Backward in train mode (μ and σ² depend on every x_m, so this is the full
    Jacobian, not the diagonal γr):
        dβ = Σ_m dout_m,   dγ = Σ_m dout_m x̂_m
        dx = γ r (dout − dβ/M − x̂ · dγ/M)
    Eval mode uses the running statistics, constants with respect to x:
        x̂ = (x − running_mean)/√(running_var + ε),   dx = γ · dout/√(running_var + ε)
    (dγ and dβ as in train mode.) All sums and means run over the M rows, per feature.

    Shapes
    ------
    x: (N, D) or (N, C, *spatial) with D = C = num_features → out: the shape of x
    γ ("gamma"), β ("beta"), running_mean, running_var: (num_features,)

    Parameters
    ----------
    num_features : int
        D for (N, D) input, C for (N, C, *spatial) input.
    eps : float, default 1e-5
    momentum : float, default 0.1 (PyTorch's convention: the weight of the new batch)
    dtype : parameter dtype, default "float32"

    ``running_mean`` and ``running_var`` are state, not parameters: optimizers do
    not see them; ``astype`` converts them. γ starts at 1 and β at 0. A bias in the
    layer before a train-mode BatchNorm is wasted (its gradient is exactly zero, β
    plays its role): build that layer with ``bias=False``, as DCGAN does.

    Cache
    -----
    x − μ (as an (M, D) matrix, kept by the layer between calls; x̂ = r(x − μ) is never
    stored), r, the per-feature scale γr, and the input's shape.

    Derivation: derivations/03_transposed_convolution.md#batchnorm
    """

    buffers = ("running_mean", "running_var")

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype="float32"):
        super().__init__()
        dtype = check_dtype("BatchNorm", dtype)
        if isinstance(num_features, bool) or not isinstance(num_features, int) or \
                num_features < 1:
            raise ValueError(f"BatchNorm needs a positive integer num_features, got "
                             f"{num_features!r}")
        if not eps > 0:
            raise ValueError(f"BatchNorm needs eps > 0, got {eps}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm needs 0 ≤ momentum ≤ 1, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        xp = backend.xp()
        self.params["gamma"] = xp.ones((num_features,), dtype=dtype)
        self.params["beta"] = xp.zeros((num_features,), dtype=dtype)
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = xp.zeros((num_features,), dtype=dtype)
        self.running_var = xp.ones((num_features,), dtype=dtype)

    def __repr__(self):
        return f"BatchNorm({self.num_features})"

    def astype(self, dtype):
        super().astype(dtype)
        self.running_mean = self.running_mean.astype(dtype)
        self.running_var = self.running_var.astype(dtype)
        return self

    def _as_rows(self, x):
        """(N, D) as is; (N, C, *spatial) → (N·∏spatial, C), a free view when x is channels-last."""
        if x.ndim == 2:
            return x
        xp = backend.get_array_module(x)
        C = x.shape[1]
        return xp.ascontiguousarray(x.transpose(0, *range(2, x.ndim), 1)).reshape(-1, C)

    @staticmethod
    def _from_rows(y, shape):
        if len(shape) == 2:
            return y
        N, C, *spatial = shape
        d = len(spatial)
        # channels-first view of channels-last data: (N, *spatial, C) → (N, C, *spatial)
        return y.reshape(N, *spatial, C).transpose(0, d + 1, *range(1, d + 1))

    def forward(self, x):
        if getattr(x, "ndim", 0) < 2:
            raise LayerInputError(
                f"{self!r} expected input of shape (N, {self.num_features}) or "
                f"(N, {self.num_features}, *spatial) (L, H×W or D×H×W), got "
                f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
        self._check_input(x, shape=(None, self.num_features) + (None,) * (x.ndim - 2))
        xp = backend.get_array_module(x)
        X = self._as_rows(x)                                       # (M, D)
        M = X.shape[0]
        gamma, beta = self.params["gamma"], self.params["beta"]
        if self.training:
            if M < 2:
                raise LayerInputError(
                    f"{self!r} in train mode needs more than one value per feature to "
                    f"compute batch statistics, got input of shape {tuple(x.shape)}; use "
                    "a larger batch or layer.eval()")
            mu = _column_sum(X) / M
            xc = cache_array(self, "xc", X)
            backend.over_rows(lambda X, xc: xp.subtract(X, mu, out=xc), X, xc)  # centred
            var = _column_dot(xc, xc) / M                          # biased, for normalising
            r = 1 / xp.sqrt(var + self.eps)
            if self.update_stats:  # False inside no_grad(update_stats=False)
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * mu
                self.running_var = (1 - m) * self.running_var + (m * M / (M - 1)) * var
        else:
            r = 1 / xp.sqrt(self.running_var + self.eps)
            xc = cache_array(self, "xc", X)
            backend.over_rows(lambda X, xc: xp.subtract(X, self.running_mean, out=xc), X, xc)
        scale = gamma * r                                          # (D,)
        out = xp.empty_like(xc)

        def affine(xc, out):
            xp.multiply(xc, scale, out=out)                        # γ x̂ = γ r (x − μ)
            out += beta

        # the elementwise passes run in blocks of rows on every core when the map is
        # large (backend.over_rows: the same bits); the column sums stay whole
        backend.over_rows(affine, xc, out)
        self.cache = (xc, r, scale, tuple(x.shape), self.training)
        return self._from_rows(out, x.shape)

    def backward(self, dout, need_dx=True):
        xc, r, scale, shape, training = self._pop_cache()
        self._check_dout(dout, shape, xc.dtype)
        D = self._as_rows(dout)                                    # (M, D)
        M = D.shape[0]
        dbeta = _column_sum(D)
        dgamma = _column_dot(D, xc) * r                            # Σ dout · x̂, x̂ = r (x − μ)
        if not self.frozen:
            self.grads["beta"] += dbeta
            self.grads["gamma"] += dgamma
        xp = backend.get_array_module(D)
        if training:
            # dx = γr (dout − mean(dout) − x̂ · mean(dout · x̂)), built in place
            c, mean_dout, dx = -dgamma * r / M, dbeta / M, xp.empty_like(xc)

            def dx_rows(xc, D, dx):
                xp.multiply(xc, c, out=dx)                         # x̂ · dγ/M = (x − μ)·r·dγ/M
                dx += D
                dx -= mean_dout
                dx *= scale
            backend.over_rows(dx_rows, xc, D, dx)
        else:
            dx = xp.empty_like(D)
            backend.over_rows(lambda D, dx: xp.multiply(D, scale, out=dx), D, dx)
        return self._from_rows(dx, shape)


class InstanceNorm2d(Layer):
    """Instance normalisation (Ulyanov, Vedaldi & Lempitsky 2016): each image, each channel.

    CycleGAN's generators and discriminators use it instead of BatchNorm: the statistics
    of one image's channel over its H·W pixels, so an image's style does not depend on
    the other images in the batch, and batch size 1 works.

    Math
    ----
    For each (n, c), over the M = H·W values x_m of that channel of that image:
        μ = (1/M) Σ_m x_m,   σ² = (1/M) Σ_m (x_m − μ)²  (biased),   r = 1/√(σ² + ε)
        x̂ = (x − μ) r,       out = γ_c x̂ + β_c   (affine=True)   or   out = x̂
    Backward: BatchNorm's formula with the sums taken per (n, c) over H·W:
        dβ_c = Σ_{n,m} dout,   dγ_c = Σ_{n,m} dout · x̂          (affine only)
        g = γ_c · dout (affine) or dout
        dx = r (g − mean_m g − x̂ · mean_m(g x̂))
    There are no running statistics: train and eval mode both normalise with the
    image's own statistics (PyTorch's default ``track_running_stats=False``, CycleGAN's
    setting).

    Shapes
    ------
    x: (N, C, H, W), C = num_features, H·W ≥ 2 → out: the shape of x
    γ ("gamma"), β ("beta"): (C,), present only with ``affine=True``

    Parameters
    ----------
    num_features : int, C
    eps : float, default 1e-5
    affine : bool, default False (PyTorch's default and CycleGAN's)
        True adds the per-channel scale γ (starts at 1) and shift β (starts at 0).
    dtype : parameter dtype, default "float32" (used only with ``affine=True``)

    Cache
    -----
    x̂ (channels-last, (N, H·W, C)), r (N, 1, C), and the input's shape.

    Derivation: derivations/07_cyclegan.md#instance-normalisation
    """

    def __init__(self, num_features, eps=1e-5, affine=False, track_running_stats=False,
                 dtype="float32"):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or \
                num_features < 1:
            raise ValueError(f"InstanceNorm2d needs a positive integer num_features, got "
                             f"{num_features!r}")
        if not eps > 0:
            raise ValueError(f"InstanceNorm2d needs eps > 0, got {eps}")
        dtype = check_dtype("InstanceNorm2d", dtype)
        if track_running_stats:
            raise ValueError("InstanceNorm2d(track_running_stats=True) is not implemented: "
                             "each image is normalised with its own statistics, in train and "
                             "eval mode alike (CycleGAN's setting)")
        self.num_features, self.eps, self.affine = num_features, float(eps), bool(affine)
        if self.affine:
            xp = backend.xp()
            self.params["gamma"] = xp.ones((num_features,), dtype=dtype)
            self.params["beta"] = xp.zeros((num_features,), dtype=dtype)
            self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def __repr__(self):
        return f"InstanceNorm2d({self.num_features}{', affine' if self.affine else ''})"

    def forward(self, x):
        self._check_input(x, shape=(None, self.num_features, None, None))
        N, C, H, W = x.shape
        if H * W < 2:
            raise LayerInputError(
                f"{self!r} needs more than one pixel per channel to compute an image's "
                f"statistics, got input of shape {tuple(x.shape)}")
        xp = backend.get_array_module(x)
        X = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(N, H * W, C)  # (N, M, C)
        x_hat = X - X.mean(axis=1, keepdims=True)
        r = 1 / xp.sqrt((x_hat * x_hat).mean(axis=1, keepdims=True) + self.eps)  # (N, 1, C)
        x_hat *= r
        out = x_hat * self.params["gamma"] + self.params["beta"] if self.affine else x_hat
        self.cache = (x_hat, r, (N, C, H, W))
        return out.reshape(N, H, W, C).transpose(0, 3, 1, 2)     # NCHW view

    def backward(self, dout, need_dx=True):
        x_hat, r, (N, C, H, W) = self._pop_cache()
        self._check_dout(dout, (N, C, H, W), x_hat.dtype)
        xp = backend.get_array_module(dout)
        g = xp.ascontiguousarray(dout.transpose(0, 2, 3, 1)).reshape(N, H * W, C)
        if self.affine:
            if not self.frozen:
                self.grads["beta"] += g.sum(axis=(0, 1))
                self.grads["gamma"] += (g * x_hat).sum(axis=(0, 1))
            g = g * self.params["gamma"]
        if not need_dx:
            return None
        dx = x_hat * (-(g * x_hat).mean(axis=1, keepdims=True))
        dx += g
        dx -= g.mean(axis=1, keepdims=True)
        dx *= r
        return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)      # NCHW view


def _column_sum(a):
    """Σ_m a[m, d] for every column d, as the matrix–vector product 1ᵀa (BLAS, 2× faster)."""
    xp = backend.get_array_module(a)
    return xp.ones(a.shape[0], dtype=a.dtype) @ a


def _column_dot(a, b):
    """Σ_m a[m, d]·b[m, d] for every column d, in one pass with no (M, D) temporary."""
    xp = backend.get_array_module(a)
    return xp.einsum("md,md->d", a, b)
