"""The pieces of a style-based generator (Karras, Laine & Aila 2019): PixelNorm, ConstantInput,
NoiseInput and AdaIN.

* :class:`PixelNorm` normalises each latent vector to unit root-mean-square (the mapping
  network's first step, ``normalize_latents`` in the official code).
* :class:`ConstantInput` is the synthesis network's learned 4×4 starting tensor: the image
  is no longer *computed from* z; z only steers it through the styles.
* :class:`NoiseInput` adds per-pixel Gaussian noise, scaled by a learned weight per channel.
* :class:`AdaIN` normalises every feature map of every sample (instance normalisation),
  then sets its scale and bias from the style vector w through a learned affine map.

NoiseInput and AdaIN take two inputs (a feature map and the noise or the style), so they
sit in the synthesis network's own forward/backward (``tinygan.models.stylegan``) rather
than in a Sequential. Their backward returns what the second input needs: AdaIN returns
``(dx, dw)``; the noise is a random input, not a variable, and gets no gradient.

Derivation: derivations/08_stylegan.md
"""

from __future__ import annotations

import numbers

from .. import backend
from .base import Layer, LayerInputError
from .equalized import EqualizedDense
from .norm import InstanceNorm2d

__all__ = ["PixelNorm", "ConstantInput", "NoiseInput", "AdaIN"]


def _check_eps(name, eps):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"{name} needs eps > 0, got {eps!r}")
    return float(eps)


def _positive(name, what, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} needs a positive integer {what}, got {value!r}")
    return int(value)


class PixelNorm(Layer):
    """Unit root-mean-square along the feature axis: y = x / √(mean_d x_d² + ε).

    Math
    ----
    Forward:  r = (mean_d x² + ε)^(−1/2) (one per row),  y = r·x
    Backward: dx = r·(dout − y·mean_d(dout ⊙ y))

    (Karras et al. 2018 §4.2 "pixelwise feature vector normalization"; StyleGAN applies it
    to z before the mapping network. PyTorch: ``torch.nn.functional.rms_norm`` over D.)

    Shapes: x (N, D) or (N, D, H, W), normalised along axis 1 → y of the same shape.

    Parameters
    ----------
    eps : ε, default 1e-8 (the official value)

    Cache: y and r.

    Derivation: derivations/08_stylegan.md#pixelnorm
    """

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = _check_eps("PixelNorm", eps)

    def __repr__(self):
        return "PixelNorm()"

    def forward(self, x):
        self._check_input(x)
        if x.ndim < 2:
            raise LayerInputError(f"{self!r} expected input of shape (N, D, ...), got "
                                  f"{tuple(x.shape)}")
        xp = backend.get_array_module(x)
        r = 1 / xp.sqrt((x * x).mean(axis=1, keepdims=True) + x.dtype.type(self.eps))
        y = x * r
        self.cache = (y, r)
        return y

    def backward(self, dout, need_dx=True):
        y, r = self._pop_cache()
        self._check_dout(dout, y.shape, y.dtype)
        return r * (dout - y * (dout * y).mean(axis=1, keepdims=True))


