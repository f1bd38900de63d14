"""The command line: every error a user can cause is one line and exit 2, before any training.

Each case below was a traceback, or a run that trained and then failed, or nonsense
that exited 0 (issue "Runs a learner can trust").
"""

import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tinygan import backend, cli

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")


def _one_line_error(capsys, command, rc, match):
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"tinygan {command}: error: "), err
    assert match in lines[-1], err
    return lines


# (argv, what the one line says): nothing is trained for any of them
BAD_FLAGS = [
    (["dcgan", "--steps", "-5"], "argument --steps: expected a positive integer, got -5"),
    (["dcgan", "--steps", "0"], "argument --steps: expected a positive integer, got 0"),
    (["dcgan", "--steps", "many"], "argument --steps: expected an integer, got 'many'"),
    (["dcgan", "--batch-size", "0"], "argument --batch-size: expected an integer ≥ 2"),
    (["dcgan", "--batch-size", "1"], "(BatchNorm needs a batch), got 1"),
    (["dcgan", "--limit", "0"], "argument --limit: expected an integer ≥ 20"),
    (["dcgan", "--limit", "5"], "argument --limit: expected an integer ≥ 20"),
    (["dcgan", "--limit", "-1"], "argument --limit: expected an integer ≥ 20"),
    (["dcgan", "--limit", "100"], "--limit applies to --data (IDX files) only"),
    (["dcgan", "--seed", "-1"], "argument --seed: expected a seed between 0 and 2**32 - 1"),
    (["dcgan", "--checkpoint-every", "0"], "argument --checkpoint-every: expected a positive"),
    (["dcgan", "--threads", "0"], "argument --threads: expected a positive integer, got 0"),
    (["dcgan", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    (["toy2x2", "--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    (["toy2x2", "--epochs", "-3"], "argument --epochs: expected a positive integer, got -3"),
    (["toy2x2", "--seed", "-1"], "argument --seed: expected a seed between 0 and 2**32 - 1"),
    (["optimal-d", "--seed", "x"], "argument --seed: expected an integer, got 'x'"),
    (["figure1", "--seed", "4294967296"], "argument --seed: expected a seed between"),
    (["saturation", "--seed", "-7"], "argument --seed: expected a seed between"),
    (["modes", "--steps", "0"], "argument --steps: expected a positive integer, got 0"),
    (["modes", "--seeds", "-2"], "argument --seeds: expected a positive integer, got -2"),
    (["modes", "--seeds", "0"], "argument --seeds: expected a positive integer, got 0"),
    (["modes", "--k", "1", "0"], "argument --k: expected a positive integer, got 0"),
    (["modes", "--gp-lambda", "-1"], "argument --gp-lambda: expected a number ≥ 0, got -1"),
    (["modes", "--gp-lambda", "nan"], "argument --gp-lambda: expected a finite number"),
    (["modes", "--data", "moon"], "argument --data: invalid choice: 'moon'"),
    # a batch larger than the finite training set it is drawn from
    (["dcgan", "--batch-size", "1798"], "argument --batch-size: expected at most 1797 (the "
                                        "images it trains on, digits 8×8), got 1798"),
    (["cgan", "--batch-size", "1798"], "argument --batch-size: expected at most 1797 (the "
                                       "digits it trains on), got 1798"),
    (["stylegan", "--batch-size", "5000"], "argument --batch-size: expected at most 1797"),
    (["cyclegan", "--data", "digits", "--batch-size", "5000"],
     "argument --batch-size: expected at most 898 (the images of the smaller digit half it "
     "trains on), got 5000"),
    (["gan3d", "--batch-size", "4001"], "argument --batch-size: expected at most 4000 (the "
                                        "voxel shapes it trains on), got 4001"),
    (["gan3d", "--quick", "--batch-size", "401"], "argument --batch-size: expected at most 400"),
    # learning rates: finite numbers in (0, 1] (Adam at 1e8 trains at finite losses ~1e15)
    (["gan3d", "--lr-g", "1e8"], "argument --lr-g: expected a learning rate in (0, 1], got 1e8"),
    (["gan3d", "--lr-d", "0"], "argument --lr-d: expected a learning rate in (0, 1], got 0"),
    (["gan3d", "--lr-d=-2e-4"], "argument --lr-d: expected a learning rate in (0, 1]"),
    (["gan3d", "--lr-g", "inf"], "argument --lr-g: expected a finite number, got inf"),
    (["stylegan", "--mapping-lr-mul", "100"], "argument --mapping-lr-mul: expected a learning "
                                              "rate in (0, 1], got 100"),
]


@pytest.mark.parametrize("argv, match", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_are_one_line_and_exit_2(argv, match, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(argv + ["--out", str(out), "--no-progress"])
    _one_line_error(capsys, argv[0], rc, match)
    assert not out.exists() or os.listdir(out) == [] or not (out / "checkpoint.npz").exists()


def test_an_unknown_flag_prints_the_sub_commands_usage(capsys):
    rc = cli.main(["dcgan", "--stesp", "10"])
    lines = _one_line_error(capsys, "dcgan", rc, "unrecognized arguments: --stesp 10")
    assert lines[0].startswith("usage: tinygan dcgan ")
    assert cli.main(["nonsense"]) == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_version(capsys):
    import tinygan

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith(f"tinygan {tinygan.__version__} (NumPy ")


@pytest.mark.skipif(backend.cupy_available(), reason="only meaningful where CuPy cannot load")
def test_backend_cupy_without_cupy_is_one_line(tmp_path, capsys):
    rc = cli.main(["dcgan", "--backend", "cupy", "--out", str(tmp_path / "x")])
    _one_line_error(capsys, "dcgan", rc, "CuPy cannot be used here")
    assert not (tmp_path / "x").exists()  # refused before the folder was made
    assert backend.name() == "numpy"


def test_cupy_error_names_the_flag_on_the_command_line(tmp_path, capsys, monkeypatch):
    """From the command line the fix is ``--backend numpy``; from Python it stays the call.

    CuPy's import is made to fail (a None in sys.modules), so this runs on a GPU machine too.
    """
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backend, "_cupy", None)
    rc = cli.main(["dcgan", "--backend", "cupy", "--out", str(tmp_path / "x")])
    lines = _one_line_error(capsys, "dcgan", rc, "CuPy cannot be used here")
    assert lines[-1].endswith("or stay on the default backend with --backend numpy."), lines
    assert "backend.use(" not in lines[-1]
    with pytest.raises(backend.BackendError, match=r"backend\.use\('numpy'\)\.$"):
        backend.use("cupy")
    assert backend.name() == "numpy"


def test_bad_backend_variable_is_one_line(tmp_path):
    env = dict(ENV, TINYGAN_BACKEND="foo")
    res = subprocess.run([sys.executable, "-m", "tinygan", "toy2x2", "--out",
                          str(tmp_path / "x")], env=env, capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr == ("tinygan toy2x2: error: TINYGAN_BACKEND=foo: unknown tinygan backend "
                          "'foo'; expected one of ('numpy', 'cupy')\n")


def test_out_is_checked_before_any_training(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, match in ((a_file, "is a file, not a folder"),
                       (a_file / "sub", "cannot create this folder"),
                       ("/proc/tinygan-nowhere", "cannot create this folder")):
        rc = cli.main(["toy2x2", "--out", str(out), "--no-progress"])
        line = _one_line_error(capsys, "toy2x2", rc, match)[-1]
        assert f"--out {out}" in line
        assert capsys.readouterr().out == ""  # nothing ran
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    rc = cli.main(["toy2x2", "--out", str(foreign), "--overwrite"])
    _one_line_error(capsys, "toy2x2", rc, "not a tinygan run")
    assert (foreign / "notes.txt").exists()
    rc = cli.main(["dcgan", "--out", str(tmp_path / "empty"), "--resume"])
    _one_line_error(capsys, "dcgan", rc, "holds no run to resume")
    assert not (tmp_path / "empty").exists()  # and no empty folder was left behind


def test_debug_variable_shows_the_traceback(tmp_path, monkeypatch):
    from tinygan.runs import UsageError

    a_file = tmp_path / "file"
    a_file.write_text("x")
    monkeypatch.setenv("TINYGAN_DEBUG", "1")
    with pytest.raises(UsageError, match="is a file"):
        cli.main(["toy2x2", "--out", str(a_file)])


def _write_idx_images(folder, images, labels=None):
    from tinygan.data.idx import write_idx

    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    if labels is not None:
        write_idx(folder / "train-labels-idx1-ubyte.gz", labels)


def test_bad_data_is_one_line(tmp_path, capsys):
    cases = {}
    d = tmp_path / "garbage"
    d.mkdir()
    (d / "train-images-idx3-ubyte.gz").write_bytes(b"this is not gzip")
    cases[d] = "Not a gzipped file"
    d = tmp_path / "truncated"
    d.mkdir()
    with gzip.open(d / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03\x00\x00")
    cases[d] = "truncated"
    d = tmp_path / "small"
    d.mkdir()
    _write_idx_images(d, np.zeros((30, 5, 5), np.uint8), np.zeros(30, np.uint8))
    cases[d] = "images of 5×5 pixels"
    d = tmp_path / "nolabels"
    d.mkdir()
    _write_idx_images(d, np.zeros((30, 28, 28), np.uint8))
    cases[d] = "the labels file"
    d = tmp_path / "few"
    d.mkdir()
    _write_idx_images(d, np.zeros((8, 28, 28), np.uint8), np.zeros(8, np.uint8))
    cases[d] = "8 images; the classifier that scores the samples needs at least 20"
    cases[tmp_path / "nowhere"] = f"--data {tmp_path / 'nowhere'}: no such file or folder ("
    cases[d / "train-images-idx3-ubyte.gz"] = "/few/train-images-idx3-ubyte.gz: 8 images;"
    for data, match in cases.items():
        rc = cli.main(["dcgan", "--data", str(data), "--out", str(tmp_path / "o" / data.name),
                       "--no-progress"])
        _one_line_error(capsys, "dcgan", rc, match)
        rec = json.loads((tmp_path / "o" / data.name / "run.json").read_text())
        assert rec["status"] == "failed" and match in rec["error"]


def test_output_piped_into_head_finishes_the_run_quietly(tmp_path):
    """`tinygan toy2x2 | head -0`: the reader is gone before the first line."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tinygan", "toy2x2", "--epochs", "20",
                             "--out", str(out), "--no-progress", "--no-animation"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # what `head` does when it has read enough
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "completed" and (out / "losses.png").exists()


def test_folder_of_another_run_and_resume_conflicts(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["toy2x2", "--epochs", "3", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    from PIL import Image

    with Image.open(out / "training.gif") as gif:  # G's faces and D after epochs 0, 1, 2, 3
        assert gif.n_frames == 4
    rc = cli.main(["toy2x2", "--epochs", "3", "--out", str(out)])
    _one_line_error(capsys, "toy2x2", rc, f"--out {out} already holds a toy2x2 run (completed)")
    rc = cli.main(["dcgan", "--out", str(out), "--resume"])
    _one_line_error(capsys, "dcgan", rc, "holds a toy2x2 run, not dcgan")
    rc = cli.main(["toy2x2", "--epochs", "4", "--out", str(out), "--resume"])
    _one_line_error(capsys, "toy2x2", rc, "was started with other arguments (--epochs 3 there, "
                                          "4 here)")
    assert cli.main(["toy2x2", "--epochs", "4", "--out", str(out), "--overwrite",
                     "--no-progress", "--no-animation"]) == 0
    assert not (out / "training.gif").exists()  # the old run's files are gone
    assert json.loads((out / "run.json").read_text())["args"]["epochs"] == 4


def test_checkpoint_of_another_configuration_or_unreadable_is_one_line(tmp_path, capsys):
    from tinygan.runs import save_state

    out = tmp_path / "run"
    out.mkdir()
    rec = {"command": "dcgan", "status": "interrupted", "args": {"steps": 10, "seed": 0},
           "files": ["checkpoint.npz"], "checkpoint_step": 3}
    (out / "run.json").write_text(json.dumps(rec))
    save_state(out / "checkpoint.npz", {"x": np.zeros(1)},
               {"command": "dcgan", "config": {"steps": 12}, "step": 3})
    rc = cli.main(["dcgan", "--out", str(out), "--resume", "--no-progress"])
    _one_line_error(capsys, "dcgan", rc, "checkpoint.npz is from another configuration (")
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 half a file")
    rc = cli.main(["dcgan", "--out", str(out), "--resume", "--no-progress"])
    _one_line_error(capsys, "dcgan", rc, "cannot be read as a tinygan checkpoint")
    shutil.rmtree(out)


def test_tables_from_bad_files_are_one_line_and_good_ones_need_no_folder(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "other.json").write_text('{"a": 1}')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "empty.json").write_text('{"protocol": "quick", "runs": []}')
    (tmp_path / "ints.json").write_text('{"protocol": "quick", "runs": [1]}')
    for name, match in (("nowhere.json", "No such file"), ("broken.json", "not JSON"),
                        ("other.json", "not a modes.json of tinygan modes (it lacks 'runs' and "
                                       "'protocol')"),
                        ("list.json", "not a modes.json of tinygan modes (a JSON list, not an "
                                      "object)"),
                        ("empty.json", "it holds no runs, so there is no table to print"),
                        ("ints.json", "not a modes.json of tinygan modes (a run record is not one "
                                      "of ours: AttributeError")):
        rc = cli.main(["modes", "--tables-from", name])
        _one_line_error(capsys, "modes", rc, f"--tables-from {name}: {match}")
    record = {"data": "ring", "method": "gan", "seed": 0, "k": 1, "steps": 10,
              "gp_lambda": None, "seconds": 1.0, "modes": 3, "num_modes": 8,
              "high_quality": 0.5, "kl": 0.2, "counts": [1, 1, 1, 0, 0, 0, 0, 0]}
    (tmp_path / "good.json").write_text(json.dumps({"protocol": "quick", "runs": [record]}))
    assert cli.main(["modes", "--tables-from", "good.json"]) == 0
    assert "| gan | 1 | 1 | 10 | 3.00 |" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()  # printing tables makes no run folder


@pytest.mark.parametrize("name", list(cli.EXPERIMENTS))
def test_help_is_written_for_people(name):
    """What it shows, how long it takes, its notebook; every flag explained with its default."""
    import argparse
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    sub = cli._subparsers(cli.build_parser())[name]
    text = sub.format_help()
    desc = cli._module(name).DESCRIPTION
    assert re.search(r"^Time[^:\n]*:", desc, re.M), desc  # how long it takes
    assert "Writes to --out" in desc and "Notebook: notebooks/" in desc
    for bad in ("papers.md", "experiment 1", "``", ":class:", ":func:", "§"):
        assert bad not in text, (name, bad)
    for path in re.findall(r"(?:notebooks|derivations)/[\w./-]+\w", desc):
        assert (root / path).exists(), path  # nothing outside the repository
    for action in sub._actions:
        if action.dest == "help":
            continue
        assert action.help, (name, action.dest)
        if action.option_strings and not isinstance(action, argparse._StoreTrueAction):
            assert "default" in action.help, (name, action.dest, action.help)


def test_every_description_is_wrapped_for_a_terminal():
    subs = cli._subparsers(cli.build_parser())
    for name, sub in subs.items():
        assert max(map(len, sub.description.splitlines())) <= 90, name
    assert all(f" {name}" in subs["demo"].description.replace("\n", " ") for name in cli.DEMO)


def test_demo_passes_its_flags_and_resumes_what_was_interrupted(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run_command(parser, name, args, argv, resume_command=None):
        calls.append((name, argv, resume_command))
        return 0

    monkeypatch.setattr(cli, "run_command", fake_run_command)
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--no-animation", "--no-progress",
                     "--threads", "1"]) == 0
    assert [c[0] for c in calls] == cli.DEMO
    for name, argv, _ in calls:  # every sub-command got flags it accepts (parsed above)
        assert argv[:3] == [name, "--out", str(out / name)] and "--threads" in argv
        assert ("--quick" in argv) == (name != "toy2x2")
        assert ("--no-animation" in argv) == cli._module(name).ANIMATION
    (out / "toy2x2").mkdir(parents=True)
    (out / "toy2x2" / "run.json").write_text(json.dumps({"status": "completed"}))
    (out / "optimal-d").mkdir()
    (out / "optimal-d" / "run.json").write_text(json.dumps({"status": "interrupted"}))
    calls.clear()
    assert cli.main(["demo", "--out", str(out), "--resume"]) == 0
    assert [c[0] for c in calls] == cli.DEMO[1:]  # the completed toy is skipped
    assert "--resume" in calls[0][1] and "--resume" not in calls[1][1]
    assert calls[0][2] == f"tinygan demo --out {out} --resume"
    assert "completed already" in capsys.readouterr().out


# -- quick mode prints the targets it gates, and no other ---------------------------------------
# (the reports of cgan, cyclegan, stylegan and gan3d, on made-up numbers: no training)

def _score(**extra):
    return {"inception_score": 1.5, "fid": 3.0, "histogram": [10] * 10, "classes_present": 8,
            "n": 100, **extra}


def _cgan_result():
    from tinygan.experiments import cgan
    from tinygan.train import History

    return cgan.CGANResult(
        method="cgan", G=None, D=None, config={}, history=History(), classifier=None,
        classifier_accuracy=0.97, label_accuracy=0.925, per_class_accuracy=[0.9] * 10,
        scores={"real": _score(), "conditioned": _score()}, per_class=[_score()] * 10,
        dstar={"mean_abs_error_m": [0.0043, 0.0201], "target": 0.01}, seconds=1.0)


def _cyclegan_result(data, lam=10.0):
    from tinygan.experiments import cyclegan

    two = {"G": 0.5, "F": 0.5}
    numbers = {"cycle_l1": {"X": 0.0011, "Y": 0.0011}}
    if data == "points":
        modes = {"modes": 0, "num_modes": 5, "high_quality": 0.0}
        numbers.update(modes_G=modes, modes_F=modes, mode_correspondence=two, map_error=two,
                       std_Y=0.13)
    else:
        numbers.update(label_preserved=two, judge_on_truth=0.9, paired_l1=two,
                       paired_l1_identity=two)
    return cyclegan.CycleResult(
        data=data, G=None, F=None, D_X=None, D_Y=None, config={"lambda_cyc": lam},
        history=None, numbers=numbers, seconds=1.0,
        dstar=[{"relative_error_m": 0.02, "a": -1, "b": 1}, {"relative_error_m": 0.02,
                                                                "a": 0, "b": 1}])


def test_cgan_quick_report_shows_the_quick_target_and_no_dstar_target():
    from tinygan.experiments import cgan

    r = _cgan_result()  # the demo's numbers: D* of class 1 above 0.01, and that is fine
    assert cgan.passed(r, quick=True) and not cgan.passed(r, quick=False)
    quick, full = r.table(quick=True), r.table()
    assert "label_accuracy 0.925 (target ≥ 0.8 in quick mode)" in quick
    dstar = [ln for ln in quick.splitlines() if ln.startswith("conditional D*")]
    assert dstar[0].endswith("0.0201 (class 1)  (quick mode: no target)"), dstar
    assert "target ≤" not in quick and "0.95" not in quick
    assert "(target ≥ 0.95)" in full and full.endswith("(class 1)  (target ≤ 0.01)")


@pytest.mark.parametrize("data", ["points", "digits"])
def test_cyclegan_quick_report_shows_the_quick_targets_and_no_dstar_target(data):
    r = _cyclegan_result(data)
    quick, full = r.table(quick=True), r.table()
    assert quick.endswith("(a = 0, b = 1)  (quick mode: no target)")
    assert full.endswith("(a = 0, b = 1)  (target ≤ 0.01)")
    if data == "points":
        assert "(λ_cyc = 10; target ≤ 0.01 both ways in quick mode)" in quick
        assert "(λ_cyc = 10)" in full
    else:
        assert "(target for G ≥ 0.4 in quick mode;" in quick and "0.9;" not in quick
        assert "(target for G ≥ 0.9;" in full
        ablation = _cyclegan_result(data, lam=0.0).table(quick=True)  # gates nothing
        assert "(quick mode: no target;" in ablation and "≥" not in ablation


def test_stylegan_and_gan3d_quick_reports_print_no_target():
    from types import SimpleNamespace

    from tinygan.experiments import gan3d, stylegan
    from tinygan.train import History

    def history(n):
        h = History()
        h.loss_G, h.D_updated = [0.0] * n, [1.0] * n
        return h

    s = SimpleNamespace(scores={"real": _score()}, accuracy=0.97, dcgan={}, mapping_change={
        "mapping": 0.0, "synthesis": 0.0}, truncation={1.0: _score()}, noise={
        "pixel_std_noise": 0.1, "pixel_std_style": 0.3}, mixing={
        "pairs": 191, "cutoff": 2, "follows_coarse": 0.298, "follows_fine": 0.361,
        "follows_coarse_reversed": 0.262})
    for steps, quick, note in [(40, True, "0.298   (quick mode: no target)"),
                               (500, False, "0.298   (a short run: no target)"),
                               (stylegan.STEPS, False, "0.298   target ≥ 0.9")]:
        s.history = history(steps)
        table = stylegan.StyleGANResult.table(s, quick=quick)
        assert note in table and table.count("target") == 1, table
    factors = {"real": _score(is_diversity=2.0, is_confidence=0.75),  # IS 1.5
               "gan3d": _score(inception_score=0.9, is_diversity=1.8, is_confidence=0.5)}
    g = SimpleNamespace(accuracy=0.62, scores={k: factors.get(k, _score())
                                               for k in ("real", "gan3d", "noise")},
                        nearest={k: {"mean": 0.2, "median": 0.2, "share_above_0.95": 0.0}
                                 for k in ("real", "gan3d")}, history=history(30),
                        classes_covered_fraction=0.25, is_ratio_to_real=0.486,
                        config={"d_accuracy_limit": 0.8})
    table = gan3d.GAN3DResult.table(g, no_target="quick mode")
    assert "D steps skipped by the rule (accuracy above 0.8): 0.0%" in table
    assert ("IS = diversity × confidence: samples 1.80 × 0.500, real 2.00 × 0.750; at the "
            "samples' class shares even sure samples would reach IS / IS_real 1.200") in table
    assert table.endswith("classes covered 0.250, IS / IS_real 0.486 (quick mode: no target)")
    assert gan3d.GAN3DResult.table(g).endswith("0.486 (target ≥ 0.9)")


def test_a_batch_as_large_as_the_training_set_is_accepted(tmp_path, capsys):
    """The bound is the set's size, not one less; infinite data (cyclegan's points) has none;
    dcgan --data is checked against the files once they are read (before training)."""
    from tinygan.experiments import cgan, cyclegan, dcgan, gan3d, stylegan

    parser = cli.build_parser()
    for mod, argv in [(dcgan, ["dcgan", "--batch-size", "1797"]),
                      (cgan, ["cgan", "--batch-size", "1797"]),
                      (stylegan, ["stylegan", "--batch-size", "1797"]),
                      (cyclegan, ["cyclegan", "--data", "digits", "--batch-size", "898"]),
                      (cyclegan, ["cyclegan", "--batch-size", "5000"]),
                      (gan3d, ["gan3d", "--quick", "--batch-size", "400"])]:
        mod.check_args(parser.parse_args(argv))  # does not raise
    d = tmp_path / "thirty"
    d.mkdir()
    _write_idx_images(d, np.zeros((30, 28, 28), np.uint8), np.arange(30, dtype=np.uint8) % 10)
    rc = cli.main(["dcgan", "--data", str(d), "--batch-size", "31", "--out",
                   str(tmp_path / "o"), "--no-progress"])
    _one_line_error(capsys, "dcgan", rc, "argument --batch-size: expected at most 30 (the images "
                                         "it trains on, IDX thirty 28×28), got 31")


def test_every_learning_rate_option_takes_a_rate_in_0_1():
    """One rule for every command's learning-rate flags (and the ones to come): runs'
    learning_rate type, which takes 1 and the defaults and refuses what is above 1."""
    from tinygan import runs

    parser = cli.build_parser()
    found = []
    for name, sub in cli._subparsers(parser).items():
        for action in sub._actions:
            if any("lr" in opt.lstrip("-").split("-") for opt in action.option_strings):
                found.append(f"{name} {action.option_strings[0]}")
                assert action.type is runs.learning_rate, found[-1]
                assert runs.learning_rate(str(action.default)) == action.default
    assert sorted(found) == ["gan3d --lr-d", "gan3d --lr-g", "stylegan --mapping-lr-mul"]
    assert runs.learning_rate("1") == 1.0 and runs.learning_rate("2e-4") == 2e-4


# -- Ctrl-C while Python imports tinygan: the console script's light entry module -----------------

def test_ctrl_c_while_importing_is_one_line(monkeypatch, capsys):
    import signal

    import _tinygan_entry as entry

    # pytest may run with SIGINT ignored (a background job of a non-interactive shell):
    # give this test the interactive default, and put back what was there after it
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_while_importing(monkeypatch, capsys, entry)
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_ignored_ctrl_c_stays_ignored(monkeypatch):
    """Started with SIGINT ignored (nohup), the entry neither installs its handler nor
    restores another one: the command runs as Python was told."""
    import signal

    import _tinygan_entry as entry

    seen = []

    class FakeCli:
        @staticmethod
        def main():
            seen.append(signal.getsignal(signal.SIGINT))
            return 0

    def import_module(name):  # what a Ctrl-C would meet during the imports
        seen.append(signal.getsignal(signal.SIGINT))
        return FakeCli

    monkeypatch.setattr(entry.importlib, "import_module", import_module)
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert entry.main() == 0
        assert seen == [signal.SIG_IGN] * 2 and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def _ctrl_c_while_importing(monkeypatch, capsys, entry):
    import signal

    def interrupted_import(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(entry.importlib, "import_module", interrupted_import)
    assert entry.main() == 130
    assert capsys.readouterr().err == "tinygan: interrupted\n"

    def interrupted_in_c(name):  # NumPy's C import turns the Ctrl-C into an ImportError
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            raise ImportError('PyCapsule_Import could not import module "datetime"') from None

    monkeypatch.setattr(entry.importlib, "import_module", interrupted_in_c)
    assert entry.main() == 130
    assert capsys.readouterr().err == "tinygan: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored

    def broken(name):  # a real import failure is not mistaken for a Ctrl-C
        raise ImportError("No module named 'numpy'")

    monkeypatch.setattr(entry.importlib, "import_module", broken)
    with pytest.raises(ImportError, match="numpy"):
        entry.main()


def test_the_console_script_enters_through_a_module_that_imports_nothing_heavy():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(os.path.dirname(__file__), "..", "setup.cfg"))
    assert "tinygan = _tinygan_entry:main" in cfg["options.entry_points"]["console_scripts"]
    assert "_tinygan_entry" in cfg["options"]["py_modules"].split()
    code = ("import sys, _tinygan_entry; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'numpy', 'tinygan', 'matplotlib'}))")
    res = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True,
                         cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert res.returncode == 0 and res.stdout == "[]\n", res


def test_the_entry_module_runs_the_command_line(monkeypatch, capsys):
    import _tinygan_entry as entry

    monkeypatch.setattr(sys, "argv", ["tinygan", "--version"])
    assert entry.main() == 0
    assert capsys.readouterr().out.startswith("tinygan ")
