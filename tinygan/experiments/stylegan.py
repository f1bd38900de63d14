"""StyleGAN on the 8×8 digits: a mapping network, AdaIN styles, noise, style mixing, truncation, R1.

Build → train → report. The networks are ``tinygan.models.stylegan`` (synthesis 4×4 → 8×8,
two style slots per resolution: slots 0-1 coarse, 2-3 fine), the losses and steps
``tinygan.gans.stylegan``, the measurements and figures ``stylegan_report``.

Settings, from the official code (NVlabs/stylegan ``train.py``, ``training/loss.py``,
``training/training_loop.py``, ``training/networks_stylegan.py``) and how they are scaled:

====================================  ===============================  ====================
setting                               official                         here
====================================  ===============================  ====================
D loss / G loss                       logistic + R1 / non-saturating   same
R1 γ                                  10                               10
Adam β₁, β₂, ε                        0, 0.99, 1e-8                    same
learning rate (G and D)               0.001 below 128²                 0.001
minibatch at 8×8                      256 (8 GPUs)                     32
style-mixing probability              0.9                              0.9
mapping network                       8 × 512, lr multiplier 0.01      4 × 32, 0.01
z, w dimensions                       512, 512                         32, 32
channels 4×4 / 8×8 (G)                512 / 512                        64 / 4
channels 4×4 / 8×8 (D)                512 / 512                        32 / 16
w̄ moving average β                    0.995                            0.995
truncation ψ (figures)                0.7 on the coarse layers         swept 1 … −1, all
noise inputs, constant input          yes                              yes
equalized learning rate               yes                              yes
blur, minibatch-stddev, growing       yes                              no (models/stylegan)
G's weight average (Gs) for samples   half-life 10k images             no
====================================  ===============================  ====================

Why 4 channels at 8×8: the official network has 512 channels at 8×8 too, but its fine layers
sit at 64² … 1024², where a few hundred channels are few next to the pixels; the last style
layer's output is a per-channel reweighting of its feature maps, and at 8×8 (64 pixels) 32 or
64 maps span nearly every digit, so the fine styles alone could paint any digit and the
coarse ones are ignored. With a few maps at 8×8 the fine styles can only modulate. (Measured,
README: with 32 channels at 8×8 the label followed the *fine* styles; with 8 the coarse share
reached the target on one seed of two at 5,000 steps; with 4, seed 0 reached 0.907 at 5,000
steps and 0.924 at the default 6,000.)

``--quick`` (the demo and the tests) trains a few steps: its numbers are not the target's.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field

from .. import backend, runs
from .. import metrics as M
from ..data.digits import load_digits, load_digits_raw, train_test_split
from ..gans import stylegan as sg
from ..image_plots import animate_samples, plot_image_grid, plot_losses
from ..models.stylegan import StyleGenerator, mix_styles, style_discriminator
from . import stylegan_report as R

HELP = "StyleGAN on the 8×8 digits: mapping network, AdaIN, noise, style mixing, truncation, R1"

np = backend.numpy

#: Default generator steps: the full run and --quick.
STEPS = 6000
QUICK_STEPS = 40
#: The measured target: the share of coarse-A/fine-B mixes labelled as A's digit.
TARGET_COARSE = 0.9

DEFAULTS = dict(latent_dim=32, w_dim=32, mapping_layers=4, channels=(64, 4),
                d_channels=(32, 16), batch_size=32, lr=sg.LR, betas=sg.BETAS,
                r1_gamma=sg.R1_GAMMA, mixing_prob=sg.MIXING_PROB, w_avg_beta=sg.W_AVG_BETA,
                mapping_lr_mul=0.01)


def build(config, seed):
    """(G, D, opt_G, opt_D) from a config dict and a seed (G from seed, D from seed + 100)."""
    G = StyleGenerator(latent_dim=config["latent_dim"], w_dim=config["w_dim"],
                       mapping_layers=config["mapping_layers"], channels=config["channels"],
                       mapping_lr_mul=config["mapping_lr_mul"], rng=backend.rng(seed))
    D = style_discriminator(8, config["d_channels"], rng=backend.rng(seed + 100))
    opt_G, opt_D = sg.stylegan_optimizers(G, D, lr=config["lr"], betas=tuple(config["betas"]))
    return G, D, opt_G, opt_D


@dataclass
class StyleGANResult:
    """Everything a run produced; numbers are host floats."""

    G: object
    D: object
    config: dict
    history: object
    classifier: object
    accuracy: float
    scores: dict             # "real", "stylegan", "dcgan", "noise" → evaluate_samples dicts
    mixing: dict
    noise: dict
    truncation: dict         # ψ → evaluate_samples dict
    mapping_change: dict
    seconds: float
    train_seconds: float
    snapshots: dict = field(default_factory=dict)
    dcgan: dict = field(default_factory=dict)
    curve: dict = field(default_factory=dict)  # step → [follows_coarse, follows_fine]

    @property
    def target_met(self):
        return self.mixing["follows_coarse"] >= TARGET_COARSE

    def table(self, quick=False):
        """The printed report; the mixing target applies to the default budget only."""
        s = self.scores
        steps = len(self.history)
        target = ("(quick mode: no target)" if quick else
                  "(a short run: no target)" if steps < STEPS else f"target ≥ {TARGET_COARSE}")
        lines = [f"digit classifier: test accuracy {self.accuracy:.3f} on the held-out half", "",
                 f"{'':34s} {'IS':>6s} {'FID':>7s}  classes"]
        names = [("real", "real (held-out half)"), ("stylegan", f"StyleGAN ({steps} steps)"),
                 ("dcgan", f"DCGAN ({self.dcgan.get('steps', steps)} steps, same batch)"),
                 ("noise", "uniform noise")]
        for key, name in names:
            if key in s:
                lines.append(f"{name:34s} {s[key]['inception_score']:6.2f} "
                             f"{s[key]['fid']:7.2f}  {s[key]['classes_present']:2d}/10")
        m = self.mixing
        lines += ["", f"style mixing ({m['pairs']} pairs of different digits; coarse = slots "
                      f"0-{m['cutoff'] - 1}, 4×4):",
                  f"  coarse A + fine B labelled A (mixing_label_follows_coarse)  "
                  f"{m['follows_coarse']:.3f}   {target}",
                  f"  coarse A + fine B labelled B (…_follows_fine)               "
                  f"{m['follows_fine']:.3f}",
                  f"  reversed: coarse B + fine A labelled B                      "
                  f"{m['follows_coarse_reversed']:.3f}",
                  f"noise alone: mean pixel std {self.noise['pixel_std_noise']:.4f} "
                  f"(styles at fixed noise: {self.noise['pixel_std_style']:.4f})",
                  "truncation: " + ", ".join(f"ψ={p:g} IS {v['inception_score']:.2f}"
                                             for p, v in self.truncation.items()),
                  f"weights moved (relative): mapping {self.mapping_change['mapping']:.4f}, "
                  f"synthesis {self.mapping_change['synthesis']:.4f}"]
        return "\n".join(lines)

    def to_json(self):
        h = self.history.as_arrays()
        tail = max(1, min(100, len(self.history)))
        m = self.mixing
        return {
            "data": "digits 8×8", "config": self.config, "steps": len(self.history),
            "seconds": self.seconds, "train_seconds": self.train_seconds,
            "classifier_test_accuracy": self.accuracy,
            "scores": self.scores,
            "is_fid": {k: {"IS": v["inception_score"], "FID": v["fid"]}
                       for k, v in self.scores.items()},
            "dcgan_baseline": self.dcgan,
            "mixing_label_follows_coarse": m["follows_coarse"],
            "mixing_label_follows_fine": m["follows_fine"],
            "mixing_label_follows_coarse_reversed": m["follows_coarse_reversed"],
            "mixing_label_follows_fine_reversed": m["follows_fine_reversed"],
            "mixing_pairs": m["pairs"], "mixing_pairs_drawn": m["pairs_drawn"],
            "mixing_over_training": {str(k): {"follows_coarse": v[0], "follows_fine": v[1]}
                                     for k, v in sorted(self.curve.items())},
            "noise_pixel_std": self.noise["pixel_std_noise"],
            "style_pixel_std": self.noise["pixel_std_style"],
            "truncation": {f"{p:g}": {"IS": v["inception_score"], "FID": v["fid"]}
                           for p, v in self.truncation.items()},
            "mapping_relative_change": self.mapping_change["mapping"],
            "synthesis_relative_change": self.mapping_change["synthesis"],
            "targets": {"mixing_label_follows_coarse": {
                "value": m["follows_coarse"], "target": TARGET_COARSE, "met": self.target_met}},
            "final_losses_mean_last_100": {k: float(v[-tail:].mean()) for k, v in h.items()
                                           if len(v)},
        }


def prepare_judge(seed=0):
    """(images, labels, classifier, test accuracy, reference stats, held-out images)."""
    x, y = load_digits(scale="tanh")
    y = backend.to_numpy(y)
    tr, te = train_test_split(y, seed=seed)
    x_tr, x_te = x[backend.asarray(tr)], x[backend.asarray(te)]
    clf = M.train_digit_classifier(x_tr, y[tr], seed=seed, num_epochs=60)
    accuracy = clf.accuracy(x_te, y[te])
    ref = M.gaussian_stats(clf.features_and_probs(x_tr)[0])
    return x, y, clf, accuracy, ref, x_te


def train(num_steps=STEPS, seed=0, config=None, run=None, progress=False, dcgan=True,
          sample_every=None, eval_pairs=2000, eval_size=None, on_snapshot=None):
    """Train the StyleGAN, then measure it (and a DCGAN of the same steps). Returns a result.

    ``run`` is a ``tinygan.runs.Run`` (checkpoints, resume, Ctrl-C) or None (a notebook).
    ``dcgan=False`` skips the DCGAN baseline (its scores are then missing).
    ``eval_pairs``: latent pairs for the mixing shares; ``eval_size``: images per scored
    set (default: the held-out half, 899 images, as the DCGAN's scores use).
    """
    run = run or runs.NullRun()
    t0 = time.time()
    cfg = dict(DEFAULTS, **(config or {}))
    cfg["channels"], cfg["d_channels"] = list(cfg["channels"]), list(cfg["d_channels"])
    cfg["betas"] = list(cfg["betas"])
    # 1. The judge: a classifier trained on one half of the real digits (before training, as
    #    it also scores the mixing share along the way).
    x, _, clf, accuracy, ref, x_te = prepare_judge(seed)

    # 2. Build. Every random draw of the loop comes from `gen`, the real batches too.
    G, D, opt_G, opt_D = build(cfg, seed)
    gen = backend.rng(seed + 1)
    n, B = x.shape[0], cfg["batch_size"]

    def sample_real(m):
        return x[backend.asarray(gen.integers(0, n, size=m))]

    fixed = backend.rng(seed + 2)
    z_fixed = backend.asarray(fixed.standard_normal((64, cfg["latent_dim"]))).astype("float32")
    noise_fixed = G.draw_noise(64, fixed)
    history = sg.StyleGANHistory()
    snapshots, curve = {}, {}
    every = sample_every or max(1, num_steps // 10)
    curve_pairs = max(50, eval_pairs // 4)

    def snapshot(step):
        """Fixed-z samples, and the mixing shares on pairs drawn for this step alone."""
        G.eval()
        img = R.synthesize(G, mix_styles(R.styles(G, z_fixed), None, G.num_styles,
                                         G.num_styles), noise_fixed)
        m = R.mixing_scores(G, clf, curve_pairs, backend.rng([seed + 11, int(step)]))
        G.train()
        snapshots[int(step)] = backend.to_numpy(img)
        curve[int(step)] = [m["follows_coarse"], m["follows_fine"]]
        if on_snapshot is not None:
            on_snapshot(step, snapshots[int(step)])

    parts = {"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D, "rng": gen, "history": history,
             "snapshots": snapshots, "curve": curve}
    start = run.restore(parts)
    if start == 0:
        snapshot(0)

    # 3. Train.
    t_train = time.time()
    with run.loop(num_steps, state=parts, start=start) as tick:
        def callback(step, h):
            if (step + 1) % every == 0 or step + 1 == num_steps:
                snapshot(step + 1)
            tick(step + 1)

        sg.fit_stylegan(G, D, sample_real, opt_G, opt_D, num_steps - start, B, gen,
                        r1_gamma=cfg["r1_gamma"], mixing_prob=cfg["mixing_prob"],
                        w_avg_beta=cfg["w_avg_beta"], progress=progress, callback=callback,
                        history=history)
    train_seconds = time.time() - t_train
    G.eval()
    D.eval()

    # 4. The measures, each from a generator of its own (the same numbers after a resume).
    x_te = x_te[:eval_size] if eval_size else x_te
    n_eval = int(x_te.shape[0])
    ev = backend.rng(seed + 3)
    scores = {"real": M.evaluate_samples(clf, x_te, ref),
              "stylegan": M.evaluate_samples(clf, backend.asarray(R.generate(G, n_eval, ev)),
                                             ref),
              "noise": M.evaluate_samples(clf, M.uniform_noise(n_eval, (1, 8, 8),
                                                                 seed=seed + 4), ref)}
    mixing = R.mixing_scores(G, clf, eval_pairs, backend.rng(seed + 5))
    noise = R.noise_effect(G, 16 if eval_size is None else 4, 32 if eval_size is None else 8,
                           backend.rng(seed + 6))
    trunc = {psi: M.evaluate_samples(clf, backend.asarray(R.generate(G, n_eval,
                                                                     backend.rng(seed + 7),
                                                                     psi)), ref)
             for psi in (1.0, 0.7, 0.5)}
    G0 = build(cfg, seed)[0]
    change = R.mapping_change(G, G0)

    # 5. The DCGAN of the same number of steps and batch size, scored by the same judge.
    base = {}
    if dcgan:
        from . import dcgan as dcgan_exp

        res = dcgan_exp.train(num_steps=num_steps, batch_size=B, seed=seed)
        scores["dcgan"] = M.evaluate_samples(clf, backend.asarray(res.samples[:n_eval]), ref)
        base = {"steps": num_steps, "batch_size": B, "seconds": res.seconds,
                "IS": scores["dcgan"]["inception_score"], "FID": scores["dcgan"]["fid"]}
    return StyleGANResult(G, D, cfg, history, clf, accuracy, scores, mixing, noise, trunc,
                          change, time.time() - t0, train_seconds, snapshots, base, curve)


def figures(result, seed=0):
    """The command's figures as {file name: Figure}."""
    G = result.G
    last = max(result.snapshots)
    A, B, mixed = R.mixing_grid(G, 6, 6, backend.rng(seed + 8))
    return {
        "samples.png": plot_image_grid(result.snapshots[last], nrow=8,
                                       title=f"StyleGAN samples after {last} steps"),
        "style_mixing.png": R.figure_mixing(A, B, mixed),
        "truncation.png": R.figure_truncation(R.truncation_table(G, 6, backend.rng(seed + 9))),
        "noise.png": R.figure_noise(R.noise_effect(G, 6, 6, backend.rng(seed + 10))),
        "mixing_curve.png": R.figure_mixing_curve(result.curve, TARGET_COARSE),
        "losses.png": plot_losses(result.history, title="StyleGAN on the 8×8 digits",
                                  smooth=max(1, min(50, len(result.history) // 20))),
    }


def _finite_scores(result):
    return all(math.isfinite(v["inception_score"]) and math.isfinite(v["fid"])
               for v in result.scores.values())


# -- the command ------------------------------------------------------------------------------
DESCRIPTION = """\
Trains a small StyleGAN on the 1,797 8x8 handwritten digits that ship with tinygan: a
mapping network turns z into w, a synthesis network starts from a learned 4x4 constant
and is steered by w through AdaIN in each of its 4 layers (two at 4x4, the coarse styles;
two at 8x8, the fine ones), with per-pixel noise; D is trained with the logistic loss and
the R1 penalty, whose gradient is a hand-written double backward. Then it measures:
IS and FID next to a DCGAN trained for the same number of steps (the same classifier
judges both), style mixing (coarse styles from one sample, fine from another: does the
digit follow the coarse ones? target 0.9), truncation in W, and what the noise alone
changes.

Time (one core): the default 6,000 steps, the measures and the DCGAN baseline take about
9 minutes (530 s of CPU measured; far longer on a busy shared machine); --quick (40
steps) takes seconds and its numbers mean nothing.

Writes to --out: samples.png, style_mixing.png, truncation.png, noise.png,
mixing_curve.png (the mixing shares at ten points of training), losses.png, samples.gif
(the same z and noise over training), samples_step*.png, checkpoint.npz, results.json
and run.json.

Notebook: notebooks/08_stylegan.ipynb (derivation: derivations/08_stylegan.md)."""

CHECKPOINT_EVERY = 500
ANIMATION = True


def _probability(text):
    v = runs.nonnegative_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text}")
    return v


def _channels(text):
    try:
        parts = tuple(int(t) for t in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected two positive counts 'C4,C8' (the 4×4 and "
                                         f"the 8×8 layers), got {text!r}")
    return parts


def add_arguments(parser):
    parser.add_argument("--steps", type=runs.positive_int, default=None,
                        help=f"iterations, one D and one G step each (default: {STEPS}; "
                             f"--quick: {QUICK_STEPS})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a few seconds: {QUICK_STEPS} steps (the numbers are not the "
                             "target's)")
    parser.add_argument("--seed", type=runs.seed, default=0,
                        help="seed of the networks, the batches and the scores (default: 0)")
    parser.add_argument("--batch-size", type=runs.positive_int, default=DEFAULTS["batch_size"],
                        help="minibatch size, at most the 1797 digits, drawn with "
                             f"replacement (default: {DEFAULTS['batch_size']})")
    parser.add_argument("--r1-gamma", type=runs.nonnegative_float,
                        default=DEFAULTS["r1_gamma"],
                        help=f"γ of the R1 penalty, 0 to switch it off (default: "
                             f"{DEFAULTS['r1_gamma']:g}, the official value)")
    parser.add_argument("--mixing-prob", type=_probability, default=DEFAULTS["mixing_prob"],
                        help=f"probability of style-mixing regularisation per minibatch "
                             f"(default: {DEFAULTS['mixing_prob']:g}, the official value)")
    parser.add_argument("--mapping-lr-mul", type=runs.learning_rate,
                        default=DEFAULTS["mapping_lr_mul"],
                        help=f"learning-rate multiplier of the mapping network, in (0, 1] "
                             f"(default: "
                             f"{DEFAULTS['mapping_lr_mul']:g}, the official value)")
    parser.add_argument("--g-channels", type=_channels, default=DEFAULTS["channels"],
                        metavar="C4,C8",
                        help="G's feature maps at 4×4 and at 8×8 (default: "
                             f"{','.join(map(str, DEFAULTS['channels']))})")
    parser.add_argument("--d-channels", type=_channels, default=DEFAULTS["d_channels"],
                        metavar="C4,C8",
                        help="D's feature maps at 4×4 and at 8×8 (default: "
                             f"{','.join(map(str, DEFAULTS['d_channels']))})")
    parser.add_argument("--no-dcgan", action="store_true",
                        help="skip the DCGAN baseline of the same steps (default: trained "
                             "and scored)")


def check_args(args):
    runs.check_batch_size(args.batch_size, len(load_digits_raw()[1]), "the digits it trains on")


def main(args, run):
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else STEPS)
    config = {"batch_size": args.batch_size, "r1_gamma": args.r1_gamma,
              "mixing_prob": args.mixing_prob, "mapping_lr_mul": args.mapping_lr_mul,
              "channels": tuple(args.g_channels), "d_channels": tuple(args.d_channels)}
    png_every = max(1, steps // 5)

    def on_snapshot(step, imgs):  # five PNGs; every snapshot is a frame of samples.gif
        if step % png_every == 0 or step == steps:
            run.save_figure(plot_image_grid(imgs, nrow=8, title=f"G(z) after {step} steps"),
                            f"samples_step{step:05d}.png", dpi=120, bbox_inches="tight")

    result = train(steps, seed=args.seed, config=config, run=run,
                   progress=not args.no_progress, dcgan=not args.no_dcgan,
                   eval_pairs=300 if args.quick else 2000,
                   eval_size=300 if args.quick else None, on_snapshot=on_snapshot)
    print(f"StyleGAN on the 8×8 digits: {steps} steps of batch {args.batch_size} in "
          f"{result.train_seconds:.0f} s of training, {result.seconds:.0f} s in all "
          f"(seed {args.seed})")
    print(result.table(quick=args.quick))
    for name, fig in figures(result, seed=args.seed).items():
        run.save_figure(fig, name, dpi=120, bbox_inches="tight")
    if not args.no_animation:
        run.save_animation("samples.gif", *animate_samples(result.snapshots, nrow=8, size=2.6),
                           fps=4)
    run.save_json("results.json", result.to_json())
    print(f"figures, checkpoint.npz and results.json in {run.out}")
    if not _finite_scores(result):
        return 1
    if args.quick or steps < STEPS:
        print("(a short run: the mixing target applies to the default budget)")
        return 0
    print(f"mixing_label_follows_coarse {result.mixing['follows_coarse']:.3f}: target "
          f"≥ {TARGET_COARSE} {'met' if result.target_met else 'NOT met'}")
    return 0 if result.target_met else 1