class ConstantInput(Layer):
    """The learned constant the synthesis network starts from, repeated for each sample.

    Math
    ----
    Forward:  out[n] = const   for n = 1…N
    Backward: dconst = Σ_n dout[n];  no input gradient (there is no input)

    Shapes: ``forward(N)`` → out (N, C, S, S);  const (C, S, S), initialised to ones as in
    the official code.

    Parameters
    ----------
    channels : C
    size : S (4 in StyleGAN)
    dtype : default "float32"

    Cache: N.

    Derivation: derivations/08_stylegan.md#the-synthesis-network
    """

    def __init__(self, channels, size=4, dtype="float32"):
        super().__init__()
        self.channels = _positive("ConstantInput", "channels", channels)
        self.size = _positive("ConstantInput", "size", size)
        xp = backend.xp()
        self.params["const"] = xp.ones((self.channels, self.size, self.size), dtype=dtype)
        self.grads = {"const": xp.zeros_like(self.params["const"])}

    def __repr__(self):
        return f"ConstantInput({self.channels}×{self.size}×{self.size})"

    def forward(self, n):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise LayerInputError(f"{self!r}.forward expected a positive batch size N, got "
                                  f"{n!r}")
        xp = backend.get_array_module(self.params["const"])
        self.cache = int(n)
        return xp.repeat(self.params["const"][None], int(n), axis=0)  # (N, C, S, S)

    def backward(self, dout, need_dx=True):
        n = self._pop_cache()
        c = self.params["const"]
        self._check_dout(dout, (n,) + tuple(c.shape), c.dtype)
        if not self.frozen:
            self.grads["const"] += dout.sum(axis=0)
        return None


class NoiseInput(Layer):
    """Per-pixel noise with a learned strength per channel: out = x + s_c · noise.

    Math
    ----
    noise[n, 0, i, j] ~ N(0, 1), one value per pixel shared by all channels (drawn by the
    caller from its generator); s ∈ ℝ^C starts at 0 (the official initialisation), so the
    network decides how much stochastic detail each channel gets.
    Forward:  out[n, c, i, j] = x[n, c, i, j] + s[c] · noise[n, 0, i, j]
    Backward: dx = dout;  ds[c] = Σ_{n,i,j} dout[n, c, i, j] · noise[n, 0, i, j]
              (the noise is a random input, not a variable: no gradient)

    Shapes: x (N, C, H, W), noise (N, 1, H, W) → out (N, C, H, W);  "weight" s (C,)

    Parameters
    ----------
    channels : C
    dtype : default "float32"

    Cache: the noise.

    Derivation: derivations/08_stylegan.md#noise-inputs
    """

    def __init__(self, channels, dtype="float32"):
        super().__init__()
        self.channels = _positive("NoiseInput", "channels", channels)
        xp = backend.xp()
        self.params["weight"] = xp.zeros((self.channels,), dtype=dtype)
        self.grads = {"weight": xp.zeros_like(self.params["weight"])}

    def __repr__(self):
        return f"NoiseInput({self.channels})"

    def forward(self, x, noise):
        self._check_input(x, shape=(None, self.channels, None, None))
        N, _, H, W = x.shape
        if not hasattr(noise, "shape") or tuple(noise.shape) != (N, 1, H, W) \
                or noise.dtype != x.dtype:
            got = (f"{tuple(noise.shape)} {noise.dtype}" if hasattr(noise, "shape")
                   else type(noise).__name__)
            raise LayerInputError(f"{self!r} expected noise of shape ({N}, 1, {H}, {W}) and "
                                  f"dtype {x.dtype} (one value per pixel), got {got}")
        self.cache = noise
        return x + self.params["weight"][:, None, None] * noise

    def backward(self, dout, need_dx=True):
        noise = self._pop_cache()
        N, _, H, W = noise.shape
        self._check_dout(dout, (N, self.channels, H, W), noise.dtype)
        if not self.frozen:
            self.grads["weight"] += (dout * noise).sum(axis=(0, 2, 3))
        return dout


