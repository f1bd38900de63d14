"""3D-GAN (Wu, Zhang, Xue, Freeman & Tenenbaum, NIPS 2016): the GAN objective on voxels.

3D-GAN is the original GAN game played with volumes: G maps z ∈ [0, 1)²⁰⁰ through
transposed 3-D convolutions to occupancy probabilities on a voxel grid, D maps a voxel
grid through 3-D convolutions to one logit, and both follow

    min_G max_D  E_x log D(x) + E_z log(1 − D(G(z)))

(G trains on −log D(G(z)), the non-saturating cost, as everywhere in tinygan). The
networks are in :mod:`tinygan.models.gan3d`; the convolutions are the same code as
DCGAN's, at rank 3 (:class:`tinygan.layers.conv.ConvNd`).

What is particular to 3D-GAN is how the two are kept in balance (the paper's §3.1,
"Training details"): D learns much faster than G on voxels, so

* D's learning rate is tiny (10⁻⁵ against G's 2.5·10⁻³), Adam with β₁ = 0.5, batch 100;
* **adaptive training**: "the discriminator only gets updated if its accuracy in the
  last batch is not higher than 80 %". Here the accuracy is measured on the real and
  fake batch that D has just classified, before its update (:func:`tinygan.train.d_accuracy`),
  and the update is skipped when it is above :data:`ACCURACY_LIMIT`: the trainer option
  ``fit(..., d_accuracy_limit=0.8)``, which records the share of applied D steps in
  ``history.D_updated``.

:data:`PAPER` holds the paper's settings; :func:`fit_gan3d` applies the 80 % rule by
default, and draws z from N(0, I) unless told ``latent="uniform"`` (the released code's;
:func:`tinygan.models.gan3d.sample_latent` says why not here). The command ``tinygan
gan3d`` states which settings it scales or changes, and what was measured for each.
"""

from __future__ import annotations

from .. import backend
from ..models.gan3d import sample_latent
from ..train import fit

__all__ = ["PAPER", "ACCURACY_LIMIT", "fit_gan3d", "skipped_share"]

#: D's step is applied only when its accuracy on its batch is at most this (Wu et al. §3.1).
ACCURACY_LIMIT = 0.8

#: The paper's settings (§3.1; z ~ U[0, 1) from the released main.lua's torch.rand).
PAPER = {"grid": 64, "latent_dim": 200, "z": "uniform [0, 1)", "lr_G": 2.5e-3, "lr_D": 1e-5,
         "beta1": 0.5, "batch_size": 100, "d_accuracy_limit": ACCURACY_LIMIT,
         "G_channels": (512, 256, 128, 64, 1), "kernel": 4, "G_strides": (1, 2, 2, 2, 2)}


def fit_gan3d(G, D, sample_real, opt_G, opt_D, num_steps, batch_size=100, gen=None,
              latent_dim=200, d_accuracy_limit=ACCURACY_LIMIT, dtype="float32",
              latent="normal", **fit_kw):
    """Train 3D-GAN: :func:`tinygan.train.fit` with the adaptive D rule.

    ``sample_real(m)`` returns m real voxel grids; ``gen`` is the generator z is drawn
    from (``backend.rng(0)`` if None); ``latent`` is z's distribution, ``"normal"`` or the
    released code's ``"uniform"`` (:func:`tinygan.models.gan3d.sample_latent`).
    ``d_accuracy_limit=None`` turns the adaptive rule off (every D step applied). Other
    keywords go to ``fit`` (``history``, ``callback``, ``progress``). Returns the
    :class:`tinygan.train.History`.
    """
    gen = backend.rng(0) if gen is None else gen
    return fit(G, D, sample_real, lambda m: sample_latent(gen, m, latent_dim, dtype, latent),
               opt_G, opt_D, num_steps, batch_size, d_accuracy_limit=d_accuracy_limit,
               **fit_kw)


def skipped_share(history):
    """The share of D steps the adaptive rule skipped: 1 − mean(history.D_updated)."""
    updated = history.D_updated
    return float(1 - sum(updated) / len(updated)) if updated else 0.0
