"""Conv2d and ConvTranspose2d: two layers, one pair of index operations.

A convolution is a matrix–vector product ``y = A x`` with a sparse, structured A.
The transposed convolution multiplies by ``Aᵀ``. So each layer's forward is the
other's backward-for-input, and both are built from the same two pieces, written
once below:

* ``im2col`` (a *gather*): copy every K×K window of a padded image into one row of
  a matrix, so that a convolution becomes one BLAS matrix multiply;
* ``col2im`` (a *scatter-add*): the adjoint of ``im2col``, adding each row back
  into the window it came from; computed by stride phases, each of the S·S interleaved
  output grids summing only the ⌈K/S⌉² taps that reach it.

Inside both layers images are **channels-last** (N, H, W, C): a window position
then moves whole contiguous channel vectors, the gather is one strided view plus
one copy, and the scatter is K·K strided slice-adds. The public API stays NCHW
like PyTorch; the layout changes only at the layer boundary. Outputs are returned
as NCHW-shaped *views* of channels-last memory, so the next conv layer's
conversion back to channels-last costs nothing. Temporaries that never leave a layer
(padded canvases, gathered windows, multiply outputs) are kept by it between calls.

Notation: N batch, C_in/C_out channels, H×W input size, H_out×W_out output size,
K kernel size, S stride, P padding, O output_padding (square kernels, equal
strides and paddings in both directions).

Derivation: derivations/03_transposed_convolution.md
"""

from __future__ import annotations

import itertools
import math
import numbers

from .. import backend
from .base import Layer, check_dtype, check_rng

__all__ = ["Conv2d", "ConvTranspose2d", "conv_output_size", "conv_transpose_output_size",
           "im2col", "col2im"]


# -- output sizes ------------------------------------------------------------------------
def conv_output_size(h, kernel_size, stride=1, padding=0):
    """Output size of a convolution: ⌊(H + 2P − K)/S⌋ + 1.

    >>> conv_output_size(28, kernel_size=4, stride=2, padding=1)
    14
    >>> conv_output_size(14, kernel_size=4, stride=2, padding=1)
    7
    """
    return (h + 2 * padding - kernel_size) // stride + 1


