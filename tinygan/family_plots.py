"""Figures for the conditional GANs and CycleGAN (``tinygan cgan``, ``tinygan cyclegan``).

Every function returns a matplotlib ``Figure`` (the commands save it, notebooks 06 and 07
show it); arrays may live on either backend and are copied to the host explicitly.
"""

from __future__ import annotations

from . import backend
from .image_plots import image_grid

__all__ = ["plot_class_rows", "plot_interpolation", "plot_translation_grid",
           "plot_point_translation", "animate_points", "plot_cycle_losses", "plot_dstar_1d"]

np = backend.numpy


def _show_grid(images, nrow, row_labels=None, col_labels=None, title=None, size=4.4):
    import matplotlib.pyplot as plt

    x = backend.to_numpy(images)
    h, w = x.shape[-2:]
    grid = image_grid(x, nrow=nrow)
    fig, ax = plt.subplots(figsize=(size, size * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([] if col_labels is None else
                  [(c + 0.5) * (w + 1) + 0.5 for c in range(len(col_labels))])
    if col_labels is not None:
        ax.set_xticklabels(col_labels, fontsize=7)
        ax.xaxis.tick_top()
    ax.set_yticks([] if row_labels is None else
                  [(r + 0.5) * (h + 1) + 0.5 for r in range(len(row_labels))])
    if row_labels is not None:
        ax.set_yticklabels(row_labels, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_class_rows(images, num_classes=10, title="G(z, y): one row per requested digit"):
    """images (K·n, 1, H, W) ordered class by class → a grid with one row per class."""
    n = backend.to_numpy(images).shape[0] // num_classes
    return _show_grid(images, n, row_labels=[str(k) for k in range(num_classes)], title=title)


def plot_interpolation(images, num_classes=10, title="z₀ → z₁ for every digit (same z's "
                                                       "in every row)"):
    """images (K·S, 1, H, W): row k is G(z_t, k) for S points z_t between two noises."""
    S = backend.to_numpy(images).shape[0] // num_classes
    return _show_grid(images, S, row_labels=[str(k) for k in range(num_classes)],
                      col_labels=[f"{t:.2g}" for t in np.linspace(0, 1, S)], title=title)


def plot_translation_grid(rows, names, per_row=12, title=None):
    """Stacked rows of images: ``rows`` a list of (n, 1, H, W) arrays named by ``names``.

    For CycleGAN: [x, G(x), true counterpart] is the translation grid; [x, G(x), F(G(x))]
    the cycle grid.
    """
    imgs = np.concatenate([backend.to_numpy(r)[:per_row] for r in rows])
    return _show_grid(imgs, per_row, row_labels=names, title=title, size=5.0)


def plot_point_translation(x, gx, fgx, y=None, num_arrows=60, title=None, means_y=None):
    """2-D points: x (blue) → G(x) (orange) → F(G(x)) (green), arrows for a few of them."""
    import matplotlib.pyplot as plt

    x, gx, fgx = (np.asarray(backend.to_numpy(a)) for a in (x, gx, fgx))
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    if y is not None:
        y = np.asarray(backend.to_numpy(y))
        ax.scatter(y[:, 0], y[:, 1], s=3, color="0.75", linewidths=0, label="real Y")
    ax.scatter(x[:, 0], x[:, 1], s=3, color="tab:blue", linewidths=0, alpha=0.6, label="x ∈ X")
    ax.scatter(gx[:, 0], gx[:, 1], s=3, color="tab:orange", linewidths=0, alpha=0.6,
               label="G(x)")
    k = min(num_arrows, x.shape[0])
    for i in range(k):
        ax.annotate("", gx[i], x[i], arrowprops=dict(arrowstyle="->", color="tab:orange",
                                                     lw=0.6, alpha=0.7))
        ax.annotate("", fgx[i], gx[i], arrowprops=dict(arrowstyle="->", color="tab:green",
                                                       lw=0.6, alpha=0.7))
    ax.scatter(fgx[:k, 0], fgx[:k, 1], s=6, color="tab:green", label="F(G(x))")
    if means_y is not None:
        ax.scatter(means_y[:, 0], means_y[:, 1], marker="x", color="tab:red", s=30,
                   label="modes of Y")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="best", markerscale=3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def animate_points(snapshots, means_y, x, size=3.6):
    """(fig, draw_frame, num_frames) for a GIF of G(x) over training (fixed x).

    ``snapshots`` maps step → G(x) (n, 2); Y's modes are the red crosses, x the faint dots.
    """
    import matplotlib.pyplot as plt

    steps = sorted(snapshots)
    x = np.asarray(backend.to_numpy(x))
    pts = [np.asarray(snapshots[s]) for s in steps]
    allp = np.concatenate([x, np.asarray(means_y)] + pts[-1:])
    lo, hi = allp.min(axis=0) - 0.5, allp.max(axis=0) + 0.5
    fig, ax = plt.subplots(figsize=(size, size))
    ax.scatter(x[:, 0], x[:, 1], s=3, color="tab:blue", alpha=0.25, linewidths=0)
    ax.scatter(means_y[:, 0], means_y[:, 1], marker="x", color="tab:red", s=30)
    sc = ax.scatter(pts[0][:, 0], pts[0][:, 1], s=4, color="tab:orange", linewidths=0)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    title = ax.set_title("", fontsize=9)
    fig.tight_layout()

    def draw(i):
        sc.set_offsets(pts[i])
        title.set_text(f"G(x) after {steps[i]} steps")

    return fig, draw, len(steps)


def plot_cycle_losses(history, title="CycleGAN training", smooth=50):
    """The generators' terms (GAN, cycle, identity) and both discriminators' losses."""
    import matplotlib.pyplot as plt

    h = history.as_arrays()

    def ma(v):
        k = max(1, min(smooth, len(v)))
        return np.arange(k - 1, len(v)), np.convolve(v, np.ones(k) / k, mode="valid")

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in ("gan_G", "gan_F", "cycle_x", "cycle_y", "identity_G", "identity_F"):
        ax0.plot(*ma(h[key]), label=key, lw=1)
    ax0.set_yscale("log")
    ax0.set_xlabel("step")
    ax0.set_ylabel("loss (unweighted means)")
    ax0.legend(fontsize=7, ncol=2)
    for key in ("loss_DX", "loss_DY"):
        ax1.plot(*ma(h[key]), label=key, lw=1)
    ax1.axhline(0.25, color="grey", ls=":", lw=1, label="D = ½ everywhere")
    ax1.set_xlabel("step")
    ax1.set_ylabel("LSGAN D loss")
    ax1.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_dstar_1d(curves, title=None):
    """Trained D against its closed-form optimum: ``curves`` a list of
    (label, x, D(x), D*(x), p_data(x), p_g(x)) host arrays, one panel each."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.2), squeeze=False)
    for ax, (label, x, d, dstar, p, q) in zip(axes[0], curves):
        ax.plot(x, p, color="k", ls=":", lw=1, label="p_data")
        ax.plot(x, q, color="tab:green", lw=1, label="p_g")
        ax.plot(x, dstar, color="tab:red", lw=2, alpha=0.5, label="D* (formula)")
        ax.plot(x, d, color="tab:blue", ls="--", lw=1.2, label="trained D")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("x")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
