"""Saturation: why G trains on −log D(G(z)) and not on log(1 − D(G(z))).

A 1-D GAN whose discriminator has been trained ahead until it rejects the fakes
confidently (D(G(z)) ≈ 1e-4). From that same start (the same G and D parameters,
the same noise stream) G is trained with each of the three generator costs of the
NIPS 2016 tutorial (§3.2): minimax log(1 − D), non-saturating −log D, maximum
likelihood −exp(σ⁻¹(D)). We measure the gradient norm that reaches G's parameters
and how far G moves. The minimax and maximum-likelihood costs stall; the
non-saturating cost moves G onto the data. Two settings of D during G's steps:
frozen (only G moves), and trained (Algorithm 1 with k = 1 D step per G step).

Setup: data N(4, 0.5²); G(z) = w·z + b (one Dense(1→1)), z ~ N(0, 1), starting at
w = 0.5, b = 0, i.e. fakes N(0, 0.5²), eight data standard deviations away;
D = Dense(1→16) → LeakyReLU(0.2) → Dense(16→1) (logits); float64. D is pretrained
with Adam; G then takes plain SGD steps, so the distance it moves is proportional
to the gradient it receives (Adam would divide most of the saturation away).

Derivation: derivations/04_generator_losses.md
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from .. import backend, runs
from ..layers import Dense, LeakyReLU
from ..models import Sequential
from ..optim import SGD, Adam
from ..train import Watch, update_d, update_g

HELP = "three generator costs from a confident D: minimax stalls, non-saturating moves"

DESCRIPTION = """\
Why G trains on -log D(G(z)) and not on log(1 - D(G(z))). A 1-D discriminator is
trained ahead until it rejects the fakes (D(G(z)) ≈ 1e-4); then G, an affine map
starting eight data standard deviations away, takes plain SGD steps with each of the
three generator costs of Goodfellow's NIPS 2016 tutorial (minimax, non-saturating,
maximum likelihood) from the same start and the same noise, with D frozen or trained.
The table prints the gradient that reaches G and how far G moves: the minimax and
maximum-likelihood costs stall, the non-saturating one moves G onto the data.

Time (one core): about 5 s with --quick (100 G steps per cost), about 10 s by default
(300); the table's numbers (first 50 steps) are the same.

Writes to --out: costs.png (the costs and their gradients against D(G(z))),
grad_norms.png, generated.png, saturation.json, checkpoint.npz and run.json.

Notebook: notebooks/04_saturation.ipynb (derivation: derivations/04_generator_losses.md)."""

CHECKPOINT_EVERY = 100
ANIMATION = False

COSTS = ("minimax", "nonsaturating", "maximum_likelihood")
D_MODES = ("frozen", "trained")
LABELS = {"minimax": "minimax  log(1 − D)", "nonsaturating": "non-saturating  −log D",
          "maximum_likelihood": "maximum likelihood  −exp(σ⁻¹(D))"}
COLORS = {"minimax": "tab:red", "nonsaturating": "tab:blue", "maximum_likelihood": "tab:green"}


@dataclass
class Config:
    """Every number of the experiment, in one place (written to the JSON)."""

    seed: int = 0
    data_mean: float = 4.0
    data_std: float = 0.5
    w0: float = 0.5                 # G's initial slope: fakes N(b0, w0²)
    b0: float = 0.0                 # G's initial offset
    hidden: int = 16                # D's hidden units
    batch_size: int = 64
    pretrain_steps: int = 1500      # D's head start, Adam
    lr_pretrain: float = 0.01
    num_steps: int = 300            # G steps per run (what the figures show)
    window: int = 50                # the table averages the first `window` steps
    lr_G: float = 0.05
    opt_G: str = "sgd"              # "sgd" (plain) or "adam" (betas 0.5, 0.999)
    lr_D: float = 0.05              # plain SGD, "trained" mode only
    k: int = 1                      # D steps per G step, "trained" mode only
    eval_size: int = 2000           # fixed noise batch for the mean and std of G(z)
    dtype: str = "float64"

    @classmethod
    def quick(cls, seed=0):
        return cls(seed=seed, num_steps=100)


@dataclass
class CostRun:
    """One G-training run: one cost, one D mode. Lists are host floats."""

    cost: str
    d_mode: str
    grad_norm: list = field(default_factory=list)   # ‖∇θ_G L‖ per step
    D_fake: list = field(default_factory=list)      # mean D(G(z)) seen by each G step
    mean_G: list = field(default_factory=list)      # mean of G(z) on the eval noise, step 0..T
    std_G: list = field(default_factory=list)
    params: list = field(default_factory=list)      # G's flattened parameters, step 0..T
    diverged_at: int | None = None                  # the step whose update failed, if any
    error: str | None = None

    def state_dict(self):
        """Every field as plain data (checkpoints)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}

    def load_state_dict(self, state):
        for k in self.__dict__:
            if k not in state:
                raise ValueError(f"CostRun.load_state_dict: the saved state lacks {k!r}")
            setattr(self, k, state[k])
        return self

    @property
    def finished(self):
        return self.diverged_at is not None

    def distance(self, steps):
        """‖θ_steps − θ_0‖: how far G's parameters moved in the first ``steps`` steps."""
        t = min(steps, len(self.params) - 1)
        return math.sqrt(sum((p - q) ** 2 for p, q in zip(self.params[t], self.params[0])))

    def mean_grad_norm(self, steps):
        g = self.grad_norm[:steps]
        return sum(g) / len(g) if g else float("nan")

    def summary(self, window):
        return {
            "cost": self.cost, "d_mode": self.d_mode, "window": window,
            "mean_grad_norm": self.mean_grad_norm(window),
            "distance": self.distance(window),
            "mean_G_shift": self.mean_G[min(window, len(self.mean_G) - 1)] - self.mean_G[0],
            "steps_run": len(self.grad_norm),
            "final_mean_G": self.mean_G[-1], "final_std_G": self.std_G[-1],
            "final_D_fake": self.D_fake[-1] if self.D_fake else float("nan"),
            "diverged_at": self.diverged_at, "error": self.error,
        }


