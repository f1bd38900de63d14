"""tools/gan3d_replica.py: the torch replica computes what tinygan's 3D-GAN networks compute.

The README quotes settings tried in the replica; these tests are why its numbers speak for
tinygan's networks: with tinygan's weights copied in, the replica's G and D give tinygan's
outputs, and its straight-through binarisation passes the gradient unchanged.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from tinygan.experiments import gan3d as E
from tinygan.models.gan3d import gan3d_pair

from .conftest import needs_torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))


def _replica():
    import gan3d_replica as R
    return R


@needs_torch
@pytest.mark.parametrize("width", [2, 3])
def test_replica_networks_give_tinygan_outputs_with_tinygan_weights(width):
    import torch
    R = _replica()
    G, D, _ = gan3d_pair(width=width, seed=0, dtype="float64")
    tG = R.copy_from_tinygan(G, R.generator(200, width).double())
    body, head = R.discriminator(width)
    tD = R.copy_from_tinygan(D, torch.nn.Sequential(body, head).double())
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 200))
    x = rng.uniform(0, 1, (5, 1, 16, 16, 16))
    with torch.no_grad():  # both in training mode: BatchNorm on the batch's statistics
        np.testing.assert_allclose(tG(torch.from_numpy(z)).numpy(), G.forward(z),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(tD(torch.from_numpy(x)).numpy(), D.forward(x),
                                   rtol=1e-9, atol=1e-12)


@needs_torch
def test_copy_refuses_networks_of_another_depth():
    R = _replica()
    G, _, _ = gan3d_pair(width=2, seed=0)
    body, _ = R.discriminator(2)
    with pytest.raises(ValueError, match="tinygan layers with weights"):
        R.copy_from_tinygan(G, body)


@needs_torch
@pytest.mark.parametrize("how", ["threshold", "bernoulli"])
def test_straight_through_binarises_forward_and_passes_the_gradient(how):
    import torch
    R = _replica()
    torch.manual_seed(0)
    p = torch.rand(200, dtype=torch.float64, requires_grad=True)
    b = R.straight_through(p, how)
    assert set(b.detach().unique().tolist()) <= {0.0, 1.0}
    if how == "threshold":
        assert torch.equal(b.detach(), (p.detach() > 0.5).double())
    up = torch.randn(200, dtype=torch.float64)
    (b * up).sum().backward()
    assert torch.equal(p.grad, up)  # ∂b/∂p taken as 1
    assert R.straight_through(p, "none") is p


@needs_torch
def test_main_trains_and_scores_with_codes_and_average(capsys):
    R = _replica()
    results = R.main(["--steps", "2", "--batch-size", "8", "--quick", "--codes", "3",
                      "--ema", "0.5"])
    n = E.QUICK["eval_size"]
    for s in results.values():
        assert 0 < s["ratio"] < 2 and np.isfinite(s["fid"])
        assert sum(s["histogram"]) == n and np.asarray(s["code_table"]).sum() == n
        assert len(s["code_table"]) == 3 and 0 < s["code_purity"] <= 1
    out = capsys.readouterr().out
    assert "G, moving average: IS ratio" in out and "purity" in out


@needs_torch
def test_score_every_scores_g_along_the_run_without_changing_it(capsys):
    # scoring in between draws from torch's stream, so training must not depend on it:
    # the final G scores the same with and without the scores in between
    R = _replica()
    args = ["--steps", "4", "--batch-size", "8", "--quick"]
    plain = R.main(args)["G"]
    scored = R.main(args + ["--score-every", "2"])
    assert list(scored) == ["G at step 2", "G"]
    assert scored["G"] == plain and scored["G at step 2"] != plain
    assert "G at step 2: IS ratio" in capsys.readouterr().out


@needs_torch
def test_learning_rates_decay_linearly_from_the_given_step():
    R = _replica()
    assert [R.lr_factor(t, 6, 10) for t in range(10)] == [1] * 7 + [0.75, 0.5, 0.25]
    assert all(R.lr_factor(t, 0, 10) == 1 for t in range(10))           # 0: no decay


@needs_torch
def test_a_mixture_sends_each_chunk_of_the_batch_to_its_own_generator():
    import torch
    R = _replica()
    torch.manual_seed(0)
    parts = [R.generator(latent_dim=5, width=2) for _ in range(3)]
    mix = R.Mixture(parts).eval()
    z = torch.randn(6, 5)
    with torch.no_grad():
        out = mix(z)
        want = torch.cat([parts[k](z[2 * k:2 * k + 2]) for k in range(3)])
        assert out.shape == (6, 1, 16, 16, 16) and torch.equal(out, want)
        assert not torch.equal(parts[0](z[:2]), parts[1](z[:2]))  # three different nets


@needs_torch
def test_the_patch_d_gives_one_logit_per_local_neighbourhood():
    import torch
    R = _replica()
    torch.manual_seed(0)
    local = R.local_discriminator(width=2)
    x = torch.zeros(2, 1, 16, 16, 16)
    assert local(x).shape == (2, 1, 8, 8, 8)
    # a change at one voxel moves only the logits whose 6³ neighbourhood holds it: voxel u
    # reaches first-layer outputs u − 1 … u + 1, and logit j reads those at 2j − 1 … 2j + 2
    for u, first in ((0, 0), (7, 2)):
        y = x.clone()
        y[0, 0, u, u, u] = 1
        with torch.no_grad():
            moved = (local(y) != local(x))[0, 0]
        reach = [j for j in range(8) if 2 * j - 1 <= u + 1 and 2 * j + 2 >= u - 1]
        assert reach[0] == first
        block = (slice(reach[0], reach[-1] + 1),) * 3
        assert moved[block].all() and moved.sum() == len(reach) ** 3, u
