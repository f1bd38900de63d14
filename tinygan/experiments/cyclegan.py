"""CycleGAN between two unpaired domains whose true correspondence is known.

``--data points``: X is a mixture of five unequal 2-D Gaussians, Y its image under a
known rotation-and-scaling T; MLP generators (residual: x + MLP(x)) and
discriminators. ``--data digits``: thin-stroke digits of one half of the shipped set
against thick-stroke digits of the other half (``tinygan.data.unpaired``); ResNet
generators with instance norm and PatchGAN discriminators (``tinygan.models.cyclegan``).
Both train with the least-squares GAN loss, λ_cyc = 10, Adam 2e-4 (β₁ = 0.5), a linear
learning-rate decay over the second half and a history pool of 50
(``tinygan.gans.cyclegan`` cites the official code for each).

Because both domains are made by the code, a translation can be checked against the
truth, which CycleGAN's own evaluation could not do: for points the distance of G(x)
to T(x) and whether each mode lands on its own image; for digits ``paired_l1`` against
the true thick version of x and ``label_preserved`` (the digit classifier gives G(x)
the label of x; target ≥ 0.9). ``--no-cycle`` is the ablation with λ_cyc = 0.

Derivation: derivations/07_cyclegan.md. Notebook: notebooks/07_cyclegan.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

from .. import backend, runs
from .. import metrics as M
from ..data.unpaired import digit_styles, point_domains
from ..family_plots import (
    animate_points,
    plot_cycle_losses,
    plot_dstar_1d,
    plot_point_translation,
    plot_translation_grid,
)
from ..gans import cyclegan as C
from ..gans import lsgan
from ..image_plots import animate_samples
from ..models.cyclegan import cyclegan_models
from ..modes import mode_stats
from ..optim import Adam
from . import optimal_d_family as odf

HELP = "CycleGAN between unpaired domains with a known truth: 2-D points or digit styles"

DESCRIPTION = """\
Learns two translations, G: X -> Y and F: Y -> X, from two sets that were never paired,
with a cycle loss that asks F(G(x)) to give x back. Both domains are made by the code,
so the answer is known and the translation can be checked against it.

--data points: five Gaussians of unequal weight, and the same five rotated by 25
degrees and scaled by 1.3. Reports how far G(x) lands from its true image, how many of
Y's modes G(X) covers, and whether each mode goes to its own image.
--data digits: thin-stroke digits from one half of the shipped set, thick-stroke
digits from the other half. Reports label_preserved (a digit classifier gives G(x) the
label of x; target at least 0.9) and paired_l1, the distance of G(x) to the true thick
version of x, which no real CycleGAN benchmark can measure.
--no-cycle trains without the cycle loss: the ablation that shows what the cycle buys.
Before training it checks LSGAN's optimal discriminator (b p_data + a p_g)/(p_data + p_g)
on a 1-D problem with known densities.

Time: the default points run takes about 1.5 minutes, digits about 4 minutes on one
core; --quick takes about 20 s, a smoke run with smaller targets: the points close
their cycles (the map itself is not learned yet), the digits keep at least 40% of their
labels.

Writes to --out: translation.png, cycle.png (digits) or translation.png with arrows
x -> G(x) -> F(G(x)) (points), losses.png, dstar_1d.png, training.gif, checkpoint.npz,
results.json and run.json.

