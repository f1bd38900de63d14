"""Figures for voxel GANs: shapes drawn as the faces ``ax.voxels`` draws, curves, a rotating GIF.

Every function returns a matplotlib ``Figure`` (or, for the GIF, what
:meth:`tinygan.runs.Run.save_animation` takes); matplotlib is imported lazily, arrays
may live on either backend and are copied to the host explicitly. A shape is drawn as
the voxels whose occupancy is above 1/2 (G's sigmoid output is a probability).
"""

from __future__ import annotations

import math

from . import backend

__all__ = ["voxel_faces", "draw_voxels", "plot_voxel_grid", "plot_shapes_by_class",
           "plot_voxel_path", "plot_gan3d_training", "rotating_voxels"]

np = backend.numpy

FACE = "#4c8cbf"
EDGE = "#1f3b57"


def _grid(v, threshold=0.5):
    """One shape (1, S, S, S) or (S, S, S) as a host boolean (S, S, S)."""
    a = backend.to_numpy(v)
    a = a.reshape(a.shape[-3:])
    return a > threshold


def voxel_faces(filled):
    """The exposed faces of a boolean (S, S, S) grid: quads (F, 4, 3) and their normals' axis (F,).

    A face is exposed where an occupied voxel meets an empty one (or the grid's edge):
    along axis a, the voxel pairs (i − 1, i) that differ, on the grid padded by one empty
    layer. These are the faces ``ax.voxels`` draws; computed here with array operations
    in one pass, they make one collection instead of one artist per voxel (``ax.voxels``
    took about 1 s of CPU per 16³ shape, this takes a few milliseconds).
    """
    f = np.pad(filled, 1)
    quads, axes = [], []
    # the unit square's corners in the two axes other than a, in drawing order
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    for a in range(3):
        diff = np.diff(f.astype(np.int8), axis=a)      # ±1 where a face separates the pair
        idx = np.argwhere(diff != 0)                    # face k of the padded grid, along a
        if not len(idx):
            continue
        # padded index k on axis a is the face at coordinate k (between voxels k − 1, k);
        # the other axes' padded indices are one past the voxel's
        base = (idx - 1).astype(float)
        base[:, a] += 1
        others = [b for b in range(3) if b != a]
        q = np.repeat(base[:, None, :], 4, axis=1)      # (F, 4, 3)
        q[:, :, others[0]] += square[:, 0]
        q[:, :, others[1]] += square[:, 1]
        quads.append(q)
        axes.append(np.full(len(idx), a))
    if not quads:
        return np.zeros((0, 4, 3)), np.zeros(0, dtype=int)
    return np.concatenate(quads), np.concatenate(axes)


def draw_voxels(ax, v, threshold=0.5, title=None, color=FACE):
    """Draw one shape on a 3-D axes: its occupied voxels as cubes, axes hidden.

    The array axes (d, h, w) are drawn as (x, y, z), so z (the last axis) points up. The
    faces are shaded by their direction (a fixed light), so the solid reads as one.
    """
    from matplotlib.colors import to_rgb
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    filled = _grid(v, threshold)
    S = filled.shape[0]
    quads, axes = voxel_faces(filled)
    if len(quads):
        shade = np.array([0.75, 0.9, 1.0])[axes]       # x-, y-, z-facing faces
        colours = np.clip(np.array(to_rgb(color))[None] * shade[:, None], 0, 1)
        ax.add_collection3d(Poly3DCollection(quads, facecolors=colours, edgecolors=EDGE,
                                             linewidths=0.2))
    ax.set_xlim(0, S)
    ax.set_ylim(0, S)
    ax.set_zlim(0, S)
    ax.set_box_aspect((1, 1, 1))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8, pad=0)
    return ax


def plot_voxel_grid(voxels, ncol=None, titles=None, title=None, size=1.6, threshold=0.5):
    """A grid of shapes (N, 1, S, S, S), one 3-D axes each."""
    import matplotlib.pyplot as plt

    n = voxels.shape[0]
    ncol = ncol or int(math.ceil(math.sqrt(n)))
    nrow = int(math.ceil(n / ncol))
    fig = plt.figure(figsize=(size * ncol, size * nrow + (0.4 if title else 0)))
    for i in range(n):
        ax = fig.add_subplot(nrow, ncol, i + 1, projection="3d")
        draw_voxels(ax, voxels[i], threshold, titles[i] if titles else None)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.92 if title else 1, wspace=0,
                        hspace=0.1)
    return fig


