"""--resume ends bit-identical to a run that was never interrupted, for every command that
keeps checkpoints (dcgan's own tests are in test_dcgan.py).

A Ctrl-C is a real SIGINT raised at a chosen step boundary (``interrupt_at``), or sent to
a subprocess (modes). Equal means: every array of the final checkpoint and every number
of the results except timings.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tinygan import cli, runs
from tinygan.experiments import figure1, optimal_d, saturation


@contextlib.contextmanager
def interrupt_at(step, nth=1, signum=signal.SIGINT):
    """Raise ``signum`` during the ``nth`` loop's step ``step`` (before its tick)."""
    real_loop = runs.Run.loop
    seen = []

    @contextlib.contextmanager
    def loop(self, total, state=None, start=0, **kw):
        seen.append(total)
        mine = len(seen) == nth
        with real_loop(self, total, state, start, **kw) as tick:
            def ticked(done):
                if mine and done == step:
                    signal.raise_signal(signum)
                tick(done)
            yield ticked

    runs.Run.loop = loop
    try:
        yield
    finally:
        runs.Run.loop = real_loop


def _reference(tmp_path, name, train, every=7):
    """The uninterrupted run, in a folder of its own: (its result, its final checkpoint)."""
    run = runs.Run(name, tmp_path / f"{name}-reference", args={"tiny": True},
                   checkpoint_every=every).open()
    result = train(run)
    run.finish("completed")
    return result, run.path(runs.CHECKPOINT_FILE)


def _same_checkpoints(a_path, b_path):
    """Every array of the two final checkpoints bit for bit, and every other value in them."""
    a, b = _checkpoint_arrays(a_path), _checkpoint_arrays(b_path)
    assert a and set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    (ta, ma), (tb, mb) = runs.load_state(a_path), runs.load_state(b_path)
    assert ma["step"] == mb["step"] == ma["total"]
    _same_numbers(ta, tb, "checkpoint")
    return len(a)


def _interrupted_then_resumed(tmp_path, name, train, step, nth=1, every=7):
    """Run ``train(run)`` in a folder, Ctrl-C at ``step``, then resume it; return both ends."""
    out = tmp_path / f"{name}-{nth}-{step}"
    run = runs.Run(name, out, args={"tiny": True}, checkpoint_every=every).open()
    with run.signals(), interrupt_at(step, nth), pytest.raises(runs.Interrupted):
        train(run)
    run.finish("interrupted")
    assert run.step == step and run.checkpoint_step == step
    again = runs.Run(name, out, args={"tiny": True}, checkpoint_every=every, resume=True).open()
    return train(again), again


