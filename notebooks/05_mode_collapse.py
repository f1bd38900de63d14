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
# # 05 · Mode collapse, measured: GAN, PacGAN, WGAN and WGAN-GP on Gaussian mixtures
#
# A GAN's generator is rewarded for samples that fool the *current* discriminator, not for
# covering the data. If one region of the data fools D best, G can put all its mass there,
# D learns to reject that region, G jumps to another one, and so on: **mode collapse**.
# On 2-D mixtures of Gaussians it can be *counted*: how many of the mixture's modes does G
# reach, and how close to them are its samples?
#
# This notebook
#
# 1. builds the two test sets of the PacGAN paper (a ring of 8 and a grid of 25 Gaussians)
#    and the metric that VEEGAN and PacGAN use;
# 2. trains the plain GAN and **PacGAN** (D judges m samples at once) and watches the modes;
# 3. derives and checks the **WGAN-GP** gradient penalty, whose gradient is a derivative of a
#    derivative, written by hand for an MLP critic;
# 4. reads the results table that `tinygan modes` produced over several seeds.
#
# Derivation: `derivations/05_wgan_gp_double_backward.md`. Reference numbers: papers.md §4, §5.

# %%
import os
import pathlib

import numpy as np

from tinygan import backend
from tinygan.data.mixtures import grid, ring
from tinygan.experiments import modes as exp
from tinygan.gans.pacgan import Pack
from tinygan.gans.wgan import critic_input_gradient, gradient_penalty
from tinygan.gradcheck import numerical_grad, rel_error
from tinygan.layers import Dense, LeakyReLU
from tinygan.models import Sequential
from tinygan.modes import mode_stats, plot_samples, plot_snapshots

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"
STEPS = 300 if QUICK else 3000  # G steps on the ring (the reduced protocol uses 3000)
PROTOCOL = "quick" if QUICK else "reduced"

# %% [markdown]
# ## 1. The data: a ring of 8 and a grid of 25
#
# Ring: means $(\cos 2\pi i/8, \sin 2\pi i/8)$, std $\sigma = 0.01$. Grid: means
# $\{-4, -2, 0, 2, 4\}^2$, $\sigma = 0.05$. Both have modes of equal weight that are far apart
# compared with their width: 100σ between ring neighbours ($2\sin(\pi/8) \approx 0.77$), 40σ on
# the grid.

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.2))
for ax, mix in zip(axes, (ring(), grid())):
    plot_samples(mix.sample(2500, backend.rng(0)), mix.means, ax=ax,
                 title=f"{mix.name}: {mix.num_modes} modes, σ = {mix.std}")
fig.tight_layout()

# %% [markdown]
# ## 2. The metric
#
# Draw 2,500 samples from G. Each goes to its nearest mode
# $k(x) = \arg\min_k \lVert x - \mu_k\rVert$, at the std-normalised distance
# $d(x) = \lVert x - \mu_{k(x)} \rVert / \sigma$.
#
# * a sample is **high quality** if $d(x) < 3$;
# * a mode is **captured** if it has at least one high-quality sample;
# * we add the KL divergence between the histogram of high-quality samples over the modes,
#   $\hat p$, and the uniform distribution,
#   $\mathrm{KL}(\hat p \,\|\, u) = \sum_k \hat p_k \log(K \hat p_k)$, which is $0$ for a
#   balanced G and $\log K$ for a G that lives on one mode.
#
# The function is `tinygan.modes.mode_stats`. Three sample sets built by hand:

# %%
mix = ring()
one_mode = mix.means[3] + 0.001 * np.random.default_rng(0).standard_normal((2500, 2))
balanced = np.repeat(mix.means, 100, axis=0)
far = np.array([[0.0, 0.0], [1.035, 0.0]])  # the centre, and 3.5σ from mode 0
for name, x in [("all on one mode", one_mode), ("100 on each mean", balanced), ("far", far)]:
    s = mode_stats(x, mix.means, mix.std)
    print(f"{name:18} modes {s.modes}/8  high quality {100 * s.high_quality:5.1f}%  KL {s.kl:.3f}")
print(f"log 8 = {np.log(8):.3f}")

# %% [markdown]
# ## 3. Plain GAN against PacGAN on the ring
#
# The plain GAN is Algorithm 1 with the non-saturating generator cost
# (`tinygan.train.fit`). **PacGAN** changes one thing: D sees a *pack* of m samples,
# concatenated into one input of size 2m, all real or all fake. A collapsed G produces packs of
# near-identical points, which real packs almost never are, so D spots collapse easily and G is
# pushed to spread out. In tinygan packing is a layer without parameters, `Pack(m)`, in front of
# an ordinary D: $(N m, 2) \to (N, 2m)$. Its backward is the inverse reshape.

# %%
pack = Pack(2)
x = np.arange(8.0).reshape(4, 2)
print(x, "→", pack.forward(x), sep="\n")
pack.clear_cache()

# %% [markdown]
# The reduced protocol: G is 2→128→128→128→2 with ReLU (no BatchNorm, unlike the paper's
# 4×400 ReLU + BatchNorm), D is 2m→128→128→1 with LeakyReLU(0.2) (the paper uses maxout),
# 100 packs a batch, Adam lr 1e-3, β₁ 0.5. Seed 0 is a seed on which the plain GAN collapses.
# Each panel is 2,500 samples at one moment of training.

# %%
runs = {}
for method in ("gan", "pac2"):
    runs[method] = exp.run("ring", method, seed=0, protocol=PROTOCOL, steps=STEPS, snapshots=4)
    r = runs[method]
    print(f"{method:5} {r.stats.modes}/8 modes, high quality {100 * r.stats.high_quality:.1f}%, "
          f"KL {r.stats.kl:.3f}  ({r.seconds:.0f} s)")
    fig = plot_snapshots(r.snapshots, mix.means, title=f"{method} on the ring, seed 0")

