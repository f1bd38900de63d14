"""Conv2d and ConvTranspose2d: two layers, one pair of index operations.

A convolution is a matrix–vector product ``y = A x`` with a sparse, structured A.
The transposed convolution multiplies by ``Aᵀ``. So each layer's forward is the
other's backward-for-input, and both are built from the same two pieces, written
once below:

* ``im2col`` (a *gather*): copy every K×K window of a padded image into one row of
  a matrix, so that a convolution becomes one BLAS matrix multiply;
* ``col2im`` (a *scatter-add*): the adjoint of ``im2col``, adding each row back
  into the window it came from.

Inside both layers images are **channels-last** (N, H, W, C): a window position
then moves whole contiguous channel vectors, the gather is one strided view plus
one copy, and the scatter is K·K strided slice-adds. The public API stays NCHW
like PyTorch; the layout changes only at the layer boundary. Outputs are returned
as NCHW-shaped *views* of channels-last memory, so the next conv layer's
conversion back to channels-last costs nothing.

Notation: N batch, C_in/C_out channels, H×W input size, H_out×W_out output size,
K kernel size, S stride, P padding, O output_padding (square kernels, equal
strides and paddings in both directions).

Derivation: derivations/03_transposed_convolution.md
"""

from __future__ import annotations

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
def im2col(x, kernel_size, stride, out_h, out_w):
    """Gather the K×K windows of a channels-last image into the rows of a matrix.

    Math
    ----
    cols[n, i, j, p, q, c] = x[n, S·i + p, S·j + q, c]   (i < out_h, j < out_w, p, q < K)

    Shapes
    ------
    x: (N, H_pad, W_pad, C), already padded, with S(out_h − 1) + K ≤ H_pad
    returns: (N·out_h·out_w, K·K·C), C-contiguous (one copy)

    The view with the six indices above is built with ``as_strided`` (NumPy and
    CuPy both have it): window positions step by S rows, kernel offsets by one
    row; no data moves until the final ``reshape`` copies it once.
    """
    xp = backend.get_array_module(x)
    K, S = kernel_size, stride
    N, _, _, C = x.shape
    sN, sH, sW, sC = x.strides
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=(N, out_h, out_w, K, K, C), strides=(sN, S * sH, S * sW, sH, sW, sC))
    return windows.reshape(N * out_h * out_w, K * K * C)  # the one copy


def col2im(cols, kernel_size, stride, out_h, out_w, h_pad, w_pad):
    """Scatter-add rows back into their K×K windows: the adjoint of :func:`im2col`.

    Math
    ----
    img[n, S·i + p, S·j + q, c] += cols[n, i, j, p, q, c]   for all i, j, p, q

    Shapes
    ------
    cols: (N·out_h·out_w, K·K·C), as :func:`im2col` returns
    returns: (N, h_pad, w_pad, C), zeros where no window reaches

    One strided slice-add per kernel offset (p, q): the K·K slices each write
    positions S apart, so no element is written twice within one slice-add and
    no ``add.at`` (slow with index tuples) is needed. Works on NumPy and CuPy.
    """
    xp = backend.get_array_module(cols)
    K, S = kernel_size, stride
    N, C = cols.shape[0] // (out_h * out_w), cols.shape[1] // (K * K)
    cols = cols.reshape(N, out_h, out_w, K, K, C)
    img = xp.zeros((N, h_pad, w_pad, C), dtype=cols.dtype)
    for p in range(K):
        for q in range(K):
            img[:, p:p + S * out_h:S, q:q + S * out_w:S, :] += cols[:, :, :, p, q, :]
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
        N, C_in, H, W = x.shape
        H_out, W_out, h_full, w_full = self._sizes(H, W)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        # 1. one multiply: every input pixel's K·K·C_out contributions
        X = _to_channels_last(x).reshape(N * H * W, C_in)            # (N·H·W, C_in)
        W_mat = self.params["W"].transpose(0, 2, 3, 1).reshape(C_in, K * K * C_out)
        cols = X @ W_mat                                             # (N·H·W, K·K·C_out)
        # 2. scatter-add the patches onto the canvas, then crop P from each border
        full = col2im(cols, K, S, H, W, h_full, w_full)              # (N, h_full, w_full, C_out)
        out = full[:, P:P + H_out, P:P + W_out, :]                   # (N, H_out, W_out, C_out)
        if "b" in self.params:
            out = out + self.params["b"]  # a new contiguous array: crop and bias in one pass
        self.cache = (X, (N, C_in, H, W))
        return out.transpose(0, 3, 1, 2)                             # NCHW view

    def backward(self, dout, need_dx=True):
        X, (N, C_in, H, W) = self._pop_cache()
        H_out, W_out, h_full, w_full = self._sizes(H, W)
        self._check_dout(dout, (N, self.out_channels, H_out, W_out), X.dtype)
        xp = backend.get_array_module(dout)
        K, S, P, C_out = self.kernel_size, self.stride, self.padding, self.out_channels
        # 1. undo the crop: the gradient of the cropped border is zero
        d_full = xp.zeros((N, h_full, w_full, C_out), dtype=dout.dtype)
        d_full[:, P:P + H_out, P:P + W_out, :] = dout.transpose(0, 2, 3, 1)
        # 2. gather the K×K window each input pixel painted (a stride-S convolution)
        dcols = im2col(d_full, K, S, H, W)                           # (N·H·W, K·K·C_out)
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
        dx    = crop_P(col2im(dout_mat W_matᵀ))

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
    cols (the gathered windows, reused by dW) and the input shape.

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
        # 1. to channels-last, zero-padded: one copy does both
        if P:
            x_pad = xp.zeros((N, H + 2 * P, W + 2 * P, C_in), dtype=x.dtype)
            x_pad[:, P:P + H, P:P + W, :] = x.transpose(0, 2, 3, 1)
        else:
            x_pad = _to_channels_last(x)                             # (N, H, W, C_in)
        # 2. gather the windows, 3. one multiply
        cols = im2col(x_pad, K, S, H_out, W_out)                     # (N·H_out·W_out, K·K·C_in)
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
        dcols = D @ W_mat.T                                          # (N·H_out·W_out, K·K·C_in)
        dx_pad = col2im(dcols, K, S, H_out, W_out, H + 2 * P, W + 2 * P)
        return dx_pad[:, P:P + H, P:P + W, :].transpose(0, 3, 1, 2)  # NCHW view
