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
``losses.png``, ``classes.png``, ``checkpoint.npz`` (every
parameter and BatchNorm running statistic; ``tinygan.models.dcgan.load_checkpoint``
restores it) and ``results.json``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

from .. import backend
from .. import metrics as M
from ..data.digits import load_digits, train_test_split
from ..image_plots import (
    plot_class_histograms,
    plot_image_grid,
    plot_losses,
    plot_samples_by_class,
    save_figure,
)
from ..models.dcgan import dcgan_optimizers, dcgan_pair, save_checkpoint
from ..train import History, fit

HELP = "DCGAN on the shipped 8×8 digits (or MNIST IDX files, --data), scored by a classifier"

np = backend.numpy

#: Default generator steps: full run and --quick. Chosen so that every digit class is
#: recognisable in the full run (see README) and --quick finishes in seconds.
STEPS = 5000
QUICK_STEPS = 400
QUICK_STEPS_28 = 30


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
        for key in ("real", "dcgan", "noise"):
            s = self.scores[key]
            hist = " ".join(f"{c:3d}" for c in s["histogram"])
            lines.append(f"{names[key]:26s} {s['inception_score']:6.2f} {s['fid']:8.2f}  "
                         f"{s['classes_present']:2d}/{len(s['histogram'])}    {hist}")
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
    from ..data.idx import load_mnist

    x, y = load_mnist(data, split="train", scale="tanh", limit=limit)
    if x.shape[2] != x.shape[3] or x.shape[2] % 4:
        raise ValueError(f"--data: images of {x.shape[2]}×{x.shape[3]} pixels; the DCGAN here "
                         "needs square images with a side divisible by 4 (28×28 MNIST)")
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
          progress=False, sample_every=None, on_snapshot=None):
    """Train a classifier, then the DCGAN, then score everything. Returns a DCGANResult.

    Parameters
    ----------
    num_steps : generator steps (one D step each).
    data : None for the shipped digits, or a path to MNIST-style IDX files (28×28).
    limit : use only the first ``limit`` IDX images (quick runs on MNIST).
    eval_size : images per scored set (default: the held-out half, at most 2000).
    sample_every : keep G's samples of a fixed noise batch every this many steps.
    on_snapshot : called as ``on_snapshot(step, host_images)`` for each kept snapshot.
    """
    t0 = time.time()
    x, y, data_name = load_data(data, limit)
    image_size = int(x.shape[2])

    # 1. The judge: a classifier trained on one half of the real images.
    if y is None:
        raise FileNotFoundError("--data: the labels file (train-labels-idx1-ubyte[.gz]) is "
                                "needed next to the images for the classifier that scores "
                                "the samples")
    tr, te = train_test_split(y, seed=seed)  # host indices
    tr = tr[:10000]  # enough to judge; keeps the classifier's training short on MNIST
    n_eval = eval_size or min(len(te), 2000)
    te = te[:n_eval]
    x_tr, x_te = x[backend.asarray(tr)], x[backend.asarray(te)]
    epochs = int(min(60, max(3, 54000 // len(tr))))
    clf = M.train_digit_classifier(x_tr, y[tr], seed=seed, num_epochs=epochs)
    accuracy = clf.accuracy(x_te, y[te])
    ref = M.gaussian_stats(clf.features_and_probs(x_tr)[0])

    # 2. The GAN, trained on all the images (the classifier only judges).
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
    snapshots = {}

    def snapshot(step):
        imgs = backend.to_numpy(_sample(G, z_fixed))
        snapshots[step] = imgs
        if on_snapshot is not None:
            on_snapshot(step, imgs)

    every = sample_every or max(1, num_steps // 5)
    snapshot(0)

    def callback(step, history):
        if (step + 1) % every == 0 or step + 1 == num_steps:
            snapshot(step + 1)

    history = fit(G, D, sample_real, sample_noise, opt_G, opt_D, num_steps, batch_size,
                  progress=progress, callback=callback)
    G.eval()
    D.eval()

    # 3. Scores of three sets of the same size.
    fake = _sample(G, backend.rng(seed + 3).standard_normal((n_eval, latent), dtype=f32))
    noise = M.uniform_noise(n_eval, tuple(x.shape[1:]), seed=seed + 4, dtype=config["dtype"])
    scores = {"real": M.evaluate_samples(clf, x_te, ref),
              "dcgan": M.evaluate_samples(clf, fake, ref),
              "noise": M.evaluate_samples(clf, noise, ref)}
    return DCGANResult(G, D, config, history, clf, accuracy, scores, time.time() - t0,
                       backend.to_numpy(fake), snapshots, data_name)


def add_arguments(parser):
    parser.add_argument("--steps", type=int, default=None,
                        help=f"generator steps (default {STEPS}; --quick: {QUICK_STEPS}, "
                             f"or {QUICK_STEPS_28} with --data)")
    parser.add_argument("--batch-size", type=int, default=64, help="minibatch size (default 64)")
    parser.add_argument("--data", default=None,
                        help="folder with MNIST/Fashion-MNIST IDX files (train-images-idx3-ubyte"
                             "[.gz], train-labels-idx1-ubyte[.gz]) or an images file: trains "
                             "at 28×28 instead of on the shipped 8×8 digits")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N IDX images (default: all; --quick: 2000)")
    parser.add_argument("--quick", action="store_true", help="a few seconds: few steps")
    parser.add_argument("--seed", type=int, default=0)


def main(args):
    quick_steps = QUICK_STEPS_28 if args.data else QUICK_STEPS
    steps = args.steps if args.steps is not None else (quick_steps if args.quick else STEPS)
    limit = args.limit if args.limit is not None else (2000 if args.quick and args.data else None)
    os.makedirs(args.out, exist_ok=True)

    def on_snapshot(step, imgs):
        save_figure(plot_image_grid(imgs, nrow=10, title=f"G(z) after {step} steps"),
                    os.path.join(args.out, f"samples_step{step:05d}.png"))

    from ..data.idx import IDXError

    try:
        result = train(steps, batch_size=args.batch_size, seed=args.seed, data=args.data,
                       limit=limit, progress=not args.no_progress, on_snapshot=on_snapshot)
    except (IDXError, FileNotFoundError) as exc:  # a bad --data path or file: no traceback
        print(f"tinygan dcgan: {exc}")
        return 2
    print(f"DCGAN on {result.data_name}: {steps} steps of batch {args.batch_size} in "
          f"{result.seconds:.0f} s (seed {args.seed})")
    print(result.table())

    last = max(result.snapshots)
    save_figure(plot_image_grid(result.snapshots[last], nrow=10,
                                title=f"DCGAN samples after {last} steps"),
                os.path.join(args.out, "samples.png"))
    save_figure(plot_samples_by_class(result.samples, result.classifier.predict(result.samples)),
                os.path.join(args.out, "samples_by_class.png"))
    save_figure(plot_losses(result.history, title=f"DCGAN on {result.data_name}",
                            smooth=max(1, min(50, steps // 20))),
                os.path.join(args.out, "losses.png"))
    save_figure(plot_class_histograms({k: v["histogram"] for k, v in result.scores.items()}),
                os.path.join(args.out, "classes.png"))
    save_checkpoint(os.path.join(args.out, "checkpoint.npz"), result.G, result.D, result.config,
                    extra={"steps": steps, "data": result.data_name})
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result.to_json(), f, indent=1)
    print(f"figures, checkpoint.npz and results.json in {args.out}")
    ok = all(math.isfinite(v) for v in (result.scores["dcgan"]["inception_score"],
                                        result.scores["dcgan"]["fid"]))
    return 0 if ok else 1
