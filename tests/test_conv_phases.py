"""The stride-phase col2im and the conv layers' kept work arrays.

col2im sums, for each of the S·S output phases, the ⌈K/S⌉² tap planes that reach it
(derivations/03_transposed_convolution.md#stride-phases) instead of scatter-adding all
K² planes onto a zeroed canvas and cropping it. Checked here: the phase plan lists every
(output, window, tap) triple of the scatter exactly once; col2im equals the scatter-add
it replaced (a loop oracle) with the crop and the bias folded in; it is the adjoint of
im2col; and both layers, which use it for ConvTranspose2d's forward and Conv2d's input
gradient, pass float64 gradient checks and match PyTorch at the configurations where
phases are uneven (K < S, K not a multiple of S, P ≥ K, output_padding). The work arrays
the layers keep between calls must never leak into what a caller holds.
"""

from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from tinygan.gradcheck import check_layer
from tinygan.layers import conv as conv_module

from . import test_conv_nd as nd
from .conftest import needs_torch
from .test_conv import _matches_torch, make_conv, make_convT

seeds = st.integers(0, 2**31 - 1)


@st.composite
def phase_axes(draw):
    """(K, S, P, n_windows, n_out) for one axis: any kernel, stride and crop, and an image
    size that fits inside the uncropped canvas S(n − 1) + K (some rows may get no tap)."""
    K, S, P = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(0, 4))
    n_windows = draw(st.integers(1, 5))
    full = S * (n_windows - 1) + K
    n_out = draw(st.integers(1, max(1, full - P + S)))  # up to S − 1 rows past the canvas
    return K, S, P, n_windows, n_out


@given(axis=phase_axes())
@example(axis=(4, 2, 1, 7, 14))   # DCGAN: 7 → 14
@example(axis=(1, 3, 0, 3, 9))    # K < S: two of the three phases get no tap
@example(axis=(5, 2, 3, 4, 5))    # P > K/2: the crop removes whole tap rows
def test_phase_plan_lists_every_tap_of_the_scatter_once(axis):
    K, S, P, n_windows, n_out = axis
    want = sorted((u, i, p) for i in range(n_windows) for p in range(K)
                  for u in [S * i + p - P] if 0 <= u < n_out)
    got = []
    for r, M, terms in conv_module._phase_plan(K, S, P, n_windows, n_out):
        assert M == len(range(r, n_out, S))
        for p, m_lo, m_hi, i_lo in terms:
            assert p % S == (r + P) % S  # a phase only ever reads taps of its residue
            got += [(S * m + r, i_lo + m - m_lo, p) for m in range(m_lo, m_hi)]
    assert sorted(got) == want


def scatter_add_oracle(cols6, K, S, P, h_img, w_img, bias):
    """The formulation col2im replaced: zero canvas, K² scatter-adds, crop P, add bias."""
    N, h, w, _, _, C = cols6.shape
    canvas = np.zeros((N, max(S * (h - 1) + K, P + h_img), max(S * (w - 1) + K, P + w_img), C))
    for i in range(h):
        for j in range(w):
            for p in range(K):
                for q in range(K):
                    canvas[:, S * i + p, S * j + q, :] += cols6[:, i, j, p, q, :]
    out = canvas[:, P:P + h_img, P:P + w_img, :]
    return out if bias is None else out + bias


@given(ax_h=phase_axes(), ax_w=st.integers(1, 4), C=st.integers(1, 3), bias=st.booleans(),
       slab=st.integers(1, 3), seed=seeds)
@example(ax_h=(4, 2, 1, 3, 6), ax_w=3, C=2, bias=True, slab=2, seed=0)
def test_col2im_equals_the_scatter_add_it_replaced(ax_h, ax_w, C, bias, slab, seed):
    """Also in slabs of ``slab`` of the 3 images (the CPU's cache blocking; the slabs of a
    DCGAN layer are 2 MiB): the same bits as the whole batch at once."""
    K, S, P, h, h_img = ax_h
    w = ax_w
    w_img = max(1, S * (w - 1) + K - 2 * P)  # the transposed convolution's width, O = 0
    gen = np.random.default_rng(seed)
    cols6 = gen.standard_normal((3, h, w, K, K, C))
    b = gen.standard_normal(C) if bias else None
    got = {}
    for n in (slab, 3):
        old, conv_module._SLAB_BYTES = conv_module._SLAB_BYTES, n * cols6[0].nbytes
        try:
            got[n] = conv_module.col2im(cols6.reshape(3 * h * w, K * K * C), K, S, (h, w),
                                        (h_img, w_img), padding=P, bias=b)
        finally:
            conv_module._SLAB_BYTES = old
    np.testing.assert_allclose(got[slab], scatter_add_oracle(cols6, K, S, P, h_img, w_img, b),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got[slab], got[3])


