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
# # 08 · A StyleGAN you can read: mapping network, AdaIN, noise, style mixing, truncation, R1
#
# Every generator so far computed its image *from* the latent code $z$. StyleGAN (Karras,
# Laine & Aila 2019) does not. Its synthesis network starts from a **learned constant**; a
# **mapping network** turns $z$ into a vector $w$, and $w$ *steers* every layer through
# **AdaIN**: each feature map is normalised, then given a scale and a bias computed from $w$.
# **Noise** added at every layer supplies the random detail. Because each layer reads its own
# copy of $w$, two codes can be mixed, coarse layers from one and fine layers from the other:
# the generator "fuses the styles of different images".
#
# This notebook builds each piece with its backward written by hand, checks the two that are
# new kinds of derivative (AdaIN's, and the R1 penalty's *double* backward), trains a small
# StyleGAN on the 8×8 digits, and measures what the styles and the noise do.
#
# Derivation: `derivations/08_stylegan.md`. Official settings: NVlabs/stylegan
# (`training/networks_stylegan.py`, `training/loss.py`, `train.py`), scaled as the table in
# `tinygan/experiments/stylegan.py` states.

# %%
import os

import numpy as np

from tinygan import backend
from tinygan.experiments import stylegan as exp
from tinygan.experiments import stylegan_report as report
from tinygan.gans import stylegan as sg
from tinygan.gradcheck import check_layer, numerical_grad, rel_error
from tinygan.image_plots import plot_losses
from tinygan.layers import Dense
from tinygan.layers.equalized import EqualizedDense
from tinygan.layers.style import AdaIN
from tinygan.models.stylegan import StyleGenerator, style_discriminator
from tinygan.optim import Adam

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"
STEPS = 10 if QUICK else exp.STEPS  # the command's default budget (6,000 steps)

# %% [markdown]
# ## 1. Equalized learning rate
#
# He initialisation draws a weight with std $\text{gain}/\sqrt{\text{fan\_in}}$. StyleGAN stores
# the weight at unit scale instead, $\hat W \sim \mathcal N(0, 1/\lambda^2)$, and multiplies it
# at run time: $W = c\hat W$, $c = \lambda\,\text{gain}/\sqrt{\text{fan\_in}}$. The network
# computes the same functions; the *optimizer* sees $\hat W$, whose gradient is
# $c\,\partial L/\partial W$.
#
# Adam's step does not depend on the scale of the gradient: every stored coordinate moves by
# about lr. So the runtime weight moves by $c\cdot\text{lr}$, which is $\lambda\cdot\text{lr}$ relative to its
# own scale, **the same for every layer whatever its fan-in**. Without it, a layer with 100× the
# fan-in learns 10× faster in relative terms. One Adam step, measured:

# %%
def relative_step(layer, d_in, lr=1e-3, seed=0):
    gen = np.random.default_rng(seed)
    weight = (lambda: layer.runtime_weight()) if hasattr(layer, "runtime_weight") \
        else (lambda: layer.params["W"])
    before = weight().copy()
    opt = Adam(layer, lr=lr, betas=(0.0, 0.99), eps=1e-14)
    layer.forward(gen.normal(size=(8, d_in)))
    layer.backward(gen.normal(size=(8, 3)))
    opt.step()
    return float(np.abs(weight() - before).mean() / np.sqrt(2 / d_in))


for d_in in (4, 400):
    eq = relative_step(EqualizedDense(d_in, 3, rng=backend.rng(0), dtype="float64"), d_in)
    plain = relative_step(Dense(d_in, 3, rng=backend.rng(0), init=np.sqrt(2 / d_in),
                                dtype="float64"), d_in)
    print(f"fan-in {d_in:3d}: relative step, equalized {eq:.2e}   plain He-initialised {plain:.2e}")
slow = relative_step(EqualizedDense(400, 3, lr_mul=0.01, rng=backend.rng(0), dtype="float64"), 400)
print(f"fan-in 400 with the mapping network's lr multiplier 0.01: {slow:.2e}")

# %% [markdown]
# ## 2. The mapping network and its multiplier 0.01
#
# $w = f(z)$: PixelNorm (unit root-mean-square), then 4 equalized Dense layers with
# LeakyReLU(0.2) (8 × 512 in the paper). Every layer uses $\lambda = 0.01$: by the law above the
# mapping network learns at 1 % of the synthesis network's relative speed. The reason: $w$ feeds
# *every* AdaIN of the synthesis network, so a step of the mapping network moves all styles of all
# samples at once, while each AdaIN's affine map has adapted to the current distribution of $w$.
# Slowed down, the mapping network is a slowly moving reparametrisation of the latent space and
# the synthesis network does the fast learning. (`results.json` reports how far each moved.)
#
# ## 3. AdaIN
#
# Per sample and channel, over the pixels: $\hat x = (x - \mu)/\sqrt{\sigma^2 + \epsilon}$; then
# $y = A(w) \in \mathbb R^{2C}$ (an equalized affine map) and
# $\text{out} = \hat x\odot(1 + y_s) + y_b$. After AdaIN a map's mean is $y_b$ and its std is
# $|1 + y_s|$, whatever they were before: each layer's style overwrites the previous one's.

