"""Figure 1 of the GAN paper, reproduced with a real 1-D GAN.

p_data = N(1, 0.5²). G(z) = a·z + b with z ~ N(0, 1), so p_g = N(b, a²) is exact at
every step; D is a small LeakyReLU MLP emitting logits; both are trained with
tinygan's Algorithm 1 trainer (``tinygan.train.fit``, non-saturating G loss, Adam).
The four panels follow the paper's caption:

(a) a GAN part-way to convergence: p_g near p_data, D partially accurate;
(b) the inner loop run to convergence with G fixed: D → D* = p_data/(p_data + p_g);
(c) G steps against that fixed D: G(z) flows toward where D says "data";
(d) training continued (learning rates decaying): p_g ≈ p_data and D ≈ 1/2.

The lower line of each panel is the noise. We draw it as u = Φ(z), which is
uniform on [0, 1) as in the paper's picture: evenly spaced u, and the arrows go to
x = G(z) = a·Φ⁻¹(u) + b, bunching where p_g is high.

A second figure tracks JSD(p_data ‖ p_g) and C(G) + log 4 = 2·JSD falling over
training, with V(D_t, G_t) + log 4 for the discriminator actually being trained.

Derivation: derivations/02_optimal_discriminator.md
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .. import backend, runs
from .. import densities as dn
from ..layers import sigmoid
from ..optim import SGD, Adam
from ..train import History, fit, update_g
from .optimal_d import affine_generator, make_discriminator, measure, train_discriminator

np = backend.numpy

HELP = "the GAN paper's Figure 1 (a)-(d) drawn from a trained 1-D GAN, and the JSD over time"

DESCRIPTION = """\
The GAN paper's Figure 1, drawn from a GAN that actually trains: p_data = N(1, 0.5²),
G(z) = a·z + b (so p_g is known exactly at every step), an MLP discriminator. The four
panels follow the caption: (a) part-way, D partially accurate; (b) the inner loop run
until D = D*; (c) G pushed toward the data by that D; (d) p_g = p_data and D = 1/2.
A second figure shows JSD(p_data ‖ p_g) and C(G) + log 4 falling over training, with
V(D_t, G_t) ≤ C(G_t) at every step.

Time (one core): about 25 s with --quick, one to two minutes by default.

Writes to --out: figure1.png, figure1_criterion.png, figure1.gif (p_g and D moving
toward p_data), figure1.json, checkpoint.npz and run.json.

Notebook: notebooks/02_optimal_discriminator.ipynb (derivation:
derivations/02_optimal_discriminator.md)."""

CHECKPOINT_EVERY = 500
ANIMATION = True

P_DATA = dn.Gaussian(1.0, 0.5)
SUPPORT_SIGMAS = 3.0  # "the data's support": μ ± 3σ (99.7% of p_data's mass)


@dataclass
class Config:
    """Phase lengths (G steps), batch, Adam settings; lrs decay by ``decay`` per chunk in (d)."""

    g_init: tuple = (0.7, -1.0)  # G(z) = a·z + b at the start
    hidden: int = 32
    batch_size: int = 256
    lr_G: float = 1e-2
    momentum_G: float = 0.5
    lr_D: float = 2e-3
    betas: tuple = (0.5, 0.999)
    steps_a: int = 40  # Algorithm 1 steps before panel (a)
    dstar_steps: int = 2000  # D-only steps for panel (b)
    dstar_batch: int = 256
    steps_c: int = 5  # G-only steps against the fixed D* for panel (c)
    chunks_d: int = 10  # Algorithm 1 after (c): chunks_d × steps_per_chunk steps
    steps_per_chunk: int = 200
    decay: float = 0.7
    decay_D: float = 0.7
    k_d: int = 2  # D steps per G step in phase (d): D tracks D* closely as G settles
    seed: int = 0


QUICK = Config()
FULL = Config(batch_size=512, dstar_steps=4000, dstar_batch=512, chunks_d=16, steps_per_chunk=300)


@dataclass
class Snapshot:
    """One panel: copies of G and D at that moment, and its numbers."""

    key: str
    title: str
    step: int
    G: object
    D: object
    numbers: dict


@dataclass
class Result:
    p_data: object
    snapshots: list
    track: dict = field(default_factory=dict)  # per G step: step, a, b, V, JSD, phase
    config: Config = None
    frames: dict = field(default_factory=dict)  # global step -> (a, b, D on FRAME_X)

    @property
    def final(self):
        return self.snapshots[-1].numbers


def _ab(G):
    layer = G.layers[0]
    return float(backend.to_numpy(layer.params["W"])[0, 0]), float(
        backend.to_numpy(layer.params["b"])[0])


def panel_numbers(p_data, G, D):
    """JSD, C(G), V(D, G), E_m|D − D*| and max |D − 1/2| over the data's support."""
    p_g = dn.generator_density(G)
    m = measure(D, p_data, p_g)
    x = np.linspace(p_data.mu - SUPPORT_SIGMAS * p_data.sigma,
                    p_data.mu + SUPPORT_SIGMAS * p_data.sigma, 601)
    d = sigmoid(dn.model_logits(D)(x))
    a, b = _ab(G)
    return {"a": a, "b": b, "JSD": m["JSD"], "C": m["C"], "V": m["V"],
            "C_plus_log4": m["C"] + dn.LOG4, "mean_abs_error_m": m["mean_abs_error_m"],
            "max_abs_D_minus_half_on_support": float(np.abs(d - 0.5).max())}


