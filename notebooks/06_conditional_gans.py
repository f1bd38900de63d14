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
# # 06 · Conditional GANs: ask for a 7, get a 7
#
# The DCGAN of notebook 03 writes digits, but it chooses which. A **conditional GAN**
# (Mirza & Osindero 2014) gives the label $y$ to both players: G makes $G(z, y)$ and D
# judges the *pair* $(x, y)$, so a good 3 offered as a 7 is rejected. **AC-GAN** (Odena,
# Olah & Shlens 2017) instead lets D *predict* the label with a second head, and rewards G
# for fakes that D classifies as the requested class.
#
# This notebook
#
# 1. builds the one new layer, `Embedding`, whose backward is a scatter-add, and checks it;
# 2. derives the conditional optimal discriminator and *measures* it in 1-D;
# 3. trains a cGAN and an AC-GAN on the shipped 8×8 digits, and lets a digit classifier
#    say whether each sample is the digit that was asked for.
#
# Derivation: `derivations/06_conditional_gan.md`. Command: `tinygan cgan`.

# %%
import os

import numpy as np

from tinygan import Embedding, backend
from tinygan.experiments import cgan as exp
from tinygan.experiments import optimal_d_family as odf
from tinygan.family_plots import plot_class_rows, plot_interpolation
from tinygan.gradcheck import check_layer

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"
STEPS = 80 if QUICK else exp.STEPS             # the command's default: 3,000 steps
DSTAR = odf.Config(num_steps=200, batch_size=128, lr_final=1e-4, hidden=32) if QUICK else odf.FULL

# %% [markdown]
# ## 1. The label as a vector: `Embedding`
#
# G gets $y$ through a learned table $W$ of shape $(K, D_e)$ (PyTorch's `nn.Embedding`
# layout): row $y$ is the class's vector. Looking up row $y$ is multiplying the one-hot
# row $e_y$ by $W$, so the forward is $\text{out} = EW$ with the one-hot matrix $E$, and
# the backward is the Dense layer's $\bar W = E^\top\,\overline{\text{out}}$: row $v$ of
# $\bar W$ **sums** the upstream gradients of every position that looked up $v$.
#
# That sum is the trap. NumPy's `dW[ids] += dout` reads the rows once and writes each
# repeated row once, so with a label that appears twice one contribution is lost.
# `np.add.at` (the layer's scatter-add) adds them all:

# %%
ids = np.array([3, 1, 3, 3])
dout = np.arange(8.0).reshape(4, 2)
wrong = np.zeros((5, 2))
wrong[ids] += dout
right = np.zeros((5, 2))
np.add.at(right, ids, dout)
print("dW[ids] += dout  row 3:", wrong[3], "   add.at row 3:", right[3],
      "   Eᵀ dout row 3:", (np.eye(5)[ids].T @ dout)[3])

# %% [markdown]
# The live gradient check of the layer itself, on a batch of 32 labels from 10 classes
# (every class repeats), float64 central differences:

# %%
gen = np.random.default_rng(0)
print(check_layer(Embedding(10, 4, rng=backend.rng(0)), gen.integers(0, 10, 32)))

# %% [markdown]
# ## 2. The conditional objective and its optimal D
#
# $$\min_G\max_D\; \mathbb{E}_{(x,y)\sim p_\text{data}}\log D(x, y)
#   + \mathbb{E}_{y\sim p(y), z}\log\big(1 - D(G(z, y), y)\big)
#   = \sum_y p(y)\,V_y(D(\cdot, y), G(\cdot, y)).$$
#
# With the same class prior for real and fake, the value is a weighted sum of one
# original GAN game per class. So the optimal D is the GAN's, class by class:
#
# $$D^*(x, y) = \frac{p_\text{data}(x\mid y)}{p_\text{data}(x\mid y) + p_g(x\mid y)} .$$
#
# We can check it. Two classes in 1-D with known densities (class 0 one bump, class 1 two),
# a **fixed** generator $G(z, y) = a_y z + b_y$ whose $p_g(x\mid y) = \mathcal{N}(b_y, a_y^2)$
# is known, and an MLP D on $[x, \text{onehot}(y)]$ trained with `cgan.update_d` alone.
# The error is integrated by quadrature under each class's mixture
# $m_y = (p_\text{data}(\cdot\mid y) + p_g(\cdot\mid y))/2$; the target is 0.01 per class.

