"""1-D densities with closed forms, and the quantities of the GAN paper's theory by quadrature.

Goodfellow et al. (2014) prove two facts about the value function

    V(D, G) = ∫ p_data(x) log D(x) dx + ∫ p_g(x) log(1 − D(x)) dx

(Proposition 1) for a fixed G the best discriminator is D*(x) = p_data/(p_data + p_g);
(Theorem 1)    C(G) = max_D V(D, G) = −log 4 + 2·JSD(p_data ‖ p_g).

In 1-D with densities we can write down, every one of these is an ordinary integral,
so we can *compute* them (to ~1e-12) instead of estimating them from samples. This
module gives the densities (Gaussian, uniform, mixtures; the exact density p_g of an
affine generator) and the integrals: :func:`value` (V), :func:`criterion` (C(G) as
V(D*, G)), :func:`kl`, :func:`jsd`, and the D* itself (:func:`optimal_discriminator`).

Everything here runs on the host in float64 (``backend.numpy``): these are metrics,
read at the edge, not training code. A trained discriminator enters as a function
``x -> logits`` on a host float64 array (:func:`model_logits` wraps a tinygan model).

Quadrature: composite Gauss–Legendre (8 nodes a panel) over an interval that covers
every density's mass to ~1e-30, with panel edges placed on each discontinuity (the
ends of a uniform), so each panel integrates a smooth function.

Derivation: derivations/02_optimal_discriminator.md
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

from . import backend
from .layers.activations import sigmoid

np = backend.numpy  # host arithmetic in float64: metrics, not training

__all__ = [
    "LOG2", "LOG4", "Density", "Gaussian", "Uniform", "Mixture", "affine_generator_density",
    "generator_density", "normal_cdf", "normal_ppf", "Quadrature", "quadrature",
    "log_optimal_discriminator", "optimal_discriminator", "optimal_logits", "value",
    "criterion", "kl", "jsd", "mixture_error", "pointwise_objective", "model_logits",
]

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)
_TAIL = 12.0  # Gaussians are integrated over μ ± 12σ: the mass left out is ~4e-33


def _host(x):
    return np.asarray(backend.to_numpy(x), dtype=np.float64)


def _xlogy_terms(p, log_ratio):
    """p · log_ratio with the convention 0 · anything = 0 (where a density vanishes)."""
    out = np.zeros_like(p)
    mask = p > 0
    out[mask] = p[mask] * log_ratio[mask]
    return out


class Density:
    """A 1-D probability density with a closed form: ``logpdf``, ``pdf``, ``sample``.

    ``interval()`` is where its mass lies (to ~1e-30) and ``breakpoints`` the points
    where the density jumps; the quadrature uses both.
    """

    breakpoints: tuple = ()

    def logpdf(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def __call__(self, x):
        return self.pdf(x)

    def interval(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def scale(self):
        """A length on which the density changes (sets the quadrature's panel width)."""
        raise NotImplementedError  # pragma: no cover

    def mean(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, rng, n, dtype="float64"):  # pragma: no cover - abstract
        raise NotImplementedError


class Gaussian(Density):
    """N(μ, σ²): p(x) = exp(−(x − μ)²/2σ²) / (σ√(2π))."""

    def __init__(self, mu, sigma):
        if not sigma > 0:
            raise ValueError(f"Gaussian needs sigma > 0, got {sigma}")
        self.mu, self.sigma = float(mu), float(sigma)

    def __repr__(self):
        return f"Gaussian(mu={self.mu:.4g}, sigma={self.sigma:.4g})"

    def logpdf(self, x):
        x = _host(x)
        log_norm = math.log(self.sigma * math.sqrt(2 * math.pi))
        return -0.5 * ((x - self.mu) / self.sigma) ** 2 - log_norm

    def interval(self):
        return self.mu - _TAIL * self.sigma, self.mu + _TAIL * self.sigma

    def scale(self):
        return self.sigma

    def mean(self):
        return self.mu

    def sample(self, rng, n, dtype="float64"):
        """(n, 1) samples on the generator's backend."""
        return (self.mu + self.sigma * rng.standard_normal((n, 1))).astype(dtype)


class Uniform(Density):
    """U[lo, hi): p(x) = 1/(hi − lo) on the interval, 0 outside (a density with two jumps)."""

    def __init__(self, lo, hi):
        if not hi > lo:
            raise ValueError(f"Uniform needs lo < hi, got [{lo}, {hi})")
        self.lo, self.hi = float(lo), float(hi)
        self.breakpoints = (self.lo, self.hi)

    def __repr__(self):
        return f"Uniform({self.lo:.4g}, {self.hi:.4g})"

    def logpdf(self, x):
        x = _host(x)
        out = np.full_like(x, -np.inf)
        out[(x >= self.lo) & (x < self.hi)] = -math.log(self.hi - self.lo)
        return out

    def interval(self):
        return self.lo, self.hi

    def scale(self):
        return self.hi - self.lo

    def mean(self):
        return 0.5 * (self.lo + self.hi)

    def sample(self, rng, n, dtype="float64"):
        return (self.lo + (self.hi - self.lo) * rng.random((n, 1))).astype(dtype)


class Mixture(Density):
    """Σ_k w_k p_k(x): a weighted mixture of densities (weights normalised to sum 1)."""

    def __init__(self, weights, components):
        w = np.asarray(weights, dtype=np.float64)
        if len(w) != len(components) or len(w) == 0 or np.any(w <= 0):
            raise ValueError(f"Mixture needs one positive weight per component; got {weights} "
                             f"for {len(components)} components")
        self.weights = w / w.sum()
        self.components = list(components)
        self.breakpoints = tuple(b for c in self.components for b in c.breakpoints)

    def __repr__(self):
        inner = ", ".join(f"{w:.3g}·{c!r}" for w, c in zip(self.weights, self.components))
        return f"Mixture({inner})"

    def logpdf(self, x):
        x = _host(x)
        logs = np.stack([math.log(w) + c.logpdf(x) for w, c in zip(self.weights, self.components)])
        top = logs.max(axis=0)
        finite = np.isfinite(top)
        out = np.full_like(x, -np.inf)
        out[finite] = top[finite] + np.log(np.exp(logs[:, finite] - top[finite]).sum(axis=0))
        return out

    def interval(self):
        ends = [c.interval() for c in self.components]
        return min(e[0] for e in ends), max(e[1] for e in ends)

    def scale(self):
        return min(c.scale() for c in self.components)

    def mean(self):
        return float(sum(w * c.mean() for w, c in zip(self.weights, self.components)))

    def sample(self, rng, n, dtype="float64"):
        """Pick a component for each sample (inverse CDF of the weights), then sample it."""
        u = rng.random(n)
        xp = backend.get_array_module(u)
        k = np.searchsorted(np.cumsum(self.weights)[:-1], backend.to_numpy(u), side="right")
        out = xp.empty((n, 1), dtype=dtype)
        for j, c in enumerate(self.components):
            idx = np.flatnonzero(k == j)
            if idx.size:
                out[xp.asarray(idx)] = c.sample(rng, idx.size, dtype)
        return out


def normal_cdf(x):
    """Φ(x), the standard normal CDF (elementwise, host float64)."""
    x = _host(x)
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def normal_ppf(u):
    """Φ⁻¹(u) for 0 < u < 1 (elementwise, host float64), from the standard library."""
    u = _host(u)
    return np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])(u)