# %% [markdown]
# ## 4. WGAN and WGAN-GP
#
# A Wasserstein critic $f$ has no sigmoid. It maximises
# $\frac1N\sum f(x_i) - \frac1M\sum f(\tilde x_j)$, an estimate of the Wasserstein-1 distance
# if $f$ is 1-Lipschitz; G minimises $-\frac1M\sum f(\tilde x_j)$.
# WGAN clips every weight to $[-0.01, 0.01]$ after each critic step. WGAN-GP adds
#
# $$P = \lambda\,\frac1N\sum_n\big(\lVert\nabla_x f(\hat x_n)\rVert - 1\big)^2,\qquad
# \hat x_n = \epsilon_n x_n + (1-\epsilon_n)\tilde x_n .$$
#
# $P$ contains a gradient, so $\partial P/\partial W$ is a **second** derivative. For an MLP of
# Dense and (Leaky)ReLU layers it is short (derivation §"Double backward"):
#
# * the first backward of $\sum_n f(\hat x_n)$ gives $g = \nabla_x f$ and, on the way, the
#   upstream gradients $g_{a_l}$ at each Dense output and the slopes $s_l \in \{1, \alpha\}$;
# * $\delta_0 = \frac{2\lambda}{N}(\lVert g\rVert - 1)\, g/\lVert g\rVert$ row by row;
# * for $l = 1\dots L$: $\partial P/\partial W_l = \delta_{l-1}^\top g_{a_l}$ and
#   $\delta_l = (\delta_{l-1} W_l)\odot s_l$.
#
# The slopes are piecewise constant ($\varphi'' = 0$ away from the kink), so the biases and
# $\hat x$ get no gradient from $P$. A live check against finite differences of $P$ itself:

# %%
gen = backend.rng(1)
C = Sequential(Dense(2, 16, rng=gen, dtype="float64"), LeakyReLU(0.2),
               Dense(16, 16, rng=gen, dtype="float64"), LeakyReLU(0.2),
               Dense(16, 1, rng=gen, dtype="float64"))
x_hat = np.random.default_rng(2).normal(size=(8, 2))
C.zero_grad()
P, norms = gradient_penalty(C, x_hat, lam=10.0)
analytic = {k: g.copy() for k, g in C.grads.items()}
print(f"P = {float(P):.4f}; ‖∇f‖ per sample: {np.round(norms, 3)}")
for k, p in C.params.items():
    num = numerical_grad(lambda: gradient_penalty(C, x_hat, 10.0)[0], p)
    print(f"∂P/∂{k:4}  max |analytic| {np.abs(analytic[k]).max():.2e}  "
          f"max rel error {rel_error(analytic[k], num).max():.1e}")
_, g, _, _ = critic_input_gradient(C, x_hat)
print("∇f(x̂) of the first sample:", np.round(g[0], 4))

# %% [markdown]
# (A finite difference that crosses a kink of a LeakyReLU would jump; with these random
# inputs none is near one. `tests/test_wgan.py` moves the pre-activations away from the kinks
# by construction and checks hypothesis-drawn critics, and compares with PyTorch's
# `autograd.grad(create_graph=True)`.)
#
# Now WGAN-GP on the ring, first with the paper's settings (λ = 10, Adam 1e-4, β = (0, 0.9),
# 5 critic steps per G step), then with λ = 0.1, the value the authors' own toy script used
# ("smaller lambda seems to help for toy tasks specifically").

# %%
for lam in (10.0, 0.1):
    r = exp.run("ring", "wgan-gp", seed=0, protocol=PROTOCOL, steps=STEPS, snapshots=4,
                gp_lambda=lam)
    print(f"wgan-gp λ={lam:g}: {r.stats.modes}/8 modes, high quality "
          f"{100 * r.stats.high_quality:.1f}%  ({r.seconds:.0f} s)")
    fig = plot_snapshots(r.snapshots, mix.means, title=f"WGAN-GP, λ = {lam:g}, on the ring, seed 0")

# %% [markdown]
# ## 5. The table over seeds
#
# `tinygan modes` runs every method on both mixtures with several seeds and prints the mean ±
# standard error beside the published tables. The committed run of the reduced protocol (the
# command is in the file):

# %%
table = pathlib.Path("..") / "results" / "modes_reduced.md"
print(table.read_text() if table.exists() else "results/modes_reduced.md not found")

# %% [markdown]
# ## Summary
#
# * Mode collapse is measurable on mixtures: modes with a sample within 3σ, the share of such
#   samples, and the KL of their histogram to uniform.
# * Packing is a parameter-free reshape in front of D; it changes what D can see, not the loss.
# * The WGAN-GP penalty's weight gradient is the backward of a backward. For piecewise-linear
#   critics it runs *forward* through the same weights and masks, with one outer product per
#   layer; the biases get nothing.
# * k discriminator steps per G step (Algorithm 1's k) are one more knob; the table reports
#   what k = 1, 2, 5 did to the plain GAN on the ring.
#
# ## Exercises
#
# 1. Replace the high-quality threshold 3σ by 2σ and 5σ in `mode_stats`. Which methods'
#    numbers move most, and why do WGAN's move so much?
# 2. Write the double backward for a tanh critic: which extra term appears, and why does it
#    give the biases a gradient? Check it with `numerical_grad`.
# 3. Pack m = 8 samples. Does the gain continue? What does it cost per step?
# 4. Run `tinygan modes --data ring --method gan --k 1 2 5 --seeds 5` and compare the modes
#    captured with the table above.