def plot_shapes_by_class(voxels, labels, class_names, per_class=4, size=1.5,
                         title="Samples grouped by the class the shape classifier predicts"):
    """One row per class: the first ``per_class`` shapes whose predicted label is that class.

    An empty row is a class the generator never produced (a dropped mode).
    """
    import matplotlib.pyplot as plt

    y = backend.to_numpy(labels)
    k = len(class_names)
    fig = plt.figure(figsize=(size * per_class + 1.0, size * k + 0.4))
    for c, name in enumerate(class_names):
        pick = np.flatnonzero(y == c)[:per_class]
        for j in range(per_class):
            ax = fig.add_subplot(k, per_class, c * per_class + j + 1, projection="3d")
            if j < len(pick):
                draw_voxels(ax, voxels[pick[j]])
            else:
                ax.set_axis_off()
            if j == 0:
                ax.text2D(-0.15, 0.5, f"{name}\n({int((y == c).sum())})", fontsize=8,
                          transform=ax.transAxes, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.14, right=1, bottom=0, top=0.95, wspace=0, hspace=0.05)
    return fig


def plot_voxel_path(voxels, title="G along a latent path", size=1.4):
    """Shapes along latent paths: (P, num, 1, S, S, S), one path per row (left to right)."""
    import matplotlib.pyplot as plt

    P, num = voxels.shape[:2]
    fig = plt.figure(figsize=(size * num, size * P + 0.4))
    for p in range(P):
        for i in range(num):
            ax = fig.add_subplot(P, num, p * num + i + 1, projection="3d")
            draw_voxels(ax, voxels[p, i], title=f"t = {i / max(1, num - 1):.2f}" if p == 0
                        else None)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.9, wspace=0, hspace=0.05)
    return fig


def _moving_average(v, k):
    k = max(1, min(k, len(v)))
    return np.arange(k - 1, len(v)), np.convolve(v, np.ones(k) / k, mode="valid")


def plot_gan3d_training(history, accuracy_limit=None, smooth=25,
                        title="3D-GAN training"):
    """Losses, D's accuracy against the adaptive limit, and the share of skipped D steps.

    ``history`` is a :class:`tinygan.train.History` filled by ``fit`` (its ``D_accuracy``
    and ``D_updated`` lists); the right panel is the moving average of 1 − D_updated.
    """
    import matplotlib.pyplot as plt

    h = history.as_arrays()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
    ax = axes[0]
    for key, colour in (("loss_D", "C0"), ("loss_G", "C1")):
        ax.plot(h[key], color=colour, alpha=0.25, lw=0.8)
        ax.plot(*_moving_average(h[key], smooth), color=colour, label=key)
    ax.axhline(2 * math.log(2), color="grey", ls=":", lw=1, label="2 ln 2")
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(h["D_accuracy"], color="C2", alpha=0.25, lw=0.8)
    ax.plot(*_moving_average(h["D_accuracy"], smooth), color="C2", label="D's accuracy")
    if accuracy_limit is not None:
        ax.axhline(accuracy_limit, color="C3", ls="--", lw=1,
                   label=f"limit {accuracy_limit:g}: above it D is not updated")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("generator step")
    ax.set_ylabel("share classified correctly")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    skipped = 1 - h["D_updated"]
    ax.plot(*_moving_average(skipped, smooth), color="C4")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("generator step")
    ax.set_ylabel(f"share of D steps skipped (moving average of {smooth})")
    ax.set_title(f"skipped overall: {skipped.mean():.1%}" if len(skipped) else "", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def rotating_voxels(v, num_frames=36, size=3.0, title=None, elev=25):
    """(fig, draw_frame, num_frames) for a GIF of one shape turning once around z.

    For :meth:`tinygan.runs.Run.save_animation` (or :func:`tinygan.animation.save_gif`):
    frame i views the shape from azimuth 360°·i/num_frames.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(size, size))
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    draw_voxels(ax, v, title=title)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.92 if title else 1)

    def draw(i):
        ax.view_init(elev=elev, azim=-60 + 360.0 * i / num_frames)

    return fig, draw, num_frames