def conv_transpose_output_size(h, kernel_size, stride=1, padding=0, output_padding=0):
    """Output size of a transposed convolution: S(H − 1) + K − 2P + O.

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


# -- the two index operations, written once ---------------------------------------------
def im2col(x, kernel_size, stride, out_h, out_w, out=None):
    """Gather the K×K windows of a channels-last image into the rows of a matrix.

    Math
    ----
    cols[n, i, j, p, q, c] = x[n, S·i + p, S·j + q, c]   (i < out_h, j < out_w, p, q < K)

    Shapes
    ------
    x: (N, H_pad, W_pad, C), already padded, with S(out_h − 1) + K ≤ H_pad
    returns: (N·out_h·out_w, K·K·C), C-contiguous (one copy); written into ``out``
    (an array of that shape) when given

    The view with the six indices above is built with ``as_strided`` (NumPy and
    CuPy both have it): window positions step by S rows, kernel offsets by one
    row; no data moves until the final copy.
    """
    xp = backend.get_array_module(x)
    K, S = kernel_size, stride
    N, _, _, C = x.shape
    sN, sH, sW, sC = x.strides
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=(N, out_h, out_w, K, K, C), strides=(sN, S * sH, S * sW, sH, sW, sC))
    if out is None:
        return windows.reshape(N * out_h * out_w, K * K * C)  # the one copy
    out.reshape(N, out_h, out_w, K, K, C)[...] = windows      # the one copy, into out
    return out


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


def col2im(cols, kernel_size, stride, out_h, out_w, h_img, w_img, padding=0, bias=None):
    """Add every row back into the K×K window it came from: the adjoint of :func:`im2col`.

    Math
    ----
    img[n, u, v, c] = Σ_{i,p: S·i + p = u + P} Σ_{j,q: S·j + q = v + P} cols[n, i, j, p, q, c]
                      (+ bias[c])

    With P = 0 this is the scatter-add img[n, S·i + p, S·j + q, c] += cols[n, i, j, p, q, c];
    with P > 0 the result is the scatter-add's canvas cropped by P at the top and left,
    h_img × w_img large (the transposed convolution's crop, folded in).

    Shapes
    ------
    cols: (N·out_h·out_w, K·K·C), as :func:`im2col` returns
    returns: (N, h_img, w_img, C); zeros (or the bias) where no window reaches

    Computed by **stride phases** instead of K·K scatter-adds: output rows u ≡ r (mod S)
    receive only the taps p ≡ r + P (mod S), so each of the S·S interleaved phases
    img[:, r::S, s::S] is a sum of ⌈K/S⌉² shifted slices of cols (:func:`_phase_plan`),
    written once: no zero canvas, no read-modify-write of every output K²/S² times,
    no separate crop. Works on NumPy and CuPy (slicing and ``+=`` only).
    """
    xp = backend.get_array_module(cols)
    K, S = kernel_size, stride
    N, C = cols.shape[0] // (out_h * out_w), cols.shape[1] // (K * K)
    cols = cols.reshape(N, out_h, out_w, K, K, C)
    img = xp.empty((N, h_img, w_img, C), dtype=cols.dtype)
    plan_h = _phase_plan(K, S, padding, out_h, h_img)
    plan_w = _phase_plan(K, S, padding, out_w, w_img)
    for (r, Mh, terms_h), (s, Mw, terms_w) in itertools.product(plan_h, plan_w):
        phase = img[:, r::S, s::S, :]                                 # (N, Mh, Mw, C)
        terms = [(slice(mlo, mhi), slice(nlo, nhi),
                  cols[:, ilo:ilo + mhi - mlo, jlo:jlo + nhi - nlo, p, q, :])
                 for (p, mlo, mhi, ilo), (q, nlo, nhi, jlo) in
                 itertools.product(terms_h, terms_w)]
        # 1. the first term that covers the whole phase is written, not added
        full = next((k for k, (sm, sn, _) in enumerate(terms)
                     if (sm.start, sm.stop, sn.start, sn.stop) == (0, Mh, 0, Mw)), None)
        if full is None:
            phase[...] = 0 if bias is None else bias
        elif bias is None:
            phase[...] = terms[full][2]
        else:
            xp.add(terms[full][2], bias, out=phase)
        # 2. the other taps of this phase are added where their windows exist
        for k, (sm, sn, term) in enumerate(terms):
            if k != full:
                phase[:, sm, sn, :] += term
    return img


# -- shared plumbing ----------------------------------------------------------------------
def _positive_int(layer, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer} needs an integer {name}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{layer} needs {name} ≥ {minimum}, got {value}")
    return int(value)


def _to_channels_last(x):
    """(N, C, H, W) → (N, H, W, C), contiguous; free when x is already a channels-last view."""
    xp = backend.get_array_module(x)
    return xp.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _work(layer, name, shape, dtype, xp, zero=False):
    """A work array the layer keeps between calls, for temporaries that never leave it.

    A fresh multi-megabyte array is page-faulted in by the kernel (about 20 % of a
    DCGAN step, shared/reference/performance.md); a kept one is not. With
    ``zero=True`` a new array starts at zero and callers only ever write its interior,
    so a padded canvas keeps its zero border from call to call. Outputs and input
    gradients are never work arrays: the caller owns those.
    """
    buf = layer._work.get(name)
    if (buf is None or tuple(buf.shape) != tuple(shape) or buf.dtype != dtype
            or backend.get_array_module(buf) is not xp):
        buf = (xp.zeros if zero else xp.empty)(shape, dtype=dtype)
        layer._work[name] = buf
    return buf


class _ConvBase(Layer):
    """Parameters, checks and repr shared by Conv2d and ConvTranspose2d."""

    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, bias, rng, init,
               dtype, transposed):
        name = type(self).__name__
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _positive_int(name, "kernel_size", kernel_size)
        self.stride = _positive_int(name, "stride", stride)
        self.padding = _positive_int(name, "padding", padding, minimum=0)
        dtype = check_dtype(name, dtype)
        check_rng(name, rng)
        C_in, C_out, K, S = self.in_channels, self.out_channels, self.kernel_size, self.stride
        # PyTorch's layouts; fan_in = inputs feeding one output pixel (on average for ConvT)
        weight_shape = (C_in, C_out, K, K) if transposed else (C_out, C_in, K, K)
        fan_in = max(1.0, C_in * K * K / S ** 2) if transposed else C_in * K * K
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

    def _hyper_repr(self):
        s = f", k={self.kernel_size}"
        if self.stride != 1:
            s += f", s={self.stride}"
        if self.padding:
            s += f", p={self.padding}"
        if getattr(self, "output_padding", 0):
            s += f", op={self.output_padding}"
        return s

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_channels}→{self.out_channels}"
                f"{self._hyper_repr()})")


class ConvTranspose2d(_ConvBase):
    """Transposed convolution ("fractionally strided", G's upsampling layer in DCGAN).

    "Deconvolution" here means the **transpose** of a convolution, not its inverse:
    ConvTranspose2d multiplies by Aᵀ where a Conv2d with the same weights multiplies
    by A. It restores the *size* a convolution shrank, not the values.

    Math
    ----
    Notation: x input (N, C_in, H, W); W weight (C_in, C_out, K, K) (PyTorch's
    layout); S stride, P padding (crops the output), O output_padding (extra
    rows/columns at the bottom/right, 0 ≤ O < S).

    Forward: every input pixel paints a K×K patch of the output, weighted by W,
    at stride S; overlapping patches add; then P rows/columns are cropped:
        full[n, S·i + p, S·j + q, c'] += Σ_c x[n, c, i, j] W[c, c', p, q]   for all i, j, p, q
        out[n, c', u, v] = full[n, u + P, v + P, c'] + b[c']
    Implemented as one matrix multiply then a col2im scatter-add:
        cols = X W_mat,   X: (N·H·W, C_in),  W_mat: (C_in, K·K·C_out)
        out  = crop_P(col2im(cols)) + b
    where col2im sums, per output phase (u mod S, v mod S), the ⌈K/S⌉² taps that reach
    it, with the crop and the bias folded in (derivations/03_transposed_convolution.md
    #stride-phases).
    Backward (the forward of Conv2d, see derivations/03_transposed_convolution.md):
        dcols = im2col(pad_P(dout))                       (N·H·W, K·K·C_out)
        dx    = dcols W_matᵀ                              (N·H·W, C_in)
        dW    = Xᵀ dcols                                  (C_in, K·K·C_out)
        db    = Σ_{n,u,v} dout[n, :, u, v]

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

    Shapes
    ------
    x: (N, C_in, H, W) → out: (N, C_out, H_out, W_out);  W: (C_in, C_out, K, K);  b: (C_out,)

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride : int, default 1
    padding : int, default 0
        Crops P rows/columns from each border of the output (it does not pad the input).
    output_padding : int, default 0
        Adds O rows/columns at the bottom/right; must satisfy 0 ≤ O < S. With S > 1
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
    X (the input as a channels-last (N·H·W, C_in) matrix) and the input shape.

    Derivation: derivations/03_transposed_convolution.md#transposed-convolution
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True, rng=None, init=0.02, dtype="float32"):
        super().__init__()
        name = type(self).__name__
        stride_ = _positive_int(name, "stride", stride)
        self.output_padding = _positive_int(name, "output_padding", output_padding, minimum=0)
        if self.output_padding >= stride_:
            raise ValueError(f"{name} needs output_padding < stride, got output_padding="
                             f"{self.output_padding} with stride={stride_}: output_padding "
                             "only chooses among the S sizes a stride-S convolution maps "
                             "to one size")
        self._setup(in_channels, out_channels, kernel_size, stride, padding, bias, rng, init,
                    dtype, transposed=True)

    def output_size(self, h):
        """H_out = S(H − 1) + K − 2P + O for an input of size H."""
        return conv_transpose_output_size(h, self.kernel_size, self.stride, self.padding,
                                          self.output_padding)

    def _sizes(self, H, W):
        H_out, W_out = self.output_size(H), self.output_size(W)
        if H_out < 1 or W_out < 1:
            raise ValueError(
                f"{self!r}: input of size {H}×{W} gives a non-positive output size "
                f"{H_out}×{W_out} = S(H − 1) + K − 2P + O with S={self.stride}, "
                f"K={self.kernel_size}, P={self.padding}, O={self.output_padding}; "
                "use a larger input or a smaller padding")
        # the uncropped canvas: every patch fits, and so do P + H_out rows
        K, S, P = self.kernel_size, self.stride, self.padding
        h_full = max(S * (H - 1) + K, P + H_out)
        w_full = max(S * (W - 1) + K, P + W_out)
        return H_out, W_out, h_full, w_full

    def forward(self, x):
        self._check_input(x, shape=(None, self.in_channels, None, None))
        xp = backend.get_array_module(x)
        N, C_in, H, W = x.shape
        H_out, W_out, _, _ = self._sizes(H, W)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        # 1. one multiply: every input pixel's K·K·C_out contributions (its painted patch)
        X = _to_channels_last(x).reshape(N * H * W, C_in)            # (N·H·W, C_in)
        W_mat = self.params["W"].transpose(0, 2, 3, 1).reshape(C_in, K * K * C_out)
        cols = xp.matmul(X, W_mat, out=_work(self, "cols", (N * H * W, K * K * C_out),
                                             X.dtype, xp))           # (N·H·W, K·K·C_out)
        # 2. each output pixel sums the patches that reach it, phase by phase; the crop P
        #    and the bias are folded in
        out = col2im(cols, K, S, H, W, H_out, W_out, padding=P,
                     bias=self.params.get("b"))                      # (N, H_out, W_out, C_out)
        self.cache = (X, (N, C_in, H, W))
        return out.transpose(0, 3, 1, 2)                             # NCHW view

    def backward(self, dout, need_dx=True):
        X, (N, C_in, H, W) = self._pop_cache()
        H_out, W_out, h_full, w_full = self._sizes(H, W)
        self._check_dout(dout, (N, self.out_channels, H_out, W_out), X.dtype)
        xp = backend.get_array_module(dout)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        # 1. undo the crop: the gradient of the cropped border is zero (the kept canvas's
        #    border stays zero; only its interior is written)
        d_full = _work(self, "d_full", (N, h_full, w_full, C_out), dout.dtype, xp, zero=True)
        d_full[:, P:P + H_out, P:P + W_out, :] = dout.transpose(0, 2, 3, 1)
        # 2. gather the K×K window each input pixel painted (a stride-S convolution)
        dcols = im2col(d_full, K, S, H, W, out=_work(self, "dcols", (N * H * W, K * K * C_out),
                                                     dout.dtype, xp))  # (N·H·W, K·K·C_out)
        W_mat = self.params["W"].transpose(0, 2, 3, 1).reshape(C_in, K * K * C_out)
        if not self.frozen:
            if "b" in self.grads:
                self.grads["b"] += dout.sum(axis=(0, 2, 3))
            self.grads["W"] += (X.T @ dcols).reshape(C_in, K, K, C_out).transpose(0, 3, 1, 2)
        if not need_dx:
            return None
        dx = dcols @ W_mat.T                                         # (N·H·W, C_in)
        return dx.reshape(N, H, W, C_in).transpose(0, 3, 1, 2)       # NCHW view


class Conv2d(_ConvBase):
    """Convolution (cross-correlation, as in PyTorch): D's downsampling layer in DCGAN.

    Math
    ----
    Notation: x input (N, C_in, H, W); W weight (C_out, C_in, K, K) (PyTorch's
    layout); S stride; P zero padding added to each border of the input.

    Forward:
        out[n, c', i, j] = b[c'] + Σ_{c,p,q} pad_P(x)[n, c, S·i + p, S·j + q] W[c', c, p, q]
    Implemented as an im2col gather then one matrix multiply:
        cols = im2col(pad_P(x))     (N·H_out·W_out, K·K·C_in)
        out  = cols W_mat + b,      W_mat: (K·K·C_in, C_out)
    Backward (the forward of ConvTranspose2d, see derivations/03_transposed_convolution.md):
        dW    = colsᵀ dout_mat                             dout_mat: (N·H_out·W_out, C_out)
        db    = Σ_{n,i,j} dout[n, :, i, j]
        dx    = crop_P(col2im(dout_mat W_matᵀ))     (by stride phases, crop folded in)

    Output size: H_out = ⌊(H + 2P − K)/S⌋ + 1 (input rows past the last full window
    are ignored and get zero gradient).

    >>> from tinygan import backend
    >>> layer = Conv2d(1, 64, kernel_size=4, stride=2, padding=1, rng=backend.rng(0))
    >>> layer.forward(backend.xp().zeros((2, 1, 28, 28), dtype="float32")).shape
    (2, 64, 14, 14)

    Shapes
    ------
    x: (N, C_in, H, W) → out: (N, C_out, H_out, W_out);  W: (C_out, C_in, K, K);  b: (C_out,)

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride : int, default 1
    padding : int, default 0
    bias : bool, default True
    rng : Generator, needed unless ``init="zeros"``
    init : float, "he" or "zeros", default 0.02 (see ConvTranspose2d)
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
        self._setup(in_channels, out_channels, kernel_size, stride, padding, bias, rng, init,
                    dtype, transposed=False)

    def output_size(self, h):
        """H_out = ⌊(H + 2P − K)/S⌋ + 1 for an input of size H."""
        return conv_output_size(h, self.kernel_size, self.stride, self.padding)

    def _sizes(self, H, W):
        K, P = self.kernel_size, self.padding
        if H + 2 * P < K or W + 2 * P < K:
            raise ValueError(
                f"{self!r}: input of size {H}×{W} padded by P={P} is "
                f"{H + 2 * P}×{W + 2 * P}, smaller than the kernel K={K}, so the output "
                "size ⌊(H + 2P − K)/S⌋ + 1 is not positive")
        return self.output_size(H), self.output_size(W)

    def forward(self, x):
        self._check_input(x, shape=(None, self.in_channels, None, None))
        xp = backend.get_array_module(x)
        N, C_in, H, W = x.shape
        H_out, W_out = self._sizes(H, W)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        # 1. to channels-last, zero-padded: one copy does both (into a kept canvas whose
        #    border stays zero)
        if P:
            x_pad = _work(self, "x_pad", (N, H + 2 * P, W + 2 * P, C_in), x.dtype, xp, zero=True)
            x_pad[:, P:P + H, P:P + W, :] = x.transpose(0, 2, 3, 1)
        else:
            x_pad = _to_channels_last(x)                             # (N, H, W, C_in)
        # 2. gather the windows, 3. one multiply
        cols = im2col(x_pad, K, S, H_out, W_out, out=_work(
            self, "cols", (N * H_out * W_out, K * K * C_in), x.dtype, xp))  # (N·Ho·Wo, K·K·C_in)
        W_mat = self.params["W"].transpose(2, 3, 1, 0).reshape(K * K * C_in, C_out)
        out = cols @ W_mat                                           # (N·H_out·W_out, C_out)
        if "b" in self.params:
            out += self.params["b"]
        self.cache = (cols, (N, C_in, H, W))
        return out.reshape(N, H_out, W_out, C_out).transpose(0, 3, 1, 2)  # NCHW view

    def backward(self, dout, need_dx=True):
        cols, (N, C_in, H, W) = self._pop_cache()
        H_out, W_out = self._sizes(H, W)
        self._check_dout(dout, (N, self.out_channels, H_out, W_out), cols.dtype)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        D = _to_channels_last(dout).reshape(N * H_out * W_out, C_out)
        W_mat = self.params["W"].transpose(2, 3, 1, 0).reshape(K * K * C_in, C_out)
        if not self.frozen:
            if "b" in self.grads:
                self.grads["b"] += D.sum(axis=0)
            self.grads["W"] += (cols.T @ D).reshape(K, K, C_in, C_out).transpose(3, 2, 0, 1)
        if not need_dx:
            return None
        xp = backend.get_array_module(D)
        dcols = xp.matmul(D, W_mat.T, out=_work(self, "dcols", (N * H_out * W_out, K * K * C_in),
                                                D.dtype, xp))        # (N·H_out·W_out, K·K·C_in)
        dx = col2im(dcols, K, S, H_out, W_out, H, W, padding=P)      # (N, H, W, C_in), cropped
        return dx.transpose(0, 3, 1, 2)                              # NCHW view
