"""The DCGAN: shapes and guidelines, a short training run, checkpoints, CLI.

Its gradients end to end, through update_d/update_g with BatchNorm in train mode, are
checked in tests/test_train.py (test_fit_on_a_dcgan_applies_the_gradient_of_each_steps_objective).
"""

import json
import os

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


# -- the command on the run layer: one small configuration, run once, then resumed twice -----
ARGS = ["--steps", "12", "--batch-size", "16", "--no-progress"]


def _cli(out, *extra):
    return cli_main(["dcgan", "--out", str(out)] + ARGS + list(extra))


def _checkpoint_arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__meta__"}


def _results(path):
    res = json.loads(path.read_text())
    res.pop("seconds")  # the only timing
    return res


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run that the resumed runs must equal bit for bit."""
    out = tmp_path_factory.mktemp("dcgan") / "ref"
    assert _cli(out) == 0
    return out


def test_cli_writes_figures_checkpoint_results_and_run_json(reference, capsys):
    out = reference
    for name in ("samples.png", "samples_by_class.png", "losses.png", "classes.png",
                 "interpolation.png", "samples.gif", "checkpoint.npz", "results.json",
                 "run.json", "samples_step00000.png", "samples_step00012.png"):
        assert (out / name).exists(), name
    res = json.loads((out / "results.json").read_text())
    assert res["steps"] == 12 and set(res["scores"]) == {"real", "dcgan", "noise"}
    G, _, cfg, extra = load_checkpoint(out / "checkpoint.npz")
    assert cfg["image_size"] == 8 and extra["step"] == 12 and extra["data"] == "digits 8×8"
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "completed" and rec["last_step"] == rec["total_steps"] == 12
    assert rec["args"]["steps"] == 12 and rec["seed"] == 0 and rec["threads"] >= 1
    assert set(rec["files"]) >= {"samples.gif", "results.json", "checkpoint.npz"}
    from PIL import Image

    with Image.open(out / "samples.gif") as gif:  # snapshots at 0, 1, …, 12: 13 frames
        assert gif.n_frames == 13


def test_resume_after_an_interruption_in_a_callback_is_bit_identical(reference, tmp_path,
                                                                     monkeypatch, capsys):
    """Ctrl-C (a real SIGINT, raised inside step 5's callback), then --resume."""
    import signal

    real_fit = experiment.fit

    def fit_with_ctrl_c(*a, callback=None, **kw):
        def cb(step, history):
            if step == 4:
                signal.raise_signal(signal.SIGINT)
            callback(step, history)
        return real_fit(*a, callback=cb, **kw)

    monkeypatch.setattr(experiment, "fit", fit_with_ctrl_c)
    out = tmp_path / "run"
    assert _cli(out, "--checkpoint-every", "100", "--no-animation") == 130
    err = capsys.readouterr().err
    assert err == f"interrupted at step 5 of 12; resume with: tinygan dcgan --out {out} --resume\n"
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "interrupted" and rec["checkpoint_step"] == 5
    monkeypatch.undo()
    assert cli_main(["dcgan", "--out", str(out), "--resume", "--no-progress"]) == 0
    _assert_same_run(reference, out)


def _assert_same_run(ref, out):
    a, b = _checkpoint_arrays(ref / "checkpoint.npz"), _checkpoint_arrays(out / "checkpoint.npz")
    assert set(a) == set(b) and len(a) > 40  # G, D, both Adams (m, v), rng, history, snapshots
    assert any("/m" in k for k in a) and any("running_mean" in k for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # bit for bit
    from tinygan.runs import load_state

    ta, tb = load_state(ref / "checkpoint.npz")[0], load_state(out / "checkpoint.npz")[0]
    assert ta["rng"] == tb["rng"] and ta["rng"]["kind"] == "numpy.Generator"  # its state
    assert ta["opt_G"]["t"] == tb["opt_G"]["t"] == 12
    assert _results(ref / "results.json") == _results(out / "results.json")
    assert json.loads((out / "run.json").read_text())["status"] == "completed"


def test_resume_after_sigint_to_a_subprocess_is_bit_identical(reference, tmp_path, capsys):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    # the parent's BLAS threads (conftest sets 1 unless told otherwise): OpenBLAS's sums
    # depend on the thread count, and the reference it is compared with ran in this process
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.Popen([sys.executable, "-m", "tinygan", "dcgan", "--out", str(out)] + ARGS
                            + ["--checkpoint-every", "1", "--no-animation"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # wait for the second checkpoint, then Ctrl-C
            try:
                if (json.loads((out / "run.json").read_text())["checkpoint_step"] or 0) >= 2:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "resume with: tinygan dcgan --out" in err
    assert "Traceback" not in err
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "interrupted" and 2 <= rec["checkpoint_step"] < 12
    assert cli_main(["dcgan", "--out", str(out), "--resume", "--no-progress"]) == 0
    _assert_same_run(reference, out)


def test_cli_trains_at_28x28_on_idx_files(tmp_path, capsys):
    write_fake_mnist(tmp_path, 40)
    out = tmp_path / "run"
    assert cli_main(["dcgan", "--data", str(tmp_path), "--steps", "2", "--batch-size", "8",
                     "--out", str(out), "--no-progress", "--no-animation"]) == 0
    assert "28×28" in capsys.readouterr().out
    _, _, cfg, _ = load_checkpoint(out / "checkpoint.npz")
    assert cfg["image_size"] == 28 and cfg["latent_dim"] == 100


def write_fake_mnist(folder, n, size=28):
    from tinygan.data.idx import write_idx

    gen = np.random.default_rng(0)
    labels = np.arange(n) % 10
    images = np.zeros((n, size, size), dtype=np.uint8)
    for i, c in enumerate(labels):  # a class-dependent bar, so the classifier has a signal
        images[i, (2 + 2 * c) % size:(5 + 2 * c) % size or size, 1:-1] = 255
    images = np.clip(images + gen.integers(0, 40, images.shape), 0, 255).astype(np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels.astype(np.uint8))
