"""Why a 3D-GAN run's IS ratio falls short: the probes behind the README's 3D-GAN section.

    python tools/gan3d_diagnose.py out/gan3d [--seed 0] [--capacity 3000] [--quick]

Reads the run folder's ``checkpoint.npz`` (a default ``tinygan gan3d`` run: width 16,
z ~ N(0, I)), draws the samples and trains the judge exactly as ``experiments.gan3d.train``
does (so the first table repeats the run's numbers), then asks up to five questions:

1. Which factor of IS is short (``metrics.inception_score_parts``): the class shares
   (diversity) or how sure the judge is of each sample (confidence)?
2. Does the threshold that turns occupancies into voxels matter (0.4, 0.5, 0.6)?
3. Which errors does the judge punish? Real shapes with random surface voxels flipped,
   stray voxels apart from the shape, or a one-layer cut, scored beside G's samples, whose
   pieces (:func:`components`) and runner-up classes (:func:`runner_up`) are counted.
4. Is the judge merely reading thickness? A second judge is trained on the same shapes
   plus copies grown and shrunk by one voxel (6-neighbour dilation and erosion), so that
   thickness no longer tells classes apart; if G's solids only failed by being a voxel too
   thick or thin, this judge would score them closer to real shapes than the plain one.
5. With ``--capacity STEPS``: can G's layers draw the shapes at all? G is fitted alone to
   500 real shapes, each with its own latent (:func:`capacity`), and the judge reads the
   reconstructions.

Prints tables; writes nothing. About 4 minutes on one core (two judges), 9 with
``--capacity 3000``. ``--quick`` reads a ``tinygan gan3d --quick`` run with that mode's
judge and sample sizes, in seconds (the tests).
"""

from __future__ import annotations

import argparse
import os

from tinygan import backend
from tinygan import metrics as M
from tinygan.data.voxels import SHAPE_CLASSES, voxel_shapes
from tinygan.experiments import gan3d as E
from tinygan.models.gan3d import gan3d_generator, sample_latent
from tinygan.runs import load_state, restore

np = backend.numpy


#: The six face neighbours' offsets.
NEIGHBOURS = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))


def morph(v, grow):
    """6-neighbour dilation (grow=True) or erosion of 0/1 voxels (N, 1, S, S, S), host."""
    out = v.copy()
    for d in NEIGHBOURS:
        nb = _shift(v, d)
        out = np.maximum(out, nb) if grow else np.minimum(out, nb)
    return out


def _shift(v, d, fill=0):
    """v moved by the offset d (three ints, each −1, 0 or 1) along its last three axes,
    ``fill`` coming in: out[..., i, j, k] = v[..., i − d₀, j − d₁, k − d₂]."""
    S = v.shape[-1]
    p = np.pad(v, [(0, 0)] * (v.ndim - 3) + [(1, 1)] * 3, constant_values=fill)
    return p[(Ellipsis,) + tuple(slice(1 - k, 1 - k + S) for k in d)]


def surface_flips(v, q, gen):
    """Real shapes with random surface errors: each voxel of the one-voxel band around the
    surface (grown minus shrunk, :func:`morph`) flipped with probability q. Host 0/1."""
    band = (morph(v, True) - morph(v, False)) > 0
    return np.where(band & (gen.random(v.shape) < q), 1 - v, v).astype(v.dtype)


def stray_voxels(v, k, gen):
    """Real shapes plus k stray voxels each, drawn from the shell two and three voxels
    outside the shape (the 6-neighbour dilation taken three times minus once), so that no
    stray voxel touches the shape. Host 0/1."""
    grown = morph(v, True)
    shell = (morph(morph(grown, True), True) - grown) > 0
    out = v.copy()
    for i in range(v.shape[0]):
        where = np.flatnonzero(shell[i])
        out[i].flat[gen.choice(where, size=min(k, where.size), replace=False)] = 1
    return out


