"""3D-GAN's generator and discriminator (Wu, Zhang, Xue, Freeman & Tenenbaum 2016), at 16³.

The paper's networks at 64³ (its §3.1): G has five transposed 3-D convolutions with
{512, 256, 128, 64, 1} channels, kernel 4 and strides {1, 2, 2, 2, 2}, BatchNorm and
ReLU between them and a sigmoid at the end; z is 200-dimensional; D mirrors G with
LeakyReLU instead of ReLU; there are no pooling and no linear layers. Here the grid is
16³, so two doublings after the first layer instead of four, and the widths are scaled
down with the volume (``width`` w; the defaults are stated in :data:`GAN3D_DEFAULTS`)::

    G: z (N, 200) → Reshape (N, 200, 1, 1, 1)
         → ConvT3d(200→2w, k4, s1, p0) → (N, 2w, 4, 4, 4)   → BN → ReLU
         → ConvT3d(2w→w, k4, s2, p1)   → (N, w, 8, 8, 8)    → BN → ReLU
         → ConvT3d(w→1, k4, s2, p1)    → (N, 1, 16, 16, 16) → sigmoid (occupancy in [0, 1])
    D: x (N, 1, 16, 16, 16)
         → Conv3d(1→w, k4, s2, p1)     → (N, w, 8, 8, 8)    → BN → LeakyReLU(0.2)
         → Conv3d(w→2w, k4, s2, p1)    → (N, 2w, 4, 4, 4)   → BN → LeakyReLU(0.2)
         → Conv3d(2w→1, k4, s1, p0)    → (N, 1, 1, 1, 1)    → Flatten → logit (N, 1)

The first transposed convolution turns the 1×1×1 "volume" z into a 4³ one (an input
element paints a whole 4×4×4 patch: a dense layer in disguise), and D's last convolution
is its mirror. The released sampling code (zck119/3dgan-release, ``main.lua``) draws z
uniformly on [0, 1)²⁰⁰ and zeroes G's convolution biases ("convolution bias is removed
during training"), so G's convolutions have no bias here; D's last one keeps its bias (a
logit offset). Weights start at N(0, 0.02²) as in DCGAN (the paper names no init).
D returns *logits* (the losses take logits). z is drawn from N(0, I) by default, not
from the released code's U[0, 1): :func:`sample_latent` says why (measured).
"""

from __future__ import annotations

from .. import backend
from ..layers import (
    BatchNorm,
    Conv3d,
    ConvTranspose3d,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Sigmoid,
)
from ..optim import Adam
from .sequential import Sequential

__all__ = ["GAN3D_DEFAULTS", "gan3d_generator", "gan3d_discriminator", "gan3d_pair",
           "gan3d_optimizers", "sample_latent", "LATENTS"]

INIT_STD = 0.02

#: Defaults: the paper's z, and a width scaled to 16³ and to a laptop's CPU.
GAN3D_DEFAULTS = {"size": 16, "latent_dim": 200, "width": 16}


def _check_size(size):
    if size != 16:
        raise ValueError(f"the 3D-GAN here is built for 16³ volumes (two doublings after "
                         f"4³), got size {size}")


def gan3d_generator(size=16, latent_dim=200, width=16, rng=None, dtype="float32"):
    """G: noise (N, latent_dim) → occupancies (N, 1, size, size, size) in [0, 1]."""
    _check_size(size)
    w = width
    rng = backend.rng(0) if rng is None else rng
    conv = {"bias": False, "rng": rng, "init": INIT_STD, "dtype": dtype}
    return Sequential(
        Reshape((latent_dim, 1, 1, 1)),                               # (N, z, 1, 1, 1)
        ConvTranspose3d(latent_dim, 2 * w, 4, stride=1, padding=0, **conv),  # (N, 2w, 4³)
        BatchNorm(2 * w, dtype=dtype),
        ReLU(),
        ConvTranspose3d(2 * w, w, 4, stride=2, padding=1, **conv),    # (N, w, 8³)
        BatchNorm(w, dtype=dtype),
        ReLU(),
        ConvTranspose3d(w, 1, 4, stride=2, padding=1, **conv),        # (N, 1, 16³)
        Sigmoid(),  # occupancy probabilities; no BatchNorm at G's output
    )


def gan3d_discriminator(size=16, width=16, rng=None, dtype="float32"):
    """D: occupancies (N, 1, size, size, size) → logits (N, 1)."""
    _check_size(size)
    w = width
    rng = backend.rng(1) if rng is None else rng
    conv = {"rng": rng, "init": INIT_STD, "dtype": dtype}
    return Sequential(
        Conv3d(1, w, 4, stride=2, padding=1, bias=False, **conv),         # (N, w, 8³)
        BatchNorm(w, dtype=dtype),
        LeakyReLU(0.2),
        Conv3d(w, 2 * w, 4, stride=2, padding=1, bias=False, **conv),     # (N, 2w, 4³)
        BatchNorm(2 * w, dtype=dtype),
        LeakyReLU(0.2),
        Conv3d(2 * w, 1, 4, stride=1, padding=0, **conv),                 # (N, 1, 1, 1, 1)
        Flatten(),                                                        # (N, 1)
    )


def gan3d_pair(size=16, latent_dim=200, width=16, seed=0, dtype="float32"):
    """(G, D, config): both networks from one seed, and the arguments that rebuild them."""
    config = {"size": int(size), "latent_dim": int(latent_dim), "width": int(width),
              "dtype": str(dtype)}
    rng = backend.rng(seed)
    G = gan3d_generator(size, latent_dim, width, rng, dtype)
    D = gan3d_discriminator(size, width, rng, dtype)
    return G, D, config


def gan3d_optimizers(G, D, lr_G=2.5e-3, lr_D=1e-5, beta1=0.5):
    """Adam with β = (0.5, 0.999) for both; the paper's lr_G = 2.5e-3 and lr_D = 1e-5."""
    return Adam(G, lr=lr_G, betas=(beta1, 0.999)), Adam(D, lr=lr_D, betas=(beta1, 0.999))


#: The latent distributions :func:`sample_latent` draws from.
LATENTS = ("normal", "uniform")


def sample_latent(gen, n, latent_dim=200, dtype="float32", latent="normal"):
    """z, (n, latent_dim) on the backend: ``"normal"`` z ~ N(0, I) (DCGAN's, tinygan's
    default) or ``"uniform"`` z ~ U[0, 1)^latent_dim (the released code's torch.rand).

    Why the default is not the released code's: z ~ U[0, 1) has mean 1/2, so G's first
    (linear) layer sees W·z = W·(1/2)·1 + W·(z − 1/2), a pattern that does not depend on z
    beside one that does. At 16³ with one G over eight classes, G grew the constant part
    and every sample came out the same shape within 250 steps (seed 0; every setting tried,
    the README's 3D-GAN section); with the zero-mean N(0, I) the samples stay distinct.
    """
    if latent == "normal":
        return gen.standard_normal((n, latent_dim), dtype=dtype)
    if latent == "uniform":
        return gen.random((n, latent_dim), dtype=dtype)
    raise ValueError(f"unknown latent distribution {latent!r}; expected one of {LATENTS}")
