"""Numerical gradient checking: central differences in float64.

One line in a notebook cell::

    >>> from tinygan import Dense, backend
    >>> from tinygan.gradcheck import check_layer
    >>> rng = backend.rng(0)
    >>> layer = Dense(3, 2, rng=rng, dtype="float64")
    >>> print(check_layer(layer, rng.standard_normal((4, 3))))  # doctest: +SKIP
    gradcheck Dense(3→2)          max rel error   worst index   analytic      numeric
      dx  (4, 3)                  3.1e-11         (2, 0)        ...

How it works (derivations/01_backprop_dense_sigmoid_bce.md#how-the-tests-verify-this):

1. Draw a **random** upstream gradient g (never all ones: a constant g hides
   transposition bugs, and the gradient of sum(BatchNorm(x)) is exactly zero).
2. The scalar L(x, θ) = Σ g ⊙ layer(x) has ∂L/∂x = layer.backward(g).
3. For every element u of x and of each parameter, estimate
   ∂L/∂u ≈ (L(u + h) − L(u − h)) / 2h  with h = 1e-5 in float64 (about ε^(1/3),
   which balances round-off, ε|L|/h, against truncation, h²·L‴/6).
4. Compare elementwise with the *scaled relative error*
   |a − n| / max(|a| + |n|, 1e-3·s),  s = max over the tensor of (|a| + |n|):
   an element far smaller than the tensor's largest is judged on the tensor's
   scale, so a true zero computed as 1e-12 does not count as a 100% error. A
   wrong formula gives errors of order 1; float64 differences give about 1e-9 or less.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from . import backend
from .layers.base import no_grad

__all__ = ["numerical_grad", "rel_error", "check_layer", "check_function",
           "GradResult", "GradcheckReport"]

DEFAULT_H = 1e-5  # ≈ ε^(1/3): balances round-off (ε|f|/h) against truncation (h²f‴)
DEFAULT_TOL = 1e-6
SCALE_FLOOR = 1e-3


def numerical_grad(f, x, h=DEFAULT_H, indices=None):
    """∂f/∂x by central differences, perturbing ``x`` in place (and restoring it).

    ``f`` takes no arguments and returns a scalar; ``indices`` (a list of index
    tuples) restricts the check to some elements; the others are left at NaN.
    """
    xp = backend.get_array_module(x)
    grad = xp.full(x.shape, float("nan"), dtype="float64")
    if indices is None:
        indices = list(backend.numpy.ndindex(*x.shape))
    for ix in indices:
        old = x[ix].copy()
        x[ix] = old + h
        fp = float(f())
        x[ix] = old - h
        fm = float(f())
        x[ix] = old
        grad[ix] = (fp - fm) / (2 * h)
    return grad


def rel_error(analytic, numeric, floor=SCALE_FLOOR):
    """Elementwise scaled relative error (see the module docstring), as a host array."""
    np = backend.numpy
    a, n = backend.to_numpy(analytic).astype("float64"), backend.to_numpy(numeric)
    mag = np.abs(a) + np.abs(n)
    finite = np.isfinite(n)
    scale = float(mag[finite].max()) if finite.any() else 0.0
    den = np.maximum(mag, max(floor * scale, 1e-300))
    err = np.where(finite, np.abs(a - n) / den, 0.0)
    return err


@dataclass
class GradResult:
    """The comparison for one tensor (the input or one parameter)."""

    name: str
    shape: tuple
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    max_abs_error: float
    checked: int
    tol: float

    @property
    def ok(self):
        return self.max_rel_error < self.tol


class GradcheckReport:
    """All tensors checked for one layer or function; ``print`` it, or ``assert_ok()``."""

    def __init__(self, title, results, seed):
        self.title, self.results, self.seed = title, list(results), seed

    @property
    def ok(self):
        return all(r.ok for r in self.results)

    @property
    def max_rel_error(self):
        return max(r.max_rel_error for r in self.results)

    def __getitem__(self, name):
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __str__(self):
        lines = [f"gradcheck {self.title} (float64, central differences, seed {self.seed})",
                 f"  {'tensor':<12}{'shape':<16}{'max rel err':<13}{'worst index':<16}"
                 f"{'analytic':<14}{'numeric':<14}ok"]
        for r in self.results:
            lines.append(f"  {r.name:<12}{str(r.shape):<16}{r.max_rel_error:<13.2e}"
                         f"{str(r.worst_index):<16}{r.analytic:<14.6g}{r.numeric:<14.6g}"
                         f"{'yes' if r.ok else 'NO'}")
        return "\n".join(lines)

    __repr__ = __str__

    def assert_ok(self):
        if not self.ok:
            raise AssertionError("gradient check failed\n" + str(self))
        return self


def _compare(name, analytic, numeric, tol, indices):
    np = backend.numpy
    a = backend.to_numpy(analytic).astype("float64")
    n = backend.to_numpy(numeric)
    err = rel_error(a, n)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    worst = tuple(int(i) for i in worst)
    finite = np.isfinite(n)
    abs_err = float(np.abs(a - n)[finite].max()) if finite.any() else 0.0
    return GradResult(name, tuple(a.shape), float(err.max()) if err.size else 0.0, worst,
                      float(a[worst]) if a.size else 0.0, float(n[worst]) if n.size else 0.0,
                      abs_err, len(indices) if indices is not None else int(a.size), tol)


def _sample_indices(shape, max_checks, gen):
    if max_checks is None:
        return None
    size = 1
    for s in shape:
        size *= s
    if size <= max_checks:
        return None
    flat = gen.choice(size, size=max_checks, replace=False)
    return [tuple(int(i) for i in backend.numpy.unravel_index(f, shape)) for f in flat]


def check_layer(layer, x, seed=0, h=DEFAULT_H, tol=DEFAULT_TOL, max_checks=None, dout=None,
                input_names=None):
    """Check ``layer.backward`` against central differences, for x and every parameter.

    The layer is deep-copied and cast to float64 (the original is untouched), and
    ``x`` is cast to float64. ``max_checks`` samples that many elements per tensor
    for big shapes. Returns a :class:`GradcheckReport`.

    A layer with several inputs (``AdaIN.forward(x, w)``) is checked by passing a tuple
    ``x = (x, w)``: its backward returns one gradient per input (``None`` for an input
    without one, such as noise), named by ``input_names`` (default ``dx``, ``dx1``, …).
    Inputs that are not floating-point arrays (the integer class ids of an Embedding,
    ``ConstantInput.forward(N)``) are passed as they are and have no gradient: only the
    other inputs and the parameters are checked.
    """
    layer = copy.deepcopy(layer).astype("float64")
    layer.zero_grad()

    def _cast(v):
        if getattr(getattr(v, "dtype", None), "kind", None) in ("i", "u", "b") or \
                isinstance(v, int):
            return v  # ids or a count: no gradient
        return backend.asarray(v, "float64") if not hasattr(v, "astype") else v.astype("float64")

    inputs = [_cast(v) for v in (x if isinstance(x, tuple) else (x,))]
    if input_names is None:
        input_names = ["dx"] + [f"dx{i}" for i in range(1, len(inputs))]
    gen = backend.numpy.random.default_rng(seed)
    out = layer.forward(*inputs)
    xp = backend.get_array_module(out)
    if dout is None:
        dout = xp.asarray(gen.standard_normal(out.shape))
    d_inputs = layer.backward(dout)
    d_inputs = tuple(d_inputs) if isinstance(d_inputs, tuple) else (d_inputs,)
    analytic = {"d" + k: g.copy() for k, g in layer.grads.items()}

    def f():
        with no_grad(layer):  # a forward only: no cache, so no backward is pending
            y = layer.forward(*inputs)
        return (y * dout).sum()

    results = []
    for name, v, dv in zip(input_names, inputs, d_inputs):
        if dv is None or getattr(getattr(v, "dtype", None), "kind", None) != "f":
            continue
        idx = _sample_indices(v.shape, max_checks, gen)
        results.append(_compare(name, dv, numerical_grad(f, v, h, idx), tol, idx))
    for k, p in layer.params.items():
        idx = _sample_indices(p.shape, max_checks, gen)
        results.append(_compare("d" + k, analytic["d" + k], numerical_grad(f, p, h, idx),
                                tol, idx))
    return GradcheckReport(repr(layer), results, seed)


def check_function(fn, *inputs, names=None, h=DEFAULT_H, tol=DEFAULT_TOL, title=None,
                   max_checks=None, seed=0):
    """Check a function that returns ``(value, grad_1, …, grad_k)``.

    ``value`` is a scalar and ``grad_i`` is its gradient with respect to
    ``inputs[i]`` (a loss, for instance: ``check_function(bce_with_logits, a, y)``
    checks the gradient with respect to ``a``). Inputs are cast to float64.
    """
    inputs = [x.astype("float64") for x in inputs]
    out = fn(*inputs)
    value, grads = out[0], out[1:]
    if names is None:
        names = [f"d{i}" for i in range(len(grads))]
    gen = backend.numpy.random.default_rng(seed)
    results = []
    for i, (name, g) in enumerate(zip(names, grads)):
        idx = _sample_indices(inputs[i].shape, max_checks, gen)
        num = numerical_grad(lambda: fn(*inputs)[0], inputs[i], h, idx)
        results.append(_compare(name, g, num, tol, idx))
    del value
    return GradcheckReport(title or getattr(fn, "__name__", "function"), results, seed)
