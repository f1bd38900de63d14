"""Conditional GAN and AC-GAN on the shipped 8×8 digits: ask for a 7, get a 7.

Trains G(z, y) with either Mirza & Osindero's conditional D(x, y) (``--method cgan``:
the label as ten extra input channels) or Odena et al.'s auxiliary classifier D(x) →
(real/fake, class) (``--method acgan``), on the DCGAN architecture and settings (Adam
2e-4, β₁ = 0.5, k = 1, batch 64). Then it asks G for every digit and lets the project's
digit classifier (``tinygan.metrics``, trained on one half of the real digits) say what
it sees: ``label_accuracy`` is the share of conditioned samples assigned to the class
they were made for (target ≥ 0.95), with per-class Inception-style scores and Fréchet
distances and the class histogram. Before training it measures the conditional D* in
1-D (``tinygan.experiments.optimal_d_family``).

Derivation: derivations/06_conditional_gan.md. Notebook: notebooks/06_conditional_gans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import backend, runs
from .. import metrics as M
from ..data.digits import load_digits, load_digits_raw, train_test_split
from ..family_plots import plot_class_rows, plot_dstar_1d, plot_interpolation
from ..gans import cgan
from ..image_plots import animate_samples, interpolate_latents, plot_class_histograms, plot_losses
from ..layers.base import no_grad
from ..models.conditional import conditional_pair
from ..models.dcgan import dcgan_optimizers
from ..train import History
from . import optimal_d_family as odf

HELP = "conditional GAN / AC-GAN on the 8×8 digits: one row per requested digit"

DESCRIPTION = """\
Trains a GAN that takes the digit you want as an input. Two ways to condition:
--method cgan gives the label to both players (G sees z and an embedding of y; D sees
the image with the label as extra channels), --method acgan lets D predict the label
with a second head that G must satisfy. Both use the DCGAN of `tinygan dcgan`.

It then asks G for 100 images of every digit and lets a small digit classifier,
trained on half of the real digits, name them: label_accuracy is the share it assigns
to the requested digit (target at least 0.95), printed with per-class scores and the
class histogram. --label N also draws a page of the digit N. Before training it
checks the conditional optimal discriminator D*(x, y) = p_data(x|y)/(p_data(x|y) +
p_g(x|y)) on a 1-D two-class problem with known densities.

Time: the default 3,000 steps take about 2-3 minutes on one core; --quick (300 steps)
takes about 20 s.

Writes to --out: class_rows.png (a row per digit), interpolation.png (the same z path
for every digit), losses.png, classes.png, dstar_1d.png, class_rows.gif (training),
label_N.png with --label, checkpoint.npz, results.json and run.json.

Notebook: notebooks/06_conditional_gans.ipynb (derivation:
derivations/06_conditional_gan.md)."""

CHECKPOINT_EVERY = 500
ANIMATION = True

np = backend.numpy

STEPS = 3000
QUICK_STEPS = 300
TARGET_LABEL_ACCURACY = 0.95
QUICK_TARGET = 0.8  # --quick, seed 0 measured 0.925
PER_CLASS = 100  # conditioned samples per class for the scores
NUM_CLASSES = 10


@dataclass
class CGANResult:
    """What a run produced (G and D in eval mode; numbers as host floats)."""

    method: str
    G: object
    D: object
    config: dict
    history: History
    classifier: object
    classifier_accuracy: float
    label_accuracy: float
    per_class_accuracy: list
    scores: dict          # "conditioned" (all classes), "real": evaluate_samples dicts
    per_class: list       # per class: {"inception_score", "fid"} of its samples vs its reals
    dstar: dict           # the conditional D* measurement
    seconds: float
    samples: object = None   # host (K·PER_CLASS, 1, 8, 8), class by class
    snapshots: dict = field(default_factory=dict)

    def table(self, quick=False):
        """The printed report; ``quick``: with --quick's targets (see :func:`passed`)."""
        target = (f"target ≥ {QUICK_TARGET} in quick mode" if quick else
                  f"target ≥ {TARGET_LABEL_ACCURACY}")
        lines = [f"digit classifier: test accuracy {self.classifier_accuracy:.3f} on the "
                 "held-out half",
                 f"label_accuracy {self.label_accuracy:.3f} ({target}): the share of G(z, y) "
                 "the classifier calls y",
                 "",
                 "class    " + " ".join(f"{k:>5d}" for k in range(NUM_CLASSES)),
                 "accuracy " + " ".join(f"{a:5.2f}" for a in self.per_class_accuracy),
                 "IS       " + " ".join(f"{c['inception_score']:5.2f}" for c in self.per_class),
                 "FID      " + " ".join(f"{c['fid']:5.2f}" for c in self.per_class),
                 "",
                 f"{'':22s} {'IS':>6s} {'FID':>7s}  histogram (argmax counts 0-9)"]
        for key, name in (("real", "real (held-out half)"),
                          ("conditioned", f"{self.method} G(z, y)")):
            s = self.scores[key]
            lines.append(f"{name:22s} {s['inception_score']:6.2f} {s['fid']:7.2f}  "
                         + " ".join(f"{c:3d}" for c in s["histogram"]))
        e = self.dstar["mean_abs_error_m"]
        lines.append("")
        lines.append("conditional D* in 1-D: E_m|D − D*| = " +
                     ", ".join(f"{v:.4f} (class {k})" for k, v in enumerate(e)) +
                     ("  (quick mode: no target)" if quick else
                      f"  (target ≤ {self.dstar['target']})"))
        return "\n".join(lines)

    def to_json(self):
        h = self.history.as_arrays()
        tail = max(1, min(100, len(self.history)))
        return {"method": self.method, "config": self.config, "steps": len(self.history),
                "seconds": self.seconds, "label_accuracy": self.label_accuracy,
                "label_accuracy_target": TARGET_LABEL_ACCURACY,
                "per_class_accuracy": self.per_class_accuracy,
                "classifier_test_accuracy": self.classifier_accuracy,
                "per_class_scores": self.per_class, "scores": self.scores,
                "class_histogram": self.scores["conditioned"]["histogram"],
                "conditional_dstar": {k: v for k, v in self.dstar.items()
                                      if k not in ("D", "G")},
                "final_losses_mean_last_100": {k: float(v[-tail:].mean()) for k, v in h.items()
                                               if len(v)}}


