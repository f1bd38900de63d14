"""`tinygan stylegan`: the measures mean what they say; the command runs and resumes bit for bit.

The default budget's target (mixing_label_follows_coarse ≥ 0.9) takes minutes and is
measured by the command itself (README); here a tiny configuration runs once and is then
resumed after a Ctrl-C, and the measures are checked on generators whose answer is known.
"""

import json

import numpy as np
import pytest

from tinygan import backend
from tinygan.cli import main as cli_main
from tinygan.experiments import stylegan as experiment
from tinygan.experiments import stylegan_report as R
from tinygan.gans import stylegan as sg
from tinygan.metrics import DigitClassifier
from tinygan.models.stylegan import StyleGenerator


def _g(seed=0):
    G = StyleGenerator(latent_dim=4, w_dim=4, mapping_layers=2, channels=(4, 3),
                       rng=backend.rng(seed))
    gen = np.random.default_rng(seed)
    for k, p in G.params.items():
        if "noise" in k or k.endswith(".b"):
            p[...] = gen.normal(0, 0.5, p.shape)
    return G


def _silence(G, slots):
    """Zero the AdaIN affine maps of ``slots``: their styles then change nothing."""
    for i in slots:
        ada = G.synthesis.style_layers[i].adain
        ada.params["W"][...] = 0
        ada.params["b"][...] = 0


def test_mixing_scores_follow_whichever_slots_carry_the_style():
    """With the fine styles silenced a mix *is* its coarse source (share 1 exactly); with the
    coarse ones silenced it is its fine source; any classifier then agrees."""
    clf = DigitClassifier(64, rng=backend.rng(3))  # untrained: a fixed function of the image
    G = _g()
    _silence(G, [2, 3])
    s = R.mixing_scores(G, clf, 300, backend.rng(1))
    assert s["pairs"] > 20, s  # the labels of A and B differ often enough to measure
    assert s["follows_coarse"] == 1.0 and s["follows_fine"] == 0.0
    assert s["follows_coarse_reversed"] == 1.0 and s["follows_fine_reversed"] == 0.0
    G = _g()
    _silence(G, [0, 1])
    s = R.mixing_scores(G, clf, 300, backend.rng(1))
    assert s["follows_coarse"] == 0.0 and s["follows_fine"] == 1.0


def test_noise_effect_is_zero_without_noise_and_grows_with_it():
    G = _g()
    for layer in G.synthesis.style_layers:
        layer.noise.params["weight"][...] = 0
    quiet = R.noise_effect(G, 4, 5, backend.rng(0))
    assert quiet["pixel_std_noise"] == 0.0 and quiet["pixel_std_style"] > 0.01
    assert quiet["images"].shape == (4, 5, 1, 8, 8) and quiet["std_maps"].shape == (4, 8, 8)
    for layer in G.synthesis.style_layers:
        layer.noise.params["weight"][...] = 1.0
    assert R.noise_effect(G, 4, 5, backend.rng(0))["pixel_std_noise"] > 0.01


def test_truncation_table_goes_to_the_mean_image_at_psi_zero():
    G = _g()
    G.w_avg[...] = np.random.default_rng(0).normal(0, 1, G.w_dim)
    for layer in G.synthesis.style_layers:
        layer.noise.params["weight"][...] = 0  # no noise: ψ = 0 gives one image
    t = R.truncation_table(G, 5, backend.rng(0), psis=(1.0, 0.0))
    assert t.shape == (5, 2, 1, 8, 8)
    np.testing.assert_allclose(t[:, 1], np.broadcast_to(t[:1, 1], t[:, 1].shape), atol=1e-6)
    assert np.abs(t[:, 0] - t[:1, 0]).max() > 1e-3  # ψ = 1: the samples differ


def test_mapping_change_is_zero_at_start_and_small_for_the_slow_mapping():
    G, G0 = _g(), _g()
    assert R.mapping_change(G, G0) == {"mapping": 0.0, "synthesis": 0.0}


# -- the command, tiny: run once, then interrupted and resumed ------------------------------------
ARGS = ["--quick", "--steps", "6", "--batch-size", "4", "--no-progress", "--no-dcgan"]


def _cli(out, *extra):
    return cli_main(["stylegan", "--out", str(out)] + ARGS + list(extra))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("stylegan") / "ref"
    assert _cli(out) == 0
    return out


def test_cli_writes_figures_checkpoint_and_the_results_the_issue_names(reference):
    out = reference
    for name in ("samples.png", "style_mixing.png", "truncation.png", "noise.png", "losses.png",
                 "mixing_curve.png", "samples.gif", "checkpoint.npz", "results.json",
                 "run.json"):
        assert (out / name).exists(), name
    res = json.loads((out / "results.json").read_text())
    for key in ("mixing_label_follows_coarse", "mixing_label_follows_fine",
                "mixing_label_follows_coarse_reversed", "noise_pixel_std",
                "mapping_relative_change", "truncation", "is_fid", "targets",
                "mixing_over_training"):
        assert key in res, key
    assert res["steps"] == 6 and set(res["scores"]) == {"real", "stylegan", "noise"}
    assert sorted(map(int, res["mixing_over_training"])) == list(range(7))  # steps 0…6
    # the shares are counts over the reported pairs (a ≠ b, so a mixed image is labelled
    # a or b or neither), and the target verdict is the one its value implies
    n = res["mixing_pairs"]
    assert n > 0
    counts = [res[f"mixing_label_follows_{k}"] * n for k in ("coarse", "fine")]
    assert all(abs(c - round(c)) < 1e-9 for c in counts) and sum(counts) <= n + 1e-9, counts
    t = res["targets"]["mixing_label_follows_coarse"]
    assert t["value"] == res["mixing_label_follows_coarse"]
    assert t["met"] == (t["value"] >= t["target"])
    assert res["noise_pixel_std"] > 0  # six Adam steps moved the noise strengths off 0
    # the lr multiplier at work: the mapping's weights moved ~100× less than the synthesis'
    assert 0 < res["mapping_relative_change"] < res["synthesis_relative_change"] / 20
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "completed" and rec["last_step"] == 6


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__meta__"}


def test_resume_after_ctrl_c_is_bit_identical(reference, tmp_path, monkeypatch, capsys):
    import signal

    real_fit = sg.fit_stylegan

    def fit_with_ctrl_c(*a, callback=None, **kw):
        def cb(step, history):
            if step == 2:
                signal.raise_signal(signal.SIGINT)
            callback(step, history)
        return real_fit(*a, callback=cb, **kw)

    monkeypatch.setattr(experiment.sg, "fit_stylegan", fit_with_ctrl_c)
    out = tmp_path / "run"
    assert _cli(out, "--checkpoint-every", "100") == 130
    err = capsys.readouterr().err
    assert err == f"interrupted at step 3 of 6; resume with: tinygan stylegan --out {out} " \
                  "--resume\n"
    monkeypatch.undo()
    assert cli_main(["stylegan", "--out", str(out), "--resume", "--no-progress"]) == 0
    a, b = _arrays(reference / "checkpoint.npz"), _arrays(out / "checkpoint.npz")
    assert set(a) == set(b) and any("w_avg" in k for k in a) and any("/m" in k for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # bit for bit
    ra, rb = (json.loads((p / "results.json").read_text()) for p in (reference, out))
    for r in (ra, rb):
        r.pop("seconds")
        r.pop("train_seconds")
    assert ra == rb


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["stylegan", "--out", str(tmp_path / "a"), "--mixing-prob", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "probability in [0, 1]" in err
    assert cli_main(["stylegan", "--out", str(tmp_path / "b"), "--steps", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
