"""A PyTorch replica of the default 3D-GAN, to try training settings side by side.

    python tools/gan3d_replica.py [--steps 1500] [--lr-g 2.5e-3] [--lr-d 2e-4] [options]

This script is not part of tinygan, which has no autograd. It builds the networks of
``tinygan.models.gan3d`` (the same layers and widths, weights drawn from N(0, 0.02²), no
bias in G's convolutions) in PyTorch and trains them with torch's autograd, about four
times faster per step than tinygan on one core. A setting can then be tried in about a
minute and a half. The run is scored like the command's: 1000 samples, voxels above 1/2,
judged by ``metrics.train_shape_classifier`` trained on the same shapes and seeds as
``experiments.gan3d.train`` uses. The replica's random streams and float32 round-off
differ from tinygan's. With 0/1 shapes at random places (the command's default until the
eighth session) it scored 0.56-0.63 over the seeds of its streams, where the command scored
0.571 or 0.597; with the soft, centred data of today's default it scores 0.669 at 1500
steps, the command 0.681 (README, 3D-GAN section). The same G scored on another draw of
1000 latents can move by 0.03. So a setting that looks
better here has to be confirmed with tinygan itself, with ``tools/gan3d_probes.py`` or
the command.

Options, each one change from the command's default (the README's 3D-GAN section quotes
what they measured):

* ``--train-shapes n``: the size of the training set (4000).
* ``--no-soft-data``, ``--no-centre-data``: the command's options of the same names
  (``experiments.gan3d.training_shapes``): 0/1 voxels instead of partial occupancies, the
  shapes at their random places instead of centred as the judge centres its inputs. (The
  README's replica rows before the eighth session were measured with both: the command's
  default then.)
* ``--n-critic k``: k D steps, each on a fresh batch, per G step.
* ``--g-width``, ``--d-width``: channels of G's last and D's first hidden layer (16).
* ``--loss hinge``: D on mean relu(1 − D(x)) + mean relu(1 + D(G(z))), G on −mean D(G(z)).
* ``--loss wgan-gp``: the critic on mean D(G(z)) − mean D(x) + λ·mean (‖∇D(x̂)‖ − 1)² at
  random mixes x̂ of real and fake shapes (Gulrajani et al. 2017; λ = ``--gp-weight``, 10),
  G on −mean D(G(z)); with ``--no-d-batchnorm`` and ``--n-critic 5``, ``--beta1 0.5
  --beta2 0.9`` as in the paper. ``--beta1``, ``--beta2``: both optimizers' Adam betas.
* ``--no-d-batchnorm``: D without its two BatchNorms. ``--dropout p``: 3-D dropout after
  each of D's hidden layers.
* ``--ema β``: also score an exponential moving average of G's weights.
* ``--binarize threshold|bernoulli``: D sees G's voxels as 0/1 (thresholded at 1/2 or
  drawn), with a straight-through gradient: forward b(p), backward ∂b/∂p taken as 1.
* ``--joint-batch``: D normalises one batch that holds the real and the fake shapes
  (in G's step as well), instead of one batch each.
* ``--codes c``: InfoGAN's categorical code (Chen et al. 2016). G reads z and a one-hot
  code of c values. A head Q on D's features predicts the code, and G and Q minimise the
  cross-entropy, weighted by ``--info-weight`` (1). Also prints how the judge's classes
  spread over the codes.
* ``--local-weight λ``: also a patch D (:func:`local_discriminator`, its own Adam at lr_D)
  with the same losses averaged over its 8³ logits, weighted by λ in G's loss (0: none).
* ``--generators K``: K generators as one mixture (:class:`Mixture`), each drawing an
  equal share of every batch (K must divide the batch and the 1000 scored samples).
* ``--spectral-norm``: every D convolution's weight divided by its largest singular value
  (Miyato et al. 2018, one power iteration per step; torch's ``spectral_norm``), usually
  with ``--no-d-batchnorm``.
* ``--lr-decay-from s``: both learning rates decay linearly to 0 from step s to the end.
* ``--score-every k``: also score G every k steps (at the final step as always), to see
  whether a longer budget keeps raising the ratio.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from tinygan import backend
from tinygan import metrics as M
from tinygan.data.voxels import NUM_SHAPE_CLASSES
from tinygan.experiments import gan3d as E
from tinygan.models.gan3d import INIT_STD

np = backend.numpy


def generator(latent_dim=200, width=16):
    """G of models.gan3d (z → 4³ → 8³ → 16³, BatchNorm + ReLU, sigmoid), in torch."""
    w = width
    return nn.Sequential(
        nn.Unflatten(1, (latent_dim, 1, 1, 1)),
        nn.ConvTranspose3d(latent_dim, 2 * w, 4, 1, 0, bias=False), nn.BatchNorm3d(2 * w),
        nn.ReLU(),
        nn.ConvTranspose3d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm3d(w), nn.ReLU(),
        nn.ConvTranspose3d(w, 1, 4, 2, 1, bias=False), nn.Sigmoid())


class Mixture(nn.Module):
    """K generators side by side (a mixture, as in MGAN, Hoang et al. 2018, without its
    classifier): a batch of z is cut into K equal chunks, chunk k goes through G_k, and
    the outputs are stacked. Each G_k's image is a connected set, the mixture's need not
    be: K solids classes apart need no path of in-between shapes."""

    def __init__(self, generators):
        super().__init__()
        self.parts = nn.ModuleList(generators)

    def forward(self, z):
        return torch.cat([g(c) for g, c in zip(self.parts, z.chunk(len(self.parts)))])


def discriminator(width=16, batchnorm=True, dropout=0.0):
    """D of models.gan3d (16³ → 8³ → 4³ → one logit, BatchNorm + LeakyReLU 0.2), as its
    body (up to the 4³ features) and its head (the last convolution, flattened)."""
    w = width
    layers = []
    for c_in, c_out in ((1, w), (w, 2 * w)):
        layers += [nn.Conv3d(c_in, c_out, 4, 2, 1, bias=False),
                   nn.BatchNorm3d(c_out) if batchnorm else nn.Identity(), nn.LeakyReLU(0.2)]
        if dropout:
            layers.append(nn.Dropout3d(dropout))
    return nn.Sequential(*layers), nn.Sequential(nn.Conv3d(2 * w, 1, 4, 1, 0), nn.Flatten())


def local_discriminator(width=16):
    """A patch D: a logit for each of 8³ overlapping 6³ neighbourhoods (k3 s1, then k4 s2,
    then a 1×1×1 convolution; LeakyReLU 0.2, no BatchNorm), to judge corners, edges and
    taper locally beside the global D (PatchGAN, Isola et al. 2017, in 3-D)."""
    w = width
    return nn.Sequential(nn.Conv3d(1, w, 3, 1, 1), nn.LeakyReLU(0.2),
                         nn.Conv3d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.Conv3d(2 * w, 1, 1))


def init_weights(*modules):
    """Convolution weights from N(0, INIT_STD²), as tinygan's; biases and BatchNorm as torch's."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.normal_(m.weight, 0.0, INIT_STD)


