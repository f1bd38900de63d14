"""Shortcuts taken for speed give exactly the answer of the plain computation.

``backend.all_finite`` tests arrays of 4096 elements or more with one dot product, and
arrays of at most 64 with Python's sum of their values, and falls back to the
elementwise test only when that number is not finite; the answer must be the elementwise
one in every case, including sums that overflow, and without warnings (warnings are
errors here).
"""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygan import backend


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@given(n=st.integers(4096, 6000), bad=st.sampled_from([None, np.nan, np.inf, -np.inf]),
       where=st.floats(0, 1), huge=st.booleans(), seed=st.integers(0, 100))
def test_all_finite_on_large_arrays_is_the_elementwise_answer(dtype, n, bad, where, huge,
                                                              seed):
    x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    if huge:  # finite, but the sum of squares overflows: the fallback decides
        x[: n // 2] = np.finfo(dtype).max / 2
    if bad is not None:
        x[int(where * (n - 1))] = bad
    assert backend.all_finite(x) is bool(np.isfinite(x).all())
    # the same on a channels-last NCHW view (raveled without a copy) and a strided one
    y = x[:4096].reshape(4, 4, 16, 16).transpose(0, 3, 1, 2)
    assert backend.all_finite(y) is bool(np.isfinite(y).all())
    z = x[::1] if n < 8192 else x[::2]
    assert backend.all_finite(z) is bool(np.isfinite(z).all())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@given(n=st.integers(1, 80), bad=st.sampled_from([None, np.nan, np.inf, -np.inf]),
       where=st.floats(0, 1), huge=st.booleans(), seed=st.integers(0, 100))
@example(n=64, bad=-np.inf, where=1.0, huge=True, seed=0)  # the largest Python-sum case
def test_all_finite_on_tiny_arrays_is_the_elementwise_answer(dtype, n, bad, where, huge, seed):
    x = np.random.default_rng(seed).standard_normal((n, 1)).astype(dtype)
    if huge:  # finite values whose sum overflows (float64), or nearly (float32)
        x[:] = np.finfo(dtype).max
    if bad is not None:
        x[int(where * (n - 1))] = bad
    assert backend.all_finite(x) is bool(np.isfinite(x).all())
    assert backend.all_finite(x.T) is bool(np.isfinite(x).all())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@given(alpha=st.floats(0.001, 0.999), seed=st.integers(0, 100))
def test_leaky_relu_as_x_times_slope_is_exactly_max_x_alpha_x(dtype, alpha, seed):
    """LeakyReLU computes slope = max([x > 0], α) and out = x·slope: bit for bit
    max(x, αx), signed zeros and subnormals included, and a slope of exactly 1 or α."""
    import tinygan as tg

    x = np.random.default_rng(seed).standard_normal(257).astype(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    x[:6] = [0.0, -0.0, tiny, -tiny, np.finfo(dtype).max, -np.finfo(dtype).max]
    layer = tg.LeakyReLU(alpha).astype(dtype)
    out = layer.forward(x)
    a = x.dtype.type(alpha)
    want = np.maximum(x, a * x)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))
    assert set(np.unique(layer.cache)) <= {x.dtype.type(1), a}
