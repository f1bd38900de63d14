"""A/B of ``backend.set_threads``: a DCGAN step with the passes on one thread and on k.

One process, the BLAS's own thread count, the two settings alternated round by round (a
busy or noisy host shifts both alike), the median step of each round printed:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/ab_threads.py --rounds 8
    OPENBLAS_THREAD_TIMEOUT=4 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python benchmarks/ab_threads.py --rounds 8

(``OPENBLAS_THREAD_TIMEOUT=4`` makes OpenBLAS's idle threads sleep after each call
instead of spinning; see benchmarks/README.md.) A measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_steps  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per round and setting")
    ap.add_argument("--threads", type=int, default=2, help="the k compared with 1")
    ap.add_argument("--workload", default="dcgan")
    args = ap.parse_args(argv)
    from tinygan import backend

    kind, batch, width = bench_steps._spec(args.workload)
    step, _ = bench_steps._tinygan_step_fn(kind, batch, "numpy", width)
    res = {1: [], args.threads: []}
    for r in range(args.rounds):
        for k in (1, args.threads) if r % 2 == 0 else (args.threads, 1):
            backend.set_threads(k)
            step()
            ts = []
            for _ in range(args.steps):
                t = time.perf_counter()
                step()
                ts.append(time.perf_counter() - t)
            res[k].append(1e3 * statistics.median(ts))
    print(f"{args.workload}: {bench_steps.machine_state()}")
    for k, v in res.items():
        print(f"set_threads({k}): rounds {' '.join(f'{x:.0f}' for x in v)} ms, "
              f"median {statistics.median(v):.1f} ms")


if __name__ == "__main__":
    main()
