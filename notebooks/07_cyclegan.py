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
# # 07 · CycleGAN: translation between two sets that were never paired
#
# Given photos and paintings, but no photo with *its* painting, can a network learn to
# turn one into the other? CycleGAN (Zhu, Park, Isola & Efros 2017) trains two generators,
# $G: X \to Y$ and $F: Y \to X$, each against its own discriminator, and adds a **cycle**
# loss: $F(G(x))$ must give $x$ back, and $G(F(y))$ must give $y$ back.
#
# Real benchmarks cannot say whether $G(x)$ is *the* right translation of $x$. Ours can:
# both domains are made by the code, so the true counterpart of every $x$ is known.
#
# This notebook
#
# 1. builds the generator's new pieces (reflection padding, instance norm, residual
#    blocks, nearest upsampling) and checks their gradients live;
# 2. derives LSGAN's optimal discriminator and measures it in 1-D;
# 3. trains CycleGAN on 2-D points related by a known rotation, and on thin against thick
#    digits, and measures the translations against the truth;
# 4. removes the cycle loss and watches the content go.
#
# Derivation: `derivations/07_cyclegan.md`. Command: `tinygan cyclegan`.

# %%
import os

import numpy as np

import tinygan as tg
from tinygan import backend
from tinygan.data.unpaired import point_domains
from tinygan.experiments import cyclegan as exp
from tinygan.experiments import optimal_d_family as odf
from tinygan.family_plots import plot_point_translation, plot_translation_grid
from tinygan.gradcheck import check_layer

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"
POINT_STEPS = 150 if QUICK else exp.STEPS["points"]   # the command's defaults
DIGIT_STEPS = 15 if QUICK else exp.STEPS["digits"]
DSTAR = odf.Config(num_steps=200, batch_size=128, lr_final=1e-4, hidden=32) if QUICK else odf.FULL

# %% [markdown]
# ## 1. The generator's new layers
#
# **Reflection padding** mirrors the border instead of adding zeros (a generator shown a
# black frame learns to paint one). Its backward *folds* the padded border back onto the
# pixels it copied:

# %%
x = np.arange(3.0).reshape(1, 1, 1, 3)
pad = tg.ReflectionPad2d((2, 1, 0, 0))
print("x:", x[0, 0, 0], " padded:", pad.forward(x)[0, 0, 0])
print("backward of ones:", pad.backward(np.ones((1, 1, 1, 6)))[0, 0, 0],
      "  (x₁ was copied three times, x₀ and x₂ once and twice)")

# %% [markdown]
# **Instance norm** is BatchNorm's formula with statistics over one image's channel
# ($H\cdot W$ values) instead of over the batch, so the style of one image does not depend
# on the others. **Residual blocks** compute $x + F(x)$, whose backward adds the upstream
# gradient to $F$'s. **Upsample** copies each pixel into a 2×2 block; its backward sums
# each block. All four, checked live in float64 against central differences, at the
# shapes of the digit generator:

# %%
gen = np.random.default_rng(0)
r = backend.rng(0)
block = tg.Residual(tg.ReflectionPad2d(1), tg.Conv2d(4, 4, 3, bias=False, rng=r, init=0.3),
                    tg.InstanceNorm2d(4), tg.ReLU(), tg.ReflectionPad2d(1),
                    tg.Conv2d(4, 4, 3, bias=False, rng=r, init=0.3), tg.InstanceNorm2d(4))
for layer, shape in [(tg.ReflectionPad2d(1), (2, 3, 8, 8)),
                     (tg.InstanceNorm2d(3, affine=True), (2, 3, 8, 8)),
                     (tg.Upsample(2), (2, 3, 4, 4)), (block, (2, 4, 4, 4))]:
    report = check_layer(layer, gen.uniform(-2, 2, shape), max_checks=30)
    print(f"{report.title[:48]:50s} max rel error {report.max_rel_error:.1e}")

# %% [markdown]
# ## 2. The least-squares GAN loss and its optimal D
#
# CycleGAN trains with LSGAN's losses: D regresses real samples onto $b$ and fakes onto
# $a$, $L_D = \tfrac12\mathbb{E}(D(x) - b)^2 + \tfrac12\mathbb{E}(D(G(z)) - a)^2$, and G asks
# for $c$. Minimising the integrand $p_\text{data}(d - b)^2 + p_g(d - a)^2$ pointwise in
# $d = D(x)$:
#
# $$D^*(x) = \frac{b\,p_\text{data}(x) + a\,p_g(x)}{p_\text{data}(x) + p_g(x)}.$$
#
# With CycleGAN's $a = 0, b = 1$ it is the GAN's $D^*$, reached by regression. Measured as
# `tinygan optimal-d` measures the GAN's: a fixed 1-D G with a known density, an MLP D
# trained with `lsgan.update_d`, the error integrated under $(p_\text{data} + p_g)/2$.

# %%
dstar = [odf.lsgan_dstar(DSTAR, a=-1.0, b=1.0), odf.lsgan_dstar(DSTAR, a=0.0, b=1.0)]
for d in dstar:
    print(f"a = {d['a']:+g}, b = {d['b']:g}:  E_m|D − D*| = {d['mean_abs_error_m']:.4f}, "
          f"{d['relative_error_m']:.4f} of the range b − a (target ≤ 0.01)")
fig = exp.dstar_figure(dstar)

