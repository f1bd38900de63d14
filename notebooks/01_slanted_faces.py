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
# # 01 · Slanted faces: a whole GAN you can differentiate by hand
#
# The smallest GAN worth training. The "images" are 2×2 pixels; a **face** is an image
# whose "\" diagonal is dark. The generator G turns one random number $z$ into four
# pixels, the discriminator D turns four pixels into one probability. Each network is a
# single layer, so every derivative fits on one line, and we can check each one against
# the library and against finite differences.
#
# This is the toy of L. Serrano's lecture "GANs in Slanted Land". We reproduce its run
# **exactly**: the same seed, the same order of random draws, the same updates, the same
# final parameters. Then we look at what the two networks learned, and why the
# discriminator ends up answering 1/2 to everything.
#
# The derivation behind every formula here: `derivations/01_backprop_dense_sigmoid_bce.md`.

# %%
import os

import numpy as np

import tinygan as tg
from tinygan import backend
from tinygan.data import faces
from tinygan.experiments import toy2x2 as toy
from tinygan.gradcheck import check_function, check_layer

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"  # the toy takes about a second either way

# %% [markdown]
# ## 1. The data
#
# Five faces, flattened row-major as [top-left, top-right, bottom-left, bottom-right].
# 1 is dark. Real faces are not perfect: the diagonal ranges from 0.8 to 1 and the
# other pixels from 0 to 0.2.

# %%
X = faces()
print(X)

# %% [markdown]
# ## 2. The two networks
#
# $$D(x) = \sigma(x \cdot w + b), \qquad G(z) = \sigma(z\,v + c) \text{ (elementwise)}.$$
#
# In tinygan, D is a `Dense(4→1)` that returns the **logit** $a = x\cdot w + b$; we apply
# $\sigma$ only to show a probability, because the loss is computed from the logit
# (section 4). G is `Dense(1→4)` followed by `Sigmoid`. `toy.build` draws every parameter
# from $N(0, 1)$ in the original's order: D's four weights, D's bias, G's four weights,
# G's four biases, from NumPy's legacy stream seeded with 42.

# %%
G, D = toy.build(backend.legacy_random_state(42))
print(G, D, sep="\n")
params = toy.parameters(G, D)
for k, v in params.items():
    print(f"{k}: {np.round(v, 4)}")

# %% [markdown]
# ## 3. One forward pass by hand
#
# Take the first face and $z = 0.4319$ (the first noise value of the run). We compute
# D's verdict on the face and on G's fake, once with plain NumPy and once with the
# library, and compare.

# %%
x, z = X[0], 0.4319
w, b = np.array(params["D.w"]), params["D.b"][0]
v, c = np.array(params["G.w"]), np.array(params["G.b"])
sig = lambda a: 1 / (1 + np.exp(-a))  # fine for these small numbers

d_real_by_hand = sig(x @ w + b)
g_by_hand = sig(z * v + c)
d_fake_by_hand = sig(g_by_hand @ w + b)

d_real_lib = toy.d_prob(D, X[:1])[0, 0]
g_lib = toy.generate(G, np.array([[z]]))[0]
print(f"D(face)  by hand {d_real_by_hand:.6f}   library {d_real_lib:.6f}")
print(f"G(z)     by hand {np.round(g_by_hand, 4)}   library {np.round(g_lib, 4)}")
print(f"D(G(z))  by hand {d_fake_by_hand:.6f}")
assert np.isclose(d_real_by_hand, d_real_lib) and np.allclose(g_by_hand, g_lib)

# %% [markdown]
# ## 4. The errors and their derivatives
#
# D wants $D(\text{face}) \to 1$ and $D(G(z)) \to 0$; G wants $D(G(z)) \to 1$:
#
# | update | error | derivative with respect to the logit $a$ |
# |---|---|---|
# | D on a face | $-\log D(x)$ | $D(x) - 1$ |
# | D on a fake | $-\log(1 - D(G(z)))$ | $D(G(z))$ |
# | G through D | $-\log D(G(z))$ | $D(G(z)) - 1$ |
#
# All three are binary cross-entropy with label 1 or 0, and for BCE on a logit
# $\partial L/\partial a = \sigma(a) - y$: the $p(1-p)$ of the sigmoid cancels the
# $1/(p(1-p))$ of the log. Check it numerically, on a logit, with central differences:

# %%
a = np.array([[0.7], [-2.0], [3.5]])
y = np.array([[1.0], [0.0], [1.0]])
loss, da = tg.losses.bce_with_logits(a, y)
print("dL/da =", da.ravel(), "   (σ(a) − y)/N =", ((sig(a) - y) / 3).ravel())
print(check_function(lambda a: tg.losses.bce_with_logits(a, y), a, title="bce_with_logits"))

# %% [markdown]
# Chaining through D's Dense layer gives the discriminator's formulas:
#
# $$\text{face: } \frac{\partial E}{\partial w} = -x(1 - D(x)),\ \frac{\partial E}{\partial b} = -(1-D(x));
# \qquad \text{fake } g\text{: } \frac{\partial E}{\partial w} = g\,D(g),\ \frac{\partial E}{\partial b} = D(g).$$
#
# For G the chain runs through D's weights and G's sigmoid:
#
# $$\frac{\partial E}{\partial v_i} = -(1 - D(g))\, w_i\, g_i(1 - g_i)\, z, \qquad
# \frac{\partial E}{\partial c_i} = -(1 - D(g))\, w_i\, g_i(1 - g_i).$$
#
# (The lecture's slide drops the factor $w_i$; it belongs there: pixel $i$ reaches D's
# verdict only through $w_i$.) `toy.hand_gradients` writes these four formulas out.
# Compare them with what the general layers compute by backpropagation:

# %%
hand = toy.hand_gradients(params, x, z)

D.zero_grad()
logit = D.forward(X[:1])
_, dlogit = tg.losses.bce_with_logits(logit, np.ones_like(logit))
D.backward(dlogit)
print("D on the face, dE/dw   hand:", np.round(hand["D_real"][0], 6))
print("                       lib: ", np.round(D[0].grads["W"][:, 0], 6))
assert np.allclose(hand["D_real"][0], D[0].grads["W"][:, 0], rtol=1e-12)

G.zero_grad()
D.zero_grad()
fake = G.forward(np.array([[z]]))
logit = D.forward(fake)
_, dlogit = tg.losses.generator_loss_nonsaturating(logit)
G.backward(D.backward(dlogit))
print("G through D, dE/dv     hand:", np.round(hand["G"][0], 6))
print("                       lib: ", np.round(G[0].grads["W"][0], 6))
assert np.allclose(hand["G"][0], G[0].grads["W"][0], rtol=1e-12)

# %% [markdown]
# And each layer's backward against finite differences, in one line each (float64,
# random upstream gradient, every parameter):

# %%
print(check_layer(tg.Dense(4, 1, rng=backend.rng(0), dtype="float64"), X))
print(check_layer(tg.Sigmoid(), np.random.default_rng(0).normal(size=(5, 4))))

# %% [markdown]
# ## 5. Training, exactly as the original
#
# For 1000 epochs, for each face: one D step on the face, draw $z$, one D step on
# $G(z)$, one G step through the just-updated D. Plain SGD, learning rate 0.01. This is
# Algorithm 1 of the GAN paper with $k = 1$ and a minibatch of one.

# %%
result = toy.train("faithful")
s = toy.summary(result)
for k in ("G.w", "G.b", "D.w", "D.b"):
    print(f"{k}: ours {np.round(s['final'][k], 4)}   published {s['published'][k]}")
print(f"largest difference: {s['max_abs_diff_vs_published']:.1e}")

# %% [markdown]
# The same run with the lecture's formulas instead of the library gives the same
# parameters to about $10^{-15}$:

