"""The Layer contract that every layer in tinygan follows.

* ``params`` and ``grads`` are dicts with the same keys, shapes and dtypes.
* ``forward(x)`` stores in ``self.cache`` exactly what ``backward`` needs.
* ``backward(dout, need_dx=True)`` consumes that cache, *accumulates* (``+=``) into
  ``grads`` and returns dL/dx with the shape and dtype of ``x``. With
  ``need_dx=False`` a layer may skip computing dx (and return None): the gradient with
  respect to *data* is never used, so Dense and the convolutions save a matrix multiply.
* **The cache has one slot, and it is loud.** A backward without a matching forward
  raises. In training mode a second forward before the first one's backward raises
  too: ``D.forward(real); D.forward(fake); D.backward(d_real)`` would otherwise
  backpropagate the real loss through the fake pass's cache (the stale-cache bug of
  papers.md §9) without a word. A caller whose output needs no gradient says so,
  either before the forward (``with no_grad(model): out = model.forward(x)`` stores
  no cache at all) or after it (``model.clear_cache()``). In eval mode a forward
  replaces an unused cache silently: eval-mode forwards are for sampling and plots.
* ``zero_grad()`` resets the gradients in place (optimizers hold references).
* Inside ``with frozen(model):`` the parameters are constants: backward still
  returns dx but computes no parameter gradients (used for D during G's step).
* Inside ``with no_grad(model, update_stats=False):`` BatchNorm (in training mode)
  still normalises with the batch's statistics but leaves its running statistics
  alone: G's forward in D's step uses it, so that G's running statistics move once
  per iteration, in G's own step (tinygan.train.fake_batch).

A layer writes ``self.cache = ...`` in its forward; the checks above live in the
``cache`` property below, so every layer, present or future, gets them for free.
"""

from __future__ import annotations

from .. import backend


class LayerInputError(ValueError):
    """Bad input to a layer: wrong shape, dtype, or non-finite values."""


class NonFiniteInputError(LayerInputError):
    """A layer received NaN or inf: ``layer`` is the layer (the trainer names it)."""

    def __init__(self, message, layer=None):
        super().__init__(message)
        self.layer = layer