def class_batch(G, z, num_classes=NUM_CLASSES):
    """G(z_i, k) for every class k and every row z_i: (K·n, 1, 8, 8), class by class."""
    n = z.shape[0]
    xp = backend.get_array_module(z)
    zz = xp.concatenate([z] * num_classes, axis=0)
    yy = backend.asarray(np.repeat(np.arange(num_classes), n))
    return cgan.sample(G, zz, yy), backend.to_numpy(yy)


def interpolation(G, latent_dim, seed, num=9, dtype="float32"):
    """Row k: G(z_t, k) along the straight line z₀ → z₁ (the same two z's for every k)."""
    gen = backend.rng(seed)
    z0, z1 = (backend.to_numpy(gen.standard_normal((1, latent_dim))) for _ in range(2))
    path = interpolate_latents(z0, z1, num, "linear").reshape(num, latent_dim)
    return backend.to_numpy(class_batch(G, backend.asarray(path, dtype))[0])


_JUDGES = {}


def judge(seed=0):
    """The digit classifier that scores the samples: 60 epochs on one half of the digits.

    A deterministic function of ``seed`` and the shipped data, so it is trained once per
    seed and backend in a process (cGAN and AC-GAN in one notebook share it).
    """
    key = (seed, backend.name())
    if key not in _JUDGES:
        x, y = load_digits(scale="tanh")
        y = backend.to_numpy(y)
        tr, _ = train_test_split(y, seed=seed)
        _JUDGES[key] = M.train_digit_classifier(x[backend.asarray(tr)], y[tr], seed=seed,
                                                num_epochs=60)
    return _JUDGES[key]