def cut_slab(v, width=1):
    """Real shapes cut in two: ``width`` layers emptied along the first spatial axis, from
    the middle one of the layers that hold the shape. Host 0/1."""
    out = v.copy()
    for i in range(v.shape[0]):
        layers = np.flatnonzero(v[i, 0].sum(axis=(1, 2)))
        if layers.size:
            mid = layers[layers.size // 2]
            out[i, 0, mid:mid + width] = 0
    return out


def components(v):
    """The number of 6-connected pieces of each 0/1 shape (N, 1, S, S, S), host (N,) ints.

    Each occupied voxel starts with its own label and takes the smallest label among its
    occupied 6-neighbours until nothing changes; a piece then holds one label."""
    N, occupied = v.shape[0], v[:, 0] > 0.5
    big = occupied.size + 1
    label = np.where(occupied, np.arange(occupied.size).reshape(occupied.shape), big)
    while True:
        new = label
        for d in NEIGHBOURS:
            new = np.minimum(new, np.where(occupied, _shift(label, d, fill=big), big))
        if np.array_equal(new, label):
            break
        label = new
    return np.array([np.unique(label[i][occupied[i]]).size for i in range(N)])


def iou_with(a, b):
    """Mean IoU of paired 0/1 shapes."""
    inter = (a * b).sum(axis=(1, 2, 3, 4))
    return float(np.mean(inter / np.maximum(1, np.maximum(a, b).sum(axis=(1, 2, 3, 4)))))


def runner_up(clf, x):
    """An 8×8 count table: rows the judge's top class of each shape, columns its second."""
    probs = backend.to_numpy(clf.features_and_probs(x)[1])
    order = np.argsort(probs, axis=1)
    table = np.zeros((len(SHAPE_CLASSES),) * 2, dtype=int)
    np.add.at(table, (order[:, -1], order[:, -2]), 1)
    return table


def row(name, clf, x, ref, real_is):
    s = M.evaluate_samples(clf, x, ref)
    hist = " ".join(f"{c:4d}" for c in s["histogram"])
    return (f"{name:30s} {s['inception_score']:5.2f} {s['inception_score'] / real_is:6.3f} "
            f"{s['is_diversity']:6.2f} {s['is_confidence']:6.3f}  {hist}")


def header():
    return (f"{'':30s} {'IS':>5s} {'ratio':>6s} {'divers':>6s} {'conf':>6s}  "
            + " ".join(c[:4] for c in SHAPE_CLASSES))


def capacity(steps, seed=0, n=500, batch=32, lr=2.5e-3, lr_z=1e-2):
    """Can G's architecture draw the shapes at all? Fit G to n real shapes without a D.

    Each shape x_i gets its own latent z_i, learned with G (generative latent
    optimisation): minimise BCE(G(z_i), x_i) over G's weights and z_i, both by Adam, G at
    the GAN's lr and betas (0.5, 0.999). Returns (reconstructions (n, 1, 16³) host, labels,
    the shapes, the losses). What the judge makes of the reconstructions says whether G's
    layers can draw the shapes at all; where they cannot, no better GAN training will.
    """
    from tinygan.layers import no_grad
    from tinygan.losses import bce_with_logits
    from tinygan.models.sequential import Sequential
    from tinygan.optim import Adam

    x, y = voxel_shapes(n, seed=seed + 40)
    G = gan3d_generator(latent_dim=E.SETTINGS["latent_dim"], width=E.SETTINGS["width"],
                        rng=backend.rng(seed))
    head = Sequential(*G.layers[:-1])  # the same layers, up to the logits
    opt = Adam(head, lr=lr, betas=(0.5, 0.999))
    gen = backend.rng(seed + 41)
    z = gen.standard_normal((n, E.SETTINGS["latent_dim"]), dtype="float32")
    m, v = np.zeros_like(z), np.zeros_like(z)
    losses = []
    for t in range(1, steps + 1):
        idx = gen.integers(0, n, size=batch)
        head.zero_grad()
        loss, dlogits = bce_with_logits(head.forward(z[idx]), x[idx])
        dz = head.backward(dlogits)
        losses.append(float(loss))
        opt.step()
        g = np.zeros_like(z)
        np.add.at(g, idx, dz)  # a shape drawn twice gets both gradients
        m[:] = 0.5 * m + 0.5 * g
        v[:] = 0.999 * v + 0.001 * g * g
        z -= lr_z * (m / (1 - 0.5 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        if t % max(1, steps // 5) == 0:
            print(f"  capacity step {t}: BCE {float(loss):.4f}")
    G.eval()
    with no_grad(G):
        recon = np.concatenate([backend.to_numpy(G.forward(z[i:i + 250]))
                                for i in range(0, n, 250)])
    return recon, y, backend.to_numpy(x), losses


def print_errors(clf, ref, real_is, x, samples, seed):
    """Which errors cost the judge's confidence: real shapes with random surface errors,
    stray voxels and a cut, beside G's samples (their pieces, and which classes the judge
    hesitates between)."""
    gen = np.random.default_rng(seed + 50)
    print("\nwhich errors cost the score (the plain judge; IoU with the unchanged shape):")
    for q in (0.05, 0.1, 0.2, 0.3):
        v = surface_flips(x, q, gen)
        print(row(f"surface voxels flipped, p {q}", clf, backend.asarray(v), ref, real_is)
              + f"  IoU {iou_with(v, x):.3f}")
    for k in (5, 20):
        v = stray_voxels(x, k, gen)
        print(row(f"{k} stray voxels, apart", clf, backend.asarray(v), ref, real_is)
              + f"  IoU {iou_with(v, x):.3f}")
    v = cut_slab(x)
    print(row("cut in two by one layer", clf, backend.asarray(v), ref, real_is)
          + f"  IoU {iou_with(v, x):.3f}")
    for name, v in (("real shapes", x), ("G's samples", samples)):
        n = components(v)
        print(f"{name}: 6-connected pieces per shape, mean {n.mean():.2f}; more than one: "
              f"{np.mean(n > 1):.2f}")
    print("G's samples: the judge's top class (rows) against its second choice (columns)")
    print(f"{'':30s} " + " ".join(c[:4] for c in SHAPE_CLASSES))
    for c, counts in zip(SHAPE_CLASSES, runner_up(clf, backend.asarray(samples))):
        print(f"{c:30s} " + " ".join(f"{k:4d}" for k in counts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a default tinygan gan3d run folder (with checkpoint.npz)")
    ap.add_argument("--seed", type=int, default=0, help="the run's --seed (default: 0)")
    ap.add_argument("--capacity", type=int, default=0, metavar="STEPS",
                    help="also fit G alone to real shapes for STEPS steps (capacity())")
    ap.add_argument("--quick", action="store_true",
                    help="the run is a --quick one: its judge and sample sizes")
    a = ap.parse_args(argv)
    cfg, seed = {**E.SETTINGS, **(E.QUICK if a.quick else {})}, a.seed
    tree, meta = load_state(os.path.join(a.run, "checkpoint.npz"))
    G = gan3d_generator(latent_dim=cfg["latent_dim"], width=cfg["width"])
    restore(G, tree["G"], "checkpoint/G")
    G.eval()
    print(f"{a.run}: step {meta['step']} of {meta['total']}")

    n_eval = cfg["eval_size"]
    occ = E._sample(G, sample_latent(backend.rng(seed + 3), n_eval, cfg["latent_dim"]))
    plain, ref, x_real, y_real = E.judge(cfg, seed)
    h_real = backend.to_numpy(x_real)

    if a.capacity:  # G fitted alone, once; both judges read its reconstructions
        recon, y_rec, x_rec, _ = capacity(a.capacity, seed)
    # the run's own judge, and one trained on the same shapes and their ±1-voxel copies
    x_judge, y_judge = E.judge_training_set(cfg, seed)
    xj = backend.to_numpy(x_judge)
    grown = E.train_judge(backend.asarray(np.concatenate([xj, morph(xj, True),
                                                          morph(xj, False)])),
                          np.concatenate([y_judge] * 3), cfg, seed)
    judges = {"plain judge (the run's)": (plain, ref),
              "judge trained on ±1 voxel too": (grown, E.reference_stats(grown, n_eval, seed))}
    for name, (clf, ref) in judges.items():
        real_is = M.evaluate_samples(clf, x_real, ref)["inception_score"]
        print(f"\n{name}: accuracy {clf.accuracy(x_real, y_real):.3f} on held-out real shapes, "
              f"{clf.accuracy(backend.asarray(morph(h_real, True)), y_real):.3f} grown by a "
              f"voxel, {clf.accuracy(backend.asarray(morph(h_real, False)), y_real):.3f} "
              "shrunk")
        print(header())
        print(row("real shapes (held out)", clf, x_real, ref, real_is))
        print(row("real, grown by one voxel", clf, backend.asarray(morph(h_real, True)), ref,
                  real_is))
        print(row("real, shrunk by one voxel", clf, backend.asarray(morph(h_real, False)),
                  ref, real_is))
        for t in (0.4, 0.5, 0.6):
            print(row(f"G's samples, voxels > {t}", clf, M.binarize(occ, t), ref, real_is))
        if clf is plain:
            print_errors(clf, ref, real_is, h_real, backend.to_numpy(M.binarize(occ)), seed)
        if a.capacity:
            r = backend.asarray(M.binarize(recon))
            print(row("G fitted alone, reconstructions", clf, r, ref, real_is))
            iou = ((recon > 0.5) & (x_rec > 0.5)).sum(axis=(1, 2, 3, 4)) / np.maximum(
                1, ((recon > 0.5) | (x_rec > 0.5)).sum(axis=(1, 2, 3, 4)))
            print(f"  reconstructions: judge accuracy {clf.accuracy(r, y_rec):.3f} "
                  f"(their shapes' classes), IoU with their shape {float(iou.mean()):.3f}")
    print("\nratio: IS / IS of real shapes under the same judge; IS = divers × conf "
          "(metrics.inception_score_parts)")
    occupancy = float(M.binarize(occ).mean())
    print(f"occupancy: samples {occupancy:.4f}, real {float(h_real.mean()):.4f}")


if __name__ == "__main__":
    main()
