"""Wasserstein GANs: the critic losses, weight clipping, and the gradient penalty.

* WGAN (Arjovsky, Chintala & Bottou 2017): a critic f (no sigmoid) maximises
  mean f(x) − mean f(G(z)); G minimises −mean f(G(z)). f must stay (roughly)
  Lipschitz, which WGAN enforces by clipping every weight to [−c, c] after each critic
  step (RMSProp lr 5e-5, c = 0.01, n_critic = 5).
* WGAN-GP (Gulrajani et al. 2017): instead of clipping, add
  λ · mean_n (‖∇ₓ f(x̂_n)‖ − 1)² at random interpolates x̂ = εx + (1 − ε)x̃
  (λ = 10, Adam lr 1e-4, β = (0, 0.9), n_critic = 5; papers.md §5).

The gradient penalty depends on a *gradient*, so its gradient with respect to the
critic's weights is a second derivative: the backward of the backward. Autograd
frameworks get it from ``create_graph=True``; here it is written by hand for an MLP
critic built from Dense and (Leaky)ReLU layers, in :func:`gradient_penalty`.

Derivation: derivations/05_wgan_gp_double_backward.md
"""

from __future__ import annotations

from .. import backend
from ..layers.activations import LeakyReLU
from ..layers.base import NonFiniteInputError, frozen
from ..layers.dense import Dense
from ..losses import _check_logits
from ..train import History, Watch, _check_rows, fake_batch

__all__ = [
    "critic_loss", "generator_loss_wasserstein", "clip_weights", "interpolate",
    "critic_input_gradient", "gradient_penalty", "update_critic", "update_generator",
    "fit_wgan",
]


# -- losses ---------------------------------------------------------------------------
def critic_loss(real_scores, fake_scores):
    """The critic's loss, to be *minimised*: mean f(x̃) − mean f(x).

    Math
    ----
    L = (1/M) Σ_j f(x̃_j) − (1/N) Σ_i f(x_i)
    ∂L/∂f(x_i) = −1/N,   ∂L/∂f(x̃_j) = 1/M

    Shapes: real_scores (N, 1), fake_scores (M, 1) → 0-d loss and gradients of the
    same shapes. Reduction: mean over each batch.

    Returns (loss, d_real, d_fake).

    Derivation: derivations/05_wgan_gp_double_backward.md#wasserstein-losses
    """
    _check_logits("critic_loss", real_scores)
    _check_logits("critic_loss", fake_scores)
    xp = backend.get_array_module(real_scores)
    loss = fake_scores.mean() - real_scores.mean()
    d_real = xp.full_like(real_scores, -1.0 / real_scores.size)
    d_fake = xp.full_like(fake_scores, 1.0 / fake_scores.size)
    return loss, d_real, d_fake


def generator_loss_wasserstein(fake_scores):
    """G's loss: −mean f(G(z)); gradient −1/M per score.

    Math
    ----
    L_G = −(1/M) Σ_j f(x̃_j),   ∂L_G/∂f(x̃_j) = −1/M

    Derivation: derivations/05_wgan_gp_double_backward.md#wasserstein-losses
    """
    _check_logits("generator_loss_wasserstein", fake_scores)
    xp = backend.get_array_module(fake_scores)
    return -fake_scores.mean(), xp.full_like(fake_scores, -1.0 / fake_scores.size)


def clip_weights(model, c):
    """Clip every parameter of ``model`` to [−c, c] in place (WGAN's Lipschitz constraint)."""
    if not c > 0:
        raise ValueError(f"clip_weights needs c > 0, got {c}")
    for p in model.params.values():
        xp = backend.get_array_module(p)
        xp.clip(p, -c, c, out=p)
    return model


def interpolate(x_real, x_fake, rng):
    """x̂ = εx + (1 − ε)x̃ with one ε ~ U(0, 1) per sample; returns (x̂, ε)."""
    if x_real.shape != x_fake.shape:
        raise ValueError(f"interpolate: real and fake batches differ in shape, "
                         f"{tuple(x_real.shape)} vs {tuple(x_fake.shape)}")
    xp = backend.get_array_module(x_real)
    eps = xp.asarray(rng.random((x_real.shape[0], 1))).astype(x_real.dtype)
    return eps * x_real + (1 - eps) * x_fake, eps


# -- the gradient penalty and its double backward ---------------------------------------
def _mlp_layers(critic, x):
    """The critic's layers, checked: Dense and (Leaky)ReLU only, one output unit."""
    layers = list(getattr(critic, "layers", [critic]))
    for i, layer in enumerate(layers):
        if not isinstance(layer, (Dense, LeakyReLU)):
            raise TypeError(
                f"gradient_penalty: layer {i} of the critic is {layer!r}; the hand-written "
                "double backward covers MLP critics of Dense and ReLU/LeakyReLU layers only")
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    if not dense or dense[-1].out_features != 1 or not isinstance(layers[-1], Dense):
        raise ValueError(f"gradient_penalty: the critic must end in a Dense(…→1), got {critic!r}")
    if x.ndim != 2 or x.shape[1] != dense[0].in_features:
        raise ValueError(f"gradient_penalty expected x̂ of shape (N, {dense[0].in_features}), "
                         f"got {tuple(x.shape)}")
    if x.dtype != dense[0].params["W"].dtype:
        raise ValueError(f"gradient_penalty: x̂ is {x.dtype} but the critic's weights are "
                         f"{dense[0].params['W'].dtype}")
    return layers


