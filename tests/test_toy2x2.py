"""The 2×2 slanted-faces toy: exact reproduction, hand formulas, and what it learns."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tinygan import backend, cli
from tinygan.data import faces
from tinygan.experiments import toy2x2 as toy
from tinygan.losses import bce_with_logits
from tinygan.train import update_g


@pytest.fixture(scope="module")
def faithful():
    return toy.train("faithful")


def test_initial_parameters_and_first_noise_follow_the_original_draw_order():
    G, D = toy.build(backend.legacy_random_state(42))
    params = toy.parameters(G, D)
    for k, v in toy.INITIAL.items():
        np.testing.assert_allclose(params[k], v, atol=1e-4, err_msg=k)
    # D's step on the first face draws nothing, so z is the first draw after the 13 normals
    rs = backend.legacy_random_state(42)
    toy.build(rs)
    assert abs(rs.rand() - toy.FIRST_Z) < 1e-4


def test_faithful_run_reproduces_the_published_parameters(faithful):
    for k, v in toy.PUBLISHED.items():
        np.testing.assert_allclose(faithful.final[k], v, atol=1e-3, err_msg=k)


def test_hand_formulas_give_the_same_run():
    hand = toy.train("hand")
    ref = toy.train("faithful", num_epochs=1000)
    for k in toy.PUBLISHED:
        np.testing.assert_allclose(hand.final[k], ref.final[k], rtol=0, atol=1e-10, err_msg=k)


def _library_gradients(params, face, z):
    """The three gradients of one step computed by Dense/Sigmoid/BCE backprop."""
    rs = backend.legacy_random_state(0)
    G, D = toy.build(rs)
    D[0].params["W"][:, 0] = params["D.w"]
    D[0].params["b"][:] = params["D.b"]
    G[0].params["W"][0, :] = params["G.w"]
    G[0].params["b"][:] = params["G.b"]
    x = np.asarray(face, dtype="float64")[None]
    out = {}
    for name, inp, label in (("D_real", x, 1.0), ("D_fake", toy.generate(G, np.full((1, 1), z)),
                                                   0.0)):
        D.zero_grad()
        a = D.forward(inp)
        _, da = bce_with_logits(a, np.full_like(a, label))
        D.backward(da)
        out[name] = (D[0].grads["W"][:, 0].copy(), D[0].grads["b"][0])

    class Keep:  # capture G's grads without stepping
        def step(self):
            out["G"] = (G[0].grads["W"][0].copy(), G[0].grads["b"].copy())

    update_g(G, D, np.full((1, 1), z), Keep(), "nonsaturating")
    return out


@pytest.mark.parametrize("epochs", [0, 3, 200])
def test_library_pieces_equal_the_lecture_formulas(epochs):
    """Dense + Sigmoid + BCE backprop gives the lecture's four formulas to 1e-12."""
    params = toy.train("faithful", num_epochs=epochs).final if epochs else \
        toy.parameters(*toy.build(backend.legacy_random_state(42)))
    gen = np.random.default_rng(epochs)
    for face in backend.to_numpy(faces()):
        z = float(gen.random())
        hand = toy.hand_gradients(params, face, z)
        lib = _library_gradients(params, face, z)
        for key in ("D_real", "D_fake", "G"):
            for h, l in zip(hand[key], lib[key]):
                np.testing.assert_allclose(l, h, rtol=1e-12, atol=1e-14, err_msg=key)


def test_discriminator_ends_at_one_half(faithful):
    s = toy.summary(faithful)
    assert max(abs(d - 0.5) for d in s["D_on_fakes"]) < 0.01
    assert all(0.44 < d < 0.53 for d in s["D_on_faces"])
    assert abs(s["final_epoch_loss_D"] - 2 * np.log(2)) < 0.1
    assert abs(s["final_epoch_loss_G"] - np.log(2)) < 0.01


def test_the_generator_makes_faces_and_nearly_ignores_z(faithful):
    z = np.linspace(0, 1, 21)[:, None]
    g = backend.to_numpy(toy.generate(faithful.G, z))
    assert (g[:, [0, 3]] > 0.9).all(), "the '\\' diagonal must be dark"
    assert (g[:, [1, 2]] < 0.1).all(), "the '/' diagonal must be light"
    assert (g.max(0) - g.min(0)).max() < 0.06  # a small mode collapse: G ignores z
    np.testing.assert_allclose(g[0], [0.92, 0.03, 0.05, 0.94], atol=0.01)   # papers.md §8
    np.testing.assert_allclose(g[-1], [0.96, 0.03, 0.03, 0.97], atol=0.01)


def test_history_logs_the_true_losses(faithful):
    h = faithful.history.as_arrays()
    assert len(h["loss_D"]) == 5 * toy.NUM_EPOCHS
    # the true D loss equals −log D(x) − log(1 − D(G(z))) from the logged probabilities
    np.testing.assert_allclose(h["loss_D"], -np.log(h["D_real"]) - np.log1p(-h["D_fake"]),
                               rtol=1e-10)


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown mode 'magic'"):
        toy.train("magic")


def test_cli_prints_the_summary_and_writes_figures(tmp_path, capsys):
    assert cli.main(["toy2x2", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "largest difference from the published parameters" in out
    assert "D on G(z)" in out
    for name in ("faces.png", "losses.png", "d_outputs.png", "g_over_z.png"):
        assert (tmp_path / name).stat().st_size > 5000
    assert "(D can no longer tell;" in out
    s = json.loads((tmp_path / "toy2x2.json").read_text())
    assert s["max_abs_diff_vs_published"] < 1e-3


def test_cli_after_one_epoch_does_not_claim_that_d_can_no_longer_tell(tmp_path, capsys):
    assert cli.main(["toy2x2", "--epochs", "1", "--out", str(tmp_path), "--no-progress",
                     "--no-animation"]) == 0
    out = capsys.readouterr().out
    assert "can no longer tell" not in out and "(D still tells them apart:" in out


def test_help_lists_the_experiments():
    res = subprocess.run([sys.executable, "-m", "tinygan", "--help"], capture_output=True,
                         text=True, check=True)
    for name in cli.EXPERIMENTS:
        assert name in res.stdout
    assert "demo" in res.stdout
