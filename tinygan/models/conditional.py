"""Conditional generators and discriminators for the 8×8 digits (cGAN and AC-GAN).

Both players of a conditional GAN take the label. Ours, built on the DCGAN of
:mod:`tinygan.models.dcgan` (same widths, kernels 4/2/1, BatchNorm, N(0, 0.02²) weights):

* **G(z, y)** (both methods): the label becomes a learned vector through an
  ``Embedding(10, 10)`` and is concatenated to the noise; the DCGAN generator takes it
  from there::

      [z (N, 32), Embedding(y) (N, 10)] → Dense → (N, 64, 2, 2) → BN → ReLU
        → ConvT(64→32, 4, 2, 1) → BN → ReLU → ConvT(32→1, 4, 2, 1) → tanh → (N, 1, 8, 8)

* **cGAN's D(x, y)**: the label enters as K = 10 constant *label maps*, the one-hot
  vector broadcast over the image and stacked as extra input channels, so the first
  convolution sees (N, 1 + 10, 8, 8). That is Mirza & Osindero's "concatenate y to the
  input", written for a convolution: each class gets its own first-layer kernel slice,
  which adds a class-dependent map to the first feature maps
  (derivations/06_conditional_gan.md#label-maps-or-a-projection). We chose it over a
  projection term ⟨Embedding(y), φ(x)⟩ (Miyato & Koyama 2018) because it is the paper's
  objective in its plainest form and needs no new layer.
* **AC-GAN's D(x)** does not see the label: it *predicts* it. One Dense head gives
  1 + K outputs: column 0 is the real/fake logit, columns 1..K the class logits.

Derivation: derivations/06_conditional_gan.md
"""

from __future__ import annotations

from .. import backend
from ..layers import (
    BatchNorm,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Tanh,
)
from ..layers.base import LayerInputError
from ..layers.embedding import Embedding
from .dcgan import INIT_STD
from .sequential import Sequential

__all__ = ["ConditionalGenerator", "LabelMapDiscriminator", "OneHotConditioned",
           "conditional_generator",
           "cgan_discriminator", "acgan_discriminator", "conditional_pair", "label_maps"]

NUM_CLASSES = 10


def _check_labels(model, y, n, num_classes):
    if not hasattr(y, "dtype") or y.dtype.kind not in "iu" or tuple(y.shape) != (n,):
        got = f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}"
        raise LayerInputError(f"{model!r} expected integer labels of shape ({n},) for a batch "
                              f"of {n}, got {got}")


class ConditionalGenerator(Sequential):
    """G(z, y) = body([z, Embedding(y)]): noise and a label in, an image out.

    Math
    ----
    Forward:  h = [z, E_y] (concatenation along features), out = body(h)
    Backward: dh = body.backward(dout); the label's columns go to the embedding
              (a scatter-add into its table), the noise's columns are dz.

    Shapes
    ------
    z: (N, latent_dim), y: (N,) integer in [0, K) → out: body's output, e.g. (N, 1, 8, 8)

    ``layers`` is [embedding, body] (params keyed "0.W", "1.0.W", …, as Sequential).
    """

    def __init__(self, embedding, body, latent_dim):
        super().__init__(embedding, body)
        self.latent_dim = int(latent_dim)

    def __repr__(self):
        return f"ConditionalGenerator({self.layers[0]!r}, {self.layers[1]!r})"

    def forward(self, z, y):
        if getattr(z, "ndim", None) != 2 or z.shape[1] != self.latent_dim:
            raise LayerInputError(f"ConditionalGenerator expected noise of shape (N, "
                                  f"{self.latent_dim}), got {tuple(getattr(z, 'shape', ()))}")
        _check_labels(self, y, z.shape[0], self.layers[0].num_embeddings)
        xp = backend.get_array_module(z)
        e = self.layers[0].forward(y)                       # (N, E)
        return self.layers[1].forward(xp.concatenate([z, e], axis=1))

    def backward(self, dout, need_dx=True):
        dh = self.layers[1].backward(dout, need_dx=True)    # (N, latent_dim + E)
        self.layers[0].backward(dh[:, self.latent_dim:])      # scatter-add into the table
        return dh[:, :self.latent_dim] if need_dx else None


def label_maps(y, num_classes, shape, dtype):
    """The one-hot labels broadcast over the image: (N,) → (N, K, H, W) of 0s and 1s."""
    xp = backend.get_array_module(y)
    onehot = xp.eye(num_classes, dtype=dtype)[y]            # (N, K)
    H, W = shape
    return xp.broadcast_to(onehot[:, :, None, None], (y.shape[0], num_classes, H, W))


class LabelMapDiscriminator(Sequential):
    """D(x, y) = body([x, label maps of y]): the label as K extra input channels.

    Math
    ----
    Forward:  h = [x, M_y] along channels, M_y[k, i, j] = [k = y], out = body(h)
    Backward: dh = body.backward(dout); dx = the first C channels of dh (the label maps
              are constants: their gradient is dropped).

    Shapes
    ------
    x: (N, C, H, W), y: (N,) → out: (N, 1) logits

    ``layers`` is [body].
    """

    def __init__(self, body, in_channels, num_classes=NUM_CLASSES):
        super().__init__(body)
        self.in_channels, self.num_classes = int(in_channels), int(num_classes)

    def __repr__(self):
        return f"LabelMapDiscriminator({self.num_classes} label maps, {self.layers[0]!r})"

    def forward(self, x, y):
        if getattr(x, "ndim", None) != 4 or x.shape[1] != self.in_channels:
            raise LayerInputError(f"{self!r} expected images of shape (N, {self.in_channels}, "
                                  f"H, W), got {tuple(getattr(x, 'shape', ()))}")
        _check_labels(self, y, x.shape[0], self.num_classes)
        xp = backend.get_array_module(x)
        maps = label_maps(y, self.num_classes, x.shape[2:], x.dtype)
        return self.layers[0].forward(xp.concatenate([x, maps], axis=1))

    def backward(self, dout, need_dx=True):
        dh = self.layers[0].backward(dout, need_dx=need_dx)
        return dh[:, :self.in_channels] if need_dx else None


