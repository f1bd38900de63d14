"""The GAN trainer: Algorithm 1 of Goodfellow et al. (2014), in two plain functions.

for each training step:
    for k steps:                                   # the inner loop: improve D
        sample m noise z and m data x
        ascend  (1/m) Σ [log D(x_i) + log(1 − D(G(z_i)))]   w.r.t. θ_D   (update_d)
    sample m noise z
    descend the generator cost w.r.t. θ_G                                (update_g)

D returns *logits* a with D(x) = σ(a); the losses work on logits.

Randomness (Algorithm 1): every D step draws its own m data and m noise, and G's step
draws fresh noise again: k + 1 noise batches and k data batches per iteration, none
reused. (pytorch/examples' dcgan/main.py, k = 1, reuses its D step's fake batch for
G's step; we follow the paper.)

BatchNorm's running statistics, which only eval mode uses (sampling), move once per
iteration in G, as in pytorch/examples (dcgan/main.py at 77f55b9 calls ``netG(noise)``
once per iteration, line 241, and reuses ``fake`` for G's step, line 255): G's
forward in D's step is a constant sample (:func:`fake_batch`, batch statistics, running
statistics untouched) and G's own step updates them. D's move with each of its 2k + 1
forwards (real and fake in each D step, the fake batch in G's step), as pytorch/examples'
three ``netD(…)`` calls do for k = 1.

Derivation: derivations/00_gan_objective.md
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import backend
from .layers.base import NonFiniteInputError, frozen, no_grad
from .losses import bce_with_logits, generator_loss

__all__ = ["TrainingDiverged", "History", "fake_batch", "update_d", "update_g", "fit",
           "d_accuracy"]


class TrainingDiverged(FloatingPointError):
    """Something became NaN or infinite: training stops instead of plotting NaNs.

    The message names the step and what it was: a loss, a parameter or optimizer
    state (Adam's v overflows first when gradients explode), or a layer's input in the
    middle of a step (naming the network and the layer), with a hint for that case.
    """


def fake_batch(G, z):
    """G(z) as a constant, for D's step: no cache, G's BatchNorm running statistics untouched.

    In training mode G's BatchNorm still normalises with the batch's own statistics (D is
    shown samples made the way G's step makes them); its running statistics are
    left to G's own step, so that they move once per iteration (module docstring).
    """
    with no_grad(G, update_stats=False):
        return G.forward(z)


def update_d(G, D, x_real, z, opt_D, accuracy_limit=None):
    """One step of D on a real batch and a fake batch G(z) (Algorithm 1, inner loop).

    1. D.zero_grad(): this also discards what the last generator step left in D.
    2. Fake batch G(z): a constant here (no gradient flows into G), made by
       :func:`fake_batch` (no cache; G's running statistics untouched).
    3. Real batch: forward, loss with label 1, backward (grads accumulate).
    4. Fake batch: forward through D, loss with label 0, backward (grads accumulate).
    5. opt_D.step(), unless ``accuracy_limit`` is given and D's accuracy on these two
       batches is above it (3D-GAN's adaptive training, :mod:`tinygan.gans.gan3d`).

    The forwards skip the layers' finiteness scans of their inputs; each loss is checked
    instead, and a non-finite one replays the forwards with the scans on, so that the
    layer that received NaN or inf raises naming itself (:func:`_rescan`).

    Two forward/backward pairs, each consuming its own cache: never backpropagate
    the real loss through the cache of the fake pass (papers.md §9; the layers refuse
    a second forward in training mode before the first one's backward).

    D's accuracy is the share of the 2m inputs it classifies correctly at D(x) = 1/2:
    a real one with logit > 0, a fake one with logit < 0, measured before the update.
    With ``accuracy_limit`` the step is applied only when that accuracy is at most the
    limit ("not higher than 80 %" in Wu et al. 2016); the gradients are computed either
    way, since the decision needs both batches' logits, and D's BatchNorm statistics move
    either way (they moved with the forwards).

    Returns a dict of 0-d arrays: ``loss_D``, ``D_real`` and ``D_fake`` (mean
    probabilities); ``D_accuracy`` (a number, see :func:`d_accuracy`) and ``D_updated``
    (1.0, or 0.0 for a skipped step).
    """
    D.zero_grad()
    scan = backend.checks_enabled()
    with backend.checks(False):  # the losses are checked instead: see _rescan
        x_fake = fake_batch(G, z)

        real_logits = D.forward(x_real)
        _check_logits_shape(real_logits)
        loss_real, d_real = bce_with_logits(real_logits, 1)
        if scan and not math.isfinite(loss_real):
            _rescan(((G, z), (D, x_real)))
        D.backward(d_real, need_dx=False)  # nothing upstream of the data needs a gradient

        fake_logits = D.forward(x_fake)
        loss_fake, d_fake = bce_with_logits(fake_logits, 0)
        if scan and not math.isfinite(loss_fake):
            _rescan(((G, z), (D, x_real), (D, x_fake)))
        D.backward(d_fake, need_dx=False)

    accuracy = d_accuracy(real_logits, fake_logits)
    updated = accuracy_limit is None or float(accuracy) <= accuracy_limit
    if updated:
        opt_D.step()
    # loss_real + loss_fake is discriminator_loss(real_logits, fake_logits). The mean
    # probabilities come free from the gradients: dL/da = (D − y)/m, so Σ dL/da = mean D − y.
    return {"loss_D": loss_real + loss_fake, "D_real": d_real.sum() + 1,
            "D_fake": d_fake.sum(), "D_accuracy": accuracy, "D_updated": float(updated)}


def d_accuracy(real_logits, fake_logits):
    """D's accuracy at D(x) = 1/2: (#{real logit > 0} + #{fake logit < 0}) / (m_real + m_fake).

    A number (a 0-d array on CuPy; ``float()`` reads either). A logit of exactly 0
    (D = 1/2) counts as wrong on both sides.

    >>> from tinygan import backend
    >>> xp = backend.xp()
    >>> float(d_accuracy(xp.asarray([[2.0], [-1.0]]), xp.asarray([[-3.0], [0.0]])))
    0.5
    """
    xp = backend.get_array_module(real_logits, fake_logits)
    return ((xp.count_nonzero(real_logits > 0) + xp.count_nonzero(fake_logits < 0))
            / (real_logits.size + fake_logits.size))


def update_g(G, D, z, opt_G, loss="nonsaturating"):
    """One step of G through D (Algorithm 1, outer step).

    1. G.zero_grad().
    2. x = G(z), a = D(x): forward through both networks (G's BatchNorm running
       statistics move here, once per iteration; ``z`` must be a fresh draw).
    3. The generator cost and its gradient w.r.t. a: ``loss`` names an entry of
       ``tinygan.losses.GENERATOR_LOSSES``: ``"minimax"`` for mean log(1 − D(G(z))),
       ``"nonsaturating"`` for −mean log D(G(z)), ``"maximum_likelihood"`` for
       −mean exp(σ⁻¹(D(G(z)))).
    4. Backward through D with D *frozen* (its parameters are constants in this
       step, so their gradients are not computed: the manual counterpart of
       ``detach``/``requires_grad_(False)``), then through G.
    5. opt_G.step().

    As in :func:`update_d`, the loss stands in for the layers' finiteness scans.

    Returns a dict of 0-d arrays: ``loss_G`` and ``D_fake`` (mean D(G(z)) before
    the step).
    """
    G.zero_grad()
    scan = backend.checks_enabled()
    with backend.checks(False):  # the loss is checked instead: see _rescan
        logits = D.forward(G.forward(z))
    _check_logits_shape(logits)
    loss_G, d_logits, d_fake = generator_loss(logits, loss, mean_prob=True)
    if scan and not math.isfinite(loss_G):
        _rescan(((G, z), (D, None)))
    with frozen(D):
        dx = D.backward(d_logits)
    G.backward(dx, need_dx=False)
    opt_G.step()
    return {"loss_G": loss_G, "D_fake": d_fake}


def _rescan(forwards):
    """After a non-finite loss: find the layer that received NaN or inf, and let it say so.

    The trainer's steps run their forwards without the layers' per-input finiteness scans
    (``backend.checks(False)``: one or two NumPy passes per layer, about a tenth of the 2×2
    toy's step) and check each loss instead. A NaN anywhere upstream reaches the loss. An
    infinity reaches it too (as ±inf, or as inf − inf = NaN), or a saturating unit absorbs
    it (σ(∞) = 1, ReLU(−∞) = 0): then the step goes on, its gradient is 0 where the unit
    saturated, and NaN in the weights of any layer the infinity passed through, which
    Adam's v shows after the update (:meth:`Watch.state`, in :func:`fit`; with SGD the
    next step's loss). Only when a loss is not finite are the step's forwards so far
    replayed, in the order the step ran them, with the scans on: ``forwards`` is
    ((net, x), …), x None meaning the previous net's output. The same parameters and
    inputs give the same values, so the first layer whose input is not finite raises
    :class:`NonFiniteInputError` naming itself, as it did when every forward scanned its
    input (:func:`fit` adds the step and the network). The replay caches nothing and
    leaves the running statistics alone. When no layer's input was bad (the last layer
    overflowed), it returns and the caller's loss check reports the loss.

    Cost: one float() of each loss (a host read on CuPy, where ``backend.checks(False)``
    turns this check off as well).
    """
    out = None
    try:
        with backend.checks(True):
            for net, x in forwards:
                with no_grad(net, update_stats=False):
                    out = net.forward(out if x is None else x)
    except NonFiniteInputError:
        for net, _ in forwards:  # the step's own forwards left caches no backward will use
            net.clear_cache()
        raise


def _check_logits_shape(logits):
    """D must return one logit per input, (N, 1): a (N, 2) output would train silently."""
    if logits.ndim != 2 or logits.shape[1] != 1:
        raise ValueError(f"D returned logits of shape {tuple(logits.shape)}; a GAN "
                         "discriminator returns one logit per input, shape (N, 1)")


@dataclass
class History:
    """Per generator step: both losses, the mean D(x) and D(G(z)) of the D steps, D's
    accuracy and the share of its steps that were applied (:func:`fit` fills all six;
    ``D_updated`` is below 1 only with ``d_accuracy_limit``)."""

    loss_D: list = field(default_factory=list)
    loss_G: list = field(default_factory=list)
    D_real: list = field(default_factory=list)
    D_fake: list = field(default_factory=list)
    D_accuracy: list = field(default_factory=list)
    D_updated: list = field(default_factory=list)

    #: fields a checkpoint written before they existed may lack (they load as empty)
    OPTIONAL = ("D_accuracy", "D_updated")

    def __len__(self):
        return len(self.loss_G)

    def as_arrays(self):
        np = backend.numpy
        return {k: np.asarray(v, dtype="float64") for k, v in self.__dict__.items()}

    def state_dict(self):
        """The history as float64 host arrays (checkpoints; exact for Python floats)."""
        return self.as_arrays()

    def load_state_dict(self, state):
        """Replace the history by a saved one (same keys), as lists of Python floats."""
        state = {**{k: () for k in self.OPTIONAL}, **state}
        if set(state) != set(self.__dict__):
            raise ValueError(f"History.load_state_dict: saved keys {sorted(state)}, "
                             f"expected {sorted(self.__dict__)}")
        for k, v in state.items():
            getattr(self, k)[:] = [float(x) for x in v]
        return self


def _finite(step, what, value, hint=None):
    """The explicit host copy of one scalar, and the check that stops a diverged run."""
    v = float(value)
    if not math.isfinite(v):
        raise TrainingDiverged(f"training stopped at step {step}: the {what} is {v}. "
                               + (hint or "Lower the learning rates, or check the data for "
                                  "NaN/inf."))
    return v


def _check_rows(what, batch, m):
    """fit's first-step check that a sampler returns a batch of m rows."""
    shape = tuple(getattr(batch, "shape", ()))
    if not shape or shape[0] != m:
        raise ValueError(f"fit: {what}({m}) returned shape {shape}; it must return a batch "
                         f"of {m} rows, shape ({m}, …)")


def _layers_with_paths(model, path=""):
    yield path, model
    for i, child in enumerate(getattr(model, "layers", ())):
        yield from _layers_with_paths(child, f"{path}.{i}" if path else str(i))


class Watch:
    """The trainer's view of divergence: what became non-finite, where, and what to try.

    ``nets`` and ``opts`` map short names ("G", "D") to the models and optimizers.
    Shared by :func:`fit` and :func:`tinygan.gans.wgan.fit_wgan`.
    """

    def __init__(self, nets, opts, generator_loss=None):
        self.nets, self.opts, self.generator_loss = nets, opts, generator_loss

    def hint(self):
        lrs = ", ".join(f"lr_{n} = {o.lr:g}" for n, o in self.opts.items()
                        if isinstance(getattr(o, "lr", None), float))
        h = "Lower the learning rates" + (f" ({lrs})" if lrs else "")
        if self.generator_loss not in (None, "nonsaturating"):
            h += (f", or train G with the non-saturating loss instead of "
                  f"{self.generator_loss}")
        return h + "."

    def loss(self, step, what, value):
        return _finite(step, what, value, self.hint())

    def state(self, step):
        """After a step: the optimizer state that overflows silently is still finite.

        When gradients explode, Adam's v (RMSProp's s) overflows to inf first and the
        updates m/√v become 0 while every parameter stays finite: only this check sees
        it. A non-finite *parameter* makes the next forward fail, and :meth:`layer`
        names it then; checking every parameter here would cost a pass per array.
        """
        for name, opt in self.opts.items():
            slots = getattr(opt, "overflow_slots", ())
            for (_, key), slot, a in (opt.state_arrays(slots) if slots else ()):
                if not backend.all_finite(a):
                    raise TrainingDiverged(
                        f"training stopped at step {step}: {type(opt).__name__}'s {slot} for "
                        f"{name} parameter {key} became non-finite ({_bad(a)}): the "
                        f"gradients exploded (their squares overflow {a.dtype}). {self.hint()}")

    def bad_parameters(self):
        """'D parameter 0.W (3 inf)', … for every non-finite parameter (diagnosis only)."""
        return [f"{name} parameter {key} ({_bad(p)})" for name, net in self.nets.items()
                for key, p in net.params.items() if not backend.all_finite(p)]

    def layer(self, step, phase, exc, data=None):
        """A layer's input became non-finite in the middle of a step: name it."""
        where = repr(exc.layer) if exc.layer is not None else "a layer"
        for name, net in self.nets.items():
            for path, layer in _layers_with_paths(net):
                if layer is exc.layer and path:
                    where = f"{name} layer {path}, {layer!r},"
        bad = self.bad_parameters()
        if data is not None and not backend.all_finite(data):
            hint = "The data batch itself holds NaN or inf: check the data (sample_real)."
        elif bad:
            hint = f"Non-finite after the last update: {', '.join(bad)}. {self.hint()}"
        else:
            hint = "An earlier layer overflowed. " + self.hint()
        msg = str(exc).split(" received ", 1)[-1]
        return TrainingDiverged(f"training stopped at step {step} in the {phase}: {where} "
                                f"received {msg}. {hint}")


def _bad(a):
    xp = backend.get_array_module(a)
    n_nan, n_inf = int(xp.isnan(a).sum()), int(xp.isinf(a).sum())
    return ", ".join(s for s in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf
                                 else "") if s)


def fit(G, D, sample_real, sample_noise, opt_G, opt_D, num_steps, batch_size, k=1,
        generator_loss="nonsaturating", progress=False, callback=None, history=None,
        d_accuracy_limit=None):
    """Train a GAN with Algorithm 1: ``k`` D steps per G step, minibatches of ``batch_size``.

    Parameters
    ----------
    G, D : models; D returns logits of shape (m, 1).
    sample_real : callable m → an (m, …) batch of data.
    sample_noise : callable m → an (m, latent_dim) batch of noise.
    opt_G, opt_D : optimizers over G and D.
    num_steps : number of generator steps.
    k : discriminator steps per generator step (the paper used k = 1).
    generator_loss : ``"nonsaturating"`` (the default, what the paper's code did),
        ``"minimax"`` or ``"maximum_likelihood"`` (``tinygan.losses.GENERATOR_LOSSES``).
    progress : show a progress bar (tqdm).
    callback : called as ``callback(step, history)`` after each step.
    history : a History to continue (its length numbers the steps): a resumed run.
    d_accuracy_limit : None (every D step is applied, Algorithm 1), or a share in [0, 1]:
        a D step whose accuracy on its own real and fake batch, before its update, is
        above it is not applied (3D-GAN's adaptive training, 0.8;
        :func:`update_d`). ``history.D_updated`` records the share of each step's k D
        steps that were applied, so 1 − its mean is the share skipped.

    Returns the :class:`History`. On the first step it checks that the samplers return
    ``batch_size`` rows (D's (m, 1) output is checked at every step). Raises
    :class:`TrainingDiverged`, naming the step and what became NaN or inf: a loss, a
    parameter, an optimizer's state, or a layer's input in the middle of a step.
    """
    if k < 1 or num_steps < 0 or batch_size < 1:
        raise ValueError(f"fit needs k ≥ 1, num_steps ≥ 0, batch_size ≥ 1; got k={k}, "
                         f"num_steps={num_steps}, batch_size={batch_size}")
    if d_accuracy_limit is not None and not 0 <= d_accuracy_limit <= 1:
        raise ValueError(f"fit needs d_accuracy_limit between 0 and 1 (a share of correct "
                         f"decisions) or None, got {d_accuracy_limit!r}")
    history = history if history is not None else History()
    watch = Watch({"G": G, "D": D}, {"G": opt_G, "D": opt_D}, generator_loss)
    steps = range(num_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(steps, desc="GAN", unit="step", leave=False)
        steps = bar
    start = len(history)
    step, phase, x = start, "discriminator step", None
    try:
        for i in steps:
            step = start + i
            phase = "discriminator step"
            d_stats = []
            for _ in range(k):
                x, z = sample_real(batch_size), sample_noise(batch_size)
                if i == 0:
                    _check_rows("sample_real", x, batch_size)
                    _check_rows("sample_noise", z, batch_size)
                d_stats.append(update_d(G, D, x, z, opt_D, d_accuracy_limit))
            loss_D = sum(watch.loss(step, "discriminator loss", s["loss_D"])
                         for s in d_stats) / k
            phase, x = "generator step", None
            g_stats = update_g(G, D, sample_noise(batch_size), opt_G, generator_loss)
            loss_G = watch.loss(step, f"generator ({generator_loss}) loss", g_stats["loss_G"])
            watch.state(step)
            history.loss_D.append(loss_D)
            history.loss_G.append(loss_G)
            history.D_real.append(sum(float(s["D_real"]) for s in d_stats) / k)
            history.D_fake.append(sum(float(s["D_fake"]) for s in d_stats) / k)
            history.D_accuracy.append(sum(float(s["D_accuracy"]) for s in d_stats) / k)
            history.D_updated.append(sum(s["D_updated"] for s in d_stats) / k)
            if bar is not None and step % 20 == 0:
                bar.set_postfix(loss_D=f"{history.loss_D[-1]:.3f}",
                                loss_G=f"{history.loss_G[-1]:.3f}")
            if callback is not None:
                callback(step, history)
    except NonFiniteInputError as exc:
        raise watch.layer(step, phase, exc, data=x) from exc
    finally:
        # a step cut short (an error, Ctrl-C) leaves caches no backward will consume; drop
        # them so that the models can be used again (after a complete step they are empty)
        G.clear_cache()
        D.clear_cache()
        if bar is not None:
            bar.close()
    return history
