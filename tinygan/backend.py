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
import threading

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
    "threads",
    "set_threads",
    "over_rows",
    "keep_freed_memory",
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


# -- both cores for the passes between the multiplies ---------------------------------------
#: a pass is split only into blocks of at least this many bytes: smaller ones cost less
#: than handing them to a thread (50–100 µs a round trip to a sleeping core of a VM)
_MIN_CHUNK_BYTES = 1 << 20
_threads = {"setting": 1, "pool": None, "pool_size": 0}
_pool_lock = threading.Lock()


def set_threads(k=1):
    """How many threads :func:`over_rows` splits a large elementwise pass over (default 1).

    ``1`` (the default) runs every pass as one call on the calling thread: the plain
    single-threaded NumPy code. ``TINYGAN_THREADS=k`` in the environment sets the same at
    import.

    Opt-in because it pays only where the second core is free between the multiplies.
    OpenBLAS's idle threads busy-wait for about 2²⁸ cycles (0.1 s) after each call,
    longer than any gap between a training step's multiplies, so a NumPy pass on a
    second thread shares that core with a spinning BLAS thread and gains nothing
    (DCGAN step at 2 BLAS threads 286 → 302 ms). With ``OPENBLAS_THREAD_TIMEOUT=4`` in
    the environment before NumPy loads, the BLAS threads sleep after each call and two
    threads here took the step from 278 to 252 ms (benchmarks/README.md, 2026-12-02).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"set_threads needs a positive integer, got {k!r}")
    _threads["setting"] = k


def threads() -> int:
    """The number of threads :func:`over_rows` uses (see :func:`set_threads`)."""
    return _threads["setting"]


def _pool(k):
    """The module's worker threads (k − 1 of them: the caller runs the first chunk)."""
    if _threads["pool_size"] < k - 1:
        with _pool_lock:
            if _threads["pool_size"] < k - 1:
                from concurrent.futures import ThreadPoolExecutor

                old = _threads["pool"]
                _threads["pool"] = ThreadPoolExecutor(k - 1, thread_name_prefix="tinygan")
                _threads["pool_size"] = k - 1
                if old is not None:
                    old.shutdown(wait=False)
    return _threads["pool"]


