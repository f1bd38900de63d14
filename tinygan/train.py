"""The GAN trainer: Algorithm 1 of Goodfellow et al. (2014), in two plain functions.

for each training step:
    for k steps:                                   # the inner loop: improve D
        sample m noise z and m data x
        ascend  (1/m) Σ [log D(x_i) + log(1 − D(G(z_i)))]   w.r.t. θ_D   (update_d)
    sample m noise z
    descend the generator cost w.r.t. θ_G                                (update_g)

D returns *logits* a with D(x) = σ(a); the losses work on logits.

Randomness (Algorithm 1): every D step draws its own m data and m noise, and G's step
draws fresh noise again: k + 1 noise batches and k data batches per iteration, none
reused. (pytorch/examples' dcgan/main.py, k = 1, reuses its D step's fake batch for
G's step; we follow the paper.)

BatchNorm's running statistics, which only eval mode uses (sampling), move once per
iteration in G, as in pytorch/examples (dcgan/main.py at 77f55b9 calls ``netG(noise)``
once per iteration, line 241, and reuses ``fake`` for G's step, line 255): G's
forward in D's step is a constant sample (:func:`fake_batch`, batch statistics, running
statistics untouched) and G's own step updates them. D's move with each of its 2k + 1
forwards (real and fake in each D step, the fake batch in G's step), as pytorch/examples'
three ``netD(…)`` calls do for k = 1.

Derivation: derivations/00_gan_objective.md
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import backend
from .layers.activations import sigmoid
from .layers.base import frozen, no_grad
from .losses import bce_with_logits, generator_loss

__all__ = ["TrainingDiverged", "History", "fake_batch", "update_d", "update_g", "fit"]


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite: training stops instead of plotting NaNs."""


def _mean_prob(logits):
    """Mean D(x) for the history: a diagnostic, not part of the update."""
    return sigmoid(logits).sum() / logits.size


def fake_batch(G, z):
    """G(z) as a constant, for D's step: no cache, G's BatchNorm running statistics untouched.

    In training mode G's BatchNorm still normalises with the batch's own statistics (D is
    shown samples made the way G's step makes them); its running statistics are
    left to G's own step, so that they move once per iteration (module docstring).
    """
    with no_grad(G, update_stats=False):
        return G.forward(z)


def update_d(G, D, x_real, z, opt_D):
    """One step of D on a real batch and a fake batch G(z) (Algorithm 1, inner loop).

    1. D.zero_grad(): this also discards what the last generator step left in D.
    2. Fake batch G(z): a constant here (no gradient flows into G), made by
       :func:`fake_batch` (no cache; G's running statistics untouched).
    3. Real batch: forward, loss with label 1, backward (grads accumulate).
    4. Fake batch: forward through D, loss with label 0, backward (grads accumulate).
    5. opt_D.step().

    Two forward/backward pairs, each consuming its own cache: never backpropagate
    the real loss through the cache of the fake pass (papers.md §9; the layers refuse
    a second forward in training mode before the first one's backward).

    Returns a dict of 0-d arrays: ``loss_D``, ``D_real`` and ``D_fake`` (mean
    probabilities).
    """
    D.zero_grad()
    x_fake = fake_batch(G, z)
    xp = backend.get_array_module(x_fake)

    real_logits = D.forward(x_real)
    loss_real, d_real = bce_with_logits(real_logits, xp.ones_like(real_logits))
    D.backward(d_real, need_dx=False)  # nothing upstream of the data needs a gradient

    fake_logits = D.forward(x_fake)
    loss_fake, d_fake = bce_with_logits(fake_logits, xp.zeros_like(fake_logits))
    D.backward(d_fake, need_dx=False)

    opt_D.step()
    # loss_real + loss_fake is discriminator_loss(real_logits, fake_logits). The mean
    # probabilities come free from the gradients: dL/da = (D − y)/m, so Σ dL/da = mean D − y.
    return {"loss_D": loss_real + loss_fake, "D_real": d_real.sum() + 1,
            "D_fake": d_fake.sum()}