#: where the animation draws D (the panels' x range)
FRAME_X = np.linspace(-2.5, 3.5, 241)


def phase_lengths(config):
    """Steps of each phase, (a, b, c, d): a run numbers them globally, a → d."""
    return (config.steps_a, config.dstar_steps, config.steps_c,
            config.chunks_d * config.steps_per_chunk)


def run(config=QUICK, progress=False, run=None, frames=0):
    """Train the 1-D GAN through the four moments of Figure 1; return a :class:`Result`.

    The phases' steps are numbered globally (``phase_lengths``): a checkpoint at any
    step holds G, D, every optimizer, the generator, the history, the track and the
    panels so far, and ``run`` (a :class:`tinygan.runs.Run`) resumes from it bit for
    bit. ``frames``: keep G and D at about that many steps for :func:`animate_figure1`.
    """
    rng = backend.rng(config.seed)
    p_data = P_DATA
    G = affine_generator(*config.g_init)
    D = make_discriminator(config.hidden, rng)
    track = {"step": [], "a": [], "b": [], "V": [], "phase": []}
    A, B, C, Dn = phase_lengths(config)
    total = A + B + C + Dn
    frame_every = max(1, total // frames) if frames else 0
    kept = {}

    def record(phase, step):
        """After each G step: G's (a, b) and V(D, G) by quadrature with the live D."""
        a, b = _ab(G)
        p_g = dn.affine_generator_density(a, b)
        track["step"].append(step)
        track["a"].append(a)
        track["b"].append(b)
        track["V"].append(dn.value(p_data, p_g, dn.model_logits(D)))
        track["phase"].append(phase)

    def sample_real(m):
        return p_data.sample(rng, m)

    def sample_noise(m):
        return rng.standard_normal((m, 1))

    # G: SGD with momentum, as in the paper: its step follows the gradient's direction, so
    # G visibly *translates* toward data. (Adam scales each parameter's step to ~lr, which
    # shrinks a as fast as it moves b: the picture then shows p_g narrowing, not moving.)
    opt_G = SGD(G, lr=config.lr_G, momentum=config.momentum_G)
    opt_D = Adam(D, lr=config.lr_D, betas=config.betas)
    opt_Dstar = Adam(D, lr=1e-2)  # phase (b)'s inner loop
    opt_D_d = Adam(D, lr=config.lr_D, betas=config.betas)  # fresh moments after the D* phase
    history = History()
    panels = {}  # key -> {"step", "G", "D", "numbers"}: the panels taken so far
    parts = {"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D, "opt_Dstar": opt_Dstar,
             "opt_D_d": opt_D_d, "rng": rng, "history": history, "track": track,
             "panels": panels, "frames": kept}
    run = run or runs.NullRun()
    start = run.restore(parts)

    def panel(key, step):
        if key not in panels:
            panels[key] = {"step": step, "G": G.state_dict(), "D": D.state_dict(),
                           "numbers": panel_numbers(p_data, G, D)}

    def after(done, tick):
        if frame_every and (done % frame_every == 0 or done == total):
            a, b = _ab(G)
            kept[done] = np.concatenate([[a, b], sigmoid(dn.model_logits(D)(FRAME_X))])
        tick(done)

    with run.loop(total, state=parts, start=start) as tick:
        if start == 0 and frame_every:
            after(0, lambda done: None)
        if start == 0:
            record("start", 0)
        # (a) Algorithm 1 from the start, stopped part-way. Global steps 0 … A.
        if start < A:
            fit(G, D, sample_real, sample_noise, opt_G, opt_D, A - start, config.batch_size,
                progress=progress, history=history,
                callback=lambda s, h: (record("a", s + 1), after(s + 1, tick)))
        panel("a", A)

        # (b) the inner loop alone, run to convergence: D → D*. Global steps A … A + B.
        if start < A + B:
            train_discriminator(D, G, p_data, B, config.dstar_batch, 1e-2, 1e-4, rng=rng,
                                progress=progress, opt=opt_Dstar, start=max(0, start - A),
                                tick=lambda t: after(A + t, tick))
        if "b" not in panels:
            record("b", A)
            panel("b", A)

        # (c) G steps against the fixed D*: G(z) flows toward where D says "data".
        for j in range(max(0, start - A - B), C):
            update_g(G, D, sample_noise(config.batch_size), opt_G)
            record("c", A + j + 1)
            after(A + B + j + 1, tick)
        panel("c", A + C)

        # (d) Algorithm 1 again, learning rates decaying chunk by chunk. fit numbers its
        # steps by the history's length (phase (a)'s steps included); the steps_c G steps
        # of phase (c) were taken outside fit, so G's step is s + 1 + steps_c.
        first = A + B + C
        for chunk in range(config.chunks_d):
            begin = first + chunk * config.steps_per_chunk
            done_here = min(max(0, start - begin), config.steps_per_chunk)
            if done_here == config.steps_per_chunk:
                continue
            opt_G.lr = config.lr_G * config.decay ** chunk
            opt_D_d.lr = config.lr_D * config.decay_D ** chunk
            fit(G, D, sample_real, sample_noise, opt_G, opt_D_d,
                config.steps_per_chunk - done_here, config.batch_size, k=config.k_d,
                progress=progress, history=history,
                callback=lambda s, h: (record("d", s + 1 + C),
                                       after(first + s + 1 - A, tick)))
        panel("d", A + C + Dn)

    titles = {"a": "(a) part-way: D partially accurate",
              "b": "(b) inner loop converged: D = D*",
              "c": "(c) after G steps: G(z) moves toward data",
              "d": "(d) converged: p_g = p_data, D = 1/2"}
    snaps = []
    for key in "abcd":
        p = panels[key]
        Gk, Dk = copy.deepcopy(G), copy.deepcopy(D)
        Gk.load_state_dict(p["G"])
        Dk.load_state_dict(p["D"])
        snaps.append(Snapshot(key, titles[key], int(p["step"]), Gk, Dk, p["numbers"]))

    track = {k: (np.asarray(v) if k != "phase" else list(v)) for k, v in track.items()}
    track["JSD"] = np.array([dn.jsd(p_data, dn.affine_generator_density(a, b))
                             for a, b in zip(track["a"], track["b"])])
    return Result(p_data, snaps, track, config, dict(sorted(kept.items())))


train = run  # the same function: in main() the name ``run`` is the run layer's Run


def training_summary(result):
    """Over every G step: the largest V(D_t, G_t) − C(G_t) (≤ 0 up to quadrature error)
    and the JSD at the start, at its largest and at the end."""
    t = result.track
    C = -dn.LOG4 + 2 * t["JSD"]
    return {"num_G_steps": int(t["step"][-1]), "max_V_minus_C": float((t["V"] - C).max()),
            "JSD_start": float(t["JSD"][0]), "JSD_end": float(t["JSD"][-1])}


# -- plots -------------------------------------------------------------------------------

def plot_panel(ax, p_data, G, D, title="", dstar=False, num_arrows=15, xlim=(-2.5, 3.5),
               legend=False):
    """One panel in the paper's style: p_data black dotted, p_g green solid, D blue dashed,
    the x line and below it the noise line u = Φ(z) with arrows u → x = G(z)."""
    a, b = _ab(G)
    p_g = dn.affine_generator_density(a, b)
    x = np.linspace(*xlim, 600)
    d = sigmoid(dn.model_logits(D)(x))
    ax.plot(x, p_data.pdf(x), "k:", lw=2.2, label=r"$p_{data}$")
    ax.plot(x, p_g.pdf(x), "g-", lw=1.8, label=r"$p_g$")
    if dstar:
        ax.plot(x, dn.optimal_discriminator(p_data, p_g, x), color="0.7", lw=4, alpha=0.6,
                label=r"$D^*$ (analytic)")
    ax.plot(x, d, "b--", lw=1.8, label=r"$D$")
    # the x line and the noise line, with arrows x = G(z)
    y_x, y_z = -0.08, -0.45
    ax.plot(xlim, [y_x, y_x], "k-", lw=0.8)
    ax.plot(xlim, [y_z, y_z], "k-", lw=0.8)
    span = xlim[1] - xlim[0]
    u = (np.arange(num_arrows) + 0.5) / num_arrows
    zpos = xlim[0] + 0.1 * span + 0.8 * span * u
    targets = a * dn.normal_ppf(u) + b
    for zx, tx in zip(zpos, targets):
        ax.annotate("", xy=(tx, y_x), xytext=(zx, y_z),
                    arrowprops={"arrowstyle": "->", "lw": 0.7, "color": "0.25",
                                "shrinkA": 0, "shrinkB": 0})
    ax.text(xlim[0] + 0.01 * span, y_x + 0.03, "x", fontsize=9)
    ax.text(xlim[0] + 0.01 * span, y_z + 0.03, "z", fontsize=9)
    ax.set_xlim(*xlim)
    ax.set_ylim(y_z - 0.05, 1.08)
    ax.set_yticks([0, 0.5, 1])
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(loc="upper left", fontsize=7, frameon=False)


def plot_figure1(result, xlim=(-2.5, 3.5)):
    """Panels (a)–(d) side by side, as in the paper's Figure 1. Returns a Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), sharey=True)
    for i, (ax, s) in enumerate(zip(axes, result.snapshots)):
        n = s.numbers
        jsd = f"{n['JSD']:.4f}" if n["JSD"] >= 1e-3 else f"{n['JSD']:.1e}"
        title = (f"{s.title}\nG step {s.step}: JSD = {jsd}, "
                 f"E_m|D−D*| = {n['mean_abs_error_m']:.3f}")
        plot_panel(ax, result.p_data, s.G, s.D, title, dstar=(s.key == "b"), xlim=xlim,
                   legend=(i in (0, 1)))
    fig.tight_layout()
    return fig


def plot_criterion_curves(result):
    """JSD(p_data ‖ p_g) and C(G) + log 4 over training (log scale), and V(D_t, G_t) vs C(G_t)."""
    import matplotlib.pyplot as plt

    t = result.track
    step, jsd = t["step"] + 1, t["JSD"]  # log-scaled steps: the early phases (a)-(c) are short
    C = -dn.LOG4 + 2 * jsd
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    ax.loglog(step, jsd, "m-", lw=1.5, label=r"JSD$(p_{data}\,\|\,p_g)$")
    ax.loglog(step, C + dn.LOG4, "k--", lw=1.2, label=r"$C(G) + \log 4 = 2\,$JSD")
    ax2.plot(step, t["V"], "b-", lw=0.8, alpha=0.8, label=r"$V(D_t, G_t)$ (the D being trained)")
    ax2.plot(step, C, "k--", lw=1.2, label=r"$C(G_t) = \max_D V$")
    ax2.axhline(-dn.LOG4, color="0.5", ls=":", lw=1, label=r"$-\log 4$")
    ax2.set_xscale("log")
    labels = {}
    for s in result.snapshots:  # (a) and (b) share a G step: one label "(a)(b)"
        labels[s.step + 1] = labels.get(s.step + 1, "") + f"({s.key})"
    for i, (x, text) in enumerate(sorted(labels.items())):
        for a_ in (ax, ax2):
            a_.axvline(x, color="0.8", lw=0.8, zorder=0)
        ax.text(x, jsd.max() * 2.5, text, ha="right" if i % 2 == 0 else "left", fontsize=8)
    ax.set_ylim(top=jsd.max() * 8)
    ax.set_xlabel("generator step + 1")
    ax.set_ylabel("nats")
    ax.set_title("the criterion falls as p_g approaches p_data", fontsize=10)
    ax.legend(fontsize=8)
    ax2.set_xlabel("generator step + 1")
    ax2.set_ylabel("nats")
    ax2.set_ylim(-dn.LOG4 - 0.25, max(C.max(), -dn.LOG4) + 0.1)
    ax2.set_title(r"$V(D_t, G_t) \leq C(G_t)$; both reach $-\log 4$", fontsize=10)
    ax2.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def animate_figure1(result, xlim=(-2.5, 3.5)):
    """(fig, draw_frame, num_frames): p_g (green) and D (blue dashed) moving toward p_data.

    One frame per entry of ``result.frames`` (global step → G's a, b and D on FRAME_X).
    """
    import matplotlib.pyplot as plt

    steps = sorted(result.frames)
    lengths = phase_lengths(result.config)
    ends = np.cumsum(lengths)
    x = np.linspace(*xlim, 400)
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    ax.plot(x, result.p_data.pdf(x), "k:", lw=2, label=r"$p_{data}$")
    (pg,) = ax.plot(x, np.zeros_like(x), "g-", lw=1.8, label=r"$p_g$")
    (d,) = ax.plot(FRAME_X, np.zeros_like(FRAME_X), "b--", lw=1.6, label=r"$D$")
    ax.axhline(0.5, color="0.85", lw=0.8, zorder=0)
    ax.set_xlim(*xlim)
    ax.set_ylim(0, 1.3)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    title = ax.set_title("step", fontsize=8)  # a placeholder, so the layout leaves room
    fig.tight_layout()

    def draw(i):
        step = steps[i]
        a, b, *dv = result.frames[step]
        pg.set_ydata(dn.affine_generator_density(a, b).pdf(x))
        d.set_ydata(dv)
        phase = "abcd"[min(int(np.searchsorted(ends, step, side="left")), 3)] if step else "a"
        title.set_text(f"step {step} of {int(ends[-1])}, phase ({phase}): "
                       f"G(z) = {a:.2f}·z + {b:.2f}")

    return fig, draw, len(steps)


# -- the command -------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--quick", action="store_true",
                        help="the short run the tests use (batch 256, 2,000 G steps in phase "
                             "(d) instead of 4,800)")
    parser.add_argument("--seed", type=runs.seed, default=0,
                        help="seed of D's weights and of the batches (default: 0)")


def main(args, run):
    config = Config(**{**(QUICK if args.quick else FULL).__dict__, "seed": args.seed})
    result = train(config, progress=not args.no_progress, run=run,
                              frames=0 if args.no_animation else (20 if args.quick else 40))
    print(f"Figure 1: p_data = {result.p_data!r}; G(z) = a·z + b, z ~ N(0, 1); "
          f"D = MLP({config.hidden}) on logits; seed {config.seed}")
    cols = ["panel", "G step", "a", "b", "JSD", "C+log4", "V", "E_m|D−D*|", "max|D−½| supp"]
    print("  ".join(f"{c:>13}" for c in cols))
    for s in result.snapshots:
        n = s.numbers
        vals = [s.key, s.step, f"{n['a']:.4f}", f"{n['b']:.4f}", f"{n['JSD']:.2e}",
                f"{n['C_plus_log4']:.2e}", f"{n['V']:.4f}", f"{n['mean_abs_error_m']:.4f}",
                f"{n['max_abs_D_minus_half_on_support']:.4f}"]
        print("  ".join(f"{v:>13}" for v in vals))
    summ = training_summary(result)
    print(f"over {summ['num_G_steps']} G steps: JSD {summ['JSD_start']:.4f} → "
          f"{summ['JSD_end']:.2e}; largest V(D_t, G_t) − C(G_t) = {summ['max_V_minus_C']:.2e} "
          "(never above 0: C is the maximum over D)")
    run.save_figure(plot_figure1(result), "figure1.png", dpi=120)
    run.save_figure(plot_criterion_curves(result), "figure1_criterion.png", dpi=120)
    if not args.no_animation:
        run.save_animation("figure1.gif", *animate_figure1(result), fps=8)
    out = {"config": {k: list(v) if isinstance(v, tuple) else v
                      for k, v in config.__dict__.items()},
           "panels": {s.key: {"step": s.step, **s.numbers} for s in result.snapshots},
           "training": training_summary(result)}
    run.save_json("figure1.json", out)
    print(f"wrote {run.out}/figure1.png, figure1_criterion.png, figure1.json")
    fin = result.final
    return 0 if fin["max_abs_D_minus_half_on_support"] < 0.05 else 1


__all__ = ["Config", "QUICK", "FULL", "Result", "Snapshot", "run", "panel_numbers",
           "plot_panel", "plot_figure1", "plot_criterion_curves", "animate_figure1",
           "phase_lengths"]
