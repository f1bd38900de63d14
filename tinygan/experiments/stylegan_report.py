"""What a trained StyleGAN is measured by, and its figures: the report half of ``tinygan stylegan``.

* :func:`mixing_scores` — style mixing judged by the digit classifier: for pairs of
  latents (A, B) whose own images are different digits, the share of coarse-from-A /
  fine-from-B mixes labelled as A's digit (``mixing_label_follows_coarse``), as B's
  (``…_follows_fine``), and the same for the reversed split (coarse from B).
* :func:`noise_effect` — the same w under many noise draws: the per-pixel standard
  deviation due to noise alone, next to the one due to w (fixed noise).
* :func:`truncation_table` — samples at several ψ (the truncation trick in W).
* :func:`mapping_change` — how far the mapping network's weights moved (relative), next
  to the synthesis network's: the lr multiplier 0.01 made visible.
* figures built from those (``tinygan.image_plots``).

All sampling here runs G in eval mode inside ``no_grad(G)`` (no cache: no backward follows).
"""

from __future__ import annotations

from .. import backend
from ..image_plots import plot_image_table, plot_noise_effect, plot_style_mixing
from ..layers.base import no_grad
from ..models.stylegan import mix_styles, truncate

__all__ = ["styles", "synthesize", "generate", "mixing_scores", "mixing_grid", "noise_effect",
           "truncation_table", "mapping_change", "PSI_SWEEP", "COARSE_CUTOFF",
           "figure_mixing", "figure_mixing_curve", "figure_truncation", "figure_noise"]

np = backend.numpy

#: ψ values of the truncation sweep (the paper's Figure 8).
PSI_SWEEP = (1.0, 0.7, 0.5, 0.0, -0.5, -1.0)
#: Slots below this are "coarse" (4×4), the rest "fine" (8×8): two per resolution.
COARSE_CUTOFF = 2


def _latents(G, n, rng):
    xp = backend.get_array_module(G.w_avg)
    return xp.asarray(rng.standard_normal((n, G.latent_dim))).astype(G.w_avg.dtype)


def styles(G, z, batch=1000):
    """w = f(z) in eval mode, no cache left behind."""
    xp = backend.get_array_module(z)
    with no_grad(G):
        out = [G.mapping.forward(z[i:i + batch]) for i in range(0, z.shape[0], batch)]
    return xp.concatenate(out, axis=0)


def synthesize(G, ws, noise, batch=500, clip=True):
    """Images g(ws, noise), clipped to [−1, 1] (as the official code saves them)."""
    xp = backend.get_array_module(ws)
    with no_grad(G):
        out = [G.synthesis.forward(ws[i:i + batch], [v[i:i + batch] for v in noise])
               for i in range(0, ws.shape[0], batch)]
    img = xp.concatenate(out, axis=0)
    return xp.clip(img, -1, 1) if clip else img


def generate(G, n, rng, psi=1.0):
    """n samples of G (fresh z and noise from ``rng``), truncated by ψ, clipped: host array."""
    was = G.training
    G.eval()
    w = styles(G, _latents(G, n, rng))
    ws = mix_styles(w, None, G.num_styles, G.num_styles)
    if psi != 1.0:
        ws = truncate(ws, G.w_avg, psi)
    img = synthesize(G, ws, G.draw_noise(n, rng))
    if was:
        G.train()
    return backend.to_numpy(img)


def mixing_scores(G, classifier, n_pairs, rng, cutoff=COARSE_CUTOFF):
    """Does the digit follow the coarse styles? Shares over pairs whose digits differ.

    For n_pairs latent pairs (A, B) with their own images labelled a ≠ b:
    ``follows_coarse`` = P(label(coarse A, fine B) = a), ``follows_fine`` = P(… = b),
    ``follows_coarse_reversed`` = P(label(coarse B, fine A) = b), and
    ``follows_fine_reversed`` = P(… = a). The four images of a pair share one noise draw,
    so only the styles differ between them. Returns a dict of floats and the pair counts.
    """
    was = G.training
    G.eval()
    L = G.num_styles
    wA, wB = styles(G, _latents(G, n_pairs, rng)), styles(G, _latents(G, n_pairs, rng))
    noise = G.draw_noise(n_pairs, rng)
    A = synthesize(G, mix_styles(wA, None, L, L), noise)
    B = synthesize(G, mix_styles(wB, None, L, L), noise)
    AB = synthesize(G, mix_styles(wA, wB, cutoff, L), noise)   # coarse A, fine B
    BA = synthesize(G, mix_styles(wB, wA, cutoff, L), noise)   # coarse B, fine A
    la, lb, lab, lba = (classifier.predict(v) for v in (A, B, AB, BA))
    if was:
        G.train()
    diff = la != lb
    k = int(diff.sum())

    def share(x):
        return float(x[diff].mean()) if k else float("nan")

    scores = {"follows_coarse": share(lab == la), "follows_fine": share(lab == lb),
              "follows_coarse_reversed": share(lba == lb),
              "follows_fine_reversed": share(lba == la), "pairs": k, "pairs_drawn": n_pairs,
              "cutoff": cutoff}
    return scores


