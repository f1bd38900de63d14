"""Shared test configuration: hypothesis profiles, the backend fixture, torch availability.

Profiles (``HYPOTHESIS_PROFILE``): ``dev`` few examples (the default on a laptop),
``ci`` derandomized (the default when ``CI`` is set), ``thorough`` many examples.

Two kinds of test may skip, and only these: the PyTorch cross-checks where torch is
missing (``needs_torch``; ``TINYGAN_REQUIRE_TORCH=1``, which CI sets, turns a missing
torch into an error instead), and the CuPy twin of every ``xp``-parametrized test (and
the ``gpu`` tests) where CuPy or a CUDA device is missing. The run ends with the skipped
tests counted by reason.
"""

import collections
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # tests draw figures without a display
# One BLAS thread unless told otherwise (before NumPy loads; subprocesses inherit it), as CI
# runs: the tests' small products are faster so. The resume tests compare a run interrupted
# in a subprocess with one in this process bit for bit; OpenBLAS's sums depend on its thread
# count, so the subprocess inherits this process's setting rather than pinning its own (a
# child pinned to 1 beside a parent at 2 differed in the last bits).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from tinygan import backend  # noqa: E402

# The `xp` fixture only selects a backend and holds no state between examples, so the
# function-scoped-fixture health check does not apply to it.
_quiet = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile("dev", max_examples=10, deadline=None, suppress_health_check=_quiet)
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=_quiet)
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=_quiet)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

try:
    import torch  # noqa: F401

    HAVE_TORCH = True
except Exception as e:  # pragma: no cover - depends on the machine
    HAVE_TORCH = False
    if os.environ.get("TINYGAN_REQUIRE_TORCH") == "1":
        raise RuntimeError("TINYGAN_REQUIRE_TORCH=1 but torch cannot be imported, so every "
                           f"PyTorch cross-check would skip: {e!r}") from e

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


def pytest_terminal_summary(terminalreporter):
    """After the run: how many tests skipped, for which reason (none may skip silently)."""
    reasons = collections.Counter()
    for rep in terminalreporter.stats.get("skipped", []):
        longrepr = rep.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped tests by reason")
        for reason, n in reasons.most_common():
            terminalreporter.write_line(f"{n:5d}  {reason}")

