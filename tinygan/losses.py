"""Losses. Each returns ``(loss, gradient)``; every reduction is a **mean** over all elements.

``loss`` is a 0-d array on the inputs' backend (no host sync); ``float(loss)`` is
the explicit host copy. The GAN losses take D's *logits* a (D(x) = σ(a)), never
probabilities: the stable forms below need no clipping and stay finite for
a = ±1000.

Derivations: derivations/01_backprop_dense_sigmoid_bce.md#binary-cross-entropy and
derivations/00_gan_objective.md.
"""

from __future__ import annotations

import math

from . import backend
from .layers.activations import sigmoid

__all__ = [
    "softplus",
    "bce",
    "bce_with_logits",
    "discriminator_loss",
    "generator_loss_minimax",
    "generator_loss_nonsaturating",
    "generator_loss",
    "GENERATOR_LOSSES",
    "generator_loss_maximum_likelihood",
    "softmax_cross_entropy",
    "l1_loss",
    "least_squares_loss",
]


def _check_pair(name, a, b):
    for arg, v in (("first", a), ("second", b)):
        if not hasattr(v, "shape") or getattr(v, "dtype", None) is None or v.dtype.kind != "f":
            raise ValueError(f"{name}: {arg} argument must be a floating-point array, "
                             f"got {type(v).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"{name}: inputs and targets must have the same shape (no "
                         f"broadcasting), got {tuple(a.shape)} and {tuple(b.shape)}")


def _check_logits(name, a):
    if not hasattr(a, "shape") or getattr(a, "dtype", None) is None or a.dtype.kind != "f":
        raise ValueError(f"{name}: logits must be a floating-point array, got {type(a).__name__}")
    if a.size == 0:
        raise ValueError(f"{name}: logits are empty")


def softplus(a):
    """softplus(a) = log(1 + eᵃ) = max(a, 0) + log1p(e^(−|a|)), finite for every finite a."""
    xp = backend.get_array_module(a)
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))


def bce(p, y):
    """Binary cross-entropy on probabilities, mean over all N elements.

    Math
    ----
    L = −(1/N) Σ [y log p + (1 − y) log(1 − p)]
    dL/dp = (p − y) / (p (1 − p)) / N

    Probabilities must lie strictly inside (0, 1): we never clip with an epsilon
    (clipping biases the gradient). Where p comes from a sigmoid, prefer
    :func:`bce_with_logits`, which cannot saturate.

    Shapes: p, y: any, equal. Returns (loss: 0-d, dp: like p).
    """
    _check_pair("bce", p, y)
    xp = backend.get_array_module(p, y)
    if backend.checks_enabled() and not bool(((p > 0) & (p < 1)).all()):
        raise ValueError(
            f"bce: probabilities must lie strictly inside (0, 1), got min {float(p.min())}, "
            f"max {float(p.max())}; use bce_with_logits on D's logits instead"
        )
    n = p.size
    loss = -(y * xp.log(p) + (1 - y) * xp.log1p(-p)).sum() / n
    dp = (p - y) / (p * (1 - p)) / n
    return loss, dp


def bce_with_logits(a, y):
    """Binary cross-entropy on logits, mean over all N elements.

    Math
    ----
    With p = σ(a):  L = −(1/N) Σ [y log p + (1 − y) log(1 − p)]
                      = (1/N) Σ [max(a, 0) − a·y + log1p(e^(−|a|))]
    dL/da = (σ(a) − y) / N

    The second form never overflows and needs no clipping: finite for a = ±1000.

    Shapes: a: any; y: like a, or one number for every element (the GAN trainer's
    all-real batch is ``y = 1``, its all-fake batch ``y = 0``). Returns (loss: 0-d, da:
    like a).

    A number y gives the same bits as an array full of it: a·1 = a and a·0 = ±0 exactly,
    so for those two labels the product (and the − 0) is skipped, a third fewer array
    operations on the 2×2 toy's one-element batches.

    Derivation: derivations/01_backprop_dense_sigmoid_bce.md#why-dl-dlogit-is-sigmoid-minus-y
    """
    scalar = isinstance(y, (int, float)) and not isinstance(y, bool)
    if scalar:
        _check_logits("bce_with_logits", a)
    else:
        _check_pair("bce_with_logits", a, y)
    xp = backend.get_array_module(a) if scalar else backend.get_array_module(a, y)
    n = a.size
    e = xp.exp(-xp.abs(a))                # shared by the loss and by σ(a)
    pos = xp.maximum(a, 0)
    if scalar and y == 0:
        t = pos                           # max(a, 0) − a·0
    elif scalar and y == 1:
        t = pos - a                       # max(a, 0) − a·1
    else:
        t = pos - a * y
    loss = (t + xp.log1p(e)).sum() / n
    p = xp.exp(a - pos) / (1 + e)         # σ(a) = e^min(a,0)/(1 + e^−|a|), as sigmoid() has it
    da = p / n if scalar and y == 0 else (p - y) / n
    return loss, da


