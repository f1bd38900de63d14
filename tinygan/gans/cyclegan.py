"""CycleGAN (Zhu, Park, Isola & Efros 2017): translation between two unpaired domains.

Two generators, G: X → Y and F: Y → X, and two discriminators, D_Y (is this a real y?)
and D_X. The full objective (the paper's Eq. 3, with its identity term of §5.2):

    L = L_GAN(G, D_Y) + L_GAN(F, D_X)
        + λ_cyc (E_x ‖F(G(x)) − x‖₁ + E_y ‖G(F(y)) − y‖₁)            cycle consistency
        + λ_id  (E_y ‖G(y) − y‖₁     + E_x ‖F(x) − x‖₁)              identity

with the least-squares GAN loss (:mod:`tinygan.gans.lsgan`). Without the cycle term,
G only has to land *somewhere* in Y: any map that pushes p_X onto p_Y is optimal, and
the content of x is free to change (derivations/07_cyclegan.md#why-the-cycle-keeps-the-content).

Settings, from the official code (junyanz/pytorch-CycleGAN-and-pix2pix):
λ_cyc = 10 (``--lambda_A``, ``--lambda_B``), λ_id = 0.5·λ_cyc (``--lambda_identity
0.5``, multiplied by λ in ``models/cycle_gan_model.py``), Adam lr 2e-4 with β₁ = 0.5
(``options/train_options.py``), the learning rate constant for the first half and
decayed linearly to zero over the second (``--lr_policy linear``, ``n_epochs`` =
``n_epochs_decay`` = 100, ``models/networks.py`` ``get_scheduler``), and D trained on a
history pool of 50 generated images (``--pool_size 50``, ``util/image_pool.py``;
Shrivastava et al. 2017). The official step updates G and F first (D frozen), then both
discriminators on the pool's answer to this step's fakes; we do the same. The official
code keeps one Adam over G and F together; Adam's update is elementwise, so one Adam
per network with the same settings, stepped together, is the same update.

The one-slot caches. Each generator is used three times per step (translation, cycle,
identity), and every forward must be consumed by its own backward before that network's
next forward. The step is therefore split into two *chains*, each a path through the
graph whose backward can run as soon as it ends:

    chain X:  G([x; y]) → (fake_y, idt_y);  D_Y(fake_y);  F(fake_y) = rec_x
              backward: D_Y (frozen), F, then G with [d fake_y; d idt_y]
    chain Y:  F([y; x]) → (fake_x, idt_x);  D_X(fake_x);  G(fake_x) = rec_y
              backward: D_X (frozen), G, then F with [d fake_x; d idt_x]

The total loss is a sum over the two chains, so the gradients accumulated this way are
exactly those of L. Concatenating x and y in one batch is exact because instance norm
(and an MLP) treat every example alone; the discriminators' real and fake batches are
concatenated the same way.

Derivation: derivations/07_cyclegan.md
"""

from __future__ import annotations

from .. import backend
from ..layers.base import NonFiniteInputError, frozen, no_grad
from ..losses import l1_loss
from ..train import Watch
from . import lsgan

__all__ = ["HistoryPool", "update_generators", "update_discriminators", "linear_decay",
           "CycleHistory", "fit", "translate", "LAMBDA_CYC", "LAMBDA_ID", "POOL_SIZE"]

LAMBDA_CYC = 10.0
LAMBDA_ID = 0.5  # times λ_cyc, as the official --lambda_identity
POOL_SIZE = 50


class HistoryPool:
    """The buffer of past fakes that D is trained on (CycleGAN's ``ImagePool``).

    For each new fake: while the pool holds fewer than ``size``, store it and return it;
    afterwards, with probability ½ return it unchanged, else return a uniformly chosen
    stored fake and put the new one in its place. D then sees fakes from older
    generators too, which damps the oscillation of the two players (Shrivastava et al.
    2017). ``size = 0`` returns every fake unchanged.

    The random draws come from ``rng`` (explicit, so runs and resumes replay exactly);
    ``state_dict``/``load_state_dict`` save the stored fakes with the checkpoint.
    """

    def __init__(self, size=POOL_SIZE, rng=None):
        if isinstance(size, bool) or int(size) != size or size < 0:
            raise ValueError(f"HistoryPool needs a size ≥ 0, got {size!r}")
        if size and rng is None:
            raise ValueError("HistoryPool needs an explicit rng (tinygan.backend.rng(seed))")
        self.size, self.rng = int(size), rng
        self.images = None  # (size, ...) once the first fake arrives
        self.count = 0

    def __repr__(self):
        return f"HistoryPool({self.count}/{self.size})"

    def query(self, fakes):
        """The batch D trains on: ``fakes`` (N, ...) with some replaced by older fakes."""
        if self.size == 0:
            return fakes
        xp = backend.get_array_module(fakes)
        if self.images is None:
            self.images = xp.zeros((self.size,) + tuple(fakes.shape[1:]), dtype=fakes.dtype)
        out = fakes.copy()
        for i in range(fakes.shape[0]):
            if self.count < self.size:          # still filling: store and return it
                self.images[self.count] = fakes[i]
                self.count += 1
            elif float(self.rng.random()) > 0.5:  # swap with a random stored fake
                j = int(self.rng.integers(0, self.size))
                out[i] = self.images[j]
                self.images[j] = fakes[i]
        return out

    def state_dict(self):
        images = None if self.images is None else backend.to_numpy(self.images).copy()
        return {"count": self.count, "images": images if images is not None else
                backend.numpy.zeros((0,))}

    def load_state_dict(self, state):
        self.count = int(state["count"])
        imgs = state["images"]
        self.images = None if imgs.size == 0 else backend.asarray(imgs)
        return self


