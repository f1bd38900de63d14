"""Docstrings point at derivations that exist; the README's commands are the ones CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _anchors(md_text):
    """Explicit <a id="..."> anchors plus GitHub-style heading slugs."""
    ids = set(re.findall(r'<a id="([^"]+)"', md_text))
    for heading in re.findall(r"^#+\s+(.*)$", md_text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        ids.add(slug)
    return ids


def test_every_derivation_reference_resolves():
    refs = []
    for path in (ROOT / "tinygan").rglob("*.py"):
        for m in re.finditer(r"derivations/([\w\-]+\.md)(?:#([\w\-]+))?", path.read_text()):
            refs.append((path.relative_to(ROOT), m.group(1), m.group(2)))
    assert refs, "no docstring points at a derivation"
    missing = []
    for src, fname, anchor in refs:
        md = ROOT / "derivations" / fname
        if not md.exists():
            missing.append(f"{src}: derivations/{fname} does not exist")
        elif anchor and anchor not in _anchors(md.read_text()):
            missing.append(f"{src}: no anchor #{anchor} in derivations/{fname}")
    assert not missing, "\n".join(missing)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert m, "README must mark its test command with <!-- test-command -->"
    test_line = [ln for ln in m.group(1).splitlines() if ln.strip()][-1].strip()
    assert test_line in ci, f"CI must run the README's test command: {test_line!r}"


def test_readme_points_at_no_file_outside_the_repository():
    """A reader of the package has the repository, nothing beside it: no ``../`` paths and
    no absolute paths of the machine it was written on."""
    readme = (ROOT / "README.md").read_text()
    outside = re.findall(r"(?<![\w.])\.\./[\w./<>-]*|(?<![\w.:/])/(?:work|home|tmp)/[\w./-]*",
                         readme)
    assert not outside, f"README.md points outside the repository: {outside}"
