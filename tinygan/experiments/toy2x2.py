"""The 2×2 "slanted faces" toy: a one-layer G and D, reproduced exactly.

Five 2×2 images with a dark "\\" diagonal are the data. G maps one scalar
z ~ U[0, 1) to four pixels, G(z) = σ(z·v + c); D maps four pixels to one
probability, D(x) = σ(x·w + b). This is the toy of L. Serrano's "GANs in Slanted
Land" (papers.md §1): seed 42 through NumPy's legacy global stream, D created
before G, plain SGD with lr 0.01, 1000 epochs, and for each face: one D step on
the face, one D step on G(z), one G step with the non-saturating cost −log D(G(z)).

Two implementations that must agree:

* ``mode="faithful"`` builds G and D from tinygan's general pieces (Dense,
  Sigmoid, bce_with_logits, SGD, update_g) and reproduces the published final
  parameters;
* ``mode="hand"`` uses the lecture's four derivative formulas written out
  (:func:`hand_gradients`), as a reader would by hand.

Derivation: derivations/01_backprop_dense_sigmoid_bce.md#the-2x2-toy
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import backend, runs
from ..data import faces
from ..layers import Dense, Sigmoid, sigmoid
from ..losses import bce_with_logits
from ..models import Sequential
from ..optim import SGD
from ..train import History, update_g

HELP = "the 2×2 slanted-faces toy: one-layer G and D, derivatives by hand, reproduced exactly"

DESCRIPTION = """\
The smallest GAN there is: five 2×2 images with a dark diagonal are the data, G maps
one number z to four pixels, D maps four pixels to a probability. Trained with the
original's seed, draw order and update order (L. Serrano's "GANs in Slanted Land"),
it reproduces the published final parameters, and the same run written with the
lecture's four hand formulas (--mode hand) agrees to 1e-15.

Time: a few seconds (1,000 epochs of 5 faces). It keeps no checkpoints.

Writes to --out: faces.png (real and generated faces), losses.png, d_outputs.png,
g_over_z.png, training.gif (G's faces and D's outputs over the epochs), toy2x2.json
and run.json.

