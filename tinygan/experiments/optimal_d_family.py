"""The optimal discriminators of the GAN family, measured in 1-D as ``tinygan optimal-d`` does.

Two closed forms, each checked by training a small MLP discriminator against a FIXED
generator whose density is known exactly (``tinygan/densities.py``) and integrating
|D − D*| under the mixture m = (p_data + p_g)/2 by quadrature:

* **The conditional D*** (derivations/06_conditional_gan.md#the-conditional-optimal-d):
  two classes y ∈ {0, 1}, each with its own p_data(x|y) and its own affine generator
  G(z, y) = a_y z + b_y, so p_g(x|y) = N(b_y, a_y²). D(x, y) is an MLP on [x, onehot(y)]
  trained with :func:`tinygan.gans.cgan.update_d`; its optimum is, class by class,
  D*(x, y) = p_data(x|y) / (p_data(x|y) + p_g(x|y)). Target: E_{m_y}|D − D*| ≤ 0.01 for
  each class.
* **LSGAN's D*** (derivations/07_cyclegan.md#lsgans-optimal-d): an MLP with a raw output
  trained with :func:`tinygan.gans.lsgan.update_d` toward targets a (fake) and b (real);
  its optimum is D*(x) = (b·p_data + a·p_g)/(p_data + p_g). Measured with a = −1, b = 1
  (so D* spans [−1, 1] and a ≠ 0 shows) and with CycleGAN's a = 0, b = 1. Target
  E_m|D − D*|/(b − a) ≤ 0.01: the error as a share of the range of D*, so that the two
  target pairs are judged alike (for a = 0, b = 1 it is E_m|D − D*| itself).

Each run takes a few seconds; ``tinygan cgan`` and ``tinygan cyclegan`` report them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .. import backend
from .. import densities as dn
from ..gans import cgan, lsgan
from ..layers import Dense, LeakyReLU, sigmoid
from ..layers.base import no_grad
from ..models import Sequential
from ..models.conditional import OneHotConditioned
from ..optim import Adam
from .optimal_d import G_A, G_B, P_DATA, affine_generator, make_discriminator

__all__ = ["ClassAffineGenerator", "CONDITIONAL_P_DATA", "CONDITIONAL_G", "Config",
           "conditional_dstar", "lsgan_dstar", "TARGET"]

np = backend.numpy
TARGET = 0.01

#: Two classes: class 0 a bump on the left, class 1 a two-bump mixture on the right; their
#: fixed generators are broad Gaussians that overlap them only partly.
CONDITIONAL_P_DATA = [dn.Gaussian(-1.0, 0.5),
                      dn.Mixture([0.6, 0.4], [dn.Gaussian(1.0, 0.4), dn.Gaussian(2.5, 0.5)])]
CONDITIONAL_G = [(1.0, -0.3), (1.1, 1.2)]  # (a_y, b_y): p_g(x|y) = N(b_y, a_y²)


@dataclass
class Config:
    """Steps, batch, Adam's lr decayed geometrically, MLP width (as optimal-d's experiment 1)."""

    num_steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-2
    lr_final: float = 1e-5
    hidden: int = 64
    seed: int = 0


#: The default: E_m|D − D*| measured 0.0019 and 0.0059 (conditional, classes 0 and 1),
#: 0.0086 (LSGAN, a = −1, b = 1; 0.0043 of the range b − a) and 0.0048 (a = 0, b = 1).
#: With 32 hidden units class 1 (two bumps) stayed near 0.008-0.011.
FULL = Config()
QUICK = Config(num_steps=1500, batch_size=128, lr_final=1e-4)


def config_from_args(args):
    """The D* check's Config for a command's --quick and --dstar-steps (cgan, cyclegan)."""
    cfg = QUICK if args.quick else FULL
    return cfg if args.dstar_steps is None else replace(cfg, num_steps=args.dstar_steps)


class ClassAffineGenerator(Sequential):
    """G(z, y) = a_y·z + b_y: a fixed conditional generator with p_g(x|y) = N(b_y, a_y²)."""

    def __init__(self, params, dtype="float64"):
        super().__init__()
        xp = backend.xp()
        self.a = xp.asarray([p[0] for p in params], dtype=dtype)
        self.b = xp.asarray([p[1] for p in params], dtype=dtype)

    def __repr__(self):
        return "ClassAffineGenerator(" + ", ".join(
            f"{float(a):g}·z + {float(b):g}" for a, b in zip(self.a, self.b)) + ")"

    def forward(self, z, y):
        return z * self.a[y][:, None] + self.b[y][:, None]

    def density(self, k):
        return dn.Gaussian(float(self.b[k]), float(abs(self.a[k])))


def _schedule(config, t):
    return config.lr * (config.lr_final / config.lr) ** (t / max(1, config.num_steps - 1))


def conditional_dstar(config=FULL, progress=False):
    """Train D(x, y) against the fixed :class:`ClassAffineGenerator`; per-class errors.

    Returns a dict: ``mean_abs_error_m`` (a list, one per class), ``max_abs_error_core``
    (per class, where p_data + p_g ≥ 0.05), ``target``, ``config``, and the trained D.
    """
    rng = backend.rng(config.seed)
    K = len(CONDITIONAL_P_DATA)
    G = ClassAffineGenerator(CONDITIONAL_G)
    body = Sequential(Dense(1 + K, config.hidden, rng=rng, dtype="float64"), LeakyReLU(0.2),
                      Dense(config.hidden, config.hidden, rng=rng, dtype="float64"),
                      LeakyReLU(0.2), Dense(config.hidden, 1, rng=rng, dtype="float64"))
    D = OneHotConditioned(body, 1, K)
    opt = Adam(D, lr=config.lr)
    m = config.batch_size
    for t in range(config.num_steps):
        opt.lr = _schedule(config, t)
        y = rng.integers(0, K, size=m)
        x = np.empty((m, 1))
        for k in range(K):  # x | y from each class's density
            sel = backend.to_numpy(y) == k
            x[sel] = backend.to_numpy(CONDITIONAL_P_DATA[k].sample(rng, int(sel.sum()),
                                                                   "float64"))
        y_fake = rng.integers(0, K, size=m)
        cgan.update_d(G, D, backend.asarray(x), y, rng.standard_normal((m, 1)), y_fake, opt)
    errors, worst = [], []
    for k in range(K):
        p, q = CONDITIONAL_P_DATA[k], G.density(k)

        def logits(x, k=k):
            xs = backend.asarray(np.asarray(x, dtype="float64").reshape(-1, 1))
            with no_grad(D):
                out = D.forward(xs, backend.asarray(np.full(xs.shape[0], k)))
            return backend.to_numpy(out).reshape(-1)

        errors.append(dn.mixture_error(p, q, logits))
        grid = np.linspace(-4, 5, 2001)
        core = p.pdf(grid) + q.pdf(grid) >= 0.05
        worst.append(float(np.abs(sigmoid(logits(grid)) -
                                  dn.optimal_discriminator(p, q, grid))[core].max()))
    return {"mean_abs_error_m": errors, "max_abs_error_core": worst, "target": TARGET,
            "config": dict(config.__dict__), "D": D, "G": G}


def lsgan_dstar(config=FULL, a=-1.0, b=1.0, progress=False):
    """Train an MLP D with LSGAN's loss against optimal-d's fixed G; E_m|D − D*_LS|.

    p_data and G are ``tinygan optimal-d``'s (a two-bump mixture; G(z) = 1.3 z + 0.25).
    Returns ``mean_abs_error_m``, ``relative_error_m`` (divided by b − a: the number the
    target applies to), ``max_abs_error_core``, ``a``, ``b``, ``target``, D.
    """
    rng = backend.rng(config.seed)
    G = affine_generator(G_A, G_B)
    p_g = dn.generator_density(G)
    D = make_discriminator(config.hidden, rng)
    opt = Adam(D, lr=config.lr)
    for t in range(config.num_steps):
        opt.lr = _schedule(config, t)
        x = P_DATA.sample(rng, config.batch_size, "float64")
        z = rng.standard_normal((config.batch_size, 1))
        lsgan.update_d(G, D, x, z, opt, a=a, b=b)
    out = dn.model_logits(D)  # the raw output (no sigmoid): LSGAN's D is a regression
    quad = dn.quadrature(P_DATA, p_g)
    xq = quad.x
    mix = 0.5 * (P_DATA.pdf(xq) + p_g.pdf(xq))
    dstar = backend.to_numpy(lsgan.optimal_d(P_DATA.pdf(xq), p_g.pdf(xq), a, b))
    err = quad.integrate(mix * np.abs(out(xq) - dstar))
    grid = np.linspace(-4, 5, 2001)
    core = P_DATA.pdf(grid) + p_g.pdf(grid) >= 0.05
    dgrid = backend.to_numpy(lsgan.optimal_d(P_DATA.pdf(grid), p_g.pdf(grid), a, b))
    return {"mean_abs_error_m": float(err), "relative_error_m": float(err) / (b - a),
            "max_abs_error_core": float(np.abs(out(grid) - dgrid)[core].max()),
            "a": a, "b": b, "target": TARGET, "config": dict(config.__dict__), "D": D}
