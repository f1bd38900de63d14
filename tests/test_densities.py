"""The 1-D densities and the quadrature of V, C(G), KL and JSD against closed forms,
and the identities of the GAN paper's §4 (experiment 2 of the optimal-D issue).

Derivation: derivations/02_optimal_discriminator.md ("How the tests verify this").
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import Dense, Sequential, backend
from tinygan import densities as dn

mus = st.floats(-3, 3)
sigmas = st.floats(0.2, 2.5)


@st.composite
def densities(draw):
    """A Gaussian, a two-component Gaussian mixture, or a uniform."""
    kind = draw(st.sampled_from(["gaussian", "mixture", "uniform"]))
    if kind == "gaussian":
        return dn.Gaussian(draw(mus), draw(sigmas))
    if kind == "mixture":
        w = draw(st.floats(0.1, 0.9))
        return dn.Mixture([w, 1 - w], [dn.Gaussian(draw(mus), draw(sigmas)),
                                       dn.Gaussian(draw(mus), draw(sigmas))])
    lo = draw(mus)
    return dn.Uniform(lo, lo + draw(st.floats(0.3, 4)))


# -- the densities themselves -----------------------------------------------------------------

@given(d=densities())
def test_density_integrates_to_one_and_mean_matches(d):
    q = dn.quadrature(d)
    assert q.integrate(d.pdf(q.x)) == pytest.approx(1.0, abs=1e-12)
    assert q.integrate(q.x * d.pdf(q.x)) == pytest.approx(d.mean(), abs=1e-10)


@given(mu=mus, sigma=sigmas)
def test_gaussian_pdf_closed_form(mu, sigma):
    x = np.linspace(mu - 4 * sigma, mu + 4 * sigma, 11)
    ref = np.exp(-(x - mu) ** 2 / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(dn.Gaussian(mu, sigma).pdf(x), ref, rtol=1e-13)


@given(a=st.floats(0.2, 3).flatmap(lambda v: st.sampled_from([v, -v])), b=mus,
       noise=st.sampled_from(["normal", "uniform"]))
def test_affine_generator_density_is_the_change_of_variables(a, b, noise):
    """p_g(x) = p_z((x − b)/a) / |a| for G(z) = a·z + b, read off a Dense(1→1)."""
    G = Dense(1, 1, init="zeros", dtype="float64")
    G.params["W"][...] = a
    G.params["b"][...] = b
    p_g = dn.generator_density(Sequential(G), noise)
    z = np.linspace(0.01, 0.99, 9) if noise == "uniform" else np.linspace(-3, 3, 9)
    x = a * z + b
    p_z = np.ones_like(z) if noise == "uniform" else np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(p_g.pdf(x), p_z / abs(a), rtol=1e-12)


def test_samples_follow_the_density():
    """Mixture sampling (component by inverse CDF of the weights): moments within 5 SE."""
    m = dn.Mixture([0.3, 0.7], [dn.Gaussian(-2, 0.5), dn.Gaussian(1, 0.7)])
    x = backend.to_numpy(m.sample(backend.rng(0), 200_000)).ravel()
    q = dn.quadrature(m)
    var = q.integrate((q.x - m.mean()) ** 2 * m.pdf(q.x))
    assert abs(x.mean() - m.mean()) < 5 * math.sqrt(var / x.size)
    assert x.var() == pytest.approx(var, rel=0.02)
    cdf = 0.3 * dn.normal_cdf([(-0.5 + 2) / 0.5])[0] + 0.7 * dn.normal_cdf([(-0.5 - 1) / 0.7])[0]
    assert np.mean(x < -0.5) == pytest.approx(cdf, abs=5 * math.sqrt(cdf * (1 - cdf) / x.size))


def test_normal_ppf_inverts_cdf():
    u = np.linspace(0.001, 0.999, 50)
    np.testing.assert_allclose(dn.normal_cdf(dn.normal_ppf(u)), u, atol=1e-12)


def test_bad_parameters_fail_early():
    with pytest.raises(ValueError, match="sigma > 0"):
        dn.Gaussian(0, 0)
    with pytest.raises(ValueError, match="a = 0"):
        dn.affine_generator_density(0, 1)
    with pytest.raises(ValueError, match="noise"):
        dn.affine_generator_density(1, 0, noise="cauchy")
    with pytest.raises(ValueError, match="Dense"):
        r = backend.rng(0)
        dn.generator_density(Sequential(Dense(1, 2, rng=r), Dense(2, 1, rng=r)))


# -- quadrature against closed forms ------------------------------------------------------------

@given(m1=mus, s1=sigmas, m2=mus, s2=sigmas)
def test_kl_of_gaussians_matches_closed_form(m1, s1, m2, s2):
    ref = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    got = dn.kl(dn.Gaussian(m1, s1), dn.Gaussian(m2, s2))
    assert got == pytest.approx(ref, rel=1e-10, abs=1e-12)


@given(mu=mus, sigma=sigmas)
def test_jsd_of_equal_gaussians_is_zero(mu, sigma):
    g = dn.Gaussian(mu, sigma)
    assert abs(dn.jsd(g, dn.Gaussian(mu, sigma))) < 1e-12


def test_jsd_of_far_apart_gaussians_tends_to_log2():
    """JSD grows with the distance and reaches log 2 when the densities no longer overlap."""
    dists = [0.0, 0.5, 1, 2, 4, 8, 16, 40]
    j = [dn.jsd(dn.Gaussian(0, 1), dn.Gaussian(d, 1)) for d in dists]
    assert all(b > a for a, b in zip(j, j[1:]))
    assert dn.LOG2 - j[-1] < 1e-12
    assert 0 < dn.LOG2 - j[-3] < 0.01  # 8σ apart: overlap ~ erfc(2√2)


@given(s=st.floats(0.01, 0.99), lo=mus, width=st.floats(0.5, 3))
def test_jsd_of_shifted_uniforms_closed_form(s, lo, width):
    """U[lo, lo+w) vs the same shifted by s·w: JSD = s·log 2 (exact; the jumps are panel edges)."""
    p, q = dn.Uniform(lo, lo + width), dn.Uniform(lo + s * width, lo + (1 + s) * width)
    assert dn.jsd(p, q) == pytest.approx(s * math.log(2), abs=1e-12)


@given(p=densities())
def test_value_of_constant_half_is_minus_log4(p):
    q = dn.Gaussian(0.3, 1.1)
    assert dn.value(p, q, lambda x: np.zeros_like(x)) == pytest.approx(-dn.LOG4, abs=1e-12)


def test_value_by_quadrature_matches_monte_carlo():
    """V for a fixed, arbitrary D (logit a(x) = 1.5 − x²) against a 400k-sample estimate."""
    p_data, p_g = dn.Gaussian(0.5, 0.8), dn.Mixture([0.5, 0.5], [dn.Gaussian(-1, 0.6),
                                                                   dn.Gaussian(1.5, 0.4)])

    def logits(x):
        return 1.5 - x**2

    v = dn.value(p_data, p_g, logits)
    r = backend.rng(3)
    xr = backend.to_numpy(p_data.sample(r, 400_000)).ravel()
    xf = backend.to_numpy(p_g.sample(r, 400_000)).ravel()
    terms_r = -np.logaddexp(0, -logits(xr))  # log σ(a)
    terms_f = -np.logaddexp(0, logits(xf))  # log(1 − σ(a))
    se = math.sqrt(terms_r.var() / xr.size + terms_f.var() / xf.size)
    assert abs(terms_r.mean() + terms_f.mean() - v) < 5 * se


# -- experiment 2: the identities -----------------------------------------------------------------

@given(p=densities(), q=densities())
def test_theorem1_max_v_is_minus_log4_plus_2jsd(p, q):
    """C(G) = V(D*, G) (by quadrature) = −log 4 + 2·JSD, JSD computed from its KL definition."""
    quad = dn.quadrature(p, q)
    c = dn.criterion(p, q, quad)
    assert c == pytest.approx(-dn.LOG4 + 2 * dn.jsd(p, q, quad), abs=1e-8)
    # and via the two KL terms of the paper's proof
    m = dn.Mixture([0.5, 0.5], [p, q])
    assert c == pytest.approx(-dn.LOG4 + dn.kl(p, m, quad) + dn.kl(q, m, quad), abs=1e-8)
    assert -dn.LOG4 - 1e-12 <= c <= 1e-12  # JSD ∈ [0, log 2]


@given(p=densities(), q=densities(), seed=st.integers(0, 2**16), eps=st.floats(0.01, 1.0))
def test_d_star_maximises_v(p, q, seed, eps):
    """Any perturbation of D*'s logits lowers V: D* is the maximiser, C(G) the maximum."""
    quad = dn.quadrature(p, q)
    c = dn.criterion(p, q, quad)
    r = np.random.default_rng(seed)
    k, phase, amp = r.uniform(0.5, 3), r.uniform(0, 6.3), r.normal()

    def perturbed(x):
        a = np.clip(dn.optimal_logits(p, q, x), -60, 60)
        return a + eps * (amp + np.sin(k * x + phase))

    assert dn.value(p, q, perturbed, quad) < c


