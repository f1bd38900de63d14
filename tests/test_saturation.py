"""The three generator costs of the NIPS 2016 tutorial, and the saturation experiment.

derivations/04_generator_losses.md#how-the-tests-verify-this lists what each test checks.
"""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import backend, losses
from tinygan.experiments import saturation
from tinygan.gradcheck import check_function

from .conftest import needs_torch

COSTS = saturation.COSTS
seeds = st.integers(0, 2**31 - 1)


def _logit(d):
    d = np.asarray(d, dtype="float64")
    return np.log(d) - np.log1p(-d)


# --- the costs ------------------------------------------------------------------------------

@pytest.mark.parametrize("cost", COSTS)
@given(n=st.integers(1, 8), cols=st.integers(1, 3), scale=st.floats(0.5, 12.0), seed=seeds)
def test_generator_cost_gradcheck(xp, cost, n, cols, scale, seed):
    # float64 central differences over drawn batch shapes and logit ranges (|a| ≤ 12, so
    # D(G(z)) spans 6e-6 … 1 − 6e-6: both the saturated and the confident ends).
    gen = np.random.default_rng(seed)
    a = xp.asarray(gen.uniform(-scale, scale, (n, cols)))
    report = check_function(losses.GENERATOR_LOSSES[cost], a, names=["d_logits"], title=cost)
    assert report.max_rel_error < 1e-6, str(report)


def test_maximum_likelihood_is_registered_for_the_trainer():
    assert losses.GENERATOR_LOSSES["maximum_likelihood"] is \
        losses.generator_loss_maximum_likelihood
    assert "generator_loss_maximum_likelihood" in losses.__all__
    a = np.array([[0.3], [-2.0]])
    np.testing.assert_array_equal(losses.generator_loss(a, "maximum_likelihood")[1],
                                  losses.generator_loss_maximum_likelihood(a)[1])


@pytest.mark.parametrize("d", [0.001, 0.01, 0.5, 0.9])
def test_per_sample_gradients_match_the_tutorial(d):
    # papers.md §3: dJ/da per sample is −D (minimax), −(1 − D) (non-saturating),
    # −D/(1 − D) (maximum likelihood). With a batch of n equal logits our mean-reduced
    # gradient is that value / n.
    n = 3
    a = np.full((n, 1), _logit(d))
    expected = {"minimax": -d, "nonsaturating": -(1 - d), "maximum_likelihood": -d / (1 - d)}
    for cost in COSTS:
        _, grad = losses.GENERATOR_LOSSES[cost](a)
        np.testing.assert_allclose(grad * n, expected[cost], rtol=1e-12, err_msg=cost)


def test_tutorial_values_at_one_in_a_thousand():
    # the numbers papers.md quotes at D(G(z)) = 0.001, to their three decimals
    a = np.array([[_logit(0.001)]])
    got = {c: float(losses.GENERATOR_LOSSES[c](a)[1][0, 0]) for c in COSTS}
    assert round(got["minimax"], 3) == -0.001
    assert round(got["nonsaturating"], 3) == -0.999
    assert round(got["maximum_likelihood"], 3) == -0.001
    # the full values: ML is −0.001/0.999 = −0.001001…, not exactly −0.001
    assert got["maximum_likelihood"] == pytest.approx(-1 / 999, rel=1e-12)


@given(d=st.lists(st.floats(1e-6, 1 - 1e-6), min_size=1, max_size=6))
def test_costs_are_twice_the_tutorials(d):
    # our costs are plain means; the tutorial's J(G) carry a ½ (derivation, "Scaling")
    d = np.asarray(d)
    a = _logit(d).reshape(-1, 1)
    tutorial = {"minimax": 0.5 * np.log1p(-d).mean(),
                "nonsaturating": -0.5 * np.log(d).mean(),
                "maximum_likelihood": -0.5 * (d / (1 - d)).mean()}
    for cost in COSTS:
        value = float(losses.GENERATOR_LOSSES[cost](a)[0])
        np.testing.assert_allclose(value, 2 * tutorial[cost], rtol=1e-9, atol=1e-12,
                                   err_msg=cost)