Notebook: notebooks/07_cyclegan.ipynb (derivation: derivations/07_cyclegan.md)."""

CHECKPOINT_EVERY = 500
ANIMATION = True

np = backend.numpy

STEPS = {"points": 6000, "digits": 1500}
QUICK_STEPS = {"points": 600, "digits": 80}
BATCH_SIZE = {"points": 64, "digits": 16}
LR = 2e-4
TARGET_LABEL_PRESERVED = 0.9
QUICK_LABEL_PRESERVED = 0.4  # --quick digits, seed 0: 0.578 (untrained: 0.11)
QUICK_CYCLE_L1 = 0.01  # --quick points, seed 0: 0.0011 both ways (untrained: 0.17, 0.24)
NUM_EVAL_POINTS = 2000


@dataclass
class CycleResult:
    """What a run produced: the four networks, the history, the measured numbers."""

    data: str
    G: object
    F: object
    D_X: object
    D_Y: object
    config: dict
    history: object
    numbers: dict
    dstar: dict
    seconds: float
    views: dict = field(default_factory=dict)      # arrays the figures need (host)
    snapshots: dict = field(default_factory=dict)  # step -> G(x_fixed) (host)

    def table(self, quick=False):
        """The printed report; ``quick``: with --quick's targets (see :func:`passed`)."""
        n = self.numbers
        lam = self.config["lambda_cyc"]
        gated = quick and lam != 0 and self.data == "points"  # the quick points' target
        ablation = "the no-cycle ablation: no target"  # λ_cyc = 0 gates nothing (passed)
        lines = [f"cycle_l1: mean |F(G(x)) − x| = {n['cycle_l1']['X']:.4f}, "
                 f"mean |G(F(y)) − y| = {n['cycle_l1']['Y']:.4f}   (λ_cyc = {lam:g}"
                 + (f"; target ≤ {QUICK_CYCLE_L1} both ways in quick mode)" if gated else ")")]
        if self.data == "points":
            g, f = n["modes_G"], n["modes_F"]
            lines += [f"G(X) covers {g['modes']}/{g['num_modes']} modes of Y, "
                      f"{g['high_quality']:.1%} high quality; F(Y) covers {f['modes']}/"
                      f"{f['num_modes']} modes of X, {f['high_quality']:.1%}",
                      f"mode_correspondence: {n['mode_correspondence']['G']:.1%} of x land on "
                      f"the image of their own mode ({n['mode_correspondence']['F']:.1%} for F)",
                      f"map error: mean ‖G(x) − T(x)‖ = {n['map_error']['G']:.3f}, "
                      f"mean ‖F(y) − T⁻¹(y)‖ = {n['map_error']['F']:.3f}   (Y's mode std: "
                      f"{n['std_Y']:.2f})"]
        else:
            target = ("quick mode: no target" if quick and lam == 0 else ablation if lam == 0
                      else f"target for G ≥ {QUICK_LABEL_PRESERVED} in quick mode" if quick
                      else f"target for G ≥ {TARGET_LABEL_PRESERVED}")
            lines += [f"label_preserved: G {n['label_preserved']['G']:.3f}, F "
                      f"{n['label_preserved']['F']:.3f}   ({target}; the judge on the true "
                      f"counterparts: {n['judge_on_truth']:.3f})",
                      f"paired_l1: mean |G(x) − thick(x)| = {n['paired_l1']['G']:.4f}, mean "
                      f"|F(y) − thin(y)| = {n['paired_l1']['F']:.4f}   (doing nothing: "
                      f"{n['paired_l1_identity']['G']:.4f} and "
                      f"{n['paired_l1_identity']['F']:.4f})"]
        d = self.dstar
        lines.append("LSGAN's D* in 1-D: E_m|D − D*|/(b − a) = " + ", ".join(
            f"{v['relative_error_m']:.4f} (a = {v['a']:g}, b = {v['b']:g})" for v in d)
            + ("  (quick mode: no target)" if quick else f"  ({ablation})" if lam == 0
               else f"  (target ≤ {odf.TARGET})"))
        return "\n".join(lines)

    def to_json(self):
        h = self.history.as_arrays()
        tail = max(1, min(100, len(self.history)))
        return {"data": self.data, "config": self.config, "steps": len(self.history),
                "seconds": self.seconds, **self.numbers,
                "lsgan_dstar": [{k: v for k, v in d.items() if k != "D"} for d in self.dstar],
                "final_losses_mean_last_100": {k: float(v[-tail:].mean()) for k, v in h.items()
                                               if len(v)}}


