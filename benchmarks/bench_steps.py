"""Time full GAN training steps: tinygan (NumPy or CuPy) against PyTorch.

One *step* is what Algorithm 1 does per generator update with k = 1: a D step on a
real and a fake batch (forward, BCE-with-logits, backward, Adam) and a G step through
D (forward through both, non-saturating loss, backward through both, Adam). Both
sides run in float32 with the same architectures:

    toy1, toy64   the 2×2 toy: G = Dense(1→4) → sigmoid, D = Dense(4→1); batch 1 / 64
    mlp           G 100→256→512→784 (ReLU, tanh), D 784→512→256→1 (LeakyReLU 0.2); batch 64
    dcgan         28×28 DCGAN (tinygan.models.dcgan at image_size=28): G z100 → dense
                  128·7·7 → BN → ReLU → ConvT 128→64 k4 s2 p1 → BN → ReLU → ConvT 64→1
                  → tanh; D Conv 1→64 k4 s2 p1 → LReLU → Conv 64→128 → BN → LReLU →
                  dense → 1; batch 64

Usage::

    python benchmarks/bench_steps.py                      # numpy vs torch (CPU), all workloads
    python benchmarks/bench_steps.py --rounds 5 --workloads mlp dcgan
    python benchmarks/bench_steps.py --backend cupy       # CuPy vs torch CUDA, batch 64 and 512

Each side runs in its own process (PyTorch's OpenMP threads and OpenBLAS's threads
spin against each other when they share one; shared/reference/performance.md), the
sides alternate round by round, and the table reports medians over rounds of the
per-step median. This is a script, not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CPU_WORKLOADS = ["toy1", "toy64", "mlp", "dcgan"]
GPU_WORKLOADS = ["mlp", "dcgan", "mlp512", "dcgan512"]


def _spec(name):
    """(kind, batch_size) of a workload name."""
    table = {"toy1": ("toy", 1), "toy64": ("toy", 64), "mlp": ("mlp", 64),
             "dcgan": ("dcgan", 64), "mlp512": ("mlp", 512), "dcgan512": ("dcgan", 512)}
    if name not in table:
        raise SystemExit(f"unknown workload {name!r}; known: {sorted(table)}")
    return table[name]


# ---------------------------------------------------------------------------------------
# tinygan side
# ---------------------------------------------------------------------------------------
def _tinygan_step_fn(kind, batch_size, device):
    sys.path.insert(0, ROOT)
    from tinygan import backend
    from tinygan.layers import Dense, LeakyReLU, ReLU, Sigmoid, Tanh
    from tinygan.models import Sequential
    from tinygan.optim import Adam
    from tinygan.train import update_d, update_g

    if device == "cupy":
        backend.use("cupy")
    xp = backend.xp()
    rng = backend.rng(0)
    f32 = "float32"
    if kind == "toy":
        G = Sequential(Dense(1, 4, rng=rng, init="normal", dtype=f32), Sigmoid())
        D = Sequential(Dense(4, 1, rng=rng, init="normal", dtype=f32))
        latent, shape = 1, (4,)
        opt_G, opt_D = Adam(G, lr=1e-2), Adam(D, lr=1e-2)
    elif kind == "mlp":
        G = Sequential(Dense(100, 256, rng=rng, dtype=f32), ReLU(),
                       Dense(256, 512, rng=rng, dtype=f32), ReLU(),
                       Dense(512, 784, rng=rng, dtype=f32), Tanh())
        D = Sequential(Dense(784, 512, rng=rng, dtype=f32), LeakyReLU(0.2),
                       Dense(512, 256, rng=rng, dtype=f32), LeakyReLU(0.2),
                       Dense(256, 1, rng=rng, dtype=f32))
        latent, shape = 100, (784,)
        opt_G, opt_D = Adam(G, lr=2e-4, betas=(0.5, 0.999)), Adam(D, lr=2e-4, betas=(0.5, 0.999))
    else:
        from tinygan.models.dcgan import dcgan_optimizers, dcgan_pair

        G, D, _ = dcgan_pair(28, latent_dim=100, width=64, seed=0, dtype=f32)
        latent, shape = 100, (1, 28, 28)
        opt_G, opt_D = dcgan_optimizers(G, D)
    x_real = rng.random((batch_size, *shape), dtype=xp.float32)  # [0, 1) for the toy
    if kind != "toy":
        x_real = 2 * x_real - 1  # [-1, 1) for a tanh generator

    # On the GPU the layers' NaN checks each read a flag back from the device; turn them
    # off there, as backend.checks documents for inner loops (PyTorch does no such check).
    checks = device != "cupy"

    def step():
        with backend.checks(checks):
            update_d(G, D, x_real, rng.standard_normal((batch_size, latent), dtype=xp.float32),
                     opt_D)
            out = update_g(G, D, rng.standard_normal((batch_size, latent), dtype=xp.float32),
                           opt_G)
        float(out["loss_G"])  # what fit() does each step; also a device sync for CuPy

    if device == "cupy":
        import cupy

        def sync():
            cupy.cuda.Device().synchronize()
    else:
        def sync():
            pass
    return step, sync


# ---------------------------------------------------------------------------------------
# PyTorch side
# ---------------------------------------------------------------------------------------
def _torch_step_fn(kind, batch_size, device):
    import torch
    from torch import nn

    torch.manual_seed(0)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    if kind == "toy":
        G = nn.Sequential(nn.Linear(1, 4), nn.Sigmoid())
        D = nn.Sequential(nn.Linear(4, 1))
        latent, shape, lr, betas = 1, (4,), 1e-2, (0.9, 0.999)
    elif kind == "mlp":
        G = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                          nn.Linear(512, 784), nn.Tanh())
        D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256),
                          nn.LeakyReLU(0.2), nn.Linear(256, 1))
        latent, shape, lr, betas = 100, (784,), 2e-4, (0.5, 0.999)
    else:
        # no bias in a layer followed by BatchNorm (it would cancel), as in tinygan's
        G = nn.Sequential(nn.Linear(100, 128 * 7 * 7, bias=False), nn.Unflatten(1, (128, 7, 7)),
                          nn.BatchNorm2d(128), nn.ReLU(),
                          nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
                          nn.ReLU(),
                          nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
        D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                          nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128),
                          nn.LeakyReLU(0.2),
                          nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
        latent, shape, lr, betas = 100, (1, 28, 28), 2e-4, (0.5, 0.999)
    G, D = G.to(dev), D.to(dev)
    opt_G = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    bce = nn.BCEWithLogitsLoss()
    x_real = torch.rand((batch_size, *shape), device=dev)
    if kind != "toy":
        x_real = 2 * x_real - 1
    ones = torch.ones(batch_size, 1, device=dev)
    zeros = torch.zeros(batch_size, 1, device=dev)

    def step():
        opt_D.zero_grad()
        fake = G(torch.randn(batch_size, latent, device=dev)).detach()
        loss_D = bce(D(x_real), ones) + bce(D(fake), zeros)
        loss_D.backward()
        opt_D.step()
        opt_G.zero_grad()
        loss_G = bce(D(G(torch.randn(batch_size, latent, device=dev))), ones)
        loss_G.backward()
        opt_G.step()
        float(loss_G)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()
    return step, sync


# ---------------------------------------------------------------------------------------
# worker: one process, one side, all requested workloads
# ---------------------------------------------------------------------------------------
def worker(side, workloads, steps, warmup):
    results = {}
    for name in workloads:
        kind, batch_size = _spec(name)
        if side in ("numpy", "cupy"):
            step, sync = _tinygan_step_fn(kind, batch_size, side)
        else:
            step, sync = _torch_step_fn(kind, batch_size, "cuda" if side == "torch-cuda" else "cpu")
        n = steps if kind != "toy" else steps * 10
        for _ in range(warmup):
            step()
        sync()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t)
        results[name] = 1e3 * statistics.median(times)
    return results


def _run_worker(side, workloads, steps, warmup, threads=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--steps", str(steps),
           "--warmup", str(warmup), "--workloads", *workloads]
    env = dict(os.environ)
    if threads:
        # Read by OpenBLAS, MKL and PyTorch's OpenMP at start-up: the same cap on both sides.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _torch_installed():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                    help="tinygan's side: numpy (vs torch CPU) or cupy (vs torch CUDA)")
    ap.add_argument("--workloads", nargs="+", default=None,
                    help=f"default: {' '.join(CPU_WORKLOADS)} (cpu) or "
                         f"{' '.join(GPU_WORKLOADS)} (gpu)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per side")
    ap.add_argument("--steps", type=int, default=20,
                    help="timed steps per workload and round (×10 for the toy)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="cap BLAS/OpenMP threads on both sides (default: the libraries' own)")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        wl = args.workloads or CPU_WORKLOADS
        print(json.dumps(worker(args.worker, wl, args.steps, args.warmup)))
        return 0

    gpu = args.backend == "cupy"
    workloads = args.workloads or (GPU_WORKLOADS if gpu else CPU_WORKLOADS)
    ours = "cupy" if gpu else "numpy"
    theirs = ("torch-cuda" if gpu else "torch") if _torch_installed() else None
    sides = [ours] + ([theirs] if theirs else [])
    runs = {s: {w: [] for w in workloads} for s in sides}
    for r in range(args.rounds):
        order = sides if r % 2 == 0 else sides[::-1]  # alternate who goes first
        for side in order:
            res = _run_worker(side, workloads, args.steps, args.warmup, args.threads)
            for w, ms in res.items():
                runs[side][w].append(ms)
            print(f"round {r + 1}/{args.rounds} {side:10s} "
                  + "  ".join(f"{w} {ms:.3g} ms" for w, ms in res.items()), flush=True)

    print()
    head = f"| workload | tinygan ({ours}) ms/step |"
    if theirs:
        head += f" PyTorch ({theirs}) ms/step | ratio tinygan/PyTorch |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    table = {}
    for w in workloads:
        a = statistics.median(runs[ours][w])
        row = f"| {w} | {a:.3g} |"
        table[w] = {ours: a}
        if theirs:
            b = statistics.median(runs[theirs][w])
            row += f" {b:.3g} | {a / b:.2f} |"
            table[w].update({theirs: b, "ratio": a / b})
        print(row)
    print(f"\nmedians over {args.rounds} rounds of the per-step median; "
          f"{os.cpu_count()} CPUs; threads {args.threads or 'default'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"table": table, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
