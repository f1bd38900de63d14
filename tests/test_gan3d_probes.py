"""tools/gan3d_probes.py: each probe changes the one piece it names, and scores like the run."""

import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend
from tinygan import train as T
from tinygan.experiments import gan3d as E
from tinygan.gans import stylegan as sg
from tinygan.gradcheck import numerical_grad
from tinygan.models.gan3d import gan3d_pair

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import gan3d_probes as P  # noqa: E402

from .test_cgan import Recorder as Recording  # records the gradients, changes nothing

TINY = {**E.QUICK, "steps": 2, "train_shapes": 64, "judge_shapes": 160, "eval_size": 40,
        "batch_size": 8}


def _d64():
    _, D, _ = gan3d_pair(width=2, seed=0, dtype="float64")
    return P.without_batchnorm(D)


def test_without_batchnorm_keeps_the_other_layers_in_order():
    _, D, _ = gan3d_pair(width=2, seed=0)
    kept = P.without_batchnorm(D)
    assert [type(layer) for layer in kept.layers] == \
        [type(layer) for layer in D.layers if not isinstance(layer, tg.BatchNorm)]
    assert len(kept.layers) == len(D.layers) - 2 and kept.layers[0] is D.layers[0]


def test_r1_step_adds_the_penalty_gradient_of_the_last_real_batch():
    D = _d64()
    x = np.random.default_rng(0).uniform(0, 1, (3, 1, 16, 16, 16))
    D.zero_grad()
    sg.r1_penalty(D, x, 10.0)
    expected = {k: g.copy() for k, g in D.grads.items()}
    D.zero_grad()
    rec = Recording(D)
    P.R1Step(rec, D, 10.0, {"x": x}).step()
    assert any(np.abs(g).max() > 0 for g in rec.seen.values())
    for k in expected:
        np.testing.assert_allclose(rec.seen[k], expected[k], rtol=1e-12, atol=0, err_msg=k)
    assert P.R1Step(rec, D, 10.0, {}).zero_grad is not None  # the rest goes to the optimizer


def test_instance_noise_has_the_scheduled_size_and_an_identity_backward():
    clock = {"step": 0}
    layer = P.InstanceNoise(0.2, 100, clock, backend.rng(0))
    x = np.zeros((4, 1, 16, 16, 16))
    assert np.std(layer.forward(x)) == pytest.approx(0.2, rel=0.02)
    clock["step"] = 75
    assert layer.sigma() == pytest.approx(0.05)
    assert np.std(layer.forward(x)) == pytest.approx(0.05, rel=0.02)
    dout = np.ones_like(x)
    assert layer.backward(dout) is dout
    layer.eval()
    assert layer.forward(x) is x
    layer.train()
    clock["step"] = 100
    assert layer.forward(x) is x  # σ has reached 0


def test_smoothing_changes_only_d_s_real_target():
    G, D, _ = gan3d_pair(width=2, seed=0, dtype="float64")
    gen = np.random.default_rng(1)
    x, z = gen.uniform(0, 1, (4, 1, 16, 16, 16)), gen.standard_normal((4, 200))

    def d_loss(patches):
        with patches[0] if patches else contextlib.nullcontext():
            return float(T.update_d(G, D, x, z, Recording(D))["loss_D"])

    def logits():
        with tg.no_grad(G), tg.no_grad(D):
            return D.forward(x), D.forward(G.forward(z))

    real, fake = logits()
    plain = d_loss([])
    smoothed = d_loss(P.patches("smooth", 2, target=0.9))
    assert plain == pytest.approx(float(T.bce_with_logits(real, 1)[0]
                                        + T.bce_with_logits(fake, 0)[0]), rel=1e-9)
    assert smoothed == pytest.approx(float(T.bce_with_logits(real, 0.9)[0]
                                           + T.bce_with_logits(fake, 0)[0]), rel=1e-9)
    assert abs(smoothed - plain) > 1e-3


@pytest.mark.parametrize("probe", ["r1", "noise"])
def test_the_probes_train_the_changed_networks(probe):
    result, rows = P.run(probe, TINY, seed=0)
    assert rows is None and len(result.history) == TINY["steps"]
    layers = result.D.layers
    assert not any(isinstance(layer, tg.BatchNorm) for layer in layers) == (probe == "r1")
    assert isinstance(layers[0], P.InstanceNoise) == (probe == "noise")
    if probe == "noise":
        assert layers[0].sigma() == 0  # the clock followed G's steps to the end
    # the patches are gone afterwards: the command builds its own D again
    _, D, _ = E.gan3d_pair(width=2, seed=0)
    assert any(isinstance(layer, tg.BatchNorm) for layer in D.layers)


