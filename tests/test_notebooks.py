"""Every notebook runs end to end in its short mode, and its .ipynb is in sync with its .py.

The percent script notebooks/NN_topic.py is the source; the paired .ipynb (with the
outputs of a full run, made by tools/build_notebooks.py) is what learners read.
"""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))

sys.path.insert(0, str(ROOT / "tools"))


def _sources(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_and_in_sync(path):
    import jupytext

    ipynb = path.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run python tools/build_notebooks.py {path}"
    assert _sources(jupytext.read(path)) == _sources(jupytext.read(ipynb)), (
        f"{ipynb.name} is out of sync with {path.name}: run python tools/build_notebooks.py {path}")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_short_mode(path, tmp_path, monkeypatch):
    import build_notebooks

    monkeypatch.chdir(tmp_path)
    nb = build_notebooks.execute(path, quick=True, timeout=600)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
