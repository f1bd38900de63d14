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
# # 02 · The optimal discriminator, step by step
#
# Section 4 of the GAN paper makes two claims that everything else in GAN theory leans on:
#
# 1. for a fixed generator the best discriminator is
#    $D^*(x) = \dfrac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}$;
# 2. against that discriminator, G minimises
#    $C(G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data}\,\|\,p_g)$, whose only minimum is
#    $p_g = p_\text{data}$, where $D^* = 1/2$.
#
# In one dimension, with densities we can write down, all of this can be **computed**
# rather than believed: $V$, $C$ and JSD are integrals, and a fine quadrature gets them to
# about $10^{-12}$. So we check the algebra step by step, then train a real discriminator
# and watch it land on $D^*$, then reproduce the paper's Figure 1 with a real 1-D GAN.
#
# The derivation this notebook follows: `derivations/02_optimal_discriminator.md`.

# %%
import os

import numpy as np

from tinygan import backend
from tinygan import densities as dn
from tinygan.experiments import figure1 as f1
from tinygan.experiments import optimal_d as od
from tinygan.gradcheck import check_function, check_layer

QUICK = os.environ.get("TINYGAN_QUICK", "0") == "1"  # CI runs the short versions

# %% [markdown]
# ## 1. V as an integral
#
# $$V(D, G) = \mathbb E_{x\sim p_\text{data}}[\log D(x)] + \mathbb E_{z\sim p_z}[\log(1 - D(G(z)))]
# = \int p_\text{data}\log D + p_g \log(1 - D)\;dx .$$
#
# The second form needs $p_g$, the density of $G(z)$. For an affine generator
# $G(z) = az + b$ the change of variables gives it exactly:
# $p_g(x) = p_z\big((x - b)/a\big)/|a|$, so $z \sim \mathcal N(0, 1)$ gives $\mathcal N(b, a^2)$.
#
# ### The density of an affine G
# `dn.generator_density` reads $a, b$ off a `Dense(1→1)`. We compare with samples of $G(z)$.

# %%
G = od.affine_generator(1.3, 0.25)
p_g = dn.generator_density(G)
rng = backend.rng(0)
x = backend.to_numpy(G.forward(rng.standard_normal((200_000, 1)))).ravel()
G.clear_cache()
print(p_g)
print(f"sample mean {x.mean():.4f} (b = 0.25), sample std {x.std():.4f} (|a| = 1.3)")
# P(0 < x < 1) = Φ((1 − b)/a) − Φ((0 − b)/a), from the density's CDF
prob = np.diff(dn.normal_cdf([(0 - 0.25) / 1.3, (1 - 0.25) / 1.3]))[0]
print(f"P(0 < x < 1): samples {np.mean((x > 0) & (x < 1)):.4f}, from p_g {prob:.4f}")

# %% [markdown]
# ### Quadrature against closed forms
# Composite Gauss–Legendre, 8 nodes per panel, panels no wider than a quarter of the
# narrowest density's scale, panel edges on every jump. Two closed forms: KL between
# Gaussians, and JSD between a uniform and its copy shifted by a fraction $s$ of its
# width, which is exactly $s \log 2$.

# %%
g1, g2 = dn.Gaussian(0, 1), dn.Gaussian(1, 2)
closed = np.log(2 / 1) + (1 + 1) / (2 * 4) - 0.5
print(f"KL(N(0,1) || N(1,4)): quadrature {dn.kl(g1, g2):.15f}, closed form {closed:.15f}")
u1, u2 = dn.Uniform(0, 1), dn.Uniform(0.3, 1.3)
print(f"JSD(U[0,1) || U[0.3,1.3)): quadrature {dn.jsd(u1, u2):.15f}, "
      f"0.3·log 2 = {0.3 * np.log(2):.15f}")
print("V for D = 1/2:", dn.value(g1, g2, lambda x: np.zeros_like(x)), " −log 4 =", -np.log(4))

# %% [markdown]
# ## 2. The optimal discriminator
#
# The integrand at one $x$ depends on the single number $y = D(x)$, so maximise pointwise:
# $f(y) = \alpha\log y + \beta\log(1-y)$ with $\alpha = p_\text{data}(x)$, $\beta = p_g(x)$.
# $f'(y) = \alpha/y - \beta/(1-y) = 0$ at $y = \alpha/(\alpha + \beta)$, and $f'' < 0$.
#
# ### The pointwise lemma

# %%
od.plot_pointwise_lemma();

# %% [markdown]
# **Live gradient check.** The derivative we set to zero, $f'(y) = \alpha/y - \beta/(1-y)$,
# against central differences (float64), for a batch of $(\alpha, \beta, y)$; and the
# backward pass of the discriminator MLP we are about to train.

