"""Optimizers that update a model's ``params`` in place from its ``grads``.

Each optimizer is given a model (anything with ``params``/``grads`` dicts: a layer,
a Sequential) and keeps its state (velocities, moments) per parameter name. The
conventions follow PyTorch's, so a learner can compare step by step.

**The rule runs on flat vectors of a cache-sized length.** An update rule is
elementwise, so it does not care how the parameters are cut into arrays. Each step
walks the parameters as one long vector cut into *chunks* of at most ``CHUNK``
elements and applies the rule to one chunk at a time: a parameter of ``CHUNK/4``
elements or more is cut into chunks of its own (views: nothing is copied), and the
smaller ones are packed end to end into shared chunks (their gradients copied in with
one ``concatenate``, the step subtracted back through views). Two costs shape this,
both measured (benchmarks/README.md): on the 2×2 toy's four tiny arrays one call per
operation instead of four is most of the optimizer's time; on the MLP's large matrices
the rule's eleven passes run over 256 KiB at a time, which stays in the CPU's cache,
instead of over megabytes, which does not. ``state[key]["m"]`` is each parameter's own
array (or a view of a shared chunk), so per-parameter state reads as usual. The
elementwise arithmetic is the same as a per-array loop's, operation for operation, so
the results are bit-identical to it.

``state_dict()`` returns that state as host arrays and numbers (the step count ``t``,
the current ``lr``, and per parameter Adam's m and v, SGD's momentum buffer v or
RMSProp's average s); ``load_state_dict`` puts it back, so a run resumed from a
checkpoint takes exactly the steps it would have taken. Scratch buffers are not state.
"""

from __future__ import annotations

import math
import numbers
import operator

from . import backend

__all__ = ["Optimizer", "SGD", "Adam", "RMSProp"]

#: Elements per flat vector the rule runs on: 256 KiB of float32, so that the rule's
#: four or five vectors fit in a 1 MiB L2 cache together.
CHUNK = 1 << 16


class _Chunk:
    """One flat vector of the update: ``pieces`` are (parameter index, start, stop) ranges.

    One piece: a slice of one parameter's memory, used in place. Several pieces: small
    parameters packed end to end; their gradients are copied into a scratch vector.
    ``state[name]`` is this chunk's slice of the rule's state vector ``name``. The views
    are built once per layout, so a step costs one call per array operation.
    """

    def __init__(self, xp, dtype, pieces, params, grads, g_scratch, out_scratch):
        self.xp, self.dtype, self.pieces = xp, dtype, pieces
        self.size = sum(b - a for _, a, b in pieces)
        self.out = out_scratch[:self.size]  # the rule's scratch and its result, the step
        self.state: dict = {}
        if len(pieces) == 1:
            i, a, b = pieces[0]
            # a view of the live gradient; a strided one is flattened (copied) every step
            self.strided = grads[i] if not grads[i].flags.c_contiguous else None
            self.g, self.g_parts = grads[i].reshape(-1)[a:b], None
        else:
            self.strided = None
            self.g = g_scratch[:self.size]
            self.g_parts = [grads[i].reshape(-1) for i, _, _ in pieces]  # whole, contiguous
        self.updates, o = [], 0  # (what to subtract from, the matching slice of the step)
        for i, a, b in pieces:
            p, n = params[i], b - a
            if n == p.size:
                self.updates.append((p, self.out[o:o + n].reshape(p.shape)))  # any layout
            else:
                self.updates.append((p.reshape(-1)[a:b], self.out[o:o + n]))  # contiguous p
            o += n

    def gather(self):
        """The chunk's gradient as a flat vector: a view, or one copy for a pack."""
        if self.g_parts is not None:
            self.xp.concatenate(self.g_parts, out=self.g)
        elif self.strided is not None:
            self.g = self.strided.reshape(-1)
        return self.g

    def apply(self):
        """θ ← θ − step, piece by piece, through views."""
        for p, d in self.updates:
            p -= d


