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
import os
import time
from dataclasses import dataclass

from .. import backend
from ..data.mixtures import mixture
from ..gans.pacgan import Pack
from ..gans.wgan import fit_wgan
from ..layers import BatchNorm, Dense, LeakyReLU, ReLU
from ..models import Sequential
from ..modes import NUM_EVAL_SAMPLES, mode_stats, plot_snapshots, sample_generator
from ..optim import Adam, RMSProp
from ..train import fit

HELP = "mode collapse on the ring of 8 and grid of 25: GAN, PacGAN, WGAN, WGAN-GP, k sweep"

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


def run(data="ring", method="gan", seed=0, protocol="reduced", k=1, steps=None,
        progress=False, snapshots=None, gp_lambda=10.0):
    """Train one method on one mixture with one seed; measure modes at a few moments.

    Returns a :class:`RunResult`: the final :class:`tinygan.modes.ModeStats` and the
    snapshots (step, 2,500 samples, stats) taken at evenly spaced steps.
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
    sample_real = mix.sampler(seed + 10_000)
    noise_gen = backend.rng(seed + 20_000)
    xp = backend.xp()

    def sample_noise(n):
        return xp.asarray(noise_gen.standard_normal((n, LATENT_DIM))).astype("float32")

    snap_at = sorted({max(1, round(steps * (i + 1) / num_snaps)) for i in range(num_snaps)})
    snaps = []

    optimizers = []
    drop_at = round(steps * proto.lr_drop) if proto.lr_drop else None

    def on_step(step, _history):
        if step + 1 == drop_at:  # a short budget's substitute for PacGAN's 400 epochs at 1e-4
            for opt in optimizers:
                opt.lr /= 10
        if step + 1 in snap_at:
            x = sample_generator(G, NUM_EVAL_SAMPLES, LATENT_DIM, seed=seed + 30_000)
            snaps.append((step + 1, x, mode_stats(x, mix.means, mix.std)))

    t0 = time.perf_counter()
    if method in ("wgan", "wgan-gp"):
        if method == "wgan":
            opt_G = RMSProp(G, lr=proto.wgan_lr)
            opt_D = RMSProp(D, lr=proto.wgan_lr)
            kw = {"clip": 0.01}
        else:
            opt_G = Adam(G, lr=proto.wgangp_lr, betas=(0.0, 0.9))
            opt_D = Adam(D, lr=proto.wgangp_lr, betas=(0.0, 0.9))
            kw = {"gp_lambda": gp_lambda}
        optimizers += [opt_G, opt_D]
        history = fit_wgan(G, D, sample_real, sample_noise, opt_G, opt_D, steps,
                           batch_size=proto.packs, n_critic=5, seed=seed + 40_000,
                           progress=progress, callback=on_step, **kw)
    else:
        opt_G = Adam(G, lr=proto.lr, betas=(proto.beta1, 0.999))
        opt_D = Adam(D, lr=proto.lr, betas=(proto.beta1, 0.999))
        optimizers += [opt_G, opt_D]
        history = fit(G, D, sample_real, sample_noise, opt_G, opt_D, steps,
                      batch_size=proto.packs * m, k=k, progress=progress, callback=on_step)
    seconds = time.perf_counter() - t0
    final = snaps[-1][2] if snaps else mode_stats(
        sample_generator(G, NUM_EVAL_SAMPLES, LATENT_DIM, seed=seed + 30_000), mix.means, mix.std)
    return RunResult(data, method, seed, k, steps, final, snaps, seconds, history,
                     gp_lambda if method == "wgan-gp" else None)


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


def plot_results(results, data):
    """Snapshots of the plain GAN and of the best method on ``data`` (each its first seed).

    The best method has the most modes captured on average over seeds, then the most
    high-quality samples (runs with k = 1 only). Returns {name: Figure}.
    """
    on = [r for r in results if r.data == data and r.k == 1 and r.snapshots]
    if not on:
        return {}
    mix = mixture(data)
    by_method = {}
    for r in on:
        by_method.setdefault(r.method, []).append(r)

    def score(method):
        rs = by_method[method]
        return (sum(r.stats.modes for r in rs) / len(rs),
                sum(r.stats.high_quality for r in rs) / len(rs))

    best = max(by_method, key=score)
    figs = {}
    for method in dict.fromkeys(["gan", best]):
        if method in by_method:
            r = by_method[method][0]
            figs[method] = plot_snapshots(r.snapshots, mix.means,
                                          title=f"{method} on the {data}, seed {r.seed}")
    return figs


# --- CLI --------------------------------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--data", nargs="+", choices=["ring", "grid"], default=None,
                   help="mixtures (default: ring grid; --quick: ring)")
    p.add_argument("--method", nargs="+", choices=METHODS + ["all"], default=None,
                   help="methods (default: all; --quick: gan pac2)")
    p.add_argument("--protocol", choices=["reduced", "full"], default="reduced",
                   help="reduced (default, minutes) or the full PacGAN protocol (hours)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per method (default 3; quick 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--steps", type=int, default=None, help="override the G steps")
    p.add_argument("--k", type=int, nargs="+", default=[1],
                   help="D steps per G step for gan/pacM (e.g. --k 1 2 5)")
    p.add_argument("--gp-lambda", type=float, default=10.0,
                   help="WGAN-GP's λ (default 10, the paper's; its toy code used 0.1)")
    p.add_argument("--k-sweep", action="store_true",
                   help="also run the plain GAN on the ring with k = 1, 2, 5")
    p.add_argument("--quick", action="store_true", help="seconds: ring, gan and pac2, one seed")
    p.add_argument("--tables-from", nargs="+", metavar="JSON", default=None,
                   help="train nothing: print the tables of the runs in these modes.json files")


def main(args):
    if args.tables_from:
        records, protocols = [], set()
        for path in args.tables_from:
            with open(path) as f:
                saved = json.load(f)
            records += saved["runs"]
            protocols.add(saved["protocol"])
        print(format_table(summarize(records), "/".join(sorted(protocols))))
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
    os.makedirs(args.out, exist_ok=True)
    progress = not args.no_progress
    results = []
    for i, (d, meth, s, k) in enumerate(jobs):
        r = run(d, meth, seed=s, protocol=protocol, k=k, steps=args.steps, progress=progress,
                gp_lambda=args.gp_lambda)
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
    with open(os.path.join(args.out, "modes.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "modes.json"), "w") as f:
        json.dump({"protocol": protocol, "rows": rows, "runs": records}, f, indent=1)
    paths = []
    for d in datas:
        figs = plot_results(results, d)
        for meth, fig in figs.items():
            path = os.path.join(args.out, f"modes_{d}_{meth}.png")
            fig.savefig(path, dpi=110)
            paths.append(path)
    print("results: " + os.path.join(args.out, "modes.md") + "; figures: " + ", ".join(paths))
    return 0