# %%
# x from seed 1: check_layer draws its random upstream gradient from seed 0, and from the
# same stream as x it would be an affine function of each map of x, whose dx is exactly 0
gen = np.random.default_rng(1)
ada = AdaIN(3, 5, rng=backend.rng(0), dtype="float64")
x = gen.normal(4, 3, (2, 3, 4, 4))
w = gen.normal(size=(2, 5))
out = ada.forward(x, w)
ada.clear_cache()
y = w @ ada.affine.runtime_weight() + ada.params["b"]
print("mean of each map after AdaIN:", np.round(out.mean(axis=(2, 3)), 4).tolist())
print("y_b                         :", np.round(y[:, 3:], 4).tolist())
print("std of each map             :", np.round(out.std(axis=(2, 3)), 4).tolist())
print("|1 + y_s|                   :", np.round(np.abs(1 + y[:, :3]), 4).tolist())

# %% [markdown]
# The backward (derivation §"AdaIN backward"): into the style,
# $\bar y_s = \sum_{ij}\overline{\text{out}}\odot\hat x$ and $\bar y_b = \sum_{ij}\overline{\text{out}}$, then the affine
# map's backward gives $\bar w$ and the weight gradients; into $x$, with
# $\gamma = \overline{\text{out}}\odot(1 + y_s)$, the instance norm's backward
# $\bar x = r(\gamma - \text{mean}\,\gamma - \hat x\,\text{mean}(\gamma\odot\hat x))$. A live check of all four
# gradients against central differences:

# %%
print(check_layer(ada, (x, w), input_names=["dx", "dw"]))

# %% [markdown]
# ## 4. The synthesis network, the noise, the discriminator
#
# A learned $4\times4$ constant, then four style layers (noise → LeakyReLU → AdaIN), two at
# $4\times4$ (slots 0-1: the **coarse** styles) and two at $8\times8$ after a nearest upsampling
# (slots 2-3: the **fine** styles), then a $1\times1$ toRGB. The noise is one Gaussian value per
# pixel, scaled by a learned strength per channel that starts at 0. D is a plain stack of
# equalized convolutions and LeakyReLUs.
#
# One choice is ours: 64 channels at $4\times4$ but only **4 at $8\times8$**. The last style layer's
# output is a per-channel reweighting of its maps; at $8\times8$ (64 pixels) 32 maps span almost
# every digit, and then the fine styles alone paint the digit (measured: the label followed the
# *fine* styles). The official network has 512 channels at $8\times8$ too, but its fine layers
# sit at $64^2$–$1024^2$, where a few hundred channels are few next to the pixels.

# %%
G = StyleGenerator(latent_dim=32, w_dim=32, mapping_layers=4, channels=(64, 4),
                   rng=backend.rng(0))
D = style_discriminator(8, (32, 16), rng=backend.rng(100))
print(G)
print(G.mapping)
print(*G.synthesis.style_layers, sep="\n")
print(D)

# %% [markdown]
# ## 5. R1 and its double backward
#
# D's loss is the logistic loss plus $R_1 = \frac{\gamma}{2}\,\text{mean}_n\lVert\nabla_x D(x_n)\rVert^2$ on
# real images ($\gamma = 10$). $R_1$ contains a gradient, so its gradient with respect to D's weights
# is a derivative of a derivative. For D built of linear layers and LeakyReLUs the first
# backward is a product of Jacobians $J_l^\top$, and (derivation §"R1: the double backward"):
#
# * $r = \frac{\gamma}{N} g$ at D's input, with $g = \nabla_x D$;
# * through the layers in **forward** order: a linear layer adds to its weight gradient
#   $\partial/\partial W\,\langle J(W) r,\ \bar u^{\text{out}}\rangle$, the weight gradient of a bias-free copy of the
#   layer fed $r$ forward and the first backward's upstream gradient $\bar u^{\text{out}}$ backward, and passes
#   on $r \leftarrow J(W)r$ (that copy's output); a LeakyReLU passes on $r\odot s$ (its slopes).
#
# The biases get exactly 0. A live check against central differences of $R_1$ itself (it is
# quadratic in each single weight, so the differences are exact up to round-off):

# %%
Dc = style_discriminator(8, (3, 2), rng=backend.rng(5), dtype="float64")
xr = np.random.default_rng(1).uniform(-1, 1, (3, 1, 8, 8))


def penalty():
    _, g, _ = sg.d_input_gradient(Dc, xr)
    return 10 / 2 * float((g * g).reshape(3, -1).sum(1).mean())


Dc.zero_grad()
r1, _ = sg.r1_penalty(Dc, xr, gamma=10.0)
print(f"R1 = {float(r1):.5f} (from the first backward alone: {penalty():.5f})")
for k, p in Dc.params.items():
    num = numerical_grad(penalty, p, h=1e-4)
    print(f"∂R1/∂{k:4}  max |analytic| {np.abs(Dc.grads[k]).max():.2e}   "
          f"max rel error {rel_error(Dc.grads[k], num).max():.1e}")

