"""Conditional GAN (Mirza & Osindero 2014): both players see the label y.

The objective is the GAN's, with y given to G and to D:

    min_G max_D  E_{(x,y)~p_data} log D(x, y) + E_{z~p_z, y~p(y)} log(1 − D(G(z, y), y))

For each class separately this is the original game, so for a fixed G the optimal D is
the GAN's D*, class by class (derivations/06_conditional_gan.md#the-conditional-optimal-d):

    D*(x, y) = p_data(x | y) / (p_data(x | y) + p_g(x | y))

:func:`optimal_d` computes it; ``tinygan.experiments.optimal_d_family`` measures a
trained D against it. As in :mod:`tinygan.train`, D returns *logits*, G is trained with
the non-saturating cost −log D(G(z, y), y), and each step is two plain functions. The
fake labels are drawn uniformly and independently of the real batch's labels.

AC-GAN, where D predicts y instead of reading it, is :mod:`tinygan.gans.acgan`; both
modules offer ``update_d``/``update_g`` with the same signatures, and :func:`fit` runs
either.

Derivation: derivations/06_conditional_gan.md
"""

from __future__ import annotations

from .. import backend
from ..layers.base import NonFiniteInputError, frozen, no_grad
from ..losses import bce_with_logits, generator_loss_nonsaturating
from ..train import History, Watch

__all__ = ["update_d", "update_g", "optimal_d", "fit", "sample"]


def update_d(G, D, x_real, y_real, z, y_fake, opt_D):
    """One step of D(x, y) on a real labelled batch and a fake one G(z, y_fake).

    1. D.zero_grad(); x_fake = G(z, y_fake), a constant here: made inside
       ``no_grad(G, update_stats=False)`` (no cache; G's BatchNorm running statistics
       move once per iteration, in G's own step, as in :func:`tinygan.train.update_d`).
    2. Real pairs (x_real, y_real): forward, BCE with label 1, backward.
    3. Fake pairs (x_fake, y_fake): forward, BCE with label 0, backward (grads add up).
    4. opt_D.step().

    Returns a dict of 0-d arrays: ``loss_D``, ``D_real``, ``D_fake`` (mean probabilities).
    """
    D.zero_grad()
    with no_grad(G, update_stats=False):  # G gets no gradient from D's step
        x_fake = G.forward(z, y_fake)
    xp = backend.get_array_module(x_fake)

    real = D.forward(x_real, y_real)
    loss_real, d_real = bce_with_logits(real, xp.ones_like(real))
    D.backward(d_real, need_dx=False)

    fake = D.forward(x_fake, y_fake)
    loss_fake, d_fake = bce_with_logits(fake, xp.zeros_like(fake))
    D.backward(d_fake, need_dx=False)

    opt_D.step()
    return {"loss_D": loss_real + loss_fake, "D_real": d_real.sum() + 1,
            "D_fake": d_fake.sum()}


def update_g(G, D, z, y, opt_G):
    """One step of G(z, y) through D(·, y), non-saturating: minimise −mean log D(G(z, y), y).

    D is frozen (its parameter gradients are not computed); the gradient reaches G
    through D's input. Returns ``loss_G`` and ``D_fake`` (mean D(G(z, y), y) before the
    step).
    """
    G.zero_grad()
    x_fake = G.forward(z, y)
    logits = D.forward(x_fake, y)
    loss_G, d_logits = generator_loss_nonsaturating(logits)
    with frozen(D):
        dx = D.backward(d_logits)
    G.backward(dx, need_dx=False)
    opt_G.step()
    return {"loss_G": loss_G, "D_fake": 1 + d_logits.sum()}  # Σ −(1 − D)/m = mean D − 1


def optimal_d(p_data_given_y, p_g_given_y, x, y):
    """D*(x, y) = p_data(x|y)/(p_data(x|y) + p_g(x|y)) for 1-D class densities.

    ``p_data_given_y`` and ``p_g_given_y`` are lists of :mod:`tinygan.densities`
    densities, one per class; ``x`` (N,) host points and ``y`` (N,) their classes.
    """
    from .. import densities as dn

    np = backend.numpy
    x, y = np.asarray(x, dtype="float64"), np.asarray(y)
    out = np.empty_like(x)
    for k, (p, q) in enumerate(zip(p_data_given_y, p_g_given_y)):
        sel = y == k
        out[sel] = dn.optimal_discriminator(p, q, x[sel])
    return out


def sample(G, z, y):
    """G(z, y) in eval mode (BatchNorm's running statistics); G's mode is restored."""
    was_training = G.training
    G.eval()
    with no_grad(G):
        out = G.forward(z, y)
    if was_training:
        G.train()
    return out


def fit(G, D, sample_real, sample_noise, sample_labels, opt_G, opt_D, num_steps, batch_size,
        method="cgan", history=None, callback=None, start=0):
    """Train a conditional GAN: one D step and one G step per iteration (k = 1).

    Parameters
    ----------
    sample_real : m → (x, y), a labelled batch of data.
    sample_noise : m → z, (m, latent_dim).
    sample_labels : m → y, m labels drawn from the class prior (uniform).
    method : "cgan" (this module's steps) or "acgan" (:mod:`tinygan.gans.acgan`).
    callback : called as ``callback(step, history)`` after each step (the step counts
        from ``start``, so a resumed run numbers its steps globally).

    Each draw is fresh: the fake labels of D's step and of G's step are independent, and
    neither reuses the real batch's labels. Returns the :class:`tinygan.train.History`.
    """
    from . import acgan

    steps = {"cgan": (update_d, update_g), "acgan": (acgan.update_d, acgan.update_g)}
    if method not in steps:
        raise ValueError(f"unknown conditional method {method!r}; expected one of "
                         f"{sorted(steps)}")
    step_d, step_g = steps[method]
    history = history if history is not None else History()
    # what became non-finite, where (a loss, Adam's v, a layer's input): tinygan.train's
    # Watch, shared with fit and fit_wgan
    watch = Watch({"G": G, "D": D}, {"G": opt_G, "D": opt_D})
    step, phase, x = start, "discriminator step", None
    try:
        for step in range(start, num_steps):
            phase = "discriminator step"
            x, y = sample_real(batch_size)
            d = step_d(G, D, x, y, sample_noise(batch_size), sample_labels(batch_size), opt_D)
            phase, x = "generator step", None
            g = step_g(G, D, sample_noise(batch_size), sample_labels(batch_size), opt_G)
            history.loss_D.append(watch.loss(step, "discriminator loss", d["loss_D"]))
            history.loss_G.append(watch.loss(step, "generator loss", g["loss_G"]))
            watch.state(step)
            history.D_real.append(float(d["D_real"]))
            history.D_fake.append(float(d["D_fake"]))
            if callback is not None:
                callback(step, history)
    except NonFiniteInputError as exc:
        raise watch.layer(step, phase, exc, data=x) from exc
    return history