# %%
r = np.random.default_rng(0)
alpha, beta = r.uniform(0.1, 3, 6), r.uniform(0.1, 3, 6)
y0 = r.uniform(0.05, 0.95, 6)
print(check_function(lambda y: (dn.pointwise_objective(y, alpha, beta).sum(),
                                alpha / y - beta / (1 - y)), y0, names=["y"],
                     title="f(y) = α log y + β log(1 − y)"))
print("f'(α/(α+β)) =", np.abs(alpha / (alpha / (alpha + beta))
                              - beta / (1 - alpha / (alpha + beta))).max())
print(check_layer(od.make_discriminator(8, backend.rng(1)), r.normal(size=(5, 1))))

# %% [markdown]
# ### Perturbing D* lowers V
# $C(G) = V(D^*, G)$ is the maximum: add any bump to $D^*$'s logit
# $a^*(x) = \log p_\text{data}(x) - \log p_g(x)$ and $V$ drops, quadratically in the size.

# %%
p_data = od.P_DATA
C = dn.criterion(p_data, p_g)
print(f"C(G) = V(D*, G) = {C:.10f}")
for eps in [1.0, 0.3, 0.1, 0.03]:
    V = dn.value(p_data, p_g,
                 lambda x, eps=eps: dn.optimal_logits(p_data, p_g, x) + eps * np.sin(2 * x))
    print(f"  logit + {eps:<4}·sin(2x):  V = {V:.10f}   C − V = {C - V:.2e}")

# %% [markdown]
# ## 3. Experiment 1: a trained D lands on D*
#
# Only the inner loop of Algorithm 1: the MLP D is trained with `tinygan.update_d` and Adam
# against the **fixed** $G(z) = 1.3z + 0.25$, fresh minibatches every step, learning rate
# decaying from $10^{-2}$. $p_\text{data}$ has two bumps, so $D^*$ is not a simple step.
# Targets: $\mathbb E_m|D - D^*| \le 0.01$, $|D - D^*| \le 0.05$ where
# $p_\text{data} + p_g \ge 0.05$, and $0 \le C - V \le 0.005$ nats.

# %%
D, p_data, p_g, numbers, losses = od.experiment1(od.QUICK if QUICK else od.FULL)
for k in ["mean_abs_error_m", "max_abs_error_core", "max_abs_error_everywhere", "C", "V",
          "C_minus_V"]:
    print(f"{k:>26}: {numbers[k]: .6f}")
od.plot_d_vs_dstar(D, p_data, p_g, numbers);

# %% [markdown]
# The grey band is $D^*$, the dashed line the trained D. The lower panel shows
# $|D - D^*|$ on a log scale: small where the samples are (shaded), larger in the tails,
# where a sample arrives once in thousands of steps and nothing pins D down.
#
# D minimises the minibatch estimate of $-V$, so its loss cannot go below $-C(G)$:

# %%
od.plot_d_loss(losses);

# %% [markdown]
# ## 4. Experiment 2: C(G) = −log 4 + 2·JSD
#
# Substituting $D^*$: $\log\frac{p_\text{data}}{p_\text{data}+p_g} = \log\frac{p_\text{data}}{m} - \log 2$
# with $m = (p_\text{data} + p_g)/2$, so
# $C(G) = -\log 4 + \mathrm{KL}(p_\text{data}\|m) + \mathrm{KL}(p_g\|m) = -\log 4 + 2\,\mathrm{JSD}$.
# Below, $C$ is computed as $V(D^*, G)$ and JSD separately from its definition.

# %%
for row in od.experiment2():
    print(f"{row['pair']:>28}:  C = {row['C']: .12f}   −log 4 + 2·JSD = "
          f"{row['minus_log4_plus_2JSD']: .12f}   diff {row['difference']: .1e}")

# %% [markdown]
# ### JSD between 0 and log 2
# $\mathrm{KL} \ge 0$ (Jensen), with equality only for equal densities, so
# $C(G) \ge -\log 4$ with equality iff $p_g = p_\text{data}$, and then $D^* = 1/2$.
# At the other end JSD $\le \log 2$, reached when the densities do not overlap.

# %%
for d in [0, 0.5, 1, 2, 4, 8, 16, 40]:
    j = dn.jsd(dn.Gaussian(0, 1), dn.Gaussian(d, 1))
    print(f"N(0,1) vs N({d:>2},1):  JSD = {j:.12f}   log 2 − JSD = {np.log(2) - j:.2e}")
x = np.linspace(-3, 3, 7)
print("D* when p_g = p_data:", dn.optimal_discriminator(p_data, p_data, x))

# %% [markdown]
# ## 5. Figure 1 of the paper
#
# A real 1-D GAN trained with `tinygan.fit`: $p_\text{data} = \mathcal N(1, 0.5^2)$,
# $G(z) = az + b$ with $z\sim\mathcal N(0,1)$, the MLP D on logits. The lower line of each
# panel is the noise drawn as $u = \Phi(z)$, uniform as in the paper, with arrows to
# $x = G(z) = a\Phi^{-1}(u) + b$.
#
# (a) part-way through training, D partially accurate; (b) the inner loop alone, until
# D = D*; (c) a few G steps against that D: G(z) flows toward data; (d) later, p_g = p_data
# and D = 1/2.