@given(p=densities())
def test_p_g_equal_p_data_gives_half_and_minus_log4(p):
    """D* = 1/2 wherever p_data = p_g > 0, and C = −log 4 exactly (JSD = 0)."""
    q = dn.quadrature(p)
    x = q.x[p.pdf(q.x) > 0]
    np.testing.assert_allclose(dn.optimal_discriminator(p, p, x), 0.5, atol=1e-15)
    assert dn.criterion(p, p) == pytest.approx(-dn.LOG4, abs=1e-12)
    assert abs(dn.jsd(p, p)) < 1e-12


@given(p=densities(), q=densities())
def test_d_star_is_the_pointwise_maximiser(p, q):
    """Proposition 1 pointwise: at each x where both densities are positive, the library's
    D*(x) maximises y ↦ p(x) log y + q(x) log(1 − y) (the integrand of V): it beats a
    fine grid of y, the grid's best y is D*(x) to the grid's resolution, and the
    derivative p/y − q/(1 − y) vanishes there."""
    x = dn.quadrature(p, q).x
    only_p = (p.pdf(x) > 0) & (q.pdf(x) == 0)  # there f increases in y: D* = 1
    np.testing.assert_array_equal(dn.optimal_discriminator(p, q, x[only_p]), 1.0)
    both = (p.pdf(x) > 1e-3) & (q.pdf(x) > 1e-3)
    x = x[both][:: max(1, int(both.sum()) // 4)]
    y = np.linspace(1e-6, 1 - 1e-6, 20_001)
    for xi, y_star in zip(x, dn.optimal_discriminator(p, q, x)):
        a, b = float(p.pdf(np.array([xi]))[0]), float(q.pdf(np.array([xi]))[0])
        f = dn.pointwise_objective(y, a, b)
        f_star = float(dn.pointwise_objective(np.array([y_star]), a, b)[0])
        assert f_star >= f.max() - 1e-9 * max(1.0, abs(f_star))
        assert abs(y[np.argmax(f)] - y_star) <= 1.01 * (y[1] - y[0])
        assert abs(a / y_star - b / (1 - y_star)) <= 1e-9 * (a / y_star)
