"""Figures for image GANs: sample grids, loss curves, class histograms.

Every function returns a matplotlib ``Figure`` (the CLI saves it, a notebook shows
it); matplotlib is imported lazily and ``plt.show()`` is never called here. Arrays
may live on either backend: they are copied to the host explicitly.
"""

from __future__ import annotations

import math

from . import backend

__all__ = ["image_grid", "plot_image_grid", "plot_samples_by_class", "plot_losses",
           "plot_class_histograms", "plot_image_table", "plot_style_mixing",
           "plot_noise_effect", "save_figure", "interpolate_latents", "plot_interpolations",
           "animate_samples"]

np = backend.numpy


def image_grid(images, nrow=None, pad=1, value_range=(-1.0, 1.0)):
    """Tile images (N, 1, H, W) or (N, H, W) into one host array with values in [0, 1].

    ``value_range`` is mapped to [0, 1] (−1..1 for a tanh generator) and clipped;
    the padding between tiles is 1 (white in the grey colour map reversed below).
    """
    x = backend.to_numpy(images).astype(np.float64)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"image_grid draws one-channel images, got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"image_grid expects (N, 1, H, W) or (N, H, W), got {x.shape}")
    lo, hi = value_range
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    n, h, w = x.shape
    ncol = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / ncol))
    grid = np.zeros((rows * (h + pad) + pad, ncol * (w + pad) + pad))
    for i in range(n):
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = x[i]
    return grid