def affine_generator_density(a, b, noise="normal"):
    """The exact density of x = G(z) = a·z + b.

    Change of variables, z = (x − b)/a:  p_g(x) = p_z((x − b)/a) / |a|.
    * ``noise="normal"`` (z ~ N(0, 1)):  p_g = N(b, a²).
    * ``noise="uniform"`` (z ~ U[0, 1)): p_g = U[b, b + a) for a > 0 (U[b + a, b) for a < 0).
    """
    a, b = float(a), float(b)
    if a == 0:
        raise ValueError("affine_generator_density: a = 0 maps every z to b (no density)")
    if noise == "normal":
        return Gaussian(b, abs(a))
    if noise == "uniform":
        return Uniform(min(b, a + b), max(b, a + b))
    raise ValueError("affine_generator_density: noise must be 'normal' or 'uniform', "
                     f"got {noise!r}")


def generator_density(G, noise="normal"):
    """p_g of a generator that is one Dense(1→1) layer (alone or in a Sequential)."""
    layer = G
    if hasattr(G, "layers"):
        if len(G.layers) != 1:
            raise ValueError(f"generator_density needs an affine G (one Dense(1→1)), got {G!r}")
        layer = G.layers[0]
    W = backend.to_numpy(layer.params["W"])
    if W.shape != (1, 1):
        raise ValueError(f"generator_density needs Dense(1→1), got W of shape {W.shape}")
    b = float(backend.to_numpy(layer.params["b"])[0]) if "b" in layer.params else 0.0
    return affine_generator_density(float(W[0, 0]), b, noise)