class Layer:
    """Base class: parameter bookkeeping, the one-slot cache, and input checks."""

    #: names of the attributes that are state but not parameters (see state_dict)
    buffers: tuple = ()

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self._cache = None
        self.training = True
        self.frozen = False  # see frozen(): no parameter gradients while True
        self.caching = True  # see no_grad(): forward stores no cache while False
        self.update_stats = True  # see no_grad(update_stats=False): BatchNorm only

    # -- the one-slot cache ----------------------------------------------------
    _cache = None  # a class default, so that a layer's own _cache is always readable
    #: (shape, dtype, ndim, shape spec) of the last input _check_input accepted
    _input_ok = None

    @property
    def cache(self):
        """What the last forward left for its backward (None when there is none)."""
        return self._cache

    @cache.setter
    def cache(self, value):
        if value is not None:
            if not self.caching:  # inside no_grad(): no backward will follow
                return
            if self._cache is not None and self.training:
                raise RuntimeError(
                    f"{self!r}.forward() was called again before backward() consumed the "
                    "cache of its previous forward (training mode): the second forward "
                    "would silently replace what the first one's backward needs. "
                    "Backpropagate the first output first, or say that it needs no "
                    "gradient: run that forward inside `with no_grad(model):` or call "
                    "model.clear_cache() after it")
        self._cache = value

    # -- the contract ---------------------------------------------------------
    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout, need_dx=True):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def zero_grad(self):
        for g in self.grads.values():
            g.fill(0)

    def clear_cache(self):
        """Drop a cached forward that will get no backward (its output needs no gradient)."""
        self._cache = None

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    @property
    def dtype(self):
        """The dtype of the parameters (None for a layer without parameters)."""
        for p in self.params.values():
            return p.dtype
        return None

    def astype(self, dtype):
        """Convert parameters (and gradients) to ``dtype`` in place; returns self."""
        for k in list(self.params):
            xp = backend.get_array_module(self.params[k])
            self.params[k] = self.params[k].astype(dtype)
            self.grads[k] = xp.zeros_like(self.params[k])
        self.cache = None
        self._input_ok = None  # the accepted input dtype changed with the parameters'
        return self

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # -- state, for checkpoints ------------------------------------------------------
    def state_dict(self):
        """Host copies of every parameter and buffer: ``{"W": array, "running_mean": …}``."""
        state = {k: backend.to_numpy(v).copy() for k, v in self.params.items()}
        for name in self.buffers:
            state[name] = backend.to_numpy(getattr(self, name)).copy()
        return state

    def load_state_dict(self, state):
        """Copy ``state`` (from :meth:`state_dict`) into this layer, checking every entry.

        Parameters are written in place (optimizers and shared views keep pointing at
        them); buffers are replaced by copies on the layer's backend.
        """
        expected = list(self.params) + list(self.buffers)
        if set(state) != set(expected):
            missing = sorted(set(expected) - set(state))
            extra = sorted(set(state) - set(expected))
            raise ValueError(f"{self!r}: the saved state does not match this layer "
                             f"(missing {missing}, unexpected {extra})")
        for name in expected:
            target = self.params[name] if name in self.params else getattr(self, name)
            value = state[name]
            if tuple(value.shape) != tuple(target.shape) or value.dtype != target.dtype:
                raise ValueError(f"{self!r}: the saved {name!r} has shape {tuple(value.shape)} "
                                 f"and dtype {value.dtype}, this layer's has shape "
                                 f"{tuple(target.shape)} and dtype {target.dtype}")
            xp = backend.get_array_module(target)
            if name in self.params:
                target[...] = xp.asarray(value)
            else:
                setattr(self, name, xp.array(value, dtype=target.dtype))
        return self

    # -- helpers for subclasses -------------------------------------------------
    def _pop_cache(self):
        """Take the cache left by ``forward``; raise if there is none."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(
                f"{self!r}.backward() was called without a matching forward(): "
                "each forward caches what one backward needs, and backward consumes it "
                "(a forward inside no_grad() caches nothing)"
            )
        self._cache = None
        return cache

    def _check_input(self, x, ndim=None, shape=None):
        """Fail early, naming this layer, on a wrong type, dtype, rank, shape or NaN.

        ``shape`` may contain ``None`` for free dimensions, e.g. ``(None, 64)``.
        Every layer calls this on every forward, so the common case is cheap: the shape
        and dtype of the last input that passed are remembered (``astype`` forgets them),
        and an input with the same two skips straight to the finiteness check, the one
        check whose answer changes from step to step. The messages are built only when
        something is wrong.
        """
        try:
            dtype, x_shape = x.dtype, x.shape
        except AttributeError:
            raise LayerInputError(
                f"{self!r} expected an array, got {type(x).__name__}; "
                "convert with tinygan.backend.asarray(x, dtype)"
            ) from None
        if self._input_ok != (x_shape, dtype, ndim, shape):
            self._check_input_signature(dtype, x_shape, ndim, shape)
            self._input_ok = (x_shape, dtype, ndim, shape)
        if backend.checks_enabled() and not backend.all_finite(x):
            bad = int((~backend.get_array_module(x).isfinite(x)).sum())
            raise NonFiniteInputError(
                f"{self!r} received {bad} non-finite value(s) (NaN or inf) in its input "
                f"of shape {tuple(x_shape)}", layer=self
            )

    def _check_input_signature(self, dtype, x_shape, ndim, shape):
        """The dtype, rank and shape part of :meth:`_check_input`."""
        if dtype.kind != "f":
            raise LayerInputError(
                f"{self!r} expected a floating-point array, got dtype {dtype}"
            )
        for p in self.params.values():  # the parameters' dtype (see the dtype property)
            if dtype != p.dtype:
                raise LayerInputError(
                    f"{self!r} has {p.dtype} parameters but received {dtype} input; "
                    f"cast the input (x.astype('{p.dtype}')) or the layer (layer.astype(...))"
                )
            break
        if shape is not None:
            ndim = len(shape)
        if ndim is not None and len(x_shape) != ndim:
            expected = _fmt_shape(shape) if shape is not None else f"{ndim}-D"
            raise LayerInputError(
                f"{self!r} expected input of shape {expected}, got {tuple(x_shape)}"
            )
        if shape is not None:
            for want, got in zip(shape, x_shape):
                if want is not None and want != got:
                    raise LayerInputError(
                        f"{self!r} expected input of shape {_fmt_shape(shape)}, "
                        f"got {tuple(x_shape)}"
                    )

    def _check_dout(self, dout, like_shape, like_dtype=None):
        """Upstream gradients must match the forward output exactly: no broadcasting.

        ``like_shape`` is a tuple (an array's ``shape`` is one).
        """
        shape = getattr(dout, "shape", None)
        if shape != like_shape and (shape is None or tuple(shape) != tuple(like_shape)):
            got = tuple(shape) if shape is not None else type(dout).__name__
            raise LayerInputError(
                f"{self!r}.backward expected dout of shape {tuple(like_shape)} "
                f"(the shape of its output), got {got}"
            )
        if like_dtype is not None and dout.dtype != like_dtype:
            raise LayerInputError(
                f"{self!r}.backward expected dout of dtype {like_dtype}, got {dout.dtype}"
            )


def work_array(layer, name, shape, dtype, xp, zero=False):
    """A work array the layer keeps between calls, for temporaries that never leave it.

    A fresh multi-megabyte array is page-faulted in by the kernel (about 20 % of a
    DCGAN step, shared/reference/performance.md); a kept one is not. With
    ``zero=True`` a new array starts at zero and callers only ever write its interior,
    so a padded canvas keeps its zero border from call to call. Outputs and input
    gradients are never work arrays: the caller owns those.
    """
    work = layer.__dict__.setdefault("_work", {})
    buf = work.get(name)
    if (buf is None or tuple(buf.shape) != tuple(shape) or buf.dtype != dtype
            or backend.get_array_module(buf) is not xp):
        buf = (xp.zeros if zero else xp.empty)(shape, dtype=dtype)
        work[name] = buf
    return buf


def cache_array(layer, name, like):
    """A kept array shaped and laid out like ``like``, for what a forward caches.

    The one-slot cache makes a kept array safe for the cache: its backward reads it
    before the next forward can write it. Except while a cache is still pending (a
    forward inside ``no_grad()`` between a forward and its backward, or a second
    training-mode forward, which the cache then refuses): that cache may hold the kept
    array, so a fresh one is returned instead. Same shape, dtype and strides as
    ``like`` (a channels-first view of channels-last data stays so, and elementwise
    passes stay in memory order); a ``like`` with gaps gets a fresh array each call.
    """
    xp = backend.get_array_module(like)
    if layer._cache is not None:
        return xp.empty_like(like)
    work = layer.__dict__.setdefault("_work", {})
    buf = work.get(name)
    if (buf is None or buf.shape != like.shape or buf.dtype != like.dtype
            or buf.strides != like.strides or backend.get_array_module(buf) is not xp):
        buf = work[name] = xp.empty_like(like)
    return buf


def _all_layers(model):
    """``model`` and every layer inside it (a list, breadth first)."""
    layers = [model]
    for layer in layers:  # the list grows while it is walked
        layers.extend(getattr(layer, "layers", ()))
    return layers


class frozen:
    """Treat ``model``'s parameters as constants inside the block.

    ``model.backward`` still returns dL/dx, but no layer computes or accumulates
    parameter gradients: PyTorch's ``requires_grad_(False)``. In the generator's
    step the gradient must flow *through* D into G, while D's own parameter
    gradients would be thrown away; freezing D skips that work instead.

    (A class with ``__enter__``/``__exit__`` rather than a ``contextlib`` generator: the
    trainer enters this and :class:`no_grad` once per step each, and on the 2×2 toy the
    generator machinery cost as much as the one-element layer calls inside the block.)
    """

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.layers = _all_layers(self.model)
        self.before = [layer.frozen for layer in self.layers]
        for layer in self.layers:
            layer.frozen = True
        return self.model

    def __exit__(self, *exc):
        for layer, was in zip(self.layers, self.before):
            layer.frozen = was


class no_grad:
    """Forwards inside the block are not differentiated: no layer stores a cache.

    The manual counterpart of ``torch.no_grad()``: use it where an output is a
    constant for whoever consumes it (G's samples in D's step, samples for a plot, a
    metric), so that nothing is cached and no later forward trips the one-slot cache's
    check. A ``backward`` of such a forward raises (there is nothing to backpropagate).

    ``update_stats=False`` also keeps BatchNorm's running statistics where they are; in
    training mode it still normalises with the batch's own statistics. The trainer
    uses it for G's forward in D's step (:func:`tinygan.train.fake_batch`), so that G's
    running statistics are updated once per iteration, in G's own step.
    """

    def __init__(self, model, update_stats=True):
        self.model, self.update_stats = model, update_stats

    def __enter__(self):
        self.layers = _all_layers(self.model)
        self.before = [(layer.caching, layer.update_stats) for layer in self.layers]
        for layer in self.layers:
            layer.caching = False
            layer.update_stats = layer.update_stats and self.update_stats
        return self.model

    def __exit__(self, *exc):
        for layer, (caching, stats) in zip(self.layers, self.before):
            layer.caching, layer.update_stats = caching, stats


def _fmt_shape(shape):
    return "(" + ", ".join("N" if s is None and i == 0 else ("*" if s is None else str(s))
                           for i, s in enumerate(shape)) + ")"


# -- constructor checks, shared by the layers ------------------------------------------
def check_size(layer, name, value, minimum=1):
    """``value`` as an int ≥ ``minimum``, or one clear error naming the layer and argument."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer} needs an integer {name}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{layer} needs {name} ≥ {minimum}, got {value}")
    return int(value)


def check_dtype(layer, dtype):
    """The name of a floating-point dtype (float32, float64, …), or one clear error."""
    try:
        dt = backend.numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{layer} needs a floating-point dtype such as 'float32', got "
                        f"{dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"{layer} needs a floating-point dtype such as 'float32' (gradients "
                        f"are real numbers), got {dt.name}")
    return dt.name


def check_rng(layer, rng):
    """``rng`` unchanged if it is a random Generator (or None), else one clear error."""
    if rng is not None and not backend.is_rng(rng):
        raise TypeError(f"{layer} needs rng to be a random Generator "
                        f"(tinygan.backend.rng(seed)), got {type(rng).__name__} {rng!r}")
    return rng
