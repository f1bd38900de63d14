"""DCGAN: transposed convolutions learn to write digits, judged by a digit classifier.

Trains the DCGAN of ``tinygan.models.dcgan`` (Radford, Metz & Chintala 2016; the
paper's guidelines in papers.md §6) with Algorithm 1 (k = 1, non-saturating G cost,
Adam lr 2e-4, β₁ = 0.5), on the 8×8 handwritten digits that ship with tinygan, or at
28×28 on MNIST/Fashion-MNIST IDX files you downloaded yourself (``--data PATH``).

The samples are judged without a pretrained network (papers.md §7): a small MLP
classifier is trained on one half of the real images; on the other half it reports
its test accuracy, and it then scores three sets of equal size — the held-out real
half, the generator's samples and uniform noise — with an Inception-style score,
a Fréchet distance on its hidden features, and the class histogram. Real and noise
give the scale.

Writes to --out: ``samples_step*.png`` during training (the same fixed noise every
time), ``samples.png``, ``samples_by_class.png`` (a row per predicted digit),
``losses.png``, ``classes.png``, ``samples.gif`` (the fixed-noise grid over training),
``interpolation.png`` (linear and spherical paths between latent vectors),
``checkpoint.npz`` (every parameter and BatchNorm running statistic, the optimizers,
the random generators and the history: ``tinygan dcgan --resume`` continues from it and
``tinygan.models.dcgan.load_checkpoint`` loads the networks), ``results.json`` and
``run.json``. This module is the worked example of a command on the run layer
(``tinygan/runs.py``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

from .. import backend, runs
from .. import metrics as M
from ..data.digits import load_digits, load_digits_raw, train_test_split
from ..image_plots import (
    animate_samples,
    interpolate_latents,
    plot_class_histograms,
    plot_image_grid,
    plot_interpolations,
    plot_losses,
    plot_samples_by_class,
)
from ..models.dcgan import dcgan_optimizers, dcgan_pair
from ..train import History, fit

HELP = "DCGAN on the shipped 8×8 digits (or MNIST IDX files, --data), scored by a classifier"

DESCRIPTION = """\
Trains a DCGAN (transposed convolutions in G, strided convolutions in D, BatchNorm,
Adam 2e-4 with beta1 = 0.5) on the 1,797 8×8 handwritten digits that ship with
tinygan, then judges its samples without any pretrained network: a small classifier
trained on one half of the real digits gives an Inception-style score, a Fréchet
distance and the class histogram, printed beside the held-out real digits and beside
uniform noise, so the scale is on the screen.

Time: the default 5,000 steps take about 75 s on one core; --quick (400 steps) takes
a few seconds. With --data PATH it trains at 28×28 on MNIST or Fashion-MNIST IDX files
that you downloaded yourself (nothing is ever downloaded).

Writes to --out: sample grids during training (samples_step*.png), samples.png,
samples_by_class.png, losses.png, classes.png, samples.gif (the same noise over
training), interpolation.png (linear and spherical paths between latent vectors),
checkpoint.npz, results.json and run.json.