def critic_input_gradient(critic, x):
    """∇ₓ f(x) for each row of x, plus what the double backward needs.

    Math
    ----
    Forward (without touching the layers' caches):  a_l = h_{l−1} W_l + b_l,
    h_l = φ(a_l) = s_l ⊙ a_l with slopes s_l = 1 where a_l > 0, α elsewhere.
    Backward of Σ_n f(x_n) (rows are independent, so row n is ∇ f(x_n)):
    g_{a_L} = 1;  g_{h_{l−1}} = g_{a_l} W_lᵀ;  g_{a_{l−1}} = g_{h_{l−1}} ⊙ s_{l−1};  g_x = g_{h_0}.

    Shapes: x (N, D) → scores (N, 1), g_x (N, D).

    Returns (scores, g_x, slopes, g_out) where ``slopes`` lists s_l per activation
    layer and ``g_out`` lists g_{a_l} per Dense layer, in layer order.

    Derivation: derivations/05_wgan_gp_double_backward.md#first-backward
    """
    layers = _mlp_layers(critic, x)
    xp = backend.get_array_module(x)
    slopes, h = [], x
    for layer in layers:
        if isinstance(layer, Dense):
            h = h @ layer.params["W"]
            if "b" in layer.params:
                h = h + layer.params["b"]
        else:  # (Leaky)ReLU: the left slope α at 0, as LeakyReLU.forward
            s = (h > 0) * x.dtype.type(1 - layer.alpha) + x.dtype.type(layer.alpha)
            slopes.append(s)
            h = h * s
    scores = h
    g, g_out, si = xp.ones_like(scores), [], len(slopes)
    for layer in reversed(layers):
        if isinstance(layer, Dense):
            g_out.append(g)
            g = g @ layer.params["W"].T
        else:
            si -= 1
            g = g * slopes[si]
    g_out.reverse()
    return scores, g, slopes, g_out


def gradient_penalty(critic, x_hat, lam=10.0):
    """WGAN-GP's penalty; ACCUMULATES its gradient w.r.t. the critic's weights into ``grads``.

    Math
    ----
    g_n = ∇ₓ f(x̂_n),   P = λ · (1/N) Σ_n (‖g_n‖ − 1)²
    Double backward (φ'' = 0 almost everywhere for piecewise-linear φ, so the slopes
    s_l are constants and x̂ and the biases do not move P):
      δ_0 = ∂P/∂g = (2λ/N) (‖g_n‖ − 1) g_n / ‖g_n‖            (row n; 0 where g_n = 0)
      for l = 1 … L:  ∂P/∂W_l = δ_{l−1}ᵀ g_{a_l};   δ_l = (δ_{l−1} W_l) ⊙ s_l
      ∂P/∂b_l = 0.

    Shapes: x̂ (N, D) → P 0-d; ``critic.grads["<i>.W"]`` gets ∂P/∂W_l (+=).

    Returns (P, grad_norms): the 0-d penalty and the (N,) array of ‖g_n‖.

    Cache: none; the critic's own layer caches are left untouched.

    Derivation: derivations/05_wgan_gp_double_backward.md#double-backward
    """
    if not lam >= 0:
        raise ValueError(f"gradient_penalty needs λ ≥ 0, got {lam}")
    xp = backend.get_array_module(x_hat)
    _, g, slopes, g_out = critic_input_gradient(critic, x_hat)
    N = x_hat.shape[0]
    norms = xp.sqrt((g * g).sum(axis=1))  # (N,)
    penalty = lam * ((norms - 1) ** 2).mean()
    safe = xp.where(norms > 0, norms, 1)
    delta = (2 * lam / N) * ((norms - 1) / safe)[:, None] * g  # (N, D) = ∂P/∂g
    di = si = 0
    for layer in _mlp_layers(critic, x_hat):
        if isinstance(layer, Dense):
            layer.grads["W"] += delta.T @ g_out[di]
            delta = delta @ layer.params["W"]
            di += 1
        else:
            delta = delta * slopes[si]
            si += 1
    return penalty, norms


