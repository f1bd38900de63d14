"""Data that the code generates or that ships inside the package: no downloads, ever.

* :func:`faces` — the five 2×2 "slanted faces" of the toy (papers.md §1).
"""

from __future__ import annotations

from .. import backend

__all__ = ["FACES", "faces"]

# Row-major [top-left, top-right, bottom-left, bottom-right]; a dark "\" diagonal is a face.
FACES = (
    (1.0, 0.0, 0.0, 1.0),
    (0.9, 0.1, 0.2, 0.8),
    (0.9, 0.2, 0.1, 0.8),
    (0.8, 0.1, 0.2, 0.9),
    (0.8, 0.2, 0.1, 0.9),
)


def faces(dtype="float64"):
    """The five faces as a (5, 4) array on the current backend."""
    return backend.asarray(FACES, dtype=dtype)