Notebook: notebooks/03_dcgan_digits.ipynb (derivation:
derivations/03_transposed_convolution.md)."""

#: Default --checkpoint-every: a few seconds of training between checkpoints.
CHECKPOINT_EVERY = 500
ANIMATION = True

np = backend.numpy

#: Default generator steps: full run and --quick. Chosen so that every digit class is
#: recognisable in the full run (see README) and --quick finishes in seconds.
STEPS = 5000
QUICK_STEPS = 400
QUICK_STEPS_28 = 30
#: Fewest images for the judge: its train and test halves need a few of each digit.
MIN_IMAGES = 20


@dataclass
class DCGANResult:
    """Everything a run produced (G and D in eval mode; numbers as host floats)."""

    G: object
    D: object
    config: dict
    history: History
    classifier: object
    accuracy: float
    scores: dict              # name -> evaluate_samples dict ("real", "dcgan", "noise")
    seconds: float
    samples: object = None    # host (n_eval, 1, S, S): the scored samples
    snapshots: dict = field(default_factory=dict)  # step -> host samples (fixed noise)
    data_name: str = "digits 8×8"

    def table(self):
        lines = [f"digit classifier: test accuracy {self.accuracy:.3f} on the held-out half",
                 "",
                 f"{'':26s} {'IS':>6s} {'FID':>8s}  classes  histogram (argmax counts 0-9)"]
        names = {"real": "real (held-out half)", "dcgan": f"DCGAN samples ({len(self.history)}"
                 " steps)", "noise": "uniform noise"}
        lines += [M.score_row(names[key], self.scores[key], 26, 3)
                  for key in ("real", "dcgan", "noise")]
        lines.append(f"(n = {self.scores['dcgan']['n']} images each; FID against the "
                     "classifier's training half; IS ≤ 10)")
        return "\n".join(lines)

    def to_json(self):
        h = self.history.as_arrays()
        tail = max(1, min(100, len(self.history)))
        return {"data": self.data_name, "config": self.config, "steps": len(self.history),
                "seconds": self.seconds, "classifier_test_accuracy": self.accuracy,
                "scores": self.scores,
                "final_losses_mean_last_100": {k: float(v[-tail:].mean()) for k, v in h.items()
                                               if len(v)}}


def load_data(data=None, limit=None):
    """(images (N, 1, S, S) in [−1, 1] on the backend, host labels or None, a name)."""
    if data is None:
        x, y = load_digits(scale="tanh")
        return x, backend.to_numpy(y), "digits 8×8"
    from ..data.idx import IDXError, load_mnist

    try:
        x, y = load_mnist(data, split="train", scale="tanh", limit=limit)
    except (IDXError, OSError, EOFError) as exc:  # a bad path, a truncated or garbage file
        msg = str(exc).removeprefix(f"{data}: ")  # the path once, not twice
        raise runs.UsageError(f"--data {data}: {msg}") from exc
    if x.shape[2] != x.shape[3] or x.shape[2] % 4 or x.shape[2] < 8:
        raise runs.UsageError(f"--data {data}: images of {x.shape[2]}×{x.shape[3]} pixels; "
                              "the DCGAN here needs square images of at least 8×8 with a side "
                              "divisible by 4 (28×28 MNIST)")
    if y is None:
        raise runs.UsageError(f"--data {data}: the labels file (train-labels-idx1-ubyte[.gz]) "
                              "is needed next to the images for the classifier that scores "
                              "the samples")
    if x.shape[0] < MIN_IMAGES:
        raise runs.UsageError(f"--data {data}: {x.shape[0]} images; the classifier that scores "
                              f"the samples needs at least {MIN_IMAGES} (check --limit)")
    return backend.asarray(x), y, f"IDX {os.path.basename(os.path.normpath(data))} " \
                                  f"{x.shape[2]}×{x.shape[3]}"


def _sample(G, z):
    """G(z) in eval mode (BatchNorm's running statistics), without disturbing training."""
    was_training = G.training
    G.eval()
    out = G.forward(z)
    G.clear_cache()
    if was_training:
        G.train()
    return out


def train(num_steps=STEPS, batch_size=64, seed=0, data=None, limit=None, eval_size=None,
          progress=False, sample_every=None, on_snapshot=None, run=None):
    """Train the DCGAN, then the classifier that judges it, then score. Returns a DCGANResult.

    Parameters
    ----------
    num_steps : generator steps (one D step each).
    data : None for the shipped digits, or a path to MNIST-style IDX files (28×28).
    limit : use only the first ``limit`` IDX images (quick runs on MNIST).
    eval_size : images per scored set (default: the held-out half, at most 2000).
    sample_every : keep G's samples of a fixed noise batch every this many steps
        (default: 20 snapshots over the run, the frames of ``samples.gif``).
    on_snapshot : called as ``on_snapshot(step, host_images)`` for each kept snapshot.
    run : a :class:`tinygan.runs.Run`: checkpoints, ``--resume``, Ctrl-C at step
        boundaries. None (a notebook): none of those.
    """
    t0 = time.time()
    run = run or runs.NullRun()
    x, y, data_name = load_data(data, limit)
    runs.check_batch_size(batch_size, x.shape[0], f"the images it trains on, {data_name}")
    image_size = int(x.shape[2])

    # 1. The GAN, trained on all the images.
    G, D, config = dcgan_pair(image_size, seed=seed)
    config.update(batch_size=batch_size, seed=seed, lr=2e-4, beta1=0.5, k=1,
                  generator_loss="nonsaturating")
    opt_G, opt_D = dcgan_optimizers(G, D)
    gen = backend.rng(seed + 1)
    n = x.shape[0]
    latent = config["latent_dim"]
    f32 = np.dtype(config["dtype"]).type

    def sample_real(m):
        return x[gen.integers(0, n, size=m)]

    def sample_noise(m):
        return gen.standard_normal((m, latent), dtype=f32)

    z_fixed = backend.rng(seed + 2).standard_normal((100, latent), dtype=f32)
    history, snapshots = History(), {}
    # Everything a resume needs: a checkpoint holds exactly these (tinygan.runs).
    parts = {"model": {k: config[k] for k in ("image_size", "latent_dim", "width", "dtype")},
             "extra": {"data": data_name}, "G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D,
             "rng": gen, "history": history, "snapshots": snapshots}
    start = run.restore(parts)

    def snapshot(step):
        imgs = backend.to_numpy(_sample(G, z_fixed))
        snapshots[step] = imgs
        if on_snapshot is not None:
            on_snapshot(step, imgs)

    every = sample_every or max(1, num_steps // 20)
    if start == 0:
        snapshot(0)
    with run.loop(num_steps, state=parts, start=start) as tick:
        def callback(step, history):
            if (step + 1) % every == 0 or step + 1 == num_steps:
                snapshot(step + 1)
            tick(step + 1)  # a step boundary: checkpoint, Ctrl-C

        fit(G, D, sample_real, sample_noise, opt_G, opt_D, num_steps - start, batch_size,
            progress=progress, callback=callback, history=history)
    G.eval()
    D.eval()

    # 2. The judge: a classifier trained on one half of the real images.
    tr, te = train_test_split(y, seed=seed)  # host indices
    tr = tr[:10000]  # enough to judge; keeps the classifier's training short on MNIST
    n_eval = eval_size or min(len(te), 2000)
    te = te[:n_eval]
    x_tr, x_te = x[backend.asarray(tr)], x[backend.asarray(te)]
    epochs = int(min(60, max(3, 54000 // len(tr))))
    clf = M.train_digit_classifier(x_tr, y[tr], seed=seed, num_epochs=epochs)
    accuracy = clf.accuracy(x_te, y[te])
    ref = M.gaussian_stats(clf.features_and_probs(x_tr)[0])

    # 3. Scores of three sets of the same size.
    fake = _sample(G, backend.rng(seed + 3).standard_normal((n_eval, latent), dtype=f32))
    noise = M.uniform_noise(n_eval, tuple(x.shape[1:]), seed=seed + 4, dtype=config["dtype"])
    scores = {"real": M.evaluate_samples(clf, x_te, ref),
              "dcgan": M.evaluate_samples(clf, fake, ref),
              "noise": M.evaluate_samples(clf, noise, ref)}
    return DCGANResult(G, D, config, history, clf, accuracy, scores, time.time() - t0,
                       backend.to_numpy(fake), snapshots, data_name)


def interpolations(G, latent_dim, seed, num_paths=4, num=10, dtype="float32"):
    """G's images along linear and spherical paths between pairs of latent vectors.

    Returns ``{label: host images (num_paths, num, 1, S, S)}`` for
    :func:`tinygan.image_plots.plot_interpolations`.
    """
    gen = backend.rng(seed)
    z0 = backend.to_numpy(gen.standard_normal((num_paths, latent_dim)))
    z1 = backend.to_numpy(gen.standard_normal((num_paths, latent_dim)))
    out = {}
    for kind in ("linear", "spherical"):
        z = interpolate_latents(z0, z1, num, kind).reshape(num_paths * num, latent_dim)
        imgs = backend.to_numpy(_sample(G, backend.asarray(z, dtype)))
        out[f"{kind} interpolation"] = imgs.reshape((num_paths, num) + imgs.shape[1:])
    return out


def add_arguments(parser):
    parser.add_argument("--steps", type=runs.positive_int, default=None,
                        help=f"generator steps (default: {STEPS}; --quick: {QUICK_STEPS}, "
                             f"or {QUICK_STEPS_28} with --data)")
    parser.add_argument("--batch-size", type=runs.int_at_least(2, "BatchNorm needs a batch"),
                        default=64, help="minibatch size, at most the training images "
                                         "(1797 digits, or the --data images), drawn with "
                                         "replacement (default: 64)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="a folder with MNIST/Fashion-MNIST IDX files (train-images-idx3-"
                             "ubyte[.gz] and train-labels-idx1-ubyte[.gz]) or the images file: "
                             "trains at 28×28 instead of on the shipped 8×8 digits (default: "
                             "the shipped digits)")
    parser.add_argument("--limit", type=runs.int_at_least(MIN_IMAGES, "the classifier needs "
                                                          "a few images of each digit"),
                        default=None, metavar="N",
                        help="use only the first N IDX images (default: all; --quick: 2000)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a few seconds: {QUICK_STEPS} steps ({QUICK_STEPS_28} with --data)")
    parser.add_argument("--seed", type=runs.seed, default=0,
                        help="seed of the networks, the batches and the scores (default: 0)")


def check_args(args):
    if args.data is None:  # (--data: checked once the files are read, before training)
        runs.check_batch_size(args.batch_size, len(load_digits_raw()[1]),
                              "the images it trains on, digits 8×8")
    if args.limit is not None and args.data is None:
        raise runs.UsageError("--limit applies to --data (IDX files) only; the shipped digits "
                              "are always used whole")


def main(args, run):
    quick_steps = QUICK_STEPS_28 if args.data else QUICK_STEPS
    steps = args.steps if args.steps is not None else (quick_steps if args.quick else STEPS)
    limit = args.limit if args.limit is not None else (2000 if args.quick and args.data else None)
    png_every = max(1, steps // 5)

    def on_snapshot(step, imgs):  # five PNGs; every snapshot is a frame of samples.gif
        if step % png_every == 0 or step == steps:
            run.save_figure(plot_image_grid(imgs, nrow=10, title=f"G(z) after {step} steps"),
                            f"samples_step{step:05d}.png", dpi=120, bbox_inches="tight")

    result = train(steps, batch_size=args.batch_size, seed=args.seed, data=args.data,
                   limit=limit, progress=not args.no_progress, on_snapshot=on_snapshot, run=run)
    print(f"DCGAN on {result.data_name}: {steps} steps of batch {args.batch_size} in "
          f"{result.seconds:.0f} s (seed {args.seed})")
    print(result.table())

    tight = {"dpi": 120, "bbox_inches": "tight"}
    last = max(result.snapshots)
    run.save_figure(plot_image_grid(result.snapshots[last], nrow=10,
                                    title=f"DCGAN samples after {last} steps"),
                    "samples.png", **tight)
    run.save_figure(plot_samples_by_class(result.samples,
                                          result.classifier.predict(result.samples)),
                    "samples_by_class.png", **tight)
    run.save_figure(plot_losses(result.history, title=f"DCGAN on {result.data_name}",
                                smooth=max(1, min(50, steps // 20))), "losses.png", **tight)
    run.save_figure(plot_class_histograms({k: v["histogram"] for k, v in result.scores.items()}),
                    "classes.png", **tight)
    paths = interpolations(result.G, result.config["latent_dim"], args.seed + 5,
                           dtype=result.config["dtype"])
    run.save_figure(plot_interpolations(paths, title=f"G along latent paths after {steps} "
                                        "steps"), "interpolation.png", **tight)
    if not args.no_animation:
        run.save_animation("samples.gif", *animate_samples(result.snapshots, size=2.6), fps=4)
    run.save_json("results.json", result.to_json())
    print(f"figures, checkpoint.npz and results.json in {run.out}")
    ok = all(math.isfinite(v) for v in (result.scores["dcgan"]["inception_score"],
                                        result.scores["dcgan"]["fid"]))
    return 0 if ok else 1