Notebook: notebooks/01_slanted_faces.ipynb (derivation:
derivations/01_backprop_dense_sigmoid_bce.md)."""

#: No checkpoints: the whole run takes seconds (Ctrl-C still stops it cleanly).
CHECKPOINT_EVERY = None
ANIMATION = True

SEED = 42
LR = 0.01
NUM_EPOCHS = 1000

# The published result (papers.md §1), to 1e-3.
PUBLISHED = {
    "G.w": (0.707, 0.037, -0.457, 0.794),
    "G.b": (2.485, -3.367, -2.901, 2.817),
    "D.w": (0.602, -0.291, -0.401, 0.378),
    "D.b": (-0.8955,),
}
# The first numbers of the run (papers.md §8): a regression fixture for the draw order.
INITIAL = {
    "D.w": (0.4967, -0.1383, 0.6477, 1.5230),
    "D.b": (-0.2342,),
    "G.w": (-0.2341, 1.5792, 0.7674, -0.4695),
    "G.b": (0.5426, -0.4634, -0.4657, 0.2420),
}
FIRST_Z = 0.4319


# --- building the two networks ----------------------------------------------------------

def build(random_state):
    """G and D with the original's draws: D's 4 weights, D's bias, G's 4 weights, G's 4 biases.

    Each parameter is one ``normal()`` call on ``random_state`` (a NumPy
    ``RandomState``), in that order. D returns the logit a = x·w + b (D(x) = σ(a)),
    so its loss is computed stably by ``bce_with_logits``.
    """
    draw = random_state.normal
    D = Sequential(Dense(4, 1, init="zeros", dtype="float64"))
    G = Sequential(Dense(1, 4, init="zeros", dtype="float64"), Sigmoid())
    D[0].params["W"][:, 0] = backend.asarray([draw() for _ in range(4)])
    D[0].params["b"][0] = draw()
    G[0].params["W"][0, :] = backend.asarray([draw() for _ in range(4)])
    G[0].params["b"][:] = backend.asarray([draw() for _ in range(4)])
    return G, D


def parameters(G, D):
    """The toy's parameters under the lecture's names, as host lists."""
    flat = lambda a: [float(v) for v in backend.to_numpy(a).ravel()]  # noqa: E731
    return {"G.w": flat(G[0].params["W"]), "G.b": flat(G[0].params["b"]),
            "D.w": flat(D[0].params["W"]), "D.b": flat(D[0].params["b"])}


def d_prob(D, x):
    """D(x) as a probability (D itself returns logits)."""
    out = sigmoid(D.forward(x))
    D.clear_cache()
    return out


def generate(G, z):
    """G(z) for a (N, 1) column of noise values, with no gradient bookkeeping."""
    out = G.forward(z)
    G.clear_cache()
    return out


# --- the lecture's hand formulas ----------------------------------------------------------

def hand_gradients(params, face, z):
    """The four derivative formulas of the lecture, for one step's three updates.

    With D(x) = σ(x·w + b) and G(z) = σ(z·v + c):

    * D on a real face x, error −log D(x):      ∂/∂w = −x(1 − D),  ∂/∂b = −(1 − D)
    * D on a fake g = G(z), error −log(1 − D(g)): ∂/∂w = g·D,       ∂/∂b = D
    * G through D, error −log D(G(z)):
      ∂/∂v_i = −(1 − D)·w_i·g_i(1 − g_i)·z,  ∂/∂c_i = −(1 − D)·w_i·g_i(1 − g_i)

    (The lecture's generator slide drops the w_i factor; the code has it, and so
    does our derivation.) Returns the three gradient pairs evaluated at ``params``
    (a dict as returned by :func:`parameters`, host values), without updating.
    """
    np = backend.numpy
    w, b = np.array(params["D.w"]), params["D.b"][0]
    v, c = np.array(params["G.w"]), np.array(params["G.b"])
    x = np.asarray(face, dtype="float64")
    p = sigmoid(np.array(x @ w + b))
    real = (-x * (1 - p), -(1 - p))
    g = sigmoid(z * v + c)
    q = sigmoid(np.array(g @ w + b))
    fake = (g * q, q)
    factor = -(1 - q) * w * g * (1 - g)
    gen = (factor * z, factor)
    return {"D_real": real, "D_fake": fake, "G": gen}


# --- training -------------------------------------------------------------------------------

@dataclass
class ToyResult:
    G: Sequential
    D: Sequential
    history: History
    initial: dict
    final: dict
    mode: str
    frames: list = field(default_factory=list)  # (epoch, parameters) for the animation


def _d_step(D, x, label, opt):
    """One SGD step of D on one image with BCE against ``label`` (1 real, 0 fake)."""
    xp = backend.get_array_module(x)
    D.zero_grad()
    a = D.forward(x)
    target = xp.full(a.shape, float(label), dtype=a.dtype)
    loss, da = bce_with_logits(a, target)
    D.backward(da)
    opt.step()
    return loss, a


def train(mode="faithful", num_epochs=NUM_EPOCHS, lr=LR, seed=SEED, progress=False, frames=0,
          run=None):
    """Train the toy; ``mode`` is ``"faithful"`` (library pieces) or ``"hand"`` (formulas).

    Per face, in the original's order:
    1. D step on the real face (error −log D(x));
    2. draw z ~ U[0, 1) from the same global stream;
    3. D step on the fake G(z) (error −log(1 − D(G(z))));
    4. G step through the just-updated D (error −log D(G(z)), non-saturating).

    The history logs, per step, the *true* D loss −log D(x) − log(1 − D(G(z)))
    (the original logged it on z instead of G(z)), the G loss −log D(G(z)), and
    D(x), D(G(z)), each as evaluated for that step's gradients. ``frames`` keeps the
    parameters at that many evenly spaced epochs (for :func:`animate_training`);
    ``run`` (a :class:`tinygan.runs.Run`) lets Ctrl-C stop at an epoch boundary.
    """
    if mode not in ("faithful", "hand"):
        raise ValueError(f"toy2x2: unknown mode {mode!r}; expected 'faithful' or 'hand'")
    rs = backend.legacy_random_state(seed)
    G, D = build(rs)
    initial = parameters(G, D)
    data = faces("float64")
    hist = History()
    epochs = range(num_epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="toy2x2", unit="epoch", leave=False)
    step = _faithful_step if mode == "faithful" else _hand_step
    opt_D, opt_G = SGD(D, lr=lr), SGD(G, lr=lr)
    keep = {round(num_epochs * i / max(1, frames - 1)) for i in range(frames)} if frames else ()
    kept = [(0, initial)] if 0 in keep else []
    run = run or runs.NullRun()
    with run.loop(num_epochs, unit="epoch") as tick:  # no state: the toy keeps no checkpoints
        for epoch in epochs:
            for i in range(data.shape[0]):
                step(G, D, data[i:i + 1], rs, opt_D, opt_G, lr, hist)
            if epoch + 1 in keep:
                kept.append((epoch + 1, parameters(G, D)))
            tick(epoch + 1)
    return ToyResult(G, D, hist, initial, parameters(G, D), mode, kept)


def _faithful_step(G, D, face, rs, opt_D, opt_G, lr, hist):
    xp = backend.get_array_module(face)
    loss_real, a_real = _d_step(D, face, 1, opt_D)                  # 1.
    z = xp.full((1, 1), rs.rand(), dtype=face.dtype)                 # 2.
    loss_fake, a_fake = _d_step(D, generate(G, z), 0, opt_D)        # 3.
    g = update_g(G, D, z, opt_G, "nonsaturating")                    # 4.
    hist.loss_D.append(float(loss_real + loss_fake))
    hist.loss_G.append(float(g["loss_G"]))
    hist.D_real.append(float(sigmoid(a_real).sum()))
    hist.D_fake.append(float(sigmoid(a_fake).sum()))


def _hand_step(G, D, face, rs, opt_D, opt_G, lr, hist):
    """The same step with the lecture's formulas, writing into the same parameter arrays."""
    np = backend.numpy
    w, b = D[0].params["W"][:, 0], D[0].params["b"]
    v, c = G[0].params["W"][0, :], G[0].params["b"]
    x = backend.to_numpy(face)[0]
    d_real = float(sigmoid(np.array(x @ w + b[0])))
    w -= lr * (-x * (1 - d_real))
    b -= lr * (-(1 - d_real))
    z = rs.rand()
    g = sigmoid(z * v + c)
    d_fake = float(sigmoid(np.array(g @ w + b[0])))
    w -= lr * (g * d_fake)
    b -= lr * d_fake
    g = sigmoid(z * v + c)
    q = float(sigmoid(np.array(g @ w + b[0])))
    factor = -(1 - q) * w * g * (1 - g)
    v -= lr * factor * z
    c -= lr * factor
    hist.loss_D.append(-np.log(d_real) - np.log1p(-d_fake))
    hist.loss_G.append(-np.log(q))
    hist.D_real.append(d_real)
    hist.D_fake.append(d_fake)


