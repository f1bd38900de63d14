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
# # 03 · DCGAN: transposed convolutions learn to write digits
#
# A dense generator has to learn every pixel of an image separately. A convolutional
# generator reuses one small kernel everywhere, so it learns strokes once and paints
# them anywhere. The generator needs to go *up* in size, from a noise vector to an
# image, and the layer that does that is the **transposed convolution**. Radford, Metz
# and Chintala (2016) found a recipe that made such GANs train reliably: DCGAN.
#
# This notebook goes from a transposed convolution of three numbers, written by hand,
# to a DCGAN that draws the 8×8 handwritten digits that ship with tinygan, and then
# judges its samples with a small digit classifier (no pretrained network needed).
#
# The derivations behind the layers: `derivations/03_transposed_convolution.md`.

# %%
import os

import numpy as np

import tinygan as tg
from tinygan import metrics
from tinygan.data.digits import load_digits
from tinygan.experiments import dcgan as exp
from tinygan.gradcheck import check_layer
from tinygan.image_plots import (
    plot_class_histograms,
    plot_image_grid,
    plot_losses,
    plot_samples_by_class,
)
from tinygan.layers import Conv2d, ConvTranspose2d
from tinygan.models.dcgan import dcgan_pair

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"  # 400 GAN steps instead of 5000

# %% [markdown]
# ## 1. A transposed convolution, by hand, in one dimension
#
# Take a kernel $w$ of size $K = 3$ and stride $S = 2$. A transposed convolution lets
# every input value $x_i$ **paint a scaled copy of the kernel** into the output,
# starting at position $S\,i$, and adds where copies overlap:
#
# $$y[S i + p] \mathrel{+}= x_i\, w_p, \qquad p = 0,\dots,K-1 .$$
#
# The output has $S(H-1) + K$ entries for $H$ inputs: it grows by the stride.

# %%
w = np.array([1.0, 10.0, 100.0])    # the kernel, K = 3
x = np.array([1.0, 2.0, 3.0])       # the input, H = 3
S, K, H = 2, len(w), len(x)
y = np.zeros(S * (H - 1) + K)        # 7 outputs
for i in range(H):
    y[S * i:S * i + K] += x[i] * w   # input i paints x_i · w at S·i
print(y)

# %% [markdown]
# Now the ordinary (strided) convolution that goes the other way, from 7 values down to
# 3: output $i$ is $\sum_p w_p\, u[S i + p]$. It is linear, so it is a matrix $A$ of
# shape 3×7 whose row $i$ holds the kernel at columns $S i, \dots, S i + K - 1$:

# %%
A = np.zeros((H, len(y)))
for i in range(H):
    A[i, S * i:S * i + K] = w
print(A)
print("Aᵀ x =", A.T @ x)
print("equal to the painted y:", np.allclose(A.T @ x, y))

# %% [markdown]
# **The transposed convolution is multiplication by $A^\top$**, the transpose of the
# convolution matrix — hence the name. It is *not* the inverse of the convolution
# ("deconvolution" is a misleading old name): $A A^\top \neq I$. It only undoes the
# convolution's effect on *sizes*. Two consequences the layers rely on:
#
# * the backward pass of a convolution (for its input) multiplies by $A^\top$, so it *is*
#   a transposed convolution, and the other way round;
# * a transposed convolution can be computed as zero insertion followed by an ordinary
#   convolution, but that spends $(S^2-1)/S^2$ of its multiplications on zeros (in 2-D).
#   tinygan's layer instead does one matrix multiply and a scatter-add (`col2im`).

# %% [markdown]
# ## 2. The same identity for tinygan's 2-D layers
#
# A `Conv2d` with kernel 4, stride 2, padding 1 halves an 8×8 image to 4×4; a
# `ConvTranspose2d` with the same numbers doubles 4×4 back to 8×8 (its output size is
# $S(H-1) + K - 2P$; padding *crops* the output). With the same weights, the matrix of
# one is the transpose of the matrix of the other. We read each matrix off the layer by
# feeding it the unit vectors:

# %%
rng = tg.backend.rng(0)
conv = Conv2d(1, 1, 4, stride=2, padding=1, bias=False, rng=rng, dtype="float64")
convT = ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False, rng=rng, dtype="float64")
convT.params["W"][...] = conv.params["W"]  # (1, 1, 4, 4): the same kernel in both


def matrix_of(layer, shape):
    """Column j = layer(e_j): the matrix of a linear layer without bias."""
    n = int(np.prod(shape))
    cols = layer.forward(np.eye(n).reshape(n, *shape))
    layer.clear_cache()
    return cols.reshape(n, -1).T


A2 = matrix_of(conv, (1, 8, 8))      # (16, 64): 8×8 → 4×4
B2 = matrix_of(convT, (1, 4, 4))     # (64, 16): 4×4 → 8×8
print(A2.shape, B2.shape, "ConvTranspose2d == Conv2dᵀ:", np.allclose(B2, A2.T))

# %% [markdown]
# Every gradient in tinygan is written by hand, so we check these two layers live, in
# float64, against central differences (for the input and every parameter, with a random
# upstream gradient):

# %%
xg = np.random.default_rng(1).standard_normal((2, 3, 4, 4))
print(check_layer(ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=rng, dtype="float64"), xg))
print(check_layer(Conv2d(3, 2, 4, stride=2, padding=1, rng=rng, dtype="float64"), xg))

# %% [markdown]
# ## 3. The data: 1,797 handwritten digits of 8×8 pixels
#
# The UCI "Optical Recognition of Handwritten Digits" set (Alpaydin & Kaynak, CC BY 4.0;
# the same images scikit-learn ships) comes with tinygan, checksummed, so nothing is
# downloaded. Pixel values 0..16 are scaled to $[-1, 1]$ to match G's tanh output.