# %%
dstar = odf.conditional_dstar(DSTAR)
for k, e in enumerate(dstar["mean_abs_error_m"]):
    print(f"class {k}: E_m|D − D*| = {e:.4f}   max on the core {dstar['max_abs_error_core'][k]:.3f}")
fig = exp.dstar_figure(dstar)

# %% [markdown]
# ## 3. Label maps: how a convolutional D reads y
#
# For an MLP, "concatenate $y$" appends $e_y$ to the input. For the DCGAN discriminator we
# broadcast $e_y$ over the 8×8 image and stack it as 10 extra channels. The first
# convolution is linear, so $\text{conv}([x; M_y]) = \text{conv}(x) + \text{conv}(M_y)$: the
# label adds a learned map per class to the first features. Its backward keeps the first
# channel of the input gradient and drops the label channels (they are constants).
# (The alternative, a projection term $\langle E_y, \phi(x)\rangle$ at D's end, is discussed
# in the derivation.)
#
# ## 4. cGAN and AC-GAN on the digits
#
# Both use the DCGAN (Adam 2e-4, β₁ 0.5, batch 64, one D step per G step) and the same G,
# which gets $[z, \text{Embedding}(y)]$. AC-GAN's D outputs $1 + 10$ numbers: a real/fake
# logit and 10 class logits, and both players are rewarded when a fake is classified as
# the class it was made for.
#
# The judge is the project's digit classifier, trained on one half of the real digits.
# **label_accuracy** is the share of $G(z, y)$ it calls $y$, over 100 samples of each digit.

# %%
results = {}
for method in ("cgan", "acgan"):
    r = exp.train(method, STEPS, seed=0, dstar=dstar)
    results[method] = r
    print(f"== {method}: {STEPS} steps in {r.seconds:.0f} s")
    print(r.table())
    print()

# %%
r = results["cgan"]
pick = np.repeat(np.arange(10), 10) * exp.PER_CLASS + np.tile(np.arange(10), 10)
fig = plot_class_rows(r.samples[pick], title=f"cGAN after {STEPS} steps: row y is G(z, y)")

# %%
fig = plot_class_rows(results["acgan"].samples[pick],
                      title=f"AC-GAN after {STEPS} steps: row y is G(z, y)")

# %% [markdown]
# The same two noise vectors $z_0, z_1$ for every row, interpolated in between: the label
# chooses the digit, $z$ the style (slant, thickness), which stays the same down a column.

# %%
fig = plot_interpolation(exp.interpolation(r.G, r.config["latent_dim"], seed=5))

# %% [markdown]
# ## 5. cGAN against AC-GAN

# %%
print(exp.comparison_table(list(results.values())))

# %% [markdown]
# AC-GAN's class head is a teacher that G learns to please, so its samples are the most
# classifiable ones; the price reported in the literature is less variety within a class,
# which the per-class FID (each class's samples against that class's real digits) is
# meant to show. The command `tinygan cgan --method acgan` writes the same numbers to
# `results.json`; the README quotes the default runs.
#
# ## Summary
#
# * A conditional GAN is the GAN game played once per class; its optimal D is the GAN's D*
#   computed with the class-conditional densities, and a trained D reaches it in 1-D.
# * The embedding's backward is a scatter-add: repeated labels must *add* their gradients.
# * A convolutional D reads the label as constant extra channels; AC-GAN's D predicts it
#   instead, with one backward pass carrying both heads' gradients.
# * Both reach the 0.95 label accuracy at the default budget on the digits.
#
# ## Exercises
#
# 1. Feed G the one-hot label instead of the embedding (an `Embedding` with a fixed identity
#    table). Does label accuracy change? Which parameters does the embedding add?
# 2. Replace the label maps by a projection discriminator: a `Dense(features, 1)` plus
#    ⟨Embedding(y), φ(x)⟩. Write its backward (the inner product has two inputs) and check it
#    with `check_layer` on a wrapper, as `tests/test_cgan.py` does.
# 3. Train the cGAN with the fake labels of D's step equal to the real batch's labels. What
#    does D learn about $p(y)$, and does anything change when the prior is uniform?
# 4. Weight AC-GAN's class loss on *fakes* by 0 in D's loss (D learns to classify only real
#    digits). What happens to label accuracy and to the per-class FID?