class AdaIN(Layer):
    """Adaptive instance normalisation: normalise each feature map, then style it from w.

    Math
    ----
    Per sample n and channel c, over the H·W pixels (biased variance, as InstanceNorm):
        μ = mean_ij x,   σ² = mean_ij (x − μ)²,   r = (σ² + ε)^(−1/2),   x̂ = (x − μ)·r
    The style is an equalized affine map of w (gain 1, as the official ``style_mod``):
        y = A(w) = c·w Ŵ + b̂ ∈ ℝ^{2C},   y_s = y[:C],   y_b = y[C:]
        out = x̂ ⊙ (1 + y_s) + y_b          (broadcast over the pixels)
    Backward (derivations/08_stylegan.md#adain-backward; the last line is InstanceNorm2d's):
        dy_s = Σ_ij dout ⊙ x̂,   dy_b = Σ_ij dout
        dw, dŴ, db̂ = A.backward([dy_s, dy_b])
        g = dout ⊙ (1 + y_s)
        dx = r·(g − mean_ij g − x̂ ⊙ mean_ij(g ⊙ x̂))

    Shapes: x (N, C, H, W), w (N, D_w) → out (N, C, H, W);  Ŵ (D_w, 2C), b̂ (2C,)

    Parameters
    ----------
    channels : C
    w_dim : D_w
    eps : ε, default 1e-8 (the official value)
    rng : Generator for Ŵ
    dtype : default "float32"

    The normalisation is :class:`~tinygan.layers.InstanceNorm2d` (no affine), whose backward
    turns g into dx; AdaIN adds the style and its backward.

    Cache: x̂ and 1 + y_s (the instance norm caches its statistics, the affine map caches w).

    ``backward`` returns ``(dx, dw)``.

    Derivation: derivations/08_stylegan.md#adain
    """

    def __init__(self, channels, w_dim, eps=1e-8, rng=None, dtype="float32"):
        super().__init__()
        self.channels = _positive("AdaIN", "channels", channels)
        self.w_dim = _positive("AdaIN", "w_dim", w_dim)
        self.eps = _check_eps("AdaIN", eps)
        self.norm = InstanceNorm2d(self.channels, eps=self.eps)
        self.affine = EqualizedDense(self.w_dim, 2 * self.channels, gain=1.0, rng=rng,
                                     dtype=dtype)
        # the same dicts (and arrays) as the affine map's: "W" and "b"
        self.params, self.grads = self.affine.params, self.affine.grads

    def __repr__(self):
        return f"AdaIN({self.channels}, w={self.w_dim})"

    def forward(self, x, w):
        self._check_input(x, shape=(None, self.channels, None, None))
        N, C, H, W = x.shape
        if H * W < 2:
            raise LayerInputError(f"{self!r} needs at least 2 pixels per feature map to "
                                  f"normalise, got {H}×{W} (x̂ would be identically 0)")
        self._check_input(w, shape=(N, self.w_dim))
        x_hat = self.norm.forward(x)                                  # (N, C, H, W)
        y = self.affine.forward(w)                                    # (N, 2C)
        scale = (y[:, :C] + x.dtype.type(1))[:, :, None, None]        # (N, C, 1, 1)
        self.cache = (x_hat, scale)
        return x_hat * scale + y[:, C:, None, None]

    def backward(self, dout, need_dx=True):
        x_hat, scale = self._pop_cache()
        self._check_dout(dout, x_hat.shape, x_hat.dtype)
        xp = backend.get_array_module(dout)
        # 1. into the style: y_s multiplies x̂, y_b is added
        dy = xp.concatenate([(dout * x_hat).sum(axis=(2, 3)), dout.sum(axis=(2, 3))], axis=1)
        self.affine.frozen = self.frozen
        dw = self.affine.backward(dy)                                 # (N, D_w)
        # 2. into x: the instance norm's backward of g = dout ⊙ (1 + y_s)
        dx = self.norm.backward(dout * scale, need_dx=need_dx)
        return dx, dw

    # the instance norm and the affine map are children: frozen(), no_grad(), train() and
    # eval() reach them
    @property
    def layers(self):
        return [self.norm, self.affine]

    def clear_cache(self):
        self.cache = None
        self.norm.clear_cache()
        self.affine.clear_cache()

    def train(self):
        for layer in self.layers:
            layer.train()
        return super().train()

    def eval(self):
        for layer in self.layers:
            layer.eval()
        return super().eval()

    def astype(self, dtype):
        self.affine.astype(dtype)
        self.cache = None
        self.norm.clear_cache()
        return self