def over_rows(fn, *arrays):
    """``fn(*arrays)``, possibly as ``fn(*(a[lo:hi] for a in arrays))`` over blocks of rows.

    ``fn`` is an elementwise pass (or any computation that treats each index of the
    first axis on its own) written for whole arrays; ``arrays`` are what it reads and
    writes, all with the same length of the first axis (N images, or M rows). When it
    pays, the rows are split into :func:`threads` contiguous blocks that cover them
    exactly once and ``fn`` runs on each block's views at the same time, one block per
    thread: NumPy's ufuncs and copies release the GIL, so the pass runs on every core.
    Each block's result is the one the whole call writes there, so the result is the
    same bit for bit, for any number of blocks.

    A single call ``fn(*arrays)`` on the calling thread (the plain single-threaded code)
    when ``threads() == 1``, when the arrays total less than two blocks of
    ``_MIN_CHUNK_BYTES``, or when any of them is not a NumPy array (CuPy runs the whole
    array in one kernel launch).

    >>> import numpy as np
    >>> x = np.arange(10.0); y = np.empty_like(x)
    >>> over_rows(lambda x, y: np.multiply(x, 2, out=y), x, y)
    >>> y.tolist()[-3:]
    [14.0, 16.0, 18.0]
    """
    k = threads()
    if k > 1:
        nbytes = 0
        for a in arrays:
            if not isinstance(a, numpy.ndarray) or a.ndim == 0:
                k = 1
                break
            nbytes += a.nbytes
        else:
            k = min(k, len(arrays[0]), nbytes // _MIN_CHUNK_BYTES)
    if k <= 1:
        fn(*arrays)
        return
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"over_rows needs arrays with the same number of rows, got "
                         f"{[len(a) for a in arrays]}")
    bounds = [n * i // k for i in range(k + 1)]
    blocks = [tuple(a[lo:hi] for a in arrays) for lo, hi in zip(bounds[:-1], bounds[1:])]
    futures = [_pool(k).submit(fn, *block) for block in blocks[1:]]
    try:
        fn(*blocks[0])                                    # the first block on this thread
    finally:
        for f in futures:
            f.result()                                    # re-raises a block's error


# -- the C heap: freed memory kept for the next step ------------------------------------
#: glibc's ``mallopt`` parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_heap = {"kept": None}  # None: never set; else the (trim, mmap) thresholds in bytes


def keep_freed_memory(trim_mib=256, mmap_mib=32):
    """Let the C heap keep freed memory for the next allocation instead of returning it.

    A training step allocates the same multi-megabyte arrays every step (layer outputs,
    input gradients, BatchNorm's normalised maps) and frees them before the next one.
    glibc's malloc serves a request above its mmap threshold (at most 32 MiB, adjusted as
    the process runs) with fresh pages from the kernel, and returns heap memory to the
    kernel whenever more than its trim threshold lies free at the top of the heap. Either
    way the next step's arrays are new pages, and the kernel zero-fills each 4 KiB page at
    its first touch (a minor page fault). A DCGAN step at batch 64 took 2713 page faults
    and 5–7 ms of system time, about 3 % of the step at one thread; with this, 1 fault
    and none (benchmarks/README.md, 2026-12-02, fifth session). The layers' kept work
    arrays (``layers.base.work_array``) avoid the faults for their own temporaries; this
    avoids them for every array.

    Sets glibc's trim threshold to ``trim_mib`` MiB (free memory up to that size stays in
    the heap) and its mmap threshold to ``mmap_mib`` MiB (smaller requests come from the
    heap, where freed memory is reused without new faults; 32 MiB is the largest value
    every glibc accepts, and more than a DCGAN layer's largest array at batch 64, 12.8
    MB). Process-wide, for the rest of the process; the cost is that the process's
    resident memory does not shrink after large arrays are freed, by up to ``trim_mib``.
    Called once when tinygan is imported, unless ``TINYGAN_MALLOC=system`` is in the
    environment (glibc's own behaviour). Returns True where it took effect; False where
    the C library is not glibc (macOS, Windows, musl), which keeps its own behaviour.
    """
    for name, v in (("trim_mib", trim_mib), ("mmap_mib", mmap_mib)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v < 2048:
            raise ValueError(f"keep_freed_memory needs {name} as an integer number of MiB "
                             f"from 1 to 2047, got {v!r}")
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    trim, mmap = trim_mib << 20, mmap_mib << 20
    if not mallopt(_M_MMAP_THRESHOLD, mmap):
        return False  # glibc refused (above its maximum): its own behaviour unchanged
    mallopt(_M_TRIM_THRESHOLD, trim)
    _heap["kept"] = (trim, mmap)
    return True


def _glibc_mallopt():
    """glibc's ``mallopt`` through ctypes, or None where the C library is not glibc."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


_env_malloc = os.environ.get("TINYGAN_MALLOC", "keep").strip().lower()
if _env_malloc not in ("keep", "system"):
    raise ValueError(f"TINYGAN_MALLOC={_env_malloc!r}: expected 'keep' (the default: freed "
                     "memory kept for reuse, see backend.keep_freed_memory) or 'system' "
                     "(the C library's own behaviour)")
if _env_malloc == "keep":
    keep_freed_memory()

_env_threads = os.environ.get("TINYGAN_THREADS")
if _env_threads:
    try:
        set_threads(int(_env_threads))
    except ValueError:
        raise ValueError(f"TINYGAN_THREADS={_env_threads!r}: expected a positive integer "
                         "(the threads of tinygan's elementwise passes)") from None

_env = os.environ.get("TINYGAN_BACKEND")
if _env:
    try:
        use(_env.strip().lower())
    except BackendError as _exc:  # raised at the first use: see _check_env
        _state["env_error"] = BackendError(f"TINYGAN_BACKEND={_env}: {_exc}",
                                           f"TINYGAN_BACKEND={_env}: {_exc.cli_message}")