@dataclass
class SaturationResult:
    config: Config
    D_fake_start: float                             # mean D(G(z)) after D's head start
    D_real_start: float
    runs: dict = field(default_factory=dict)        # (d_mode, cost) -> CostRun

    def summary(self):
        return [run.summary(self.config.window) for run in self.runs.values()]

    def ratio(self, d_mode, metric, num="nonsaturating", den="minimax"):
        """e.g. ``ratio("frozen", "mean_grad_norm")``: non-saturating / minimax."""
        w = self.config.window
        a, b = self.runs[(d_mode, num)].summary(w), self.runs[(d_mode, den)].summary(w)
        return a[metric] / b[metric]

    def table(self):
        w = self.config.window
        lines = [f"D after its head start: mean D(x) = {self.D_real_start:.4f}, "
                 f"mean D(G(z)) = {self.D_fake_start:.2e}",
                 f"{'D':8} {'cost':19} {'mean |grad G|':>13} {'|Δθ_G|':>9} {'Δ mean G(z)':>11} "
                 f"{'final mean G(z)':>15} {'final D(G(z))':>13}  diverged",
                 f"{'':8} {'':19} {f'(first {w})':>13} {f'({w})':>9} {f'({w})':>11} "
                 f"{f'(step {self.config.num_steps})':>15} {'':>13}"]
        for s in self.summary():
            div = "-" if s["diverged_at"] is None else f"step {s['diverged_at']}"
            lines.append(f"{s['d_mode']:8} {s['cost']:19} {s['mean_grad_norm']:13.3g} "
                         f"{s['distance']:9.3g} {s['mean_G_shift']:11.3g} "
                         f"{s['final_mean_G']:15.3g} {s['final_D_fake']:13.3g}  {div}")
        for mode in [m for m in D_MODES if any(r.d_mode == m for r in self.runs.values())]:
            if (mode, "minimax") in self.runs and (mode, "nonsaturating") in self.runs:
                lines.append(f"{mode}: non-saturating / minimax  gradient norm × "
                             f"{self.ratio(mode, 'mean_grad_norm'):.3g}, distance × "
                             f"{self.ratio(mode, 'distance'):.3g}")
        return "\n".join(lines)

    def to_json(self):
        return {"config": self.config.__dict__, "D_fake_start": self.D_fake_start,
                "D_real_start": self.D_real_start, "summary": self.summary(),
                "runs": [run.__dict__ for run in self.runs.values()]}


def make_models(cfg):
    """G(z) = w·z + b at (w0, b0), and D = Dense(1→h) → LeakyReLU(0.2) → Dense(h→1)."""
    rng = backend.rng(cfg.seed)
    G = Sequential(Dense(1, 1, init="zeros", dtype=cfg.dtype))
    G[0].params["W"][...] = cfg.w0
    G[0].params["b"][...] = cfg.b0
    D = Sequential(Dense(1, cfg.hidden, rng=rng, dtype=cfg.dtype), LeakyReLU(0.2),
                   Dense(cfg.hidden, 1, rng=rng, dtype=cfg.dtype))
    return G, D


