"""The voxel shapes (tinygan.data.voxels) and the voxel metrics (tinygan.metrics):
deterministic, balanced, placed inside the grid, the solids they claim to be; centring,
nearest-shape IoU and the shape classifier's contract."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import backend
from tinygan import metrics as M
from tinygan.data import voxels as V

SHAPES = V.voxel_shapes(64, seed=3)  # 8 of each class


def test_same_seed_same_shapes_other_seed_other_shapes():
    a, ya = V.voxel_shapes(24, seed=5)
    b, yb = V.voxel_shapes(24, seed=5)
    c, _ = V.voxel_shapes(24, seed=6)
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(backend.to_numpy(a), backend.to_numpy(c))


def test_shapes_dtype_values_and_balanced_classes():
    v, y = SHAPES
    assert v.shape == (64, 1, 16, 16, 16) and v.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(backend.to_numpy(v))) == {0.0, 1.0}
    assert np.bincount(y, minlength=8).tolist() == [8] * 8
    assert (backend.to_numpy(v).reshape(64, -1).sum(1) > 30).all()  # no shape is a speck


@pytest.mark.parametrize("name", V.SHAPE_CLASSES)
def test_each_canonical_solid_fits_the_unit_ball_and_is_solid(name):
    """inside(q) ⇒ ‖q‖ ≤ 1 (so a shape of scale s stays within s of its centre), and the
    solid fills a fair share of the ball (no empty or degenerate class)."""
    q = np.random.default_rng(0).uniform(-1.3, 1.3, (40000, 3))
    inside = V.inside(name, q)
    assert np.linalg.norm(q[inside], axis=1).max() <= 1.0
    share = inside.mean() * 2.6 ** 3 / (4 / 3 * np.pi)  # of the unit ball's volume
    assert 0.08 < share < 0.7, share


def test_placement_keeps_every_shape_inside_its_ball_inside_the_grid():
    prm = V.shape_params(64, seed=3)
    v = backend.to_numpy(SHAPES[0]).reshape(64, -1)
    p = V.voxel_grid(16)
    for i in range(64):
        s, c = prm["scales"][i], prm["centres"][i]
        assert np.all(np.abs(c) + s <= 1 + 1e-12)            # the ball fits in [−1, 1]³
        occupied = p[v[i] > 0]
        assert np.linalg.norm(occupied - c, axis=1).max() <= s + 1e-12
    assert V.SCALE_RANGE[0] <= prm["scales"].min() and prm["scales"].max() <= V.SCALE_RANGE[1]


def test_rotations_are_rotations_and_not_biased():
    R = V.random_rotations(4000, np.random.default_rng(0))
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    # Haar measure: E[R] = 0, and every column is uniform on the sphere (E[r rᵀ] = I/3)
    assert np.abs(R.mean(0)).max() < 0.05
    col = R[:, :, 0]
    np.testing.assert_allclose(col.T @ col / len(col), np.eye(3) / 3, atol=0.03)


def test_a_sphere_has_the_volume_of_a_sphere():
    """Voxelised at the centres, a sphere of radius r voxels holds ≈ 4/3 π r³ voxels."""
    r = 0.85 * 0.9  # canonical radius × scale, in half-grids
    v = V.voxelize(["sphere"], np.array([0.9]), np.zeros((1, 3)), np.eye(3)[None], size=16)
    assert v.sum() == pytest.approx(4 / 3 * np.pi * (r * 8) ** 3, rel=0.03)


def test_rotation_turns_the_shape():
    """A cylinder along z, turned a quarter around x, lies along y (it is not symmetric)."""
    turn = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])      # maps z to y
    args = (["cylinder", "cylinder"], np.array([0.9, 0.9]), np.zeros((2, 3)))
    up, turned = V.voxelize(*args, np.stack([np.eye(3), turn]), size=16)
    extent = lambda v, axis: np.ptp(np.nonzero(v)[axis])  # noqa: E731
    assert extent(up, 2) > extent(up, 1) + 3 and extent(turned, 1) > extent(turned, 2) + 3


def test_a_cone_points_its_apex_along_r_e3():
    """Placed by R, the canonical solid's axis q₃ lies along R e₃ (voxel p is inside when
    Rᵀ(p − c)/s is): a cone, whose mass sits on its base side (−q₃), turned by a quarter
    turn that is not its own inverse, has its centre of mass on the side of −R e₃."""
    turn = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])      # R e₃ = −e₂ (the h axis)
    assert not np.allclose(turn, turn.T)
    cone = V.voxelize(["cone"], np.array([0.9]), np.zeros((1, 3)), turn[None], size=16)[0]
    centre = np.array(np.nonzero(cone)).mean(axis=1) - 7.5     # voxel indices → centred
    axis = turn @ np.array([0.0, 0, 1])
    assert centre @ axis < -1.0 and abs(centre[0]) < 0.5 and abs(centre[2]) < 0.5


@pytest.mark.parametrize("size", [8, 9, 16])
def test_voxel_centres_are_symmetric_and_evenly_spaced(size):
    """The centres are (i + ½)·2/size − 1: the grid is symmetric about 0, so a centred
    solid that is symmetric (a sphere, an upright cube) voxelises symmetrically."""
    p = V.voxel_grid(size)
    t = np.unique(p[:, 0])
    np.testing.assert_allclose(t, (np.arange(size) + 0.5) * 2 / size - 1, atol=1e-15)
    np.testing.assert_allclose(t, -t[::-1], atol=1e-15)
    ball = V.voxelize(["sphere"], np.array([0.8]), np.zeros((1, 3)), np.eye(3)[None], size)[0]
    for axis in range(3):
        np.testing.assert_array_equal(ball, np.flip(ball, axis))


def test_errors():
    with pytest.raises(ValueError, match="positive integer number of shapes"):
        V.voxel_shapes(0)
    with pytest.raises(ValueError, match="grid size ≥ 8"):
        V.voxel_shapes(4, size=4)
    with pytest.raises(ValueError, match="unknown shape classes"):
        V.voxel_shapes(4, classes=("cube", "blob"))
    with pytest.raises(ValueError, match="unknown shape 'blob'"):
        V.inside("blob", np.zeros((1, 3)))


def test_soft_shapes_are_each_voxels_share_of_inside_sub_voxels():
    # the defining sum, computed voxel by voxel from the sub-voxel centres (not by
    # voxelising at 32³ and averaging blocks, as the function does)
    n, f, S = 16, 2, 16
    soft, y = V.soft_voxel_shapes(n, seed=7, factor=f)
    soft = backend.to_numpy(soft)
    assert soft.shape == (n, 1, S, S, S) and soft.dtype == np.float32
    np.testing.assert_array_equal(y, V.voxel_shapes(n, seed=7)[1])
    prm = V.shape_params(n, seed=7)
    gen = np.random.default_rng(0)
    rim = np.argwhere((soft > 0) & (soft < 1))
    for i, _, a, b, c in np.concatenate([rim[gen.choice(len(rim), 40)],
                                         np.c_[gen.integers(0, n, (20, 1)), np.zeros((20, 1), int),
                                               gen.integers(0, S, (20, 3))]]):
        offsets = (np.indices((f, f, f)).reshape(3, -1).T + 0.5) / f      # inside the voxel
        p = -1 + 2 * (np.array([a, b, c]) + offsets) / S                  # (f³, 3) in [−1, 1]³
        q = (p - prm["centres"][i]) @ prm["rotations"][i] / prm["scales"][i]
        name = prm["classes"][prm["labels"][i]]
        assert soft[i, 0, a, b, c] == pytest.approx(V.inside(name, q[None])[0].mean())
    assert 0.1 < rim.shape[0] / backend.to_numpy(V.voxel_shapes(n, seed=7)[0]).sum() < 1.5
    # one sub-voxel per voxel is the 0/1 grid itself
    np.testing.assert_array_equal(backend.to_numpy(V.soft_voxel_shapes(n, seed=7, factor=1)[0]),
                                  backend.to_numpy(V.voxel_shapes(n, seed=7)[0]))
    with pytest.raises(ValueError, match="positive integer factor"):
        V.soft_voxel_shapes(2, factor=0)


# -- metrics -----------------------------------------------------------------------------
@given(shift=st.tuples(*[st.integers(-3, 3)] * 3), k=st.integers(0, 63))
def test_centring_undoes_any_shift_that_keeps_the_shape_in_the_grid(shift, k):
    v = backend.to_numpy(SHAPES[0])[k:k + 1]
    idx = np.nonzero(v[0, 0])
    lo, hi = np.array([i.min() for i in idx]), np.array([i.max() for i in idx])
    sh = np.clip(shift, -lo, 15 - hi)                    # stays inside the 16³ grid
    moved = np.roll(v, tuple(sh), axis=(2, 3, 4))
    a, b = backend.to_numpy(M.centre_voxels(v)), backend.to_numpy(M.centre_voxels(moved))
    np.testing.assert_array_equal(a, b)
    assert a.sum() == v.sum()  # these shapes fit after centring too: nothing cut off


def test_centring_puts_the_centre_of_mass_in_the_middle_and_keeps_empty_grids():
    c = backend.to_numpy(M.centre_voxels(SHAPES[0]))[:, 0]
    t = np.arange(16) + 0.5
    for axes, axis in (((1, 2), 0), ((0, 2), 1), ((0, 1), 2)):
        com = (c.sum(axis=tuple(a + 1 for a in axes)) * t).sum(1) / c.sum((1, 2, 3))
        assert np.abs(com - 8).max() <= 0.5 + 1e-9, axis
    empty = np.zeros((2, 1, 16, 16, 16), dtype="float32")
    assert not backend.to_numpy(M.centre_voxels(empty)).any()


def test_nearest_iou_against_brute_force():
    gen = np.random.default_rng(0)
    train = (gen.random((30, 1, 4, 4, 4)) < 0.3).astype("float32")
    samples = np.concatenate([train[[4, 17]], (gen.random((5, 1, 4, 4, 4)) < 0.3),
                              np.zeros((1, 1, 4, 4, 4))]).astype("float32")
    best, where = M.nearest_iou(samples, train, chunk=3)
    for i, s in enumerate(samples.reshape(len(samples), -1) > 0.5):
        ious = []
        for t in train.reshape(30, -1) > 0.5:
            union = (s | t).sum()
            ious.append((s & t).sum() / union if union else 1.0)
        assert best[i] == pytest.approx(max(ious)) and ious[where[i]] == best[i]
    assert best[0] == best[1] == 1.0 and where[:2].tolist() == [4, 17]  # copies are found


def test_binarize_and_bernoulli_noise():
    v = np.array([0.2, 0.5, 0.51, 0.9], dtype="float32")
    assert M.binarize(v).tolist() == [0, 0, 1, 1] and M.binarize(v).dtype == v.dtype
    noise = backend.to_numpy(M.bernoulli_noise(50, size=8, p=0.1, seed=1))
    assert noise.shape == (50, 1, 8, 8, 8) and abs(noise.mean() - 0.1) < 0.01


def test_shape_classifier_contract():
    clf = M.ShapeClassifier(num_classes=8)
    v, y = SHAPES
    f, p = clf.features_and_probs(v[:5])
    assert f.shape == (5, 64) and p.shape == (5, 8) and f.dtype == p.dtype == np.float64
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert all(layer.cache is None for layer in clf.net.layers)  # inference caches nothing
    with pytest.raises(ValueError, match=r"expected voxels of shape \(N, 1, 16, 16, 16\)"):
        clf.predict(np.zeros((2, 1, 8, 8, 8), dtype="float32"))
