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

import math
from dataclasses import dataclass

from .. import backend, runs
from .. import densities as dn
from ..layers import Dense, LeakyReLU, sigmoid
from ..layers.base import NonFiniteInputError
from ..models import Sequential
from ..optim import Adam
from ..train import Watch, update_d

np = backend.numpy

HELP = "train D against a fixed G and compare it with the optimal D* = p_data/(p_data + p_g)"

DESCRIPTION = """\
The optimal discriminator of the GAN paper's section 4, measured instead of believed.
In 1-D, with densities known in closed form, tinygan trains a small MLP discriminator
against a FIXED generator and compares it with the analytic D* = p_data/(p_data +
p_g); it prints the identity C(G) = V(D*, G) = -log 4 + 2·JSD for a family of density
pairs, computed by quadrature; and it looks at the 2×2 toy's final D ≈ 1/2 through
the same lens (that 1/2 is not the optimal D).

Time (one core): about 20 s with --quick (8,000 steps of batch 256), about a minute by
default (6,000 steps of batch 2,048).

Writes to --out: d_vs_dstar.png, d_loss.png, toy_lens.png, optimal_d.json,
checkpoint.npz and run.json.

Notebook: notebooks/02_optimal_discriminator.ipynb (derivation:
derivations/02_optimal_discriminator.md). tinygan figure1 draws the paper's Figure 1."""

CHECKPOINT_EVERY = 1000
ANIMATION = False

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


# Quick mode keeps the batch at 256: on a busy 2-core machine OpenBLAS turns multi-threaded
# (and 10× slower) for the (512, 32) × (32, 32) products of a batch of 512.
QUICK = Config(num_steps=8000, batch_size=256, lr_final=1e-5)
FULL = Config(num_steps=6000, batch_size=2048, lr_final=3e-5)


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
                        progress=False, opt=None, start=0, losses=None, tick=None):
    """The inner loop of Algorithm 1 alone: ``num_steps`` calls of ``update_d`` with G fixed.

    Every step draws fresh minibatches (m data points, m noise vectors z ~ N(0, 1)),
    so D minimises the *population* loss, not a fixed sample's. Adam's lr decays
    geometrically from ``lr`` to ``lr_final``: large steps find D*'s shape, small
    ones average out the minibatch noise. Returns the list of D losses.

    A resumed run passes ``start`` (the steps already taken), the ``losses`` so far and
    the restored ``opt``; ``tick(t)`` is called after step t (checkpoints, Ctrl-C).
    """
    rng = rng if rng is not None else backend.rng(0)
    opt = opt or Adam(D, lr=lr)
    lr_final = lr if lr_final is None else lr_final
    dtype = D.dtype
    losses = [] if losses is None else losses
    steps = range(start, num_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        steps = bar = tqdm(steps, desc="train D", unit="step", leave=False)
    watch, t, x_real = Watch({"G": G, "D": D}, {"D": opt}), start, None
    try:
        for t in steps:
            opt.lr = lr * (lr_final / lr) ** (t / max(1, num_steps - 1))
            x_real = p_data.sample(rng, batch_size, dtype)
            z = rng.standard_normal((batch_size, 1)).astype(dtype)
            loss = update_d(G, D, x_real, z, opt)["loss_D"]
            losses.append(watch.loss(t, "discriminator loss", loss))
            watch.state(t)
            if tick is not None:
                tick(t + 1)
    except NonFiniteInputError as exc:
        raise watch.layer(t, "discriminator step", exc, data=x_real) from exc
    finally:
        if bar is not None:
            bar.close()
    return losses


def measure(D, p_data, p_g, core=CORE, num_grid=4001):
    """How close D is to D*: the numbers of experiment 1 (all by quadrature / on a fine grid)."""
    logits = dn.model_logits(D)
    quad = dn.quadrature(p_data, p_g)
    lo, hi = _plot_range(p_data, p_g)
    x = np.linspace(lo, hi, num_grid)
    core_mask = p_data.pdf(x) + p_g.pdf(x) >= core
    err = np.abs(sigmoid(logits(x)) - dn.optimal_discriminator(p_data, p_g, x))
    V = dn.value(p_data, p_g, logits, quad)
    C = dn.criterion(p_data, p_g, quad)
    return {
        "mean_abs_error_m": dn.mixture_error(p_data, p_g, logits, quad),
        "max_abs_error_core": float(err[core_mask].max()),
        "max_abs_error_everywhere": float(err.max()),
        "V": V, "C": C, "C_minus_V": C - V,
        "JSD": dn.jsd(p_data, p_g, quad),
    }


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


def experiment1(config=QUICK, progress=False, run=None):
    """Train D against the fixed G of this module; return (D, p_data, p_g, numbers, losses).

    ``run`` (a :class:`tinygan.runs.Run`): checkpoints of D, Adam, the generator and the
    losses so far; ``--resume`` continues bit for bit.
    """
    rng = backend.rng(config.seed)
    G = affine_generator(G_A, G_B, config.dtype)
    p_g = dn.generator_density(G)
    D = make_discriminator(config.hidden, rng, config.alpha, config.dtype)
    opt, losses = Adam(D, lr=config.lr), []
    parts = {"D": D, "opt": opt, "rng": rng, "losses": losses}
    run = run or runs.NullRun()
    start = run.restore(parts)
    with run.loop(config.num_steps, state=parts, start=start) as tick:
        train_discriminator(D, G, P_DATA, config.num_steps, config.batch_size, config.lr,
                            config.lr_final, rng=rng, progress=progress, opt=opt, start=start,
                            losses=losses, tick=tick)
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


# -- experiment 4: the 2×2 toy through the same lens ------------------------------------------

TOY_SIGMAS = (0.01, 0.03, 0.05, 0.1, 0.2, 0.3)


def _log_kernel_mixture(x, centres, sigma):
    """log of (1/K) Σ_k N(x; c_k, σ² I): the density of `centres` seen at resolution σ."""
    q = -((x[:, None, :] - centres[None]) ** 2).sum(-1) / (2 * sigma**2)  # (N, K)
    top = q.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(q - top).mean(axis=1, keepdims=True))).ravel()


