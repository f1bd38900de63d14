"""The mode-collapse experiment: short runs with fixed seeds, and the CLI in quick mode."""

import json

import numpy as np
import pytest

from tinygan import backend
from tinygan.data.mixtures import mixture
from tinygan.experiments import modes as exp
from tinygan.modes import NUM_EVAL_SAMPLES, sample_generator


def test_a_short_packed_gan_run_on_the_ring_spreads_over_modes():
    r = exp.run("ring", "pac2", seed=0, protocol="quick", steps=300)
    # Seed 0, quick protocol: 7 modes are reached after 300 steps; 5 leaves margin.
    assert r.stats.modes >= 5, r.stats


def _mean_distance_to_nearest_mode(x, means):
    return float(np.sqrt(((x[:, None, :] - means[None]) ** 2).sum(-1)).min(1).mean())


def test_a_short_wgan_gp_run_moves_g_onto_the_ring():
    """40 steps of WGAN-GP (λ = 0.1, seed 0) against the untrained G of the same builder and
    seed: seed 0 measured the mean distance to the nearest mode 0.84 → 0.57 and the mean
    radius 0.16 → 1.30 (the ring's is 1)."""
    r = exp.run("ring", "wgan-gp", seed=0, protocol="quick", steps=40, snapshots=1, gp_lambda=0.1)
    assert r.gp_lambda == 0.1 and exp.run_record(r)["gp_lambda"] == 0.1
    means = mixture("ring").means
    G0 = exp.build_generator(exp.PROTOCOLS["quick"].g_hidden, backend.rng(0))
    start = sample_generator(G0, NUM_EVAL_SAMPLES, exp.LATENT_DIM, seed=30_000)
    step, end, _ = r.snapshots[-1]
    assert step == 40
    d0 = _mean_distance_to_nearest_mode(start, means)
    d1 = _mean_distance_to_nearest_mode(end, means)
    assert d1 < 0.8 * d0, (d0, d1)
    r0, r1 = (float(np.linalg.norm(x, axis=1).mean()) for x in (start, end))
    assert r0 < 0.3 and r1 > 0.6, (r0, r1)


def test_pack_size_and_networks():
    assert [exp.pack_size(m) for m in exp.METHODS] == [1, 2, 3, 4, 1, 1]
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