def test_costs_at_extreme_logits():
    # warnings are errors under pytest: an overflow in exp would fail here
    a = np.array([[1000.0], [-1000.0], [0.0], [-1000.0]])
    for cost in ("minimax", "nonsaturating"):
        value, grad = losses.GENERATOR_LOSSES[cost](a)
        assert np.isfinite(value) and np.isfinite(grad).all(), cost
    np.testing.assert_allclose(losses.generator_loss_minimax(a)[0], -(1000 + np.log(2)) / 4)
    np.testing.assert_allclose(losses.generator_loss_nonsaturating(a)[0],
                               (2000 + np.log(2)) / 4)
    # maximum likelihood at a = −1000: e^a underflows to 0, the correct limit
    value, grad = losses.generator_loss_maximum_likelihood(np.array([[-1000.0], [0.0]]))
    assert value == -0.5 and grad.tolist() == [[-0.0], [-0.5]]


def test_maximum_likelihood_overflow_is_a_clear_error():
    # −e^1000 is not a float: a documented error, not −inf
    with pytest.raises(ValueError, match=r"generator_loss_maximum_likelihood: exp\(logit\) "
                       r"overflows float64: the largest logit is 1000.0, the limit is 709.78"):
        losses.generator_loss_maximum_likelihood(np.array([[1000.0], [-1000.0]]))
    with pytest.raises(ValueError, match="overflows float32: the largest logit is 89.0, "
                                         "the limit is 88.72"):
        losses.generator_loss_maximum_likelihood(np.array([[89.0]], dtype="float32"))
    with pytest.raises(ValueError, match="largest logit is nan"):
        losses.generator_loss_maximum_likelihood(np.array([[np.nan]]))
    # just under the limits everything is finite, and so is the mean of a batch of them
    for dtype, a_max in (("float64", 709.78), ("float32", 88.72)):
        value, grad = losses.generator_loss_maximum_likelihood(np.full((5, 1), a_max, dtype))
        assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == dtype
    with pytest.raises(ValueError, match="floating-point"):
        losses.generator_loss_maximum_likelihood(np.array([[1, 2]]))


def test_maximum_likelihood_overflow_check_follows_backend_checks():
    # with checks off (a GPU inner loop: no device→host read) the overflow is a −inf loss,
    # which the trainer's finiteness check turns into TrainingDiverged
    a = np.array([[1000.0], [0.0]])
    with backend.checks(False), np.errstate(over="ignore"):
        value, grad = losses.generator_loss_maximum_likelihood(a)
    assert value == -np.inf and grad[0, 0] == -np.inf and grad[1, 0] == -0.5


@needs_torch
@pytest.mark.torch
def test_generator_costs_match_torch_autograd():
    import torch

    a = np.random.default_rng(0).uniform(-15, 15, (9, 1))
    torch_costs = {
        "minimax": lambda t: torch.log1p(-torch.sigmoid(t)).mean(),
        "nonsaturating": lambda t: -torch.nn.functional.logsigmoid(t).mean(),
        "maximum_likelihood": lambda t: -torch.exp(torch.logit(torch.sigmoid(t))).mean(),
    }
    for cost in COSTS:
        t = torch.tensor(a, requires_grad=True)
        value = torch_costs[cost](t)
        value.backward()
        ours, grad = losses.GENERATOR_LOSSES[cost](a)
        np.testing.assert_allclose(ours, value.item(), rtol=1e-6, err_msg=cost)
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-6, atol=1e-12, err_msg=cost)


