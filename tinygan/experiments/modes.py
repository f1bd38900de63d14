"""Mode collapse on 2-D Gaussian mixtures: GAN, PacGAN2-4, WGAN, WGAN-GP, and k D steps.

Data: the ring of 8 (radius 1, std 0.01) and the grid of 25 (means {−4…4}², std 0.05)
of the PacGAN protocol (papers.md §4). Metric: 2,500 samples from G; each goes to its
nearest mode; high quality if within 3 std; a mode is captured if it has one
high-quality sample (:func:`tinygan.modes.mode_stats`).

Methods:

* ``gan``: the plain GAN, non-saturating generator cost, ``k`` D steps per G step;
* ``pac2``/``pac3``/``pac4``: the same GAN whose D sees m samples concatenated;
* ``wgan``: critic with weight clipping (RMSProp 5e-5, c = 0.01, n_critic = 5);
* ``wgan-gp``: critic with the gradient penalty (λ = 10, Adam 1e-4, β = (0, 0.9),
  n_critic = 5), whose weight gradient is the hand-written double backward.
  ``--gp-lambda 0.1`` is the value of the WGAN-GP authors' own toy script; with λ = 10 our
  reduced runs did not converge on these mixtures.

Two protocols (``--protocol``), both printed next to the published tables:

* ``full``: the PacGAN protocol as far as tinygan has its layers: G 2→4×400 ReLU +
  BatchNorm→2, D 3×200 (LeakyReLU 0.2 instead of maxout 200×5), batch 100 (packs),
  Adam 1e-4, β₁ 0.8, 400 epochs of 100,000 points = 400,000 steps (fresh samples from
  the mixture instead of a fixed set of 100,000). 7-24 hours per run on a shared CPU.
* ``reduced`` (the default): G 2→3×128 ReLU→2 (no BatchNorm), D 2m→2×128
  LeakyReLU(0.2)→1, batch 100 packs, Adam 1e-3 β₁ 0.5 for GAN/PacGAN, 3,000 G steps on
  the ring and 6,000 on the grid, every learning rate divided by 10 for the last third
  of the steps (without that drop, PacGAN2 reached the 8 modes but only 65-91%
  high-quality samples). WGAN-GP keeps its paper's Adam 1e-4, β = (0, 0.9) (1e-3 was
  no better in a probe); WGAN keeps RMSProp and c = 0.01 with 10× the lr, 5e-4,
  because a clipped critic barely moves at 5e-5 in this budget. Both get as many G
  steps as the GAN, each with 5 critic steps.

``--quick`` (the demo and the tests): the ring only, gan and pac2, one seed, 400 steps.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

from .. import backend, runs
from ..data.mixtures import mixture
from ..gans.pacgan import Pack
from ..gans.wgan import fit_wgan
from ..layers import BatchNorm, Dense, LeakyReLU, ReLU
from ..models import Sequential
from ..modes import NUM_EVAL_SAMPLES, ModeStats, mode_stats, plot_snapshots, sample_generator
from ..optim import Adam, RMSProp
from ..train import History, fit

HELP = "mode collapse on the ring of 8 and grid of 25: GAN, PacGAN, WGAN, WGAN-GP, k sweep"

DESCRIPTION = """\
Mode collapse, measured. Each method trains on PacGAN's ring of 8 Gaussians and grid
of 25, and its modes are counted as VEEGAN and PacGAN count them (2,500 samples, each
assigned to its nearest mode; high quality within 3 standard deviations; a mode is
captured if it has one high-quality sample). Methods: the plain GAN (with k D steps
per G step), PacGAN2-4 (D sees packs of samples), WGAN (weight clipping) and WGAN-GP
(gradient penalty with a hand-written double backward). The tables print mean ±
standard error over seeds beside PacGAN's Table 1.

