# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Saturation: why G trains on −log D(G(z))
#
# The GAN paper's value function asks G to **minimise** $\log(1 - D(G(z)))$. Early in
# training G's samples are poor, D rejects them with confidence, $D(G(z)) \approx 0$, and
# there $\log(1-D)$ is flat: G receives almost no gradient exactly when it needs it most.
# The paper's remedy (and what its code actually did) is to let G **maximise**
# $\log D(G(z))$ instead. Goodfellow's NIPS 2016 tutorial adds a third cost, one whose
# gradient is that of maximum likelihood.
#
# In this notebook we write the three costs down, derive what each one sends back to D's
# logit, check those gradients numerically, and then watch them act: a D trained ahead
# until it rejects the fakes, and G trained with each cost from exactly the same start.
#
# The derivation behind every formula: `derivations/04_generator_losses.md`.

# %%
import os

import numpy as np

import tinygan as tg
from tinygan.experiments import saturation as sat
from tinygan.gradcheck import check_function

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"  # 100 G steps per run instead of 300

# %% [markdown]
# ## 1. Three costs, as functions of D's logit
#
# D returns a logit $a$, and $D = \sigma(a)$. Writing each cost as a function of $a$ keeps it
# stable (no $\log 0$), and makes its derivative one line of chain rule with
# $d\sigma/da = D(1-D)$:
#
# | cost | per sample $c$ | in the logit | $c'(a) = \partial c/\partial a$ |
# |---|---|---|---|
# | minimax | $\log(1-D)$ | $-\operatorname{softplus}(a)$ | $\frac{-D(1-D)}{1-D} = -D$ |
# | non-saturating | $-\log D$ | $\operatorname{softplus}(-a)$ | $\frac{-D(1-D)}{D} = -(1-D)$ |
# | maximum likelihood | $-\exp(\sigma^{-1}(D))$ | $-e^{a}$ | $-e^{a} = -\frac{D}{1-D}$ |
#
# The library's losses return the batch **mean** $L_G = \frac1m\sum_i c(a_i)$ and
# $\partial L_G/\partial a_i = c'(a_i)/m$.
#
# **A factor of 2.** The tutorial writes $J^{(G)} = -\tfrac12\mathbb E\log D(G(z))$ and so on: a ½
# on every cost. tinygan's losses are plain means, so each of ours is $2J^{(G)}$. A common
# factor moves no minimum, and it makes our per-sample gradients the un-halved $-D$,
# $-(1-D)$, $-D/(1-D)$ quoted from the tutorial.
#
# All three $c'$ are negative: every cost pushes each fake towards where D says "real".
# They differ in **how hard**. At the left end, $D \to 0$, the minimax and ML weights vanish
# with $D$, and the non-saturating weight tends to 1:

# %%
costs = sat.COSTS
losses = tg.losses.GENERATOR_LOSSES
print(f"{'D(G(z))':>8}  " + "  ".join(f"{c:>18}" for c in costs))
for d in (0.001, 0.01, 0.5, 0.9):
    a = np.array([[np.log(d / (1 - d))]])              # the logit σ⁻¹(D)
    grads = [float(losses[c](a)[1][0, 0]) for c in costs]  # batch of one: the per-sample c'(a)
    print(f"{d:8.3f}  " + "  ".join(f"{g:18.6f}" for g in grads))

# %% [markdown]
# That is the tutorial's Figure 16 (left), and on the right the magnitude of the gradient
# that reaches D's logit, both drawn from the library's loss functions:

# %%
sat.plot_costs();

# %% [markdown]
# On log axes the story is plain: near $D = 0$ the minimax and maximum-likelihood weights
# fall like $D$ itself, 1000× below the non-saturating weight at $D = 0.001$. At the right
# end the roles swap: the non-saturating weight vanishes as D is fooled, and the
# maximum-likelihood weight $D/(1-D)$ grows without limit.
#
# ## 2. Gradient check, live
#
# Central differences in float64 on a batch whose logits span both saturated ends
# ($D$ from about $10^{-5}$ to $1 - 10^{-5}$):

# %%
a = np.linspace(-11, 11, 12).reshape(6, 2)
for c in costs:
    print(check_function(losses[c], a, names=["d_logits"], title=c, h=1e-5))

# %% [markdown]
# Minimax and non-saturating are softplus functions, finite for every finite logit. The
# maximum-likelihood cost is $-e^{a}$, and its *true value* stops being a float once
# $a > 709.78$ (float64) or $88.72$ (float32). No rewrite can fix that, so the loss refuses
# with a message instead of returning $-\infty$:

# %%
print(tg.losses.generator_loss_minimax(np.array([[1000.0], [-1000.0]])))
print(tg.losses.generator_loss_maximum_likelihood(np.array([[-1000.0], [0.0]])))
try:
    tg.losses.generator_loss_maximum_likelihood(np.array([[1000.0]]))
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 3. The experiment: a confident D, three costs, one start
#
# * Data: $N(4, 0.5^2)$. G: $G(z) = wz + b$ (one `Dense(1→1)`), $z \sim N(0,1)$, starting at
#   $w = 0.5$, $b = 0$: fakes $N(0, 0.5^2)$, eight data standard deviations away.
# * D: `Dense(1→16) → LeakyReLU(0.2) → Dense(16→1)`, trained ahead for 1500 Adam steps
#   against that G until $D(G(z)) \approx 10^{-4}$.
# * Then, from deep copies of that same G and D and with the same noise stream, G takes
#   plain SGD steps (lr 0.05) with each cost. We use SGD on purpose: the distance G moves
#   is then proportional to the gradient it receives. (Adam divides each step by a running
#   gradient scale and would hide most of the difference; exercise 2.)
# * Two settings for D while G trains. **Frozen**: D never changes, so the gradient G sees
#   is a property of the cost alone. **Trained**: Algorithm 1 with $k = 1$ D step (SGD,
#   lr 0.05) before each G step, as in real training, where a stalled G lets D stay
#   confident.
#
# The table averages over the first 50 G steps (the same numbers in quick and full mode):