def copy_from_tinygan(tg_net, torch_net):
    """Copy a tinygan Sequential's weights, in layer order, into the torch modules with
    weights (same layouts: PyTorch's); returns torch_net. The tests use it to show that the
    replica computes what tinygan's networks compute."""
    src = [layer for layer in tg_net.layers if getattr(layer, "params", None)]
    dst = [m for m in torch_net.modules()
           if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d, nn.BatchNorm3d))]
    if len(src) != len(dst):
        raise ValueError(f"{len(src)} tinygan layers with weights, {len(dst)} torch ones")
    with torch.no_grad():
        for a, b in zip(src, dst):
            names = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}
            for k, v in a.params.items():
                target = getattr(b, names[k])
                target.copy_(torch.as_tensor(np.asarray(v), dtype=target.dtype))
    return torch_net


def straight_through(p, how):
    """b(p) forward and the identity backward: ``threshold`` b = [p > 1/2], ``bernoulli``
    b ~ Bernoulli(p), ``none`` b = p."""
    if how == "none":
        return p
    b = (p > 0.5).to(p.dtype) if how == "threshold" else torch.bernoulli(p.detach())
    return p + (b - p).detach()


def lr_factor(step, start, steps):
    """The learning rates' factor at ``step`` (from 0) of ``steps``: 1 before ``start``
    (0: never decay), then linearly down to 0 at the end: 1 − (step − start)/(steps − start)."""
    if not start or step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, steps - start))


