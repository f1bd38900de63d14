"""The run layer: state trees, atomic files, run folders, checkpoints and Ctrl-C (tinygan.runs)."""

import json
import os
import signal

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, runs
from tinygan.train import History


def _nets(seed=0):
    r = backend.rng(seed)
    G = tg.Sequential(tg.Dense(3, 8, rng=r, bias=False), tg.BatchNorm(8), tg.ReLU(),
                      tg.Dense(8, 2, rng=r))
    D = tg.Sequential(tg.Dense(2, 8, rng=r), tg.LeakyReLU(0.2), tg.Dense(8, 1, rng=r))
    return G, D


def _train(G, D, opt_G, opt_D, gen, steps, history):
    tg.fit(G, D, lambda m: gen.standard_normal((m, 2), dtype=np.float32) + 2,
           lambda m: gen.standard_normal((m, 3), dtype=np.float32), opt_G, opt_D, steps, 16,
           history=history)


def _parts(opt_G=tg.Adam, opt_D=tg.Adam, seed=0):
    G, D = _nets(seed)
    return {"G": G, "D": D, "opt_G": opt_G(G, lr=1e-2), "opt_D": opt_D(D, lr=1e-2),
            "rng": backend.rng(seed + 1), "legacy": np.random.RandomState(seed),
            "history": History(), "frames": {}, "note": {"text": "x", "ints": [1, 2]}}