def test_cost_curves_come_from_the_losses():
    d = np.array([1e-4, 0.001, 0.5, 0.9])
    curves = saturation.cost_curves(d)
    np.testing.assert_allclose(curves["minimax"][0], np.log1p(-d), rtol=1e-10)
    np.testing.assert_allclose(curves["nonsaturating"][0], -np.log(d), rtol=1e-10)
    np.testing.assert_allclose(curves["maximum_likelihood"][0], -d / (1 - d), rtol=1e-10)
    np.testing.assert_allclose(curves["maximum_likelihood"][1], -d / (1 - d), rtol=1e-10)


# --- the experiment ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_result():
    return saturation.run(saturation.Config.quick(seed=0))


def test_discriminator_starts_confident(quick_result):
    assert quick_result.D_fake_start < 1e-3
    assert quick_result.D_real_start > 0.999


def test_every_run_starts_from_the_same_point(quick_result):
    runs = list(quick_result.runs.values())
    assert len(runs) == 6
    for r in runs[1:]:
        assert r.params[0] == runs[0].params[0] and r.mean_G[0] == runs[0].mean_G[0]
    # the same D and the same first noise batch: minimax and ML see the same first D(G(z))
    for mode in saturation.D_MODES:
        first = {c: quick_result.runs[(mode, c)].D_fake[0] for c in COSTS}
        assert first["minimax"] == first["nonsaturating"] == first["maximum_likelihood"]


@pytest.mark.parametrize("d_mode", saturation.D_MODES)
@pytest.mark.parametrize("stalled", ["minimax", "maximum_likelihood"])
def test_saturating_costs_stall_where_nonsaturating_moves(quick_result, d_mode, stalled):
    # seed 0, the first 50 G steps. Measured: gradient-norm ratio 96 (frozen) and 653
    # (trained) for minimax, 71 and 640 for ML; distance ratios about the same.
    # Asserted with a wide margin: both ratios > 20.
    w = quick_result.config.window
    ns = quick_result.runs[(d_mode, "nonsaturating")].summary(w)
    st_ = quick_result.runs[(d_mode, stalled)].summary(w)
    assert ns["mean_grad_norm"] / st_["mean_grad_norm"] > 20, (ns, st_)
    assert ns["distance"] / st_["distance"] > 20, (ns, st_)
    # in numbers a reader can picture: the non-saturating G covered over half of the
    # 4-unit gap to the data mean; the stalled one moved less than 0.05
    assert ns["mean_G_shift"] > 2.0, ns
    assert abs(st_["mean_G_shift"]) < 0.05, st_
    assert st_["diverged_at"] is None or st_["diverged_at"] > w


def test_quick_and_full_modes_report_the_same_window(quick_result):
    # the table's numbers depend only on the first `window` steps, not on --quick
    cfg = saturation.Config(seed=0, num_steps=quick_result.config.window)
    again = saturation.run(cfg, costs=("minimax",), d_modes=("trained",))
    a = again.runs[("trained", "minimax")].summary(cfg.window)
    b = quick_result.runs[("trained", "minimax")].summary(cfg.window)
    assert a["mean_grad_norm"] == b["mean_grad_norm"] and a["distance"] == b["distance"]


def test_cli_writes_table_figures_and_json(tmp_path, capsys):
    from tinygan import cli

    assert cli.main(["saturation", "--out", str(tmp_path), "--quick", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "non-saturating / minimax" in out and "maximum_likelihood" in out
    for name in ("costs.png", "grad_norms.png", "generated.png", "saturation.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    data = json.loads((tmp_path / "saturation.json").read_text())
    assert {s["cost"] for s in data["summary"]} == set(COSTS)
    assert data["config"]["num_steps"] == saturation.Config.quick().num_steps
    assert "saturation" in cli.EXPERIMENTS and "saturation" in cli.DEMO


def test_bad_d_mode():
    G, D = saturation.make_models(saturation.Config.quick())
    with pytest.raises(ValueError, match="d_mode must be one of"):
        saturation.train_generator(G, D, "minimax", "unrolled", saturation.Config.quick())