def _sampler(cfg, rng):
    def real(m):
        return (cfg.data_mean + cfg.data_std * rng.standard_normal((m, 1))).astype(cfg.dtype)

    def noise(m):
        return rng.standard_normal((m, 1)).astype(cfg.dtype)

    return real, noise


def pretrain_discriminator(G, D, cfg, bar=None, parts=None, saved=None, tick=None):
    """D's head start: ``cfg.pretrain_steps`` Adam steps on real vs G(z), G fixed.

    Returns the last step's mean D(x) and D(G(z)). ``parts`` (a dict) receives the
    loop's live state for checkpoints; ``saved`` is such a state to continue from (D
    itself is restored by the caller); ``tick(t)`` is called after step t.
    """
    gen = backend.rng(cfg.seed + 1)
    real, noise = _sampler(cfg, gen)
    opt = Adam(D, lr=cfg.lr_pretrain)
    mine = {"opt": opt, "rng": gen, "last": [], "steps": 0}
    if saved is not None:
        runs.restore(mine, saved)
    if parts is not None:
        parts.update(mine)
    watch = Watch({"G": G, "D": D}, {"D": opt})
    for t in range(mine["steps"], cfg.pretrain_steps):
        stats = update_d(G, D, real(cfg.batch_size), noise(cfg.batch_size), opt)
        watch.loss(t, "discriminator loss (head start)", stats["loss_D"])
        mine["last"][:] = [float(stats["D_real"]), float(stats["D_fake"])]
        if parts is not None:
            parts["steps"] = t + 1
        if bar is not None:
            bar.update(1)
        if tick is not None:
            tick(t + 1)
    return tuple(mine["last"])


def _complete(costrun, num_steps):
    """A saved CostRun that needs no more steps: it overflowed, or took them all."""
    return costrun["diverged_at"] is not None or len(costrun["grad_norm"]) == num_steps


def _flat(model):
    np = backend.numpy
    return [float(v) for p in model.params.values() for v in np.ravel(backend.to_numpy(p))]


def _grad_norm(model):
    return math.sqrt(sum(float((g * g).sum()) for g in model.grads.values()))


def train_generator(G, D, cost, d_mode, cfg, bar=None, parts=None, saved=None, tick=None):
    """Train G with one cost from the given start; D frozen, or trained (k D steps per G step).

    Every run draws from a fresh ``backend.rng(cfg.seed + 2)``, so all runs see the
    same noise (and, when D trains, the same real batches). A run stops at the
    first step whose arithmetic fails (the maximum-likelihood cost overflowing,
    or an overflow anywhere under ``errstate(over="raise")``) and records it.

    ``parts`` (a dict) receives the run's live state for checkpoints; ``saved`` is such
    a state from a checkpoint to continue from; ``tick(i)`` is called after G step i.
    """
    if d_mode not in D_MODES:
        raise ValueError(f"train_generator: d_mode must be one of {D_MODES}, got {d_mode!r}")
    gen = backend.rng(cfg.seed + 2)
    real, noise = _sampler(cfg, gen)
    z_eval = backend.rng(cfg.seed + 3).standard_normal((cfg.eval_size, 1)).astype(cfg.dtype)
    if cfg.opt_G == "sgd":
        opt_G = SGD(G, lr=cfg.lr_G)
    elif cfg.opt_G == "adam":
        opt_G = Adam(G, lr=cfg.lr_G, betas=(0.5, 0.999))
    else:
        raise ValueError(f"train_generator: opt_G must be 'sgd' or 'adam', got {cfg.opt_G!r}")
    opt_D = SGD(D, lr=cfg.lr_D) if d_mode == "trained" else None
    run = CostRun(cost, d_mode)
    job = {"G": G, "D": D, "opt_G": opt_G, "rng": gen, "costrun": run}
    if opt_D is not None:
        job["opt_D"] = opt_D

    def record_state():
        x = G.forward(z_eval)
        G.clear_cache()
        run.mean_G.append(float(x.mean()))
        run.std_G.append(float(x.std()))
        run.params.append(_flat(G))

    if saved is not None:
        runs.restore(job, saved)
    else:
        record_state()
    if parts is not None:
        parts.update(job)
    for step in range(len(run.grad_norm), cfg.num_steps):
        try:
            with backend.numpy.errstate(over="raise", invalid="raise"):
                for _ in range(cfg.k if opt_D is not None else 0):  # Algorithm 1's inner loop
                    update_d(G, D, real(cfg.batch_size), noise(cfg.batch_size), opt_D)
                stats = update_g(G, D, noise(cfg.batch_size), opt_G, cost)
                gn = _grad_norm(G)
                if not math.isfinite(gn):
                    raise FloatingPointError(f"gradient norm {gn}")
                record_state()
        except (ValueError, FloatingPointError) as exc:
            run.diverged_at, run.error = step, f"{type(exc).__name__}: {exc}"
            # keep the lists aligned: the state before the failed step
            del run.mean_G[step + 1:], run.std_G[step + 1:], run.params[step + 1:]
            if bar is not None:
                bar.update(cfg.num_steps - step)
            break
        run.grad_norm.append(gn)
        run.D_fake.append(float(stats["D_fake"]))
        if bar is not None:
            bar.update(1)
        if tick is not None:
            tick(step + 1)
    return run


