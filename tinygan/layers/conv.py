"""Convolutions and transposed convolutions over any number of spatial dimensions.

A convolution is a matrix–vector product ``y = A x`` with a sparse, structured A.
The transposed convolution multiplies by ``Aᵀ``. So each layer's forward is the
other's backward-for-input, and both are built from the same two pieces, written
once below for any spatial rank d (1 for sequences, 2 for images, 3 for volumes):

* ``im2col`` (a *gather*): copy every K₁×…×K_d window of a padded input into one row of
  a matrix, so that a convolution becomes one BLAS matrix multiply;
* ``col2im`` (a *scatter-add*): the adjoint of ``im2col``, adding each row back
  into the window it came from; computed by stride phases, each of the S₁·…·S_d
  interleaved output grids summing only the ∏⌈K_a/S_a⌉ taps that reach it.

The layers are :class:`ConvNd` and :class:`ConvTransposeNd`, one implementation each;
``Conv1d``, ``Conv2d``, ``Conv3d`` and ``ConvTranspose1d/2d/3d`` only fix the rank,
with PyTorch's names, arguments (an int or a tuple per axis) and weight layouts.

Inside the layers data is **channels-last** (N, *spatial, C): a window position
then moves whole contiguous channel vectors, the gather is one strided view plus
one copy, and the scatter is a few strided slice-adds per phase. The public API stays
channels-first (N, C, *spatial) like PyTorch; the layout changes only at the layer
boundary. Outputs are returned as channels-first *views* of channels-last memory, so
the next conv layer's conversion back to channels-last costs nothing. Temporaries that
never leave a layer (padded canvases, gathered windows, multiply outputs) are kept by it
between calls.

Notation: N batch, C_in/C_out channels, d spatial axes a = 1…d with input size H_a and
output size H_out,a; per axis K kernel size, S stride, P padding, O output_padding
(an int argument means the same value on every axis).

Derivation: derivations/03_transposed_convolution.md
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers

from .. import backend
from .base import Layer, check_dtype, check_rng
from .base import work_array as _work

__all__ = ["ConvNd", "ConvTransposeNd", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
           "ConvTranspose2d", "ConvTranspose3d", "conv_output_size",
           "conv_transpose_output_size", "im2col", "col2im"]


# -- output sizes ------------------------------------------------------------------------
def conv_output_size(h, kernel_size, stride=1, padding=0):
    """Output size of a convolution along one axis: ⌊(H + 2P − K)/S⌋ + 1.

    >>> conv_output_size(28, kernel_size=4, stride=2, padding=1)
    14
    >>> conv_output_size(14, kernel_size=4, stride=2, padding=1)
    7
    """
    return (h + 2 * padding - kernel_size) // stride + 1


def conv_transpose_output_size(h, kernel_size, stride=1, padding=0, output_padding=0):
    """Output size of a transposed convolution along one axis: S(H − 1) + K − 2P + O.

    It inverts :func:`conv_output_size` *as a size*: the sizes H' for which a
    convolution gives H are S(H − 1) + K − 2P + O for O = 0, …, S − 1, and
    ``output_padding`` picks one of them.

    >>> conv_transpose_output_size(7, kernel_size=4, stride=2, padding=1)
    14
    >>> conv_transpose_output_size(7, kernel_size=3, stride=2, padding=1, output_padding=1)
    14
    >>> all(conv_output_size(conv_transpose_output_size(h, 4, 2, 1, o), 4, 2, 1) == h
    ...     for h in range(1, 30) for o in (0, 1))
    True
    """
    return stride * (h - 1) + kernel_size - 2 * padding + output_padding


def _per_axis(value, d):
    """An int (the same on every axis) or a sequence of d ints, as a tuple of d ints."""
    if isinstance(value, numbers.Integral):
        return (int(value),) * d
    return tuple(int(v) for v in value)


# -- the two index operations, written once ---------------------------------------------
def im2col(x, kernel_size, stride, out_size, out=None):
    """Gather the K₁×…×K_d windows of a channels-last input into the rows of a matrix.

    Math
    ----
    cols[n, i₁…i_d, p₁…p_d, c] = x[n, S₁i₁ + p₁, …, S_d i_d + p_d, c]
        (i_a < out_size[a], p_a < K_a)

    Shapes
    ------
    x: (N, H_pad,1, …, H_pad,d, C), already padded, with S_a(out_a − 1) + K_a ≤ H_pad,a
    kernel_size, stride: an int or d ints;  out_size: d ints
    returns: (N·∏out_a, ∏K_a·C), C-contiguous (one copy); written into ``out``
    (an array of that shape) when given

    The view with the 2d + 2 indices above is built with ``as_strided`` (NumPy and
    CuPy both have it): window positions step by S_a elements of axis a, kernel offsets
    by one; no data moves until the final copy.
    """
    xp = backend.get_array_module(x)
    d = x.ndim - 2
    K, S, out_size = _per_axis(kernel_size, d), _per_axis(stride, d), tuple(out_size)
    N, C = x.shape[0], x.shape[-1]
    sN, *s_ax, sC = x.strides
    shape = (N, *out_size, *K, C)
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=shape, strides=(sN, *(S_a * s for S_a, s in zip(S, s_ax)), *s_ax, sC))
    if out is None:
        return windows.reshape(N * math.prod(out_size), math.prod(K) * C)  # the one copy
    # the one copy, in blocks of images on every core when the batch is large
    backend.over_rows(_copy, out.reshape(shape), windows)
    return out


def _copy(dst, src):
    dst[...] = src


def _phase_plan(kernel_size, stride, padding, n_windows, n_out):
    """Which taps reach each output phase of one axis (derivation: #stride-phases).

    Output position u = S·m + r (phase r < S) collects tap p of window i whenever
    S·i + p = u + P. Writing a = (r + P) mod S and δ = (r + P) div S, that is
    p = a + S·t and i = m + δ − t for t = 0, 1, …: the taps a, a + S, a + 2S, … < K
    only, ⌈(K − a)/S⌉ of them instead of K.

    Returns, for each phase r, ``(r, M, terms)``: M = the number of positions of
    phase r, and one term ``(p, m_lo, m_hi, i_lo)`` per tap: positions m in
    [m_lo, m_hi) read windows i_lo, i_lo + 1, … (the windows that exist).
    """
    K, S, P = kernel_size, stride, padding
    plan = []
    for r in range(min(S, n_out)):
        M = len(range(r, n_out, S))
        a, delta = (r + P) % S, (r + P) // S
        terms = []
        for t, p in enumerate(range(a, K, S)):
            m_lo, m_hi = max(0, t - delta), min(M, n_windows + t - delta)
            if m_lo < m_hi:
                terms.append((p, m_lo, m_hi, m_lo + delta - t))
        plan.append((r, M, terms))
    return plan


def col2im(cols, kernel_size, stride, out_size, img_size, padding=0, bias=None,
           taps_first=False):
    """Add every row back into the window it came from: the adjoint of :func:`im2col`.

    Math
    ----
    img[n, u₁…u_d, c] = Σ over (i_a, p_a) with S_a i_a + p_a = u_a + P_a on every axis a
                        of cols[n, i₁…i_d, p₁…p_d, c]   (+ bias[c])

    With P = 0 this is the scatter-add img[n, S₁i₁ + p₁, …, c] += cols[n, i, p, c];
    with P > 0 the result is the scatter-add's canvas cropped by P_a at the start of each
    axis, ``img_size`` large (the transposed convolution's crop, folded in).

    Shapes
    ------
    cols: (N·∏out_a, ∏K_a·C), as :func:`im2col` returns; or, with ``taps_first=True``,
    the same numbers tap-major, (∏K_a, N·∏out_a, C): one (rows, C) plane per tap, as
    a product per tap writes them (:func:`_per_tap`);  out_size, img_size: d ints
    returns: (N, *img_size, C); zeros (or the bias) where no window reaches

    Computed by **stride phases** instead of ∏K_a scatter-adds: positions u_a ≡ r_a
    (mod S_a) receive only the taps p_a ≡ r_a + P_a (mod S_a), so each of the ∏S_a
    interleaved phases img[:, r₁::S₁, …, r_d::S_d] is a sum of ∏⌈K_a/S_a⌉ shifted slices
    of cols (:func:`_phase_plan`, one axis at a time), written once: no zero canvas, no
    read-modify-write of every output ∏K_a/S_a times, no separate crop. Works on NumPy
    and CuPy (slicing and ``+=`` only).
    """
    xp = backend.get_array_module(cols)
    out_size, img_size = tuple(out_size), tuple(img_size)
    d = len(out_size)
    K, S, P = _per_axis(kernel_size, d), _per_axis(stride, d), _per_axis(padding, d)
    if taps_first:
        # the same (N, *out, *K, C) indices as a view of the tap-major planes: each term
        # below then reads one tap's plane, contiguous rows of C numbers
        N, C = cols.shape[1] // math.prod(out_size), cols.shape[2]
        cols = cols.reshape(*K, N, *out_size, C).transpose(
            d, *range(d + 1, 2 * d + 1), *range(d), 2 * d + 1)
    else:
        N, C = cols.shape[0] // math.prod(out_size), cols.shape[1] // math.prod(K)
        cols = cols.reshape(N, *out_size, *K, C)
    img = xp.empty((N, *img_size, C), dtype=cols.dtype)
    program = _col2im_program(K, S, P, out_size, img_size)
    # The phases read each image's windows in ∏K_a strided passes; on the CPU a slab of
    # images at a time keeps those windows in the cache between the passes (the same
    # additions in the same order: the same bits). A GPU takes the whole batch at once,
    # and so do tap-major planes, whose terms each read one plane in order (slabs were
    # measured no faster there).
    slab = (max(1, _SLAB_BYTES // max(1, cols[0].nbytes))
            if xp is backend.numpy and not taps_first else N)

    def scatter_add(cols, img):
        for n0 in range(0, len(img), slab):
            cols_s, img_s = cols[n0:n0 + slab], img[n0:n0 + slab]
            for phase_at, first, rest in program:
                phase = img_s[phase_at]                        # (n, M₁, …, M_d, C)
                # 1. the first term that covers the whole phase is written, not added
                if first is None:
                    phase[...] = 0 if bias is None else bias
                elif bias is None:
                    phase[...] = cols_s[first]
                else:
                    xp.add(cols_s[first], bias, out=phase)
                # 2. the other taps of this phase are added where their windows exist
                for dst, src in rest:
                    phase[dst] += cols_s[src]

    # images are independent: a large batch runs in blocks of images on every core
    backend.over_rows(scatter_add, cols, img)
    return img


#: col2im's slab on the CPU: about this many bytes of windows (2 MiB, a few images of a
#: DCGAN layer), measured 1.3× faster than the whole batch at once on its 12.8 MB
_SLAB_BYTES = 2 << 20

#: A layer's multiply before col2im writes tap-major planes (:func:`_per_tap`) when a row
#: of the one-multiply form, ∏K_a·C numbers (C the channels of the image col2im builds),
#: has at least this many. Then each of col2im's terms reads one tap's plane in memory
#: order instead of a C-wide stripe out of every row. Measured at one thread (forward and
#: backward; benchmarks/README.md, fifth session): DCGAN's ConvTranspose2d(128→64),
#: 16 taps × 64, 35.1 → 33.8 ms; 3D-GAN's ConvTranspose3d(32→16), 64 × 16, 11.2 → 9.6 ms;
#: a ConvTranspose3d(16→8), 64 × 8, 47 → 41 ms; but a ConvTranspose2d(128→8), 16 × 8,
#: 6.3 → 7.6 ms (∏K products of C columns each cost more than one of ∏K·C) and 16 × 16
#: about even.
_TAPS_MIN_ROW = 512


def _per_tap(A, W_taps, out):
    """``out[t] = A W_taps[t]`` for every tap t: the multiply before col2im, tap-major.

    Math
    ----
    The matrix W_mat = [W_1 … W_T] of the one-multiply form, T = ∏K_a blocks of C
    columns, gives A W_mat = [A W_1 … A W_T]: the same products, each block written as
    its own (rows, C) plane (derivations/03_transposed_convolution.md#tap-major-planes).

    Shapes
    ------
    A: (rows, C_a);  W_taps: (T, C_a, C), C-contiguous;  out: (T, rows, C), written
    """
    xp = backend.get_array_module(A)
    return xp.matmul(A, W_taps, out=out)


@functools.lru_cache(maxsize=512)
def _col2im_program(K, S, P, out_size, img_size):
    """col2im's index plan for one geometry, built once: a list over the ∏S_a phases of
    ``(phase index into img, index of the term written first or None, [(dst, src), …])``.

    Each phase combines one :func:`_phase_plan` entry per axis; its terms are the
    products of the axes' taps: dst = the positions m that have a window (a slice per
    axis, inside the phase), src = the windows i and the tap p they read in cols
    (N, *out_size, *K, C). The first term covering the whole phase is written, so the
    phase needs no zeroing (derivation: #stride-phases). Cached: a layer sees a handful
    of geometries, and building the plan costs more than running it on small inputs.
    """
    every = slice(None)
    program = []
    plans = [_phase_plan(K[a], S[a], P[a], out_size[a], img_size[a]) for a in range(len(K))]
    for phases in itertools.product(*plans):               # one (r, M, terms) per axis
        phase_at = (every, *(slice(r, None, S_a) for (r, _, _), S_a in zip(phases, S)), every)
        Ms = [M for _, M, _ in phases]
        first, rest = None, []
        for taps in itertools.product(*(terms_a for _, _, terms_a in phases)):
            dst = (every, *(slice(mlo, mhi) for _, mlo, mhi, _ in taps), every)
            src = (every, *(slice(ilo, ilo + mhi - mlo) for _, mlo, mhi, ilo in taps),
                   *(p for p, _, _, _ in taps), every)
            if first is None and all(mlo == 0 and mhi == M
                                     for (_, mlo, mhi, _), M in zip(taps, Ms)):
                first = src
            else:
                rest.append((dst, src))
        program.append((phase_at, first, rest))
    return program


# -- shared plumbing ----------------------------------------------------------------------
def _positive_int(layer, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer} needs an integer {name}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{layer} needs {name} ≥ {minimum}, got {value}")
    return int(value)


def _per_axis_arg(layer, name, value, rank, minimum=1):
    """An int (every axis) or a tuple of ``rank`` ints, checked, as a tuple (PyTorch's form)."""
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise ValueError(f"{layer} needs {name} as an integer or a tuple of {rank} "
                             f"integers (one per spatial axis), got {tuple(value)!r}")
        return tuple(_positive_int(layer, name, v, minimum) for v in value)
    return (_positive_int(layer, name, value, minimum),) * rank


def _to_channels_last(x):
    """(N, C, *spatial) → (N, *spatial, C), contiguous; free when x is a channels-last view."""
    xp = backend.get_array_module(x)
    return xp.ascontiguousarray(_channels_last_view(x))


def _channels_last_view(x):
    """(N, C, *spatial) viewed as (N, *spatial, C): no copy."""
    return x.transpose(0, *range(2, x.ndim), 1)


def _channels_first_view(y):
    """(N, *spatial, C) viewed as (N, C, *spatial): the layers' outputs, no copy."""
    return y.transpose(0, y.ndim - 1, *range(1, y.ndim - 1))


def _interior(pad, size):
    """The index of the unpadded block inside a channels-last canvas padded by ``pad``."""
    return (slice(None), *(slice(p, p + n) for p, n in zip(pad, size)), slice(None))


def _fmt(values):
    """(4, 4) → '4', (3, 4) → '(3, 4)': hyperparameters as PyTorch users write them."""
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _check_rank(layer):
    rank = type(layer).rank
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise TypeError(f"{type(layer).__name__} has no spatial rank: build Conv1d, Conv2d, "
                        "Conv3d or a ConvTranspose of those, or subclass ConvNd / "
                        "ConvTransposeNd with rank = d")


class _ConvBase(Layer):
    """Parameters, checks and repr shared by ConvNd and ConvTransposeNd of every rank."""

    #: the number of spatial axes (1, 2, 3, …); fixed by Conv1d/2d/3d and their transposes
    rank = None
    transposed = False

    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, bias, rng, init,
               dtype):
        name = type(self).__name__
        d = self.rank
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _per_axis_arg(name, "kernel_size", kernel_size, d)
        self.stride = _per_axis_arg(name, "stride", stride, d)
        self.padding = _per_axis_arg(name, "padding", padding, d, minimum=0)
        dtype = check_dtype(name, dtype)
        check_rng(name, rng)
        C_in, C_out, K, S = self.in_channels, self.out_channels, self.kernel_size, self.stride
        # PyTorch's layouts; fan_in = inputs feeding one output element (on average for ConvT)
        weight_shape = (C_in, C_out, *K) if self.transposed else (C_out, C_in, *K)
        fan_in = (max(1.0, C_in * math.prod(K) / math.prod(S)) if self.transposed
                  else C_in * math.prod(K))
        xp = backend.xp()
        if init == "zeros":
            W = xp.zeros(weight_shape, dtype=dtype)
        elif rng is None:
            raise ValueError(f"{name} needs an explicit rng (tinygan.backend.rng(seed)) to "
                             f"draw its initial weights with init={init!r}")
        elif init == "he":
            W = (math.sqrt(2.0 / fan_in) * rng.standard_normal(weight_shape)).astype(dtype)
        elif isinstance(init, numbers.Real) and not isinstance(init, bool) and init > 0:
            W = (float(init) * rng.standard_normal(weight_shape)).astype(dtype)
        else:
            raise ValueError(f"unknown init {init!r} for {name}; expected a positive std "
                             "(DCGAN: 0.02), 'he' or 'zeros'")
        self.params["W"] = W
        if bias:
            self.params["b"] = xp.zeros((self.out_channels,), dtype=dtype)
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self._work = {}  # work arrays kept between calls (see _work)

    def _check(self, x):
        """x must be (N, C_in, *spatial) with ``rank`` spatial axes; returns (N, spatial)."""
        self._check_input(x, shape=(None, self.in_channels) + (None,) * self.rank)
        return x.shape[0], tuple(x.shape[2:])

    def _w_axes(self):
        """The weight's kernel axes 2, …, d + 1."""
        return tuple(range(2, 2 + self.rank))

    def _hyper_repr(self):
        s = f", k={_fmt(self.kernel_size)}"
        if any(v != 1 for v in self.stride):
            s += f", s={_fmt(self.stride)}"
        if any(self.padding):
            s += f", p={_fmt(self.padding)}"
        if any(getattr(self, "output_padding", ())):
            s += f", op={_fmt(self.output_padding)}"
        return s

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_channels}→{self.out_channels}"
                f"{self._hyper_repr()})")


class ConvTransposeNd(_ConvBase):
    """Transposed convolution over ``rank`` spatial axes: the one implementation of them all.

    ``ConvTranspose1d``, ``ConvTranspose2d`` (G's upsampling layer in DCGAN) and
    ``ConvTranspose3d`` (3D-GAN's) are this class with the rank fixed.

    "Deconvolution" here means the **transpose** of a convolution, not its inverse:
    it multiplies by Aᵀ where a convolution with the same weights multiplies by A. It
    restores the *size* a convolution shrank, not the values.

    Math
    ----
    Notation: x input (N, C_in, H₁, …, H_d); W weight (C_in, C_out, K₁, …, K_d) (PyTorch's
    layout); per axis S stride, P padding (crops the output), O output_padding (extra
    positions at the end of the axis, 0 ≤ O < S). i, p, u are d-tuples of indices.

    Forward: every input element paints a K₁×…×K_d patch of the output, weighted by W,
    at stride S; overlapping patches add; then P positions are cropped on each axis:
        full[n, S·i + p, c'] += Σ_c x[n, c, i] W[c, c', p]   for all i, p   (S·i + p per axis)
        out[n, c', u] = full[n, u + P, c'] + b[c']
    Implemented as one matrix multiply then a col2im scatter-add:
        cols = X W_mat,   X: (N·∏H_a, C_in),  W_mat: (C_in, ∏K_a·C_out)
        out  = crop_P(col2im(cols)) + b
    where col2im sums, per output phase (u₁ mod S₁, …, u_d mod S_d), the taps that reach
    it, with the crop and the bias folded in (derivations/03_transposed_convolution.md
    #stride-phases). When a row of cols is long (∏K·C_out ≥ 512) the multiply writes it
    as ∏K planes X W_t, one per tap, which col2im reads in order (#tap-major-planes).
    Backward (the forward of ConvNd, see derivations/03_transposed_convolution.md):
        dcols = im2col(pad_P(dout))                       (N·∏H_a, ∏K_a·C_out)
        dx    = dcols W_matᵀ                              (N·∏H_a, C_in)
        dW    = Xᵀ dcols                                  (C_in, ∏K_a·C_out)
        db    = Σ_{n,u} dout[n, :, u]

    Output size per axis: H_out = S(H − 1) + K − 2P + O.

    Shapes
    ------
    x: (N, C_in, H₁, …, H_d) → out: (N, C_out, H_out,1, …, H_out,d);
    W: (C_in, C_out, K₁, …, K_d);  b: (C_out,)

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or tuple of d ints
    stride : int or tuple, default 1
    padding : int or tuple, default 0
        Crops P positions from each end of an axis of the output (it does not pad the input).
    output_padding : int or tuple, default 0
        Adds O positions at the end of an axis; must satisfy 0 ≤ O < S. With S > 1
        several input sizes of a convolution give the same output size; O picks
        which one the transpose restores.
    bias : bool, default True
    rng : Generator, needed unless ``init="zeros"``
    init : float, "he" or "zeros", default 0.02
        A float σ draws W from N(0, σ²) (DCGAN's 0.02); "he" uses σ = √(2/fan_in).
        Biases start at zero.
    dtype : parameter dtype, default "float32" (float64 for gradchecks)

    Cache
    -----
    X (the input as a channels-last (N·∏H_a, C_in) matrix) and the input shape.

    Derivation: derivations/03_transposed_convolution.md#transposed-convolution
    """

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True, rng=None, init=0.02, dtype="float32"):
        super().__init__()
        name = type(self).__name__
        _check_rank(self)
        stride_ = _per_axis_arg(name, "stride", stride, self.rank)
        self.output_padding = _per_axis_arg(name, "output_padding", output_padding, self.rank,
                                            minimum=0)
        if any(o >= s for o, s in zip(self.output_padding, stride_)):
            raise ValueError(f"{name} needs output_padding < stride, got output_padding="
                             f"{_fmt(self.output_padding)} with stride={_fmt(stride_)}: "
                             "output_padding only chooses among the S sizes a stride-S "
                             "convolution maps to one size")
        self._setup(in_channels, out_channels, kernel_size, stride, padding, bias, rng, init,
                    dtype)

    def output_size(self, h, axis=0):
        """H_out = S(H − 1) + K − 2P + O along ``axis`` for an input of size H there."""
        return conv_transpose_output_size(h, self.kernel_size[axis], self.stride[axis],
                                          self.padding[axis], self.output_padding[axis])

    def _sizes(self, size):
        """(output size, uncropped canvas size), each a d-tuple; one error if not positive."""
        out = tuple(self.output_size(h, a) for a, h in enumerate(size))
        if min(out) < 1:
            raise ValueError(
                f"{self!r}: input of size {'×'.join(map(str, size))} gives a non-positive "
                f"output size {'×'.join(map(str, out))} = S(H − 1) + K − 2P + O with "
                f"S={_fmt(self.stride)}, K={_fmt(self.kernel_size)}, P={_fmt(self.padding)}, "
                f"O={_fmt(self.output_padding)}; use a larger input or a smaller padding")
        # the uncropped canvas: every patch fits, and so do P + H_out positions
        full = tuple(max(S * (h - 1) + K, P + o) for h, o, K, S, P in
                     zip(size, out, self.kernel_size, self.stride, self.padding))
        return out, full

    def _W_mat(self):
        """W (C_in, C_out, K…) as the (C_in, ∏K·C_out) matrix of the forward multiply."""
        C_in, C_out = self.in_channels, self.out_channels
        return self.params["W"].transpose(0, *self._w_axes(), 1).reshape(
            C_in, math.prod(self.kernel_size) * C_out)

    def _W_taps(self):
        """W (C_in, C_out, K…) as ∏K contiguous (C_in, C_out) matrices, one per tap."""
        xp = backend.get_array_module(self.params["W"])
        return xp.ascontiguousarray(self.params["W"].transpose(*self._w_axes(), 0, 1)).reshape(
            math.prod(self.kernel_size), self.in_channels, self.out_channels)

    def forward(self, x):
        N, size = self._check(x)
        xp = backend.get_array_module(x)
        out_size, _ = self._sizes(size)
        K, S, P, C_in, C_out = (self.kernel_size, self.stride, self.padding, self.in_channels,
                                self.out_channels)
        rows, T = N * math.prod(size), math.prod(K)
        # 1. one multiply: every input element's ∏K·C_out contributions (its painted patch),
        #    tap-major when its rows are long (_TAPS_MIN_ROW)
        X = _to_channels_last(x).reshape(rows, C_in)                  # (N·∏H, C_in)
        taps_first = T * C_out >= _TAPS_MIN_ROW
        if taps_first:
            cols = _per_tap(X, self._W_taps(), _work(self, "planes", (T, rows, C_out),
                                                     X.dtype, xp))      # (∏K, N·∏H, C_out)
        else:
            cols = xp.matmul(X, self._W_mat(), out=_work(self, "cols", (rows, T * C_out),
                                                         X.dtype, xp))  # (N·∏H, ∏K·C_out)
        # 2. each output element sums the patches that reach it, phase by phase; the crop
        #    P and the bias are folded in
        out = col2im(cols, K, S, size, out_size, padding=P, bias=self.params.get("b"),
                     taps_first=taps_first)                            # (N, *out_size, C_out)
        self.cache = (X, (N, C_in, *size))
        return _channels_first_view(out)

    def backward(self, dout, need_dx=True):
        X, (N, C_in, *size) = self._pop_cache()
        out_size, full = self._sizes(size)
        self._check_dout(dout, (N, self.out_channels, *out_size), X.dtype)
        xp = backend.get_array_module(dout)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        rows, taps = N * math.prod(size), math.prod(K) * C_out
        # 1. undo the crop: the gradient of the cropped border is zero (the kept canvas's
        #    border stays zero; only its interior is written)
        d_full = _work(self, "d_full", (N, *full, C_out), dout.dtype, xp, zero=True)
        backend.over_rows(_copy, d_full[_interior(P, out_size)], _channels_last_view(dout))
        # 2. gather the window each input element painted (a stride-S convolution)
        dcols = im2col(d_full, K, S, size, out=_work(self, "dcols", (rows, taps), dout.dtype,
                                                     xp))              # (N·∏H, ∏K·C_out)
        if not self.frozen:
            if "b" in self.grads:
                self.grads["b"] += dout.sum(axis=(0, *self._w_axes()))
            self.grads["W"] += (X.T @ dcols).reshape(C_in, *K, C_out).transpose(
                0, self.rank + 1, *range(1, self.rank + 1))
        if not need_dx:
            return None
        dx = dcols @ self._W_mat().T                                   # (N·∏H, C_in)
        return _channels_first_view(dx.reshape(N, *size, C_in))