# %%
cfg = sat.Config.quick() if QUICK else sat.Config()
result = sat.run(cfg)
print(result.table())

# %% [markdown]
# In both settings the non-saturating G receives a gradient one to three orders of
# magnitude larger, and moves its mean most of the way to the data in 50 steps, while the
# minimax and maximum-likelihood runs barely leave the start. The figures show the
# whole run (shaded: the 50 steps the table averages).

# %%
sat.plot_grad_norms(result);

# %%
sat.plot_generated(result);

# %% [markdown]
# What the figures add to the table:
#
# * **Non-saturating, trained D** is what GAN training looks like: G rushes to the data,
#   overshoots, and D and G chase each other around it. With a **frozen** D it stops short
#   at about 2.6: there the frozen D already says "real" ($D \approx 0.99$), so
#   $-(1-D) \to 0$. A fixed D cannot lead G all the way; the shared fixed point of the
#   costs (derivation, "same fixed point") needs D to keep up.
# * **Minimax** stalls, but not forever: its tiny gradient slowly widens G's spread
#   ($w$ grows) until the tail of $G(z)$ reaches the region D believes; then its weight $D$
#   is no longer small and G starts to move (after about 150 steps with D frozen, much
#   later with D trained, in the full run).
# * **Maximum likelihood** stalls just like minimax at first, then **blows up**: once a
#   few samples reach a region where D's logit is large, their weights $e^{a}$ dominate the
#   batch; the step they cause widens G, more samples land where D believes, their weights
#   are larger still. With D frozen the gradient norm goes 0.007 → 8 → 62 → $6\cdot10^{19}$
#   in three steps, the next logits overflow and the run stops (marked on the figure). The
#   maximum-likelihood gradient is carried by the handful of samples D believes most:
#   very high variance, exactly what the right end of the gradient plot predicted.

# %% [markdown]
# ## 4. The first step, by hand
#
# At the first G step every run has the same G, D and noise, so the backward pass through
# D and G is the same for all three costs; only the per-sample weights $c'(a_i)$ differ.
# The ratio of the first gradient norms is therefore close to the ratio of the weights:

# %%
for mode in sat.D_MODES:
    g = {c: result.runs[(mode, c)].grad_norm[0] for c in costs}
    d = result.runs[(mode, "minimax")].D_fake[0]
    print(f"D {mode:7}: mean D(G(z)) = {d:.1e};  first-step |grad G|: "
          + ", ".join(f"{c} {g[c]:.2g}" for c in costs)
          + f";  non-saturating / minimax = {g['nonsaturating'] / g['minimax']:.0f}")

# %% [markdown]
# (It is not exactly $(1-\bar D)/\bar D$: the weights multiply per-sample gradients that
# differ from sample to sample, and the mean of $D$ is dominated by the few fakes D is least
# sure about.)
#
# ## Summary
#
# - The three generator costs differ only in the weight $c'(a)$ they put on each fake:
#   $-D$ (minimax), $-(1-D)$ (non-saturating), $-D/(1-D)$ (maximum likelihood). The rest of
#   the backward pass through D and G is shared.
# - When D rejects the fakes ($D \to 0$) minimax and maximum likelihood send back almost
#   nothing; the non-saturating cost sends back the most. From a confident D, with the same
#   start and the same noise, the non-saturating G received 96× (frozen D) and 650×
#   (trained D) the minimax gradient over the first 50 steps and moved its mean 2.5 and
#   5.0 towards the data; the minimax G moved it by 0.01.
# - All three costs keep $p_g = p_\text{data}$, $D = \tfrac12$ as a fixed point: there D's
#   logit is flat and every weight multiplies a zero.
# - With an optimal D the maximum-likelihood cost follows the gradient of
#   $\mathrm{KL}(p_\text{data}\,\|\,p_g)$; its weights are unbounded as $D \to 1$, which in
#   practice means a high-variance gradient and, here, a run that overflows.
# - tinygan's costs are plain means, twice the tutorial's ½-scaled $J^{(G)}$.
#
# ## Exercises
#
# 1. Start G closer to the data: `sat.run(sat.Config(b0=3))`. How do the minimax and
#    non-saturating gradients compare now, and why? What happens to maximum likelihood?
# 2. Train G with Adam instead of SGD: `sat.run(sat.Config(opt_G="adam"))`. Does the
#    minimax run still stall? Explain with Adam's update rule: what does dividing by
#    $\sqrt{\hat v}$ do to a gradient that is uniformly 1000× too small? When would $\epsilon$
#    stop that rescue?
# 3. Lower `lr_G` until the maximum-likelihood run no longer overflows. Is the resulting run
#    useful? Look at the per-sample weights $e^{a_i}$ of one batch near the blow-up: how many
#    samples carry half of the gradient?
# 4. Prove that the minimax and non-saturating per-sample gradients with respect to
#    $x = G(z)$ point in the same direction for every D, and find the value of $D$ at which
#    they are equal in size.
# 5. Give D more steps per G step: `sat.run(sat.Config(k=5), d_modes=("trained",))`. Which
#    cost benefits, which suffers?
