"""The backend switch: defaults, errors, explicit host copies, explicit generators."""

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