class ConvNd(_ConvBase):
    """Convolution (cross-correlation, as in PyTorch) over ``rank`` spatial axes.

    ``Conv1d``, ``Conv2d`` (D's downsampling layer in DCGAN) and ``Conv3d`` (3D-GAN's)
    are this class with the rank fixed: one implementation of them all.

    Math
    ----
    Notation: x input (N, C_in, H₁, …, H_d); W weight (C_out, C_in, K₁, …, K_d) (PyTorch's
    layout); per axis S stride and P zero padding added to both ends of the axis; i and p
    are d-tuples of indices, S·i + p is taken axis by axis.

    Forward:
        out[n, c', i] = b[c'] + Σ_{c,p} pad_P(x)[n, c, S·i + p] W[c', c, p]
    Implemented as an im2col gather then one matrix multiply:
        cols = im2col(pad_P(x))     (N·∏H_out,a, ∏K_a·C_in)
        out  = cols W_mat + b,      W_mat: (∏K_a·C_in, C_out)
    Backward (the forward of ConvTransposeNd, see derivations/03_transposed_convolution.md):
        dW    = colsᵀ dout_mat                             dout_mat: (N·∏H_out,a, C_out)
        db    = Σ_{n,i} dout[n, :, i]
        dx    = crop_P(col2im(dout_mat W_matᵀ))     (by stride phases, crop folded in;
                the product as ∏K planes dout_mat W_tᵀ when ∏K·C_in ≥ 512, #tap-major-planes)

    Output size per axis: H_out = ⌊(H + 2P − K)/S⌋ + 1 (input positions past the last
    full window are ignored and get zero gradient).

    Shapes
    ------
    x: (N, C_in, H₁, …, H_d) → out: (N, C_out, H_out,1, …, H_out,d);
    W: (C_out, C_in, K₁, …, K_d);  b: (C_out,)

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or tuple of d ints
    stride : int or tuple, default 1
    padding : int or tuple, default 0
    bias : bool, default True
    rng : Generator, needed unless ``init="zeros"``
    init : float, "he" or "zeros", default 0.02 (see ConvTransposeNd)
    dtype : parameter dtype, default "float32"

    Cache
    -----
    cols (the gathered windows, reused by dW; a work array the layer keeps, which its
    next forward rewrites) and the input shape.

    Derivation: derivations/03_transposed_convolution.md#convolution
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 rng=None, init=0.02, dtype="float32"):
        super().__init__()
        _check_rank(self)
        self._setup(in_channels, out_channels, kernel_size, stride, padding, bias, rng, init,
                    dtype)

    def output_size(self, h, axis=0):
        """H_out = ⌊(H + 2P − K)/S⌋ + 1 along ``axis`` for an input of size H there."""
        return conv_output_size(h, self.kernel_size[axis], self.stride[axis],
                                self.padding[axis])

    def _sizes(self, size):
        K, P = self.kernel_size, self.padding
        if any(h + 2 * p < k for h, p, k in zip(size, P, K)):
            padded = tuple(h + 2 * p for h, p in zip(size, P))
            raise ValueError(
                f"{self!r}: input of size {'×'.join(map(str, size))} padded by P={_fmt(P)} is "
                f"{'×'.join(map(str, padded))}, smaller than the kernel K={_fmt(K)}, so the "
                "output size ⌊(H + 2P − K)/S⌋ + 1 is not positive")
        return tuple(self.output_size(h, a) for a, h in enumerate(size))

    def _W_mat(self):
        """W (C_out, C_in, K…) as the (∏K·C_in, C_out) matrix of the forward multiply."""
        C_in, C_out = self.in_channels, self.out_channels
        return self.params["W"].transpose(*self._w_axes(), 1, 0).reshape(
            math.prod(self.kernel_size) * C_in, C_out)

    def forward(self, x):
        N, size = self._check(x)
        xp = backend.get_array_module(x)
        out_size = self._sizes(size)
        K, S, P, C_in, C_out = (self.kernel_size, self.stride, self.padding, self.in_channels,
                                self.out_channels)
        # 1. to channels-last, zero-padded: one copy does both (into a kept canvas whose
        #    border stays zero)
        if any(P):
            x_pad = _work(self, "x_pad", (N, *(h + 2 * p for h, p in zip(size, P)), C_in),
                          x.dtype, xp, zero=True)
            backend.over_rows(_copy, x_pad[_interior(P, size)], _channels_last_view(x))
        else:
            x_pad = _to_channels_last(x)                               # (N, *size, C_in)
        # 2. gather the windows, 3. one multiply
        rows = N * math.prod(out_size)
        # the cache holds cols: a kept array, unless a pending cache holds it (cache_array)
        cols = im2col(x_pad, K, S, out_size, out=None if self._cache is not None else _work(
            self, "cols", (rows, math.prod(K) * C_in), x.dtype, xp))  # (N·∏H_out, ∏K·C_in)
        out = cols @ self._W_mat()                                     # (N·∏H_out, C_out)
        if "b" in self.params:
            out += self.params["b"]
        self.cache = (cols, (N, C_in, *size))
        return _channels_first_view(out.reshape(N, *out_size, C_out))

    def backward(self, dout, need_dx=True):
        cols, (N, C_in, *size) = self._pop_cache()
        out_size = self._sizes(size)
        self._check_dout(dout, (N, self.out_channels, *out_size), cols.dtype)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        rows = N * math.prod(out_size)
        D = _to_channels_last(dout).reshape(rows, C_out)
        if not self.frozen:
            if "b" in self.grads:
                self.grads["b"] += D.sum(axis=0)
            d = self.rank
            self.grads["W"] += (cols.T @ D).reshape(*K, C_in, C_out).transpose(
                d + 1, d, *range(d))
        if not need_dx:
            return None
        xp = backend.get_array_module(D)
        T = math.prod(K)
        taps_first = T * C_in >= _TAPS_MIN_ROW         # tap-major planes (_per_tap)
        if taps_first:
            W_taps_T = xp.ascontiguousarray(self.params["W"].transpose(
                *self._w_axes(), 0, 1)).reshape(T, C_out, C_in)         # W_tᵀ, one per tap
            dcols = _per_tap(D, W_taps_T, _work(self, "planes", (T, rows, C_in), D.dtype,
                                                xp))                   # (∏K, N·∏H_out, C_in)
        else:
            dcols = xp.matmul(D, self._W_mat().T, out=_work(self, "dcols", (rows, T * C_in),
                                                    D.dtype, xp))      # (N·∏H_out, ∏K·C_in)
        dx = col2im(dcols, K, S, out_size, size, padding=P,
                    taps_first=taps_first)                             # (N, *size, C_in)
        return _channels_first_view(dx)


# -- the ranks, with PyTorch's names ---------------------------------------------------------
class Conv1d(ConvNd):
    """Convolution over sequences: x (N, C_in, L) → (N, C_out, L_out), W (C_out, C_in, K).

    :class:`ConvNd` with one spatial axis (its docstring has the math).

    >>> from tinygan import backend
    >>> layer = Conv1d(2, 3, kernel_size=4, stride=2, padding=1, rng=backend.rng(0))
    >>> layer.forward(backend.xp().zeros((5, 2, 16), dtype="float32")).shape
    (5, 3, 8)

    Derivation: derivations/03_transposed_convolution.md#convolution
    """

    rank = 1


class Conv2d(ConvNd):
    """Convolution over images: x (N, C_in, H, W) → (N, C_out, H_out, W_out), W (C_out, C_in, K, K).

    :class:`ConvNd` with two spatial axes (its docstring has the math): D's downsampling
    layer in DCGAN. Output size H_out = ⌊(H + 2P − K)/S⌋ + 1.

    >>> from tinygan import backend
    >>> layer = Conv2d(1, 64, kernel_size=4, stride=2, padding=1, rng=backend.rng(0))
    >>> layer.forward(backend.xp().zeros((2, 1, 28, 28), dtype="float32")).shape
    (2, 64, 14, 14)

    Derivation: derivations/03_transposed_convolution.md#convolution
    """

    rank = 2


class Conv3d(ConvNd):
    """Convolution over volumes: x (N, C_in, D, H, W) → (N, C_out, D_out, H_out, W_out).

    :class:`ConvNd` with three spatial axes (its docstring has the math): 3D-GAN's
    discriminator layer. W: (C_out, C_in, K, K, K).

    >>> from tinygan import backend
    >>> layer = Conv3d(1, 8, kernel_size=4, stride=2, padding=1, rng=backend.rng(0))
    >>> layer.forward(backend.xp().zeros((2, 1, 16, 16, 16), dtype="float32")).shape
    (2, 8, 8, 8, 8)

    Derivation: derivations/03_transposed_convolution.md#convolution
    """

    rank = 3


class ConvTranspose1d(ConvTransposeNd):
    """Transposed convolution over sequences: x (N, C_in, L) → (N, C_out, S(L − 1) + K − 2P + O).

    :class:`ConvTransposeNd` with one spatial axis (its docstring has the math);
    W: (C_in, C_out, K).

    >>> from tinygan import backend
    >>> layer = ConvTranspose1d(3, 2, kernel_size=4, stride=2, padding=1, rng=backend.rng(0))
    >>> layer.forward(backend.xp().zeros((5, 3, 8), dtype="float32")).shape   # 2·7 + 4 − 2
    (5, 2, 16)

    Derivation: derivations/03_transposed_convolution.md#transposed-convolution
    """

    rank = 1


class ConvTranspose2d(ConvTransposeNd):
    """Transposed convolution over images ("fractionally strided", G's upsampling layer in DCGAN).

    :class:`ConvTransposeNd` with two spatial axes (its docstring has the math);
    x (N, C_in, H, W) → (N, C_out, H_out, W_out), W (C_in, C_out, K, K).

    Output size: H_out = S(H − 1) + K − 2P + O  (the same for W_out).

    >>> from tinygan import backend
    >>> layer = ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1,
    ...                         rng=backend.rng(0))
    >>> x = backend.xp().zeros((2, 128, 7, 7), dtype="float32")
    >>> layer.forward(x).shape               # 2·(7 − 1) + 4 − 2·1 = 14
    (2, 64, 14, 14)
    >>> layer.clear_cache()
    >>> ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1,
    ...                 rng=backend.rng(0)).output_size(7)   # 2·6 + 3 − 2 + 1
    14

    Derivation: derivations/03_transposed_convolution.md#transposed-convolution
    """

    rank = 2


class ConvTranspose3d(ConvTransposeNd):
    """Transposed convolution over volumes: 3D-GAN's generator layer.

    :class:`ConvTransposeNd` with three spatial axes (its docstring has the math);
    x (N, C_in, D, H, W) → (N, C_out, D_out, H_out, W_out), W (C_in, C_out, K, K, K).

    >>> from tinygan import backend
    >>> layer = ConvTranspose3d(16, 8, kernel_size=4, stride=2, padding=1, rng=backend.rng(0))
    >>> layer.forward(backend.xp().zeros((2, 16, 4, 4, 4), dtype="float32")).shape
    (2, 8, 8, 8, 8)

    Derivation: derivations/03_transposed_convolution.md#transposed-convolution
    """

    rank = 3