def run(cfg=None, costs=COSTS, d_modes=D_MODES, progress=False, run=None):
    """The whole experiment: D's head start, then one run per (D mode, cost).

    Steps are numbered globally: the head start's, then each run's ``cfg.num_steps``
    G steps (a run that overflows early skips to its end). With ``run`` (a
    :class:`tinygan.runs.Run`) a checkpoint holds the head start's state, the runs done
    and the current one, and ``--resume`` continues from it bit for bit.
    """
    cfg = cfg or Config()
    jobs = [(d_mode, cost) for d_mode in d_modes for cost in costs]
    P, N = cfg.pretrain_steps, cfg.num_steps
    total = P + N * len(jobs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="saturation", unit="step", leave=False)
    G0, D0 = make_models(cfg)
    pre, done, cur = {}, {}, {}
    parts = {"G0": G0, "D0": D0, "pre": pre, "done": done, "cur": cur}
    run = run or runs.NullRun()
    ckpt = run.checkpoint()
    saved = ckpt.tree if ckpt is not None else {}
    if ckpt is not None:  # the models and the runs done; each loop restores its own state
        runs.restore({"G0": G0, "D0": D0, "done": done}, saved)
    with run.loop(total, state=parts, start=ckpt.step if ckpt else 0) as tick:
        d_real, d_fake = pretrain_discriminator(G0, D0, cfg, bar, parts=pre,
                                                saved=saved.get("pre"), tick=tick)
        for j, (d_mode, cost) in enumerate(jobs):
            offset = P + j * N
            resume = saved.get("cur") if saved.get("cur", {}).get("index") == j else None
            if resume is not None and _complete(resume["costrun"], N):
                done.setdefault(j, resume["costrun"])  # it ended just before that checkpoint
            if j in done:
                if bar is not None:
                    bar.update(N)
                continue
            G, D = copy.deepcopy(G0), copy.deepcopy(D0)  # the same start for every run
            cur.clear()
            cur["index"] = j
            r = train_generator(G, D, cost, d_mode, cfg, bar, parts=cur, saved=resume,
                                tick=lambda i, o=offset: tick(o + i))
            done[j] = r.state_dict()
            if r.finished and len(r.grad_norm) < N:
                tick(offset + N)  # an overflowed run ends early: skip to its last step
    result = SaturationResult(cfg, D_fake_start=d_fake, D_real_start=d_real)
    for j, (d_mode, cost) in enumerate(jobs):
        result.runs[(d_mode, cost)] = CostRun(cost, d_mode).load_state_dict(done[j])
    if bar is not None:
        bar.close()
    return result


train = run  # the same function: in main() the name ``run`` is the run layer's Run


# --- figures -------------------------------------------------------------------------------

def cost_curves(d):
    """Per-sample cost and its gradient w.r.t. D's logit, from the library's losses.

    ``d`` is a host array of D(G(z)) values in (0, 1). Each loss is called on the
    logits a = σ⁻¹(d) = log(d/(1 − d)); with a batch of n logits it returns the
    mean and the gradient/n, so n·grad is the per-sample gradient. Returns
    {cost: (cost_values, dcost_dlogit)} as host arrays.
    """
    from ..losses import GENERATOR_LOSSES

    np = backend.numpy
    d = np.asarray(d, dtype="float64")
    a = np.log(d) - np.log1p(-d)
    out = {}
    for cost in COSTS:
        fn = GENERATOR_LOSSES[cost]
        values = np.array([float(fn(a[i:i + 1].reshape(1, 1))[0]) for i in range(a.size)])
        grad = backend.to_numpy(fn(a.reshape(-1, 1))[1]).ravel() * a.size
        out[cost] = (values, grad)
    return out