def update_g(G, D, z, opt_G, loss="nonsaturating"):
    """One step of G through D (Algorithm 1, outer step).

    1. G.zero_grad().
    2. x = G(z), a = D(x): forward through both networks (G's BatchNorm running
       statistics move here, once per iteration; ``z`` must be a fresh draw).
    3. The generator cost and its gradient w.r.t. a: ``loss`` names an entry of
       ``tinygan.losses.GENERATOR_LOSSES``: ``"minimax"`` for mean log(1 − D(G(z))),
       ``"nonsaturating"`` for −mean log D(G(z)), ``"maximum_likelihood"`` for
       −mean exp(σ⁻¹(D(G(z)))).
    4. Backward through D with D *frozen* (its parameters are constants in this
       step, so their gradients are not computed: the manual counterpart of
       ``detach``/``requires_grad_(False)``), then through G.
    5. opt_G.step().

    Returns a dict of 0-d arrays: ``loss_G`` and ``D_fake`` (mean D(G(z)) before
    the step).
    """
    G.zero_grad()
    x_fake = G.forward(z)
    logits = D.forward(x_fake)
    loss_G, d_logits = generator_loss(logits, loss)
    with frozen(D):
        dx = D.backward(d_logits)
    G.backward(dx, need_dx=False)
    opt_G.step()
    return {"loss_G": loss_G, "D_fake": _mean_prob(logits)}


@dataclass
class History:
    """Per generator step: both losses and the mean D(x) and D(G(z)) of the D steps."""

    loss_D: list = field(default_factory=list)
    loss_G: list = field(default_factory=list)
    D_real: list = field(default_factory=list)
    D_fake: list = field(default_factory=list)

    def __len__(self):
        return len(self.loss_G)

    def as_arrays(self):
        np = backend.numpy
        return {k: np.asarray(v, dtype="float64") for k, v in self.__dict__.items()}


def _finite(step, what, value):
    """The explicit host copy of one scalar, and the check that stops a diverged run."""
    v = float(value)
    if not math.isfinite(v):
        raise TrainingDiverged(
            f"training stopped at step {step}: the {what} is {v}. Lower the learning "
            "rate, check the data for NaN/inf, or use the non-saturating generator loss."
        )
    return v


def fit(G, D, sample_real, sample_noise, opt_G, opt_D, num_steps, batch_size, k=1,
        generator_loss="nonsaturating", progress=False, callback=None, history=None):
    """Train a GAN with Algorithm 1: ``k`` D steps per G step, minibatches of ``batch_size``.

    Parameters
    ----------
    G, D : models; D returns logits of shape (m, 1).
    sample_real : callable m → an (m, …) batch of data.
    sample_noise : callable m → an (m, latent_dim) batch of noise.
    opt_G, opt_D : optimizers over G and D.
    num_steps : number of generator steps.
    k : discriminator steps per generator step (the paper used k = 1).
    generator_loss : ``"nonsaturating"`` (the default, what the paper's code did),
        ``"minimax"`` or ``"maximum_likelihood"`` (``tinygan.losses.GENERATOR_LOSSES``).
    progress : show a progress bar (tqdm).
    callback : called as ``callback(step, history)`` after each step.

    Returns the :class:`History`. Raises :class:`TrainingDiverged` naming the step
    and the loss as soon as a loss is not finite.
    """
    if k < 1 or num_steps < 0 or batch_size < 1:
        raise ValueError(f"fit needs k ≥ 1, num_steps ≥ 0, batch_size ≥ 1; got k={k}, "
                         f"num_steps={num_steps}, batch_size={batch_size}")
    history = history if history is not None else History()
    steps = range(num_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(steps, desc="GAN", unit="step", leave=False)
        steps = bar
    start = len(history)
    for i in steps:
        step = start + i
        d_stats = [update_d(G, D, sample_real(batch_size), sample_noise(batch_size), opt_D)
                   for _ in range(k)]
        loss_D = sum(_finite(step, "discriminator loss", s["loss_D"]) for s in d_stats) / k
        g_stats = update_g(G, D, sample_noise(batch_size), opt_G, generator_loss)
        history.loss_D.append(loss_D)
        history.loss_G.append(_finite(step, f"generator ({generator_loss}) loss",
                                      g_stats["loss_G"]))
        history.D_real.append(sum(float(s["D_real"]) for s in d_stats) / k)
        history.D_fake.append(sum(float(s["D_fake"]) for s in d_stats) / k)
        if bar is not None and step % 20 == 0:
            bar.set_postfix(loss_D=f"{history.loss_D[-1]:.3f}", loss_G=f"{history.loss_G[-1]:.3f}")
        if callback is not None:
            callback(step, history)
    return history
