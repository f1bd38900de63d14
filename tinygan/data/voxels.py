"""Voxel shapes made by the code: eight solids at 16³, each at a random size, place and turn.

3D-GAN (Wu et al. 2016) learns from voxelised CAD models (ShapeNet); tinygan neither
downloads nor ships data, so its 3-D set is drawn here, deterministically from a seed.
Each shape is a solid given by an *inside test* on canonical coordinates q, placed in the
grid by a random similarity transform:

    occupancy[v] = inside_k( Rᵀ (p_v − c) / s )       p_v = the centre of voxel v in [−1, 1]³

with the class k, the scale s (the radius of the ball holding the canonical solid, in
half-grids), the centre c (the ball stays inside the grid) and a uniformly random rotation
R (from a random unit quaternion). Every canonical solid fits in the unit ball:

=========  =====================================================================
cube       max(|q₁|, |q₂|, |q₃|) ≤ 1/√3 (its corners touch the ball)
sphere     ‖q‖ ≤ 0.85
cylinder   q₁² + q₂² ≤ 0.45², |q₃| ≤ 0.85
cone       q₃ ≥ −0.6 and √(q₁² + q₂²) ≤ 0.75 (0.8 − q₃)/1.4 (base radius 0.75, apex 0.8)
torus      (√(q₁² + q₂²) − 0.65)² + q₃² ≤ 0.27² (tube radius 0.27 around a circle of 0.65)
hourglass  |q₃| ≤ 0.8 and √(q₁² + q₂²) ≤ 0.12 + 0.6 |q₃| (two cones, tip to tip)
cross      three orthogonal bars: one coordinate ≤ 0.9 in size, the other two ≤ 0.24
bracket    an L: a floor and a wall slab 0.3 thick, 1.1 × 1.1, sharing an edge
=========  =====================================================================

The occupancies are 0 or 1 (a voxel is in or out: its centre decides), float32, in
PyTorch's volume layout (N, C = 1, D, H, W). :func:`voxel_shapes` draws a class-balanced set;
:func:`shape_params` says what was drawn for each shape (for tests and plots).
:func:`soft_voxel_shapes` draws the same solids with partial occupancies: each voxel holds
the share of its f³ sub-voxels (f per axis) whose centres are inside, k/f³ for k = 0…f³,
the way a renderer anti-aliases an edge.
"""

from __future__ import annotations

import math

from .. import backend

__all__ = ["SHAPE_CLASSES", "NUM_SHAPE_CLASSES", "SCALE_RANGE", "voxel_grid", "random_rotations",
           "inside", "voxel_shapes", "soft_voxel_shapes", "shape_params", "voxelize"]

np = backend.numpy

#: The shape classes, in label order.
SHAPE_CLASSES = ("cube", "sphere", "cylinder", "cone", "torus", "hourglass", "cross", "bracket")
NUM_SHAPE_CLASSES = len(SHAPE_CLASSES)
#: The radius s of a shape's bounding ball, in half-grids (1 = the grid's half-width).
SCALE_RANGE = (0.6, 0.95)


def voxel_grid(size):
    """The centres of a size³ grid's voxels in [−1, 1]³: host (size³, 3), C order (d, h, w)."""
    t = (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
    d, h, w = np.meshgrid(t, t, t, indexing="ij")
    return np.stack([d.ravel(), h.ravel(), w.ravel()], axis=1)


def random_rotations(n, gen):
    """n rotation matrices (n, 3, 3), uniform on SO(3): unit quaternions from a 4-D Gaussian.

    A normalised standard normal 4-vector is uniform on the unit sphere S³, and the map
    from unit quaternions to rotations is 2-to-1 and measure-preserving, so the rotations
    are uniform (Haar) on SO(3).
    """
    q = gen.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    a, b, c, d = q.T
    return np.stack([
        np.stack([a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)], -1),
        np.stack([2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)], -1),
        np.stack([2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d], -1),
    ], axis=1)


def inside(name, q):
    """The inside test of the canonical solid ``name`` at points q (..., 3): a boolean array."""
    x, y, z = q[..., 0], q[..., 1], q[..., 2]
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    if name == "cube":
        return np.maximum(np.maximum(ax, ay), az) <= 1 / math.sqrt(3)
    if name == "sphere":
        return x * x + y * y + z * z <= 0.85 ** 2
    if name == "cylinder":
        return (x * x + y * y <= 0.45 ** 2) & (az <= 0.85)
    if name == "cone":
        return (z >= -0.6) & (np.sqrt(x * x + y * y) <= 0.75 * (0.8 - z) / 1.4)
    if name == "torus":
        return (np.sqrt(x * x + y * y) - 0.65) ** 2 + z * z <= 0.27 ** 2
    if name == "hourglass":
        # two cones tip to tip: radius 0.12 + 0.6|z| for |z| ≤ 0.8
        return (az <= 0.8) & (np.sqrt(x * x + y * y) <= 0.12 + 0.6 * az)
    if name == "cross":
        long, thin = 0.9, 0.24
        return (((ax <= long) & (ay <= thin) & (az <= thin))
                | ((ay <= long) & (ax <= thin) & (az <= thin))
                | ((az <= long) & (ax <= thin) & (ay <= thin)))
    if name == "bracket":
        # an L in the (x, z) plane, extruded along y: a floor slab and a wall slab
        half, t = 0.55, 0.3
        in_y = ay <= half
        floor = (x >= -half) & (x <= half) & (z >= -half) & (z <= -half + t)
        wall = (x >= -half) & (x <= -half + t) & (z >= -half) & (z <= half)
        return in_y & (floor | wall)
    raise ValueError(f"unknown shape {name!r}; expected one of {', '.join(SHAPE_CLASSES)}")