def _domains(data, seed):
    """(sample_x, sample_y, evaluation dict) for ``data``; samplers draw from ``gen``."""
    if data == "points":
        X, Y, T = point_domains()
        ev = backend.rng(seed + 3)
        xe, kx = X.sample(NUM_EVAL_POINTS, ev)
        ye, ky = Y.sample(NUM_EVAL_POINTS, ev)
        return {"X": X, "Y": Y, "T": T, "x": xe, "kx": kx, "y": ye, "ky": ky}
    dd = digit_styles(seed=seed)
    return {"dd": dd, "x": dd.x, "y": dd.y}


def _samplers(data, ev, gen):
    if data == "points":
        return (lambda m: ev["X"].sample(m, gen)[0]), (lambda m: ev["Y"].sample(m, gen)[0])
    x, y = ev["x"], ev["y"]
    return (lambda m: x[gen.integers(0, x.shape[0], size=m)],
            lambda m: y[gen.integers(0, y.shape[0], size=m)])


def _nearest(points, means):
    d2 = ((points[:, None, :] - means[None]) ** 2).sum(-1)
    return d2.argmin(axis=1)


def evaluate(data, G, F, ev, seed=0):
    """The measured numbers (host floats) and the arrays the figures need."""
    h = backend.to_numpy
    gx, fy = C.translate(G, ev["x"]), C.translate(F, ev["y"])
    fgx, gfy = C.translate(F, gx), C.translate(G, fy)
    numbers = {"cycle_l1": {"X": float(np.abs(h(fgx) - h(ev["x"])).mean()),
                            "Y": float(np.abs(h(gfy) - h(ev["y"])).mean())}}
    views = {"x": h(ev["x"]), "gx": h(gx), "fgx": h(fgx), "y": h(ev["y"]), "fy": h(fy),
             "gfy": h(gfy)}
    if data == "points":
        X, Y, T = ev["X"], ev["Y"], ev["T"]
        gxh, fyh = h(gx).astype("float64"), h(fy).astype("float64")
        xh, yh = h(ev["x"]).astype("float64"), h(ev["y"]).astype("float64")
        numbers.update(
            modes_G=mode_stats(gxh, Y.means, Y.std).as_dict(),
            modes_F=mode_stats(fyh, X.means, X.std).as_dict(),
            mode_correspondence={"G": float((_nearest(gxh, Y.means) == ev["kx"]).mean()),
                                 "F": float((_nearest(fyh, X.means) == ev["ky"]).mean())},
            map_error={"G": float(np.linalg.norm(gxh - T(xh), axis=1).mean()),
                       "F": float(np.linalg.norm(fyh - T.inverse()(yh), axis=1).mean())},
            std_Y=float(Y.std), std_X=float(X.std),
            true_map={"A": np.asarray(T.A).tolist(), "b": np.asarray(T.b).tolist()})
        views["means_Y"] = np.asarray(Y.means)
    else:
        dd = ev["dd"]
        judge = ev["judge"]
        numbers.update(
            label_preserved={"G": float((judge.predict(gx) == dd.x_labels).mean()),
                             "F": float((judge.predict(fy) == dd.y_labels).mean())},
            judge_on_truth=float((judge.predict(dd.x_true_y) == dd.x_labels).mean()),
            paired_l1={"G": float(np.abs(h(gx) - h(dd.x_true_y)).mean()),
                       "F": float(np.abs(h(fy) - h(dd.y_true_x)).mean())},
            paired_l1_identity={"G": float(np.abs(h(dd.x) - h(dd.x_true_y)).mean()),
                                "F": float(np.abs(h(dd.y) - h(dd.y_true_x)).mean())})
        views["x_true_y"], views["y_true_x"] = h(dd.x_true_y), h(dd.y_true_x)
    return numbers, views


_JUDGES = {}


def train_judge(dd, seed=0):
    """The digit classifier that judges label preservation: both styles, all images.

    Labels are used here only; CycleGAN never sees them. A deterministic function of the
    seed and the shipped data, so it is trained once per seed and backend in a process
    (the notebook's run and its ablation share it)."""
    key = (seed, backend.name())
    if key not in _JUDGES:
        xp = backend.xp()
        imgs = xp.concatenate([dd.x, dd.y, dd.x_true_y, dd.y_true_x])
        labels = np.concatenate([dd.x_labels, dd.y_labels, dd.x_labels, dd.y_labels])
        _JUDGES[key] = M.train_digit_classifier(imgs, labels, seed=seed, num_epochs=20)
    return _JUDGES[key]