def plot_image_grid(images, nrow=None, title=None, value_range=(-1.0, 1.0), size=4.0):
    """A grid of grey images (ink dark on white, like the digits were written)."""
    import matplotlib.pyplot as plt

    grid = image_grid(images, nrow=nrow, value_range=value_range)
    fig, ax = plt.subplots(figsize=(size, size * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_samples_by_class(images, labels, per_class=10, num_classes=10,
                          title="Samples grouped by the class the classifier predicts"):
    """One row per class: the first ``per_class`` images whose predicted label is that class.

    An empty row is a class the generator never produced (a dropped mode).
    """
    import matplotlib.pyplot as plt

    x = backend.to_numpy(images)
    y = backend.to_numpy(labels)
    h, w = x.shape[-2:]
    rows = np.ones((num_classes * per_class, 1, h, w)) * -1.0  # blank tiles (background)
    for c in range(num_classes):
        pick = np.flatnonzero(y == c)[:per_class]
        rows[c * per_class:c * per_class + len(pick)] = x[pick].reshape(len(pick), 1, h, w)
    grid = image_grid(rows, nrow=per_class)
    fig, ax = plt.subplots(figsize=(4.4, 4.4 * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([(c + 0.5) * (h + 1) + 0.5 for c in range(num_classes)])
    ax.set_yticklabels([str(c) for c in range(num_classes)])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_losses(history, title="DCGAN training", smooth=25):
    """Loss curves (D and G, raw and a moving average) and the mean D outputs.

    ``history`` is a :class:`tinygan.train.History` or a dict of arrays with keys
    ``loss_D``, ``loss_G``, ``D_real``, ``D_fake``.
    """
    import matplotlib.pyplot as plt

    h = history.as_arrays() if hasattr(history, "as_arrays") else {
        k: np.asarray(v, dtype=np.float64) for k, v in history.items()}

    def ma(v):
        k = max(1, min(smooth, len(v)))
        return np.convolve(v, np.ones(k) / k, mode="valid"), k

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, colour in (("loss_D", "C0"), ("loss_G", "C1")):
        v = h[key]
        ax0.plot(v, color=colour, alpha=0.25, lw=0.8)
        m, k = ma(v)
        ax0.plot(np.arange(k - 1, k - 1 + len(m)), m, color=colour, label=key)
    ax0.axhline(2 * math.log(2), color="grey", ls=":", lw=1, label="2 ln 2")
    ax0.axhline(math.log(2), color="grey", ls="--", lw=1, label="ln 2")
    ax0.set_xlabel("generator step")
    ax0.set_ylabel("loss")
    ax0.legend(fontsize=8)
    for key, colour in (("D_real", "C2"), ("D_fake", "C3")):
        m, k = ma(h[key])
        ax1.plot(np.arange(k - 1, k - 1 + len(m)), m, color=colour, label=f"mean {key}")
    ax1.axhline(0.5, color="grey", ls=":", lw=1)
    ax1.set_ylim(0, 1)
    ax1.set_xlabel("generator step")
    ax1.set_ylabel("D's probability")
    ax1.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_class_histograms(histograms, title="Classes the digit classifier sees"):
    """Side-by-side bars of class counts, one series per name in ``histograms`` (a dict)."""
    import matplotlib.pyplot as plt

    names = list(histograms)
    k = len(next(iter(histograms.values())))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(7, 3))
    for i, name in enumerate(names):
        counts = np.asarray(histograms[name], dtype=np.float64)
        frac = counts / max(1.0, counts.sum())
        ax.bar(np.arange(k) + (i - (len(names) - 1) / 2) * width, frac, width, label=name)
    ax.axhline(1 / k, color="grey", ls=":", lw=1)
    ax.set_xticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("fraction of samples")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _table_canvas(x, pad=1):
    """(R, K, H, W) tiles → one (R(H+p)+p, K(W+p)+p) canvas; NaN tiles and gaps stay NaN."""
    R, K, h, w = x.shape
    canvas = np.full((R * (h + pad) + pad, K * (w + pad) + pad), np.nan)
    for i in range(R):
        for j in range(K):
            top, left = pad + i * (h + pad), pad + j * (w + pad)
            canvas[top:top + h, left:left + w] = x[i, j]
    return canvas


def _label_table(ax, shape, h, w, row_labels, col_labels, pad=1):
    R, K = shape
    for j, text in enumerate(col_labels or []):
        ax.text(pad + j * (w + pad) + w / 2 - 0.5, -0.6, text, ha="center", va="bottom",
                fontsize=7)
    for i, text in enumerate(row_labels or []):
        ax.text(-0.8, pad + i * (h + pad) + h / 2 - 0.5, text, ha="right", va="center",
                fontsize=7)


def plot_image_table(table, row_labels=None, col_labels=None, title=None, size=0.5):
    """Images in a table (R, K, 1, H, W) with optional row and column labels, one canvas.

    A tile that is all NaN is left blank (the corner of a style-mixing grid).
    """
    import matplotlib.pyplot as plt

    x = backend.to_numpy(table).astype(np.float64)
    if x.ndim != 5 or x.shape[2] != 1:
        raise ValueError(f"plot_image_table expects (R, K, 1, H, W), got {x.shape}")
    R, K, _, h, w = x.shape
    canvas = _table_canvas(np.clip((x[:, :, 0] + 1) / 2, 0, 1))
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    fig, ax = plt.subplots(figsize=(size * K + 0.7, size * R + 0.5))
    ax.imshow(np.ma.masked_invalid(canvas), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    _label_table(ax, (R, K), h, w, row_labels, col_labels)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9, pad=14 if col_labels else 4)
    fig.tight_layout(pad=0.3)
    return fig


def plot_style_mixing(sources_a, sources_b, mixed, title=None, a_name="A", b_name="B"):
    """The style-mixing grid: row i is source A_i, column j source B_j, cell (i, j) their mix.

    ``sources_a`` (R, 1, H, W), ``sources_b`` (K, 1, H, W), ``mixed`` (R, K, 1, H, W); the
    first row shows the B sources and the first column the A sources.
    """
    a, b, m = (backend.to_numpy(v).astype(np.float64) for v in (sources_a, sources_b, mixed))
    R, K = m.shape[:2]
    table = np.full((R + 1, K + 1) + m.shape[2:], np.nan)
    table[0, 1:] = b
    table[1:, 0] = a
    table[1:, 1:] = m
    return plot_image_table(table, row_labels=[""] + [f"{a_name}{i}" for i in range(R)],
                            col_labels=[""] + [f"{b_name}{j}" for j in range(K)], title=title)


def plot_noise_effect(images, std_maps, title=None, size=0.5):
    """Per row one w: the image under several noise draws, then the per-pixel std over draws.

    ``images`` (R, K, 1, H, W); ``std_maps`` (R, H, W), drawn beside them with their own
    colour scale (the largest std in the figure is the darkest).
    """
    import matplotlib.pyplot as plt

    x = backend.to_numpy(images).astype(np.float64)
    s = backend.to_numpy(std_maps).astype(np.float64)
    R, K, _, h, w = x.shape
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(size * (K + 1) + 0.8, size * R + 0.6),
                                   gridspec_kw={"width_ratios": [K, 1]})
    ax0.imshow(np.ma.masked_invalid(_table_canvas(np.clip((x[:, :, 0] + 1) / 2, 0, 1))),
               cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    _label_table(ax0, (R, K), h, w, None, [f"noise {j}" for j in range(K)])
    ax1.imshow(np.ma.masked_invalid(_table_canvas(s[:, None])), cmap="magma_r", vmin=0,
               vmax=max(float(s.max()), 1e-12), interpolation="nearest")
    _label_table(ax1, (R, 1), h, w, None, ["std"])
    ax0.set_axis_off()
    ax1.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.9 if title else 1))
    return fig


def save_figure(fig, path, dpi=120):
    """Save (atomically) and close a figure (closing frees its memory in long CLI runs)."""
    import os

    import matplotlib.pyplot as plt

    from .runs import atomic_path

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight",
                        format=os.path.splitext(os.fspath(path))[1][1:] or "png")
    finally:
        plt.close(fig)
    return path


