"""The mode-collapse experiment: short runs with fixed seeds, and the CLI in quick mode."""

import json
import math

import pytest

from tinygan.experiments import modes as exp


def test_a_short_packed_gan_run_on_the_ring_stays_finite_and_spreads_over_modes():
    r = exp.run("ring", "pac2", seed=0, protocol="quick", steps=300)
    h = r.history.as_arrays()
    assert len(h["loss_D"]) == 300
    assert all(math.isfinite(v) for k in ("loss_D", "loss_G") for v in h[k])
    # Seed 0, quick protocol: 7 modes are reached after 300 steps; 5 leaves margin.
    assert r.stats.modes >= 5, r.stats


def test_a_short_wgan_gp_run_stays_finite():
    r = exp.run("ring", "wgan-gp", seed=0, protocol="quick", steps=40, snapshots=1, gp_lambda=0.1)
    assert r.gp_lambda == 0.1 and exp.run_record(r)["gp_lambda"] == 0.1
    h = r.history.as_arrays()
    assert all(math.isfinite(v) for k in ("loss_D", "loss_G") for v in h[k])
    assert r.stats.num_modes == 8


def test_pack_size_and_networks():
    assert [exp.pack_size(m) for m in exp.METHODS] == [1, 2, 3, 4, 1, 1]
    from tinygan import backend

    D = exp.build_discriminator((8,), backend.rng(0), m=3)
    assert repr(D) == "Sequential(Pack(3), Dense(6→8), LeakyReLU(0.2), Dense(8→1))"
    with pytest.raises(ValueError, match="unknown method"):
        exp.run("ring", "vae")


def test_cli_quick_prints_the_table_beside_the_published_one(tmp_path, capsys):
    from tinygan.cli import main

    assert main(["modes", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "PacGAN Table 1" in out and "7.9 ± 0.1 / 95.6" in out and "VEEGAN" in out
    rows = json.loads((tmp_path / "modes.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"gan", "pac2"}
    assert (tmp_path / "modes.md").exists()
    assert list(tmp_path.glob("modes_ring_*.png"))
