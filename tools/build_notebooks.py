"""Regenerate the committed .ipynb files from their jupytext percent sources, with outputs.

    python tools/build_notebooks.py                 # every notebook, full mode, in place
    python tools/build_notebooks.py notebooks/01_slanted_faces.py
    python tools/build_notebooks.py --quick ...     # short mode (what CI executes), written
                                                    # to build/notebooks-quick/, not in place

The .py file is the source of truth; the .ipynb is never edited by hand. Learners
read the .ipynb (with its figures) on a code host before installing anything, so the
committed .ipynb always holds a *full* run: ``--quick`` writes elsewhere (``--output``),
and only ``--in-place`` lets a quick run replace the committed notebooks.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def execute(py_path, quick=False, timeout=1800):
    """Read a percent script, execute it in its own folder, return the executed notebook."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(py_path)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                          "language": "python"})
    env_before = os.environ.get("TINYGAN_QUICK")
    os.environ["TINYGAN_QUICK"] = "1" if quick else "0"
    # the kernel imports tinygan from this checkout, whatever else is installed
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in paths if p])
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(pathlib.Path(py_path).parent)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("TINYGAN_QUICK", None)
        else:
            os.environ["TINYGAN_QUICK"] = env_before
    return nb


QUICK_OUTPUT = ROOT / "build" / "notebooks-quick"


def output_path(py_path, quick=False, output=None, in_place=False):
    """Where the executed notebook goes: next to its source for a full run (the committed
    .ipynb), else ``output`` (default build/notebooks-quick/) unless ``in_place``."""
    py_path = pathlib.Path(py_path)
    if in_place or not (quick or output):
        return py_path.with_suffix(".ipynb")
    return pathlib.Path(output or QUICK_OUTPUT) / py_path.with_suffix(".ipynb").name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="notebooks/*.py (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="short mode (TINYGAN_QUICK=1); written to --output, never over the "
                         "committed full-run notebooks unless --in-place")
    ap.add_argument("--output", metavar="FOLDER", default=None,
                    help=f"folder for the executed notebooks (default: next to their sources "
                         f"for a full run, {QUICK_OUTPUT.relative_to(ROOT)}/ for --quick)")
    ap.add_argument("--in-place", action="store_true",
                    help="write next to the sources even with --quick (replaces the committed "
                         ".ipynb with short-mode outputs)")
    args = ap.parse_args(argv)
    import jupytext

    paths = [pathlib.Path(p) for p in args.paths] or sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    for p in paths:
        t = time.time()
        nb = execute(p, quick=args.quick)
        out = output_path(p, args.quick, args.output, args.in_place)
        out.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(nb, out, fmt="ipynb")
        print(f"{out}  ({time.time() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
