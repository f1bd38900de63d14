"""3D-GAN probes: the default ``tinygan gan3d`` run with one change, scored by its own judge.

    python tools/gan3d_probes.py PROBE [--steps 1500] [--seed 0] [--quick] [options]

Each probe trains ``experiments.gan3d.train`` with the default settings and one piece
swapped from outside (``unittest.mock.patch`` on the names ``train`` looks up; nothing in
the library changes), so the judge, the seeds and the printed table are the command's:

* ``r1``: D without its two BatchNorms, plus the R1 penalty (γ/2)·mean‖∇ₓD(x)‖² on the
  real batch at every D step (``gans.stylegan.r1_penalty``; ``--gamma``, default 10).
* ``smooth``: one-sided label smoothing, D's target for real shapes ``--target`` (0.9)
  instead of 1 (Salimans et al. 2016); fakes keep 0, G's loss is unchanged.
* ``noise``: instance noise, N(0, σ²) added to every input of D while training (real and
  fake, in D's and in G's step), σ falling linearly from ``--sigma`` (0.2) to 0.
* ``lsgan``: least-squares losses (Mao et al. 2017, ``gans.lsgan``): D on
  ½·mean (D(x) − 1)² + ½·mean D(G(z))², G on mean (D(G(z)) − 1)²; D's output is a score.
* ``hinge``: the hinge losses (Lim & Ye 2017; Miyato et al. 2018): D on
  mean relu(1 − D(x)) + mean relu(1 + D(G(z))), G on −mean D(G(z)).
* ``truncation``: the default run, then samples drawn with z ~ ψ·N(0, I) for ψ from 1 to
  0.3 (the truncation trick), each scored like the run's samples.

The README's 3D-GAN section quotes them (seed 0, 1500 steps). Prints the command's table;
writes nothing. About 3 minutes of one core each (``r1``: 3.5).
"""

from __future__ import annotations

import argparse
import contextlib
from unittest import mock

from tinygan import backend
from tinygan import metrics as M
from tinygan import train as T
from tinygan.experiments import gan3d as E
from tinygan.gans import lsgan
from tinygan.gans import stylegan as sg
from tinygan.layers import BatchNorm
from tinygan.layers.activations import sigmoid
from tinygan.layers.base import Layer
from tinygan.losses import least_squares_loss
from tinygan.models import Sequential
from tinygan.models import gan3d as MG

PROBES = ("r1", "smooth", "noise", "lsgan", "hinge", "truncation")
PSIS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


def without_batchnorm(D):
    """D's layers less its BatchNorms (R1 needs a D whose samples do not interact)."""
    return Sequential(*[layer for layer in D.layers if not isinstance(layer, BatchNorm)])


class R1Step:
    """An optimizer for D that adds ∂R1/∂θ_D (on ``last["x"]``, the real batch D just
    saw) to D's gradients before each step; everything else goes to the wrapped one."""

    def __init__(self, opt, D, gamma, last):
        self.opt, self.D, self.gamma, self.last = opt, D, gamma, last

    def step(self):
        sg.r1_penalty(self.D, self.last["x"], self.gamma)
        self.opt.step()

    def __getattr__(self, name):
        return getattr(self.opt, name)


class InstanceNoise(Layer):
    """x + σ(t)·ε, ε ~ N(0, I), in training mode (identity in eval mode); σ(t) falls from
    σ₀ to 0 over ``steps`` as ``clock["step"]`` counts G's steps. Backward: the identity
    (the noise does not depend on x)."""

    def __init__(self, sigma0, steps, clock, rng):
        super().__init__()
        self.sigma0, self.steps, self.clock, self.rng = float(sigma0), int(steps), clock, rng

    def __repr__(self):
        return f"InstanceNoise(σ₀={self.sigma0:g})"

    def sigma(self):
        return self.sigma0 * max(0.0, 1.0 - self.clock["step"] / self.steps)

    def forward(self, x):
        s = self.sigma()
        if not self.training or s == 0:
            return x
        return x + x.dtype.type(s) * self.rng.standard_normal(x.shape, dtype=x.dtype)

    def backward(self, dout, need_dx=True):
        return dout


def _counting_fit(clock):
    """E.fit_gan3d, with ``clock["step"]`` set to the number of G steps taken."""
    fit = E.fit_gan3d

    def counted(*args, callback=None, **kw):
        def tick(step, history):
            clock["step"] = step + 1
            if callback is not None:
                callback(step, history)
        return fit(*args, callback=tick, **kw)
    return counted


def _label(y):
    """update_d's target, the number 1 (real) or 0 (fake); refuses anything else."""
    if not (isinstance(y, (int, float)) and y in (0, 1)):
        raise ValueError(f"the loss probes take update_d's targets 1 and 0, got {y!r}")
    return y


def lsgan_d_loss(a, y):
    """½·mean (a − y)², d/da = (a − y)/m: the half of gans.lsgan.discriminator_loss (a = 0,
    b = 1) that one batch contributes, as update_d asks for it (real y = 1, fake y = 0)."""
    xp = backend.get_array_module(a)
    loss, d = least_squares_loss(a, xp.full_like(a, float(_label(y))))
    return loss * 0.5, d * 0.5


def hinge_d_loss(a, y):
    """mean relu(1 − a) for real (y = 1), mean relu(1 + a) for fake (y = 0); the gradient
    is −[1 − a > 0]/m or [1 + a > 0]/m (the subgradient 0 at the kink)."""
    s = 1.0 if _label(y) == 1 else -1.0
    margin = 1 - s * a
    active = margin > 0
    return (margin * active).sum() / a.size, (-s * active).astype(a.dtype) / a.size