class Quadrature:
    """Nodes ``x`` and weights ``w`` with ∫ f(x) dx ≈ Σ w_i f(x_i) (composite Gauss–Legendre)."""

    def __init__(self, x, w):
        self.x, self.w = x, w

    def __len__(self):
        return len(self.x)

    def integrate(self, values):
        return float(np.dot(self.w, values))


@functools.lru_cache(maxsize=None)
def _gauss_legendre(order):
    """Gauss–Legendre nodes and weights on [−1, 1], computed once per order (read-only):
    Figure 1's run builds a quadrature after every G step."""
    t, w = np.polynomial.legendre.leggauss(order)
    t.setflags(write=False)
    w.setflags(write=False)
    return t, w


def quadrature(*densities, panels_per_scale=4, order=8, lo=None, hi=None):
    """A quadrature rule covering the mass of every density, split at their jumps.

    The interval [lo, hi] is the union of ``d.interval()``; it is cut at every
    breakpoint, and each piece into panels no wider than (smallest scale)/
    ``panels_per_scale``; each panel gets ``order`` Gauss–Legendre nodes, which
    integrate polynomials of degree 2·order − 1 exactly.
    """
    ends = [d.interval() for d in densities]
    lo = min(e[0] for e in ends) if lo is None else lo
    hi = max(e[1] for e in ends) if hi is None else hi
    h = min(d.scale() for d in densities) / panels_per_scale
    cuts = sorted({lo, hi, *(b for d in densities for b in d.breakpoints if lo < b < hi)})
    t, wt = _gauss_legendre(order)
    xs, ws = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        n = max(1, math.ceil((b - a) / h))
        edges = np.linspace(a, b, n + 1)
        half = 0.5 * np.diff(edges)[:, None]
        mid = 0.5 * (edges[:-1] + edges[1:])[:, None]
        xs.append((mid + half * t).ravel())
        ws.append((half * wt).ravel())
    return Quadrature(np.concatenate(xs), np.concatenate(ws))


def _logaddexp(a, b):
    with np.errstate(invalid="ignore"):  # -inf + -inf: both densities vanish
        return np.logaddexp(a, b)


def log_optimal_discriminator(p_data, p_g, x):
    """log D*(x) and log(1 − D*(x)), from the log-densities (no division by ~0)."""
    lp, lg = p_data.logpdf(x), p_g.logpdf(x)
    lm = _logaddexp(lp, lg)
    with np.errstate(invalid="ignore"):
        log_d, log_1md = lp - lm, lg - lm
    both_zero = ~np.isfinite(lm)  # D* is undefined where nobody puts mass; take 1/2
    log_d[both_zero] = log_1md[both_zero] = -LOG2
    return log_d, log_1md