def discriminator_loss(real_logits, fake_logits):
    """The discriminator's loss: BCE with label 1 on real and 0 on fake, each a batch mean.

    Math
    ----
    L_D = −(1/m) Σ log D(x_i) − (1/m) Σ log(1 − D(G(z_i)))      (= −V(D, G) on the batch)
        = mean softplus(−a_real) + mean softplus(a_fake)
    dL_D/da_real = −(1 − σ(a_real))/m,   dL_D/da_fake = σ(a_fake)/m

    At D = ½ everywhere L_D = 2 log 2 ≈ 1.386.

    Returns (loss, d_real_logits, d_fake_logits).

    Derivation: derivations/00_gan_objective.md
    """
    _check_logits("discriminator_loss", real_logits)
    _check_logits("discriminator_loss", fake_logits)
    n_r, n_f = real_logits.size, fake_logits.size
    loss = softplus(-real_logits).sum() / n_r + softplus(fake_logits).sum() / n_f
    d_real = -sigmoid(-real_logits) / n_r
    d_fake = sigmoid(fake_logits) / n_f
    return loss, d_real, d_fake


def generator_loss_minimax(fake_logits):
    """The generator's minimax (saturating) cost of the 2014 paper, mean over the batch.

    Math
    ----
    L_G = (1/m) Σ log(1 − D(G(z_i))) = −mean softplus(a)
    dL_G/da = −σ(a)/m = −D/m

    When D rejects fakes confidently (D → 0) the gradient vanishes: G stalls.
    This is 2 × the tutorial's J(G) = ½ E log(1 − D(G(z))) (+ a constant in G).

    Returns (loss, d_fake_logits).

    Derivation: derivations/04_generator_losses.md#backward-the-gradient-with-respect-to-the-logit
    """
    _check_logits("generator_loss_minimax", fake_logits)
    n = fake_logits.size
    return -softplus(fake_logits).sum() / n, -sigmoid(fake_logits) / n


def generator_loss_nonsaturating(fake_logits, mean_prob=False):
    """The generator's non-saturating cost −log D(G(z)), mean over the batch.

    Math
    ----
    L_G = −(1/m) Σ log D(G(z_i)) = mean softplus(−a)
    dL_G/da = −(1 − σ(a))/m = −(1 − D)/m

    Same fixed point as the minimax cost, but the gradient is largest exactly
    when D rejects the fakes. This is 2 × the tutorial's J(G) = −½ E log D(G(z)).

    Returns (loss, d_fake_logits); with ``mean_prob=True`` also mean D(G(z)) = mean σ(a),
    from the same e^(−|a|) and 1 + e^(−|a|) (the bits of ``sigmoid(a).sum() / m``).

    Derivation: derivations/04_generator_losses.md#backward-the-gradient-with-respect-to-the-logit
    """
    _check_logits("generator_loss_nonsaturating", fake_logits)
    xp = backend.get_array_module(fake_logits)
    n = fake_logits.size
    # softplus(−a) and σ(−a) share e^(−|a|): softplus(−a) = max(a, 0) − a + log1p(e^(−|a|)),
    # σ(−a) = e^min(−a, 0)/(1 + e^(−|a|)) = e^(−max(a, 0))/(1 + e^(−|a|))
    e = xp.exp(-xp.abs(fake_logits))
    pos = xp.maximum(fake_logits, 0)
    loss = (pos - fake_logits + xp.log1p(e)).sum() / n
    one_e = 1 + e
    grad = -xp.exp(-pos) / (one_e * n)
    if not mean_prob:
        return loss, grad
    # σ(a) = e^min(a, 0)/(1 + e^(−|a|)), and a − max(a, 0) is min(a, 0) exactly
    return loss, grad, (xp.exp(fake_logits - pos) / one_e).sum() / n


GENERATOR_LOSSES = {
    "minimax": generator_loss_minimax,
    "nonsaturating": generator_loss_nonsaturating,
}


def generator_loss(fake_logits, kind="nonsaturating", mean_prob=False):
    """Dispatch on the name of a generator cost (see :data:`GENERATOR_LOSSES`).

    Returns (loss, d_fake_logits), and with ``mean_prob=True`` also mean D(G(z)) =
    mean σ(a) (the trainer's history; the non-saturating cost shares its exponentials).
    """
    try:
        fn = GENERATOR_LOSSES[kind]
    except KeyError:
        raise ValueError(f"unknown generator loss {kind!r}; expected one of "
                         f"{sorted(GENERATOR_LOSSES)}") from None
    if not mean_prob:
        return fn(fake_logits)
    if fn is generator_loss_nonsaturating:
        return fn(fake_logits, mean_prob=True)
    loss, grad = fn(fake_logits)
    return loss, grad, sigmoid(fake_logits).sum() / fake_logits.size


