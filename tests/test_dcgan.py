"""The DCGAN: shapes and guidelines, a short training run, checkpoints, CLI.

Its gradients end to end, through update_d/update_g with BatchNorm in train mode, are
checked in tests/test_train.py (test_fit_on_a_dcgan_applies_the_gradient_of_each_steps_objective).
"""

import json

import numpy as np
import pytest

from tinygan import backend, no_grad
from tinygan.cli import main as cli_main
from tinygan.experiments import dcgan as experiment
from tinygan.layers import BatchNorm, Conv2d, ConvTranspose2d, LeakyReLU, ReLU, Tanh
from tinygan.models.dcgan import (
    dcgan_optimizers,
    dcgan_pair,
    load_checkpoint,
    model_state,
    save_checkpoint,
)
from tinygan.train import fit


@pytest.mark.parametrize("size, latent", [(8, 32), (28, 100)])
def test_dcgan_shapes_range_and_guidelines(xp, size, latent):
    G, D, cfg = dcgan_pair(size, seed=0)
    assert cfg["latent_dim"] == latent
    z = backend.rng(1).standard_normal((5, latent), dtype=xp.float32)
    x = G.forward(z)
    assert x.shape == (5, 1, size, size) and x.dtype == xp.float32
    logits = D.forward(x)
    assert logits.shape == (5, 1)
    # papers.md §6: no BatchNorm at G's output or D's input; ReLU/tanh in G, LeakyReLU(0.2) in D
    assert isinstance(G[-1], Tanh) and isinstance(G[-2], ConvTranspose2d)
    assert isinstance(D[0], Conv2d) and isinstance(D[1], LeakyReLU) and D[1].alpha == 0.2
    assert any(isinstance(layer, BatchNorm) for layer in G) and isinstance(D[3], BatchNorm)
    assert sum(isinstance(layer, ReLU) for layer in G) == 2
    w = backend.to_numpy(G[4].params["W"])
    assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002  # N(0, 0.02²) init


def test_a_short_training_run_teaches_d_and_moves_g():
    """25 steps, seed 0: D separates real from fake (mean D(x) − D(G(z)) over the last 5
    steps measured 0.26, from 0 at the start), and G's eval-mode samples (which use the
    running statistics) are no longer the near-constant images of the initial G (pixel
    std measured 0.0025 → 0.036)."""
    G, D, cfg = dcgan_pair(8, seed=0)
    opt_G, opt_D = dcgan_optimizers(G, D)
    assert opt_G.b1 == 0.5 and opt_G.lr == 2e-4
    x, _, _ = experiment.load_data()
    gen = backend.rng(0)
    z = backend.rng(5).standard_normal((256, 32), dtype=np.float32)

    def eval_std():
        G.eval()
        with no_grad(G):
            out = backend.to_numpy(G.forward(z))
        G.train()
        return float(out.std())

    std0 = eval_std()
    hist = fit(G, D, lambda m: x[gen.integers(0, x.shape[0], m)],
               lambda m: gen.standard_normal((m, 32), dtype=np.float32), opt_G, opt_D,
               num_steps=25, batch_size=32)
    h = hist.as_arrays()
    assert abs(h["D_real"][0] - h["D_fake"][0]) < 0.05
    assert h["D_real"][-5:].mean() - h["D_fake"][-5:].mean() > 0.15, h
    assert std0 < 0.005 and eval_std() > 0.015, (std0, eval_std())


def test_checkpoint_roundtrip_restores_parameters_and_batchnorm_statistics(tmp_path):
    G, D, cfg = dcgan_pair(8, seed=0)
    opt_G, opt_D = dcgan_optimizers(G, D)
    x, _, _ = experiment.load_data()
    gen = backend.rng(0)
    fit(G, D, lambda m: x[gen.integers(0, x.shape[0], m)],
        lambda m: gen.standard_normal((m, 32), dtype=np.float32), opt_G, opt_D,
        num_steps=5, batch_size=16)
    assert float(np.abs(backend.to_numpy(G[2].running_mean)).max()) > 0  # stats have moved
    path = save_checkpoint(tmp_path / "ckpt.npz", G, D, cfg, extra={"steps": 5})
    G2, D2, cfg2, extra = load_checkpoint(path)
    assert cfg2 == cfg and extra == {"steps": 5}
    for a, b in ((G, G2), (D, D2)):
        sa, sb = model_state(a), model_state(b)
        assert set(sa) == set(sb) and any("running_var" in k for k in sa)
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    z = gen.standard_normal((8, 32), dtype=np.float32)
    G.eval()
    np.testing.assert_array_equal(backend.to_numpy(G.forward(z)), backend.to_numpy(G2.forward(z)))


def test_checkpoint_of_a_different_architecture_is_refused(tmp_path):
    G, D, cfg = dcgan_pair(8, seed=0)
    G28, _, _ = dcgan_pair(28, seed=0)
    from tinygan.models.dcgan import load_model_state

    with pytest.raises(ValueError, match="shape"):
        load_model_state(G28, model_state(G))


@pytest.mark.slow
def test_quick_run_learns_digits_of_many_classes():
    """The quick setting, fixed seed: samples already beat noise clearly on every measure."""
    r = experiment.train(experiment.QUICK_STEPS, seed=0)
    s, noise, real = r.scores["dcgan"], r.scores["noise"], r.scores["real"]
    assert r.accuracy >= 0.95
    assert real["inception_score"] > 8
    # seed 0 measured IS 6.3, FID 3.3, 10 classes (noise: IS 2.2, FID 46)
    assert s["inception_score"] > 4.5 and s["inception_score"] > noise["inception_score"] + 2
    assert s["fid"] < 12 and s["fid"] < noise["fid"] / 3
    assert s["classes_present"] >= 9


def test_cli_writes_figures_checkpoint_and_results(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["dcgan", "--steps", "6", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "real (held-out half)" in printed and "uniform noise" in printed
    for name in ("samples.png", "samples_by_class.png", "losses.png", "classes.png",
                 "checkpoint.npz",
                 "results.json", "samples_step00000.png", "samples_step00006.png"):
        assert (out / name).exists(), name
    res = json.loads((out / "results.json").read_text())
    assert res["steps"] == 6 and set(res["scores"]) == {"real", "dcgan", "noise"}
    G, _, cfg, _ = load_checkpoint(out / "checkpoint.npz")
    assert cfg["image_size"] == 8


def test_cli_trains_at_28x28_on_idx_files(tmp_path, capsys):
    from tinygan.data.idx import write_idx

    gen = np.random.default_rng(0)
    n = 40
    labels = np.arange(n) % 10
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i, c in enumerate(labels):  # a class-dependent bar, so the classifier has a signal
        images[i, 2 + 2 * c:5 + 2 * c, 4:24] = 255
    images = np.clip(images + gen.integers(0, 40, images.shape), 0, 255).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    out = tmp_path / "run"
    assert cli_main(["dcgan", "--data", str(tmp_path), "--steps", "2", "--batch-size", "8",
                     "--out", str(out), "--no-progress"]) == 0
    assert "28×28" in capsys.readouterr().out
    _, _, cfg, _ = load_checkpoint(out / "checkpoint.npz")
    assert cfg["image_size"] == 28 and cfg["latent_dim"] == 100


def test_cli_reports_a_bad_data_path_without_a_traceback(tmp_path, capsys):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03")
    assert cli_main(["dcgan", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 2
    assert "truncated header" in capsys.readouterr().out
    assert cli_main(["dcgan", "--data", str(tmp_path / "nowhere"), "--out",
                     str(tmp_path / "o"), "--no-progress"]) == 2