# %%
hand_run = toy.train("hand")
print(max(abs(a - b) for k in s["final"] for a, b in zip(hand_run.final[k], s["final"][k])))

# %% [markdown]
# ## 6. What G learned

# %%
toy.plot_faces(result.G);

# %% [markdown]
# The fakes are faces. The curve below shows how little they depend on $z$: every pixel
# barely moves as $z$ sweeps $[0, 1]$. G found one good face and makes it for every
# $z$: a small case of **mode collapse** (notebook 05 measures it on bigger data).

# %%
toy.plot_g_over_z(result.G);

# %% [markdown]
# ## 7. The losses, and why D ends at 1/2
#
# We log the **true** D loss, $-\log D(x) - \log(1 - D(G(z)))$. (The original logged
# this quantity with $z$ in place of $G(z)$, which is not D's loss.)

# %%
toy.plot_losses(result.history, title="2×2 toy: true D loss and G loss");

# %%
toy.plot_d_outputs(result.history);
print("D on the faces:", np.round(s["D_on_faces"], 3))
print("D on G(z):     ", np.round(s["D_on_fakes"], 3))

# %% [markdown]
# D ends near 1/2, and at $D = 1/2$ the D loss is $2\log 2 \approx 1.386$ and the G loss
# $\log 2 \approx 0.693$: the dotted lines in the loss plot. It is tempting to read this as
# the theory's fixed point, where $p_g = p_\text{data}$ and the optimal discriminator
# $D^*(x) = p_\text{data}(x) / (p_\text{data}(x) + p_g(x))$ equals 1/2 everywhere
# (notebook 02 derives $D^*$). **It is not quite that**, and the difference is instructive:
#
# - Taken literally, the five faces and G's single face are different points, so the
#   exact $D^*$ is 1 on the faces and 0 on the fakes. Even the toy's own linear D,
#   retrained to convergence against the final G, reaches $V \approx -0.80$, far above
#   the $-\log 4 \approx -1.39$ that $D = 1/2$ gives (`tinygan optimal-d`, experiment 4).
# - What holds is a statement at the **resolution D can see**: every fake is within 0.077
#   per pixel of the first face, closer than any two real faces are to each other (0.1).
#   Blur both distributions by $\sigma = 0.3$ and the optimal D is 0.41–0.54 on the faces
#   and 0.44 on the fakes.
# - D reaches 1/2 because the game is played in small alternating steps: one SGD step of
#   D per face, then one of G, which moves its face to wherever D currently says "real".
#   Neither player can gain from a *small* step any more; D is never trained to the inner
#   optimum that the theorem assumes.
#
# D stays a little below 1/2 on the imperfect faces and a little above on G's very clean
# one.
#
# ## Summary
#
# - A GAN is two differentiable functions and two cross-entropy errors; with one layer
#   each, every derivative is a line of algebra.
# - Feeding D's **logit** to the loss gives $\partial L/\partial a = \sigma(a) - y$ and a
#   loss that cannot overflow.
# - The general library (Dense, Sigmoid, BCE, SGD, `update_g`) reproduces the hand-written
#   toy to $10^{-12}$ per step and the published run to the published digits.
# - At the end D sits at 1/2 on faces and fakes: at the coarse resolution a one-layer D
#   sees, G's face is indistinguishable from the real ones, though a D trained to
#   optimality would still separate them (notebook 02). G ignores $z$, a first glimpse of
#   mode collapse.
#
# ## Exercises
#
# 1. Remove the factor $w_i$ from the generator's formula (as on the lecture slide) in a
#    copy of `toy.hand_gradients` and train. What happens to the faces?
# 2. Train G with the minimax cost $\log(1 - D(G(z)))$ instead (`tg.update_g(..., loss="minimax")`).
#    Compare the first 100 epochs of the loss curves. (Notebook 04 explains the difference.)
# 3. Change the seed. Do the final parameters change? Does D still end at 1/2?
# 4. Give G two noise inputs (`Dense(2, 4)`). Does it use them to make more varied faces?