# %%
images, labels = load_digits()
print(images.shape, images.dtype, float(images.min()), float(images.max()))
plot_image_grid(images[:100], nrow=10, title="real digits");

# %% [markdown]
# ## 4. The DCGAN
#
# The paper's guidelines (papers.md §6), each visible in the printout below:
# transposed convolutions in G and strided convolutions in D instead of pooling;
# BatchNorm in both, except at G's output and D's input; ReLU in G with a tanh output;
# LeakyReLU(0.2) in D; weights from $\mathcal N(0, 0.02^2)$; Adam with lr $2\cdot10^{-4}$
# and $\beta_1 = 0.5$. Kernel 4 with stride 2 and padding 1 doubles (halves) the side
# exactly, and a kernel divisible by the stride avoids checkerboard artefacts. D returns a
# logit.

# %%
G, D, config = dcgan_pair(8, seed=0)
z = tg.backend.rng(0).standard_normal((64, config["latent_dim"]), dtype=np.float32)
print("config:", config)
h = z
for layer in G:
    h = layer.forward(h)
    print(f"G  {layer!r:40s} → {tuple(h.shape)}")
for layer in D:
    h = layer.forward(h)
    print(f"D  {layer!r:40s} → {tuple(h.shape)}")
G.clear_cache()
D.clear_cache()
print(f"parameters: G {G.num_params():,}, D {D.num_params():,}")

# %% [markdown]
# ## 5. Training
#
# Algorithm 1 with one D step per G step and the non-saturating G cost, batches of 64.
# `exp.train` first trains the judge (section 6), then the GAN, keeping the samples of one
# fixed noise batch along the way.

# %%
steps = 400 if QUICK else exp.STEPS
result = exp.train(steps, seed=0, sample_every=steps // 4)
print(f"{steps} steps in {result.seconds:.0f} s")
for step, imgs in sorted(result.snapshots.items()):
    if step in (0, steps // 4, steps):
        plot_image_grid(imgs[:50], nrow=10, title=f"G(z) after {step} steps", size=3.5)

# %% [markdown]
# The losses settle, and D's mean output on real and fake batches stays apart but
# steady: neither network wins outright, which is what a healthy GAN run looks like
# (the ideal end point, $D = \tfrac12$ everywhere, is rarely reached with finite
# networks).

# %%
plot_losses(result.history, title="DCGAN on the 8×8 digits", smooth=50);

# %% [markdown]
# ## 6. Are these digits? A judge without a pretrained network
#
# The Inception Score and FID normally use an ImageNet network. We use the same ideas
# with a small MLP classifier (64 hidden ReLU units) trained on half of the real digits
# (papers.md §7):
#
# * **Inception-style score** $\mathrm{IS} = \exp\big(\mathbb E_x\, \mathrm{KL}(p(y\mid x)\,\|\,p(y))\big)$:
#   large when each sample is confidently one digit *and* all digits appear. It lies in
#   $[1, 10]$.
# * **Fréchet distance** on the classifier's hidden features:
#   $\|\mu_r-\mu_g\|^2 + \mathrm{Tr}\big(\Sigma_r+\Sigma_g-2(\Sigma_r\Sigma_g)^{1/2}\big)$,
#   0 for identical statistics. The matrix square root comes from an eigen-decomposition.
# * **Class histogram**: a missing bar is a missing mode.
#
# The held-out real half and uniform noise, scored the same way, give the scale.

# %%
print(result.table())

# %%
plot_class_histograms({k: v["histogram"] for k, v in result.scores.items()});

# %% [markdown]
# The same samples grouped by the digit the classifier reads in them: one row per class.
# An empty row would be a mode G dropped.

# %%
plot_samples_by_class(result.samples, result.classifier.predict(result.samples));

# %% [markdown]
# Two sanity checks of the measures themselves, on inputs whose answer we know:
# confident predictions spread evenly over the 10 classes score exactly 10, a single
# class scores 1, and two sets that differ only by a shift $\delta$ are $\|\delta\|^2$ apart.

# %%
print(metrics.inception_score(np.eye(10)), metrics.inception_score(np.tile(np.eye(10)[3], (5, 1))))
f = np.random.default_rng(0).standard_normal((300, 4))
delta = np.array([1.0, 2.0, 0.0, -1.0])
print(metrics.frechet_distance(f, f + delta), "=", delta @ delta)

# %% [markdown]
# ## Summary
#
# * A transposed convolution multiplies by the transpose of a convolution matrix: every
#   input paints a scaled kernel into a larger output. It is not an inverse.
# * The two layers are each other's backward passes, so one gather (`im2col`) and one
#   scatter-add (`col2im`) around a matrix multiply implement both.
# * With the DCGAN guidelines, a generator of two transposed convolutions learns
#   recognisable 8×8 digits of every class in a few thousand steps on a CPU.
# * A small classifier trained on real data turns "do they look like digits?" into
#   numbers: IS, a Fréchet distance on its features and a class histogram, calibrated by
#   real held-out digits and by noise.
#
# ## Exercises
#
# 1. Repeat section 1 with $K = 4$, $S = 2$ and padding $P = 1$ (crop one entry at each
#    end of $y$). Check $A^\top x$ again.
# 2. Remove the BatchNorm layers from G (build your own `Sequential`). What happens to the
#    samples and the class histogram?
# 3. Replace the non-saturating cost with `generator_loss="minimax"` in `tinygan.train.fit`.
#    How long does G stay stuck?
# 4. Score one repeated real image: what IS and FID do you get, and why is the FID large
#    although each image is a perfect digit?
# 5. With MNIST's IDX files on disk, run `tinygan dcgan --data PATH` to train at 28×28.