def optimal_discriminator(p_data, p_g, x):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x))  (Proposition 1 of the GAN paper).

    Derivation: derivations/02_optimal_discriminator.md#the-optimal-discriminator
    """
    return np.exp(log_optimal_discriminator(p_data, p_g, x)[0])


def optimal_logits(p_data, p_g, x):
    """The logit of D*: σ⁻¹(D*(x)) = log p_data(x) − log p_g(x) (±inf where one density is 0)."""
    log_d, log_1md = log_optimal_discriminator(p_data, p_g, x)
    return log_d - log_1md


def _softplus(a):
    """log(1 + eᵃ) without overflow (host)."""
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


def value(p_data, p_g, logits, quad=None):
    """V(D, G) = ∫ p_data log D + ∫ p_g log(1 − D), by quadrature (nats).

    ``logits`` is a function x → the logits a(x) of D on a host float64 array
    (D = σ(a), so log D = −softplus(−a) and log(1 − D) = −softplus(a): no log of 0).
    For D* pass ``logits=None``.

    Derivation: derivations/02_optimal_discriminator.md#v-as-an-integral
    """
    quad = quad or quadrature(p_data, p_g)
    x = quad.x
    if logits is None:
        log_d, log_1md = log_optimal_discriminator(p_data, p_g, x)
    else:
        a = _host(logits(x)).reshape(-1)
        log_d, log_1md = -_softplus(-a), -_softplus(a)
    f = _xlogy_terms(p_data.pdf(x), log_d) + _xlogy_terms(p_g.pdf(x), log_1md)
    return quad.integrate(f)


def criterion(p_data, p_g, quad=None):
    """C(G) = max_D V(D, G) = V(D*, G), by quadrature (the virtual training criterion).

    Theorem 1 says this equals −log 4 + 2·JSD(p_data ‖ p_g); the tests check it
    against :func:`jsd`, computed independently from its KL definition.
    """
    return value(p_data, p_g, None, quad)


def kl(p, q, quad=None):
    """KL(p ‖ q) = ∫ p log(p/q), by quadrature (nats); inf if p has mass where q has none."""
    quad = quad or quadrature(p, q)
    lp, lq = p.logpdf(quad.x), q.logpdf(quad.x)
    with np.errstate(invalid="ignore"):
        ratio = lp - lq
    pp = np.exp(lp)
    if np.any((pp > 0) & ~np.isfinite(ratio)):
        return math.inf
    return quad.integrate(_xlogy_terms(pp, ratio))


def jsd(p, q, quad=None):
    """JSD(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2; always in [0, log 2].

    Derivation: derivations/02_optimal_discriminator.md#two-kl-terms-and-log-4
    """
    quad = quad or quadrature(p, q)
    x = quad.x
    lp, lq = p.logpdf(x), q.logpdf(x)
    lm = _logaddexp(lp, lq) - LOG2
    with np.errstate(invalid="ignore"):
        tp, tq = lp - lm, lq - lm
    return 0.5 * quad.integrate(_xlogy_terms(np.exp(lp), tp) + _xlogy_terms(np.exp(lq), tq))


def mixture_error(p_data, p_g, logits, quad=None):
    """E_m |D − D*| with m = (p_data + p_g)/2: how far D is from D* where the samples are."""
    quad = quad or quadrature(p_data, p_g)
    x = quad.x
    d = sigmoid(_host(logits(x)).reshape(-1))
    m = 0.5 * (p_data.pdf(x) + p_g.pdf(x))
    return quad.integrate(m * np.abs(d - optimal_discriminator(p_data, p_g, x)))


def pointwise_objective(y, a, b):
    """f(y) = a log y + b log(1 − y): the integrand of V at one x, with a = p_data, b = p_g.

    For a, b > 0 it peaks on (0, 1) at y = a/(a + b) (f'(y) = a/y − b/(1 − y) = 0 and
    f'' < 0): Proposition 1 pointwise.
    """
    y = _host(y)
    return a * np.log(y) + b * np.log1p(-y)


def model_logits(model):
    """Wrap a tinygan model as a host function x (float64, shape (N,)) → logits (N,).

    The model sees x in its own dtype and on its own backend; its cache is cleared.
    """

    def f(x):
        W = next(iter(model.params.values()))
        xp = backend.get_array_module(W)
        xin = xp.asarray(_host(x).reshape(-1, 1), dtype=W.dtype)
        out = model.forward(xin)
        model.clear_cache()  # a metric, not a training step: no backward follows
        return _host(out).reshape(-1)

    return f