# --- The maximum-likelihood generator cost (NIPS 2016 tutorial §3.2.3) -------------------
#
# Scaling convention. The tutorial writes every cost with a ½ in front, because its
# discriminator cost J(D) = −½ E log D(x) − ½ E log(1 − D(G(z))) averages the real
# and the fake halves. Our losses are plain means without the ½:
#
#     discriminator_loss                 = 2·J(D)
#     generator_loss_minimax             = 2·J(G) + const   J(G) = −J(D); its real-data
#                                                           term is a constant in G
#     generator_loss_nonsaturating       = 2·J(G)           J(G) = −½ E log D(G(z))
#     generator_loss_maximum_likelihood  = 2·J(G)           J(G) = −½ E exp(σ⁻¹(D(G(z))))
#
# So every gradient we return is exactly twice the tutorial's, and the per-sample
# gradient m·dL/da is the un-halved −D, −(1 − D), −D/(1 − D) of papers.md §3. A
# factor 2 on all three costs changes no fixed point and no ratio between them.
# Derivation: derivations/04_generator_losses.md#scaling-ours-are-twice-the-tutorials


def generator_loss_maximum_likelihood(fake_logits):
    """The generator's maximum-likelihood cost −exp(σ⁻¹(D(G(z)))), mean over the batch.

    Math
    ----
    With D = σ(a), σ⁻¹(D) = a, so the cost is simply −eᵃ = −D/(1 − D):
    L_G = −(1/m) Σ exp(a_i)
    dL_G/da = −exp(a)/m = −D/(1 − D)/m

    The tutorial's J(G) = −½ E exp(σ⁻¹(D)) is half of this (our costs are plain
    means, see the note above). When D is the optimal discriminator, minimising
    this cost follows the gradient of KL(p_data ‖ p_g): maximum likelihood.
    Like the minimax cost it **saturates** when D rejects the fakes (D → 0 gives
    a gradient −D/(1 − D) ≈ −D → 0), and it is unbounded below as D → 1: nearly
    all of its gradient comes from the few samples D already believes.

    Overflow. No stable rewrite exists: the true value −eᵃ itself is not
    representable once a > log(max float) (709.78 in float64, 88.72 in float32).
    Rather than return −inf (and NaN further on) we raise a ValueError naming the
    largest logit. That check reads one number back from the device, so it is
    skipped inside ``backend.checks(False)`` (GPU inner loops); an overflow then
    gives a loss of −inf, on which :func:`tinygan.train.fit` stops.
    Very negative logits are fine: eᵃ underflows quietly to 0, the correct limit
    (a = −1000 gives cost 0 and gradient 0). Each sample's term is divided by m
    *before* summing, so a batch of logits each just under the limit does not
    overflow in the sum.

    Shapes: fake_logits: (m, 1) or any shape (mean over all m elements).
    Returns (loss: 0-d, d_fake_logits: like fake_logits).

    Derivation: derivations/04_generator_losses.md#maximum-likelihood
    """
    _check_logits("generator_loss_maximum_likelihood", fake_logits)
    xp = backend.get_array_module(fake_logits)
    # log of the largest float, computed in float64 (in float32 it would round up past it)
    limit = math.log(float(backend.numpy.finfo(fake_logits.dtype).max))
    # Reading the largest logit is a device→host sync: skipped under backend.checks(False),
    # where an overflow shows up as a loss of −inf instead, which fit() stops on.
    a_max = float(fake_logits.max()) if backend.checks_enabled() else -math.inf
    if not a_max <= limit:  # also catches NaN
        raise ValueError(
            "generator_loss_maximum_likelihood: exp(logit) overflows "
            f"{fake_logits.dtype}: the largest logit is {a_max}, the limit is {limit:.2f}. "
            "The maximum-likelihood cost −exp(a) is unbounded below as D(G(z)) → 1; lower "
            "the learning rate, or use the non-saturating cost."
        )
    n = fake_logits.size
    e_over_n = xp.exp(fake_logits) / n  # each ≤ max/n: the sum stays finite
    return -e_over_n.sum(), -e_over_n


GENERATOR_LOSSES["maximum_likelihood"] = generator_loss_maximum_likelihood


