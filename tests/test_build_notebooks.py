"""tools/build_notebooks.py never overwrites the committed full-run .ipynb with a quick run."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


def test_quick_builds_go_elsewhere_unless_asked(tmp_path, monkeypatch):
    import build_notebooks as bn
    import nbformat

    src = ROOT / "notebooks" / "01_slanted_faces.py"
    committed = src.with_suffix(".ipynb")
    before = committed.read_bytes()
    assert bn.output_path(src) == committed  # a full run replaces the committed notebook
    assert bn.output_path(src, quick=True) == bn.QUICK_OUTPUT / committed.name
    assert bn.output_path(src, quick=True, in_place=True) == committed
    assert bn.output_path(src, quick=True, output=tmp_path) == tmp_path / committed.name

    calls = []

    def fake_execute(path, quick=False, timeout=1800):  # no kernel: only where it is written
        calls.append(quick)
        return nbformat.v4.new_notebook()

    monkeypatch.setattr(bn, "execute", fake_execute)
    assert bn.main(["--quick", "--output", str(tmp_path), str(src)]) == 0
    assert calls == [True] and (tmp_path / committed.name).exists()
    assert committed.read_bytes() == before