def train(method="cgan", num_steps=STEPS, batch_size=64, seed=0, dstar_config=None,
          dstar=None, progress=False, sample_every=None, run=None):
    """Measure the 1-D conditional D*, train G(z, y) and D, then judge. Returns a CGANResult.

    ``dstar_config`` is an :class:`optimal_d_family.Config` (default: its full setting);
    ``dstar`` a measurement already made (``optimal_d_family.conditional_dstar``), which
    is then reused. ``run`` is a :class:`tinygan.runs.Run` (checkpoints, ``--resume``,
    Ctrl-C) or None.
    """
    t0 = time.time()
    run = run or runs.NullRun()
    dstar = dstar or odf.conditional_dstar(dstar_config or odf.FULL)

    x, y = load_digits(scale="tanh")
    y = backend.to_numpy(y)
    G, D, config = conditional_pair(method, seed=seed)
    config.update(batch_size=batch_size, seed=seed, lr=2e-4, beta1=0.5, k=1)
    opt_G, opt_D = dcgan_optimizers(G, D)
    gen = backend.rng(seed + 1)
    n, latent = x.shape[0], config["latent_dim"]
    f32 = np.dtype(config["dtype"]).type
    y_dev = backend.asarray(y)

    def sample_real(m):
        i = gen.integers(0, n, size=m)
        return x[i], y_dev[i]

    def sample_noise(m):
        return gen.standard_normal((m, latent), dtype=f32)

    def sample_labels(m):
        return gen.integers(0, NUM_CLASSES, size=m)

    z_fixed = backend.rng(seed + 2).standard_normal((10, latent), dtype=f32)
    history, snapshots = History(), {}
    parts = {"model": {k: config[k] for k in ("method", "latent_dim", "width", "embed_dim")},
             "G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D, "rng": gen, "history": history,
             "snapshots": snapshots}
    start = run.restore(parts)

    def snapshot(step):
        snapshots[step] = backend.to_numpy(class_batch(G, z_fixed)[0])

    every = sample_every or max(1, num_steps // 20)
    if start == 0:
        snapshot(0)
    with run.loop(num_steps, state=parts, start=start) as tick:
        def callback(step, history):
            if (step + 1) % every == 0 or step + 1 == num_steps:
                snapshot(step + 1)
            tick(step + 1)

        cgan.fit(G, D, sample_real, sample_noise, sample_labels, opt_G, opt_D, num_steps,
                 batch_size, method=method, history=history, callback=callback, start=start)
    G.eval()
    D.eval()

    # The judge: the project's digit classifier, trained on one half of the real digits.
    tr, te = train_test_split(y, seed=seed)
    clf = judge(seed)
    clf_acc = clf.accuracy(x[backend.asarray(te)], y[te])
    feats_tr = clf.features_and_probs(x[backend.asarray(tr)])[0]
    ref = M.gaussian_stats(feats_tr)

    z = backend.rng(seed + 3).standard_normal((PER_CLASS, latent), dtype=f32)
    fake, labels = class_batch(G, z)
    pred = clf.predict(fake)
    per_class_acc = [float((pred[labels == k] == k).mean()) for k in range(NUM_CLASSES)]
    per_class = []
    for k in range(NUM_CLASSES):
        ref_k = M.gaussian_stats(feats_tr[y[tr] == k])
        s = M.evaluate_samples(clf, fake[backend.asarray(np.flatnonzero(labels == k))], ref_k)
        per_class.append({"inception_score": s["inception_score"], "fid": s["fid"]})
    x_te = x[backend.asarray(te[:NUM_CLASSES * PER_CLASS])]
    scores = {"real": M.evaluate_samples(clf, x_te, ref),
              "conditioned": M.evaluate_samples(clf, fake, ref)}
    return CGANResult(method, G, D, config, history, clf, clf_acc, float((pred == labels).mean()),
                      per_class_acc, scores, per_class, dstar, time.time() - t0,
                      backend.to_numpy(fake), snapshots)


def comparison_table(results):
    """cGAN against AC-GAN (or any CGANResults): one line each, the same judge's numbers."""
    lines = [f"{'method':7s} {'steps':>6s} {'label acc.':>10s} {'IS':>6s} {'FID':>6s} "
             f"{'per-class IS':>12s} {'per-class FID':>13s} {'classes':>8s}"]
    for r in results:
        s = r.scores["conditioned"]
        pis = np.mean([c["inception_score"] for c in r.per_class])
        pfid = np.mean([c["fid"] for c in r.per_class])
        lines.append(f"{r.method:7s} {len(r.history):6d} {r.label_accuracy:10.3f} "
                     f"{s['inception_score']:6.2f} {s['fid']:6.2f} {pis:12.2f} {pfid:13.2f} "
                     f"{s['classes_present']:5d}/10")
    lines.append("(per-class IS: near 1 = every sample of a class confidently that class; "
                 "per-class FID: each class's samples against that class's real digits)")
    return "\n".join(lines)


def dstar_figure(dstar):
    """The trained conditional D(x, y) against D*(x, y), one panel per class."""
    import tinygan.densities as dn

    curves = []
    xs = np.linspace(-3.5, 4.5, 801)
    D, G = dstar["D"], dstar["G"]
    for k, p in enumerate(odf.CONDITIONAL_P_DATA):
        q = G.density(k)
        with no_grad(D):
            out = D.forward(backend.asarray(xs.reshape(-1, 1)),
                            backend.asarray(np.full(801, k)))
        d = 1 / (1 + np.exp(-backend.to_numpy(out).reshape(-1)))
        curves.append((f"class {k}: E_m|D − D*| = {dstar['mean_abs_error_m'][k]:.4f}", xs, d,
                       dn.optimal_discriminator(p, q, xs), p.pdf(xs), q.pdf(xs)))
    return plot_dstar_1d(curves, title="D(x, y) trained against a fixed conditional G, and "
                                       "D*(x, y) = p_data(x|y)/(p_data(x|y) + p_g(x|y))")


def add_arguments(parser):
    parser.add_argument("--method", choices=["cgan", "acgan"], default="cgan",
                        help="cgan: D sees the label (label maps); acgan: D predicts it "
                             "(default: cgan)")
    parser.add_argument("--label", type=int, choices=range(NUM_CLASSES), default=None,
                        metavar="N", help="also draw 100 samples of the digit N (0-9) to "
                                          "label_N.png (default: none)")
    parser.add_argument("--steps", type=runs.positive_int, default=None,
                        help=f"training steps, one D and one G step each (default: {STEPS}; "
                             f"--quick: {QUICK_STEPS})")
    parser.add_argument("--batch-size", type=runs.int_at_least(2, "BatchNorm needs a batch"),
                        default=64, help="minibatch size, at most the 1797 digits, drawn "
                                         "with replacement (default: 64)")
    parser.add_argument("--dstar-steps", type=runs.positive_int, default=None, metavar="N",
                        help=f"steps of the 1-D D* check before training (default: "
                             f"{odf.FULL.num_steps}; --quick: {odf.QUICK.num_steps})")
    parser.add_argument("--quick", action="store_true",
                        help=f"about 20 s: {QUICK_STEPS} steps and a shorter 1-D D* check")
    parser.add_argument("--seed", type=runs.seed, default=0,
                        help="seed of the networks, the batches and the scores (default: 0)")


def check_args(args):
    runs.check_batch_size(args.batch_size, len(load_digits_raw()[1]), "the digits it trains on")


def main(args, run):
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else STEPS)
    result = train(args.method, steps, batch_size=args.batch_size, seed=args.seed,
                   dstar_config=odf.config_from_args(args),
                   progress=not args.no_progress, run=run)
    print(f"{args.method} on the 8×8 digits: {steps} steps of batch {args.batch_size} in "
          f"{result.seconds:.0f} s (seed {args.seed})")
    print(result.table(quick=args.quick))

    tight = {"dpi": 120, "bbox_inches": "tight"}
    run.save_figure(plot_class_rows(result.samples[np.tile(np.arange(10), NUM_CLASSES) +
                                                   np.repeat(np.arange(NUM_CLASSES), 10)
                                                   * PER_CLASS],
                                    title=f"{args.method}: G(z, y) after {steps} steps, one "
                                          "row per requested digit"), "class_rows.png", **tight)
    run.save_figure(plot_interpolation(interpolation(result.G, result.config["latent_dim"],
                                                     args.seed + 5)),
                    "interpolation.png", **tight)
    run.save_figure(plot_losses(result.history, title=f"{args.method} on the 8×8 digits",
                                smooth=max(1, min(50, steps // 20))), "losses.png", **tight)
    run.save_figure(plot_class_histograms(
        {"real": result.scores["real"]["histogram"],
         args.method: result.scores["conditioned"]["histogram"]},
        title="Classes the digit classifier sees (G was asked for each digit equally)"),
        "classes.png", **tight)
    run.save_figure(dstar_figure(result.dstar), "dstar_1d.png", **tight)
    if args.label is not None:
        z = backend.rng(args.seed + 6).standard_normal((100, result.config["latent_dim"]),
                                                       dtype=result.config["dtype"])
        imgs = cgan.sample(result.G, z, backend.asarray(np.full(100, args.label)))
        acc = float((result.classifier.predict(imgs) == args.label).mean())
        print(f"--label {args.label}: the classifier calls {acc:.0%} of 100 samples "
              f"a {args.label}")
        from ..image_plots import plot_image_grid

        run.save_figure(plot_image_grid(imgs, nrow=10, title=f"G(z, {args.label}): 100 "
                                        f"samples ({acc:.0%} classified {args.label})"),
                        f"label_{args.label}.png", **tight)
    if not args.no_animation:
        run.save_animation("class_rows.gif", *animate_samples(result.snapshots, size=2.6),
                           fps=4)
    run.save_json("results.json", result.to_json())
    print(f"figures, checkpoint.npz and results.json in {run.out}")
    return 0 if passed(result, args.quick) else 1


def passed(result, quick=False):
    """The run's verdict (the command's exit status). The default budget has the targets
    label_accuracy ≥ 0.95 and E_m|D − D*| ≤ 0.01 per class; --quick (300 steps and a
    short D* check) only has to be clearly conditional: label_accuracy ≥ QUICK_TARGET."""
    if quick:
        return result.label_accuracy >= QUICK_TARGET
    return (result.label_accuracy >= TARGET_LABEL_ACCURACY
            and max(result.dstar["mean_abs_error_m"]) <= result.dstar["target"])