# -- training ----------------------------------------------------------------------------
def update_critic(G, C, x_real, z, opt_C, clip=None, gp_lambda=None, rng=None):
    """One critic step: minimise mean f(G(z)) − mean f(x) [+ gradient penalty].

    1. C.zero_grad(); x̃ = G(z) is a constant here (:func:`tinygan.train.fake_batch`).
    2. Real batch: forward, backward with −1/N (grads accumulate).
    3. Fake batch: forward, backward with +1/M.
    4. WGAN-GP: x̂ = εx + (1 − ε)x̃ and :func:`gradient_penalty` adds ∂P/∂W.
    5. opt_C.step(); WGAN: clip every weight to [−clip, clip].

    Returns a dict with ``loss_C`` (including the penalty), ``wdist`` (mean f(x) −
    mean f(x̃), the critic's estimate of the Wasserstein distance) and ``penalty``.
    """
    C.zero_grad()
    x_fake = fake_batch(G, z)  # a constant: no cache, G's running statistics untouched
    real = C.forward(x_real)
    # Two forward/backward pairs, each consuming its own cache (papers.md §9).
    xp = backend.get_array_module(real)
    C.backward(xp.full_like(real, -1.0 / real.size), need_dx=False)  # ∂L/∂f(x_i)
    fake = C.forward(x_fake)
    loss, _, d_fake = critic_loss(real, fake)
    C.backward(d_fake, need_dx=False)  # x̃ is a constant in the critic's step
    penalty = 0.0
    if gp_lambda:
        if rng is None:
            raise ValueError("update_critic: the gradient penalty needs an rng for ε")
        x_hat, _ = interpolate(x_real, x_fake, rng)
        penalty, _ = gradient_penalty(C, x_hat, gp_lambda)
    opt_C.step()
    if clip:
        clip_weights(C, clip)
    return {"loss_C": loss + penalty, "wdist": -loss, "penalty": penalty,
            "real": real.mean(), "fake": fake.mean()}


def update_generator(G, C, z, opt_G):
    """One generator step through the critic: minimise −mean f(G(z)).

    The gradient flows *through* C into G; C is ``frozen`` (its parameters are constants
    here, so their gradients are not computed).
    """
    G.zero_grad()
    scores = C.forward(G.forward(z))
    loss, d = generator_loss_wasserstein(scores)
    with frozen(C):
        G.backward(C.backward(d))
    opt_G.step()
    return {"loss_G": loss}


def fit_wgan(G, C, sample_real, sample_noise, opt_G, opt_C, num_steps, batch_size,
             n_critic=5, clip=None, gp_lambda=None, seed=0, progress=False, callback=None,
             history=None, rng=None):
    """Train a WGAN (``clip=c``) or a WGAN-GP (``gp_lambda=λ``): n_critic critic steps per G step.

    The returned :class:`tinygan.train.History` stores the critic loss in ``loss_D``,
    G's loss in ``loss_G`` and the mean critic scores of real and fake batches in
    ``D_real``/``D_fake`` (scores, not probabilities). ``rng`` draws the penalty's ε
    (default ``backend.rng(seed)``; pass your own to checkpoint it). ``history``
    continues a run. Raises :class:`tinygan.train.TrainingDiverged` naming the step and
    what became non-finite (a loss, optimizer state, a layer's input), as ``fit`` does.
    """
    if n_critic < 1 or num_steps < 0 or batch_size < 1:
        raise ValueError(f"fit_wgan needs n_critic ≥ 1, num_steps ≥ 0, batch_size ≥ 1; got "
                         f"{n_critic}, {num_steps}, {batch_size}")
    if (clip is None) == (gp_lambda is None):
        raise ValueError("fit_wgan: give exactly one of clip (WGAN) or gp_lambda (WGAN-GP)")
    history = history if history is not None else History()
    gen = rng if rng is not None else backend.rng(seed)
    watch = Watch({"G": G, "critic": C}, {"G": opt_G, "critic": opt_C})
    steps = range(num_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(steps, desc="WGAN-GP" if gp_lambda else "WGAN", unit="step", leave=False)
        steps = bar
    start = len(history)
    step, phase, x = start, "critic step", None
    try:
        for i in steps:
            step = start + i
            phase = "critic step"
            stats = []
            for _ in range(n_critic):
                x, z = sample_real(batch_size), sample_noise(batch_size)
                if i == 0:
                    _check_rows("sample_real", x, batch_size)
                    _check_rows("sample_noise", z, batch_size)
                stats.append(update_critic(G, C, x, z, opt_C, clip=clip, gp_lambda=gp_lambda,
                                           rng=gen))
            loss_C = sum(watch.loss(step, "critic loss", s["loss_C"]) for s in stats) / n_critic
            phase, x = "generator step", None
            g = update_generator(G, C, sample_noise(batch_size), opt_G)
            loss_G = watch.loss(step, "Wasserstein generator loss", g["loss_G"])
            watch.state(step)
            history.loss_D.append(loss_C)
            history.loss_G.append(loss_G)
            history.D_real.append(sum(float(s["real"]) for s in stats) / n_critic)
            history.D_fake.append(sum(float(s["fake"]) for s in stats) / n_critic)
            if callback is not None:
                callback(step, history)
    except NonFiniteInputError as exc:
        raise watch.layer(step, phase, exc, data=x) from exc
    finally:
        # a step cut short (an error, Ctrl-C) leaves caches no backward will consume; drop
        # them so that the models can be used again (after a complete step they are empty)
        G.clear_cache()
        C.clear_cache()
        if bar is not None:
            bar.close()
    return history
