"""Time forward+backward of the DCGAN conv layers: tinygan (NumPy) vs PyTorch (CPU).

Each side runs in its own process (PyTorch's and OpenBLAS's threads must not spin
against each other), and the two alternate in rounds so that a noisy episode on
the shared machine hits both. Reported: median ms per forward+backward, float32,
batch 64, and the ratio tinygan / torch.

    python benchmarks/bench_conv_layers.py            # both sides, 5 rounds
    python benchmarks/bench_conv_layers.py --side numpy --reps 20
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

# (name, kind, C_in, C_out, H_in): k4 s2 p1 as in DCGAN on 28×28 images, batch 64
LAYERS = [
    ("G: ConvT 128x7x7 -> 64x14x14", "convT", 128, 64, 7),
    ("G: ConvT 64x14x14 -> 1x28x28", "convT", 64, 1, 14),
    ("D: Conv 1x28x28 -> 64x14x14", "conv", 1, 64, 28),
    ("D: Conv 64x14x14 -> 128x7x7", "conv", 64, 128, 14),
]
N, K, S, P = 64, 4, 2, 1


def run_numpy(reps):
    import numpy as np

    from tinygan import Conv2d, ConvTranspose2d, backend

    g = np.random.default_rng(0)
    times = {}
    for name, kind, ci, co, h in LAYERS:
        cls = ConvTranspose2d if kind == "convT" else Conv2d
        layer = cls(ci, co, K, stride=S, padding=P, rng=backend.rng(0))
        x = g.standard_normal((N, ci, h, h), dtype=np.float32)
        out = layer.forward(x)
        dout = g.standard_normal(out.shape, dtype=np.float32)
        layer.backward(dout)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            layer.forward(x)
            layer.backward(dout)
            ts.append(time.perf_counter() - t0)
        times[name] = 1e3 * statistics.median(ts)
    return times


def run_torch(reps):
    import torch

    torch.manual_seed(0)
    times = {}
    for name, kind, ci, co, h in LAYERS:
        if kind == "convT":
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
        times[name] = 1e3 * statistics.median(ts)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", choices=["numpy", "torch", "both"], default="both")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.side != "both":
        fn = run_numpy if args.side == "numpy" else run_torch
        print(json.dumps(fn(args.reps)))
        return
    runs = {"numpy": [], "torch": []}
    for _ in range(args.rounds):
        for side in ("numpy", "torch"):
            res = subprocess.run([sys.executable, __file__, "--side", side, "--reps",
                                  str(args.reps)], capture_output=True, text=True, check=True)
            runs[side].append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"{'layer (batch 64, fwd+bwd, float32)':<34}{'tinygan ms':>11}{'torch ms':>10}"
          f"{'ratio':>7}")
    for name, *_ in LAYERS:
        a = statistics.median(r[name] for r in runs["numpy"])
        b = statistics.median(r[name] for r in runs["torch"])
        print(f"{name:<34}{a:>11.2f}{b:>10.2f}{a / b:>7.2f}")


if __name__ == "__main__":
    main()