@given(ax=phase_axes(), C=st.integers(1, 3), seed=seeds)
def test_col2im_is_the_adjoint_of_im2col_of_the_padded_image(xp, ax, C, seed):
    """⟨im2col(pad_P(a)), c⟩ = ⟨a, col2im(c, padding=P)⟩ when a fills the cropped canvas."""
    K, S, P, n, _ = ax
    size = S * (n - 1) + K - 2 * P  # the image whose padding the windows exactly cover
    if size < 1:
        return  # (a valid draw for the plan test; no image here)
    gen = np.random.default_rng(seed)
    a = gen.standard_normal((2, size, size, C))
    c = gen.standard_normal((2 * n * n, K * K * C))
    a_pad = np.pad(a, ((0, 0), (P, P), (P, P), (0, 0)))
    cols = conv_module.im2col(xp.asarray(a_pad), K, S, (n, n))
    img = conv_module.col2im(xp.asarray(c), K, S, (n, n), (size, size), padding=P)
    lhs = float((backend.to_numpy(cols) * c).sum())
    assert lhs == pytest.approx(float((a * backend.to_numpy(img)).sum()), rel=1e-10, abs=1e-10)


# -- the layers at uneven phases: float64 gradient checks and PyTorch --------------------------
@st.composite
def uneven_convT(draw):
    """(N, C_in, C_out, H, W, K, S, P, O) with K up to 6, S up to 4, P up to K."""
    K, S = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    O = draw(st.integers(0, 3)) % S
    P_max = (S * (min(H, W) - 1) + K + O - 1) // 2
    P = draw(st.integers(0, 4)) % (P_max + 1)
    return 1, draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W, K, S, P, O


UNEVEN = [(1, 2, 2, 3, 2, 1, 3, 0, 2),   # K < S: phases with no tap get only the bias
          (1, 2, 3, 2, 3, 5, 2, 3, 1),   # K odd, P > K/2, output_padding
          (2, 3, 2, 3, 3, 4, 2, 1, 0),   # DCGAN's k4 s2 p1
          (1, 2, 2, 2, 2, 3, 4, 1, 3)]   # S > K with output_padding 3


@given(cfg=uneven_convT(), seed=seeds)
@example(cfg=UNEVEN[0], seed=1)
@example(cfg=UNEVEN[1], seed=2)
def test_conv_transpose2d_gradcheck_at_uneven_phases(xp, cfg, seed):
    N, C_in, C_out, H, W, K, S, P, O = cfg
    layer = make_convT(C_in, C_out, K, S, P, O, seed)
    x = xp.asarray(np.random.default_rng(seed).uniform(-2, 2, (N, C_in, H, W)))
    report = check_layer(layer, x, seed=seed, max_checks=40)
    assert report.max_rel_error < 1e-6, str(report)


@given(cfg=uneven_convT(), seed=seeds)
@example(cfg=UNEVEN[3], seed=3)
def test_conv2d_input_gradient_at_uneven_phases(xp, cfg, seed):
    """Conv2d's dx is col2im with the conv's padding: rows past the last window get 0."""
    N, C_in, C_out, H, W, K, S, P, O = cfg
    size = S * (H - 1) + K - 2 * P + O  # an input size that this conv maps to H (+ O rows)
    layer = make_conv(C_out, C_in, K, S, P, seed)
    x = xp.asarray(np.random.default_rng(seed).uniform(-2, 2, (N, C_out, size, size + O)))
    report = check_layer(layer, x, seed=seed, max_checks=40)
    assert report.max_rel_error < 1e-6, str(report)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("cfg", UNEVEN)
def test_uneven_phases_match_torch(cfg):
    import torch

    N, C_in, C_out, H, W, K, S, P, O = cfg
    x = np.random.default_rng(0).standard_normal((N, C_in, H, W))
    _matches_torch(make_convT(C_in, C_out, K, S, P, O, seed=0), x,
                   lambda tx, tW, tb: torch.nn.functional.conv_transpose2d(
                       tx, tW, tb, stride=S, padding=P, output_padding=O), seed=0)
    size = S * (H - 1) + K - 2 * P + O
    x = np.random.default_rng(1).standard_normal((N, C_out, size, size))
    _matches_torch(make_conv(C_out, C_in, K, S, P, seed=1), x,
                   lambda tx, tW, tb: torch.nn.functional.conv2d(tx, tW, tb, stride=S,
                                                                 padding=P), seed=1)


# -- work arrays: kept between calls, never handed out --------------------------------------
def _pair(seed=0):
    r = backend.rng(seed)
    return (tg.ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=r, dtype="float64"),
            tg.Conv2d(2, 3, 4, stride=2, padding=1, rng=r, dtype="float64"))


