"""The array backend: NumPy by default, CuPy with one switch.

This is the only module in tinygan that imports ``numpy`` or ``cupy``. Everything
else asks it for an array module:

* inside ``forward``/``backward`` a layer calls ``get_array_module(x)``, so the
  data decides where the arithmetic runs and there is no hidden global;
* the global default (``use("cupy")`` or ``TINYGAN_BACKEND=cupy``) is consulted
  only when something new is *allocated*: parameters, noise, random generators;
* ``to_numpy(x)`` is the one explicit host copy, used at the edges (plots, metrics,
  printing).

Random numbers always come from explicit generators made by ``rng(seed)``. NumPy
and CuPy generators produce *different* streams for the same seed, so a run is
reproducible on one backend, not across backends.
"""

from __future__ import annotations

import math
import os

import numpy

__all__ = [
    "BackendError",
    "use",
    "name",
    "xp",
    "numpy",
    "get_array_module",
    "to_numpy",
    "asarray",
    "rng",
    "all_finite",
    "cupy_available",
    "checks",
    "checks_enabled",
    "is_rng",
    "rng_state",
    "set_rng_state",
]


class BackendError(RuntimeError):
    """Raised when a backend is asked for that cannot be used here.

    ``cli_message`` is the same error worded for the ``tinygan`` command, whose fix is a
    flag (``--backend numpy``) rather than a Python call; it defaults to the message.
    """

    def __init__(self, message, cli_message=None):
        super().__init__(message)
        self.cli_message = message if cli_message is None else cli_message


_BACKENDS = ("numpy", "cupy")
_state = {"name": "numpy", "module": numpy, "checks": True, "env_error": None}
_cupy = None  # the cupy module once it has been imported successfully


def _import_cupy():
    """Import CuPy and prove that a device answers, or raise one clear error."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy  # noqa: TID251 - the backend is the one place allowed to

        cupy.cuda.runtime.getDeviceCount()
        cupy.zeros(1).sum()  # fails here, not mid-training, if the driver is broken
    except Exception as exc:  # ImportError, CUDARuntimeError, ...
        why = ("tinygan backend 'cupy' was requested but CuPy cannot be used here: "
               f"{type(exc).__name__}: {exc}. Install the wheel that matches your CUDA "
               "(pip install 'tinygan[gpu]' for CUDA 12, or cupy-cuda13x for CUDA 13) on a "
               "machine with an NVIDIA GPU, or stay on the default backend with ")
        raise BackendError(why + "tinygan.backend.use('numpy').",
                           cli_message=why + "--backend numpy.") from exc
    _cupy = cupy
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and a CUDA device answers (never raises)."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def use(backend: str) -> None:
    """Select the array backend used for new allocations: ``"numpy"`` or ``"cupy"``.

    >>> use("numpy"); name()
    'numpy'
    """
    if backend not in _BACKENDS:
        raise BackendError(f"unknown tinygan backend {backend!r}; expected one of {_BACKENDS}")
    module = numpy if backend == "numpy" else _import_cupy()
    _state["name"], _state["module"], _state["env_error"] = backend, module, None


def _check_env():
    """Raise the error of a bad ``TINYGAN_BACKEND`` at the first use, not at import.

    ``import tinygan`` must not fail, so that the ``tinygan`` command can report a bad
    variable in one line; any allocation (``xp``, ``rng``, ``asarray``) or ``name()``
    raises it until ``use(...)`` picks a backend explicitly.
    """
    if _state["env_error"] is not None:
        raise _state["env_error"]


def name() -> str:
    """The name of the current default backend."""
    _check_env()
    return _state["name"]


def xp():
    """The array module of the current default backend (for allocation only)."""
    _check_env()
    return _state["module"]


def get_array_module(*arrays):
    """The array module (numpy or cupy) that owns ``arrays``: layer code follows its data."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return numpy


