#!/usr/bin/env python3
"""Mutation testing by hand-picked plausible bugs: does the suite notice each one?

Every entry of ``tools/mutants.py`` is one bug that a person could plausibly write (an
off-by-one slope, a reused noise batch, a forgotten bias correction): a file, an exact
snippet of the current code, its buggy replacement, and the test files that should
catch it. For each mutant this script

1. copies the checkout (tracked and untracked-but-not-ignored files) to a temporary
   folder, once, and checks that ``import tinygan`` there imports the copy;
2. replaces the snippet(s) (each must occur exactly once; otherwise the mutant is
   *stale*: the code moved on, update the entry);
3. runs ``python -m pytest -x -q`` on the mutant's test files in CI's hypothesis
   profile (derandomized) with one BLAS thread;
4. restores the file and reports *caught* (pytest failed: the first failing test is
   named), *SURVIVED* (pytest passed: a gap in the tests), stale or timeout.

First it runs the union of the listed test files on the unmutated copy: a suite that
fails already would make every mutant look caught.

    python tools/mutate.py                  # every mutant
    python tools/mutate.py --list           # the catalogue
    python tools/mutate.py T1 A1            # some of them
    python tools/mutate.py --json out.json  # also write the results
    python tools/mutate.py --hints out.json # each mutant's catching test of that run first

The machine may be shared: the runs are ``nice``d, one at a time, and ``--pause-file F``
waits (polling every 30 s) while F exists before each run, for a benchmark's quiet
window. When you fix a bug the tests missed, add the bug here as a mutant.

``--hints`` reads the results of an earlier ``--json`` run and first runs, for each
mutant caught there, the one test that caught it (seconds instead of minutes); only if
that test passes now does the mutant get its whole list of test files. The verdict is
the same: a mutant is caught when some test of the suite fails on it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from mutants import MUTANTS  # noqa: E402


def _copy_checkout(dest):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split("\n")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _env(copy):
    env = dict(os.environ, CI="true", HYPOTHESIS_PROFILE="ci", MPLBACKEND="Agg",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = str(copy) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _pytest(copy, tests, timeout):
    cmd = ["nice", "-n", "10", sys.executable, "-m", "pytest", "-x", "-q", "-p",
           "no:cacheprovider", "-o", "addopts=", *tests]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", "", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    out = p.stdout + p.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
    if p.returncode == 0:
        return "passed", "", seconds
    if p.returncode == 1 and failed:
        return "failed", failed[0], seconds
    return f"error (pytest exit {p.returncode})", out[-2000:], seconds


def _wait(pause_file):
    while pause_file and Path(pause_file).exists():
        time.sleep(30)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ids", nargs="*", help="mutant ids to run (default: all)")
    ap.add_argument("--list", action="store_true", help="print the catalogue and exit")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per pytest run")
    ap.add_argument("--pause-file", help="wait while this file exists before each run")
    ap.add_argument("--hints", help="an earlier --json file: run each mutant's catching "
                    "test of that run first")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the run of the unmutated tests")
    args = ap.parse_args(argv)

    ids = [m["id"] for m in MUTANTS]
    if len(set(ids)) != len(ids):
        raise SystemExit("tools/mutants.py: duplicate mutant ids")
    chosen = [m for m in MUTANTS if not args.ids or m["id"] in args.ids]
    unknown = set(args.ids) - set(ids)
    if unknown:
        raise SystemExit(f"unknown mutant ids: {sorted(unknown)}")
    if args.list:
        for m in chosen:
            print(f"{m['id']:<5} {m['file']:<28} {m['why']}")
        return 0

    hints = {}
    if args.hints:
        hints = {r["id"]: r["detail"] for r in json.loads(Path(args.hints).read_text())
                 if r["status"] == "caught"}

    with tempfile.TemporaryDirectory(prefix="tinygan-mutate-") as tmp:
        copy = Path(tmp)
        _copy_checkout(copy)
        where = subprocess.run([sys.executable, "-c", "import tinygan; print(tinygan.__file__)"],
                               cwd=copy, env=_env(copy), capture_output=True, text=True)
        if not where.stdout.strip().startswith(str(copy)):
            raise SystemExit(f"the copy's tinygan is not the one imported: {where.stdout}"
                             f"{where.stderr}")
        if not args.no_baseline:
            tests = sorted({t for m in chosen for t in m["tests"]})
            _wait(args.pause_file)
            status, detail, sec = _pytest(copy, tests, args.timeout * 3)
            print(f"baseline ({len(tests)} test files, unmutated): {status} in {sec:.0f} s",
                  flush=True)
            if status != "passed":
                raise SystemExit(f"the unmutated tests do not pass: {detail}")
        results = []
        for m in chosen:
            path = copy / m["file"]
            original = path.read_text()
            edits = m.get("edits") or [(m["old"], m["new"])]
            found = [original.count(old) for old, _ in edits]
            if found != [1] * len(edits):
                res = {"status": "stale", "detail": f"snippets found {found} times",
                       "seconds": 0.0}
            else:
                mutated = original
                for old, new in edits:
                    mutated = mutated.replace(old, new)
                path.write_text(mutated)
                try:
                    _wait(args.pause_file)
                    status, detail, sec = "passed", "", 0.0
                    if m["id"] in hints:  # the test that caught it before, alone
                        status, detail, sec = _pytest(copy, [hints[m["id"]]], args.timeout)
                    if status != "failed":  # passed now, or the test is gone
                        status, detail, more = _pytest(copy, m["tests"], args.timeout)
                        sec += more
                finally:
                    path.write_text(original)
                verdict = {"failed": "caught", "passed": "SURVIVED"}.get(status, status)
                res = {"status": verdict, "detail": detail, "seconds": round(sec, 1)}
            results.append({"id": m["id"], "file": m["file"], "why": m["why"], **res})
            r = results[-1]
            print(f"{r['id']:<5} {r['status']:<9} {r['seconds']:6.1f} s  {m['why']}"
                  + (f"\n      ← {r['detail']}" if r["status"] == "caught" else
                     (f"\n      {r['detail'][-600:]}" if r["status"] not in ("SURVIVED",)
                      else "")), flush=True)

    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print("summary: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return 1 if counts.get("SURVIVED") or counts.get("stale") else 0


if __name__ == "__main__":
    sys.exit(main())
