"""Where a tinygan training step spends its time, and how far it is from the machine's
matrix-multiply limit.

For one workload of ``bench_steps.py`` this script

1. runs the step with every layer's ``forward``/``backward`` and each optimizer's
   ``step`` timed (wall clock),
2. counts the floating-point operations of the matrix multiplies each call makes, from
   the shapes and the trainer's semantics (no input gradient for data, none for D's
   parameters in G's step): 2·M·K·N per product,
3. times one multiply of each of those shapes on its own, warm, to get the BLAS rate the
   machine gives *at that shape*, and the rate of a 1024³ product (the machine's limit),

and prints a table: per layer, the measured time, the multiplies' share of it at the
measured rate, and the rest (gathers, scatters, elementwise passes, checks). Its last
lines say how long the step's multiplies alone would take at the shape rates and at the
machine's limit.

``--floor`` adds the *floor* of the step: how fast it could possibly be with the same
arithmetic. It is the step's matrix products (counted above, from the shapes the step
really multiplies) at the best rate the machine reaches for each shape (best of many
warm runs), plus the two Adam updates timed alone. It prints the floor against the
measured step (unwrapped, wall and CPU time) and against 0.5 × PyTorch's step, which it
times in a process of its own (``bench_steps.py``'s worker, the same thread count; at one
thread both sides' CPU times, which a busy machine inflates less than wall times) or
takes from ``--torch-ms`` (a quiet-machine headline, say): when the floor is above
0.5 × PyTorch, no formulation of the same arithmetic meets the MLP target of issue 10.

    python benchmarks/profile_step.py dcgan            # batch 64, the libraries' threads
    OPENBLAS_NUM_THREADS=1 python benchmarks/profile_step.py mlp --steps 30
    python benchmarks/profile_step.py dcgan --batch 256 --width 32
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
        python benchmarks/profile_step.py mlp --floor

Run it on a quiet machine; like bench_steps.py it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_steps  # noqa: E402
import numpy as np  # noqa: E402

from tinygan.layers import Conv2d, ConvTranspose2d, Dense  # noqa: E402


def gemm_shapes(layer, phase, x_shape, need_dx):
    """The (M, K, N) of every matrix product ``layer`` computes in this call."""
    frozen = layer.frozen
    if isinstance(layer, Dense):
        n, d_in, d_out = x_shape[0], layer.in_features, layer.out_features
        if phase == "fwd":
            return [(n, d_in, d_out)]
        return ([] if frozen else [(d_in, n, d_out)]) + ([(n, d_out, d_in)] if need_dx else [])
    if isinstance(layer, (Conv2d, ConvTranspose2d)):
        N, _, H, W = x_shape
        (Kh, Kw), c_in, c_out = layer.kernel_size, layer.in_channels, layer.out_channels
        if isinstance(layer, Conv2d):
            rows = N * layer.output_size(H, axis=0) * layer.output_size(W, axis=1)
            kin = Kh * Kw * c_in
            fwd, dw, dx = (rows, kin, c_out), (kin, rows, c_out), (rows, c_out, kin)
        else:
            rows, kout = N * H * W, Kh * Kw * c_out
            fwd, dw, dx = (rows, c_in, kout), (c_in, rows, kout), (rows, kout, c_in)
        if phase == "fwd":
            return [fwd]
        return ([] if frozen else [dw]) + ([dx] if need_dx else [])
    return []


def rate(shape, reps=3):
    """GFLOP/s of one warm product of this shape (best of ``reps``; ``--floor`` uses 30)."""
    M, K, N = shape
    gen = np.random.default_rng(0)
    a = gen.standard_normal((M, K), dtype=np.float32)
    b = gen.standard_normal((K, N), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * M * K * N / best / 1e9


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=["toy", "mlp", "dcgan"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--floor", action="store_true",
                    help="also print the step's floor (products at their best rates + Adam "
                         "alone) against the measured step and 0.5 × PyTorch's")
    ap.add_argument("--torch-ms", type=float, default=None,
                    help="with --floor: PyTorch's step in ms (e.g. a quiet-machine headline) "
                         "instead of timing it here")
    args = ap.parse_args(argv)

    # OpenBLAS runs the first products of a process at half speed until a large product
    # has run (seen on this machine); warm it up before anything is timed
    w = np.ones((1024, 1024), dtype=np.float32)
    w @ w
    step, _ = bench_steps._tinygan_step_fn(args.workload, args.batch, "numpy", args.width)
    G, D, opts = bench_steps.LAST_MODELS  # set by _tinygan_step_fn
    if args.floor:  # the step as the benchmark runs it, before any wrapper is added
        plain = measure(step, max(args.steps, 20))
    times = collections.defaultdict(float)
    flops = collections.defaultdict(float)
    shapes = collections.defaultdict(collections.Counter)
    counting = [False]

    def wrap(layer, tag):
        fwd, bwd = layer.forward, layer.backward

        def forward(x):
            t = time.perf_counter()
            out = fwd(x)
            times[tag + " fwd"] += time.perf_counter() - t
            if counting[0]:
                layer._x_shape = tuple(x.shape)
                for s in gemm_shapes(layer, "fwd", x.shape, True):
                    flops[tag + " fwd"] += 2 * s[0] * s[1] * s[2]
                    shapes[tag + " fwd"][s] += 1
            return out

        def backward(dout, need_dx=True):
            x_shape = getattr(layer, "_x_shape", None)
            t = time.perf_counter()
            dx = bwd(dout, need_dx)
            times[tag + " bwd"] += time.perf_counter() - t
            if counting[0] and x_shape is not None:
                for s in gemm_shapes(layer, "bwd", x_shape, need_dx):
                    flops[tag + " bwd"] += 2 * s[0] * s[1] * s[2]
                    shapes[tag + " bwd"][s] += 1
            return dx

        layer.forward, layer.backward = forward, backward

    for name, net in (("G", G), ("D", D)):
        for i, layer in enumerate(net.layers):
            wrap(layer, f"{name}{i} {layer!r}")
    for name, opt in opts.items():
        inner = opt.step

        def timed_step(inner=inner, name=name):
            t = time.perf_counter()
            inner()
            times[f"{name} step"] += time.perf_counter() - t

        opt.step = timed_step

    for _ in range(3):
        step()
    times.clear()
    counting[0] = True
    walls = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        walls.append(time.perf_counter() - t)
        counting[0] = False  # the shapes repeat every step: count one
    n = args.steps
    total = sum(walls) / n
    rates = {s: rate(s) for c in shapes.values() for s in c}
    limit = rate((1024, 1024, 1024))

    print(f"{args.workload} batch {args.batch}" + (f" width {args.width}"
                                                  if args.workload == "dcgan" else "")
          + f": step {1e3 * statistics.median(walls):.1f} ms (median of {n}), "
          f"mean {1e3 * total:.1f} ms; BLAS threads "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    print(f"{'call (per step)':<44}{'ms':>8}{'GFLOP':>8}{'mm ms':>8}{'rest ms':>9}")
    rows, mm_total, fl_total = [], 0.0, 0.0
    for tag, t in times.items():
        ms = 1e3 * t / n
        mm = sum(1e3 * 2 * s[0] * s[1] * s[2] * c / (rates[s] * 1e9)
                 for s, c in shapes[tag].items())
        rows.append((ms, tag, flops[tag] / 1e9, mm))
        mm_total += mm
        fl_total += flops[tag] / 1e9
    for ms, tag, gf, mm in sorted(rows, reverse=True):
        print(f"{tag:<44}{ms:8.2f}{gf:8.3f}{mm:8.2f}{ms - mm:9.2f}")
    other = 1e3 * total - sum(r[0] for r in rows)
    print(f"{'(trainer, losses, noise: outside the layers)':<44}{other:8.2f}")
    print(f"\nmatrix multiplies: {fl_total:.2f} GFLOP per step; at the rates measured for "
          f"their shapes {mm_total:.1f} ms, at the machine's 1024³ rate ({limit:.0f} GFLOP/s) "
          f"{1e3 * fl_total / limit:.1f} ms; the step takes {1e3 * total:.1f} ms: "
          f"{100 * mm_total / (1e3 * total):.0f} % multiplies")
    print("shape rates (GFLOP/s): " + ", ".join(
        f"{m}×{k}·{k}×{n_}: {r:.0f}" for (m, k, n_), r in sorted(rates.items(),
                                                                  key=lambda kv: -kv[1])[:8]))
    if args.floor:
        counts = collections.Counter()
        for c in shapes.values():
            counts.update(c)
        floor(args, counts, opts, plain, limit)
    return 0


def measure(step, n, best=False):
    """Median (or best) wall and CPU seconds of ``n`` calls of ``step`` after 3 warm-ups."""
    for _ in range(3):
        step()
    walls, cpus = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    if best:
        return min(walls), min(cpus)
    return statistics.median(walls), statistics.median(cpus)


def torch_step(args):
    """PyTorch's step for the same workload, from bench_steps.py's worker in its own process."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    name = f"{args.workload}-b{args.batch}" + (f"-w{args.width}" if args.workload == "dcgan"
                                               else "")
    env = dict(os.environ)
    threads = env.get("OPENBLAS_NUM_THREADS")
    if threads:  # the same cap on PyTorch's OpenMP/MKL threads
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "bench_steps.py"), "--worker", "torch", "--budget",
           "3", "--warmup", "5", "--steps", "2000", "--workloads", name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["results"][name]


