"""The ring and grid mixtures, the mode metric on hand-built sample sets, and the Pack layer."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import backend
from tinygan.data.mixtures import grid, mixture, ring
from tinygan.gans.pacgan import Pack, packed
from tinygan.gradcheck import check_layer
from tinygan.modes import mode_stats


def test_ring_and_grid_match_the_pacgan_protocol():
    r, g = ring(), grid()
    assert r.num_modes == 8 and r.std == 0.01
    np.testing.assert_allclose(np.linalg.norm(r.means, axis=1), 1.0)
    np.testing.assert_allclose(r.means[2], [0.0, 1.0], atol=1e-15)
    assert g.num_modes == 25 and g.std == 0.05
    assert sorted(set(g.means[:, 0])) == [-4, -2, 0, 2, 4]
    assert len({tuple(m) for m in g.means}) == 25
    with pytest.raises(ValueError, match="unknown mixture"):
        mixture("spiral")


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_samples_of_the_mixture_capture_every_mode_with_high_quality(xp, name):
    mix = mixture(name)
    x = mix.sample(2500, backend.rng(0))
    assert x.shape == (2500, 2) and x.dtype == np.float32
    s = mode_stats(x, mix.means, mix.std)
    assert s.modes == mix.num_modes
    assert s.high_quality > 0.98  # a 2-D Gaussian puts 98.9% of its mass within 3σ
    assert s.kl < 0.02


def test_all_samples_on_one_mode_capture_one_mode():
    mix = ring()
    x = mix.means[3] + 0.001 * np.random.default_rng(0).standard_normal((2500, 2))
    s = mode_stats(x, mix.means, mix.std)
    assert s.modes == 1 and s.high_quality == 1.0
    assert s.counts[3] == 2500
    assert s.kl == pytest.approx(math.log(8))


def test_a_uniform_histogram_has_zero_kl():
    mix = grid()
    x = np.repeat(mix.means, 100, axis=0)  # exactly 100 samples on each of the 25 means
    s = mode_stats(x, mix.means, mix.std)
    assert s.modes == 25 and s.high_quality == 1.0
    assert s.kl == pytest.approx(0.0, abs=1e-15)


def test_far_samples_are_not_high_quality():
    mix = ring()
    far = np.array([[100.0, 100.0], [0.0, 0.0], [1.0 + 3.5 * 0.01, 0.0]])
    s = mode_stats(far, mix.means, mix.std)
    assert s.modes == 0 and s.high_quality == 0.0 and s.kl == math.inf
    near = np.array([[1.0 + 2.5 * 0.01, 0.0]])  # 2.5σ from mode 0: high quality
    assert mode_stats(near, mix.means, mix.std).modes == 1


@given(modes=st.lists(st.integers(0, 24), min_size=1, max_size=60), seed=st.integers(0, 999))
def test_modes_captured_counts_the_distinct_modes_hit(modes, seed):
    """Samples within 2.9σ of chosen means: captured = the distinct chosen modes."""
    mix = grid()
    gen = np.random.default_rng(seed)
    direction = gen.standard_normal((len(modes), 2))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = gen.uniform(0, 2.9, (len(modes), 1)) * mix.std
    x = mix.means[modes] + radius * direction
    s = mode_stats(x, mix.means, mix.std)
    assert s.modes == len(set(modes)) and s.high_quality == 1.0
    np.testing.assert_array_equal(s.counts, np.bincount(modes, minlength=25))


def test_mode_stats_rejects_bad_input():
    mix = ring()
    with pytest.raises(ValueError, match=r"samples \(N, D\)"):
        mode_stats(np.zeros((5, 3)), mix.means, mix.std)
    with pytest.raises(ValueError, match="not finite"):
        mode_stats(np.full((2, 2), np.nan), mix.means, mix.std)
    with pytest.raises(ValueError, match="positive std"):
        mode_stats(np.zeros((2, 2)), mix.means, 0.0)


@given(m=st.integers(1, 4), n=st.integers(1, 5), d=st.integers(1, 3),
       spatial=st.lists(st.integers(1, 3), min_size=0, max_size=3), seed=st.integers(0, 999))
def test_pack_concatenates_m_samples_and_passes_gradcheck(xp, m, n, d, spatial, seed):
    # rank 0: (N·m, D) rows; rank 1-3: (N·m, C = d, *spatial) maps packed as channels
    shape = (n * m, d) + tuple(spatial)
    x = xp.asarray(np.random.default_rng(seed).standard_normal(shape))
    layer = Pack(m)
    out = layer.forward(x)
    assert out.shape == (n, m * d) + tuple(spatial)
    np.testing.assert_array_equal(backend.to_numpy(out[0, :d]), backend.to_numpy(x[0]))
    if m > 1:
        np.testing.assert_array_equal(backend.to_numpy(out[0, d:2 * d]), backend.to_numpy(x[1]))
    np.testing.assert_array_equal(backend.to_numpy(out[n - 1, (m - 1) * d:]),
                                  backend.to_numpy(x[n * m - 1]))
    layer.clear_cache()
    report = check_layer(layer, x, seed=seed)
    assert report.max_rel_error < 1e-6, str(report)


def test_pack_rejects_a_batch_that_is_not_a_multiple_of_m():
    with pytest.raises(ValueError, match="multiple of m = 3"):
        Pack(3).forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"expected \(N·m, D\) or \(N·m, C, …\) samples, got "
                                         r"shape \(4,\)"):
        Pack(2).forward(np.zeros(4))
    with pytest.raises(ValueError, match="positive integer"):
        Pack(0)


def test_packed_discriminator_sees_one_row_per_pack():
    from tinygan.layers import Dense
    from tinygan.models import Sequential

    D = packed(Sequential(Dense(6, 1, rng=backend.rng(0))), 3)
    assert repr(D) == "Sequential(Pack(3), Dense(6→1))"
    assert D.forward(np.zeros((12, 2), dtype="float32")).shape == (4, 1)
