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
and BatchNorm's running statistics (``state_dict()``) in one ``.npz``, with the
architecture arguments, so that a loader can rebuild the networks and restore them
exactly; ``tinygan dcgan``'s resumable checkpoints add the optimizers, the random
generators and the history (``tinygan.runs``).
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

def model_state(model):
    """Host copies of every parameter (``"0.W"``) and BatchNorm buffer (``"2.running_mean"``)."""
    return model.state_dict()


def load_model_state(model, state):
    """Copy ``state`` (from :func:`model_state`) into ``model`` in place, checking every key."""
    return model.load_state_dict(state)


def save_checkpoint(path, G, D, config, extra=None):
    """Save G, D (parameters and BatchNorm running statistics) and ``config`` to one .npz.

    The file is a state tree of :func:`tinygan.runs.save_state` with ``model`` (the
    architecture arguments), ``G`` and ``D``, written atomically; the checkpoints of
    ``tinygan dcgan`` have the same entries (plus optimizers, generators and history),
    so :func:`load_checkpoint` reads both.
    """
    from ..runs import save_state

    return save_state(path, {"model": dict(config), "extra": dict(extra or {}), "G": G, "D": D})


def load_checkpoint(path):
    """Rebuild (G, D, config, extra) from :func:`save_checkpoint`'s file; both in eval mode.

    Also reads the ``checkpoint.npz`` of a ``tinygan dcgan`` run (``extra`` then holds
    the step it was written at and the data's name).
    """
    from ..runs import CheckpointError, load_state

    tree, meta = load_state(path)
    if "model" not in tree or "G" not in tree or "D" not in tree:
        raise CheckpointError(f"{path} holds no DCGAN (no 'model', 'G' and 'D' entries)")
    config = tree["model"]
    G, D, _ = dcgan_pair(config["image_size"], config["latent_dim"], config["width"], seed=0,
                         dtype=config["dtype"])
    G.load_state_dict(tree["G"])
    D.load_state_dict(tree["D"])
    extra = dict(tree.get("extra", {}))
    if "step" in meta:
        extra.setdefault("step", meta["step"])
    return G.eval(), D.eval(), config, extra