def train(data="points", num_steps=None, batch_size=None, seed=0, lambda_cyc=C.LAMBDA_CYC,
          lambda_id=None, pool_size=C.POOL_SIZE, dstar_config=None, dstar=None,
          sample_every=None, run=None, progress=False):
    """Measure LSGAN's D* in 1-D, train CycleGAN on ``data``, evaluate. Returns a CycleResult.

    ``lambda_id`` (relative to λ_cyc, as the official code) defaults to 0.5 for digits and
    0 for points: the identity loss asks G(y) = y, and a rotation is not the identity on
    Y. ``lambda_cyc = 0`` is the no-cycle ablation. ``dstar``: the two LSGAN D*
    measurements already made (``optimal_d_family.lsgan_dstar``), reused instead of redone.
    """
    t0 = time.time()
    run = run or runs.NullRun()
    num_steps = STEPS[data] if num_steps is None else num_steps
    batch_size = BATCH_SIZE[data] if batch_size is None else batch_size
    lambda_id = (0.5 if data == "digits" else 0.0) if lambda_id is None else lambda_id
    cfg_d = dstar_config or odf.FULL
    dstar = dstar or [odf.lsgan_dstar(cfg_d, a=-1.0, b=1.0), odf.lsgan_dstar(cfg_d, a=0.0, b=1.0)]

    ev = _domains(data, seed)
    G, F, D_X, D_Y, config = cyclegan_models(data, seed=seed)
    config.update(batch_size=batch_size, lr=LR, beta1=0.5, lambda_cyc=float(lambda_cyc),
                  lambda_id=float(lambda_id), pool_size=int(pool_size), lr_policy="linear")
    opts = tuple(Adam(m, lr=LR, betas=(0.5, 0.999)) for m in (G, F, D_X, D_Y))
    gen = backend.rng(seed + 1)
    pools = (C.HistoryPool(pool_size, gen), C.HistoryPool(pool_size, gen))
    sample_x, sample_y = _samplers(data, ev, gen)
    x_fixed = ev["x"][:200 if data == "points" else 40]
    history, snapshots = C.CycleHistory(), {}
    parts = {"model": {k: config[k] for k in config if k in ("data", "width", "n_blocks")},
             "G": G, "F": F, "D_X": D_X, "D_Y": D_Y, "opt_G": opts[0], "opt_F": opts[1],
             "opt_DX": opts[2], "opt_DY": opts[3], "rng": gen, "pool_X": pools[0],
             "pool_Y": pools[1], "history": history, "snapshots": snapshots}
    start = run.restore(parts)

    def snapshot(step):
        snapshots[step] = backend.to_numpy(C.translate(G, x_fixed))

    every = sample_every or max(1, num_steps // 20)
    if start == 0:
        snapshot(0)
    with run.loop(num_steps, state=parts, start=start) as tick:
        def callback(step, history):
            if (step + 1) % every == 0 or step + 1 == num_steps:
                snapshot(step + 1)
            tick(step + 1)

        C.fit(G, F, D_X, D_Y, sample_x, sample_y, opts, pools, num_steps, LR,
              lambda_cyc=lambda_cyc, lambda_id=lambda_id, batch_size=batch_size,
              history=history, callback=callback, start=start)
    if data == "digits":
        ev["judge"] = train_judge(ev["dd"], seed=seed)
    numbers, views = evaluate(data, G, F, ev, seed)
    views["x_fixed"] = backend.to_numpy(x_fixed)
    return CycleResult(data, G, F, D_X, D_Y, config, history, numbers, dstar,
                       time.time() - t0, views, snapshots)


def dstar_figure(dstar):
    """Each trained least-squares D against (b·p_data + a·p_g)/(p_data + p_g)."""
    from .. import densities as dn

    p, q = odf.P_DATA, dn.generator_density(odf.affine_generator(odf.G_A, odf.G_B))
    xs = np.linspace(-4, 4.5, 801)
    curves = []
    for d in dstar:
        out = dn.model_logits(d["D"])(xs)
        curves.append((f"a = {d['a']:g}, b = {d['b']:g}: E_m|D − D*| = "
                       f"{d['mean_abs_error_m']:.4f} ({d['relative_error_m']:.4f} of b − a)",
                       xs, out,
                       backend.to_numpy(lsgan.optimal_d(p.pdf(xs), q.pdf(xs), d["a"], d["b"])),
                       p.pdf(xs), q.pdf(xs)))
    return plot_dstar_1d(curves, title="Least-squares D against a fixed G, and "
                                       "D* = (b·p_data + a·p_g)/(p_data + p_g)")


def passed(result, quick=False):
    """The run's verdict (the command's exit status): its measured targets.

    --quick has smaller ones that the untrained networks miss (seed 0 at step 0: cycle_l1
    0.17 and 0.24 for points; label_preserved 0.11 and paired_l1 0.67 for digits): the
    points must close their cycles (cycle_l1 ≤ QUICK_CYCLE_L1 both ways; measured 0.0011)
    and the digits keep more labels than chance and land nearer their true counterpart
    than x itself (label_preserved ≥ QUICK_LABEL_PRESERVED, measured 0.578; paired_l1
    below doing nothing, measured 0.31 against 0.50). The ablation has no target.
    """
    n = result.numbers
    finite = all(math.isfinite(v) for v in n["cycle_l1"].values())
    if result.config["lambda_cyc"] == 0:
        return finite
    if quick:
        if result.data == "digits":
            return (finite and n["label_preserved"]["G"] >= QUICK_LABEL_PRESERVED
                    and n["paired_l1"]["G"] < n["paired_l1_identity"]["G"])
        return finite and max(n["cycle_l1"].values()) <= QUICK_CYCLE_L1
    dstar_ok = all(d["relative_error_m"] <= odf.TARGET for d in result.dstar)
    if result.data == "digits":
        return finite and dstar_ok and n["label_preserved"]["G"] >= TARGET_LABEL_PRESERVED
    return (finite and dstar_ok and n["modes_G"]["modes"] == n["modes_G"]["num_modes"]
            and n["mode_correspondence"]["G"] >= 0.9)


def add_arguments(parser):
    parser.add_argument("--data", choices=["points", "digits"], default="points",
                        help="points: 2-D mixtures related by a known map; digits: thin vs "
                             "thick strokes (default: points)")
    parser.add_argument("--steps", type=runs.positive_int, default=None,
                        help="training steps (default: points "
                             f"{STEPS['points']}, digits {STEPS['digits']}; --quick: "
                             f"{QUICK_STEPS['points']} and {QUICK_STEPS['digits']})")
    parser.add_argument("--batch-size", type=runs.positive_int, default=None,
                        help=f"images or points per domain per step: points are drawn fresh "
                             f"from their mixtures (any size), digits with replacement from "
                             f"their halves (at most the smaller half's {_digit_half()} images) "
                             f"(default: points {BATCH_SIZE['points']}, digits "
                             f"{BATCH_SIZE['digits']})")
    parser.add_argument("--no-cycle", action="store_true",
                        help="the ablation: λ_cyc = 0 (and with it the identity term, whose "
                             "weight is λ_id·λ_cyc) (default: off)")
    parser.add_argument("--lambda-cyc", type=runs.nonnegative_float, default=C.LAMBDA_CYC,
                        help=f"weight of the cycle loss (default: {C.LAMBDA_CYC:g}, the "
                             "paper's)")
    parser.add_argument("--lambda-identity", type=runs.nonnegative_float, default=None,
                        help="weight of the identity loss relative to λ_cyc (default: 0.5 for "
                             "digits, as the official code; 0 for points)")
    parser.add_argument("--pool-size", type=runs.nonnegative_int, default=C.POOL_SIZE,
                        help=f"history pool of generated samples (default: {C.POOL_SIZE})")
    parser.add_argument("--dstar-steps", type=runs.positive_int, default=None, metavar="N",
                        help=f"steps of the 1-D D* check before training (default: "
                             f"{odf.FULL.num_steps}; --quick: {odf.QUICK.num_steps})")
    parser.add_argument("--quick", action="store_true",
                        help=f"about 20 s: {QUICK_STEPS['points']} steps (points) or "
                             f"{QUICK_STEPS['digits']} (digits), and a shorter 1-D D* check")
    parser.add_argument("--seed", type=runs.seed, default=0,
                        help="seed of the networks, the batches and the evaluation (default: 0)")


@functools.lru_cache(maxsize=1)
def _digit_half():
    """The size of the smaller digit half (the halves are split by class: seed-free sizes).

    Cached: --help and every parse ask for it, and reading the digits takes ~14 ms."""
    from ..data.digits import load_digits_raw, train_test_split

    return min(len(h) for h in train_test_split(load_digits_raw()[1]))


def check_args(args):
    if args.data == "digits":
        runs.check_batch_size(args.batch_size, _digit_half(),
                              "the images of the smaller digit half it trains on")
    if args.no_cycle and args.lambda_cyc != C.LAMBDA_CYC:
        raise runs.UsageError("--no-cycle sets λ_cyc = 0; give either --no-cycle or "
                              "--lambda-cyc, not both")


def main(args, run):
    data = args.data
    steps = args.steps if args.steps is not None else (
        QUICK_STEPS[data] if args.quick else STEPS[data])
    lam = 0.0 if args.no_cycle else args.lambda_cyc
    result = train(data, steps, args.batch_size, seed=args.seed, lambda_cyc=lam,
                   lambda_id=args.lambda_identity, pool_size=args.pool_size,
                   dstar_config=odf.config_from_args(args), run=run,
                   progress=not args.no_progress)
    print(f"CycleGAN on {data}: {steps} steps of batch {result.config['batch_size']} in "
          f"{result.seconds:.0f} s (seed {args.seed}, λ_cyc = {lam:g}, λ_id = "
          f"{result.config['lambda_id']:g}·λ_cyc)")
    print(result.table(quick=args.quick))
    v, tight = result.views, {"dpi": 120, "bbox_inches": "tight"}
    title = f"CycleGAN on {data}, {steps} steps" + (" (no cycle loss)" if lam == 0 else "")
    if data == "points":
        run.save_figure(plot_point_translation(v["x"][:600], v["gx"][:600], v["fgx"][:600],
                                               y=v["y"][:600], means_y=v["means_Y"],
                                               title=title + ": x → G(x) → F(G(x))"),
                        "translation.png", **tight)
        if not args.no_animation:
            run.save_animation("training.gif", *animate_points(result.snapshots, v["means_Y"],
                                                               v["x_fixed"]), fps=4)
    else:
        run.save_figure(plot_translation_grid([v["x"], v["gx"], v["x_true_y"], v["y"], v["fy"],
                                               v["y_true_x"]],
                                              ["x (thin)", "G(x)", "true thick", "y (thick)",
                                               "F(y)", "true thin"], title=title),
                        "translation.png", **tight)
        run.save_figure(plot_translation_grid([v["x"], v["gx"], v["fgx"], v["y"], v["fy"],
                                               v["gfy"]],
                                              ["x", "G(x)", "F(G(x))", "y", "F(y)", "G(F(y))"],
                                              title=title + ": the two cycles"),
                        "cycle.png", **tight)
        if not args.no_animation:
            run.save_animation("training.gif", *animate_samples(result.snapshots, nrow=10,
                                                                size=2.6), fps=4)
    run.save_figure(plot_cycle_losses(result.history, title=title,
                                      smooth=max(1, min(50, steps // 20))),
                    "losses.png", **tight)
    run.save_figure(dstar_figure(result.dstar), "dstar_1d.png", **tight)
    run.save_json("results.json", result.to_json())
    print(f"figures, checkpoint.npz and results.json in {run.out}")
    return 0 if passed(result, args.quick) else 1
