"""The backend switch: defaults, errors, explicit host copies, explicit generators."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tinygan import backend


def test_numpy_is_the_default():
    assert backend.name() == "numpy"
    assert backend.xp() is np
    assert backend.get_array_module(np.zeros(2)) is np


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(backend.BackendError, match=r"unknown tinygan backend 'jax'"):
        backend.use("jax")


@pytest.mark.skipif(backend.cupy_available(), reason="only meaningful where CuPy cannot load")
def test_cupy_where_it_cannot_load_says_why():
    with pytest.raises(backend.BackendError) as info:
        backend.use("cupy")
    msg = str(info.value)
    assert "CuPy cannot be used here" in msg and "Error" in msg  # includes the import failure
    assert info.value.__cause__ is not None
    assert backend.name() == "numpy"  # a failed switch leaves the default alone


@pytest.mark.skipif(backend.cupy_available(), reason="only meaningful where CuPy cannot load")
def test_environment_variable_selects_the_backend_at_import():
    # a backend that cannot load fails at the first allocation, not at import (so that
    # the tinygan command can report it in one line)
    code = "import tinygan"
    env = {"TINYGAN_BACKEND": "cupy", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code + "; tinygan.Dense(2, 2, init='zeros')"],
                         env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "TINYGAN_BACKEND=cupy: tinygan backend 'cupy' was " \
        "requested but CuPy cannot be used here" in res.stderr
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    env["TINYGAN_BACKEND"] = "numpy"
    res = subprocess.run([sys.executable, "-c", code + "; print(tinygan.backend.name())"],
                         env=env, capture_output=True, text=True)
    assert res.stdout.strip() == "numpy", res.stderr


def test_to_numpy_and_asarray(xp):
    a = backend.asarray([1.0, 2.0], dtype="float32")
    assert backend.get_array_module(a) is xp and a.dtype == np.float32
    h = backend.to_numpy(a)
    assert isinstance(h, np.ndarray) and h.tolist() == [1.0, 2.0]


def test_rng_is_explicit_and_reproducible(xp):
    a = backend.rng(7).standard_normal(3)
    b = backend.rng(7).standard_normal(3)
    assert backend.get_array_module(a) is xp
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))


def test_library_code_never_imports_numpy_directly():
    import pathlib
    import re

    root = pathlib.Path(backend.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "backend.py"
                 and re.search(r"^\s*(import (numpy|cupy)|from (numpy|cupy)\b)", p.read_text(),
                               re.M)]
    assert offenders == []


# -- the C heap keeps freed memory (backend.keep_freed_memory) ----------------------------
_GLIBC = sys.platform.startswith("linux") and __import__("platform").libc_ver()[0] == "glibc"

#: A training step's pattern: three 12 MB arrays touched, then all freed, ten times over;
#: prints the minor page faults the loop took.
_STEP_PATTERN = """
import resource
import numpy as np
import tinygan  # applies TINYGAN_MALLOC at import
def step():
    a = [np.ones(3_200_000, dtype=np.float32) for _ in range(3)]
    del a
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode):
    env = {**os.environ, "TINYGAN_MALLOC": mode}
    out = subprocess.run([sys.executable, "-c", _STEP_PATTERN], env=env, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _GLIBC, reason="the heap thresholds are glibc's (mallopt)")
def test_freed_arrays_are_reused_without_page_faults():
    # with glibc's own thresholds the freed 38 MB go back to the kernel, and the next
    # round faults pages in again (11 679 faults in ten rounds on glibc 2.36); kept, the
    # heap reuses them
    kept, system = _faults("keep"), _faults("system")
    assert kept < 100, f"{kept} page faults in ten rounds with the heap kept"
    assert system > 10 * 500, f"the pattern should fault without it, got {system}"


def test_keep_freed_memory_arguments_and_other_c_libraries(monkeypatch):
    with pytest.raises(ValueError, match="trim_mib as an integer number of MiB"):
        backend.keep_freed_memory(trim_mib=0)
    with pytest.raises(ValueError, match="mmap_mib"):
        backend.keep_freed_memory(mmap_mib=2.5)
    monkeypatch.setattr(backend, "_glibc_mallopt", lambda: None)
    assert backend.keep_freed_memory() is False  # macOS, Windows, musl: unchanged


def test_malloc_environment_variable_is_checked():
    env = {**os.environ, "TINYGAN_MALLOC": "jemalloc"}
    out = subprocess.run([sys.executable, "-c", "import tinygan"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "TINYGAN_MALLOC='jemalloc': expected 'keep'" in out.stderr
