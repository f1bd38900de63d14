"""Time full GAN training steps: tinygan (NumPy or CuPy) against PyTorch.

One *step* is what Algorithm 1 does per generator update with k = 1: a D step on a
real and a fake batch (forward, BCE-with-logits, backward, Adam) and a G step through
D (forward through both, non-saturating loss, backward through both, Adam). Both
sides run in float32 with the same architectures:

    toy1, toy64   the 2×2 toy: G = Dense(1→4) → sigmoid, D = Dense(4→1); batch 1 / 64
    mlp           G 100→256→512→784 (ReLU, tanh), D 784→512→256→1 (LeakyReLU 0.2); batch 64
    dcgan         28×28 DCGAN (tinygan.models.dcgan at image_size=28): G z100 → dense
                  2w·7·7 → BN → ReLU → ConvT 2w→w k4 s2 p1 → BN → ReLU → ConvT w→1
                  → tanh; D Conv 1→w k4 s2 p1 → LReLU → Conv w→2w → BN → LReLU →
                  dense → 1; width w = 64, batch 64

Any workload takes a batch and (DCGAN) a width suffix: ``mlp-b256``, ``dcgan-b16``,
``dcgan-w128``, ``dcgan-b512-w32``. ``--scaling`` runs the scaling set (batch 16, 64,
256, 512 for the MLP and the DCGAN; DCGAN width 32, 64, 128 at batch 64).

Usage::

    python benchmarks/bench_steps.py --native-kernel --rounds 5             # the headline
    python benchmarks/bench_steps.py --native-kernel --rounds 5 --threads 1
    python benchmarks/bench_steps.py --native-kernel --rounds 3 --scaling
    python benchmarks/bench_steps.py --backend cupy       # CuPy vs torch CUDA, batch 64 and 512

Method (shared/reference/performance.md): each side runs in its own process per round
(PyTorch's OpenMP threads and OpenBLAS's threads spin against each other when they share
one), the sides alternate round by round, each round reports the median step time after
a warm-up, and the tables show the median over rounds and the range of the per-round
ratios (how much the machine moved during the run). Peak resident memory comes from one
more short process per (side, workload), so that it is that workload's alone.
``--native-kernel`` unsets ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` for the workers
only (some machines set them; a user's machine has neither), so OpenBLAS picks the kernel
for this CPU. The header names the CPU, the BLAS library, its kernel and thread count, and
the machine's load average and ``/proc/pressure/cpu`` before and after the run: a ratio
means little unless the machine was quiet. This is a script, not a test: timings depend
on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAST_MODELS = None  # (G, D, optimizers) of the last tinygan step built here

CPU_WORKLOADS = ["toy1", "toy64", "mlp", "dcgan"]
GPU_WORKLOADS = ["mlp", "dcgan", "mlp512", "dcgan512"]
SCALING_WORKLOADS = (["mlp-b16", "mlp-b64", "mlp-b256", "mlp-b512",
                      "dcgan-b16", "dcgan-b64", "dcgan-b256", "dcgan-b512",
                      "dcgan-w32", "dcgan-w128"])
TARGETS = {"toy": 0.2, "mlp": 0.5, "dcgan": 1.0}  # issue 10: ratio tinygan/PyTorch at batch 64
KERNEL_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _spec(name):
    """(kind, batch_size, width) of a workload name such as ``dcgan-b256-w32``."""
    table = {"toy1": ("toy", 1), "toy64": ("toy", 64), "mlp": ("mlp", 64),
             "dcgan": ("dcgan", 64), "mlp512": ("mlp", 512), "dcgan512": ("dcgan", 512)}
    if name in table:
        return (*table[name], 64)
    m = re.fullmatch(r"(toy|mlp|dcgan)(?:-b(\d+))?(?:-w(\d+))?", name)
    if not m or (m.group(3) and m.group(1) != "dcgan"):
        raise SystemExit(f"unknown workload {name!r}; known: {sorted(table)}, or "
                         "toy|mlp|dcgan with -b<batch>, and dcgan with -w<width>")
    return m.group(1), int(m.group(2) or 64), int(m.group(3) or 64)


# ---------------------------------------------------------------------------------------
# tinygan side
# ---------------------------------------------------------------------------------------
def _tinygan_step_fn(kind, batch_size, device, width=64):
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

        G, D, _ = dcgan_pair(28, latent_dim=100, width=width, seed=0, dtype=f32)
        latent, shape = 100, (1, 28, 28)
        opt_G, opt_D = dcgan_optimizers(G, D)
    x_real = rng.random((batch_size, *shape), dtype=xp.float32)  # [0, 1) for the toy
    if kind != "toy":
        x_real = 2 * x_real - 1  # [-1, 1) for a tanh generator

    global LAST_MODELS
    LAST_MODELS = (G, D, {"opt_G": opt_G, "opt_D": opt_D})  # for profile_step.py

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
def _torch_step_fn(kind, batch_size, device, width=64):
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
        w = width
        # no bias in a layer followed by BatchNorm (it would cancel), as in tinygan's
        G = nn.Sequential(nn.Linear(100, 2 * w * 7 * 7, bias=False),
                          nn.Unflatten(1, (2 * w, 7, 7)), nn.BatchNorm2d(2 * w), nn.ReLU(),
                          nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w),
                          nn.ReLU(),
                          nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Tanh())
        D = nn.Sequential(nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
                          nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w),
                          nn.LeakyReLU(0.2),
                          nn.Flatten(), nn.Linear(2 * w * 7 * 7, 1))
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
        float(loss_G.detach())

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()
    return step, sync


# ---------------------------------------------------------------------------------------
# what the machine and the libraries are
# ---------------------------------------------------------------------------------------
def machine_state():
    """Load average and /proc/pressure/cpu ("some" line): is the machine quiet?"""
    state = {"loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    try:
        with open("/proc/pressure/cpu") as f:
            state["pressure_cpu"] = f.readline().strip()
    except OSError:
        state["pressure_cpu"] = "n/a"
    return state


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        model = re.search(r"model name\s*:\s*(.*)", text).group(1).strip()
        mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", text)
        return f"{model}, {os.cpu_count()} CPUs" + (f" at {float(mhz.group(1)):.0f} MHz"
                                                    if mhz else "")
    except (OSError, AttributeError):
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"


def library_info(side):
    """The BLAS/threading libraries this side's process loaded, as threadpoolctl sees them."""
    info = {}
    if side in ("numpy", "cupy"):
        import numpy

        info["numpy"] = numpy.__version__
    else:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        cfg = torch.__config__.show()
        blas = re.search(r"BLAS_INFO=(\w+)", cfg)
        info["torch_blas"] = blas.group(1) if blas else "?"
        info["mkldnn"] = bool(torch.backends.mkldnn.is_available())
    try:
        import threadpoolctl

        info["threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                  "threading_layer")}
            for p in threadpoolctl.threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


# ---------------------------------------------------------------------------------------
# worker: one process, one side, one workload
# ---------------------------------------------------------------------------------------
def worker(side, names, budget_s, warmup, max_steps):
    """Time each workload in ``names`` in this process; report its peak memory too."""
    results = {}
    for name in names:
        kind, batch_size, width = _spec(name)
        if side in ("numpy", "cupy"):
            step, sync = _tinygan_step_fn(kind, batch_size, side, width)
        else:
            step, sync = _torch_step_fn(kind, batch_size,
                                        "cuda" if side == "torch-cuda" else "cpu", width)
        # warm up: at least 2 steps, at most `warmup`, stopping after about a second
        t_start, warm = time.perf_counter(), []
        while len(warm) < 2 or (len(warm) < warmup and time.perf_counter() - t_start < 1.0):
            t = time.perf_counter()
            step()
            sync()
            warm.append(time.perf_counter() - t)
        n = int(min(max_steps, max(5, budget_s / min(warm))))
        times, cpu = [], []
        for _ in range(n):
            t, c = time.perf_counter(), time.process_time()
            step()
            sync()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)  # all of this process's threads
        results[name] = {"ms": 1e3 * statistics.median(times), "steps": n,
                         "cpu_ms": 1e3 * statistics.median(cpu)}
    out = {"results": results, "info": library_info(side),
           # Linux reports ru_maxrss in KiB: the process's peak resident memory, which is
           # one workload's when the process ran only one
           "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if side == "torch-cuda":
        import torch

        out["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    elif side == "cupy":
        import cupy

        out["gpu_peak_mib"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    return out


def _run_worker(side, names, args, budget=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--budget",
           str(args.budget if budget is None else budget), "--warmup", str(args.warmup),
           "--steps", str(args.steps), "--workloads", *names]
    env = dict(os.environ)
    if args.native_kernel:
        for var in KERNEL_VARS:
            env.pop(var, None)
    if args.threads:
        # Read by OpenBLAS, MKL and PyTorch's OpenMP at start-up: the same cap on both sides.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mib(x):
    return f"{x:.0f}" if x else "—"  # — : no memory pass (--no-memory)


def _torch_installed():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _describe(side, info):
    pools = info.get("threadpools")
    if isinstance(pools, list):
        if side not in ("numpy", "cupy"):  # torch also loads NumPy's OpenBLAS; it uses its own
            pools = [p for p in pools if p["internal_api"] != "openblas"]
        pools = "; ".join(f"{p['internal_api']} {p['version']} kernel {p['architecture']} "
                          f"{p['num_threads']} threads" for p in pools)
    if side in ("numpy", "cupy"):
        return f"tinygan ({side}): numpy {info['numpy']}; {pools}"
    return (f"PyTorch ({side}): torch {info['torch']}, BLAS {info['torch_blas']}, oneDNN "
            f"{'yes' if info['mkldnn'] else 'no'}, {info['torch_threads']} intra-op threads; "
            f"{pools}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                    help="tinygan's side: numpy (vs torch CPU) or cupy (vs torch CUDA)")
    ap.add_argument("--workloads", nargs="+", default=None,
                    help=f"default: {' '.join(CPU_WORKLOADS)} (cpu) or "
                         f"{' '.join(GPU_WORKLOADS)} (gpu)")
    ap.add_argument("--scaling", action="store_true",
                    help=f"run the scaling set: {' '.join(SCALING_WORKLOADS)}")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per side")
    ap.add_argument("--budget", type=float, default=2.0,
                    help="seconds of timed steps per workload and round (at least 5 steps)")
    ap.add_argument("--steps", type=int, default=2000, help="at most this many timed steps")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="cap BLAS/OpenMP threads on both sides (default: the libraries' own)")
    ap.add_argument("--native-kernel", action="store_true",
                    help=f"unset {' and '.join(KERNEL_VARS)} for the workers, so that OpenBLAS "
                         "picks its kernel for this CPU")
    ap.add_argument("--no-memory", action="store_true",
                    help="skip the peak-memory pass (one short process per side and workload)")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.workloads, args.budget, args.warmup,
                                args.steps)))
        return 0

    gpu = args.backend == "cupy"
    workloads = args.workloads or (SCALING_WORKLOADS if args.scaling
                                   else GPU_WORKLOADS if gpu else CPU_WORKLOADS)
    for w in workloads:
        _spec(w)  # fail before the first round on a typo
    ours = "cupy" if gpu else "numpy"
    theirs = ("torch-cuda" if gpu else "torch") if _torch_installed() else None
    sides = [ours] + ([theirs] if theirs else [])
    before = machine_state()
    started = datetime.datetime.now().astimezone()
    runs = {s: {w: [] for w in workloads} for s in sides}
    cpu_runs = {s: {w: [] for w in workloads} for s in sides}
    peaks = {s: {w: 0.0 for w in workloads} for s in sides}
    infos = {}
    for r in range(args.rounds):
        order = sides if r % 2 == 0 else sides[::-1]  # alternate who goes first
        for side in order:
            res = _run_worker(side, workloads, args)  # one process per side and round
            infos.setdefault(side, res["info"])
            for w in workloads:
                runs[side][w].append(res["results"][w]["ms"])
                cpu_runs[side][w].append(res["results"][w]["cpu_ms"])
            print(f"round {r + 1}/{args.rounds} {side:10s} " + "  ".join(
                f"{w} {res['results'][w]['ms']:.3g} ms" for w in workloads), flush=True)
    if not args.no_memory:  # peak memory: one short process per (side, workload)
        for side in sides:
            for w in workloads:
                res = _run_worker(side, [w], args, budget=0.3)
                peaks[side][w] = res.get("gpu_peak_mib", res["peak_mib"])
    after = machine_state()

    mem = "GPU MiB" if gpu else "peak RSS MiB"
    print(f"\n{started:%Y-%m-%d %H:%M %Z}; {cpu_model()}; python {platform.python_version()}")
    for side in sides:
        print(_describe(side, infos[side]))
    thr = args.threads or "default"
    kernel = "native kernel (" + ", ".join(KERNEL_VARS) + " unset)" if args.native_kernel \
        else "kernel as the environment sets it (" + ", ".join(
            f"{v}={os.environ[v]}" for v in KERNEL_VARS if v in os.environ) + ")"
    print(f"threads: {thr}; {kernel}")
    print(f"machine before: load average {before['loadavg']}; cpu pressure "
          f"{before['pressure_cpu']}")
    print(f"machine after:  load average {after['loadavg']}; cpu pressure "
          f"{after['pressure_cpu']}\n")
    head = f"| workload | tinygan ({ours}) ms/step |"
    if theirs:
        head += f" PyTorch ({theirs}) ms/step | ratio | per-round ratios | target | " \
                f"tinygan {mem} | PyTorch {mem} |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    table = {}
    for w in workloads:
        kind, batch_size, width = _spec(w)
        a = statistics.median(runs[ours][w])
        row = f"| {w} | {a:.3g} |"
        table[w] = {ours: a, f"{ours}_peak_mib": peaks[ours][w]}
        if theirs:
            b = statistics.median(runs[theirs][w])
            target = TARGETS[kind] if (batch_size in (1, 64) and width == 64 and not gpu) \
                else None
            per_round = [x / y for x, y in zip(runs[ours][w], runs[theirs][w])]
            row += (f" {b:.3g} | {a / b:.2f} | {min(per_round):.2f}–{max(per_round):.2f} | "
                    f"{'≤ %.1f' % target if target else ''} | "
                    f"{_mib(peaks[ours][w])} | {_mib(peaks[theirs][w])} |")
            table[w].update({theirs: b, "ratio": a / b, f"{theirs}_peak_mib": peaks[theirs][w]})
        print(row)
    if args.threads == 1 and theirs:
        # one thread: CPU time per step ≈ wall time on a quiet machine, and it does not
        # count the time the process waited for a CPU on a busy one
        print("\nCPU time per step (one thread: what the step costs when it runs):\n")
        print("| workload | tinygan CPU ms/step | PyTorch CPU ms/step | ratio |")
        print("|---|---|---|---|")
        for w in workloads:
            a, b = (statistics.median(cpu_runs[sd][w]) for sd in (ours, theirs))
            table[w].update({f"{ours}_cpu_ms": a, f"{theirs}_cpu_ms": b, "cpu_ratio": a / b})
            print(f"| {w} | {a:.3g} | {b:.3g} | {a / b:.2f} |")
    print(f"\nmedians over {args.rounds} alternating rounds (one process per side and round) "
          "of the per-step median; ratio = tinygan/PyTorch; peak memory from one process per "
          "side and workload")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": started.isoformat(), "cpu": cpu_model(), "threads": thr,
                       "native_kernel": args.native_kernel, "before": before, "after": after,
                       "libraries": infos, "table": table, "runs": runs,
                       "cpu_runs": cpu_runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