def mixing_grid(G, rows, cols, rng, cutoff=COARSE_CUTOFF):
    """Host arrays (A (R, 1, S, S), B (K, 1, S, S), mixed (R, K, 1, S, S)): coarse A, fine B.

    One noise draw for the whole figure (the official figures fix the noise too), so the
    cells differ by their styles only.
    """
    was = G.training
    G.eval()
    L = G.num_styles
    wA, wB = styles(G, _latents(G, rows, rng)), styles(G, _latents(G, cols, rng))
    xp = backend.get_array_module(wA)
    one = G.draw_noise(1, rng)

    def noise(n):
        return [xp.repeat(v, n, axis=0) for v in one]

    A = synthesize(G, mix_styles(wA, None, L, L), noise(rows))
    B = synthesize(G, mix_styles(wB, None, L, L), noise(cols))
    wa = xp.repeat(wA, cols, axis=0)                         # (R·K, D): A_i for each j
    wb = xp.tile(wB, (rows, 1))                              # (R·K, D): B_j
    mixed = synthesize(G, mix_styles(wa, wb, cutoff, L), noise(rows * cols))
    if was:
        G.train()
    S = A.shape[-1]
    return (backend.to_numpy(A), backend.to_numpy(B),
            backend.to_numpy(mixed).reshape(rows, cols, 1, S, S))


def noise_effect(G, n_w, n_noise, rng):
    """The same w under ``n_noise`` noise draws, for ``n_w`` latents.

    Returns a dict: ``pixel_std_noise`` (per-pixel std over noise draws, averaged over
    pixels and w), ``pixel_std_style`` (per-pixel std over w at one fixed noise, for
    scale) and host arrays ``images`` (n_w, n_noise, 1, S, S) and ``std_maps`` (n_w, S, S).
    """
    was = G.training
    G.eval()
    L = G.num_styles
    xp = backend.get_array_module(G.w_avg)
    w = styles(G, _latents(G, n_w, rng))
    ws = xp.repeat(mix_styles(w, None, L, L), n_noise, axis=0)  # (n_w·n_noise, L, D)
    img = synthesize(G, ws, G.draw_noise(n_w * n_noise, rng))
    S = img.shape[-1]
    img = backend.to_numpy(img).reshape(n_w, n_noise, 1, S, S).astype(np.float64)
    std_maps = img[:, :, 0].std(axis=1)                           # (n_w, S, S)
    # the variation due to w, with one noise draw shared by all samples
    fixed = [xp.repeat(v[:1], n_w, axis=0) for v in G.draw_noise(1, rng)]
    by_w = backend.to_numpy(synthesize(G, mix_styles(w, None, L, L), fixed)).astype(np.float64)
    if was:
        G.train()
    return {"pixel_std_noise": float(std_maps.mean()),
            "pixel_std_style": float(by_w[:, 0].std(axis=0).mean()),
            "images": img, "std_maps": std_maps}


def truncation_table(G, n, rng, psis=PSI_SWEEP):
    """Host (n, len(psis), 1, S, S): the same z and noise at each ψ (rows: samples)."""
    was = G.training
    G.eval()
    L = G.num_styles
    w = styles(G, _latents(G, n, rng))
    noise = G.draw_noise(n, rng)
    cols = [backend.to_numpy(synthesize(G, truncate(mix_styles(w, None, L, L), G.w_avg, psi),
                                        noise)) for psi in psis]
    if was:
        G.train()
    return np.stack(cols, axis=1)


def mapping_change(G, G0):
    """‖θ − θ₀‖/‖θ₀‖ over the stored weights of the mapping and of the synthesis network."""
    out = {}
    for part in ("mapping", "synthesis"):
        now, start = getattr(G, part).params, getattr(G0, part).params
        num = sum(float(((backend.to_numpy(now[k]) - backend.to_numpy(start[k])) ** 2).sum())
                  for k in now if k.endswith("W"))
        den = sum(float((backend.to_numpy(start[k]) ** 2).sum()) for k in now if k.endswith("W"))
        out[part] = (num / den) ** 0.5
    return out


# -- figures ----------------------------------------------------------------------------
def figure_mixing(A, B, mixed, title="Style mixing: coarse (4×4) styles from A, fine (8×8) "
                                     "from B"):
    return plot_style_mixing(A, B, mixed, title=title)


def figure_truncation(table, psis=PSI_SWEEP):
    return plot_image_table(table, col_labels=[f"ψ = {p:g}" for p in psis],
                            title="Truncation in W: w̄ + ψ(w − w̄)")


def figure_mixing_curve(curve, target=None):
    """The mixing shares over training: does the digit follow the coarse or the fine styles?"""
    import matplotlib.pyplot as plt

    steps = sorted(curve)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, [curve[s][0] for s in steps], "o-", label="label follows the coarse styles")
    ax.plot(steps, [curve[s][1] for s in steps], "s-", label="label follows the fine styles")
    if target is not None:
        ax.axhline(target, color="grey", ls=":", lw=1, label=f"target {target:g}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("share of mixes")
    ax.legend(fontsize=7)
    ax.set_title("Style mixing (coarse from A, fine from B) over training", fontsize=9)
    fig.tight_layout()
    return fig


def figure_noise(effect):
    return plot_noise_effect(effect["images"], effect["std_maps"],
                             title=f"Same w, different noise (mean pixel std "
                                   f"{effect['pixel_std_noise']:.3f})")