# %%
fig1 = f1.run(f1.QUICK if QUICK else f1.FULL)
for s in fig1.snapshots:
    n = s.numbers
    print(f"({s.key}) G step {s.step:>5}: a = {n['a']:.4f}, b = {n['b']:.4f}, "
          f"JSD = {n['JSD']:.2e}, E_m|D−D*| = {n['mean_abs_error_m']:.4f}, "
          f"max|D − 1/2| on μ±3σ = {n['max_abs_D_minus_half_on_support']:.4f}")
f1.plot_figure1(fig1);

# %% [markdown]
# ### The criterion falls
# JSD and $C(G) + \log 4 = 2\,\mathrm{JSD}$ over training (left, log scales), and the value
# of the discriminator actually being trained, $V(D_t, G_t)$, which can never exceed
# $C(G_t)$ (right). The fall is not monotone: G and D chase each other in damped
# oscillations around the equilibrium (Proposition 2's argument assumes D optimal at
# every step; Algorithm 1 takes one D step).

# %%
print(f1.training_summary(fig1))
f1.plot_criterion_curves(fig1);

# %% [markdown]
# ## 6. The 2×2 toy through the same lens
#
# Notebook 01's toy ends with D ≈ 1/2 on faces and fakes. Exact $D^*$ says something
# else: five points and a curve in $\mathbb R^4$ do not overlap, so $D^*$ is 1 on the faces,
# 0 on the fakes, and JSD = log 2. What makes them "nearly the same distribution" is
# resolution: every fake is closer to face 1 than any two faces are to each other. Blur
# both by pixel noise of width σ and $D^*_\sigma$ slides from 0/1 to ≈ 1/2 once σ exceeds
# those gaps. The toy's D (four small weights, one sample per step, lr 0.01) sees the
# data that coarsely; the same linear D retrained against the final G does much better.

# %%
toy = od.experiment4()
print("toy's D on faces:", np.round(toy["D_faces"], 3),
      f" on G(z): {toy['D_fakes_min']:.3f} … {toy['D_fakes_max']:.3f}")
print(f"V(D_toy) = {toy['V_toy']:.3f},  best linear D: V = {toy['V_best_linear']:.3f},  "
      f"−log 4 = {-np.log(4):.3f}")
print(f"largest fake-to-nearest-face gap {toy['fake_to_nearest_face_linf_max']:.3f}, "
      f"smallest face-to-face gap {toy['face_to_face_linf_min']:.3f}")
od.plot_toy_lens(toy);

# %% [markdown]
# ## Summary
#
# - $V$ is an integral over $x$; the pointwise maximiser of
#   $p_\text{data}\log y + p_g\log(1-y)$ is $D^* = p_\text{data}/(p_\text{data}+p_g)$, whose
#   logit is $\log p_\text{data} - \log p_g$.
# - A small MLP trained only on D's step reaches $D^*$ to within 0.004 on average where
#   the samples are (0.002 in the full run); its $V$ is below $C(G)$ by $3\times10^{-4}$
#   nats ($10^{-4}$).
# - $C(G) = V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}$ holds to $10^{-15}$ by quadrature;
#   JSD $\in [0, \log 2]$, zero only for $p_g = p_\text{data}$, where $D^* = 1/2$.
# - A real 1-D GAN reproduces Figure 1: D retrained to $D^*$, G pushed toward the data,
#   and at the end $p_g \approx p_\text{data}$ with $|D - 1/2| < 0.05$ on the data.
# - "D = 1/2" in the 2×2 toy means: indistinguishable at the resolution D can see, not
#   $p_g = p_\text{data}$.
#
# ## Exercises
#
# 1. Give p_g a **uniform** noise: `dn.affine_generator_density(a, b, noise="uniform")`.
#    Plot $D^*$. Why would a trained MLP struggle near the ends of $[b, b+a)$?
# 2. Train experiment 1's D with `k`-like budgets: 100, 300, 1000 steps. How does
#    $\mathbb E_m|D - D^*|$ fall? And $C - V$? (Hint: $C - V$ is second order in $D - D^*$.)
# 3. Show that $C - V \approx \int \frac{(p_\text{data}+p_g)}{2}\,\frac{(D - D^*)^2}{D^*(1-D^*)}\,dx$
#    for $D$ near $D^*$, and check it numerically with experiment 1's D.
# 4. In a copy of `f1.run`, give G Adam instead of SGD. What happens to $a$ in panel (c),
#    and why? (Adam scales each parameter's step to about lr.)
# 5. Run the toy with a larger learning rate, `toy2x2.train(lr=0.05)`, and redo section 6.
#    Does D still end at 1/2? Does the retrained linear D's V change?