def voxelize(names, scales, centres, rotations, size=16):
    """Occupancy grids (n, size, size, size) of float32 for the given placements (host).

    ``names`` (n,) class names, ``scales`` (n,), ``centres`` (n, 3), ``rotations`` (n, 3, 3):
    voxel v of shape i is occupied when inside(names[i], Rᵢᵀ (p_v − cᵢ)/sᵢ).
    """
    p = voxel_grid(size)                                        # (V, 3)
    n = len(names)
    names = np.asarray(names)
    out = np.zeros((n, size ** 3), dtype=np.float32)
    for lo in range(0, n, 256):                                 # chunks: (256, V, 3) float64
        sl = slice(lo, min(n, lo + 256))
        # row vectors: qᵀ = (p − c)ᵀ R / s is Rᵀ (p − c)/s written for rows
        q = np.matmul(p[None] - centres[sl, None, :], rotations[sl])
        q /= scales[sl, None, None]                             # (n_chunk, V, 3)
        for name in set(names[sl].tolist()):
            rows = np.flatnonzero(names[sl] == name)
            out[lo + rows] = inside(name, q[rows])
    return out.reshape(n, size, size, size)


def shape_params(n, seed=0, size=16, classes=SHAPE_CLASSES):
    """What :func:`voxel_shapes` draws for ``n`` shapes and ``seed``: a dict of host arrays.

    ``labels`` (n,) are balanced (label i % K, then shuffled), ``scales`` (n,) uniform on
    :data:`SCALE_RANGE`, ``centres`` (n, 3) uniform on the box that keeps the bounding ball
    inside [−1, 1]³, ``rotations`` (n, 3, 3) uniform on SO(3). One generator, fixed draw
    order: the same seed gives the same shapes on every machine.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"voxel_shapes needs a positive integer number of shapes, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"voxel_shapes needs an integer grid size ≥ 8, got {size!r}")
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if unknown or not classes:
        raise ValueError(f"unknown shape classes {unknown or classes!r}; expected a non-empty "
                         f"subset of {', '.join(SHAPE_CLASSES)}")
    gen = np.random.default_rng(seed)
    k = len(classes)
    labels = gen.permutation(np.arange(n) % k)
    lo, hi = SCALE_RANGE
    scales = gen.uniform(lo, hi, size=n)
    centres = gen.uniform(-1, 1, size=(n, 3)) * (1 - scales)[:, None]
    rotations = random_rotations(n, gen)
    return {"labels": labels, "scales": scales, "centres": centres, "rotations": rotations,
            "classes": tuple(classes)}


def voxel_shapes(n, seed=0, size=16, classes=SHAPE_CLASSES, dtype="float32"):
    """``n`` random solids as occupancy grids: (voxels (n, 1, size, size, size), labels (n,)).

    The voxels are 0/1 values in ``dtype`` on the current backend (G's sigmoid output
    lives in [0, 1] too); the labels are host int64 indices into ``classes``. Deterministic
    for a seed (see :func:`shape_params`); about 8,000 shapes a second at 16³.

    >>> v, y = voxel_shapes(16, seed=0)
    >>> v.shape, sorted(set(y.tolist())) == list(range(8))
    ((16, 1, 16, 16, 16), True)
    """
    prm = shape_params(n, seed, size, classes)
    names = [prm["classes"][i] for i in prm["labels"]]
    vox = voxelize(names, prm["scales"], prm["centres"], prm["rotations"], size)
    return backend.asarray(vox[:, None].astype(dtype)), prm["labels"].astype(np.int64)


def soft_voxel_shapes(n, seed=0, size=16, classes=SHAPE_CLASSES, factor=2, dtype="float32"):
    """The solids of :func:`voxel_shapes` (same n, seed: the same classes, sizes, places and
    turns) with partial occupancies: (voxels (n, 1, size, size, size), labels (n,)).

    Math
    ----
    soft[v] = (1/f³) Σ_{w ⊂ v} inside_k(Rᵀ (p_w − c)/s)   over the f³ sub-voxels w of voxel v

    i.e. the shape voxelised at f·size per axis, then averaged over f×f×f blocks; values
    are k/f³. Where the surface crosses a voxel, the value says how much of it is inside;
    a 0/1 grid only says whether its centre is. (f even: a sub-voxel centre never lies on a
    voxel centre, so soft > 1/2 and the 0/1 grid can disagree on the surface.)

    >>> v, y = soft_voxel_shapes(4, seed=0)
    >>> v.shape, sorted(set((v * 8).astype(int).ravel().tolist())) == list(range(9))
    ((4, 1, 16, 16, 16), True)
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"soft_voxel_shapes needs a positive integer factor (sub-voxels per "
                         f"axis), got {factor!r}")
    prm = shape_params(n, seed, size, classes)
    names = [prm["classes"][i] for i in prm["labels"]]
    out = np.empty((n, size, size, size), dtype=np.float32)
    for lo in range(0, n, 64):                      # chunks: the fine grids are f³ larger
        sl = slice(lo, min(n, lo + 64))
        fine = voxelize(names[sl], prm["scales"][sl], prm["centres"][sl],
                        prm["rotations"][sl], size * factor)
        m = fine.shape[0]
        out[sl] = fine.reshape(m, size, factor, size, factor, size, factor).mean(axis=(2, 4, 6))
    return backend.asarray(out[:, None].astype(dtype)), prm["labels"].astype(np.int64)