def to_numpy(x):
    """An explicit host copy: a NumPy array from a NumPy or CuPy array (or a scalar)."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.asnumpy(x)
    return numpy.asarray(x)


def all_finite(x) -> bool:
    """True when ``x`` holds no NaN or inf (on CuPy this reads one boolean back).

    On NumPy the ufunc's own ``reduce`` skips the Python wrapper of ``.all()``. An array of
    at most 64 elements (the 2×2 toy's, and its batch of 64 noise values) is first tested
    by Python's own sum of its values, faster than the two NumPy calls below up to about
    100 elements and three times faster on 4; an array of
    4096 elements or more is first tested with one BLAS dot product, which reads it once
    and writes no mask (2–3× faster on a DCGAN layer's input): Σ x² is finite exactly
    when every x is, unless the squares overflow (|x| ≳ 10¹⁹ in float32); in both cases
    only when the shortcut's number is not finite are the elements checked one by one.
    """
    if isinstance(x, numpy.ndarray):
        if x.size <= 64 and x.dtype.kind == "f":  # the toy's arrays: Python sums faster
            if math.isfinite(sum(x.ravel().tolist())):
                return True
        elif x.size >= 4096 and x.dtype.kind == "f":
            flat = x.ravel(order="K")  # a view whenever x is contiguous in some axis order
            with numpy.errstate(over="ignore"):
                if math.isfinite(numpy.dot(flat, flat)):
                    return True
        return bool(numpy.logical_and.reduce(numpy.isfinite(x), axis=None))
    return bool(get_array_module(x).isfinite(x).all())


def asarray(x, dtype=None):
    """Move ``x`` to the current default backend (an explicit copy when it crosses devices)."""
    mod = xp()
    if mod is numpy:
        return to_numpy(x) if dtype is None else to_numpy(x).astype(dtype, copy=False)
    return mod.asarray(x, dtype=dtype)


def rng(seed=None):
    """A random ``Generator`` on the current default backend.

    NumPy's and CuPy's generators give different streams for the same seed.
    """
    return xp().random.default_rng(seed)


def is_rng(obj) -> bool:
    """True for a NumPy or CuPy random ``Generator`` (what layers draw their weights from)."""
    if isinstance(obj, numpy.random.Generator):
        return True
    return _cupy is not None and isinstance(obj, _cupy.random.Generator)


def rng_state(gen):
    """The complete state of a random generator as plain data (dicts, ints, host arrays).

    ``set_rng_state(gen, rng_state(gen))`` later makes ``gen`` continue exactly where it
    was: checkpoints store this so that a resumed run draws the same numbers.

    >>> g = rng(0); s = rng_state(g); a = g.random(); set_rng_state(g, s); g.random() == a
    True
    """
    if isinstance(gen, numpy.random.Generator):
        return {"kind": "numpy.Generator", "state": gen.bit_generator.state}
    if isinstance(gen, numpy.random.RandomState):  # the 2×2 toy's legacy stream
        return {"kind": "numpy.RandomState", "state": gen.get_state(legacy=False)}
    if _cupy is not None and isinstance(gen, _cupy.random.Generator):
        # CuPy offers no public getter ("random states cannot be serialized", its docs
        # say). Its cuRAND bit generators keep one state per GPU thread in a device
        # array, ``bit_generator._state`` (int8, CuPy ≥ 11), which a copy saves and
        # restores exactly. Private API, written from CuPy's source and NOT run here:
        # this machine has no GPU, so no test covers it.
        bits = gen.bit_generator
        return {"kind": "cupy.Generator", "bit_generator": type(bits).__name__,
                "state": _cupy.asnumpy(bits._state)}
    raise TypeError(f"rng_state: expected a NumPy or CuPy random generator, got "
                    f"{type(gen).__name__}")


def set_rng_state(gen, state):
    """Restore a state from :func:`rng_state` into ``gen`` (a generator of the same kind)."""
    kind = state.get("kind") if isinstance(state, dict) else None
    here = rng_state_kind(gen)
    if kind != here:
        raise ValueError(f"set_rng_state: the saved state is of a {kind} but the generator "
                         f"is a {here}")
    if here == "numpy.Generator":
        gen.bit_generator.state = state["state"]
    elif here == "numpy.RandomState":
        gen.set_state(state["state"])
    else:  # CuPy: see rng_state (untested here: no GPU)
        bits = gen.bit_generator
        if type(bits).__name__ != state["bit_generator"] or \
                bits._state.shape != tuple(numpy.shape(state["state"])):
            raise ValueError(f"set_rng_state: the saved CuPy state is of a "
                             f"{state['bit_generator']} with {numpy.size(state['state'])} "
                             f"bytes; this generator is a {type(bits).__name__} with "
                             f"{bits._state.size}")
        bits._state[...] = _cupy.asarray(state["state"])


def rng_state_kind(gen):
    """``"numpy.Generator"``, ``"numpy.RandomState"`` or ``"cupy.Generator"``."""
    if isinstance(gen, numpy.random.Generator):
        return "numpy.Generator"
    if isinstance(gen, numpy.random.RandomState):
        return "numpy.RandomState"
    if _cupy is not None and isinstance(gen, _cupy.random.Generator):
        return "cupy.Generator"
    raise TypeError(f"expected a NumPy or CuPy random generator, got {type(gen).__name__}")


def legacy_random_state(seed):
    """NumPy's legacy ``RandomState``: only for reproducing code that seeded the global RNG."""
    return numpy.random.RandomState(seed)


class checks:
    """Turn input checks that need a device→host sync (finiteness) on or off in a block.

    Shape and dtype checks are free and always on. The finiteness check of layer
    inputs reads one boolean back from the device; on a GPU inner loop you may
    turn it off with ``with backend.checks(False): ...``. The trainer's check of
    each loss for NaN stays on either way.

    (A class rather than a ``contextlib`` generator: the trainer enters it several times
    per step, and on the 2×2 toy the generator machinery costs as much as a layer call.)
    """

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled)

    def __enter__(self):
        self.old = _state["checks"]
        _state["checks"] = self.enabled
        return self

    def __exit__(self, *exc):
        _state["checks"] = self.old


def checks_enabled() -> bool:
    return _state["checks"]


_env = os.environ.get("TINYGAN_BACKEND")
if _env:
    try:
        use(_env.strip().lower())
    except BackendError as _exc:  # raised at the first use: see _check_env
        _state["env_error"] = BackendError(f"TINYGAN_BACKEND={_env}: {_exc}",
                                           f"TINYGAN_BACKEND={_env}: {_exc.cli_message}")