# -- multi-class classification (issue 4: the digit classifier behind the DCGAN metrics) --
def softmax_cross_entropy(logits, labels):
    """Softmax cross-entropy on logits with integer class labels, mean over the batch.

    Math
    ----
    p_n = softmax(z_n),  computed as exp(z_n − max z_n) / Σ_k exp(z_nk − max z_n)
    L = −(1/N) Σ_n log p_n[y_n] = (1/N) Σ_n (logsumexp(z_n) − z_n[y_n]),
        logsumexp(z_n) = max z_n + log1p(Σ_{k ≠ argmax} exp(z_nk − max z_n))  (no overflow)
    dL/dz = (p − onehot(y)) / N
    The full softmax Jacobian diag(p) − ppᵀ, contracted with −onehot(y)/p, collapses
    to p − onehot(y); keeping only its diagonal p(1 − p) would be wrong.

    Shapes
    ------
    logits: (N, K) floating;  labels: (N,) integer class indices in [0, K)
    returns: (loss 0-d array, dlogits (N, K) with the logits' dtype)

    Derivation: derivations/03_transposed_convolution.md#softmax-cross-entropy
    """
    name = "softmax_cross_entropy"
    _check_logits(name, logits)
    if logits.ndim != 2:
        raise ValueError(f"{name}: logits must have shape (N, K) (one row of class scores "
                         f"per example), got {tuple(logits.shape)}")
    xp = backend.get_array_module(logits)
    if not hasattr(labels, "dtype"):
        labels = backend.numpy.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{name}: labels must be integer class indices, got dtype "
                         f"{labels.dtype} (use labels.astype(int), not one-hot rows)")
    N, K = logits.shape
    if tuple(labels.shape) != (N,):
        raise ValueError(f"{name}: labels must have shape (N,) = ({N},) to match logits "
                         f"{tuple(logits.shape)}, got {tuple(labels.shape)}")
    labels = xp.asarray(labels)
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= K:
        raise ValueError(f"{name}: labels must lie in [0, {K}) for {K} classes, got values "
                         f"from {lo} to {hi}")
    rows, top = xp.arange(N), logits.argmax(axis=1)
    z = logits - logits[rows, top][:, None]                   # (N, K), z[n, top_n] = 0
    e = xp.exp(z)                                             # in (0, 1], no overflow
    # logsumexp(z_n) = log(1 + t_n) with t_n the sum over the other classes; log1p keeps
    # its digits when the model is confident (t_n ≈ 1e-9 would vanish in log(1 + t_n))
    e[rows, top] = 0
    t = e.sum(axis=1)                                         # (N,)
    e[rows, top] = 1
    loss = (xp.log1p(t) - z[rows, labels]).sum() / N
    dlogits = e / (1 + t)[:, None]                            # p
    dlogits[rows, labels] -= 1                                # p − onehot(y)
    dlogits /= N
    return loss, dlogits


# -- regression losses (issue 12: CycleGAN's cycle and identity terms, LSGAN) ---------------
def l1_loss(x, target):
    """Mean absolute error, PyTorch's ``nn.L1Loss()`` (CycleGAN's cycle and identity losses).

    Math
    ----
    L = (1/N) Σ |x − t|
    dL/dx = sign(x − t)/N     (0 where x = t: the subgradient PyTorch uses)

    The L1 distance, not the squared one: it is what CycleGAN's cycle loss measures, and
    its gradient does not shrink as F(G(x)) nears x, so small residual errors keep a full
    pull (a squared loss would let them fade and blur the reconstruction).

    Shapes: x, target: any, equal (no broadcasting). Returns (loss: 0-d, dx: like x).
    The gradient with respect to ``target`` is −dx (the cycle loss's target is data).

    Derivation: derivations/07_cyclegan.md#l1-cycle-and-identity-losses
    """
    _check_pair("l1_loss", x, target)
    xp = backend.get_array_module(x, target)
    diff = x - target
    n = x.size
    return xp.abs(diff).sum() / n, xp.sign(diff) / n


def least_squares_loss(pred, target):
    """Mean squared error, PyTorch's ``nn.MSELoss()``: the least-squares GAN loss.

    Math
    ----
    L = (1/N) Σ (p − t)²
    dL/dp = 2(p − t)/N

    LSGAN (Mao et al. 2017) replaces the cross-entropy on D's logit by this loss on D's
    raw output, with targets b = 1 for real, a = 0 for fake and c = 1 for G; CycleGAN
    trains with it. ``target`` is an array of the shape of ``pred`` (no broadcasting);
    :mod:`tinygan.gans.lsgan` builds the discriminator's and generator's losses on it.

    Shapes: pred, target: any, equal. Returns (loss: 0-d, dpred: like pred).

    Derivation: derivations/07_cyclegan.md#the-least-squares-gan-loss
    """
    _check_pair("least_squares_loss", pred, target)
    diff = pred - target
    n = pred.size
    return (diff * diff).sum() / n, diff * (2 / n)
