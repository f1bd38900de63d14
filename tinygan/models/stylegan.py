"""A small style-based generator and its discriminator (Karras, Laine & Aila 2019), at 8×8.

The official networks (NVlabs/stylegan, ``training/networks_stylegan.py``: ``G_mapping``,
``G_synthesis``, ``D_basic``), scaled down to the shipped 8×8 digits::

    mapping:    z (N, latent_dim) → PixelNorm → [EqualizedDense(lr_mul=0.01) → LeakyReLU(0.2)] × L
                → w (N, w_dim)
    synthesis:  const (C, 4, 4)
                  → noise → LeakyReLU → AdaIN(w[0])                      4×4, style slot 0
                  → conv3×3 → noise → LeakyReLU → AdaIN(w[1])            4×4, style slot 1
                  → Upsample(2) → conv3×3 → noise → LeakyReLU → AdaIN(w[2])   8×8, slot 2
                  → conv3×3 → noise → LeakyReLU → AdaIN(w[3])            8×8, slot 3
                  → toRGB (1×1 conv, gain 1, linear output) → image (N, 1, 8, 8)
    D:          fromRGB 1×1 → LeakyReLU
                  → [conv3×3 → LeakyReLU → conv4×4 stride 2 → LeakyReLU] per halving (8 → 4)
                  → conv3×3 → LeakyReLU → Flatten → Dense → LeakyReLU → Dense → logit (N, 1)

Two style inputs per resolution (2·log₂(res) − 2 slots; 4 at 8×8): slots 0-1 are the
*coarse* styles (4×4), slots 2-3 the *fine* ones (8×8). Every weight uses the equalized
learning rate (``tinygan.layers.equalized``); every convolution is "same" (3×3, padding 1).

What is left out of the official networks, and why (all are settings, not ideas, of
StyleGAN): the [1, 2, 1] blur after upsampling and before downsampling (an anti-aliasing
filter for large images; at 8×8 it would smear a stroke over half the digit); the
minibatch standard-deviation layer of D (it couples the samples of a batch, so ∇ₓD(x_n)
would no longer be per sample and the R1 double backward would need its own derivation);
progressive growing; the bias of the very first layer (const + bias is a second constant).
D's "conv3×3 then 2×2 average" is a conv4×4 with stride 2 here: the official fused form
of that pair *is* such a convolution (a 4×4 kernel of a special form), and a free 4×4
kernel contains it. The official toRGB is linear (no tanh); samples are clipped to
[−1, 1] only for display and scoring, as the official code does when it saves images.

Derivation: derivations/08_stylegan.md#the-synthesis-network
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from ..layers import Flatten, LeakyReLU, Upsample
from ..layers.base import Layer, LayerInputError
from ..layers.equalized import EqualizedConv2d, EqualizedDense
from ..layers.style import AdaIN, ConstantInput, NoiseInput, PixelNorm
from .sequential import Sequential

__all__ = ["mapping_network", "StyleLayer", "SynthesisNetwork", "StyleGenerator",
           "style_discriminator", "mix_styles", "mix_styles_backward", "truncate",
           "num_style_slots", "MAPPING_LR_MUL", "SLOPE"]

#: The official learning-rate multiplier of the mapping network (``mapping_lrmul``).
MAPPING_LR_MUL = 0.01
#: LeakyReLU slope everywhere (the official ``leaky_relu(alpha=0.2)``).
SLOPE = 0.2


def _check_resolution(resolution):
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) or \
            resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"StyleGAN here needs a power-of-two resolution ≥ 4 (4, 8, 16, …), "
                         f"got {resolution!r}")
    return int(resolution)


def _channels_per_resolution(channels, resolution):
    """An int (the same everywhere) or one count per resolution 4, 8, …, ``resolution``."""
    n = int(math.log2(resolution)) - 1
    chans = [channels] * n if isinstance(channels, numbers.Integral) else list(channels)
    if len(chans) != n or any(isinstance(c, bool) or not isinstance(c, numbers.Integral) or
                              c < 1 for c in chans):
        raise ValueError(f"channels must be a positive int or {n} positive ints (one per "
                         f"resolution 4…{resolution}), got {channels!r}")
    return [int(c) for c in chans]


def num_style_slots(resolution):
    """2·log₂(resolution) − 2 style inputs: two per resolution from 4×4 up (4 at 8×8)."""
    return 2 * int(math.log2(_check_resolution(resolution))) - 2


# -- styles: mixing and truncation (functions of W, shared by training and sampling) --------
def mix_styles(w1, w2, cutoff, num_styles):
    """ws[:, i] = w1 for slots i < cutoff and w2 for the others: (N, L, D).

    ``cutoff = L`` (or ``w2 = None``) gives every slot w1. With cutoff = 2 at 8×8, the
    coarse styles (4×4) come from w1 and the fine ones (8×8) from w2.
    """
    xp = backend.get_array_module(w1)
    if not 0 <= cutoff <= num_styles:
        raise ValueError(f"mix_styles: cutoff must be in [0, {num_styles}], got {cutoff}")
    if w2 is None:
        cutoff = num_styles
    elif w2.shape != w1.shape:
        raise ValueError(f"mix_styles: w1 and w2 differ in shape, {tuple(w1.shape)} vs "
                         f"{tuple(w2.shape)}")
    ws = xp.empty((w1.shape[0], num_styles, w1.shape[1]), dtype=w1.dtype)
    ws[:, :cutoff] = w1[:, None]
    if cutoff < num_styles:
        ws[:, cutoff:] = w2[:, None]
    return ws


def mix_styles_backward(dws, cutoff):
    """The adjoint of :func:`mix_styles`: dw1 = Σ_{i<cutoff} dws[:, i], dw2 = the rest."""
    return dws[:, :cutoff].sum(axis=1), dws[:, cutoff:].sum(axis=1)


def truncate(ws, w_avg, psi):
    """The truncation trick in W: w' = w̄ + ψ·(w − w̄) (ψ = 1: unchanged; ψ = 0: the mean).

    Derivation: derivations/08_stylegan.md#truncation
    """
    return w_avg + ws.dtype.type(psi) * (ws - w_avg)


# -- the mapping network ------------------------------------------------------------------
def mapping_network(latent_dim=32, w_dim=32, num_layers=4, lr_mul=MAPPING_LR_MUL, rng=None,
                    dtype="float32"):
    """z → w: PixelNorm, then ``num_layers`` × (EqualizedDense(lr_mul) → LeakyReLU(0.2)).

    The official network has 8 layers of 512 with lr_mul = 0.01 (``G_mapping``); the
    multiplier slows the mapping down 100× relative to the synthesis network
    (derivations/08_stylegan.md#the-mapping-network-and-its-learning-rate).
    """
    if num_layers < 1:
        raise ValueError(f"mapping_network needs at least one layer, got {num_layers}")
    rng = backend.rng(0) if rng is None else rng
    layers, d = [PixelNorm()], latent_dim
    for _ in range(num_layers):
        layers += [EqualizedDense(d, w_dim, lr_mul=lr_mul, rng=rng, dtype=dtype),
                   LeakyReLU(SLOPE)]
        d = w_dim
    return Sequential(*layers)


# -- composite layers ---------------------------------------------------------------------
class _Composite(Layer):
    """Named children with flat ``params``/``grads`` views keyed ``"<child>.<name>"``."""

    def _children(self):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def layers(self):  # what frozen() walks
        return [layer for _, layer in self._children()]

    @property
    def params(self):
        return {f"{name}.{k}": v for name, layer in self._children()
                for k, v in layer.params.items()}

    @params.setter
    def params(self, value):
        pass

    @property
    def grads(self):
        return {f"{name}.{k}": v for name, layer in self._children()
                for k, v in layer.grads.items()}

    @grads.setter
    def grads(self, value):
        pass

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def clear_cache(self):
        self.cache = None
        for layer in self.layers:
            layer.clear_cache()

    def train(self):
        for layer in self.layers:
            layer.train()
        self.training = True
        return self

    def eval(self):
        for layer in self.layers:
            layer.eval()
        self.training = False
        return self

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        self.cache = None
        return self


class StyleLayer(_Composite):
    """One layer of the synthesis network: [upsample] → [conv3×3] → noise → LeakyReLU → AdaIN(w).

    Math
    ----
    Forward:  h = conv(up(x)) (each optional);  h ← h + s ⊙ noise;  h ← φ(h);
              out = AdaIN(h, w)
    Backward: dh, dw = AdaIN.backward(dout);  then φ, noise, conv and up backward in reverse
              (noise contributes ds only);  returns (dx, dw)

    Shapes: x (N, C_in, H, W), w (N, D_w), noise (N, 1, H', W') → out (N, C_out, H', W'),
    H' = 2H with ``upsample``.

    Cache: each child's own one-slot cache.

    Derivation: derivations/08_stylegan.md#the-synthesis-network
    """

    def __init__(self, c_in, c_out, w_dim, upsample=False, conv=True, rng=None,
                 dtype="float32"):
        super().__init__()
        if not conv and c_in != c_out:
            raise ValueError(f"StyleLayer without a conv keeps the channels: c_in={c_in} must "
                             f"equal c_out={c_out}")
        self.up = Upsample(2) if upsample else None
        self.conv = EqualizedConv2d(c_in, c_out, 3, padding=1, rng=rng, dtype=dtype) \
            if conv else None
        self.noise = NoiseInput(c_out, dtype=dtype)
        self.act = LeakyReLU(SLOPE)
        self.adain = AdaIN(c_out, w_dim, rng=rng, dtype=dtype)
        self.c_in, self.c_out = c_in, c_out

    def _children(self):
        return [(n, layer) for n, layer in (("up", self.up), ("conv", self.conv),
                                            ("noise", self.noise), ("act", self.act),
                                            ("adain", self.adain)) if layer is not None]

    def __repr__(self):
        return (f"StyleLayer({self.c_in}→{self.c_out}{', up' if self.up else ''}"
                f"{'' if self.conv else ', no conv'})")

    def forward(self, x, w, noise):
        h = x
        if self.up is not None:
            h = self.up.forward(h)
        if self.conv is not None:
            h = self.conv.forward(h)
        h = self.act.forward(self.noise.forward(h, noise))
        return self.adain.forward(h, w)

    def backward(self, dout, need_dx=True):
        dh, dw = self.adain.backward(dout)
        dh = self.noise.backward(self.act.backward(dh))
        if self.conv is not None:
            dh = self.conv.backward(dh, need_dx=need_dx or self.up is not None)
        if self.up is not None:
            dh = self.up.backward(dh, need_dx=need_dx)
        return (dh if need_dx else None), dw


class SynthesisNetwork(_Composite):
    """The learned constant and 2·log₂(res) − 2 style layers, then a 1×1 toRGB.

    Math
    ----
    Forward:  x₀ = const;  x_{i+1} = StyleLayer_i(x_i, ws[:, i], noise_i);  img = toRGB(x_L)
    Backward: the same in reverse; dws[:, i] = StyleLayer_i's dw;  dconst = Σ_n dx₀[n]

    Shapes: ws (N, L, D_w), noise a list of L arrays (N, 1, r_i, r_i) → img (N, 1, res, res)

    Parameters
    ----------
    w_dim : D_w
    channels : feature maps in every layer (the official ``nf`` is 512 up to 32×32)
    resolution : 4, 8, 16, …
    rng, dtype

    Cache: the children's caches (and N).

    Derivation: derivations/08_stylegan.md#the-synthesis-network
    """

    def __init__(self, w_dim=32, channels=64, resolution=8, image_channels=1, rng=None,
                 dtype="float32"):
        super().__init__()
        self.resolution = _check_resolution(resolution)
        self.w_dim = int(w_dim)
        self.channels = _channels_per_resolution(channels, self.resolution)
        rng = backend.rng(0) if rng is None else rng
        C = self.channels[0]
        self.const = ConstantInput(C, 4, dtype=dtype)
        self.style_layers = [StyleLayer(C, C, w_dim, conv=False, rng=rng, dtype=dtype),
                             StyleLayer(C, C, w_dim, rng=rng, dtype=dtype)]
        for c_out in self.channels[1:]:  # 8×8, 16×16, …: upsample, then two style layers
            self.style_layers += [StyleLayer(C, c_out, w_dim, upsample=True, rng=rng,
                                             dtype=dtype),
                                  StyleLayer(c_out, c_out, w_dim, rng=rng, dtype=dtype)]
            C = c_out
        self.to_rgb = EqualizedConv2d(C, image_channels, 1, gain=1.0, rng=rng, dtype=dtype)
        self.num_styles = len(self.style_layers)
        #: the side of each style layer's feature maps (and of its noise)
        self.sizes = [4 * 2 ** (i // 2) for i in range(self.num_styles)]

    def _children(self):
        return ([("const", self.const)] + [(str(i), s) for i, s in enumerate(self.style_layers)]
                + [("to_rgb", self.to_rgb)])

    def __repr__(self):
        chans = "/".join(map(str, self.channels))
        return (f"SynthesisNetwork(4×4 → {self.resolution}×{self.resolution}, "
                f"{chans} channels, {self.num_styles} styles)")

    def draw_noise(self, n, rng, dtype=None):
        """One N(0, 1) noise image per style layer, (n, 1, r, r), from the generator ``rng``."""
        dtype = dtype or self.const.params["const"].dtype
        xp = backend.get_array_module(self.const.params["const"])
        return [xp.asarray(rng.standard_normal((n, 1, r, r))).astype(dtype) for r in self.sizes]

    def forward(self, ws, noise):
        dtype = self.const.params["const"].dtype
        if not hasattr(ws, "shape") or ws.ndim != 3 or ws.shape[1:] != (self.num_styles,
                                                                        self.w_dim):
            got = tuple(ws.shape) if hasattr(ws, "shape") else type(ws).__name__
            raise LayerInputError(f"{self!r} expected styles of shape (N, {self.num_styles}, "
                                  f"{self.w_dim}), got {got}")
        if len(noise) != self.num_styles:
            raise LayerInputError(f"{self!r} expected {self.num_styles} noise images (one per "
                                  f"style layer), got {len(noise)}")
        if ws.dtype != dtype:
            raise LayerInputError(f"{self!r} has {dtype} parameters but received {ws.dtype} "
                                  "styles")
        x = self.const.forward(ws.shape[0])
        for i, layer in enumerate(self.style_layers):
            x = layer.forward(x, ws[:, i], noise[i])
        self.cache = ws.shape
        return self.to_rgb.forward(x)

    def backward(self, dimg, need_dx=True):
        shape = self._pop_cache()
        xp = backend.get_array_module(dimg)
        dx = self.to_rgb.backward(dimg)
        dws = xp.empty(shape, dtype=dimg.dtype)
        for i in range(self.num_styles - 1, -1, -1):
            dx, dws[:, i] = self.style_layers[i].backward(dx)
        self.const.backward(dx)
        return dws


class StyleGenerator(_Composite):
    """The mapping network and the synthesis network, with style mixing and truncation in W.

    Math
    ----
    w = f(z);  mixing: w₁ = f(z₁), w₂ = f(z₂) and slot i takes w₁ if i < cutoff else w₂
    (one mapping pass over the concatenated batch [z₁; z₂]);  truncation:
    ws ← w̄ + ψ (ws − w̄);  img = g(ws, noise).
    Backward: dws = g.backward(dimg);  ·ψ;  dw₁, dw₂ = the sums over their slots;
    then f's backward (no gradient with respect to z).

    ``w_avg`` (w̄) is a buffer, not a parameter: the moving average of w over training
    (``tinygan.gans.stylegan.update_w_avg``, the official ``dlatent_avg_beta = 0.995``).
    After each forward ``w_mean`` holds the batch mean of f(z₁), for that average.

    Shapes: z, z2 (N, latent_dim); noise a list of L arrays → img (N, 1, res, res)

    Derivation: derivations/08_stylegan.md#style-mixing
    """

    buffers = ("w_avg",)  # state for checkpoints, not a parameter

    def __init__(self, latent_dim=32, w_dim=32, mapping_layers=4, channels=64, resolution=8,
                 mapping_lr_mul=MAPPING_LR_MUL, rng=None, dtype="float32"):
        super().__init__()
        rng = backend.rng(0) if rng is None else rng
        self.latent_dim, self.w_dim = int(latent_dim), int(w_dim)
        self.mapping = mapping_network(latent_dim, w_dim, mapping_layers, mapping_lr_mul, rng,
                                       dtype)
        self.synthesis = SynthesisNetwork(w_dim, channels, resolution, rng=rng, dtype=dtype)
        self.num_styles = self.synthesis.num_styles
        self.w_avg = backend.xp().zeros((self.w_dim,), dtype=dtype)
        self.w_mean = None

    def _children(self):
        return [("mapping", self.mapping), ("synthesis", self.synthesis)]

    def __repr__(self):
        return (f"StyleGenerator(z {self.latent_dim} → w {self.w_dim}, {self.synthesis!r})")

    def astype(self, dtype):
        super().astype(dtype)
        self.w_avg = self.w_avg.astype(dtype)
        return self

    def draw_noise(self, n, rng):
        return self.synthesis.draw_noise(n, rng)

    def forward(self, z, noise, z2=None, cutoff=None, psi=1.0):
        n = z.shape[0]
        xp = backend.get_array_module(z)
        mixing = z2 is not None
        if mixing:
            if z2.shape != z.shape:
                raise LayerInputError(f"{self!r}: z and z2 differ in shape, {tuple(z.shape)} vs "
                                      f"{tuple(z2.shape)}")
            if cutoff is None or not 1 <= cutoff < self.num_styles:
                raise ValueError(f"{self!r}: style mixing needs 1 ≤ cutoff < "
                                 f"{self.num_styles}, got {cutoff!r}")
            w = self.mapping.forward(xp.concatenate([z, z2], axis=0))  # (2N, D): one pass
            w1, w2 = w[:n], w[n:]
        else:
            w1, w2, cutoff = self.mapping.forward(z), None, self.num_styles
        self.w_mean = w1.mean(axis=0)
        ws = mix_styles(w1, w2, cutoff, self.num_styles)               # (N, L, D)
        if psi != 1.0:
            ws = truncate(ws, self.w_avg, psi)
        self.cache = (cutoff, mixing, psi)
        return self.synthesis.forward(ws, noise)

    def backward(self, dimg, need_dx=False):
        cutoff, mixing, psi = self._pop_cache()
        dws = self.synthesis.backward(dimg)
        if psi != 1.0:
            dws = dws * dws.dtype.type(psi)
        dw1, dw2 = mix_styles_backward(dws, cutoff)
        xp = backend.get_array_module(dws)
        dw = xp.concatenate([dw1, dw2], axis=0) if mixing else dw1
        self.mapping.backward(dw, need_dx=False)
        return None


def style_discriminator(resolution=8, channels=64, rng=None, dtype="float32"):
    """D: images (N, 1, res, res) → logits (N, 1), equalized convolutions and LeakyReLU(0.2) only.

    ``channels``: an int, or one count per resolution 4, 8, …, res (like the generator's;
    the official ``nf(res − 1)``). At each resolution r > 4: conv3×3 (C_r → C_r), then a
    stride-2 conv4×4 (C_r → C_{r/2}); at 4×4: conv3×3, Dense(16·C₄ → C₄), Dense(C₄ → 1).

    Only layers the R1 double backward of ``tinygan.gans.stylegan`` covers: equalized
    Conv2d and Dense, LeakyReLU, Flatten (see the module docstring for what is left out).
    """
    res = _check_resolution(resolution)
    chans = _channels_per_resolution(channels, res)  # chans[0] at 4×4, chans[-1] at res
    rng = backend.rng(1) if rng is None else rng
    layers = [EqualizedConv2d(1, chans[-1], 1, rng=rng, dtype=dtype), LeakyReLU(SLOPE)]  # fromRGB
    for i in range(len(chans) - 1, 0, -1):  # res, res/2, …, 8
        C, C_down = chans[i], chans[i - 1]
        layers += [EqualizedConv2d(C, C, 3, padding=1, rng=rng, dtype=dtype), LeakyReLU(SLOPE),
                   EqualizedConv2d(C, C_down, 4, stride=2, padding=1, rng=rng, dtype=dtype),
                   LeakyReLU(SLOPE)]
    C = chans[0]
    layers += [EqualizedConv2d(C, C, 3, padding=1, rng=rng, dtype=dtype), LeakyReLU(SLOPE),
               Flatten(),                                                  # (N, 16C)
               EqualizedDense(16 * C, C, rng=rng, dtype=dtype), LeakyReLU(SLOPE),
               EqualizedDense(C, 1, gain=1.0, rng=rng, dtype=dtype)]
    return Sequential(*layers)