# %% [markdown]
# ## 3. Points: five Gaussians and their rotated image
#
# X is a mixture of five Gaussians of unequal weight (0.32 … 0.10); Y is its image under
# $T$, a rotation by 25° and a scaling by 1.3. CycleGAN sees samples of X and of Y, never a
# pair. The generators are MLPs of the residual form $x + \text{MLP}(x)$, the
# discriminators MLPs with a raw LSGAN output; λ_cyc = 10, no identity loss (for a
# rotation, $G(y) = y$ is not the translation of $y$).

# %%
X, Y, T = point_domains()
pts = exp.train("points", POINT_STEPS, seed=0, dstar=dstar)
print(f"{POINT_STEPS} steps in {pts.seconds:.0f} s")
print(pts.table())
v = pts.views
fig = plot_point_translation(v["x"][:600], v["gx"][:600], v["fgx"][:600], y=v["y"][:600],
                             means_y=v["means_Y"], title="x → G(x) → F(G(x))")

# %% [markdown]
# Why does G find $T$ and not another assignment of the five modes? The cycle alone would
# accept any bijection between the modes. Two things decide: the **weights** (a G that
# matches $p_Y$ must send the heaviest mode onto the heaviest) and the **residual
# generator**, which starts at the identity and deforms it, so nearby modes are grabbed
# first. With a rotation of 60° instead of 25° the residual start points the wrong way and
# runs do end on permuted modes: CycleGAN's objective does not identify the map, its
# inductive bias does (exercise 2).
#
# ## 4. Digits: thin strokes against thick strokes
#
# The shipped digits are split in halves; X is the thin style (intensities cubed) of one
# half, Y the thick style (square root and a grey dilation) of the other. No digit appears
# in both. The generators are ResNets with instance norm (the official architecture,
# scaled to 8×8), the discriminators PatchGANs, λ_cyc = 10, identity weight 0.5·λ_cyc,
# batch 16, Adam 2e-4 with β₁ = 0.5, constant for the first half, linear decay over the
# second, and a history pool of 50 fakes.

# %%
digits = exp.train("digits", DIGIT_STEPS, seed=0, dstar=dstar)
print(f"{DIGIT_STEPS} steps in {digits.seconds:.0f} s")
print(digits.table())
v = digits.views
fig = plot_translation_grid([v["x"], v["gx"], v["x_true_y"], v["y"], v["fy"], v["y_true_x"]],
                            ["x (thin)", "G(x)", "true thick", "y (thick)", "F(y)",
                             "true thin"], title="translations against the truth")

# %% [markdown]
# `label_preserved` asks a digit classifier (trained with labels on both styles; CycleGAN
# never sees a label) whether $G(x)$ is still the digit $x$ was. `paired_l1` measures
# $G(x)$ against the true thick version of $x$, next to the distance of doing nothing.
#
# ## 5. Without the cycle
#
# Set λ_cyc = 0 (the identity term goes with it, its weight being 0.5·λ_cyc). Each
# generator now only has to produce *something* its discriminator accepts.

# %%
ablation = exp.train("digits", DIGIT_STEPS, seed=0, lambda_cyc=0.0, dstar=dstar)
print(ablation.table())
v = ablation.views
fig = plot_translation_grid([v["x"], v["gx"], v["x_true_y"]],
                            ["x (thin)", "G(x), no cycle", "true thick"],
                            title="no cycle loss: nothing ties G(x) to x")
print(f"\nlabel_preserved for G: with the cycle {digits.numbers['label_preserved']['G']:.3f}, "
      f"without {ablation.numbers['label_preserved']['G']:.3f}")

# %% [markdown]
# The adversarial loss is about distributions: any map that pushes the thin digits onto
# the thick ones is optimal, whichever digit each one becomes. In the default run (1,500
# steps) it is worse than a shuffle: both generators collapse, G drawing the same thick
# digit for every $x$ and F the same thin one (mode collapse, notebook 05: not an optimum
# of the GAN terms, but nothing in them gets training out of it). The cycle asks $F$ to
# bring back *this* $x$ from $G(x)$, which a collapsed G cannot allow, so $G$ must keep
# what identifies $x$; among the bijections that remain, "keep the digit, change the
# stroke" is the cheapest for two small networks.
#
# ## Summary
#
# * CycleGAN = two LSGANs + a cycle loss (+ an identity loss). Its optimal discriminators
#   are LSGAN's $(b\,p_\text{data} + a\,p_g)/(p_\text{data} + p_g)$, measured above.
# * With one-slot caches the generator step is two *chains*
#   ($x \to G \to D_Y, F$ and $y \to F \to D_X, G$), each backpropagated as soon as it
#   ends; the gradients add up to those of the full objective (the tests check this
#   against finite differences).
# * With known truth, CycleGAN's translations can be graded: the points land on $T(x)$, the
#   digits keep their labels, and without the cycle they do not.
#
# ## Exercises
#
# 1. Turn the identity loss on for the points (`--lambda-identity 0.5`). Why does the map
#    error grow? What would an identity loss need to mean for a rotation?
# 2. Rotate the points by 60° (`point_domains(angle_deg=60)`) and train five seeds. How often
#    is the mode correspondence right? Try the plain MLP generator (`residual=False`).
# 3. Set the pool size to 0 (`--pool-size 0`). Plot the discriminators' losses: do they
#    oscillate more?
# 4. Replace `Upsample` + convolution by `ConvTranspose2d(32, 16, 3, stride=2, padding=1,
#    output_padding=1)`, as the official code does. Look for the checkerboard in G(x).
