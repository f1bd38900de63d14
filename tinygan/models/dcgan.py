"""DCGAN generators and discriminators (Radford, Metz & Chintala 2016) at 8×8 and 28×28.

The paper's guidelines (papers.md §6), each visible below:

* G upsamples with transposed ("fractionally-strided") convolutions, D downsamples
  with strided convolutions; no pooling, no hidden fully connected layers (the
  only dense layers are G's projection of z and D's final logit).
* BatchNorm everywhere except at G's output and D's input.
* ReLU in G with a tanh output (images live in [−1, 1]); LeakyReLU(0.2) in D.
* Weights drawn from N(0, 0.02²); Adam with lr 2e-4 and β₁ = 0.5
  (:func:`dcgan_optimizers`).

A layer followed by BatchNorm has no bias: BatchNorm subtracts the batch mean, so such a
bias cancels and its gradient is exactly zero (BatchNorm's β plays its role).

Both sizes use kernel 4, stride 2, padding 1, which exactly doubles (G) or halves (D)
the side: s → 2s, and a kernel divisible by the stride avoids checkerboard artefacts.
With s₀ = image_size / 4 (2 for the 8×8 digits, 7 for MNIST)::

    G: z (N, latent_dim) → Dense → (N, 2w, s₀, s₀) → BN → ReLU
         → ConvT(2w→w, 4, 2, 1) → (N, w, 2s₀, 2s₀) → BN → ReLU
         → ConvT(w→1, 4, 2, 1)  → (N, 1, 4s₀, 4s₀) → tanh
    D: x (N, 1, 4s₀, 4s₀) → Conv(1→w, 4, 2, 1) → LeakyReLU(0.2)
         → Conv(w→2w, 4, 2, 1) → BN → LeakyReLU(0.2) → Flatten → Dense → logit (N, 1)

At 28×28 with w = 64 and latent_dim = 100 this is the network of
``benchmarks/bench_steps.py``. D returns *logits* (the losses take logits).

Checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`) store every parameter
and BatchNorm's running statistics in one ``.npz``, with the architecture arguments,
so that a loader can rebuild the networks and restore them exactly.
"""

from __future__ import annotations

import json

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
from ..optim import Adam
from .sequential import Sequential

__all__ = ["DCGAN_SIZES", "dcgan_generator", "dcgan_discriminator", "dcgan_pair",
           "dcgan_optimizers", "save_checkpoint", "load_checkpoint", "model_state",
           "load_model_state"]

INIT_STD = 0.02

#: Default (latent_dim, width) per image size.
DCGAN_SIZES = {8: (32, 32), 28: (100, 64)}


def _base_size(image_size):
    if image_size % 4 != 0 or image_size < 4:
        raise ValueError(f"DCGAN here needs an image size divisible by 4 (two doublings "
                         f"from image_size/4), got {image_size}")
    return image_size // 4


def dcgan_generator(image_size=8, latent_dim=None, width=None, rng=None, dtype="float32"):
    """G: noise (N, latent_dim) → images (N, 1, image_size, image_size) in [−1, 1]."""
    s0 = _base_size(image_size)
    d_latent, d_width = DCGAN_SIZES.get(image_size, (100, 64))
    latent_dim = d_latent if latent_dim is None else latent_dim
    w = d_width if width is None else width
    rng = backend.rng(0) if rng is None else rng
    return Sequential(
        Dense(latent_dim, 2 * w * s0 * s0, rng=rng, init=INIT_STD, bias=False, dtype=dtype),
        Reshape((2 * w, s0, s0)),  # (N, 2w, s0, s0)
        BatchNorm(2 * w, dtype=dtype),
        ReLU(),
        ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False, rng=rng, init=INIT_STD,
                        dtype=dtype),
        BatchNorm(w, dtype=dtype),
        ReLU(),
        ConvTranspose2d(w, 1, 4, stride=2, padding=1, rng=rng, init=INIT_STD, dtype=dtype),
        Tanh(),  # no BatchNorm at G's output
    )


