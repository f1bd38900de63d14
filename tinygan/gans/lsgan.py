"""LSGAN (Mao et al. 2017): the discriminator regresses real to b and fake to a.

The least-squares GAN replaces the cross-entropy of D's logit by a squared error on D's
raw (unbounded) output. With targets a (fake), b (real) and c (what G wants D to say):

    min_D  ½ E_x (D(x) − b)² + ½ E_z (D(G(z)) − a)²
    min_G      E_z (D(G(z)) − c)²

CycleGAN trains its two GANs this way with a = 0, b = c = 1: its official code uses
``nn.MSELoss`` against target tensors of ones and zeros, averages D's two terms with the
factor ½, and gives G the plain mean (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/networks.py`` ``GANLoss(gan_mode="lsgan")``, ``models/cycle_gan_model.py``
``backward_D_basic`` and ``backward_G``). We keep that scaling.

For a fixed G the optimal D is pointwise (derivations/07_cyclegan.md#lsgans-optimal-d):

    D*(x) = (b·p_data(x) + a·p_g(x)) / (p_data(x) + p_g(x))

With a = 0, b = 1 that is the GAN's D* = p_data/(p_data + p_g): the same function, reached
by regression instead of classification. :func:`optimal_d` computes it from densities and
``tinygan.experiments.optimal_d`` measures a trained D against it.

Derivation: derivations/07_cyclegan.md#the-least-squares-gan-loss
"""

from __future__ import annotations

from .. import backend
from ..layers.base import no_grad
from ..losses import least_squares_loss

__all__ = ["discriminator_loss", "generator_loss", "optimal_d", "update_d"]


def discriminator_loss(real_out, fake_out, a=0.0, b=1.0):
    """D's least-squares loss ½·mean (D(x) − b)² + ½·mean (D(G(z)) − a)².

    Math
    ----
    L_D = ½ (1/m) Σ (r_i − b)² + ½ (1/m') Σ (f_j − a)²
    dL_D/dr = (r − b)/m,   dL_D/df = (f − a)/m'

    Shapes: real_out (m, …), fake_out (m', …): D's raw outputs (one per patch for a
    PatchGAN). Returns (loss, d_real_out, d_fake_out).

    Derivation: derivations/07_cyclegan.md#the-least-squares-gan-loss
    """
    xp = backend.get_array_module(real_out, fake_out)
    loss_r, d_r = least_squares_loss(real_out, xp.full_like(real_out, b))
    loss_f, d_f = least_squares_loss(fake_out, xp.full_like(fake_out, a))
    return (loss_r + loss_f) * 0.5, d_r * 0.5, d_f * 0.5


def generator_loss(fake_out, c=1.0):
    """G's least-squares loss mean (D(G(z)) − c)² (no ½, as CycleGAN's code).

    Math
    ----
    L_G = (1/m) Σ (f_j − c)²,   dL_G/df = 2(f − c)/m

    Returns (loss, d_fake_out).

    Derivation: derivations/07_cyclegan.md#the-least-squares-gan-loss
    """
    xp = backend.get_array_module(fake_out)
    return least_squares_loss(fake_out, xp.full_like(fake_out, c))


def optimal_d(p_data, p_g, a=0.0, b=1.0):
    """LSGAN's optimal discriminator (b·p_data + a·p_g)/(p_data + p_g), pointwise.

    ``p_data`` and ``p_g`` are density values at the same points (arrays); where both
    vanish D* is undefined and NaN is returned there.

    >>> import numpy as np
    >>> optimal_d(np.array([1.0, 3.0, 0.0]), np.array([1.0, 1.0, 2.0]))
    array([0.5 , 0.75, 0.  ])
    """
    xp = backend.get_array_module(p_data, p_g)
    total = p_data + p_g
    safe = xp.where(total > 0, total, 1.0)
    return xp.where(total > 0, (b * p_data + a * p_g) / safe, float("nan"))


def update_d(G, D, x_real, z, opt_D, a=0.0, b=1.0):
    """One least-squares step of D on a real batch and a fake batch G(z) (G fixed).

    The LSGAN counterpart of :func:`tinygan.train.update_d`: two forward/backward pairs
    (each consuming its own cache), D's raw outputs regressed onto b (real) and a (fake).
    Returns ``loss_D`` (a 0-d array).
    """
    D.zero_grad()
    with no_grad(G, update_stats=False):  # G is fixed: no cache, no statistics moved
        x_fake = G.forward(z)
    xp = backend.get_array_module(x_fake)
    real = D.forward(x_real)
    loss_r, d_r = least_squares_loss(real, xp.full_like(real, b))
    D.backward(d_r * 0.5, need_dx=False)
    fake = D.forward(x_fake)
    loss_f, d_f = least_squares_loss(fake, xp.full_like(fake, a))
    D.backward(d_f * 0.5, need_dx=False)
    opt_D.step()
    return {"loss_D": (loss_r + loss_f) * 0.5}