def train(opts, log=print, on_step=None):
    """Train the replica; returns (G, G's moving average or None, Q or None).

    ``on_step(step, G)``, when given, is called after each of G's steps (step counts
    from 1); it may switch G to eval mode, and training switches it back."""
    torch.manual_seed(opts.seed)
    gen = np.random.default_rng(opts.seed + 1)
    data = {"train_shapes": opts.train_shapes, "soft_data": opts.soft_data,
            "centre_data": opts.centre_data}
    X = torch.as_tensor(backend.to_numpy(E.training_shapes(data, opts.seed)[0]))
    c = opts.codes
    G = (Mixture([generator(opts.latent_dim + c, opts.g_width) for _ in range(opts.generators)])
         if opts.generators > 1 else generator(opts.latent_dim + c, opts.g_width))
    body, head = discriminator(opts.d_width, not opts.no_d_batchnorm, opts.dropout)
    Q = (nn.Sequential(nn.Conv3d(2 * opts.d_width, 2 * opts.d_width, 4, 1, 0),
                       nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * opts.d_width, c))
         if c else None)
    init_weights(G, body, head, *([Q] if Q else []))
    if opts.spectral_norm:
        for module in (body, head):
            for m in module.modules():
                if isinstance(m, nn.Conv3d):
                    nn.utils.parametrizations.spectral_norm(m)
    extra = list(Q.parameters()) if Q else []
    betas = (opts.beta1, opts.beta2)
    opt_G = torch.optim.Adam(list(G.parameters()) + extra, opts.lr_g, betas=betas)
    opt_D = torch.optim.Adam(list(body.parameters()) + list(head.parameters()) + extra,
                             opts.lr_d, betas=betas)
    G_avg = copy.deepcopy(G) if opts.ema else None
    local = local_discriminator(opts.d_width) if opts.local_weight else None
    if local is not None:
        init_weights(local)
        opt_L = torch.optim.Adam(local.parameters(), opts.lr_d, betas=betas)
    B, n = opts.batch_size, X.shape[0]

    def real_batch():
        return X[torch.as_tensor(gen.integers(0, n, size=B))]

    def logits(fake, with_real):
        """D's logits for the fakes (and the reals, first), and D's features of the fakes."""
        if opts.joint_batch:
            h = body(torch.cat([real_batch() if with_real is None else with_real, fake]))
            out = head(h).flatten()
            return out[:B], out[B:], h[B:]
        h = body(fake)
        return (head(body(with_real)).flatten() if with_real is not None else None,
                head(h).flatten(), h)

    def gradient_penalty(real, fake):
        """λ·mean (‖∇_x̂ D(x̂)‖ − 1)² at x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1) per shape
        (WGAN-GP, Gulrajani et al. 2017)."""
        eps = torch.rand(real.shape[0], 1, 1, 1, 1)
        mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad, = torch.autograd.grad(head(body(mix)).sum(), mix, create_graph=True)
        return opts.gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def d_loss(a_real, a_fake):
        if opts.loss == "wgan-gp":
            return a_fake.mean() - a_real.mean()
        if opts.loss == "hinge":
            return F.relu(1 - a_real).mean() + F.relu(1 + a_fake).mean()
        return (F.binary_cross_entropy_with_logits(a_real, torch.ones_like(a_real))
                + F.binary_cross_entropy_with_logits(a_fake, torch.zeros_like(a_fake)))

    def g_loss(a_fake):
        if opts.loss in ("hinge", "wgan-gp"):
            return -a_fake.mean()
        return F.binary_cross_entropy_with_logits(a_fake, torch.ones_like(a_fake))

    def latent(m):
        z = torch.randn(m, opts.latent_dim)
        if not c:
            return z, None
        code = torch.randint(0, c, (m,))
        return torch.cat([z, F.one_hot(code, c).float()], 1), code

    t0 = time.time()
    for step in range(opts.steps):
        for o, lr in ((opt_G, opts.lr_g), (opt_D, opts.lr_d)):
            for group in o.param_groups:
                group["lr"] = lr * lr_factor(step, opts.lr_decay_from, opts.steps)
        for _ in range(opts.n_critic):
            z, code = latent(B)
            fake = straight_through(G(z).detach(), opts.binarize)
            real = real_batch()
            a_real, a_fake, h = logits(fake, real)
            loss = d_loss(a_real, a_fake)
            if opts.loss == "wgan-gp":
                loss = loss + gradient_penalty(real, fake)
            if c:
                loss = loss + opts.info_weight * F.cross_entropy(Q(h), code)
            opt_D.zero_grad()
            loss.backward()
            opt_D.step()
            if local is not None:
                loss = opts.local_weight * d_loss(local(real).flatten(), local(fake).flatten())
                opt_L.zero_grad()
                loss.backward()
                opt_L.step()
        z, code = latent(B)
        fake = straight_through(G(z), opts.binarize)
        _, a_fake, h = logits(fake, None)
        loss = g_loss(a_fake)
        if local is not None:
            loss = loss + opts.local_weight * g_loss(local(fake).flatten())
        if c:
            loss = loss + opts.info_weight * F.cross_entropy(Q(h), code)
        opt_G.zero_grad()
        loss.backward()
        opt_G.step()
        if G_avg is not None:
            with torch.no_grad():
                for a, b in zip(G_avg.state_dict().values(), G.state_dict().values()):
                    if a.dtype.is_floating_point:
                        a.mul_(opts.ema).add_(b, alpha=1 - opts.ema)
                    else:
                        a.copy_(b)
        if (step + 1) % 500 == 0:
            log(f"step {step + 1}: {time.time() - t0:.0f} s")
        if on_step is not None:
            on_step(step + 1, G)
            G.train()
    return G, G_avg, Q


