"""AC-GAN (Odena, Olah & Shlens 2017): D tells real from fake *and* names the class.

G(z, c) takes a class c as in a conditional GAN, but D sees the image alone and has two
heads: P(S | x), the probability that x is real, and P(C | x), a softmax over the
classes. The paper's two log-likelihoods (its Eq. 2 and 3):

    L_S = E log P(S = real | x_real) + E log P(S = fake | x_fake)
    L_C = E log P(C = c | x_real)   + E log P(C = c | x_fake)

"D is trained to maximize L_S + L_C while G is trained to maximize L_C − L_S." As
everywhere in tinygan we minimise negated log-likelihoods on logits, and G uses the
non-saturating form of its −L_S term (the reference implementations do the same):

    loss_D = BCE(s_real, 1) + BCE(s_fake, 0) + CE(c_real, y_real) + CE(c_fake, y_fake)
    loss_G = BCE(s_fake, 1) + CE(c_fake, y_fake)

where D(x) returns (N, 1 + K): column 0 the source logit s, columns 1..K the class
logits c. Both players want the fake to be classified as the class it was made for, so
the class head is a teacher G learns to please: AC-GAN's samples are very
recognisable, and a known failure is that G favours the easiest-to-classify examples
of each class (less diversity within a class).

Derivation: derivations/06_conditional_gan.md#ac-gan
"""

from __future__ import annotations

from .. import backend
from ..layers.base import frozen, no_grad
from ..losses import bce_with_logits, softmax_cross_entropy

__all__ = ["update_d", "update_g", "split_heads", "class_loss"]


def split_heads(out):
    """D's (N, 1 + K) output → (source logits (N, 1), class logits (N, K))."""
    if out.ndim != 2 or out.shape[1] < 3:
        raise ValueError(f"AC-GAN's D must return (N, 1 + K) outputs with K ≥ 2 classes: a "
                         f"source logit and K class logits; got shape {tuple(out.shape)}")
    return out[:, :1], out[:, 1:]


def class_loss(out, y, real):
    """BCE on the source head (label ``real``) + CE on the class head, and d(loss)/d(out).

    Math
    ----
    L = BCE(s, real) + CE(c, y);  dL/ds = (σ(s) − real)/N,  dL/dc = (softmax(c) − e_y)/N
    Returns (L, dout (N, 1 + K), the BCE part, the CE part, mean σ(s)).
    """
    xp = backend.get_array_module(out)
    s, c = split_heads(out)
    target = xp.ones_like(s) if real else xp.zeros_like(s)
    loss_s, ds = bce_with_logits(s, target)
    loss_c, dc = softmax_cross_entropy(c, y)
    mean_d = ds.sum() + (1 if real else 0)  # Σ (σ(s) − t)/N = mean σ(s) − t
    return loss_s + loss_c, xp.concatenate([ds, dc], axis=1), loss_s, loss_c, mean_d


def update_d(G, D, x_real, y_real, z, y_fake, opt_D):
    """One step of AC-GAN's D: real batch (source 1, class y_real), fake batch (0, y_fake).

    The same signature as :func:`tinygan.gans.cgan.update_d`; two forward/backward pairs,
    each consuming its own cache. Returns ``loss_D`` (= −(L_S + L_C) on the batch),
    ``loss_S``, ``loss_C``, ``D_real``, ``D_fake``.
    """
    D.zero_grad()
    with no_grad(G, update_stats=False):  # a constant here, as in cgan.update_d
        x_fake = G.forward(z, y_fake)
    loss_r, d_r, s_r, c_r, D_real = class_loss(D.forward(x_real), y_real, real=True)
    D.backward(d_r, need_dx=False)
    loss_f, d_f, s_f, c_f, D_fake = class_loss(D.forward(x_fake), y_fake, real=False)
    D.backward(d_f, need_dx=False)
    opt_D.step()
    return {"loss_D": loss_r + loss_f, "loss_S": s_r + s_f, "loss_C": c_r + c_f,
            "D_real": D_real, "D_fake": D_fake}


def update_g(G, D, z, y, opt_G):
    """One step of AC-GAN's G: make D say "real" (non-saturating) and "class y".

    Returns ``loss_G`` (= BCE(s_fake, 1) + CE(c_fake, y)) and ``D_fake``.
    """
    G.zero_grad()
    x_fake = G.forward(z, y)
    loss, dout, _, _, mean_d = class_loss(D.forward(x_fake), y, real=True)
    with frozen(D):
        dx = D.backward(dout)
    G.backward(dx, need_dx=False)
    opt_G.step()
    return {"loss_G": loss, "D_fake": mean_d}