# %% [markdown]
# (`tests/test_stylegan.py` does this over hypothesis-drawn discriminators, shrinking any step
# that would cross a kink, and against PyTorch's `autograd.grad(create_graph=True)`.)
#
# ## 6. Training: style mixing regularisation, Adam β = (0, 0.99)
#
# With probability 0.9 a minibatch uses two codes, $w_1$ in the slots below a random cut and $w_2$
# above it, in D's step and in G's. Then D judges *mixed* images too, so no slot can rely on the
# others having received the same code: each property of the image must be decided by one group of
# slots. The moving average $\bar w$ (β = 0.995) is kept for the truncation trick. The command
# `tinygan stylegan` runs exactly this function (plus its figures and a DCGAN baseline of the same
# number of steps, judged by the same classifier).

# %%
result = exp.train(STEPS, seed=0, dcgan=not QUICK, eval_pairs=200 if QUICK else 2000,
                   eval_size=200 if QUICK else None)
print(result.table())
print(f"training took {result.train_seconds:.0f} s")

# %%
fig = plot_losses(result.history, title="StyleGAN on the 8×8 digits",
                      smooth=max(1, min(50, STEPS // 20)))

# %% [markdown]
# ## 7. What the styles do
#
# **Style mixing.** Row $i$ is a source $A_i$, column $j$ a source $B_j$; cell $(i, j)$ takes the
# coarse ($4\times4$) styles from $A_i$ and the fine ($8\times8$) ones from $B_j$. If the coarse
# layers decide the digit, each row shows one digit in the strokes of its column.

# %%
A, B, mixed = report.mixing_grid(result.G, 6, 6, backend.rng(8))
fig = report.figure_mixing(A, B, mixed)
m = result.mixing
print(f"over {m['pairs']} pairs of different digits: label follows the coarse styles "
      f"{m['follows_coarse']:.3f}, the fine ones {m['follows_fine']:.3f}; reversed split "
      f"{m['follows_coarse_reversed']:.3f}")

# %% [markdown]
# The same two shares at ten points of training (each on fewer pairs, drawn for that point
# alone): when do the coarse styles take the digit over, and is the share still rising at the
# end of the budget?

# %%
fig = report.figure_mixing_curve(result.curve, exp.TARGET_COARSE)

# %% [markdown]
# **Truncation in W.** $w' = \bar w + \psi(w - \bar w)$: ψ = 1 leaves a sample alone, ψ = 0 gives the
# "average digit", ψ < 0 its opposite. Each row is one $z$ (and one noise).

# %%
fig = report.figure_truncation(report.truncation_table(result.G, 6, backend.rng(9)))
print({f"ψ={p:g}": round(v["inception_score"], 2) for p, v in result.truncation.items()})

# %% [markdown]
# **Noise.** The same $w$ under different noise draws, and the per-pixel standard deviation over
# draws: the noise moves a few stroke pixels, not the digit.

# %%
effect = report.noise_effect(result.G, 6, 6, backend.rng(10))
fig = report.figure_noise(effect)
print(f"pixel std due to noise alone {result.noise['pixel_std_noise']:.4f}; "
      f"due to w (fixed noise) {result.noise['pixel_std_style']:.4f}")

# %% [markdown]
# ## Summary
#
# * **Equalized learning rate** stores weights at unit scale and multiplies by He's constant at
#   run time; with Adam every layer then learns at the same relative speed $\lambda\cdot$lr, and
#   $\lambda = 0.01$ slows the mapping network down on purpose.
# * **AdaIN** erases each feature map's statistics and sets new ones from $w$: its backward is the
#   instance norm's backward of $\overline{\text{out}}\odot(1 + y_s)$, plus the two sums that feed the style.
# * **R1**'s gradient is a double backward; for linear layers and LeakyReLUs it is a *forward* pass
#   of $r$ through bias-free copies of the layers, each adding one weight gradient, and it needs
#   nothing of how a layer computes.
# * **Style mixing** regularisation makes the slots act as separate knobs; at $8\times8$ the coarse
#   slots decide the digit only once the fine layers are too narrow to paint one by themselves.
# * **Truncation** trades variety for typicality in W; the **noise** adds local variation only.
#
# ## Exercises
#
# 1. Run `tinygan stylegan --mixing-prob 0` and compare `mixing_label_follows_coarse`: what does
#    the regularisation buy at this budget?
# 2. Run `tinygan stylegan --g-channels 64,32` (32 maps at $8\times8$ instead of 4) and watch which
#    slots decide the digit.
# 3. `--mapping-lr-mul 1`: does training still work, and how far do the mapping weights move?
# 4. Derive the double backward of R1 for a D with a smooth activation (tanh): which extra term
#    appears, and where does it flow?
# 5. Why does AdaIN's input gradient satisfy $\sum_{ij}\bar x_{ij} = 0$ for every map? Check it
#    numerically with `ada.backward`.