def judge(seed=0, **sizes):
    """The command's judge (``experiments.gan3d.judge``, at its sizes unless ``sizes`` give
    judge_shapes, eval_size or judge_epochs): (classifier, the reference statistics, the
    held-out real shapes' scores)."""
    clf, ref, x_real, _ = E.judge({**E.SETTINGS, **sizes}, seed)
    return clf, ref, M.evaluate_samples(clf, x_real, ref)


def score(G, judged, n, latent_dim, codes=0, seed=3):
    """Score n samples of G (eval mode): the evaluate_samples dict plus ``ratio`` (IS over
    the real shapes' IS), and the codes drawn (None without codes)."""
    clf, ref, real = judged
    G.eval()
    g = torch.Generator().manual_seed(seed)  # its own stream: training's is left alone
    z = torch.randn(n, latent_dim, generator=g)
    code = torch.randint(0, codes, (n,), generator=g) if codes else None
    if codes:
        z = torch.cat([z, F.one_hot(code, codes).float()], 1)
    with torch.no_grad():
        voxels = M.binarize(G(z).numpy())
    s = M.evaluate_samples(clf, voxels, ref)
    s["ratio"] = s["inception_score"] / real["inception_score"]
    if codes:
        probs = clf.features_and_probs(voxels)[1]
        table = np.zeros((codes, NUM_SHAPE_CLASSES), dtype=int)
        np.add.at(table, (code.numpy(), probs.argmax(axis=1)), 1)
        s["code_table"] = table.tolist()
        s["code_purity"] = float(table.max(axis=1).sum() / table.sum())
    return s