def _arrays(tree, prefix=""):
    """Every array of a saved state tree, by path (for bit-for-bit comparisons)."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_arrays(v, f"{prefix}{k}/"))
        elif isinstance(v, np.ndarray):
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize("opts", [(tg.Adam, tg.Adam), (lambda m, lr: tg.SGD(m, lr, 0.9),
                                                        lambda m, lr: tg.RMSProp(m, lr))],
                         ids=["adam", "sgd-momentum+rmsprop"])
def test_state_tree_roundtrip_continues_bit_for_bit(tmp_path, opts):
    """Save mid-training, load into fresh objects, train on: identical to never stopping."""
    a = _parts(*opts)
    _train(a["G"], a["D"], a["opt_G"], a["opt_D"], a["rng"], 5, a["history"])
    a["frames"][5] = backend.to_numpy(a["G"].params["0.W"]).copy()
    a["legacy"].normal(size=3)
    runs.save_state(tmp_path / "c.npz", a, {"step": 5})

    b = _parts(*opts, seed=7)  # other weights, other streams: all must be overwritten
    tree, meta = runs.load_state(tmp_path / "c.npz")
    runs.restore(b, tree)
    assert meta["step"] == 5 and list(b["frames"]) == [5] and b["note"] == a["note"]
    assert b["history"].loss_D == a["history"].loss_D and len(b["history"]) == 5
    assert b["legacy"].normal() == a["legacy"].normal()
    for p in (a, b):
        _train(p["G"], p["D"], p["opt_G"], p["opt_D"], p["rng"], 4, p["history"])
    sa, sb = _arrays(runs._unflatten(*_flat(a))), _arrays(runs._unflatten(*_flat(b)))
    assert set(sa) == set(sb) and any("running_var" in k for k in sa)
    assert any(k.endswith("/v") or k.endswith("/s") for k in sa)  # optimizer state saved
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    assert a["history"].loss_G == b["history"].loss_G
    assert a["opt_G"].t == b["opt_G"].t == 9


def _flat(tree):
    arrays, values = {}, {}
    runs._flatten(tree, "", arrays, values)
    return arrays, values


def test_restore_refuses_a_tree_of_another_model(tmp_path):
    a = _parts()
    runs.save_state(tmp_path / "c.npz", a)
    tree, _ = runs.load_state(tmp_path / "c.npz")
    r = backend.rng(0)
    G = tg.Sequential(tg.Dense(3, 9, rng=r, bias=False), tg.BatchNorm(9), tg.ReLU(),
                      tg.Dense(9, 2, rng=r))  # G with 9 hidden units instead of 8
    with pytest.raises(runs.CheckpointError, match=r"c\.npz/G: .*'W' has shape \(3, 8\)"):
        runs.restore({"G": G}, tree, where=str(tmp_path / "c.npz"))
    with pytest.raises(runs.CheckpointError, match="match no layer"):
        runs.restore({"G": tg.Sequential(tg.Dense(3, 8, rng=r))}, tree)
    with pytest.raises(runs.CheckpointError, match="no 'opt_X'"):
        runs.restore({"opt_X": tg.Adam(G)}, tree)


def test_optimizer_state_dict_holds_t_lr_and_moments():
    G, _ = _nets()
    opt = tg.Adam(G, lr=1e-3)
    G.zero_grad()
    for g in G.grads.values():
        g += 1.0
    opt.step()
    opt.lr = 5e-4
    s = opt.state_dict()
    assert s["type"] == "Adam" and s["t"] == 1 and s["lr"] == 5e-4
    assert set(s["slots"]["0:0.W"]) == {"m", "v"}  # the scratch buffer is not state
    with pytest.raises(ValueError, match="of a Adam optimizer"):
        tg.SGD(G).load_state_dict(s)


def test_rng_state_roundtrip_for_generators_and_the_legacy_stream():
    for gen in (backend.rng(3), np.random.RandomState(3)):
        gen.standard_normal(5)
        state = backend.rng_state(gen)
        a = gen.standard_normal(4)
        backend.set_rng_state(gen, state)
        np.testing.assert_array_equal(gen.standard_normal(4), a)
    with pytest.raises(ValueError, match="RandomState"):
        backend.set_rng_state(backend.rng(0), backend.rng_state(np.random.RandomState(0)))


def test_unreadable_checkpoints_give_one_clear_error(tmp_path):
    bad = tmp_path / "c.npz"
    for content in (b"", b"not a zip", b"PK\x03\x04truncated"):
        bad.write_bytes(content)
        with pytest.raises(runs.CheckpointError, match="cannot be read as a tinygan checkpoint"):
            runs.load_state(bad)
    np.savez(bad, W=np.zeros(2))  # a valid .npz that is not ours
    with pytest.raises(runs.CheckpointError, match="__meta__"):
        runs.load_state(bad)
    with pytest.raises(runs.CheckpointError, match="no such checkpoint"):
        runs.load_state(tmp_path / "nowhere.npz")


def test_an_interrupted_save_leaves_the_previous_file(tmp_path, monkeypatch):
    """Ctrl-C in the middle of writing: the old checkpoint stays complete, no temp file."""
    path = tmp_path / "checkpoint.npz"
    runs.save_state(path, {"x": np.arange(3.0)}, {"step": 1})
    real_savez = np.savez

    def savez_then_ctrl_c(file, **arrays):
        real_savez(file, **arrays)
        with open(file, "r+b") as f:  # half written
            f.truncate(os.path.getsize(file) // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", savez_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        runs.save_state(path, {"x": np.arange(1000.0)}, {"step": 2})
    monkeypatch.undo()
    tree, meta = runs.load_state(path)
    assert meta["step"] == 1 and tree["x"].tolist() == [0.0, 1.0, 2.0]
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    with pytest.raises(ZeroDivisionError), runs.atomic_path(tmp_path / "r.json") as tmp:
        with open(tmp, "w") as f:
            f.write("{")
        raise ZeroDivisionError
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def _run(out, **kw):
    kw.setdefault("checkpoint_every", 2)
    return runs.Run("demo-cmd", out, args={"seed": 0, "steps": 6}, **kw)


def test_run_folder_refuses_another_runs_files(tmp_path):
    out = tmp_path / "r"
    run = _run(out).open()
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "running" and rec["args"] == {"seed": 0, "steps": 6}
    assert rec["versions"]["tinygan"] == tg.__version__ and "numpy" in rec["versions"]
    assert rec["blas"] and isinstance(rec["threads"], int) and rec["backend"] == "numpy"
    run.save_json("results.json", {"a": 1})
    run.finish("completed")
    with pytest.raises(runs.UsageError, match=r"already holds a demo-cmd run \(completed\); "
                                              r"add --resume .* or --overwrite"):
        _run(out).open()
    (out / "mine.txt").write_text("a file of the user's")
    _run(out, overwrite=True).open()  # deletes the run's files, keeps the user's
    assert sorted(os.listdir(out)) == ["mine.txt", "run.json"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    for kw in ({}, {"overwrite": True}):
        with pytest.raises(runs.UsageError, match="not a tinygan run"):
            _run(other, **kw).open()
    with pytest.raises(runs.UsageError, match="holds no run to resume"):
        _run(tmp_path / "empty", resume=True).open()
    with pytest.raises(runs.UsageError, match="is a file, not a folder"):
        _run(other / "notes.txt").open()
    with pytest.raises(runs.UsageError, match="cannot create this folder"):
        _run(other / "notes.txt" / "sub").open()


def test_loop_checkpoints_and_stops_at_a_step_boundary_on_ctrl_c(tmp_path):
    out = tmp_path / "r"
    run = _run(out).open()
    state = {"w": np.zeros(2), "history": History()}
    seen = []
    with run.signals(), pytest.raises(runs.Interrupted) as info:
        with run.loop(6, state=state) as tick:
            for step in range(6):
                state["w"] = state["w"] + 1
                if step == 2:
                    signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of step 3
                    seen.append("after the signal, the step goes on")
                tick(step + 1)
    assert seen and run.step == 3 and not info.value.immediate
    tree, meta = runs.load_state(out / "checkpoint.npz")
    assert meta["step"] == 3 and tree["w"].tolist() == [3.0, 3.0]
    assert run.interrupted_line(info.value) == (
        f"interrupted at step 3 of 6; resume with: tinygan demo-cmd --out {out} --resume")
    run.finish("interrupted")
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    # resume: the same settings load the checkpoint; other settings are refused
    again = _run(out, resume=True).open()
    assert again.restore(state) == 3
    changed = runs.Run("demo-cmd", out, args={"seed": 1, "steps": 6}, resume=True).open()
    with pytest.raises(runs.CheckpointError, match="another configuration.*seed 0 there, 1 here"):
        changed.checkpoint()


def test_a_second_ctrl_c_during_the_first_checkpoint_leaves_no_file_and_says_so(tmp_path,
                                                                               monkeypatch):
    out = tmp_path / "r"
    run = _run(out, checkpoint_every=None).open()
    real_savez = np.savez

    def savez_then_ctrl_c(path, **arrays):  # the second Ctrl-C lands in the middle of a save
        real_savez(path, **arrays)
        signal.raise_signal(signal.SIGINT)

    with run.signals(), pytest.raises(runs.Interrupted) as info:
        with run.loop(6, state={"w": np.zeros(2)}) as tick:
            for step in range(6):
                if step == 2:
                    signal.raise_signal(signal.SIGINT)
                    monkeypatch.setattr(np, "savez", savez_then_ctrl_c)
                tick(step + 1)
    assert info.value.immediate and run.step == 3
    assert os.listdir(out) == ["run.json"]  # no checkpoint, not half of one
    assert run.interrupted_line(info.value) == (
        "interrupted at step 3 of 6 (no checkpoint was written yet: a resume starts from the "
        f"beginning); resume with: tinygan demo-cmd --out {out} --resume")


def test_a_ctrl_c_outside_a_loop_is_not_swallowed_by_except_exception(tmp_path):
    """Between loops Ctrl-C stops at once, wherever it lands: inside library code that
    catches Exception too (run.json's matplotlib version, a lazy import). Swallowed there,
    it once left matplotlib half-imported and the run failed later with AttributeError."""
    run = _run(tmp_path / "r").open()
    with run.signals(), pytest.raises(runs.Interrupted) as info:
        try:
            signal.raise_signal(signal.SIGINT)
        except Exception:  # what such library code does
            pass
    assert info.value.immediate


def test_sigterm_stops_at_a_step_boundary_like_ctrl_c(tmp_path):
    """What a scheduler or `kill` sends: the same checkpoint, status and line as Ctrl-C."""
    out = tmp_path / "r"
    run = _run(out, checkpoint_every=None).open()
    with run.signals(), pytest.raises(runs.Interrupted) as info:
        with run.loop(6, state={"w": np.zeros(2)}) as tick:
            for step in range(6):
                if step == 3:
                    signal.raise_signal(signal.SIGTERM)
                tick(step + 1)
    assert not info.value.immediate and run.step == 4
    assert runs.load_state(out / "checkpoint.npz")[1]["step"] == 4
    assert run.interrupted_line(info.value) == (
        f"interrupted at step 4 of 6; resume with: tinygan demo-cmd --out {out} --resume")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handed back after the run
