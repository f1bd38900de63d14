"""Where a tinygan training step spends its time, and how far it is from the machine's
matrix-multiply limit.

For one workload of ``bench_steps.py`` this script

1. runs the step with every layer's ``forward``/``backward`` and each optimizer's
   ``step`` timed (wall clock; CPU time too with ``--cpu``),
2. counts the floating-point operations of the matrix multiplies each call makes, from
   the shapes and the trainer's semantics (no input gradient for data, none for D's
   parameters in G's step): 2·M·K·N per product,
3. times one multiply of each of those shapes on its own, warm, to get the BLAS rate the
   machine gives *at that shape*, and the rate of a 1024³ product (the machine's limit),

and prints a table: per layer, the measured time, the multiplies' share of it at the
measured rate, and the rest (gathers, scatters, elementwise passes, checks). Its last
lines say how long the step's multiplies alone would take at the shape rates and at the
machine's limit.

    python benchmarks/profile_step.py dcgan            # batch 64, the libraries' threads
    OPENBLAS_NUM_THREADS=1 python benchmarks/profile_step.py mlp --steps 30
    python benchmarks/profile_step.py dcgan --batch 256 --width 32

Run it on a quiet machine; like bench_steps.py it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
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
    """GFLOP/s of one warm product of this shape (best of ``reps``)."""
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
    args = ap.parse_args(argv)

    # OpenBLAS runs the first products of a process at half speed until a large product
    # has run (seen on this machine); warm it up before anything is timed
    w = np.ones((1024, 1024), dtype=np.float32)
    w @ w
    step, _ = bench_steps._tinygan_step_fn(args.workload, args.batch, "numpy", args.width)
    G, D, opts = bench_steps.LAST_MODELS  # set by _tinygan_step_fn
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