Time: --quick (the ring, gan and pac2, 400 steps) takes a few seconds; the default
(both mixtures, every method, 3 seeds, the reduced protocol: 36 runs of 10-35 s) about
ten minutes on one core; --protocol full is PacGAN's own, 7-24 hours per run.

Writes to --out: modes.md and modes.json (the tables and every run), one
modes_DATA_METHOD.png per featured run (samples at four moments), modes_DATA.gif
(samples spreading over training, the plain GAN beside the best other method),
checkpoint.npz and run.json.

Notebook: notebooks/05_mode_collapse.ipynb (derivation:
derivations/05_wgan_gp_double_backward.md)."""

CHECKPOINT_EVERY = 1000
ANIMATION = True

METHODS = ["gan", "pac2", "pac3", "pac4", "wgan", "wgan-gp"]
LATENT_DIM = 2

# Published numbers (papers.md §4): modes captured (± s.e.) and % high-quality samples.
PACGAN_TABLE = {  # PacGAN Table 1, 10 trials
    "ring": {"gan": (6.3, 0.5, 98.2), "pac2": (7.9, 0.1, 95.6), "pac3": (7.8, 0.1, 97.7),
             "pac4": (7.8, 0.1, 95.9)},
    "grid": {"gan": (17.3, 0.8, 94.8), "pac2": (23.8, 0.7, 91.3), "pac3": (24.6, 0.4, 94.2),
             "pac4": (24.8, 0.2, 93.6)},
}
VEEGAN_TABLE = {  # VEEGAN Table 1, 5 runs, different networks
    "ring": {"GAN": (1, 99.3), "Unrolled GAN": (7.6, 35.6), "VEEGAN": (8, 52.9)},
    "grid": {"GAN": (3.3, 0.5), "Unrolled GAN": (23.6, 16), "VEEGAN": (24.6, 40)},
}


@dataclass
class Protocol:
    """Network sizes, budgets and optimiser settings of one protocol."""

    name: str
    g_hidden: tuple
    d_hidden: tuple
    packs: int  # D inputs per batch (PacGAN's batch size)
    steps: dict  # data name → G steps
    lr: float
    beta1: float
    wgan_lr: float
    wgangp_lr: float
    snapshots: int = 4
    g_batchnorm: bool = False  # the PacGAN protocol's G has BatchNorm after each hidden Dense
    lr_drop: float = 0.0  # fraction of the steps after which both lrs are divided by 10 (0: never)


PROTOCOLS = {
    "full": Protocol("full", (400, 400, 400, 400), (200, 200, 200), 100,
                     {"ring": 400_000, "grid": 400_000}, 1e-4, 0.8, 5e-5, 1e-4,
                     g_batchnorm=True),
    "reduced": Protocol("reduced", (128, 128, 128), (128, 128), 100,
                        {"ring": 3000, "grid": 6000}, 1e-3, 0.5, 5e-4, 1e-4, lr_drop=2 / 3),
    "quick": Protocol("quick", (64, 64), (64, 64), 50, {"ring": 400, "grid": 400},
                      2e-3, 0.5, 5e-4, 1e-3, snapshots=2),
}


def pack_size(method):
    """``"pac3"`` → 3; every other method → 1."""
    return int(method[3:]) if method.startswith("pac") else 1


def build_generator(hidden, rng, dtype="float32", batchnorm=False):
    """G: z (N, 2) → [Dense, (BatchNorm), ReLU] × len(hidden) → Dense → x (N, 2), linear output.

    With ``batchnorm`` the hidden Dense layers have no bias (BatchNorm's β replaces it).
    """
    layers, d = [], LATENT_DIM
    for h in hidden:
        if batchnorm:
            layers += [Dense(d, h, rng=rng, dtype=dtype, bias=False),
                       BatchNorm(h, dtype=dtype), ReLU()]
        else:
            layers += [Dense(d, h, rng=rng, dtype=dtype), ReLU()]
        d = h
    return Sequential(*layers, Dense(d, 2, rng=rng, dtype=dtype))


def build_discriminator(hidden, rng, m=1, dtype="float32"):
    """D: x (N·m, 2) → [Pack(m)] → Dense/LeakyReLU(0.2) × len(hidden) → Dense → (N, 1) logits."""
    layers, d = ([Pack(m)] if m > 1 else []), 2 * m
    for h in hidden:
        layers += [Dense(d, h, rng=rng, dtype=dtype), LeakyReLU(0.2)]
        d = h
    return Sequential(*layers, Dense(d, 1, rng=rng, dtype=dtype))


@dataclass
class RunResult:
    """One trained run: what was trained, its final mode statistics and its snapshots."""

    data: str
    method: str
    seed: int
    k: int
    steps: int
    stats: object  # ModeStats of the final G
    snapshots: list  # (step, samples, ModeStats)
    seconds: float
    history: object
    gp_lambda: float = None  # WGAN-GP only
    frames: dict = field(default_factory=dict)  # step -> a few hundred samples (animation)


FRAME_SAMPLES = 500


def run(data="ring", method="gan", seed=0, protocol="reduced", k=1, steps=None,
        progress=False, snapshots=None, gp_lambda=10.0, frames=0, run=None, resume=None,
        keep=None, index=0, label=""):
    """Train one method on one mixture with one seed; measure modes at a few moments.

    Returns a :class:`RunResult`: the final :class:`tinygan.modes.ModeStats` and the
    snapshots (step, 2,500 samples, stats) taken at evenly spaced steps; ``frames``
    keeps a few hundred samples at that many steps (for :func:`animate_modes`).

    With ``run`` (a :class:`tinygan.runs.Run`) its checkpoints hold this run's state
    under ``"cur"`` (with ``"index": index``) beside ``keep`` (what the caller keeps:
    the runs done before); ``resume = (step, saved "cur")`` continues from one.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    proto = PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    mix = mixture(data)
    steps = proto.steps[data] if steps is None else int(steps)
    num_snaps = proto.snapshots if snapshots is None else snapshots
    gen = backend.rng(seed)
    m = pack_size(method)
    G = build_generator(proto.g_hidden, gen, batchnorm=proto.g_batchnorm)
    D = build_discriminator(proto.d_hidden, gen, m=m)
    real_gen = backend.rng(seed + 10_000)  # what mix.sampler(seed + 10_000) draws from
    noise_gen = backend.rng(seed + 20_000)
    critic_gen = backend.rng(seed + 40_000)  # WGAN-GP's interpolation weights
    xp = backend.xp()

    def sample_real(n):
        return mix.sample(n, real_gen)

    def sample_noise(n):
        return xp.asarray(noise_gen.standard_normal((n, LATENT_DIM))).astype("float32")

    snap_at = sorted({max(1, round(steps * (i + 1) / num_snaps)) for i in range(num_snaps)})
    frame_at = ({round(steps * i / (frames - 1)) for i in range(frames)} if frames > 1
                else set())
    snap_x, frame_x = {}, {}
    drop_at = round(steps * proto.lr_drop) if proto.lr_drop else None
    if method in ("wgan", "wgan-gp"):
        if method == "wgan":
            opt_G = RMSProp(G, lr=proto.wgan_lr)
            opt_D = RMSProp(D, lr=proto.wgan_lr)
        else:
            opt_G = Adam(G, lr=proto.wgangp_lr, betas=(0.0, 0.9))
            opt_D = Adam(D, lr=proto.wgangp_lr, betas=(0.0, 0.9))
    else:
        opt_G = Adam(G, lr=proto.lr, betas=(proto.beta1, 0.999))
        opt_D = Adam(D, lr=proto.lr, betas=(proto.beta1, 0.999))
    history = History()
    parts = {"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D, "real_rng": real_gen,
             "noise_rng": noise_gen, "critic_rng": critic_gen, "history": history,
             "snapshots": snap_x, "frames": frame_x}
    start = 0
    if resume is not None:
        start, saved = resume
        runs.restore(parts, {k: v for k, v in saved.items() if k != "index"})

    def frame(step):
        if step in frame_at:
            frame_x[step] = sample_generator(G, FRAME_SAMPLES, LATENT_DIM, seed=seed + 30_000)

    run = run or runs.NullRun()
    state = lambda: {**(keep or {}), "cur": {"index": index, **parts}}  # noqa: E731

    def on_step(step, _history, tick):
        if step + 1 == drop_at:  # a short budget's substitute for PacGAN's 400 epochs at 1e-4
            for opt in (opt_G, opt_D):
                opt.lr /= 10
        if step + 1 in snap_at:
            snap_x[step + 1] = sample_generator(G, NUM_EVAL_SAMPLES, LATENT_DIM,
                                                seed=seed + 30_000)
        frame(step + 1)
        tick(step + 1)

    t0 = time.perf_counter()
    if start == 0:
        frame(0)
    with run.loop(steps, state=state, start=start, label=label) as tick:
        if method in ("wgan", "wgan-gp"):
            kw = {"clip": 0.01} if method == "wgan" else {"gp_lambda": gp_lambda}
            fit_wgan(G, D, sample_real, sample_noise, opt_G, opt_D, steps - start,
                     batch_size=proto.packs, n_critic=5, rng=critic_gen, progress=progress,
                     history=history, callback=lambda s, h: on_step(s, h, tick), **kw)
        else:
            fit(G, D, sample_real, sample_noise, opt_G, opt_D, steps - start,
                batch_size=proto.packs * m, k=k, progress=progress, history=history,
                callback=lambda s, h: on_step(s, h, tick))
    seconds = time.perf_counter() - t0
    snaps = [(st, x, mode_stats(x, mix.means, mix.std)) for st, x in sorted(snap_x.items())]
    final = snaps[-1][2] if snaps else mode_stats(
        sample_generator(G, NUM_EVAL_SAMPLES, LATENT_DIM, seed=seed + 30_000), mix.means, mix.std)
    return RunResult(data, method, seed, k, steps, final, snaps, seconds, history,
                     gp_lambda if method == "wgan-gp" else None, dict(sorted(frame_x.items())))


train_method = run  # the same function: in main() the name ``run`` is the run layer's Run


def result_from_saved(saved):
    """A :class:`RunResult` rebuilt from what ``main`` keeps of a finished run."""
    rec = saved["record"]
    mix = mixture(rec["data"])
    stats = ModeStats(rec["modes"], rec["num_modes"], rec["high_quality"], rec["kl"],
                      backend.numpy.asarray(rec["counts"]))
    snaps = [(st, x, mode_stats(x, mix.means, mix.std))
             for st, x in sorted(saved["snapshots"].items())]
    return RunResult(rec["data"], rec["method"], rec["seed"], rec["k"], rec["steps"], stats,
                     snaps, rec["seconds"], None, rec["gp_lambda"],
                     dict(sorted(saved["frames"].items())))


# --- tables -----------------------------------------------------------------------------------

def _se(a):
    """Standard error of the mean (NaN for one seed)."""
    return float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else float("nan")


def run_record(r):
    """A :class:`RunResult` as a JSON-ready dict (what ``modes.json`` stores per run)."""
    return {"data": r.data, "method": r.method, "seed": r.seed, "k": r.k, "steps": r.steps,
            "gp_lambda": r.gp_lambda, "seconds": r.seconds, **r.stats.as_dict()}


def summarize(records):
    """Group runs (dicts of :func:`run_record`) by (data, method, k, steps): mean ± s.e."""
    np = backend.numpy
    groups = {}
    for r in records:
        lam = r.get("gp_lambda") or (10.0 if r["method"] == "wgan-gp" else None)
        groups.setdefault((r["data"], r["method"], r["k"], r["steps"], lam), []).append(r)
    order = {m: i for i, m in enumerate(METHODS)}
    rows = []
    def key(item):
        data, method, k, steps, lam = item[0]
        return (data != "ring", steps, order[method], k, -(lam or 0))

    for (data, method, k, steps, lam), rs in sorted(groups.items(), key=key):
        modes = np.array([r["modes"] for r in rs], dtype=float)
        hq = np.array([100 * r["high_quality"] for r in rs])
        kl = np.array([r["kl"] for r in rs])
        label = method + (f" λ={lam:g}" if lam is not None else "")
        rows.append({"data": data, "method": method, "label": label, "k": k, "seeds": len(rs),
                     "steps": steps, "modes": float(modes.mean()),
                     "modes_se": _se(modes), "hq": float(hq.mean()), "hq_se": _se(hq),
                     "kl_median": float(np.median(kl)),
                     "seconds": float(np.mean([r["seconds"] for r in rs])),
                     "per_seed_modes": [int(v) for v in modes]})
    return rows


def _pm(mean, se, digits):
    """'mean ± se', or just the mean for a single seed."""
    return f"{mean:.{digits}f}" + ("" if math.isnan(se) else f" ± {se:.{digits}f}")


def _published(data, method):
    p = PACGAN_TABLE.get(data, {}).get(method)
    return f"{p[0]:.1f} ± {p[1]:.1f} / {p[2]:.1f}" if p else "—"


def format_table(rows, protocol):
    """A Markdown table per mixture, ours beside PacGAN Table 1; VEEGAN's numbers below."""
    lines = []
    for data in ("ring", "grid"):
        sel = [r for r in rows if r["data"] == data]
        if not sel:
            continue
        K = 8 if data == "ring" else 25
        lines += [f"### {data} ({K} modes), protocol {protocol}", "",
                  "| method | k | seeds | G steps | modes captured | high-quality % "
                  "| median KL to uniform | modes per seed | s/run "
                  "| PacGAN Table 1 (modes / HQ %) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sel:
            lines.append(
                f"| {r.get('label', r['method'])} | {r['k']} | {r['seeds']} | {r['steps']} | "
                f"{_pm(r['modes'], r['modes_se'], 2)} | {_pm(r['hq'], r['hq_se'], 1)} | "
                f"{r['kl_median']:.3f} | {' '.join(map(str, r['per_seed_modes']))} | "
                f"{r['seconds']:.0f} | "
                f"{_published(data, r['method']) if r['k'] == 1 else '—'} |")
        v = VEEGAN_TABLE[data]
        lines += ["", "VEEGAN Table 1 (5 runs, other networks), modes / HQ %: "
                  + "; ".join(f"{n} {a} / {b}" for n, (a, b) in v.items()), ""]
    return "\n".join(lines)


def _featured(results, data, rival=False):
    """The runs the figures show: the plain GAN's and the best method's first seed (k = 1).

    The best method has the most modes captured on average over seeds, then the most
    high-quality samples; ``rival``: the best method other than the plain GAN. Returns
    {method: RunResult}.
    """
    on = [r for r in results if r.data == data and r.k == 1 and r.snapshots]
    by_method = {}
    for r in on:
        by_method.setdefault(r.method, []).append(r)
    if not by_method:
        return {}

    def score(method):
        rs = by_method[method]
        return (sum(r.stats.modes for r in rs) / len(rs),
                sum(r.stats.high_quality for r in rs) / len(rs))

    others = [m for m in by_method if m != "gan"] if rival else list(by_method)
    best = max(others, key=score) if others else "gan"
    return {m: by_method[m][0] for m in dict.fromkeys(["gan", best]) if m in by_method}


def plot_results(results, data):
    """Snapshots of the plain GAN and of the best method on ``data`` (each its first seed).

    The best method has the most modes captured on average over seeds, then the most
    high-quality samples (runs with k = 1 only). Returns {name: Figure}.
    """
    mix = mixture(data)
    return {method: plot_snapshots(r.snapshots, mix.means,
                                   title=f"{method} on the {data}, seed {r.seed}")
            for method, r in _featured(results, data).items()}


def animate_modes(results, data, size=2.6):
    """(fig, draw_frame, num_frames) or None: samples spreading over training, side by side.

    The plain GAN beside the best other method (PacGAN, say), one frame per kept step
    (``RunResult.frames``); red crosses are the modes.
    """
    import matplotlib.pyplot as plt

    from ..modes import plot_samples

    shown = {m: r for m, r in _featured(results, data, rival=True).items() if r.frames}
    if not shown:
        return None
    mix = mixture(data)
    steps = sorted(set.intersection(*(set(r.frames) for r in shown.values())))
    fig, axes = plt.subplots(1, len(shown), figsize=(size * len(shown), size + 0.3),
                             squeeze=False)
    dots = []
    for ax, (method, r) in zip(axes[0], shown.items()):
        plot_samples(r.frames[steps[0]], mix.means, ax=ax, title=method)
        dots.append(ax.collections[0])
    title = fig.suptitle(" ", fontsize=9)
    fig.tight_layout()

    def draw(i):
        for dot, r in zip(dots, shown.values()):
            dot.set_offsets(r.frames[steps[i]])
        title.set_text(f"the {data}, seed {next(iter(shown.values())).seed}: step {steps[i]}")

    return fig, draw, len(steps)


# --- CLI --------------------------------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--data", nargs="+", choices=["ring", "grid"], default=None,
                   help="mixtures (default: ring grid; --quick: ring)")
    p.add_argument("--method", nargs="+", choices=METHODS + ["all"], default=None,
                   help="methods (default: all; --quick: gan pac2)")
    p.add_argument("--protocol", choices=["reduced", "full"], default="reduced",
                   help="reduced (the default: minutes per run) or the full PacGAN protocol "
                        "(hours per run)")
    p.add_argument("--seeds", type=runs.positive_int, default=None,
                   help="seeds per method (default: 3; --quick: 1)")
    p.add_argument("--seed", type=runs.seed, default=0, help="the first seed (default: 0)")
    p.add_argument("--steps", type=runs.positive_int, default=None,
                   help="G steps of every run (default: the protocol's, 3,000 on the ring and "
                        "6,000 on the grid; --quick: 400)")
    p.add_argument("--k", type=runs.positive_int, nargs="+", default=[1],
                   help="D steps per G step for gan/pacM, e.g. --k 1 2 5 (default: 1)")
    p.add_argument("--gp-lambda", type=runs.nonnegative_float, default=10.0,
                   help="WGAN-GP's λ (default: 10, the paper's; its toy code used 0.1)")
    p.add_argument("--k-sweep", action="store_true",
                   help="also run the plain GAN on the ring with k = 1, 2, 5")
    p.add_argument("--quick", action="store_true",
                   help="a few seconds: the ring, gan and pac2, one seed, 400 steps")
    p.add_argument("--tables-from", nargs="+", metavar="JSON", default=None,
                   help="train nothing: print the tables of the runs in these modes.json "
                        "files (default: train)")


def writes_nothing(args):
    """--tables-from only prints: it needs no run folder."""
    return bool(args.tables_from)


def _load_tables(paths):
    records, protocols = [], set()
    for path in paths:
        try:
            with open(path) as f:
                saved = json.load(f)
        except OSError as exc:
            raise runs.UsageError(f"--tables-from {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise runs.UsageError(f"--tables-from {path}: not JSON ({exc})") from exc
        what = f"--tables-from {path}: not a modes.json of tinygan modes"
        if not isinstance(saved, dict):
            raise runs.UsageError(f"{what} (a JSON {type(saved).__name__}, not an object)")
        missing = [repr(k) for k in ("runs", "protocol") if k not in saved]
        if missing:
            raise runs.UsageError(f"{what} (it lacks {' and '.join(missing)})")
        if not isinstance(saved["runs"], list):
            raise runs.UsageError(f"{what} (its 'runs' is not a list)")
        if not saved["runs"]:
            raise runs.UsageError(f"--tables-from {path}: it holds no runs, so there is no "
                                  "table to print")
        try:
            summarize(saved["runs"])
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise runs.UsageError(f"{what} (a run record is not one of ours: "
                                  f"{type(exc).__name__}: {exc})") from exc
        records += saved["runs"]
        protocols.add(str(saved["protocol"]))
    return format_table(summarize(records), "/".join(sorted(protocols)))


def main(args, run):
    if args.tables_from:
        print(_load_tables(args.tables_from))
        return 0
    if args.quick:
        protocol = "quick"
        datas = args.data or ["ring"]
        methods = args.method or ["gan", "pac2"]
        seeds = args.seeds or 1
    else:
        protocol = args.protocol
        datas = args.data or ["ring", "grid"]
        methods = args.method or ["all"]
        seeds = args.seeds or 3
    if "all" in methods:
        methods = METHODS
    jobs = [(d, meth, s, k) for d in datas for meth in methods
            for k in (args.k if not meth.startswith("wgan") else [1])
            for s in range(args.seed, args.seed + seeds)]
    if args.k_sweep:
        seed_range = range(args.seed, args.seed + seeds)
        jobs += [("ring", "gan", s, k) for k in (1, 2, 5) for s in seed_range
                 if ("ring", "gan", s, k) not in jobs]
    progress = not args.no_progress
    frames = 0 if args.no_animation else (10 if args.quick else 20)
    # The runs done so far, kept in every checkpoint: a resume skips them.
    done = {}
    ckpt = run.checkpoint()
    if ckpt is not None:
        runs.restore({"done": done}, ckpt.tree)
    results = []
    for i, (d, meth, s, k) in enumerate(jobs):
        if i in done:
            r = result_from_saved(done[i])
        else:
            cur = ckpt.tree.get("cur", {}) if ckpt is not None else {}
            resume = (ckpt.step, cur) if cur.get("index") == i else None
            r = train_method(d, meth, seed=s, protocol=protocol, k=k, steps=args.steps,
                             progress=progress, gp_lambda=args.gp_lambda, frames=frames,
                             run=run, resume=resume, keep={"done": done}, index=i,
                             label=f" of run {i + 1}/{len(jobs)} ({d} {meth} k={k} seed {s})")
            done[i] = {"record": run_record(r), "frames": r.frames,
                       "snapshots": {st: x for st, x, _ in r.snapshots}}
        results.append(r)
        print(f"[{i + 1}/{len(jobs)}] {d:4} {meth:7} k={k} seed {s}: {r.stats.modes}/"
              f"{r.stats.num_modes} modes, HQ {100 * r.stats.high_quality:.1f}%, "
              f"KL {r.stats.kl:.3f} ({r.seconds:.0f} s)", flush=True)
    records = [run_record(r) for r in results]
    rows = summarize(records)
    table = format_table(rows, protocol)
    print()
    print(table)
    if protocol == "quick":
        print("(quick: a few hundred steps, far from converged; the reduced protocol's tables "
              "over seeds are in results/modes_reduced.md)")
    run.save_text("modes.md", table + "\n")
    run.save_json("modes.json", {"protocol": protocol, "rows": rows, "runs": records})
    paths = []
    for d in datas:
        for meth, fig in plot_results(results, d).items():
            paths.append(run.save_figure(fig, f"modes_{d}_{meth}.png", dpi=110))
        anim = None if args.no_animation else animate_modes(results, d)
        if anim is not None:
            paths.append(run.save_animation(f"modes_{d}.gif", *anim, fps=5))
    print("results: " + run.path("modes.md") + "; figures: " + ", ".join(paths))
    return 0
