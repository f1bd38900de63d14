"""Sample-quality measures on inputs whose answer is known, and the digit classifier behind them."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import metrics as M
from tinygan.data.digits import load_digits, train_test_split


# -- Inception-style score -------------------------------------------------------------------
@given(k=st.integers(2, 12), reps=st.integers(1, 5))
def test_is_of_confident_uniform_predictions_is_the_number_of_classes(k, reps):
    probs = np.tile(np.eye(k), (reps, 1))  # every class equally often, each one-hot
    assert M.inception_score(probs) == pytest.approx(k, rel=1e-12)


@given(k=st.integers(2, 12), c=st.integers(0, 11), n=st.integers(1, 20))
def test_is_of_a_single_class_is_one(k, c, n):
    probs = np.zeros((n, k))
    probs[:, c % k] = 1.0
    assert M.inception_score(probs) == pytest.approx(1.0, abs=1e-12)


def test_is_of_undecided_predictions_is_one():
    assert M.inception_score(np.full((7, 10), 0.1)) == pytest.approx(1.0, abs=1e-12)


@given(k=st.integers(2, 10), n=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_is_lies_between_one_and_k_and_matches_its_definition(k, n, seed):
    p = np.random.default_rng(seed).dirichlet(np.full(k, 0.3), size=n)
    p = np.clip(p, 1e-300, None)
    p /= p.sum(axis=1, keepdims=True)
    py = p.mean(axis=0)
    by_loop = np.exp(np.mean([sum(pi[j] * np.log(pi[j] / py[j]) for j in range(k)) for pi in p]))
    s = M.inception_score(p)
    assert 1 - 1e-9 <= s <= k + 1e-9
    assert s == pytest.approx(by_loop, rel=1e-9)


@given(k=st.integers(2, 10), n=st.integers(1, 30), seed=st.integers(0, 2**16),
       alpha=st.floats(0.05, 5.0))
def test_is_factors_into_diversity_and_confidence(k, n, seed, alpha):
    # log IS = H(p(y)) − mean_n H(p(y|x_n)), each entropy summed term by term here
    p = np.random.default_rng(seed).dirichlet(np.full(k, alpha), size=n)
    py = p.mean(axis=0)
    h_marginal = -sum(q * np.log(q) for q in py if q > 0)
    h_rows = np.mean([-sum(q * np.log(q) for q in row if q > 0) for row in p])
    parts = M.inception_score_parts(p)
    assert parts["diversity"] == pytest.approx(np.exp(h_marginal), rel=1e-12)
    assert parts["confidence"] == pytest.approx(np.exp(-h_rows), rel=1e-12)
    assert parts["inception_score"] == pytest.approx(M.inception_score(p), rel=1e-9)
    assert 1 - 1e-12 <= parts["diversity"] <= k * (1 + 1e-12)
    assert 1 / k * (1 - 1e-12) <= parts["confidence"] <= 1 + 1e-12


def test_is_of_sharp_but_uneven_samples_is_their_diversity():
    # one-hot rows: confidence 1, IS = exp H(class shares) < K (the docstring's example)
    parts = M.inception_score_parts(np.eye(4)[[0, 0, 1, 2]])
    assert parts["confidence"] == 1.0
    assert parts["diversity"] == pytest.approx(2 * np.sqrt(2), rel=1e-12)
    with pytest.raises(ValueError, match=r"shape \(N, K\), got \(4,\)"):
        M.inception_score_parts(np.ones(4) / 4)


def test_the_docstring_examples_of_the_scores_hold():
    import doctest

    result = doctest.testmod(M, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


def test_is_rejects_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        M.inception_score(np.ones(10) / 10)


# -- Fréchet distance ---------------------------------------------------------------------------
def test_frechet_distance_of_a_set_with_itself_is_zero(rng):
    f = rng.standard_normal((500, 8)) @ rng.standard_normal((8, 8))
    assert M.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)


@given(d=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_frechet_distance_of_shifted_sets_is_the_squared_shift(d, seed):
    gen = np.random.default_rng(seed)
    f = gen.standard_normal((200, d)) @ gen.standard_normal((d, d))
    delta = gen.standard_normal(d)
    # same covariance, means apart by delta: d² = ‖δ‖² exactly
    assert M.frechet_distance(f, f + delta) == pytest.approx(delta @ delta, rel=1e-7, abs=1e-8)


@given(d=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_frechet_of_commuting_gaussians_matches_the_closed_form(d, seed):
    gen = np.random.default_rng(seed)
    q, _ = np.linalg.qr(gen.standard_normal((d, d)))  # a shared eigenbasis
    a, b = gen.uniform(0.1, 3, d), gen.uniform(0.1, 3, d)
    mu_a, mu_b = gen.standard_normal(d), gen.standard_normal(d)
    cov_a, cov_b = (q * a) @ q.T, (q * b) @ q.T
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert M.frechet_from_stats(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected, rel=1e-8)


@given(d=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_frechet_trace_term_agrees_with_a_general_eigensolver(d, seed):
    """Non-commuting covariances: Tr((Σ_a Σ_b)^½) from the eigenvalues of the product itself."""
    gen = np.random.default_rng(seed)
    A, B = gen.standard_normal((d, d)), gen.standard_normal((d, d))
    cov_a, cov_b = A @ A.T + 0.1 * np.eye(d), B @ B.T + 0.1 * np.eye(d)
    lam = np.linalg.eigvals(cov_a @ cov_b)  # real and positive in exact arithmetic
    expected = np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(lam.real).sum()
    zero = np.zeros(d)
    assert M.frechet_from_stats(zero, cov_a, zero, cov_b) == pytest.approx(expected, rel=1e-7,
                                                                           abs=1e-9)


# -- class histogram and softmax --------------------------------------------------------------
def test_class_histogram_counts_argmax_labels():
    probs = np.eye(4)[[0, 2, 2, 3, 2]]
    assert M.class_histogram(probs).tolist() == [1, 0, 3, 1]
    assert M.class_histogram(probs, num_classes=6).tolist() == [1, 0, 3, 1, 0, 0]


def test_softmax_is_stable_for_large_logits():
    p = M.softmax(np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-12)


# -- the digit classifier and the calibration of papers.md §7 ----------------------------------
@pytest.fixture(scope="module")
def judged():
    x, y = load_digits()
    tr, te = train_test_split(y, seed=0)
    clf = M.train_digit_classifier(x[tr], y[tr], seed=0)
    ref = M.gaussian_stats(clf.features_and_probs(x[tr])[0])
    return x, y, tr, te, clf, ref


def test_digit_classifier_accuracy(judged):
    x, y, tr, te, clf, _ = judged
    assert clf.accuracy(x[te], y[te]) >= 0.95
    assert repr(clf) == "DigitClassifier(64→64→10)"


def test_real_digits_score_high_and_noise_scores_low(judged):
    """The scale a reader needs (papers.md §7: real IS ≈ 9, FID ≈ 0.16; noise IS 2.2, FID 40)."""
    x, y, tr, te, clf, ref = judged
    real = M.evaluate_samples(clf, x[te], ref)
    noise = M.evaluate_samples(clf, M.uniform_noise(len(te), (1, 8, 8), seed=0), ref)
    assert real["inception_score"] > 8.0 and real["fid"] < 0.5
    assert real["classes_present"] == 10
    assert noise["inception_score"] < 3.0 and noise["fid"] > 10.0
    one_class = M.evaluate_samples(clf, x[te][np.asarray(y[te]) == 3], ref)
    assert one_class["inception_score"] < 2.0


def test_classifier_rejects_images_of_the_wrong_size(judged):
    clf = judged[4]
    with pytest.raises(ValueError, match="expected images with 64 values"):
        clf.predict(np.zeros((2, 1, 28, 28), dtype=np.float32))


def test_score_row_prints_is_fid_classes_and_the_histogram_aligned():
    from tinygan.metrics import score_row

    s = {"inception_score": 7.1049, "fid": 3.4762, "classes_present": 8,
         "histogram": [121, 5, 1000]}
    assert score_row("real", s, 8, 4) == "real       7.10     3.48   8/3      121    5 1000"
    assert score_row("x", s, 2, 3) == "x    7.10     3.48   8/3    121   5 1000"