def test_outputs_and_input_gradients_are_never_work_arrays(xp):
    """A second call must not overwrite what the first one returned."""
    gen = np.random.default_rng(0)
    for layer, shape in zip(_pair(), [(2, 3, 4, 4), (2, 2, 8, 8)]):
        x1, x2 = (xp.asarray(gen.standard_normal(shape)) for _ in range(2))
        y1 = layer.forward(x1)
        dx1 = layer.backward(xp.asarray(gen.standard_normal(y1.shape)))
        keep_y, keep_dx = backend.to_numpy(y1).copy(), backend.to_numpy(dx1).copy()
        y2 = layer.forward(x2)
        layer.backward(xp.asarray(gen.standard_normal(y2.shape)))
        np.testing.assert_array_equal(backend.to_numpy(y1), keep_y)
        np.testing.assert_array_equal(backend.to_numpy(dx1), keep_dx)


def test_kept_canvases_start_clean_for_every_call(xp):
    """The padded canvases keep only their zero border: after a call on huge values, a
    call on new values (another batch size, another image size, float32) gives what a
    fresh layer gives, bit for bit."""
    gen = np.random.default_rng(1)
    for make, shape in ((lambda: _pair(3)[0], (2, 3, 4, 4)), (lambda: _pair(3)[1], (2, 2, 8, 8))):
        used, fresh = make(), make()
        big = xp.asarray(1e6 * gen.standard_normal((3,) + shape[1:]))
        used.backward(xp.asarray(gen.standard_normal(used.forward(big).shape)))
        for n, shrink, dtype in ((2, 0, "float64"), (3, 0, "float64"), (2, 1, "float64"),
                                 (2, 0, "float32")):
            if dtype == "float32":
                used.astype(dtype)
                fresh.astype(dtype)
            size = tuple(d - shrink for d in shape[2:])
            x = xp.asarray(gen.standard_normal((n, shape[1]) + size), dtype=dtype)
            y_used = used.forward(x)
            dout = xp.asarray(gen.standard_normal(y_used.shape), dtype=dtype)
            dx_used = used.backward(dout)
            y_fresh = fresh.forward(x)
            dx_fresh = fresh.backward(dout)
            np.testing.assert_array_equal(backend.to_numpy(y_used), backend.to_numpy(y_fresh))
            np.testing.assert_array_equal(backend.to_numpy(dx_used), backend.to_numpy(dx_fresh))


@pytest.mark.parametrize("make, shape", [
    (lambda r: tg.Conv2d(2, 3, 4, stride=2, padding=1, rng=r, dtype="float64"), (2, 2, 8, 8)),
    (lambda r: tg.ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=r, dtype="float64"),
     (2, 3, 4, 4)),
    (lambda r: tg.LeakyReLU(0.2), (2, 3, 4, 4)),
    (lambda r: tg.ReLU(), (2, 3, 4, 4)),
    (lambda r: tg.BatchNorm(3, dtype="float64"), (2, 3, 4, 4)),
    (lambda r: tg.BatchNorm(3, dtype="float64").eval(), (2, 3, 4, 4)),
], ids=["conv", "convT", "leaky", "relu", "bn", "bn-eval"])
def test_a_pending_cache_keeps_its_arrays_through_other_forwards(xp, make, shape):
    """forward(x₁), then a forward of x₂ inside no_grad (a sample drawn mid-step) or a
    second training forward that the cache refuses, then backward(dout): the gradients
    are x₁'s, bit for bit. What a cache holds may live in an array the layer keeps
    between calls (Conv2d's windows, the activations' slope, BatchNorm's x − μ), and a
    forward must not rewrite it while a cache holds it; Conv2d's did, and its weight
    gradient was x₂'s."""
    from tinygan.layers.base import no_grad

    gen = np.random.default_rng(7)
    x1, x2 = (xp.asarray(gen.standard_normal(shape)) for _ in range(2))
    ref, layer = make(backend.rng(0)), make(backend.rng(0))
    dout = xp.asarray(gen.standard_normal(ref.forward(x1).shape))
    want = backend.to_numpy(ref.backward(dout))
    for interrupt in ("no_grad", "refused"):
        layer.zero_grad()
        layer.forward(x1)
        if interrupt == "no_grad":
            with no_grad(layer):
                layer.forward(x2)
        elif layer.training:
            with pytest.raises(RuntimeError, match="called again before backward"):
                layer.forward(x2)
        got = backend.to_numpy(layer.backward(dout))
        np.testing.assert_array_equal(got, want, err_msg=interrupt)
        for k, g in layer.grads.items():
            np.testing.assert_array_equal(backend.to_numpy(g), backend.to_numpy(ref.grads[k]),
                                          err_msg=f"{interrupt}: grad of {k}")