def _chain(G, F, D_Y, x, y, lambda_cyc, lambda_id):
    """One chain: x → G → fake_y → F → rec_x, plus G's identity on y. Returns the losses,
    fake_y, and leaves the gradients of the chain's terms in G and F."""
    xp = backend.get_array_module(x)
    n = x.shape[0]
    use_id = lambda_id > 0
    out = G.forward(xp.concatenate([x, y], axis=0) if use_id else x)
    fake_y = out[:n]
    # 1. the adversarial term: D_Y is frozen, only its input gradient is wanted
    score = D_Y.forward(fake_y)
    loss_gan, d_score = lsgan.generator_loss(score)
    with frozen(D_Y):
        d_fake_y = D_Y.backward(d_score)
    # 2. the cycle term through F: F's parameters get their gradient here, G's input too
    if lambda_cyc:
        rec_x = F.forward(fake_y)
        loss_cyc, d_rec = l1_loss(rec_x, x)
        d_fake_y = d_fake_y + F.backward(d_rec * lambda_cyc)
    else:  # the ablation: the cycle is measured, not trained
        with no_grad(F):
            rec_x = F.forward(fake_y)
        loss_cyc = l1_loss(rec_x, x)[0]
    # 3. the identity term, G(y) ≈ y, then G's backward over the whole concatenated batch
    if use_id:
        loss_id, d_idt = l1_loss(out[n:], y)
        dout = xp.concatenate([d_fake_y, d_idt * (lambda_id * lambda_cyc)], axis=0)
    else:
        loss_id, dout = xp.zeros((), dtype=x.dtype), d_fake_y
    G.backward(dout, need_dx=False)
    return loss_gan, loss_cyc, loss_id, fake_y, rec_x


def update_generators(G, F, D_X, D_Y, x, y, opt_G, opt_F, lambda_cyc=LAMBDA_CYC,
                      lambda_id=LAMBDA_ID):
    """One step of G and F on the full objective (D_X, D_Y frozen), as two chains.

    ``lambda_id`` is relative to ``lambda_cyc`` (the official convention: weight
    λ_id·λ_cyc). ``lambda_cyc = 0`` is the ablation without the cycle: F is then
    trained by its GAN and identity terms only.

    Returns the fakes (for the discriminators' step) and a dict of 0-d arrays: ``loss_G``
    (the total), ``gan_G``, ``gan_F``, ``cycle_x`` (mean ‖F(G(x)) − x‖₁),
    ``cycle_y``, ``identity_G``, ``identity_F`` (each an unweighted mean).
    """
    G.zero_grad()
    F.zero_grad()
    gan_G, cyc_x, id_G, fake_y, _ = _chain(G, F, D_Y, x, y, lambda_cyc, lambda_id)
    gan_F, cyc_y, id_F, fake_x, _ = _chain(F, G, D_X, y, x, lambda_cyc, lambda_id)
    opt_G.step()
    opt_F.step()
    total = (gan_G + gan_F + lambda_cyc * (cyc_x + cyc_y)
             + lambda_id * lambda_cyc * (id_G + id_F))
    return fake_x, fake_y, {"loss_G": total, "gan_G": gan_G, "gan_F": gan_F,
                            "cycle_x": cyc_x, "cycle_y": cyc_y, "identity_G": id_G,
                            "identity_F": id_F}


def _d_step(D, real, fake):
    """½·mean (D(real) − 1)² + ½·mean D(fake)², real and fake in one concatenated batch."""
    xp = backend.get_array_module(real)
    n = real.shape[0]
    out = D.forward(xp.concatenate([real, fake], axis=0))
    loss, d_real, d_fake = lsgan.discriminator_loss(out[:n], out[n:])
    D.backward(xp.concatenate([d_real, d_fake], axis=0), need_dx=False)
    return loss