# --- figures ----------------------------------------------------------------------------------

def _draw_image(ax, img, title=None):
    ax.imshow(backend.to_numpy(img).reshape(2, 2), cmap="Greys", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def plot_faces(G, num_fakes=5, seed=0):
    """Real faces (top row) against generated faces G(z) (bottom row); dark = 1."""
    import matplotlib.pyplot as plt

    np = backend.numpy
    real = backend.to_numpy(faces())
    zs = np.random.default_rng(seed).random(num_fakes)
    fake = backend.to_numpy(generate(G, backend.asarray(zs[:, None], "float64")))
    fig, axes = plt.subplots(2, max(len(real), num_fakes), figsize=(8, 4.2))
    for i, img in enumerate(real):
        _draw_image(axes[0, i], img, "real" if i == 0 else None)
    for i, img in enumerate(fake):
        _draw_image(axes[1, i], img, f"G({zs[i]:.2f})")
    fig.suptitle("Real faces (top) and generated faces (bottom)")
    fig.tight_layout()
    return fig


def plot_losses(history, per=5, title="Losses"):
    """D and G losses per step, averaged over ``per`` steps (one epoch of the toy).

    Dotted lines mark 2·log 2 and log 2, the values at D = 1/2 everywhere.
    """
    import matplotlib.pyplot as plt

    np = backend.numpy
    h = history.as_arrays()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for key, label in (("loss_D", "D loss  −log D(x) − log(1 − D(G(z)))"),
                       ("loss_G", "G loss  −log D(G(z))")):
        v = h[key][: len(h[key]) // per * per].reshape(-1, per).mean(1)
        ax.plot(np.arange(len(v)), v, label=label)
    ax.axhline(2 * np.log(2), ls=":", c="C0", lw=1)
    ax.axhline(np.log(2), ls=":", c="C1", lw=1)
    ax.set_xlabel(f"epoch ({per} steps)" if per > 1 else "step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_d_outputs(history, per=5):
    """Mean D(x) on real data and D(G(z)) on fakes over training; both → 1/2."""
    import matplotlib.pyplot as plt

    np = backend.numpy
    h = history.as_arrays()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for key, label in (("D_real", "D(x), real faces"), ("D_fake", "D(G(z)), fakes")):
        v = h[key][: len(h[key]) // per * per].reshape(-1, per).mean(1)
        ax.plot(np.arange(len(v)), v, label=label)
    ax.axhline(0.5, ls=":", c="k", lw=1, label="1/2")
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"epoch ({per} steps)" if per > 1 else "step")
    ax.set_ylabel("discriminator output")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_g_over_z(G, num=101):
    """Each of G's four pixels as z sweeps [0, 1]: nearly flat, G almost ignores z."""
    import matplotlib.pyplot as plt

    np = backend.numpy
    zs = np.linspace(0, 1, num)
    out = backend.to_numpy(generate(G, backend.asarray(zs[:, None], "float64")))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, name in enumerate(["top-left", "top-right", "bottom-left", "bottom-right"]):
        ax.plot(zs, out[:, i], label=name)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("z")
    ax.set_ylabel("pixel value of G(z)")
    ax.set_title("G(z) across z: the generator nearly ignores its noise")
    ax.legend(ncol=2)
    fig.tight_layout()
    return fig


def summary(result):
    """The numbers a reader wants at the end: parameters, and D on faces and fakes."""
    np = backend.numpy
    G, D = result.G, result.D
    zs = np.linspace(0, 1, 5)
    fake = generate(G, backend.asarray(zs[:, None], "float64"))
    h = result.history.as_arrays()
    return {
        "final": result.final,
        "published": {k: list(v) for k, v in PUBLISHED.items()},
        "max_abs_diff_vs_published": max(
            abs(a - b) for k in PUBLISHED for a, b in zip(result.final[k], PUBLISHED[k])),
        "D_on_faces": backend.to_numpy(d_prob(D, faces())).ravel().tolist(),
        "z": zs.tolist(),
        "G_of_z": backend.to_numpy(fake).tolist(),
        "D_on_fakes": backend.to_numpy(d_prob(D, fake)).ravel().tolist(),
        "final_epoch_loss_D": float(h["loss_D"][-5:].mean()),
        "final_epoch_loss_G": float(h["loss_G"][-5:].mean()),
    }


def animate_training(result, num_z=5):
    """(fig, draw_frame, num_frames): G's faces and D's verdicts over the epochs.

    Top: the real faces, then G(z) for ``num_z`` evenly spaced z; bottom: D on each of
    them (blue: real, orange: fake), all drifting toward 1/2. Built from
    ``result.frames``; one image and one bar chart, so a frame draws quickly.
    """
    import matplotlib.pyplot as plt

    np = backend.numpy
    real = backend.to_numpy(faces())
    zs = (np.arange(num_z) + 0.5) / num_z
    n = len(real) + num_z

    def strip(images):  # (n, 4) → one row of 2×2 tiles with one-pixel gaps
        tiles = np.ones((2, 3 * n - 1)) * np.nan
        for i, img in enumerate(images):
            tiles[:, 3 * i:3 * i + 2] = img.reshape(2, 2)
        return tiles

    fig, (top, ax) = plt.subplots(2, 1, figsize=(5.2, 3.2), height_ratios=[1, 1.6])
    im = top.imshow(strip(np.vstack([real, real[:num_z]])), cmap="Greys", vmin=0, vmax=1,
                    extent=(-0.5, n - 0.5, 0, 1), aspect="auto")
    top.set_axis_off()
    bars = ax.bar(np.arange(n), np.zeros(n), color=["tab:blue"] * len(real)
                  + ["tab:orange"] * num_z)
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set(xlim=(-0.5, n - 0.5), ylim=(0, 1), ylabel="D(x)")
    ax.set_xticks(np.arange(n), [f"face {i + 1}" for i in range(len(real))]
                  + [f"G({z:.1f})" for z in zs], fontsize=6)
    title = fig.suptitle("2×2 toy", fontsize=9)  # a placeholder, so the layout leaves room
    fig.tight_layout()

    def draw(i):
        epoch, p = result.frames[i]
        v, c = np.array(p["G.w"]), np.array(p["G.b"])
        w, b = np.array(p["D.w"]), p["D.b"][0]
        shown = np.concatenate([real, sigmoid(zs[:, None] * v + c)])  # (n, 4)
        im.set_data(strip(shown))
        for bar, h in zip(bars, sigmoid(shown @ w + b)):
            bar.set_height(h)
        title.set_text(f"2×2 toy after {epoch} epochs: faces and G's fakes (top), D (bottom)")

    return fig, draw, len(result.frames)


def save_figures(result, out):
    """Write the toy's four figures as PNG files under ``out`` (atomically); returns the paths."""
    import os

    from ..image_plots import save_figure

    os.makedirs(out, exist_ok=True)
    return [save_figure(fig, os.path.join(out, name), dpi=110)
            for name, fig in _figures(result).items()]


def _figures(result):
    return {
        "faces.png": plot_faces(result.G),
        "losses.png": plot_losses(result.history, title="2×2 toy: true D loss and G loss"),
        "d_outputs.png": plot_d_outputs(result.history),
        "g_over_z.png": plot_g_over_z(result.G),
    }


# --- command line ---------------------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--mode", choices=["faithful", "hand"], default="faithful",
                   help="faithful: tinygan's layers, losses and optimizer; hand: the lecture's "
                        "four formulas (default: faithful)")
    p.add_argument("--epochs", type=runs.positive_int, default=NUM_EPOCHS,
                   help=f"epochs of the 5 faces (default: {NUM_EPOCHS}, the original's)")
    p.add_argument("--seed", type=runs.seed, default=SEED,
                   help=f"seed of NumPy's legacy stream, as in the original (default: {SEED})")
    p.add_argument("--quick", action="store_true",
                   help="accepted for symmetry with the other commands: the run takes seconds")


#: D "can no longer tell" when every output on faces and fakes is within this of 1/2
#: (the original run ends within 0.05 of it, an unfinished run of 200 epochs at 0.2)
NEAR_HALF = 0.1


def main(args, run):
    res = train(args.mode, num_epochs=args.epochs, seed=args.seed,
                progress=not args.no_progress, frames=0 if args.no_animation else 21, run=run)
    s = summary(res)
    fmt = lambda v: "[" + ", ".join(f"{x:7.4f}" for x in v) + "]"  # noqa: E731
    print(f"2×2 slanted faces, mode={args.mode}, {args.epochs} epochs, seed {args.seed}, lr {LR}")
    print(f"{'':6}{'ours':>38}   {'published (rounded)':>34}")
    for k in ("G.w", "G.b", "D.w", "D.b"):
        print(f"{k:6}{fmt(s['final'][k]):>38}   {fmt(s['published'][k]):>34}")
    print(f"largest difference from the published parameters: "
          f"{s['max_abs_diff_vs_published']:.1e}")
    print("D on the five faces:   " + fmt(s["D_on_faces"]))
    # The claim is printed only when it holds: after a few epochs D still tells them apart.
    near_half = max(abs(p - 0.5) for p in s["D_on_faces"] + s["D_on_fakes"]) < NEAR_HALF
    print("D on G(z), z = 0..1:   " + fmt(s["D_on_fakes"])
          + ("   (D can no longer tell; D* differs: tinygan optimal-d)" if near_half else
             f"   (D still tells them apart: some output is {NEAR_HALF} or more from 1/2)"))
    print(f"last epoch: true D loss {s['final_epoch_loss_D']:.3f} (2 log 2 = 1.386), "
          f"G loss {s['final_epoch_loss_G']:.3f} (log 2 = 0.693)")
    paths = [run.save_figure(fig, name) for name, fig in _figures(res).items()]
    if not args.no_animation:
        paths.append(run.save_animation("training.gif", *animate_training(res), fps=6))
    paths.append(run.save_json("toy2x2.json", s))
    print("wrote: " + ", ".join(paths))
    return 0