def blurred_optimal_discriminator(x, faces, fakes, sigma):
    """D*_σ(x) for the faces and the fakes each blurred by N(0, σ² I): D* at resolution σ."""
    a = _log_kernel_mixture(x, faces, sigma) - _log_kernel_mixture(x, fakes, sigma)
    return sigmoid(a)


def experiment4(num_z=200, retrain_steps=2000, result=None):
    """The toy's final D and G (tinygan toy2x2, faithful mode) against the D* picture.

    Returns a dict: D on the faces and on G(z) over a grid of z; the distance from each
    fake to its nearest face; the D of the same logistic family retrained to convergence
    against the fixed final G (its V against −log 4); D*_σ at resolution σ.
    """
    import copy

    from . import toy2x2

    result = result or toy2x2.train("faithful")
    G, D = result.G, result.D
    faces = backend.to_numpy(toy2x2.faces())
    z = ((np.arange(num_z) + 0.5) / num_z)[:, None]  # an even grid over U[0, 1)
    fakes = backend.to_numpy(toy2x2.generate(G, backend.asarray(z)))

    def prob(model, x):
        return backend.to_numpy(toy2x2.d_prob(model, backend.asarray(x))).ravel()

    d_faces, d_fakes = prob(D, faces), prob(D, fakes)
    dist = np.abs(fakes[:, None, :] - faces[None]).max(axis=-1)  # (num_z, 5), ℓ∞
    face_gap = np.abs(faces[:, None, :] - faces[None]).max(axis=-1)
    # The best D of the toy's own family (logistic regression on 4 pixels) against the
    # fixed final G: full-batch Adam on 40 copies of each face and the z grid.
    D_best = copy.deepcopy(D)
    opt = Adam(D_best, lr=0.05)
    x_real = backend.asarray(np.repeat(faces, num_z // len(faces), axis=0))
    z_dev = backend.asarray(z)
    for _ in range(retrain_steps):
        update_d(G, D_best, x_real, z_dev, opt)
    b_faces, b_fakes = prob(D_best, faces), prob(D_best, fakes)
    V_best = float(np.log(b_faces).mean() + np.log1p(-b_fakes).mean())
    V_toy = float(np.log(d_faces).mean() + np.log1p(-d_fakes).mean())
    blurred = [{"sigma": s,
                "D_faces": blurred_optimal_discriminator(faces, faces, fakes, s).tolist(),
                "D_fakes_mean": float(blurred_optimal_discriminator(fakes, faces, fakes,
                                                                    s).mean())}
               for s in TOY_SIGMAS]
    return {
        "D_faces": d_faces.tolist(), "D_fakes_min": float(d_fakes.min()),
        "D_fakes_max": float(d_fakes.max()), "D_fakes": d_fakes.tolist(),
        "G_0": fakes[0].tolist(), "G_1": fakes[-1].tolist(),
        "mean_face": faces.mean(0).tolist(), "mean_fake": fakes.mean(0).tolist(),
        "fake_to_nearest_face_linf_max": float(dist.min(axis=1).max()),
        "nearest_face_index": int(np.bincount(dist.argmin(axis=1)).argmax()),
        "face_to_face_linf_min": float(face_gap[face_gap > 0].min()),
        "V_toy": V_toy, "V_best_linear": V_best, "minus_log4": -dn.LOG4,
        "best_linear_D_faces": b_faces.tolist(), "best_linear_D_fakes_min": float(b_fakes.min()),
        "best_linear_D_fakes_max": float(b_fakes.max()),
        "blurred_D_star": blurred, "z": z.ravel().tolist(),
    }


def plot_toy_lens(res):
    """Left: the toy's D on the faces and on G(z) over z, with the retrained linear D.
    Right: D*_σ, the optimal D for the faces and fakes seen at resolution σ."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    pos = np.arange(6)
    fk = np.asarray(res["D_fakes"])
    ax.plot(pos[:5] - 0.1, res["D_faces"], "bo", ms=6, label="toy's final D")
    ax.errorbar([5 - 0.1], [fk.mean()], yerr=[[fk.mean() - fk.min()], [fk.max() - fk.mean()]],
                fmt="bs", ms=6, capsize=4)
    ax.plot(pos[:5] + 0.1, res["best_linear_D_faces"], "r^", ms=6,
            label="same family (linear D) retrained against the final G")
    lo, hi = res["best_linear_D_fakes_min"], res["best_linear_D_fakes_max"]
    ax.errorbar([5 + 0.1], [(lo + hi) / 2], yerr=[[(hi - lo) / 2], [(hi - lo) / 2]],
                fmt="r^", ms=6, capsize=4)
    ax.axhline(0.5, color="0.6", lw=0.8)
    ax.set_xticks(pos, [f"face {i + 1}" for i in range(5)] + ["G(z), z∈[0,1)"], fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_ylabel("D(x)")
    ax.set_title(f"toy's final D ≈ 1/2: V = {res['V_toy']:.3f} (−log 4 = {-dn.LOG4:.3f});\n"
                 f"the best linear D against the same G reaches V = {res['V_best_linear']:.3f}",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    sig = [b["sigma"] for b in res["blurred_D_star"]]
    faces = np.array([b["D_faces"] for b in res["blurred_D_star"]])
    fakes = [b["D_fakes_mean"] for b in res["blurred_D_star"]]
    for i in range(faces.shape[1]):
        ax2.semilogx(sig, faces[:, i], "k:o", ms=3, lw=1,
                     label=r"$D^*_\sigma$(face i)" if i == 0 else None)
    ax2.semilogx(sig, fakes, "g-s", ms=4, lw=1.5, label=r"mean $D^*_\sigma(G(z))$")
    ax2.axhline(0.5, color="0.6", lw=0.8)
    ax2.axvline(res["fake_to_nearest_face_linf_max"], color="b", ls="--", lw=0.8,
                label="largest fake-to-face distance")
    ax2.set_xlabel(r"resolution $\sigma$ (pixel blur)")
    ax2.set_ylabel(r"$D^*_\sigma = p_{data,\sigma} / (p_{data,\sigma} + p_{g,\sigma})$")
    ax2.set_title("exact D* is 1 on faces, 0 on fakes; seen at σ ≳ 0.2 it is ≈ 1/2",
                  fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- plots -------------------------------------------------------------------------------

def plot_d_vs_dstar(D, p_data, p_g, numbers=None, core=CORE, num_grid=801):
    """Trained D(x) against D*(x), over the densities; below, |D − D*| with the core shaded.

    Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    lo, hi = _plot_range(p_data, p_g, k=4.0)
    x = np.linspace(lo, hi, num_grid)
    pd_, pg_ = p_data.pdf(x), p_g.pdf(x)
    d = sigmoid(dn.model_logits(D)(x))
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
    ax2.axhline(0.05, color="r", ls=":", lw=0.8, label="target on the core: 0.05")
    ax2.set_ylim(1e-5, 3)
    ax2.set_xlabel("x")
    ax2.set_ylabel(r"$|D - D^*|$")
    ax2.legend(loc="upper center", fontsize=7, ncol=3)
    fig.tight_layout()
    return fig


def plot_pointwise_lemma(pairs=((1.0, 1.0), (2.0, 0.5), (0.3, 1.2), (0.05, 0.4))):
    """f(y) = α log y + β log(1 − y) for a few (α, β), each peak marked at y = α/(α + β)."""
    import matplotlib.pyplot as plt

    y = np.linspace(0.002, 0.998, 999)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for a, b in pairs:
        f = dn.pointwise_objective(y, a, b)
        line, = ax.plot(y, f - f.max(), lw=1.6, label=f"α = {a}, β = {b}")
        ys = a / (a + b)
        ax.axvline(ys, color=line.get_color(), ls=":", lw=1)
        ax.plot([ys], [0], "o", color=line.get_color())
    ax.set_ylim(-2, 0.2)
    ax.set_xlabel("y = D(x)")
    ax.set_ylabel("f(y) − max f")
    ax.set_title(r"$\alpha\log y + \beta\log(1-y)$ peaks at $y = \alpha/(\alpha+\beta)$",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower center")
    fig.tight_layout()
    return fig


def plot_d_loss(losses):
    """The D loss while training against a fixed G, with its floor −C(G) = log 4 − 2·JSD."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    losses = np.asarray(losses, dtype=np.float64)
    ax.plot(losses, lw=0.4, color="tab:blue", alpha=0.35, label="minibatch D loss")
    w = max(1, min(200, len(losses) // 10))
    if len(losses) > w:
        smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w - 1, len(losses)), smooth, lw=1.4, color="tab:blue",
                label=f"running mean of {w}")
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
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.num_steps} steps of batch {QUICK.batch_size} instead of "
                             f"{FULL.num_steps} of batch {FULL.batch_size}")
    parser.add_argument("--seed", type=runs.seed, default=0,
                        help="seed of D's weights and of the batches (default: 0)")


def _table(rows, cols, fmt):
    widths = [max(len(c), *(len(fmt[c](r[c])) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(fmt[c](r[c]).rjust(w) for c, w in zip(cols, widths)) for r in rows]
    return "\n".join(lines)


def main(args, run):
    config = Config(**{**(QUICK if args.quick else FULL).__dict__, "seed": args.seed})
    D, p_data, p_g, numbers, losses = experiment1(config, progress=not args.no_progress, run=run)
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

    toy = experiment4()
    print("\nExperiment 4: the 2×2 toy (toy2x2, faithful) through the lens of D*")
    print(f"  toy's D on the 5 faces: {', '.join(f'{v:.3f}' for v in toy['D_faces'])}")
    print(f"  toy's D on G(z), z ∈ [0, 1): {toy['D_fakes_min']:.3f} … {toy['D_fakes_max']:.3f}")
    print(f"  V(D_toy, G) = {toy['V_toy']:.4f}   (−log 4 = {-dn.LOG4:.4f}); the same linear "
          f"family retrained against this G: V = {toy['V_best_linear']:.4f}")
    print(f"  every fake is within {toy['fake_to_nearest_face_linf_max']:.3f} (max pixel gap) of "
          f"face {toy['nearest_face_index'] + 1}; faces differ from each other by ≥ "
          f"{toy['face_to_face_linf_min']:.3f}")
    print("  D*_σ (faces and fakes blurred by σ): σ, D* on faces, mean D* on fakes")
    for b in toy["blurred_D_star"]:
        print(f"    σ = {b['sigma']:<5} faces {' '.join(f'{v:.3f}' for v in b['D_faces'])}"
              f"   fakes {b['D_fakes_mean']:.3f}")

    run.save_figure(plot_toy_lens(toy), "toy_lens.png", dpi=120)
    run.save_figure(plot_d_vs_dstar(D, p_data, p_g, numbers), "d_vs_dstar.png", dpi=120)
    run.save_figure(plot_d_loss(losses), "d_loss.png", dpi=120)
    run.save_json("optimal_d.json", {"experiment1": numbers, "experiment2": rows,
                                     "experiment4": toy})
    print(f"\nwrote {run.out}/d_vs_dstar.png, d_loss.png, toy_lens.png, optimal_d.json")
    ok = (numbers["mean_abs_error_m"] <= 0.01 and numbers["max_abs_error_core"] <= 0.05
          and 0 <= numbers["C_minus_V"] <= 0.005)
    return 0 if ok else 1
