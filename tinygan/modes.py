"""Mode collapse, measured as VEEGAN and PacGAN measure it on 2-D Gaussian mixtures.

The metric (papers.md §4):

1. draw N = 2,500 samples from G;
2. assign each sample to its nearest mode; its *std-normalised distance* is
   d = ‖x − μ_k‖ / σ (σ is the mixture's shared std);
3. a sample is *high quality* if d < 3;
4. a mode is *captured* if at least one high-quality sample is assigned to it.

We also report the KL divergence between the histogram of high-quality samples over
the modes and the uniform distribution over the K modes, KL(p̂ ‖ u) = Σ_k p̂_k log(K p̂_k)
(0 for a perfectly balanced G, log K when everything falls on one mode). It is
undefined without a single high-quality sample; we return ``inf`` then.

The figures of the mode-collapse experiment live here too (``plot_*``), so that the
notebook and the CLI draw the same pictures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import backend

__all__ = ["ModeStats", "mode_stats", "sample_generator", "plot_samples", "plot_snapshots",
           "HIGH_QUALITY_STDS", "NUM_EVAL_SAMPLES"]

HIGH_QUALITY_STDS = 3.0
NUM_EVAL_SAMPLES = 2500


@dataclass
class ModeStats:
    """The result of :func:`mode_stats`."""

    modes: int  # number of captured modes
    num_modes: int  # K
    high_quality: float  # fraction of samples within 3σ of their nearest mode
    kl: float  # KL(histogram of high-quality samples ‖ uniform over K)
    counts: object  # (K,) host int array: high-quality samples per mode

    def as_dict(self):
        return {"modes": self.modes, "num_modes": self.num_modes,
                "high_quality": self.high_quality, "kl": self.kl,
                "counts": [int(c) for c in self.counts]}


def mode_stats(samples, means, std, threshold=HIGH_QUALITY_STDS):
    """Modes captured, fraction of high-quality samples, and KL to uniform.

    Math
    ----
    k(x) = argmin_k ‖x − μ_k‖,   d(x) = ‖x − μ_{k(x)}‖ / σ
    high quality: d(x) < threshold (3);  n_k = #{high-quality x with k(x) = k}
    modes = #{k : n_k ≥ 1};   p̂_k = n_k / Σ_j n_j;   KL = Σ_{k: p̂_k>0} p̂_k log(K p̂_k)

    Shapes
    ------
    samples: (N, 2) (any backend; copied to the host);  means: (K, 2)

    Returns a :class:`ModeStats`. The metric is computed on the host (float64).
    """
    np = backend.numpy
    x = np.asarray(backend.to_numpy(samples), dtype="float64")
    mu = np.asarray(backend.to_numpy(means), dtype="float64")
    if x.ndim != 2 or mu.ndim != 2 or x.shape[1] != mu.shape[1]:
        raise ValueError(f"mode_stats expected samples (N, D) and means (K, D), got "
                         f"{tuple(x.shape)} and {tuple(mu.shape)}")
    if x.shape[0] == 0 or mu.shape[0] == 0:
        raise ValueError("mode_stats needs at least one sample and one mode")
    if not std > 0:
        raise ValueError(f"mode_stats needs a positive std, got {std}")
    if not np.isfinite(x).all():
        raise ValueError(f"mode_stats: {int((~np.isfinite(x)).sum())} samples are not finite")
    K = mu.shape[0]
    d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2)  # (N, K)
    nearest = d2.argmin(axis=1)
    dist = np.sqrt(d2[np.arange(x.shape[0]), nearest]) / std
    hq = dist < threshold
    counts = np.bincount(nearest[hq], minlength=K)
    total = int(counts.sum())
    if total == 0:
        kl = math.inf
    else:
        p = counts[counts > 0] / total
        kl = float((p * np.log(K * p)).sum())
    return ModeStats(modes=int((counts > 0).sum()), num_modes=K,
                     high_quality=float(hq.mean()), kl=kl, counts=counts)


def sample_generator(G, num_samples, latent_dim, seed, dtype="float32", batch_size=500):
    """num_samples points from G (eval mode, in batches), as a host (N, 2) array."""
    np = backend.numpy
    gen = backend.rng(seed)
    G.eval()
    out = []
    try:
        for start in range(0, num_samples, batch_size):
            m = min(batch_size, num_samples - start)
            z = backend.xp().asarray(gen.standard_normal((m, latent_dim))).astype(dtype)
            out.append(backend.to_numpy(G.forward(z)))
            G.clear_cache()
    finally:
        G.train()
    return np.concatenate(out, axis=0)


def plot_samples(samples, means, std=None, ax=None, title=None, limit=None):
    """Scatter of samples (small blue dots) over the modes (red crosses); returns the Figure."""
    import matplotlib.pyplot as plt

    np = backend.numpy
    x = np.asarray(backend.to_numpy(samples))
    mu = np.asarray(backend.to_numpy(means))
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
    else:
        fig = ax.figure
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color="tab:blue", linewidths=0)
    ax.scatter(mu[:, 0], mu[:, 1], s=30, marker="x", color="tab:red")
    if limit is None:
        limit = 1.5 * float(np.abs(mu).max())
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_snapshots(snapshots, means, title=None):
    """One row of scatter plots: ``snapshots`` is a list of (step, samples, ModeStats)."""
    import matplotlib.pyplot as plt

    n = len(snapshots)
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.6), squeeze=False)
    for ax, (step, samples, stats) in zip(axes[0], snapshots):
        label = f"step {step}"
        if stats is not None:
            label += f"\n{stats.modes}/{stats.num_modes} modes, HQ {100 * stats.high_quality:.0f}%"
        plot_samples(samples, means, ax=ax, title=label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
