"""The optimal discriminator D* = p_data/(p_data + p_g), measured (experiments 1, 2 and 4).

Experiment 1 trains only the inner loop of Algorithm 1: a small MLP discriminator
against a FIXED affine generator G(z) = a·z + b, z ~ N(0, 1), whose density
p_g = N(b, a²) is known exactly. p_data is a two-bump Gaussian mixture, so D* is
not a simple step. We report how close the trained D is to D*:

* E_m|D − D*| with m = (p_data + p_g)/2   (target ≤ 0.01),
* the worst |D − D*| where p_data + p_g ≥ 0.05  (target ≤ 0.05),
* V(D, G) against C(G) = max_D V           (target C − V ≤ 0.005 nats; V ≤ C always).

Experiment 2 checks the identities of the paper's §4 by quadrature on a family of
(p_data, p_g) pairs: V(D*, G) = −log 4 + 2·JSD, D* = 1/2 and C = −log 4 when
p_g = p_data, and the pointwise lemma a log y + b log(1 − y) peaking at a/(a + b).

Experiment 4 looks at the 2×2 faces toy (tinygan toy2x2) with the same lens.

Derivation: derivations/02_optimal_discriminator.md
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from .. import backend
from .. import densities as dn
from ..layers import Dense, LeakyReLU
from ..models import Sequential
from ..optim import Adam
from ..train import update_d

np = backend.numpy

HELP = "experiment 1-2 (+4): train D against a fixed G, compare with D* = p_data/(p_data+p_g)"

# Experiment 1's densities: a two-bump p_data and a broad Gaussian p_g = N(b, a²).
P_DATA = dn.Mixture([0.5, 0.5], [dn.Gaussian(-1.5, 0.5), dn.Gaussian(1.25, 0.6)])
G_A, G_B = 1.3, 0.25
CORE = 0.05  # the "where samples are" region: p_data + p_g ≥ CORE


@dataclass
class Config:
    """Experiment 1's knobs: network width, steps, batch, Adam's lr decayed geometrically."""

    hidden: int = 32
    num_steps: int = 3000
    batch_size: int = 512
    lr: float = 1e-2
    lr_final: float = 1e-4
    alpha: float = 0.2
    seed: int = 0
    dtype: str = "float64"


QUICK = Config(num_steps=3000, batch_size=512)
FULL = Config(num_steps=10000, batch_size=1024)


def make_discriminator(hidden, rng, alpha=0.2, dtype="float64"):
    """Sequential(Dense(1→h), LeakyReLU, Dense(h→h), LeakyReLU, Dense(h→1)): logits."""
    return Sequential(Dense(1, hidden, rng=rng, dtype=dtype), LeakyReLU(alpha),
                      Dense(hidden, hidden, rng=rng, dtype=dtype), LeakyReLU(alpha),
                      Dense(hidden, 1, rng=rng, dtype=dtype))


def affine_generator(a, b, dtype="float64"):
    """G(z) = a·z + b as a one-layer Sequential(Dense(1→1)); p_g = N(b, a²) for z ~ N(0, 1)."""
    layer = Dense(1, 1, init="zeros", dtype=dtype)
    layer.params["W"][...] = a
    layer.params["b"][...] = b
    return Sequential(layer)


def train_discriminator(D, G, p_data, num_steps, batch_size, lr, lr_final=None, rng=None,
                        progress=False, opt=None):
    """The inner loop of Algorithm 1 alone: ``num_steps`` calls of ``update_d`` with G fixed.

    Every step draws fresh minibatches (m data points, m noise vectors z ~ N(0, 1)),
    so D minimises the *population* loss, not a fixed sample's. Adam's lr decays
    geometrically from ``lr`` to ``lr_final``: large steps find D*'s shape, small
    ones average out the minibatch noise. Returns the list of D losses.
    """
    rng = rng if rng is not None else backend.rng(0)
    opt = opt or Adam(D, lr=lr)
    lr_final = lr if lr_final is None else lr_final
    dtype = D.dtype
    losses = []
    steps = range(num_steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="train D", unit="step", leave=False)
    for t in steps:
        opt.lr = lr * (lr_final / lr) ** (t / max(1, num_steps - 1))
        x_real = p_data.sample(rng, batch_size, dtype)
        z = rng.standard_normal((batch_size, 1)).astype(dtype)
        losses.append(float(update_d(G, D, x_real, z, opt)["loss_D"]))
    return losses


def measure(D, p_data, p_g, core=CORE, num_grid=4001):
    """How close D is to D*: the numbers of experiment 1 (all by quadrature / on a fine grid)."""
    logits = dn.model_logits(D)
    quad = dn.quadrature(p_data, p_g)
    lo, hi = _plot_range(p_data, p_g)
    x = np.linspace(lo, hi, num_grid)
    core_mask = p_data.pdf(x) + p_g.pdf(x) >= core
    err = np.abs(_sigmoid(logits(x)) - dn.optimal_discriminator(p_data, p_g, x))
    V = dn.value(p_data, p_g, logits, quad)
    C = dn.criterion(p_data, p_g, quad)
    return {
        "mean_abs_error_m": dn.mixture_error(p_data, p_g, logits, quad),
        "max_abs_error_core": float(err[core_mask].max()),
        "max_abs_error_everywhere": float(err.max()),
        "V": V, "C": C, "C_minus_V": C - V,
        "JSD": dn.jsd(p_data, p_g, quad),
    }


def _sigmoid(a):
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def _plot_range(*ds, k=3.5):
    """An x-range showing every density (±k scales around each Gaussian, whole uniforms)."""
    lo, hi = math.inf, -math.inf
    for d in ds:
        parts = d.components if isinstance(d, dn.Mixture) else [d]
        for c in parts:
            a, b = ((c.mu - k * c.sigma, c.mu + k * c.sigma) if isinstance(c, dn.Gaussian)
                    else c.interval())
            lo, hi = min(lo, a), max(hi, b)
    return lo, hi


def experiment1(config=QUICK, progress=False):
    """Train D against the fixed G of this module; return (D, p_data, p_g, numbers)."""
    rng = backend.rng(config.seed)
    G = affine_generator(G_A, G_B, config.dtype)
    p_g = dn.generator_density(G)
    D = make_discriminator(config.hidden, rng, config.alpha, config.dtype)
    losses = train_discriminator(D, G, P_DATA, config.num_steps, config.batch_size, config.lr,
                                 config.lr_final, rng=rng, progress=progress)
    numbers = measure(D, P_DATA, p_g)
    numbers["final_loss_D"] = float(np.mean(losses[-100:]))
    numbers["config"] = dict(config.__dict__)
    return D, P_DATA, p_g, numbers, losses


# -- experiment 2 ------------------------------------------------------------------------

def identity_family():
    """The (name, p_data, p_g) pairs on which experiment 2 prints the identities."""
    g = dn.Gaussian
    bimodal = dn.Mixture([0.5, 0.5], [g(-1.5, 0.5), g(1.25, 0.6)])
    return [
        ("equal Gaussians", g(0, 1), g(0, 1)),
        ("shifted by 0.5σ", g(0, 1), g(0.5, 1)),
        ("different widths", g(0, 1), g(0, 2)),
        ("bimodal vs N(0.25, 1.3²)", bimodal, g(G_B, G_A)),
        ("bimodal vs itself", bimodal, bimodal),
        ("uniform vs shifted uniform", dn.Uniform(0, 1), dn.Uniform(0.3, 1.3)),
        ("8σ apart", g(0, 1), g(8, 1)),
        ("40σ apart", g(0, 1), g(40, 1)),
    ]


def experiment2():
    """For each pair: C(G) = V(D*, G), −log 4 + 2·JSD, and their difference."""
    rows = []
    for name, p, q in identity_family():
        quad = dn.quadrature(p, q)
        C = dn.criterion(p, q, quad)
        J = dn.jsd(p, q, quad)
        rows.append({"pair": name, "C": C, "JSD": J, "minus_log4_plus_2JSD": -dn.LOG4 + 2 * J,
                     "difference": C - (-dn.LOG4 + 2 * J)})
    return rows


# -- plots -------------------------------------------------------------------------------

def plot_d_vs_dstar(D, p_data, p_g, numbers=None, core=CORE, num_grid=801):
    """Trained D(x) against D*(x), over the densities; below, |D − D*| with the core shaded.

    Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    lo, hi = _plot_range(p_data, p_g, k=4.0)
    x = np.linspace(lo, hi, num_grid)
    pd_, pg_ = p_data.pdf(x), p_g.pdf(x)
    d = _sigmoid(dn.model_logits(D)(x))
    ds = dn.optimal_discriminator(p_data, p_g, x)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.3]})
    ax.plot(x, pd_, "k:", lw=2, label=r"$p_{data}$")
    ax.plot(x, pg_, "g-", lw=1.8, label=r"$p_g$ (fixed $G$)")
    ax.plot(x, ds, color="0.55", lw=4, alpha=0.6,
            label=r"$D^* = p_{data}/(p_{data}+p_g)$")
    ax.plot(x, d, "b--", lw=1.8, label=r"trained $D$")
    ax.axhline(0.5, color="0.8", lw=0.8, zorder=0)
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("density / probability")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    title = "Experiment 1: D trained against a fixed G"
    if numbers:
        title += (f"\nE_m|D−D*| = {numbers['mean_abs_error_m']:.4f},  "
                  f"max core |D−D*| = {numbers['max_abs_error_core']:.4f},  "
                  f"C−V = {numbers['C_minus_V']:.5f} nats")
    ax.set_title(title, fontsize=10)
    ax2.semilogy(x, np.maximum(np.abs(d - ds), 1e-6), "r-", lw=1.2, label=r"$|D - D^*|$")
    core_mask = pd_ + pg_ >= core
    ax2.fill_between(x, 1e-6, 1, where=core_mask, color="0.9", zorder=0,
                     label=rf"core: $p_{{data}}+p_g \geq {core}$")
    ax2.axhline(0.05, color="r", ls=":", lw=0.8)
    ax2.set_ylim(1e-5, 1)
    ax2.set_xlabel("x")
    ax2.set_ylabel(r"$|D - D^*|$")
    ax2.legend(loc="lower center", fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def plot_d_loss(losses):
    """The D loss while training against a fixed G, with its floor −C(G) = log 4 − 2·JSD."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(losses, lw=0.6, color="tab:blue", label="minibatch D loss")
    C = dn.criterion(P_DATA, dn.affine_generator_density(G_A, G_B))
    ax.axhline(-C, color="k", ls="--", lw=1, label=r"$-C(G)$: the best possible")
    ax.axhline(dn.LOG4, color="0.6", ls=":", lw=1, label=r"$\log 4$ (D = 1/2)")
    ax.set_xlabel("D step")
    ax.set_ylabel("loss_D (nats)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- the command -------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="the short run the tests use")
    parser.add_argument("--seed", type=int, default=0)


def _table(rows, cols, fmt):
    widths = [max(len(c), *(len(fmt[c](r[c])) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(fmt[c](r[c]).rjust(w) for c, w in zip(cols, widths)) for r in rows]
    return "\n".join(lines)


def main(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    config = Config(**{**(QUICK if args.quick else FULL).__dict__, "seed": args.seed})
    D, p_data, p_g, numbers, losses = experiment1(config, progress=not args.no_progress)
    print(f"Experiment 1: D ({config.hidden} hidden, {config.num_steps} Adam steps, "
          f"batch {config.batch_size}) against the fixed G(z) = {G_A}·z + {G_B}")
    print(f"  p_data = {p_data!r}\n  p_g    = {p_g!r}")
    checks = [("E_m|D − D*|", numbers["mean_abs_error_m"], "≤ 0.01"),
              ("max |D − D*| on core", numbers["max_abs_error_core"], "≤ 0.05"),
              ("max |D − D*| anywhere", numbers["max_abs_error_everywhere"], "(tails; shown)"),
              ("C(G)", numbers["C"], ""),
              ("V(D, G)", numbers["V"], "≤ C(G)"),
              ("C − V (nats)", numbers["C_minus_V"], "0 ≤ · ≤ 0.005"),
              ("JSD(p_data‖p_g)", numbers["JSD"], "")]
    w = max(len(c[0]) for c in checks)
    for name, v, target in checks:
        print(f"  {name:<{w}}  {v: .6f}  {target}")

    rows = experiment2()
    print("\nExperiment 2: C(G) = max_D V = −log 4 + 2·JSD (quadrature)")
    print(_table(rows, ["pair", "C", "JSD", "minus_log4_plus_2JSD", "difference"],
                 {"pair": str, "C": "{:.10f}".format, "JSD": "{:.10f}".format,
                  "minus_log4_plus_2JSD": "{:.10f}".format, "difference": "{:.1e}".format}))

    fig = plot_d_vs_dstar(D, p_data, p_g, numbers)
    fig.savefig(os.path.join(args.out, "d_vs_dstar.png"), dpi=120)
    plt.close(fig)
    fig = plot_d_loss(losses)
    fig.savefig(os.path.join(args.out, "d_loss.png"), dpi=120)
    plt.close(fig)
    results = {"experiment1": numbers, "experiment2": rows}
    with open(os.path.join(args.out, "optimal_d.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {args.out}/d_vs_dstar.png, d_loss.png, optimal_d.json")
    ok = (numbers["mean_abs_error_m"] <= 0.01 and numbers["max_abs_error_core"] <= 0.05
          and 0 <= numbers["C_minus_V"] <= 0.005)
    return 0 if ok else 1
