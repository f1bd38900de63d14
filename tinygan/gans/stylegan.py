"""StyleGAN (Karras, Laine & Aila 2019): losses, the R1 penalty, style mixing, update steps.

The official training setup (NVlabs/stylegan: ``train.py``, ``training/loss.py``,
``training/training_loop.py``, ``training/networks_stylegan.py``), which this module follows:

* D minimises the logistic loss softplus(D(G(z))) + softplus(−D(x)) (``D_logistic_simplegp``)
  plus the R1 penalty (γ/2)·‖∇ₓD(x)‖² on real images (Mescheder et al. 2018), γ = 10;
  G minimises the non-saturating softplus(−D(G(z))) (``G_logistic_nonsaturating``). Both
  losses are means over the batch. softplus(−a) = −log σ(a), so these are the BCE losses of
  ``tinygan.losses`` on logits: :func:`d_logistic_loss` and :func:`g_nonsaturating_loss`.
* Adam with β₁ = 0, β₂ = 0.99, ε = 1e-8 for both networks, lr 0.001 at low resolution.
* Style-mixing regularisation: with probability 0.9 a minibatch uses two latents, the
  slots below a cutoff drawn uniformly from {1, …, L − 1} taking w₁ and the rest w₂ (one
  cutoff per minibatch, as the official code draws it), in D's and in G's step.
* The moving average w̄ of w (β = 0.995), for the truncation trick w̄ + ψ(w − w̄) when sampling.

R1 depends on a *gradient* of D, so its gradient with respect to D's weights is a second
derivative. :func:`r1_penalty` writes it by hand for discriminators built from (equalized)
Conv2d and Dense, (Leaky)ReLU, Flatten and Reshape (and convolutions of any rank, ConvNd:
3D-GAN's Conv3d too), using only the layers' public contract:
the input gradient of a linear layer is linear in both the upstream gradient g and the
weight W, so ∂/∂W ⟨r, dx(g, W)⟩ is the weight gradient of a copy of the layer that shares W,
fed r forward and g backward; the r passed on is that copy's (bias-free) output.

Derivation: derivations/08_stylegan.md
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import backend
from ..layers.activations import LeakyReLU
from ..layers.base import NonFiniteInputError, frozen, no_grad
from ..layers.conv import ConvNd
from ..layers.dense import Dense
from ..layers.equalized import Equalized
from ..layers.shape import Flatten, Reshape
from ..losses import bce_with_logits, generator_loss
from ..optim import Adam
from ..train import History, Watch

__all__ = [
    "d_logistic_loss", "g_nonsaturating_loss", "d_input_gradient", "r1_penalty",
    "draw_mixing", "update_w_avg", "update_d", "update_g", "stylegan_optimizers",
    "StyleGANHistory", "fit_stylegan",
    "R1_GAMMA", "MIXING_PROB", "W_AVG_BETA", "BETAS", "LR",
]

#: The official settings (train.py / training_loop.py / networks_stylegan.py).
R1_GAMMA = 10.0
MIXING_PROB = 0.9
W_AVG_BETA = 0.995
BETAS = (0.0, 0.99)
LR = 0.001


# -- losses ---------------------------------------------------------------------------
def d_logistic_loss(real_logits, fake_logits):
    """D's logistic loss: mean softplus(−D(x)) + mean softplus(D(G(z))).

    Math
    ----
    L_D = (1/N) Σ softplus(−a_i) + (1/M) Σ softplus(ã_j),   softplus(t) = log(1 + eᵗ)
    ∂L_D/∂a_i = −σ(−a_i)/N = (σ(a_i) − 1)/N,   ∂L_D/∂ã_j = σ(ã_j)/M
    softplus(−a) = −log σ(a): this is BCE with label 1 on real and 0 on fake logits.

    Returns (loss, d_real, d_fake).

    Derivation: derivations/08_stylegan.md#the-logistic-losses
    """
    xp = backend.get_array_module(real_logits)
    loss_r, d_r = bce_with_logits(real_logits, xp.ones_like(real_logits))
    loss_f, d_f = bce_with_logits(fake_logits, xp.zeros_like(fake_logits))
    return loss_r + loss_f, d_r, d_f


def g_nonsaturating_loss(fake_logits):
    """G's non-saturating logistic loss: mean softplus(−D(G(z))) = −mean log σ(D(G(z))).

    Math
    ----
    L_G = (1/M) Σ softplus(−ã_j),   ∂L_G/∂ã_j = (σ(ã_j) − 1)/M

    Returns (loss, d_fake).

    Derivation: derivations/08_stylegan.md#the-logistic-losses
    """
    return generator_loss(fake_logits, "nonsaturating")


# -- R1 and its double backward --------------------------------------------------------
_LINEAR = (Equalized, Dense, ConvNd)  # ConvNd: Conv1d, Conv2d, Conv3d
_RESHAPES = (Flatten, Reshape)


def _d_layers(D, x):
    layers = list(getattr(D, "layers", [D]))
    for i, layer in enumerate(layers):
        if not isinstance(layer, _LINEAR + _RESHAPES + (LeakyReLU,)):
            raise TypeError(
                f"r1_penalty: layer {i} of D is {layer!r}; the hand-written double backward "
                "covers (equalized) Conv1d/2d/3d and Dense, (Leaky)ReLU, Flatten and Reshape only")
    if not hasattr(x, "shape") or x.ndim < 2:
        raise ValueError(f"r1_penalty expected a batch of images (N, …), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return layers


def d_input_gradient(D, x):
    """Per-sample input gradients g_n = ∇ₓ D(x_n), by one backward of Σ_n D(x_n).

    Math
    ----
    The samples do not interact in D (no batch statistics), so row n of ∇ₓ Σ_n D(x_n) is
    ∇ₓ D(x_n). Forward through D's own layers, then backward from an upstream gradient of
    ones with D frozen (no parameter gradients); on the way record, per layer, the upstream
    gradient g_out at its output, and for (Leaky)ReLU the slopes s = φ'(a) (1 where a > 0,
    α elsewhere, as LeakyReLU.forward).

    Shapes: x (N, …) → scores (N, 1), g (N, …).

    Returns (scores, g, record) with ``record`` a list of per-layer dicts for the double
    backward. The layers' caches are consumed (each forward gets its backward).

    Derivation: derivations/08_stylegan.md#r1-the-first-backward
    """
    layers = _d_layers(D, x)
    xp = backend.get_array_module(x)
    record, h = [], x
    for layer in layers:
        rec = {}
        if isinstance(layer, LeakyReLU):
            rec["slope"] = (h > 0) * h.dtype.type(1 - layer.alpha) + h.dtype.type(layer.alpha)
        h = layer.forward(h)
        rec["out_shape"] = tuple(h.shape)
        record.append(rec)
    scores = h
    g = xp.ones_like(scores)
    with frozen(D):
        for layer, rec in zip(reversed(layers), reversed(record)):
            rec["g_out"] = g
            g = layer.backward(g)
    return scores, g, record


def _bias_free_twin(layer):
    """A copy of a linear layer without bias that shares its (runtime) weight; and its scale.

    Returns (twin, coef): ∂P/∂Ŵ = coef · twin.grads["W"] (coef = c for an Equalized layer,
    whose stored weight is Ŵ = W/c; 1 otherwise).
    """
    coef = 1.0
    if isinstance(layer, Equalized):
        W, coef, layer = layer.runtime_weight(), layer.coefs["W"], layer.inner
    else:
        W = layer.params["W"]
    if isinstance(layer, Dense):
        twin = Dense(layer.in_features, layer.out_features, init="zeros", bias=False,
                     dtype=W.dtype)
    else:
        twin = type(layer)(layer.in_channels, layer.out_channels, layer.kernel_size,
                           stride=layer.stride, padding=layer.padding, bias=False,
                           init="zeros", dtype=W.dtype)  # the same rank as the layer
    twin.params["W"] = W  # shared, not copied; twin.grads["W"] starts at zero
    return twin, coef


def r1_penalty(D, x_real, gamma=R1_GAMMA):
    """R1 = (γ/2)·mean_n ‖∇ₓD(x_n)‖²; ACCUMULATES ∂R1/∂θ_D into D's ``grads``.

    Math
    ----
    g = ∇ₓ D(x) per sample (:func:`d_input_gradient`), R1 = (γ/2)(1/N) Σ_n ‖g_n‖².
    Double backward. The first backward maps g_out ↦ g_in = J_lᵀ g_out layer by layer,
    with J_l the layer's (constant, for piecewise-linear D) Jacobian. Walk it in reverse,
    i.e. through the layers in forward order, carrying r_l = ∂R1/∂g_in of layer l:
      r = (γ/N)·g                                                  (at D's input)
      linear layer W:   ∂R1/∂W += ∂/∂W ⟨J(W) r, g_out⟩ = the weight gradient of a bias-free
                        copy of the layer fed r forward and g_out backward;
                        r ← J(W) r  (that copy's output)
      (Leaky)ReLU:      r ← r ⊙ s  (s constant a.e.: φ'' = 0 off the kink)
      Flatten/Reshape:  r ← reshape(r)
    ∂R1/∂b = 0 for every bias (the Jacobians do not depend on it). For an equalized layer
    ∂R1/∂Ŵ = c·∂R1/∂W.

    Shapes: x_real (N, …) → R1 0-d; D's ``grads["<i>.W"]`` get ∂R1/∂Ŵ (+=).

    Returns (r1, sq_norms): the 0-d penalty and the (N,) array ‖g_n‖².

    Derivation: derivations/08_stylegan.md#r1-the-double-backward
    """
    if not gamma >= 0:
        raise ValueError(f"r1_penalty needs γ ≥ 0, got {gamma}")
    layers = _d_layers(D, x_real)
    _, g, record = d_input_gradient(D, x_real)
    N = x_real.shape[0]
    sq = (g * g).reshape(N, -1).sum(axis=1)                          # (N,)
    r1 = (gamma / 2) * sq.mean()
    r = g * g.dtype.type(gamma / N)                                   # ∂R1/∂g
    for layer, rec in zip(layers, record):
        if isinstance(layer, _LINEAR):
            twin, coef = _bias_free_twin(layer)
            r_next = twin.forward(r)                                  # J(W) r
            twin.backward(rec["g_out"], need_dx=False)                # ∂⟨J(W) r, g_out⟩/∂W
            layer.grads["W"] += twin.grads["W"].dtype.type(coef) * twin.grads["W"]
            r = r_next
        elif isinstance(layer, LeakyReLU):
            r = r * rec["slope"]
        else:
            r = r.reshape(rec["out_shape"])
    return r1, sq


# -- style mixing and the moving average of w --------------------------------------------
def draw_mixing(rng, n, latent_dim, num_styles, prob=MIXING_PROB, dtype="float32"):
    """Style-mixing regularisation for one minibatch: (z2, cutoff), or (None, None).

    With probability ``prob`` draw a second latent batch z₂ and a cutoff uniform in
    {1, …, L − 1}: slots below it take w₁ = f(z₁), the others w₂ = f(z₂) (one cutoff per
    minibatch, like the official ``G_style``). Two numbers are drawn either way, so the
    generator advances the same way whatever the outcome.
    """
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"draw_mixing: prob must be in [0, 1], got {prob}")
    u, cutoff = rng.random(), int(rng.integers(1, num_styles)) if num_styles > 1 else None
    if num_styles < 2 or u >= prob:
        return None, None
    xp = backend.xp()
    return xp.asarray(rng.standard_normal((n, latent_dim))).astype(dtype), cutoff


def update_w_avg(G, beta=W_AVG_BETA):
    """w̄ ← β·w̄ + (1 − β)·mean f(z) of G's last forward (the official ``dlatent_avg``)."""
    if G.w_mean is None:
        raise RuntimeError("update_w_avg: G has not run a forward yet")
    G.w_avg *= G.w_avg.dtype.type(beta)
    G.w_avg += G.w_avg.dtype.type(1 - beta) * G.w_mean


# -- the two update steps ------------------------------------------------------------------
def stylegan_optimizers(G, D, lr=LR, betas=BETAS):
    """Adam(lr, β = (0, 0.99), ε = 1e-8) for each network: the official setting."""
    return Adam(G, lr=lr, betas=betas, eps=1e-8), Adam(D, lr=lr, betas=betas, eps=1e-8)


def update_d(G, D, x_real, z, noise, opt_D, z2=None, cutoff=None, r1_gamma=R1_GAMMA):
    """One step of D: the logistic loss on real and fake, plus R1 on the real batch.

    1. D.zero_grad(); x̃ = G(z [, z2, cutoff], noise) is a constant here (made under
       ``no_grad(G)``: no cache).
    2. Real batch: forward, backward of mean softplus(−D(x)) (grads accumulate).
    3. Fake batch: forward, backward of mean softplus(D(x̃)).
    4. R1 on the real batch: :func:`r1_penalty` adds ∂R1/∂θ_D (its own forward/backward).
    5. opt_D.step().

    Returns a dict of 0-d arrays: ``loss_D`` (logistic loss + R1), ``r1``, ``D_real`` and
    ``D_fake`` (mean probabilities).
    """
    D.zero_grad()
    with no_grad(G):  # G's output is a constant in D's step: no cache
        x_fake = G.forward(z, noise, z2=z2, cutoff=cutoff)
    real = D.forward(x_real)
    xp = backend.get_array_module(real)
    loss_r, d_r = bce_with_logits(real, xp.ones_like(real))
    D.backward(d_r, need_dx=False)
    fake = D.forward(x_fake)
    loss_f, d_f = bce_with_logits(fake, xp.zeros_like(fake))
    D.backward(d_f, need_dx=False)
    r1 = r1_penalty(D, x_real, r1_gamma)[0] if r1_gamma else xp.zeros((), real.dtype)
    opt_D.step()
    return {"loss_D": loss_r + loss_f + r1, "r1": r1, "D_real": d_r.sum() + 1,
            "D_fake": d_f.sum()}


def update_g(G, D, z, noise, opt_G, z2=None, cutoff=None, w_avg_beta=W_AVG_BETA):
    """One step of G through D on the non-saturating loss; then the moving average of w.

    1. G.zero_grad(); x̃ = G(z [, z2, cutoff], noise); a = D(x̃).
    2. L_G = mean softplus(−a); backward through D *frozen*, then through G.
    3. opt_G.step(); w̄ ← β w̄ + (1 − β) mean f(z).

    Returns a dict of 0-d arrays: ``loss_G`` and ``D_fake``.
    """
    G.zero_grad()
    x_fake = G.forward(z, noise, z2=z2, cutoff=cutoff)
    logits = D.forward(x_fake)
    loss, d = g_nonsaturating_loss(logits)
    with frozen(D):
        dx = D.backward(d)
    G.backward(dx)
    opt_G.step()
    if w_avg_beta is not None:
        update_w_avg(G, w_avg_beta)
    return {"loss_G": loss, "D_fake": (d.sum() + 1)}


# -- training -----------------------------------------------------------------------------
@dataclass
class StyleGANHistory(History):
    """:class:`tinygan.train.History` plus the R1 penalty of each D step."""

    r1: list = field(default_factory=list)


def fit_stylegan(G, D, sample_real, opt_G, opt_D, num_steps, batch_size, rng,
                 r1_gamma=R1_GAMMA, mixing_prob=MIXING_PROB, w_avg_beta=W_AVG_BETA,
                 progress=False, callback=None, history=None):
    """Train a StyleGAN: one D step then one G step per iteration, each with fresh draws.

    Every random number comes from ``rng``, in a fixed order per step: D's latent batch,
    its mixing draw and noise; then G's latent batch, mixing draw and noise. Real batches
    come from ``sample_real(m)``. Returns a :class:`StyleGANHistory` (``D_real``/``D_fake``
    are mean probabilities, ``loss_D`` includes R1). Raises
    :class:`tinygan.train.TrainingDiverged` on a non-finite loss.
    """
    if num_steps < 0 or batch_size < 1:
        raise ValueError(f"fit_stylegan needs num_steps ≥ 0 and batch_size ≥ 1; got "
                         f"{num_steps}, {batch_size}")
    history = history if history is not None else StyleGANHistory()
    xp = backend.get_array_module(G.w_avg)
    dtype = G.w_avg.dtype
    L, Dz = G.num_styles, G.latent_dim

    def draws():
        z = xp.asarray(rng.standard_normal((batch_size, Dz))).astype(dtype)
        z2, cutoff = draw_mixing(rng, batch_size, Dz, L, mixing_prob, dtype)
        return z, G.draw_noise(batch_size, rng), z2, cutoff

    steps = range(num_steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="StyleGAN", unit="step", leave=False)
    start = len(history)
    # what became non-finite, where (a loss, Adam's v, a layer's input): tinygan.train's
    # Watch, shared with fit and fit_wgan
    watch = Watch({"G": G, "D": D}, {"G": opt_G, "D": opt_D})
    step, phase, x_real = start, "discriminator step", None
    try:
        for i in steps:
            step = start + i
            phase = "discriminator step"
            x_real = sample_real(batch_size)
            z, noise, z2, cutoff = draws()
            d = update_d(G, D, x_real, z, noise, opt_D, z2=z2, cutoff=cutoff,
                         r1_gamma=r1_gamma)
            phase, x_real = "generator step", None
            z, noise, z2, cutoff = draws()
            g = update_g(G, D, z, noise, opt_G, z2=z2, cutoff=cutoff, w_avg_beta=w_avg_beta)
            history.loss_D.append(watch.loss(step, "discriminator loss (logistic + R1)",
                                             d["loss_D"]))
            history.loss_G.append(watch.loss(step, "generator loss", g["loss_G"]))
            watch.state(step)
            history.D_real.append(float(d["D_real"]))
            history.D_fake.append(float(d["D_fake"]))
            history.r1.append(float(d["r1"]))
            if callback is not None:
                callback(step, history)
    except NonFiniteInputError as exc:
        raise watch.layer(step, phase, exc, data=x_real) from exc
    finally:
        # as in tinygan.train.fit: a step cut short (an error, Ctrl-C) leaves caches no
        # backward will consume; drop them so that G and D train again (a notebook cell
        # run again); after a complete step they are empty anyway
        G.clear_cache()
        D.clear_cache()
    return history