def floor(args, counts, opts, plain, limit):
    """Print the floor: the products at their best rates plus Adam alone, and what it means."""
    best = {s: rate(s, reps=30) for s in counts}
    gflop = sum(2 * m * k * n * c for (m, k, n), c in counts.items()) / 1e9
    mm_best = sum(2 * m * k * n * c / (best[(m, k, n)] * 1e9)
                  for (m, k, n), c in counts.items())
    # Adam alone: both optimizers' steps on the gradients the last step left (the updates
    # move the parameters, which no longer matters: nothing is measured after this)
    adam = {name: measure(opt.step, 30, best=True) for name, opt in opts.items()}
    adam_s = sum(w for w, _ in adam.values())
    floor_s = mm_best + adam_s
    wall, cpu = plain
    # one thread: compare CPU times, which a busy machine inflates less than wall times
    one = os.environ.get("OPENBLAS_NUM_THREADS") == "1"
    ours, kind = (cpu, "CPU") if one else (wall, "wall")
    limit = max(limit, rate((1024, 1024, 1024), reps=10))
    mm_limit = gflop / limit
    print(f"\nfloor of the {args.workload} step (batch {args.batch}; BLAS threads "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}):")
    print(f"  {sum(counts.values())} products, {gflop:.3f} GFLOP: at the best rate each shape "
          f"reaches (best of 30) {1e3 * mm_best:.1f} ms, "
          f"{gflop / mm_best:.0f} GFLOP/s on average; at the 1024³ rate "
          f"({limit:.0f} GFLOP/s, best of 10) {1e3 * mm_limit:.1f} ms")
    for (m, k, n), c in sorted(counts.items(), key=lambda kv: -kv[0][0] * kv[0][1] * kv[0][2]):
        print(f"    {c} × {m}×{k}·{k}×{n}: {best[(m, k, n)]:.0f} GFLOP/s")
    print("  Adam alone: " + ", ".join(f"{name} {1e3 * w:.2f} ms" for name, (w, _) in
                                       adam.items()) + " (best of 30)")
    print(f"  floor = products at their best rates + Adam = {1e3 * floor_s:.1f} ms")
    print(f"  tinygan's step (unwrapped, median): wall {1e3 * wall:.1f} ms, CPU "
          f"{1e3 * cpu:.1f} ms: {ours / floor_s:.2f} × the floor ({kind}); the other "
          f"{1e3 * (ours - floor_s):.1f} ms are everything but the products and Adam")
    if args.torch_ms:
        half = args.torch_ms / 2e3
        print(f"  PyTorch's step as given (--torch-ms): {args.torch_ms:.1f} ms; "
              f"0.5 × PyTorch = {1e3 * half:.1f} ms")
    else:
        theirs = torch_step(args)
        if theirs is None:
            print("  PyTorch not installed: no comparison")
            return
        half = (theirs["cpu_ms"] if one else theirs["ms"]) / 2e3
        print(f"  PyTorch's step (own process): wall {theirs['ms']:.1f} ms, CPU "
              f"{theirs['cpu_ms']:.1f} ms; 0.5 × PyTorch ({kind}) = {1e3 * half:.1f} ms")
    verdict = ("below it: the 0.5× target is reachable in principle, by removing "
               f"{1e3 * (ours - half):.1f} ms of the non-product work" if floor_s <= half
               else f"above it by {1e3 * (floor_s - half):.1f} ms: no formulation of the "
               "same arithmetic reaches 0.5×; the best possible ratio is "
               f"{floor_s / half / 2:.2f}")
    print(f"  floor {1e3 * floor_s:.1f} ms vs 0.5 × PyTorch {1e3 * half:.1f} ms: {verdict}")
    print(f"  measured ratio now: {ours / (2 * half):.2f}")


if __name__ == "__main__":
    sys.exit(main())
