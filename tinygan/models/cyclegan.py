"""CycleGAN's generators and discriminators, scaled down to 8×8 digits and 2-D points.

The official ``ResnetGenerator`` (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/networks.py``) is: reflection pad 3, 7×7 conv, instance norm, ReLU; two
stride-2 3×3 convs down; residual blocks (reflection pad 1, 3×3 conv, instance norm,
ReLU, reflection pad 1, 3×3 conv, instance norm); two stride-2 transposed convs up;
reflection pad 3, 7×7 conv, tanh. Weights N(0, 0.02²); instance norm without affine
parameters. Ours keeps that shape at 8×8 with one downsampling step and 3×3 kernels
(a 7×7 kernel would cover the whole image)::

    G: (N, 1, 8, 8) → RPad 1 → Conv 3 (1→w) → IN → ReLU
         → Conv 3, stride 2, pad 1 (w→2w) → IN → ReLU                    (N, 2w, 4, 4)
         → n_blocks × Residual(RPad 1, Conv 3, IN, ReLU, RPad 1, Conv 3, IN)
         → Upsample ×2 → RPad 1 → Conv 3 (2w→w) → IN → ReLU              (N, w, 8, 8)
         → RPad 1 → Conv 3 (w→1) → tanh                                  (N, 1, 8, 8)

We upsample with nearest ``Upsample`` and a stride-1 convolution (a resize-convolution)
where the official code uses a stride-2 transposed convolution with kernel 3, which
paints overlapping patches unevenly (the checkerboard of Odena et al. 2016). Convs
followed by instance norm have no bias: the norm subtracts each channel's mean, so that
bias has an exactly zero gradient (the official code keeps it, to no effect).

The discriminator is a PatchGAN (``NLayerDiscriminator``): 4×4 convs, stride 2, no norm
on the first layer, LeakyReLU 0.2, and a 1-channel output map, one LSGAN score per
patch::

    D: (N, 1, 8, 8) → Conv 4/2/1 (1→w) → LReLU → Conv 4/2/1 (w→2w) → IN → LReLU
         → Conv 3/1/1 (2w→1)                                             (N, 1, 2, 2)

For 2-D points G and D are MLPs (2 → h → h → 2 and 2 → h → h → 1).
"""

from __future__ import annotations

from .. import backend
from ..layers import (
    Conv2d,
    Dense,
    InstanceNorm2d,
    LeakyReLU,
    ReflectionPad2d,
    ReLU,
    Tanh,
    Upsample,
)
from .residual import Residual
from .sequential import Sequential

__all__ = ["INIT_STD", "resnet_generator", "patch_discriminator", "mlp_generator",
           "mlp_discriminator", "cyclegan_models"]

INIT_STD = 0.02  # the official init_type "normal", init_gain 0.02


def _conv(c_in, c_out, k, rng, dtype, stride=1, padding=0, bias=False):
    return Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=bias, rng=rng,
                  init=INIT_STD, dtype=dtype)


def resnet_generator(channels=1, width=16, n_blocks=3, rng=None, dtype="float32"):
    """G: (N, C, 8, 8) → (N, C, 8, 8) in [−1, 1] (see the module docstring)."""
    rng = backend.rng(0) if rng is None else rng
    w = width
    layers = [ReflectionPad2d(1), _conv(channels, w, 3, rng, dtype), InstanceNorm2d(w), ReLU(),
              _conv(w, 2 * w, 3, rng, dtype, stride=2, padding=1), InstanceNorm2d(2 * w),
              ReLU()]
    for _ in range(n_blocks):
        layers.append(Residual(ReflectionPad2d(1), _conv(2 * w, 2 * w, 3, rng, dtype),
                               InstanceNorm2d(2 * w), ReLU(), ReflectionPad2d(1),
                               _conv(2 * w, 2 * w, 3, rng, dtype), InstanceNorm2d(2 * w)))
    layers += [Upsample(2), ReflectionPad2d(1), _conv(2 * w, w, 3, rng, dtype),
               InstanceNorm2d(w), ReLU(),
               ReflectionPad2d(1), _conv(w, channels, 3, rng, dtype, bias=True), Tanh()]
    return Sequential(*layers)


def patch_discriminator(channels=1, width=16, rng=None, dtype="float32"):
    """D: (N, C, 8, 8) → (N, 1, 2, 2): a PatchGAN's map of raw LSGAN scores."""
    rng = backend.rng(1) if rng is None else rng
    w = width
    return Sequential(
        _conv(channels, w, 4, rng, dtype, stride=2, padding=1, bias=True), LeakyReLU(0.2),
        _conv(w, 2 * w, 4, rng, dtype, stride=2, padding=1), InstanceNorm2d(2 * w),
        LeakyReLU(0.2),
        _conv(2 * w, 1, 3, rng, dtype, stride=1, padding=1, bias=True),
    )


def mlp_generator(hidden=64, rng=None, dtype="float32", residual=True):
    """G for 2-D points: x + MLP(x), MLP = Dense(2→h) ReLU Dense(h→h) ReLU Dense(h→2).

    The residual form starts near the identity and deforms it, as CycleGAN's ResNet
    generator does for images; ``residual=False`` is the plain MLP.
    """
    rng = backend.rng(0) if rng is None else rng
    layers = (Dense(2, hidden, rng=rng, dtype=dtype), ReLU(),
              Dense(hidden, hidden, rng=rng, dtype=dtype), ReLU(),
              Dense(hidden, 2, rng=rng, dtype=dtype))
    return Residual(*layers) if residual else Sequential(*layers)


def mlp_discriminator(hidden=64, rng=None, dtype="float32"):
    """D for 2-D points: Dense(2→h) LReLU Dense(h→h) LReLU Dense(h→1), a raw LSGAN score."""
    rng = backend.rng(1) if rng is None else rng
    return Sequential(Dense(2, hidden, rng=rng, dtype=dtype), LeakyReLU(0.2),
                      Dense(hidden, hidden, rng=rng, dtype=dtype), LeakyReLU(0.2),
                      Dense(hidden, 1, rng=rng, dtype=dtype))


def cyclegan_models(data="digits", width=None, n_blocks=3, seed=0, dtype="float32"):
    """(G, F, D_X, D_Y, config) from one seed. G: X → Y, F: Y → X; D_Y judges Y, D_X judges X.

    (The official code's G_A, G_B, D_A, D_B are our G, F, D_Y, D_X.)
    """
    rng = backend.rng(seed)
    if data == "digits":
        w = 16 if width is None else width
        G, F = (resnet_generator(1, w, n_blocks, rng, dtype) for _ in range(2))
        D_X, D_Y = (patch_discriminator(1, w, rng, dtype) for _ in range(2))
        config = {"data": data, "width": w, "n_blocks": n_blocks}
    elif data == "points":
        h = 64 if width is None else width
        G, F = (mlp_generator(h, rng, dtype) for _ in range(2))
        D_X, D_Y = (mlp_discriminator(h, rng, dtype) for _ in range(2))
        config = {"data": data, "width": h}
    else:
        raise ValueError(f"unknown CycleGAN data {data!r}; expected 'digits' or 'points'")
    config.update(seed=seed, dtype=str(dtype))
    return G, F, D_X, D_Y, config
