"""2-D Gaussian mixtures for measuring mode collapse: the ring of 8 and the grid of 25.

These are the toy sets of the PacGAN protocol (papers.md §4; repository fjxmlzn/PacGAN):

* ring: 8 Gaussians with means (cos 2πi/8, sin 2πi/8), i = 0…7 (radius 1), std 0.01;
* grid: 25 Gaussians with means {−4, −2, 0, 2, 4}², std 0.05.

Every mode has the same weight. A :class:`Mixture` knows its means and its std, which
the mode metric (:func:`tinygan.modes.mode_stats`) needs to normalise distances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import backend

__all__ = ["Mixture", "ring", "grid", "MIXTURES", "mixture"]


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic 2-D Gaussians with one shared std.

    Shapes
    ------
    means: (K, 2) host array;  sample(N) → (N, 2) on the current backend.
    """

    name: str
    means: object  # (K, 2) host float64 array
    std: float

    @property
    def num_modes(self) -> int:
        return int(self.means.shape[0])

    def sample(self, n, rng, dtype="float32"):
        """n points: a uniform mode index per point, then mean + std·N(0, I).

        ``rng`` is an explicit generator (``tinygan.backend.rng(seed)``); the result
        is allocated on the current backend in ``dtype``.
        """
        if n < 1:
            raise ValueError(f"{self.name}.sample needs n ≥ 1, got {n}")
        xp = backend.xp()
        means = xp.asarray(self.means, dtype="float64")
        idx = rng.integers(0, self.num_modes, size=n)
        x = means[xp.asarray(idx)] + self.std * xp.asarray(rng.standard_normal((n, 2)))
        return x.astype(dtype)

    def sampler(self, seed, dtype="float32"):
        """A callable ``m → (m, 2) batch`` with its own generator, as ``fit`` expects."""
        gen = backend.rng(seed)
        return lambda m: self.sample(m, gen, dtype)


def ring(radius=1.0, num_modes=8, std=0.01):
    """The ring of 8: means on a circle of radius 1, std 0.01 (PacGAN protocol)."""
    np = backend.numpy
    angles = 2 * math.pi * np.arange(num_modes) / num_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return Mixture("ring", means, float(std))


def grid(values=(-4.0, -2.0, 0.0, 2.0, 4.0), std=0.05):
    """The grid of 25: means {−4, −2, 0, 2, 4}², std 0.05 (PacGAN protocol)."""
    np = backend.numpy
    v = np.asarray(values, dtype="float64")
    xs, ys = np.meshgrid(v, v, indexing="ij")
    means = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return Mixture("grid", means, float(std))


MIXTURES = {"ring": ring, "grid": grid}


def mixture(name):
    """``"ring"`` or ``"grid"`` → the Mixture, with a clear error for anything else."""
    if name not in MIXTURES:
        raise ValueError(f"unknown mixture {name!r}; choose one of {sorted(MIXTURES)}")
    return MIXTURES[name]()