def _live_arrays(model, out):
    """Append every parameter and gradient array of ``model`` to ``out``, in a fixed order.

    The same arrays as ``_pairs`` without their keys: a container's flat keys
    (``"0.W"``) are strings built on each access, and the check that runs every step
    only needs to know that no array was replaced.
    """
    layers = getattr(model, "layers", None)
    if layers is None:
        out += model.params.values()
        out += model.grads.values()
    else:
        for layer in layers:
            _live_arrays(layer, out)
    return out


class Optimizer:
    """Shared plumbing: walks the matching ``params``/``grads`` of one or more models.

    A subclass writes its rule once, on flat vectors, in ``_direction(chunk, g, out)``:
    ``chunk.state[name]`` are its state vectors, g the gradient, and it writes the step
    that ``step()`` subtracts from the parameters into ``out`` (also its scratch).
    """

    def __init__(self, model, lr):
        self._check_number("lr", lr, 0.0, strict=True)
        self.models = list(model) if isinstance(model, (list, tuple)) else [model]
        self.lr = float(lr)
        self.t = 0  # number of steps taken
        self.state: dict = {}
        self._arrays: list = []   # the param and grad arrays the chunks were laid out for
        self._chunks: list = []

    def _pairs(self):
        """(key, param, grad) for every parameter. Fetched each step so they are the live arrays."""
        for i, m in enumerate(self.models):
            params, grads = m.params, m.grads
            for k, p in params.items():
                yield (i, k), p, grads[k]

    def zero_grad(self):
        for m in self.models:
            m.zero_grad()

    def step(self):
        self.t += 1
        arrays = []
        for m in self.models:
            _live_arrays(m, arrays)
        if len(arrays) != len(self._arrays) or not all(map(operator.is_, arrays, self._arrays)):
            self._layout(list(self._pairs()))  # the first step, or an array was replaced
            self._arrays = arrays
        for chunk in self._chunks:
            self._direction(chunk, chunk.gather(), chunk.out)
            chunk.apply()

    def _layout(self, pairs):
        """Cut the parameters into chunks and give each its state; keep existing state."""
        open_packs: dict = {}  # (backend, dtype) -> pieces of the pack being filled
        chunks = []
        for i, (_, p, g) in enumerate(pairs):
            kind = (backend.get_array_module(p), p.dtype)
            n = p.size
            if n >= CHUNK // 4:                  # a big parameter: chunks of its own
                if p.flags.c_contiguous and g.flags.c_contiguous:
                    chunks += [(kind, [(i, a, min(a + CHUNK, n))]) for a in range(0, n, CHUNK)]
                else:                            # no flat view: one piece, whole
                    chunks.append((kind, [(i, 0, n)]))
                continue
            pack = open_packs.setdefault(kind, [])
            if not g.flags.c_contiguous:         # a strided gradient: a chunk of its own
                chunks.append((kind, [(i, 0, n)]))
                continue
            if sum(b - a for _, a, b in pack) + n > CHUNK:
                chunks.append((kind, pack))
                pack = open_packs[kind] = []
            pack.append((i, 0, n))
        chunks += [(kind, pack) for kind, pack in open_packs.items() if pack]
        self._chunks = []
        # two scratch vectors per (backend, dtype), shared by its chunks: CHUNK elements,
        # or more for a strided parameter that could not be cut
        sizes: dict = {}
        for (xp, dtype), pieces in chunks:
            key = (xp.__name__, dtype)
            sizes[key] = max(sizes.get(key, CHUNK), sum(b - a for _, a, b in pieces))
        scratch = {}
        for (xp, dtype), pieces in chunks:
            n = sizes[xp.__name__, dtype]
            g_buf, out = scratch.setdefault((xp.__name__, dtype), (
                xp.empty(n, dtype=dtype), xp.empty(n, dtype=dtype)))
            self._chunks.append(_Chunk(xp, dtype, pieces, [p for _, p, _ in pairs],
                                       [g for _, _, g in pairs], g_buf, out))
        # state: one array per parameter for the big ones, one flat vector per pack
        old, self.state = self.state, {}
        for name in self._state_names():
            for chunk in self._chunks:
                if len(chunk.pieces) > 1:
                    flat = chunk.xp.zeros(chunk.size, dtype=chunk.dtype)
                    chunk.state[name] = flat
                    o = 0
                    for i, a, b in chunk.pieces:
                        shape = pairs[i][1].shape
                        self._adopt(old, pairs[i], name, flat[o:o + b - a].reshape(shape))
                        o += b - a
                else:
                    i, a, b = chunk.pieces[0]
                    key, p, _ = pairs[i]
                    if name not in self.state.get(key, {}):  # C order: flat views below
                        self._adopt(old, pairs[i], name, chunk.xp.zeros(p.shape, dtype=p.dtype))
                    chunk.state[name] = self.state[key][name].reshape(-1)[a:b]

    def _adopt(self, old, pair, name, arr):
        """Make ``arr`` the state ``name`` of one parameter, with its old value if it had one."""
        key, p, _ = pair
        before = old.get(key, {}).get(name)
        if before is not None and tuple(before.shape) == tuple(p.shape):
            arr[...] = before  # carried over (cast to the new dtype if needed)
        self.state.setdefault(key, {})[name] = arr

    def _check_number(self, name, value, low, strict=False):
        """One line unless ``value`` is a finite real number above ``low`` (at least, unless
        ``strict``): a NaN, an infinity, a string or a bool would train silently wrong."""
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
              and math.isfinite(value) and (value > low if strict else value >= low))
        if not ok:
            raise ValueError(f"{type(self).__name__}: {name} must be a finite number "
                             f"{'>' if strict else '≥'} {low:g}, got {value!r}")

    def _state_names(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _direction(self, chunk, g, out):  # pragma: no cover - abstract
        raise NotImplementedError

    #: per-parameter arrays that are scratch space, not state (never saved); none here:
    #: the rule's scratch vectors belong to the chunks
    _scratch: tuple = ()
    #: state whose overflow to inf stops the updates *silently* (θ moves by m/√v = 0 while
    #: every parameter stays finite): the trainer checks these after each step
    overflow_slots: tuple = ()

    def state_arrays(self, names=None):
        """``((model, param), name, array)`` for the live state arrays (no copies).

        ``names`` restricts them to those slots, e.g. ``opt.overflow_slots``.
        """
        for key, st in self.state.items():
            for name, a in st.items():
                if name not in self._scratch and (names is None or name in names):
                    yield key, name, a

    def state_dict(self):
        """``{"type", "t", "lr", "slots": {"<model>:<param>": {"m": host array, …}}}``."""
        slots = {f"{i}:{k}": {name: backend.to_numpy(a).copy() for name, a in st.items()
                              if name not in self._scratch}
                 for (i, k), st in self.state.items()}
        return {"type": type(self).__name__, "t": self.t, "lr": self.lr, "slots": slots}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`'s output, checking the type and every slot's shape."""
        if state.get("type") != type(self).__name__:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved state is of "
                             f"a {state.get('type')} optimizer")
        params = {f"{i}:{k}": p for (i, k), p, _ in self._pairs()}
        new = {}
        for key, arrays in state["slots"].items():
            if key not in params:
                raise ValueError(f"{type(self).__name__}.load_state_dict: saved state for "
                                 f"parameter {key!r}, which this optimizer's models lack")
            p = params[key]
            xp = backend.get_array_module(p)
            i, _, k = key.partition(":")
            for name, value in arrays.items():
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"{type(self).__name__}.load_state_dict: saved {name} of "
                                     f"{key} has shape {tuple(value.shape)}, the parameter "
                                     f"{tuple(p.shape)}")
                new.setdefault((int(i), k), {})[name] = xp.array(value, dtype=p.dtype)
        self.state = new
        self._arrays = []  # the next step lays the chunks out again around the loaded state
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        return self


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum, PyTorch's convention.

    Math
    ----
    v ← μ·v + g
    θ ← θ − lr·v          (μ = 0: θ ← θ − lr·g, plain SGD)
    """

    def __init__(self, model, lr=0.01, momentum=0.0):
        super().__init__(model, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)

    def _state_names(self):
        return ("v",) if self.momentum else ()

    def _direction(self, chunk, g, out):
        xp = chunk.xp
        if self.momentum == 0.0:
            return xp.multiply(g, self.lr, out=out)
        v = chunk.state["v"]
        v *= self.momentum
        v += g
        return xp.multiply(v, self.lr, out=out)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction by (1 − βᵗ), t = the step count.

    Math
    ----
    m ← β₁m + (1 − β₁)g,        v ← β₂v + (1 − β₂)g²
    m̂ = m / (1 − β₁ᵗ),          v̂ = v / (1 − β₂ᵗ)
    θ ← θ − lr · m̂ / (√v̂ + ε)

    A common bug corrects by (1 − β) instead of (1 − βᵗ); the test of a hand-computed
    second step catches it.
    """

    overflow_slots = ("v",)

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(model, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        self._check_number("eps", eps, 0.0)
        self.b1, self.b2, self.eps = float(b1), float(b2), float(eps)

    def _state_names(self):
        return ("m", "v")

    def _direction(self, chunk, g, buf):
        xp, f = chunk.xp, chunk.dtype.type
        m, v = chunk.state["m"], chunk.state["v"]
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        # The scalars as the arrays' dtype: the value a Python float would be rounded to
        # anyway (the same bits), without the conversion a Python float costs each call.
        b1, b1c, b2, b2c = self._betas(chunk.dtype)
        # 1. m ← β₁m + (1 − β₁)g
        m *= b1
        xp.multiply(g, b1c, out=buf)
        m += buf
        # 2. v ← β₂v + (1 − β₂)g²
        v *= b2
        xp.multiply(g, g, out=buf)
        buf *= b2c
        v += buf
        # 3. the step lr·m̂/(√v̂ + ε). Multiplying numerator and denominator by √c₂:
        #    lr·m̂/(√v̂ + ε) = (lr·√c₂/c₁)·m/(√v + ε√c₂): the corrections become two scalars.
        xp.sqrt(v, out=buf)
        buf += f(self.eps * math.sqrt(c2))
        xp.divide(m, buf, out=buf)
        buf *= f(self.lr * math.sqrt(c2) / c1)
        return buf

    def _betas(self, dtype):
        """β₁, 1 − β₁, β₂, 1 − β₂ as scalars of ``dtype`` (made once per dtype and betas)."""
        typed = self.__dict__.setdefault("_typed_betas", {})
        key = (dtype, self.b1, self.b2)
        if key not in typed:
            f = dtype.type
            typed[key] = (f(self.b1), f(1 - self.b1), f(self.b2), f(1 - self.b2))
        return typed[key]


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton 2012), PyTorch's convention (ε outside the root).

    Math
    ----
    s ← ρ·s + (1 − ρ)·g²
    θ ← θ − lr · g / (√s + ε)
    """

    overflow_slots = ("s",)

    def __init__(self, model, lr=1e-2, rho=0.99, eps=1e-8):
        super().__init__(model, lr)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"RMSProp: rho must be in [0, 1), got {rho}")
        self._check_number("eps", eps, 0.0)
        self.rho, self.eps = float(rho), float(eps)

    def _state_names(self):
        return ("s",)

    def _direction(self, chunk, g, buf):
        xp = chunk.xp
        s = chunk.state["s"]
        s *= self.rho
        xp.multiply(g, g, out=buf)
        buf *= 1 - self.rho
        s += buf
        xp.sqrt(s, out=buf)
        buf += self.eps
        return xp.divide(self.lr * g, buf, out=buf)  # (lr·g)/(√s + ε), as PyTorch rounds it