class OneHotConditioned(Sequential):
    """f(x, y) = body([x, onehot(y)]): the cGAN paper's conditioning for vector inputs.

    Math
    ----
    Forward:  h = [x, e_y] along features, out = body(h)
    Backward: dh = body.backward(dout); dx = the first D columns of dh.

    Shapes
    ------
    x: (N, D), y: (N,) integer in [0, K) → out: body's output

    Used for the 1-D conditional discriminator whose optimum D*(x, y) is measured
    (``tinygan.experiments.optimal_d_family``). ``layers`` is [body].
    """

    def __init__(self, body, in_features, num_classes):
        super().__init__(body)
        self.in_features, self.num_classes = int(in_features), int(num_classes)

    def __repr__(self):
        return f"OneHotConditioned({self.num_classes} classes, {self.layers[0]!r})"

    def forward(self, x, y):
        if getattr(x, "ndim", None) != 2 or x.shape[1] != self.in_features:
            raise LayerInputError(f"{self!r} expected input of shape (N, {self.in_features}), "
                                  f"got {tuple(getattr(x, 'shape', ()))}")
        _check_labels(self, y, x.shape[0], self.num_classes)
        xp = backend.get_array_module(x)
        onehot = xp.eye(self.num_classes, dtype=x.dtype)[y]
        return self.layers[0].forward(xp.concatenate([x, onehot], axis=1))

    def backward(self, dout, need_dx=True):
        dh = self.layers[0].backward(dout, need_dx=need_dx)
        return dh[:, :self.in_features] if need_dx else None


def conditional_generator(latent_dim=32, width=32, embed_dim=10, num_classes=NUM_CLASSES,
                          rng=None, dtype="float32"):
    """G(z, y) for 8×8 images: the DCGAN generator fed [z, Embedding(y)]."""
    rng = backend.rng(0) if rng is None else rng
    w, s0 = width, 2
    embedding = Embedding(num_classes, embed_dim, rng=rng, dtype=dtype)
    body = Sequential(
        Dense(latent_dim + embed_dim, 2 * w * s0 * s0, rng=rng, init=INIT_STD, bias=False,
              dtype=dtype),
        Reshape((2 * w, s0, s0)),
        BatchNorm(2 * w, dtype=dtype),
        ReLU(),
        ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False, rng=rng, init=INIT_STD,
                        dtype=dtype),
        BatchNorm(w, dtype=dtype),
        ReLU(),
        ConvTranspose2d(w, 1, 4, stride=2, padding=1, rng=rng, init=INIT_STD, dtype=dtype),
        Tanh(),
    )
    return ConditionalGenerator(embedding, body, latent_dim)


def _dcgan_trunk(in_channels, width, rng, dtype):
    w, s0 = width, 2
    return [
        Conv2d(in_channels, w, 4, stride=2, padding=1, rng=rng, init=INIT_STD, dtype=dtype),
        LeakyReLU(0.2),
        Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False, rng=rng, init=INIT_STD,
               dtype=dtype),
        BatchNorm(2 * w, dtype=dtype),
        LeakyReLU(0.2),
        Flatten(),  # (N, 2w·s0·s0)
    ], 2 * w * s0 * s0


def cgan_discriminator(width=32, num_classes=NUM_CLASSES, rng=None, dtype="float32"):
    """cGAN's D(x, y) for 8×8 images: the DCGAN discriminator with K label maps added."""
    rng = backend.rng(1) if rng is None else rng
    trunk, features = _dcgan_trunk(1 + num_classes, width, rng, dtype)
    body = Sequential(*trunk, Dense(features, 1, rng=rng, init=INIT_STD, dtype=dtype))
    return LabelMapDiscriminator(body, 1, num_classes)


def acgan_discriminator(width=32, num_classes=NUM_CLASSES, rng=None, dtype="float32"):
    """AC-GAN's D(x) for 8×8 images: (N, 1 + K) = [real/fake logit, class logits]."""
    rng = backend.rng(1) if rng is None else rng
    trunk, features = _dcgan_trunk(1, width, rng, dtype)
    return Sequential(*trunk, Dense(features, 1 + num_classes, rng=rng, init=INIT_STD,
                                    dtype=dtype))


def conditional_pair(method="cgan", latent_dim=32, width=32, embed_dim=10, seed=0,
                     dtype="float32"):
    """(G, D, config) for ``method`` "cgan" or "acgan", from one seed."""
    if method not in ("cgan", "acgan"):
        raise ValueError(f"unknown conditional method {method!r}; expected 'cgan' or 'acgan'")
    config = {"method": method, "latent_dim": int(latent_dim), "width": int(width),
              "embed_dim": int(embed_dim), "num_classes": NUM_CLASSES, "dtype": str(dtype)}
    rng = backend.rng(seed)
    G = conditional_generator(latent_dim, width, embed_dim, NUM_CLASSES, rng, dtype)
    make_d = cgan_discriminator if method == "cgan" else acgan_discriminator
    D = make_d(width, NUM_CLASSES, rng, dtype)
    return G, D, config