def _with_mean_prob(loss, a, mean_prob):
    """update_g asks for mean σ(a) as well (the history's D_fake); here it only fills the
    record, since a is a score, not a logit."""
    return loss + (sigmoid(a).mean(),) if mean_prob else loss


def lsgan_g_loss(a, kind="nonsaturating", mean_prob=False):
    """G's least-squares loss mean (a − 1)² (gans.lsgan.generator_loss, c = 1)."""
    return _with_mean_prob(lsgan.generator_loss(a, c=1.0), a, mean_prob)


def hinge_g_loss(a, kind="nonsaturating", mean_prob=False):
    """G's hinge-GAN loss −mean a, d/da = −1/m."""
    xp = backend.get_array_module(a)
    return _with_mean_prob((-a.sum() / a.size, xp.full_like(a, -1.0 / a.size)), a, mean_prob)


LOSSES = {"lsgan": (lsgan_d_loss, lsgan_g_loss), "hinge": (hinge_d_loss, hinge_g_loss)}


def patches(probe, steps, gamma=10.0, target=0.9, sigma=0.2, seed=0):
    """The mock patches that turn ``E.train`` into ``probe`` (a list; empty for the
    default and for ``truncation``, which changes only how samples are drawn)."""
    if probe == "r1":
        last = {}
        fit = E.fit_gan3d

        def pair(**kw):
            G, D, cfg = MG.gan3d_pair(**kw)
            return G, without_batchnorm(D), cfg

        def optimizers(G, D, **kw):
            opt_G, opt_D = MG.gan3d_optimizers(G, D, **kw)
            return opt_G, R1Step(opt_D, D, gamma, last)

        def remembering_fit(G, D, sample_real, *args, **kw):
            def real(m):
                last["x"] = sample_real(m)
                return last["x"]
            return fit(G, D, real, *args, **kw)
        return [mock.patch.object(E, "gan3d_pair", pair),
                mock.patch.object(E, "gan3d_optimizers", optimizers),
                mock.patch.object(E, "fit_gan3d", remembering_fit)]
    if probe == "smooth":
        bce = T.bce_with_logits

        def smoothed(logits, y):  # update_d calls it with the scalar labels 1 and 0
            return bce(logits, target if isinstance(y, (int, float)) and y == 1 else y)
        return [mock.patch.object(T, "bce_with_logits", smoothed)]
    if probe == "noise":
        clock = {"step": 0}

        def pair(**kw):
            G, D, cfg = MG.gan3d_pair(**kw)
            noise = InstanceNoise(sigma, steps, clock, backend.rng(seed + 99))
            return G, Sequential(noise, *D.layers), cfg
        return [mock.patch.object(E, "gan3d_pair", pair),
                mock.patch.object(E, "fit_gan3d", _counting_fit(clock))]
    if probe in LOSSES:
        d_loss, g_loss = LOSSES[probe]
        return [mock.patch.object(T, "bce_with_logits", d_loss),
                mock.patch.object(T, "generator_loss", g_loss)]
    if probe in ("default", "truncation"):
        return []
    raise ValueError(f"unknown probe {probe!r}; expected one of {PROBES}")


def truncation_rows(result, seed=0, psis=PSIS):
    """Score G's samples at z ~ ψ·N(0, I) with the run's judge: one dict per ψ."""
    cfg = result.config
    n = cfg["eval_size"]
    ref = E.reference_stats(result.classifier, n, seed)  # the set train() uses
    real_is = result.scores["real"]["inception_score"]
    rows = []
    for psi in psis:
        z = MG.sample_latent(backend.rng(seed + 3), n, cfg["latent_dim"], cfg["dtype"]) * psi
        s = M.evaluate_samples(result.classifier, M.binarize(E._sample(result.G, z)), ref)
        rows.append({"psi": psi, "ratio": s["inception_score"] / real_is, **s})
    return rows


def run(probe, settings=None, seed=0, **options):
    """Train ``probe`` (see the module docstring); returns (GAN3DResult, truncation rows
    or None)."""
    steps = {**E.SETTINGS, **(settings or {})}["steps"]
    with contextlib.ExitStack() as stack:
        for p in patches(probe, steps, seed=seed, **options):
            stack.enter_context(p)
        result = E.train(settings, seed=seed)
    rows = truncation_rows(result, seed) if probe == "truncation" else None
    return result, rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("probe", choices=PROBES)
    ap.add_argument("--steps", type=int, default=E.SETTINGS["steps"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="the command's --quick sizes")
    ap.add_argument("--gamma", type=float, default=10.0, help="r1: γ (default 10)")
    ap.add_argument("--target", type=float, default=0.9, help="smooth: D's real target")
    ap.add_argument("--sigma", type=float, default=0.2, help="noise: σ at step 0")
    a = ap.parse_args(argv)
    settings = {**(E.QUICK if a.quick else {}), "steps": a.steps}
    options = {"r1": {"gamma": a.gamma}, "smooth": {"target": a.target},
               "noise": {"sigma": a.sigma}}.get(a.probe, {})
    result, rows = run(a.probe, settings, a.seed, **options)
    named = "".join(f", {k} {v:g}" for k, v in options.items())
    print(f"probe {a.probe}{named}: {a.steps} steps, seed {a.seed}, {result.seconds:.0f} s")
    print(result.table(no_target=f"probe {a.probe}"))
    for r in rows or []:
        print(f"ψ {r['psi']:.1f}: IS ratio {r['ratio']:.3f} (diversity {r['is_diversity']:.2f},"
              f" confidence {r['is_confidence']:.3f}), classes {r['classes_present']}/8, "
              f"FID {r['fid']:.1f}")


if __name__ == "__main__":
    main()