def test_truncation_rows_start_from_the_runs_own_score():
    result, rows = P.run("truncation", TINY, seed=0)
    assert [r["psi"] for r in rows] == list(P.PSIS)
    # ψ = 1 draws exactly the run's samples and scores them with the run's judge
    assert rows[0]["inception_score"] == pytest.approx(
        result.scores["gan3d"]["inception_score"], rel=1e-9)
    assert rows[0]["ratio"] == pytest.approx(result.is_ratio_to_real, rel=1e-9)
    # and against the reference statistics train() used
    assert rows[0]["fid"] == pytest.approx(result.scores["gan3d"]["fid"], rel=1e-9)
    assert len({round(r["fid"], 6) for r in rows}) > 1  # ψ changes the samples


def test_unknown_probe():
    with pytest.raises(ValueError, match="unknown probe 'x'; expected one of"):
        P.patches("x", 2)


def _closed_forms(probe):
    """The probes' losses as formulas: D's on a real batch, on a fake batch, and G's."""
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    if probe == "lsgan":
        return (lambda a: 0.5 * np.mean((a - 1) ** 2), lambda a: 0.5 * np.mean(a ** 2),
                lambda a: np.mean((a - 1) ** 2))
    return (lambda a: np.mean(relu(1 - a)), lambda a: np.mean(relu(1 + a)),
            lambda a: -np.mean(a))


@pytest.mark.parametrize("probe", ["lsgan", "hinge"])
def test_loss_probes_have_their_formulas_and_gradients(probe):
    a = np.random.default_rng(0).uniform(-2.5, 2.5, (9, 1))  # away from the hinge's kinks
    a = a[np.abs(np.abs(a) - 1) > 1e-3].reshape(-1, 1)
    d_loss, g_loss = P.LOSSES[probe]
    real, fake, gen = _closed_forms(probe)
    cases = [(lambda v: d_loss(v, 1), real), (lambda v: d_loss(v, 0), fake),
             (lambda v: g_loss(v), gen)]
    for fn, formula in cases:
        loss, grad = fn(a)
        assert float(loss) == pytest.approx(formula(a), rel=1e-12)
        b = a.copy()  # numerical_grad perturbs its array in place
        np.testing.assert_allclose(grad, numerical_grad(lambda f=formula, b=b: f(b), b, h=1e-6),
                                   rtol=1e-6, atol=1e-9)
    loss, grad, mean_prob = g_loss(a, "nonsaturating", mean_prob=True)
    assert float(mean_prob) == pytest.approx(np.mean(1 / (1 + np.exp(-a))), rel=1e-12)
    with pytest.raises(ValueError, match="targets 1 and 0, got 0.9"):
        d_loss(a, 0.9)


@pytest.mark.parametrize("probe", ["lsgan", "hinge"])
def test_loss_probes_replace_both_players_losses_in_the_trainer(probe):
    G, D, _ = gan3d_pair(width=2, seed=0, dtype="float64")
    gen = np.random.default_rng(1)
    x, z = gen.uniform(0, 1, (4, 1, 16, 16, 16)), gen.standard_normal((4, 200))
    with tg.no_grad(G), tg.no_grad(D):
        real, fake = D.forward(x), D.forward(G.forward(z))
    f_real, f_fake, f_gen = _closed_forms(probe)
    with contextlib.ExitStack() as stack:
        for p in P.patches(probe, 2):
            stack.enter_context(p)
        loss_D = float(T.update_d(G, D, x, z, Recording(D))["loss_D"])
        loss_G = float(T.update_g(G, D, z, Recording(G))["loss_G"])
    assert loss_D == pytest.approx(f_real(real) + f_fake(fake), rel=1e-9)
    # Recording changes nothing, so D is as it was: G's loss is on the same fake logits
    assert loss_G == pytest.approx(f_gen(fake), rel=1e-9)
    plain = float(T.update_d(G, D, x, z, Recording(D))["loss_D"])  # the patches are gone
    assert plain == pytest.approx(float(T.bce_with_logits(real, 1)[0]
                                        + T.bce_with_logits(fake, 0)[0]), rel=1e-9)