# -- tap-major planes: the multiply before col2im written one (rows, C) plane per tap -------
@st.composite
def nd_geometry(draw):
    """(axes, C, N): ``rank`` (K, S, P, n_windows, n_out) axes, as phase_axes draws them."""
    rank = draw(st.integers(1, 3))
    return (draw(st.lists(phase_axes(), min_size=rank, max_size=rank)),
            draw(st.integers(1, 3)), draw(st.integers(1, 3)))


@given(geo=nd_geometry(), bias=st.booleans(), seed=seeds)
@example(geo=([(4, 2, 1, 7, 14)] * 2, 2, 2), bias=True, seed=0)   # DCGAN's 7 → 14
def test_col2im_from_tap_major_planes_is_the_same_image(geo, bias, seed):
    """The same numbers laid out (∏K, rows, C) give the same image, bit for bit: every
    phase adds the same terms in the same order, only where they are read from moves."""
    axes, C, N = geo
    K, S, P, n, img = (tuple(a[i] for a in axes) for i in range(5))
    T, rows = int(np.prod(K)), N * int(np.prod(n))
    gen = np.random.default_rng(seed)
    cols = gen.standard_normal((rows, T * C))
    planes = np.ascontiguousarray(cols.reshape(rows, T, C).transpose(1, 0, 2))
    b = gen.standard_normal(C) if bias else None
    want = conv_module.col2im(cols, K, S, n, img, padding=P, bias=b)
    got = conv_module.col2im(planes, K, S, n, img, padding=P, bias=b, taps_first=True)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("rank", [1, 2, 3])
@given(data=st.data(), seed=seeds)
def test_layers_on_tap_major_planes_pass_gradchecks_and_match_torch(rank, data, seed):
    """Every layer with the planes forced (_TAPS_MIN_ROW = 1): ConvTransposeNd's forward and
    ConvNd's input gradient take them, at hypothesis-drawn K, S, P, O per axis."""
    transposed = data.draw(st.booleans())
    cfg = data.draw(nd.convT_nd(rank, max_size=3 if rank < 3 else 2) if transposed
                    else nd.conv_nd(rank, max_extra=3 if rank < 3 else 2))
    with mock.patch.object(conv_module, "_TAPS_MIN_ROW", 1):
        nd._gradcheck(np, cfg, transposed, seed)
        try:
            import torch  # noqa: F401
        except ImportError:
            return  # the cross-check below needs torch; the gradcheck above ran
        nd._matches_torch(cfg, transposed, seed, bias=True)


@pytest.mark.parametrize("make, shape, planes", [
    (lambda: tg.ConvTranspose2d(128, 64, 4, stride=2, padding=1, rng=backend.rng(0)),
     (2, 128, 7, 7), True),                        # DCGAN's G: forward on planes
    (lambda: tg.Conv2d(64, 128, 4, stride=2, padding=1, rng=backend.rng(0)),
     (2, 64, 14, 14), True),                       # DCGAN's D: input gradient on planes
    (lambda: tg.ConvTranspose2d(64, 1, 4, stride=2, padding=1, rng=backend.rng(0)),
     (2, 64, 14, 14), False),                      # one output channel: one multiply
    (lambda: tg.Conv2d(1, 64, 4, stride=2, padding=1, rng=backend.rng(0)),
     (2, 1, 28, 28), False),
    (lambda: tg.ConvTranspose3d(32, 16, 4, stride=2, padding=1, rng=backend.rng(0)),
     (2, 32, 4, 4, 4), True),                      # 3D-GAN's G: 64 taps × 16 channels
    (lambda: tg.ConvTranspose2d(128, 16, 4, stride=2, padding=1, rng=backend.rng(0)),
     (2, 128, 7, 7), False)])                      # 16 taps × 16: one multiply
def test_which_layers_take_tap_major_planes(make, shape, planes):
    layer = make()
    x = backend.xp().asarray(np.random.default_rng(0).standard_normal(shape), "float32")
    out = layer.forward(x)
    layer.backward(backend.xp().ones_like(out))
    assert ("planes" in layer._work) == planes, sorted(layer._work)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("transposed", [True, False])
def test_the_default_threshold_layers_match_torch(transposed):
    """16 taps × 32 channels, at the default threshold without any patch: the planes as
    they run."""
    cfg = ((2, 3, 32, [(3, 4, 2, 1, 0), (2, 4, 2, 1, 1)]) if transposed
           else (2, 32, 3, [(6, 4, 2, 1), (5, 3, 2, 1)]))
    nd._matches_torch(cfg, transposed, seed=0, bias=True)