def dcgan_discriminator(image_size=8, width=None, rng=None, dtype="float32"):
    """D: images (N, 1, image_size, image_size) → logits (N, 1)."""
    s0 = _base_size(image_size)
    w = DCGAN_SIZES.get(image_size, (100, 64))[1] if width is None else width
    rng = backend.rng(1) if rng is None else rng
    return Sequential(
        Conv2d(1, w, 4, stride=2, padding=1, rng=rng, init=INIT_STD, dtype=dtype),
        LeakyReLU(0.2),  # no BatchNorm at D's input
        Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False, rng=rng, init=INIT_STD,
               dtype=dtype),
        BatchNorm(2 * w, dtype=dtype),
        LeakyReLU(0.2),
        Flatten(),  # (N, 2w·s0·s0)
        Dense(2 * w * s0 * s0, 1, rng=rng, init=INIT_STD, dtype=dtype),
    )


def dcgan_pair(image_size=8, latent_dim=None, width=None, seed=0, dtype="float32"):
    """(G, D, config): both networks from one seed, and the arguments that rebuild them."""
    d_latent, d_width = DCGAN_SIZES.get(image_size, (100, 64))
    config = {"image_size": int(image_size),
              "latent_dim": int(d_latent if latent_dim is None else latent_dim),
              "width": int(d_width if width is None else width), "dtype": str(dtype)}
    rng = backend.rng(seed)
    G = dcgan_generator(config["image_size"], config["latent_dim"], config["width"], rng, dtype)
    D = dcgan_discriminator(config["image_size"], config["width"], rng, dtype)
    return G, D, config


def dcgan_optimizers(G, D, lr=2e-4, beta1=0.5):
    """Adam(lr 2e-4, β = (0.5, 0.999)) for each network: the paper's setting."""
    return Adam(G, lr=lr, betas=(beta1, 0.999)), Adam(D, lr=lr, betas=(beta1, 0.999))


# -- checkpoints ---------------------------------------------------------------------------
_BUFFERS = ("running_mean", "running_var")


def model_state(model):
    """Host copies of every parameter (``"0.W"``) and BatchNorm buffer (``"2.running_mean"``)."""
    state = {k: backend.to_numpy(v).copy() for k, v in model.params.items()}
    for i, layer in enumerate(model.layers):
        for name in _BUFFERS:
            if hasattr(layer, name):
                state[f"{i}.{name}"] = backend.to_numpy(getattr(layer, name)).copy()
    return state


def load_model_state(model, state):
    """Copy ``state`` (from :func:`model_state`) into ``model`` in place, checking every key."""
    expected = set(model_state(model))
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"checkpoint does not match {model!r}: missing {missing}, "
                         f"unexpected {extra}")
    params = model.params
    for key, value in state.items():
        i, name = key.split(".", 1)
        target = params[key] if key in params else getattr(model.layers[int(i)], name)
        if tuple(target.shape) != tuple(value.shape):
            raise ValueError(f"checkpoint {key}: shape {value.shape}, model has {target.shape}")
        target[...] = backend.asarray(value, dtype=target.dtype)
    return model


def save_checkpoint(path, G, D, config, extra=None):
    """Save G, D (parameters and BatchNorm running statistics) and ``config`` to one .npz."""
    arrays = {f"G/{k}": v for k, v in model_state(G).items()}
    arrays.update({f"D/{k}": v for k, v in model_state(D).items()})
    meta = {"config": config, "extra": extra or {}}
    backend.numpy.savez_compressed(path, __meta__=backend.numpy.array(json.dumps(meta)),
                                   **arrays)
    return path


def load_checkpoint(path):
    """Rebuild (G, D, config, extra) from :func:`save_checkpoint`'s file; both in eval mode."""
    with backend.numpy.load(path) as f:
        meta = json.loads(str(f["__meta__"]))
        arrays = {k: f[k] for k in f.files if k != "__meta__"}
    config = meta["config"]
    G, D, _ = dcgan_pair(config["image_size"], config["latent_dim"], config["width"], seed=0,
                         dtype=config["dtype"])
    load_model_state(G, {k[2:]: v for k, v in arrays.items() if k.startswith("G/")})
    load_model_state(D, {k[2:]: v for k, v in arrays.items() if k.startswith("D/")})
    return G.eval(), D.eval(), config, meta["extra"]
