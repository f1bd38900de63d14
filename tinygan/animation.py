"""GIFs of training: matplotlib's animation writer with Pillow (matplotlib installs Pillow).

A command keeps a few snapshots while it trains (samples, densities, parameters) and,
at the end, redraws one figure per snapshot into a GIF. Frames are drawn by the same
plotting code as the PNG figures; only the writer is new.
"""

from __future__ import annotations

__all__ = ["save_gif"]


def save_gif(path, fig, draw_frame, num_frames, fps=8, dpi=72):
    """Write ``num_frames`` frames to the GIF ``path``: ``draw_frame(i)`` redraws ``fig``.

    >>> import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    >>> import tempfile, os
    >>> fig, ax = plt.subplots(figsize=(1, 1)); (line,) = ax.plot([0, 1], [0, 0])
    >>> path = os.path.join(tempfile.mkdtemp(), "t.gif")
    >>> save_gif(path, fig, lambda i: line.set_ydata([0, i]), 3)
    >>> from PIL import Image
    >>> with Image.open(path) as gif: gif.n_frames
    3
    >>> plt.close(fig)
    """
    from matplotlib.animation import PillowWriter

    if num_frames < 1:
        raise ValueError(f"save_gif needs at least one frame, got {num_frames}")
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi):
        for i in range(num_frames):
            draw_frame(i)
            writer.grab_frame()