def plot_costs(d_min=1e-4, d_max=0.999, num=400):
    """The tutorial's Figure 16, and the gradient each cost sends back to D's logit."""
    import matplotlib.pyplot as plt

    np = backend.numpy
    d = np.logspace(np.log10(d_min), np.log10(d_max), num)
    curves = cost_curves(d)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for cost, (values, grad) in curves.items():
        ax1.plot(d, values, color=COLORS[cost], label=LABELS[cost])
        ax2.plot(d, -grad, color=COLORS[cost], label=LABELS[cost])
    ax1.set(xscale="log", xlabel="D(G(z))", ylabel="per-sample cost (ours = 2 × tutorial's J(G))",
            ylim=(-10, 10), title="Generator costs")
    ax1.axhline(0, color="0.8", lw=0.8)
    ax2.set(xscale="log", yscale="log", xlabel="D(G(z))", ylabel="−∂cost/∂a  (a = D's logit)",
            title="Gradient reaching D's logit, per sample")
    ax2.axvline(1e-3, color="0.6", ls=":", lw=1)
    ax2.annotate("D(G(z)) = 0.001:\nminimax 0.001, ML 0.001,\nnon-saturating 0.999",
                 xy=(1e-3, 1e-3), xytext=(1.5e-3, 3e-4), fontsize=8)
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _legend_below(fig, ax):
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)


def plot_grad_norms(result):
    """‖∇θ_G L‖ at every G step, one panel per D mode."""
    import matplotlib.pyplot as plt

    modes = sorted({m for m, _ in result.runs}, key=D_MODES.index)
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        for (m, cost), r in result.runs.items():
            if m != mode:
                continue
            ax.plot(range(1, len(r.grad_norm) + 1), r.grad_norm, color=COLORS[cost],
                    label=LABELS[cost])
            if r.diverged_at is not None:
                ax.axvline(r.diverged_at, color=COLORS[cost], ls=":", lw=1)
                ax.annotate(f"overflow\nat step {r.diverged_at}", xy=(r.diverged_at, 1.0),
                            xycoords=("data", "axes fraction"), xytext=(3, -28),
                            textcoords="offset points", color=COLORS[cost], fontsize=8)
        ax.axvspan(0, result.config.window, color="0.93", zorder=0)
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, min(hi, 1e3))  # an overflowing run would squash the others
        ax.set(xlabel="G step", ylabel="‖∇θ_G cost‖",
               title=f"D {mode}" + (f" (k = {result.config.k} D step per G step)"
                                       if mode == "trained" else ""))
        ax.grid(alpha=0.3)
    _legend_below(fig, axes[0, 0])
    fig.suptitle(f"Gradient reaching G (shaded: the first {result.config.window} steps, "
                 "which the table averages)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def plot_generated(result):
    """The generated distribution over G's steps: mean ± std of G(z), against the data's."""
    import matplotlib.pyplot as plt

    np = backend.numpy
    cfg = result.config
    modes = sorted({m for m, _ in result.runs}, key=D_MODES.index)
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        ax.axhspan(cfg.data_mean - cfg.data_std, cfg.data_mean + cfg.data_std, color="0.85",
                   label="data: mean ± std")
        ax.axhline(cfg.data_mean, color="k", ls="--", lw=1)
        for (m, cost), r in result.runs.items():
            if m != mode:
                continue
            t = np.arange(len(r.mean_G))
            mu, sd = np.asarray(r.mean_G), np.asarray(r.std_G)
            ax.plot(t, mu, color=COLORS[cost], label=LABELS[cost])
            ax.fill_between(t, mu - sd, mu + sd, color=COLORS[cost], alpha=0.15)
        ax.set(xlabel="G step", ylabel="G(z): mean ± std", title=f"D {mode}",
               ylim=(cfg.b0 - 1.5, cfg.data_mean + 3))
        ax.grid(alpha=0.3)
    _legend_below(fig, axes[0, 0])
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


# --- command line --------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--quick", action="store_true",
                        help=f"{Config.quick().num_steps} G steps per run instead of "
                             f"{Config().num_steps} (the table's numbers are the same)")
    parser.add_argument("--seed", type=runs.seed, default=0,
                        help="seed of D's weights, the data and the noise (default: 0)")


def main(args, run):
    cfg = Config.quick(args.seed) if args.quick else Config(seed=args.seed)
    result = train(cfg, progress=not args.no_progress, run=run)
    print(result.table())
    figures = {"costs.png": plot_costs(), "grad_norms.png": plot_grad_norms(result),
               "generated.png": plot_generated(result)}
    for name, fig in figures.items():
        run.save_figure(fig, name, dpi=120)
    run.save_json("saturation.json", result.to_json())
    print(f"wrote {', '.join(figures)} and saturation.json to {run.out}")
    return 0
