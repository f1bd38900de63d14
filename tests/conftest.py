"""Shared test configuration: hypothesis profiles, the backend fixture, torch availability.

Profiles (``HYPOTHESIS_PROFILE``): ``dev`` few examples (the default on a laptop),
``ci`` derandomized (the default when ``CI`` is set), ``thorough`` many examples.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # tests draw figures without a display

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from tinygan import backend  # noqa: E402

# The `xp` fixture only selects a backend and holds no state between examples, so the
# function-scoped-fixture health check does not apply to it.
_quiet = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile("dev", max_examples=10, deadline=None, suppress_health_check=_quiet)
settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=_quiet)
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=_quiet)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

try:
    import torch  # noqa: F401

    HAVE_TORCH = True
except Exception:  # pragma: no cover - depends on the machine
    HAVE_TORCH = False

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed (optional "
                                 "cross-check; pip install torch==2.13.0)")

_BACKENDS = ["numpy"]
if os.environ.get("TINYGAN_TEST_CUPY", "1") != "0":
    _BACKENDS.append(pytest.param("cupy", marks=pytest.mark.gpu))


@pytest.fixture(params=_BACKENDS)
def xp(request):
    """The array module of each backend; the default backend is switched for the test."""
    name = request.param
    if name == "cupy" and not backend.cupy_available():
        pytest.skip("CuPy with a CUDA device is not available here")
    old = backend.name()
    backend.use(name)
    try:
        yield backend.xp()
    finally:
        backend.use(old)


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data (host side)."""
    return np.random.default_rng(1234)
