"""Unpaired domains whose true correspondence is known: CycleGAN's test beds.

CycleGAN learns G: X → Y and F: Y → X from two sets that were never paired. Real
benchmarks (horses and zebras) cannot say whether G(x) is *the* right translation of x;
these two can, because both domains are made by the code from one source:

* :func:`point_domains`: X is a mixture of 2-D Gaussians with *unequal* weights and Y is
  its image under a known affine map T (rotation, scaling, shift). Unequal weights make
  the correspondence identifiable from the distributions alone: a G that matches
  p_data(Y) must send the heaviest mode of X onto the heaviest mode of Y, and so on.
* :func:`digit_styles`: the shipped 8×8 digits drawn in two procedural styles, *thin*
  (intensities cubed, which fades the soft stroke edges) and *thick* (the square root of
  the intensities, and a grey dilation by the 4-neighbourhood at half weight). The
  digits are split in halves; X is the thin style of one half, Y the thick style of the
  other, so no pair is ever seen in training, while every x's true counterpart
  thick(source(x)) is known for evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import backend
from .digits import load_digits, train_test_split

__all__ = ["WeightedMixture", "AffineMap", "point_domains", "thin", "thick", "digit_styles",
           "DigitDomains"]

np = backend.numpy


@dataclass(frozen=True)
class WeightedMixture:
    """A mixture of isotropic 2-D Gaussians with one shared std and unequal weights.

    Shapes: means (K, 2), weights (K,) host arrays; ``sample(n, rng)`` → (n, 2) on the
    current backend, and the (n,) host mode index of each point.
    """

    means: object
    std: float
    weights: object

    @property
    def num_modes(self):
        return int(self.means.shape[0])

    def sample(self, n, rng, dtype="float32"):
        """n points (and their mode ids): a mode drawn by weight, then mean + std·N(0, I)."""
        if n < 1:
            raise ValueError(f"WeightedMixture.sample needs n ≥ 1, got {n}")
        xp = backend.xp()
        cdf = xp.asarray(np.cumsum(self.weights) / np.sum(self.weights))
        k = xp.minimum(xp.searchsorted(cdf, rng.random(n), side="right"), self.num_modes - 1)
        means = xp.asarray(self.means, dtype="float64")
        x = means[k] + self.std * rng.standard_normal((n, 2))
        return x.astype(dtype), backend.to_numpy(k)


@dataclass(frozen=True)
class AffineMap:
    """T(x) = x Aᵀ + b for row vectors x (N, 2): the true translation between domains."""

    A: object  # (2, 2)
    b: object  # (2,)

    def __call__(self, x):
        xp = backend.get_array_module(x)
        A = xp.asarray(self.A, dtype=x.dtype)
        return x @ A.T + xp.asarray(self.b, dtype=x.dtype)

    def inverse(self):
        Ai = np.linalg.inv(self.A)
        return AffineMap(Ai, -Ai @ self.b)


def point_domains(angle_deg=25.0, scale=1.3, shift=(0.0, 0.0), std=0.1):
    """(X, Y, T): five unequal Gaussians in X, their image under T in Y.

    X's modes sit on an irregular pentagon of radius about 2 with weights 0.32, 0.24,
    0.19, 0.15, 0.10 and std 0.1; T rotates by ``angle_deg``, scales by ``scale`` and
    shifts, so Y's modes are T(X's means) with std scale·0.1.
    """
    angles = np.radians([90.0, 162.0, 234.0, 306.0, 18.0])
    radii = np.array([2.2, 1.9, 2.3, 2.0, 1.8])
    means = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    weights = np.array([0.32, 0.24, 0.19, 0.15, 0.10])
    t = math.radians(angle_deg)
    A = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    b = np.asarray(shift, dtype="float64")
    T = AffineMap(A, b)
    X = WeightedMixture(means, float(std), weights)
    Y = WeightedMixture(means @ A.T + b, float(std * scale), weights)
    return X, Y, T


# -- the two digit styles -----------------------------------------------------------------
def _dilate_cross(u):
    """max over the 4 neighbours (up, down, left, right; zero outside) of (N, 1, H, W)."""
    xp = backend.get_array_module(u)
    p = xp.zeros(u.shape[:2] + (u.shape[2] + 2, u.shape[3] + 2), dtype=u.dtype)
    p[:, :, 1:-1, 1:-1] = u
    return xp.maximum(xp.maximum(p[:, :, :-2, 1:-1], p[:, :, 2:, 1:-1]),
                      xp.maximum(p[:, :, 1:-1, :-2], p[:, :, 1:-1, 2:]))


def thin(u):
    """Thin strokes: u³ for intensities u ∈ [0, 1] (soft edges fade, the core stays)."""
    return u * u * u


def thick(u):
    """Thick strokes: max(√u, ½·dilate(u)) for u ∈ [0, 1] (edges brighten, strokes grow)."""
    xp = backend.get_array_module(u)
    return xp.maximum(xp.sqrt(u), 0.5 * _dilate_cross(u))


@dataclass
class DigitDomains:
    """X (thin, one half), Y (thick, the other half), and the truth for evaluation.

    All images in [−1, 1], shape (n, 1, 8, 8), on the current backend; labels and index
    arrays on the host. ``x_true_y`` is thick(source(x)) for every x in X (never shown to
    CycleGAN), ``y_true_x`` thin(source(y)) for every y in Y.
    """

    x: object
    y: object
    x_labels: object
    y_labels: object
    x_true_y: object
    y_true_x: object


def digit_styles(seed=0, dtype="float32"):
    """Split the digits in halves (by class, as ``train_test_split``) and style each half."""
    u, labels = load_digits(scale="unit", dtype=dtype)
    labels = backend.to_numpy(labels)
    a, b = train_test_split(labels, seed=seed)
    ua, ub = u[backend.asarray(a)], u[backend.asarray(b)]

    def tanh_scale(v):
        return (v * 2 - 1).astype(dtype)

    return DigitDomains(x=tanh_scale(thin(ua)), y=tanh_scale(thick(ub)), x_labels=labels[a],
                        y_labels=labels[b], x_true_y=tanh_scale(thick(ua)),
                        y_true_x=tanh_scale(thin(ub)))
