"""Time forward+backward of the DCGAN conv layers: tinygan (NumPy) vs PyTorch (CPU).

Each side runs in its own process (PyTorch's and OpenBLAS's threads must not spin
against each other), and the two alternate in rounds so that a noisy episode on
the shared machine hits both. Reported: median ms per forward+backward, float32,
batch 64, and the ratio tinygan / torch; also the fastest single repetition of each,
which is less sensitive to other processes on a shared machine.

    python benchmarks/bench_conv_layers.py            # both sides, 5 rounds
    python benchmarks/bench_conv_layers.py --side numpy --reps 20
    python benchmarks/bench_conv_layers.py --threads 1   # both sides single-threaded

On a machine shared with other busy processes, two-thread BLAS calls with a small inner
dimension (D's first Conv: (12544×16) @ (16×64)) were seen to run 25–40× slower than on
one thread, because each thread waits for the other to be scheduled; ``--threads 1``
shows the layers without that effect.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# (name, kind, C_in, C_out, H_in, x_channels_last): k4 s2 p1 as in DCGAN on 28×28 images,
# batch 64. Inside a network tinygan's conv and BatchNorm layers hand each other NCHW
# views of channels-last memory, so the NumPy side gets its inputs and upstream gradients
# in that layout wherever they would arrive so in a DCGAN (G's first ConvT reads a
# Reshape of a Dense output: plain NCHW; D's first Conv reads images with C = 1, where
# both layouts coincide). PyTorch gets its native contiguous NCHW.
LAYERS = [
    ("G: ConvT 128x7x7 -> 64x14x14", "convT", 128, 64, 7, False),
    ("G: ConvT 64x14x14 -> 1x28x28", "convT", 64, 1, 14, True),
    ("D: Conv 1x28x28 -> 64x14x14", "conv", 1, 64, 28, True),
    ("D: Conv 64x14x14 -> 128x7x7", "conv", 64, 128, 14, True),
    ("BatchNorm 64x14x14", "bn", 64, 64, 14, True),
    ("BatchNorm 128x7x7", "bn", 128, 128, 7, True),
]
N, K, S, P = 64, 4, 2, 1


def run_numpy(reps):
    import numpy as np

    from tinygan import BatchNorm, Conv2d, ConvTranspose2d, backend

    def channels_last(a):  # same values and NCHW shape, channels-last memory
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)

    g = np.random.default_rng(0)
    times = {}
    for name, kind, ci, co, h, x_cl in LAYERS:
        if kind == "bn":
            layer = BatchNorm(ci)
        else:
            cls = ConvTranspose2d if kind == "convT" else Conv2d
            layer = cls(ci, co, K, stride=S, padding=P, rng=backend.rng(0))
        x = g.standard_normal((N, ci, h, h), dtype=np.float32)
        x = channels_last(x) if x_cl else x
        out = layer.forward(x)
        dout = channels_last(g.standard_normal(out.shape, dtype=np.float32))
        layer.backward(dout)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            layer.forward(x)
            layer.backward(dout)
            ts.append(time.perf_counter() - t0)
        times[name] = [1e3 * statistics.median(ts), 1e3 * min(ts)]
    return times


def run_torch(reps):
    import torch

    torch.manual_seed(0)
    times = {}
    for name, kind, ci, co, h, _ in LAYERS:
        if kind == "bn":
            layer = torch.nn.BatchNorm2d(ci)
        elif kind == "convT":
            layer = torch.nn.ConvTranspose2d(ci, co, K, stride=S, padding=P)
        else:
            layer = torch.nn.Conv2d(ci, co, K, stride=S, padding=P)
        x = torch.randn(N, ci, h, h, requires_grad=True)
        out = layer(x)
        dout = torch.randn_like(out)
        out.backward(dout)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            out = layer(x)
            out.backward(dout)
            ts.append(time.perf_counter() - t0)
        times[name] = [1e3 * statistics.median(ts), 1e3 * min(ts)]
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", choices=["numpy", "torch", "both"], default="both")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS/OpenMP threads for both sides (default: the libraries' own)")
    args = ap.parse_args()
    if args.side != "both":
        fn = run_numpy if args.side == "numpy" else run_torch
        print(json.dumps(fn(args.reps)))
        return
    env = dict(os.environ)
    if args.threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    runs = {"numpy": [], "torch": []}
    for _ in range(args.rounds):
        for side in ("numpy", "torch"):
            res = subprocess.run([sys.executable, __file__, "--side", side, "--reps",
                                  str(args.reps)], capture_output=True, text=True, check=True,
                                 env=env)
            runs[side].append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"{'layer (batch 64, fwd+bwd, float32)':<34}{'tinygan ms':>11}{'torch ms':>10}"
          f"{'ratio':>7}   {'best: tinygan':>13}{'torch':>8}{'ratio':>7}")
    for name, *_ in LAYERS:
        a = statistics.median(r[name][0] for r in runs["numpy"])
        b = statistics.median(r[name][0] for r in runs["torch"])
        a_min = min(r[name][1] for r in runs["numpy"])
        b_min = min(r[name][1] for r in runs["torch"])
        print(f"{name:<34}{a:>11.2f}{b:>10.2f}{a / b:>7.2f}   {a_min:>13.2f}{b_min:>8.2f}"
              f"{a_min / b_min:>7.2f}")
    print("(median of per-round medians; 'best' = fastest single repetition; "
          f"{args.rounds} alternating rounds of {args.reps} repetitions)")


if __name__ == "__main__":
    main()