def describe(name, s):
    return (f"{name}: IS ratio {s['ratio']:.3f}, FID {s['fid']:.1f}, diversity "
            f"{s['is_diversity']:.2f} × confidence {s['is_confidence']:.3f}, classes "
            f"{s['classes_present']}/{NUM_SHAPE_CLASSES} {s['histogram']}")


def parser():
    s = E.SETTINGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=s["steps"])
    ap.add_argument("--batch-size", type=int, default=s["batch_size"])
    ap.add_argument("--lr-g", type=float, default=s["lr_G"])
    ap.add_argument("--lr-d", type=float, default=s["lr_D"])
    ap.add_argument("--train-shapes", type=int, default=s["train_shapes"])
    ap.add_argument("--soft-data", action=argparse.BooleanOptionalAction,
                    default=s["soft_data"])
    ap.add_argument("--centre-data", action=argparse.BooleanOptionalAction,
                    default=s["centre_data"])
    ap.add_argument("--latent-dim", type=int, default=s["latent_dim"])
    ap.add_argument("--n-critic", type=int, default=1)
    ap.add_argument("--g-width", type=int, default=s["width"])
    ap.add_argument("--d-width", type=int, default=s["width"])
    ap.add_argument("--loss", choices=("nonsaturating", "hinge", "wgan-gp"),
                    default="nonsaturating")
    ap.add_argument("--beta1", type=float, default=E.SETTINGS["beta1"])
    ap.add_argument("--gp-weight", type=float, default=10.0)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--no-d-batchnorm", action="store_true")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--ema", type=float, default=0.0, help="decay β (0: no average)")
    ap.add_argument("--binarize", choices=("none", "threshold", "bernoulli"), default="none")
    ap.add_argument("--joint-batch", action="store_true")
    ap.add_argument("--codes", type=int, default=0)
    ap.add_argument("--info-weight", type=float, default=1.0)
    ap.add_argument("--local-weight", type=float, default=0.0, metavar="λ")
    ap.add_argument("--generators", type=int, default=1, metavar="K")
    ap.add_argument("--spectral-norm", action="store_true")
    ap.add_argument("--lr-decay-from", type=int, default=0, metavar="STEP")
    ap.add_argument("--score-every", type=int, default=0, metavar="K",
                    help="also score G every K steps (0: at the end only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="the command's --quick judge sizes")
    return ap


def main(argv=None):
    opts = parser().parse_args(argv)
    torch.set_num_threads(opts.threads)
    sizes = ({k: E.QUICK[k] for k in ("judge_shapes", "eval_size", "judge_epochs")}
             if opts.quick else {})
    judged = judge(opts.seed, **sizes)
    n = sizes.get("eval_size", E.SETTINGS["eval_size"])
    results = {}

    def on_step(step, G):
        if step % opts.score_every == 0 and step < opts.steps:
            results[f"G at step {step}"] = s = score(G, judged, n, opts.latent_dim, opts.codes)
            print(describe(f"G at step {step}", s), flush=True)

    G, G_avg, _ = train(opts, on_step=on_step if opts.score_every > 0 else None)
    results["G"] = score(G, judged, n, opts.latent_dim, opts.codes)
    if G_avg is not None:
        results["G, moving average"] = score(G_avg, judged, n, opts.latent_dim, opts.codes)
    for name, s in results.items():
        if name.startswith("G at step"):
            continue  # printed as they came
        print(describe(name, s))
        if "code_table" in s:
            print(f"  judged class per code (rows: codes), purity {s['code_purity']:.3f}:")
            for row in s["code_table"]:
                print("  ", " ".join(f"{v:4d}" for v in row))
    return results


if __name__ == "__main__":
    main()
