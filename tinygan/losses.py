"""Losses. Each returns ``(loss, gradient)``; every reduction is a **mean** over all elements.

``loss`` is a 0-d array on the inputs' backend (no host sync); ``float(loss)`` is
the explicit host copy. The GAN losses take D's *logits* a (D(x) = σ(a)), never
probabilities: the stable forms below need no clipping and stay finite for
a = ±1000.

Derivations: derivations/01_backprop_dense_sigmoid_bce.md#binary-cross-entropy and
derivations/00_gan_objective.md.
"""

from __future__ import annotations

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
    "softmax_cross_entropy",
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

    Shapes: a, y: any, equal. Returns (loss: 0-d, da: like a).

    Derivation: derivations/01_backprop_dense_sigmoid_bce.md#why-dl-dlogit-is-sigmoid-minus-y
    """
    _check_pair("bce_with_logits", a, y)
    xp = backend.get_array_module(a, y)
    n = a.size
    loss = (xp.maximum(a, 0) - a * y + xp.log1p(xp.exp(-xp.abs(a)))).sum() / n
    da = (sigmoid(a) - y) / n
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

    Returns (loss, d_fake_logits).
    """
    _check_logits("generator_loss_minimax", fake_logits)
    n = fake_logits.size
    return -softplus(fake_logits).sum() / n, -sigmoid(fake_logits) / n


def generator_loss_nonsaturating(fake_logits):
    """The generator's non-saturating cost −log D(G(z)), mean over the batch.

    Math
    ----
    L_G = −(1/m) Σ log D(G(z_i)) = mean softplus(−a)
    dL_G/da = −(1 − σ(a))/m = −(1 − D)/m

    Same fixed point as the minimax cost, but the gradient is largest exactly
    when D rejects the fakes.

    Returns (loss, d_fake_logits).
    """
    _check_logits("generator_loss_nonsaturating", fake_logits)
    n = fake_logits.size
    return softplus(-fake_logits).sum() / n, -sigmoid(-fake_logits) / n


GENERATOR_LOSSES = {
    "minimax": generator_loss_minimax,
    "nonsaturating": generator_loss_nonsaturating,
}


def generator_loss(fake_logits, kind="nonsaturating"):
    """Dispatch on the name of a generator cost (see :data:`GENERATOR_LOSSES`)."""
    try:
        fn = GENERATOR_LOSSES[kind]
    except KeyError:
        raise ValueError(f"unknown generator loss {kind!r}; expected one of "
                         f"{sorted(GENERATOR_LOSSES)}") from None
    return fn(fake_logits)


# -- multi-class classification (issue 4: the digit classifier behind the DCGAN metrics) --
def softmax_cross_entropy(logits, labels):
    """Softmax cross-entropy on logits with integer class labels, mean over the batch.

    Math
    ----
    p_n = softmax(z_n),  computed as exp(z_n − max z_n) / Σ_k exp(z_nk − max z_n)
    L = −(1/N) Σ_n log p_n[y_n] = (1/N) Σ_n (logsumexp(z_n) − z_n[y_n])
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
    rows = xp.arange(N)
    z = logits - logits.max(axis=1, keepdims=True)            # (N, K), max entry 0
    e = xp.exp(z)
    s = e.sum(axis=1, keepdims=True)                          # (N, 1), in [1, K]
    loss = (xp.log(s[:, 0]) - z[rows, labels]).sum() / N
    dlogits = e / s                                           # p
    dlogits[rows, labels] -= 1                                # p − onehot(y)
    dlogits /= N
    return loss, dlogits