def _same_numbers(a, b, path="result"):
    """Equal to the last bit, except timings (keys named 'seconds')."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            if k != "seconds":
                _same_numbers(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same_numbers(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b or (a != a and b != b), (path, a, b)


TINY_FIG1 = figure1.Config(batch_size=64, steps_a=6, dstar_steps=12, dstar_batch=64, steps_c=3,
                           chunks_d=2, steps_per_chunk=5)


@pytest.mark.parametrize("step", [4, 10, 20, 25], ids=["phase-a", "phase-b", "phase-c",
                                                        "phase-d"])
def test_figure1_resumes_bit_identical_in_every_phase(tmp_path, step):
    train = lambda r: figure1.run(TINY_FIG1, run=r, frames=8)  # noqa: E731
    ref, ref_ckpt = _reference(tmp_path, "figure1", train)
    res, again = _interrupted_then_resumed(tmp_path, "figure1", train, step)
    assert _same_checkpoints(ref_ckpt, again.path(runs.CHECKPOINT_FILE)) > 20
    _same_numbers({s.key: (s.step, s.numbers) for s in ref.snapshots},
                  {s.key: (s.step, s.numbers) for s in res.snapshots})
    _same_numbers(ref.track, res.track)
    _same_numbers(ref.frames, res.frames)


def test_optimal_d_resumes_bit_identical(tmp_path):
    cfg = optimal_d.Config(num_steps=40, batch_size=64)
    train = lambda r: optimal_d.experiment1(cfg, run=r)  # noqa: E731
    ref, ref_ckpt = _reference(tmp_path, "optimal-d", train)
    res, again = _interrupted_then_resumed(tmp_path, "optimal-d", train, 17)
    assert _same_checkpoints(ref_ckpt, again.path(runs.CHECKPOINT_FILE)) > 5
    _same_numbers(ref[3], res[3])
    _same_numbers(ref[4], res[4])  # every loss


TINY_SAT = saturation.Config(pretrain_steps=12, num_steps=6, window=3, eval_size=40)


@pytest.mark.parametrize("step", [5, 12, 15, 24, 41], ids=["head-start", "its-last-step",
                                                           "run-1", "end-of-run-2", "run-5"])
def test_saturation_resumes_bit_identical(tmp_path, step):
    train = lambda r: saturation.run(TINY_SAT, run=r)  # noqa: E731
    ref, ref_ckpt = _reference(tmp_path, "saturation", train)
    res, again = _interrupted_then_resumed(tmp_path, "saturation", train, step)
    assert _same_checkpoints(ref_ckpt, again.path(runs.CHECKPOINT_FILE)) > 5
    _same_numbers(ref.to_json(), res.to_json())


# -- modes, through the command line ----------------------------------------------------------
MODES = ["modes", "--quick", "--steps", "30", "--no-progress", "--no-animation"]


def _modes_json(out):
    return json.loads((out / "modes.json").read_text())


def _checkpoint_arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__meta__"}


@pytest.fixture(scope="module")
def modes_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("modes") / "ref"
    assert cli.main(MODES + ["--out", str(out)]) == 0
    return out


def _assert_same_modes_run(ref, out):
    _same_numbers(_modes_json(ref), _modes_json(out))
    a, b = _checkpoint_arrays(ref / "checkpoint.npz"), _checkpoint_arrays(out / "checkpoint.npz")
    assert set(a) == set(b)
    assert any(k.startswith("done/#0/snapshots/") for k in a)  # the first run's samples
    assert any(k.startswith("cur/opt_D/slots/") for k in a) and "cur/history/loss_D" in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # and everything else the checkpoint holds: generator states, steps, records
    ta, tb = runs.load_state(ref / "checkpoint.npz")[0], runs.load_state(out / "checkpoint.npz")[0]
    assert ta["cur"]["real_rng"]["state"]["bit_generator"] == "PCG64"
    _same_numbers(ta, tb)


def test_modes_resume_after_a_ctrl_c_in_the_second_run_is_bit_identical(modes_reference,
                                                                         tmp_path, capsys):
    out = tmp_path / "run"
    with interrupt_at(11, nth=2):
        assert cli.main(MODES + ["--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err == (f"interrupted at step 11 of 30 of run 2/2 (ring pac2 k=1 seed 0); resume "
                   f"with: tinygan modes --out {out} --resume\n")
    assert cli.main(["modes", "--out", str(out), "--resume", "--no-progress"]) == 0
    _assert_same_modes_run(modes_reference, out)


def test_modes_resume_after_sigint_to_a_subprocess_is_bit_identical(modes_reference, tmp_path):
    out = tmp_path / "run"
    # the parent's BLAS threads (conftest sets 1 unless told otherwise): OpenBLAS's sums
    # depend on the thread count, and the reference it is compared with ran in this process
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.Popen([sys.executable, "-m", "tinygan"] + MODES
                            + ["--out", str(out), "--checkpoint-every", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                if json.loads((out / "run.json").read_text())["checkpoint_step"] >= 3:
                    break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.count("\n") == 1 and "; resume with: tinygan modes --out" in err
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert cli.main(["modes", "--out", str(out), "--resume", "--no-progress"]) == 0
    _assert_same_modes_run(modes_reference, out)


def test_sigterm_to_a_command_is_one_line_exit_130_and_run_json_interrupted(tmp_path, capsys):
    out = tmp_path / "sat"
    with interrupt_at(30, signum=signal.SIGTERM):
        rc = cli.main(["saturation", "--quick", "--out", str(out), "--no-progress"])
    assert rc == 130
    assert capsys.readouterr().err == (f"interrupted at step 30 of 2100; resume with: tinygan "
                                       f"saturation --out {out} --resume\n")
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "interrupted" and rec["checkpoint_step"] == 30


def test_a_command_without_checkpoints_stops_cleanly_and_says_so(tmp_path, capsys):
    out = tmp_path / "toy"
    with interrupt_at(2):
        rc = cli.main(["toy2x2", "--epochs", "5", "--out", str(out), "--no-progress",
                       "--no-animation"])
    assert rc == 130
    assert capsys.readouterr().err == ("interrupted at epoch 2 of 5; tinygan toy2x2 keeps no "
                                       "checkpoints (it takes seconds): run it again with "
                                       "--overwrite\n")
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "interrupted" and rec["last_step"] == 2
    assert not (out / "checkpoint.npz").exists()
    assert cli.main(["toy2x2", "--out", str(out), "--resume", "--no-progress"]) == 0
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "completed" and rec["args"]["epochs"] == 5