def update_discriminators(D_X, D_Y, x, y, fake_x, fake_y, opt_DX, opt_DY):
    """One step of each discriminator: real batch against (pooled) fakes.

    ``fake_x``/``fake_y`` are what the history pools returned for this step's F(y) and
    G(x); they are constants here. Returns ``loss_DX`` and ``loss_DY``.
    """
    D_X.zero_grad()
    D_Y.zero_grad()
    loss_DX = _d_step(D_X, x, fake_x)
    loss_DY = _d_step(D_Y, y, fake_y)
    opt_DX.step()
    opt_DY.step()
    return {"loss_DX": loss_DX, "loss_DY": loss_DY}


def linear_decay(step, num_steps):
    """The learning-rate factor at ``step`` (0-based): 1 for the first half, then linear.

    The official ``lambda_rule`` per epoch, per step here: with n = ⌊T/2⌋ constant steps
    and d = T − n decaying ones, factor = 1 − max(0, step + 1 − n)/(d + 1), from 1 down
    to 1/(d + 1) at the last step.

    >>> [round(linear_decay(t, 6), 3) for t in range(6)]
    [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    """
    n = num_steps // 2
    d = num_steps - n
    return 1.0 - max(0, step + 1 - n) / (d + 1)


class CycleHistory:
    """Per step: the generators' losses and both discriminators' losses (host floats)."""

    FIELDS = ("loss_G", "gan_G", "gan_F", "cycle_x", "cycle_y", "identity_G", "identity_F",
              "loss_DX", "loss_DY")

    def __init__(self):
        for f in self.FIELDS:
            setattr(self, f, [])

    def __len__(self):
        return len(self.loss_G)

    def append(self, stats):
        for f in self.FIELDS:
            getattr(self, f).append(float(stats[f]))

    def as_arrays(self):
        np = backend.numpy
        return {f: np.asarray(getattr(self, f), dtype="float64") for f in self.FIELDS}

    def state_dict(self):
        return self.as_arrays()

    def load_state_dict(self, state):
        for f in self.FIELDS:
            getattr(self, f)[:] = [float(v) for v in state[f]]
        return self


def fit(G, F, D_X, D_Y, sample_x, sample_y, opts, pools, num_steps, lr,
        lambda_cyc=LAMBDA_CYC, lambda_id=LAMBDA_ID, batch_size=32, history=None,
        callback=None, start=0):
    """Train CycleGAN for ``num_steps`` steps (numbered from ``start`` on a resume).

    ``opts`` is (opt_G, opt_F, opt_DX, opt_DY), ``pools`` (pool_X, pool_Y) of
    :class:`HistoryPool`. Each step: the learning rates are set by :func:`linear_decay`,
    a fresh batch is drawn from each domain (independently: nothing is paired), G and F
    step, then D_X and D_Y on the pools' answers. Returns the :class:`CycleHistory`.
    """
    history = history if history is not None else CycleHistory()
    pool_x, pool_y = pools
    # what became non-finite, where (a loss, Adam's v, a layer's input): tinygan.train's
    # Watch, shared with fit and fit_wgan
    watch = Watch({"G": G, "F": F, "D_X": D_X, "D_Y": D_Y},
                  dict(zip(("G", "F", "D_X", "D_Y"), opts)))
    step, phase, x, y = start, "generator step", None, None
    try:
        for step in range(start, num_steps):
            for opt in opts:
                opt.lr = lr * linear_decay(step, num_steps)
            phase = "generator step"
            x, y = sample_x(batch_size), sample_y(batch_size)
            fake_x, fake_y, g = update_generators(G, F, D_X, D_Y, x, y, opts[0], opts[1],
                                                  lambda_cyc, lambda_id)
            phase = "discriminator step"
            d = update_discriminators(D_X, D_Y, x, y, pool_x.query(fake_x),
                                      pool_y.query(fake_y), opts[2], opts[3])
            g.update(d)
            g = {k: watch.loss(step, k, v) for k, v in g.items()}
            watch.state(step)
            history.append(g)
            if callback is not None:
                callback(step, history)
    except NonFiniteInputError as exc:
        bad = [a for a in (x, y) if a is not None and not backend.all_finite(a)]
        raise watch.layer(step, phase, exc, data=bad[0] if bad else None) from exc
    return history


def translate(G, x, batch_size=512):
    """G(x) in batches, without a backward (inference); returns an array like x's."""
    xp = backend.get_array_module(x)
    with no_grad(G):
        outs = [G.forward(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    return xp.concatenate(outs, axis=0)
