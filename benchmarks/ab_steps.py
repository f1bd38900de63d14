"""A/B: tinygan's step in two checkouts, CPU time per step, alternating processes.

On a shared machine wall-clock ratios against PyTorch move with the load; the CPU time
one process spends per step moves much less (it does not count the time the process
waited for a CPU). This script compares *two versions of tinygan* that way: for each
round it runs ``bench_steps.py``'s tinygan worker from checkout A, then from checkout B
(the order alternates round by round), each in its own process with one BLAS thread and
the native kernel, and prints the median CPU ms per step of each side and the ratio
B/A, the best round of each side (the least disturbed one) and their ratio, with the
machine's load average and ``/proc/pressure/cpu`` before and after.

    git worktree add /tmp/old <commit>     # or: git archive <commit> | tar -x -C /tmp/old
    python benchmarks/ab_steps.py /tmp/old . --rounds 5 --workloads toy1 toy64 mlp dcgan

A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_steps  # noqa: E402


def run_side(root, workloads, args):
    script = os.path.join(os.path.abspath(root), "benchmarks", "bench_steps.py")
    env = {k: v for k, v in os.environ.items() if k not in bench_steps.KERNEL_VARS}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [sys.executable, script, "--worker", "numpy", "--budget", str(args.budget),
           "--warmup", "5", "--steps", str(args.steps), "--workloads", *workloads]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=root, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["results"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="checkout A (the baseline)")
    ap.add_argument("b", help="checkout B (the change)")
    ap.add_argument("--workloads", nargs="+", default=["toy1", "toy64", "mlp"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per workload and round")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    before = bench_steps.machine_state()
    cpu = {s: {w: [] for w in args.workloads} for s in "ab"}
    for r in range(args.rounds):
        for side in ("ab" if r % 2 == 0 else "ba"):
            res = run_side(getattr(args, side), args.workloads, args)
            for w in args.workloads:
                cpu[side][w].append(res[w]["cpu_ms"])
            print(f"round {r + 1} {side}: " + "  ".join(
                f"{w} {res[w]['cpu_ms']:.4g}" for w in args.workloads), flush=True)
    after = bench_steps.machine_state()
    print(f"\nA = {args.a}, B = {args.b}; {args.threads} thread(s), native kernel; "
          f"{args.rounds} alternating rounds")
    for when, st in (("before", before), ("after", after)):
        print(f"machine {when}: load average {st['loadavg']}; cpu pressure {st['pressure_cpu']}")
    print("\n| workload | A CPU ms/step | B CPU ms/step | B/A | per-round B/A | "
          "best round A / B | B/A best |")
    print("|---|---|---|---|---|---|---|")
    for w in args.workloads:
        a, b = (statistics.median(cpu[s][w]) for s in "ab")
        lo_a, lo_b = min(cpu["a"][w]), min(cpu["b"][w])
        per = [y / x for x, y in zip(cpu["a"][w], cpu["b"][w])]
        print(f"| {w} | {a:.4g} | {b:.4g} | {b / a:.3f} | {min(per):.3f}–{max(per):.3f} | "
              f"{lo_a:.4g} / {lo_b:.4g} | {lo_b / lo_a:.3f} |")
    print("\nCPU ms/step: median over rounds of each process's per-step median; 'best round' "
          "is the least disturbed process of each side (on a machine whose other jobs come "
          "and go, CPU time too is inflated while a sibling hyperthread or the cache is "
          "busy, and the best round is the most stable figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