def interpolate_latents(z0, z1, num=9, kind="linear"):
    """``num`` latent vectors on the path from z0 to z1 (rows of z0, z1: one path each).

    Math
    ----
    linear:    z(t) = (1 − t)·z0 + t·z1
    spherical: z(t) = sin((1 − t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1,  cos Ω = ⟨ẑ0, ẑ1⟩
    (slerp, White 2016: Gaussian noise in many dimensions lives near a sphere, and the
    straight line between two samples passes through its improbable interior; the
    great circle stays where G was trained.) t runs over num points from 0 to 1.

    Shapes
    ------
    z0, z1: (P, latent_dim) → (P, num, latent_dim)
    """
    z0, z1 = np.asarray(backend.to_numpy(z0), "float64"), np.asarray(backend.to_numpy(z1),
                                                                         "float64")
    if z0.shape != z1.shape or z0.ndim != 2:
        raise ValueError(f"interpolate_latents expects two (P, latent_dim) arrays of one shape,"
                         f" got {z0.shape} and {z1.shape}")
    t = np.linspace(0.0, 1.0, num)[None, :, None]                        # (1, num, 1)
    a, b = z0[:, None, :], z1[:, None, :]                                # (P, 1, L)
    if kind == "linear":
        return (1 - t) * a + t * b
    if kind != "spherical":
        raise ValueError(f"interpolate_latents: kind must be 'linear' or 'spherical', got "
                         f"{kind!r}")
    cos = (z0 * z1).sum(1) / (np.linalg.norm(z0, axis=1) * np.linalg.norm(z1, axis=1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None, None]            # (P, 1, 1)
    so = np.sin(omega)
    safe = np.where(so > 1e-12, so, 1.0)
    out = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / safe
    return np.where(so > 1e-12, out, (1 - t) * a + t * b)  # parallel ends: the line


def plot_interpolations(rows, title="Latent interpolation"):
    """Rows of images ``{label: (P, num, 1, H, W)}``: each path one row, each kind a block."""
    import matplotlib.pyplot as plt

    blocks = list(rows.items())
    fig, axes = plt.subplots(len(blocks), 1, figsize=(6.5, 1.0 + 0.75 * sum(
        r.shape[0] for _, r in blocks)), squeeze=False)
    for ax, (label, imgs) in zip(axes[:, 0], blocks):
        P, num = imgs.shape[:2]
        ax.imshow(image_grid(imgs.reshape((P * num,) + imgs.shape[2:]), nrow=num),
                  cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(label, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def animate_samples(snapshots, nrow=10, size=3.0):
    """(fig, draw_frame, num_frames) for a GIF of fixed-noise samples over training.

    ``snapshots`` maps step → images (N, 1, H, W); frame i shows the i-th step's grid.
    """
    import matplotlib.pyplot as plt

    steps = sorted(snapshots)
    fig, ax = plt.subplots(figsize=(size, size + 0.35))
    im = ax.imshow(image_grid(snapshots[steps[0]], nrow=nrow), cmap="gray_r", vmin=0, vmax=1,
                   interpolation="nearest")
    ax.set_axis_off()
    title = ax.set_title("", fontsize=9)
    fig.tight_layout()

    def draw(i):
        im.set_data(image_grid(snapshots[steps[i]], nrow=nrow))
        title.set_text(f"G(z), fixed z, after {steps[i]} steps")

    return fig, draw, len(steps)
