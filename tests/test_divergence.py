"""Training that blows up stops with TrainingDiverged naming the step and what went non-finite.

And the checks that keep nonsense from training silently: fit's first-step checks of
D's output and of the samplers, and the layer constructors' checks of their arguments.
"""

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend
from tinygan.gans.wgan import fit_wgan
from tinygan.layers.embedding import Embedding
from tinygan.layers.norm import InstanceNorm2d
from tinygan.train import TrainingDiverged


def _gan(seed=0):
    rng = backend.rng(seed)
    G = tg.Sequential(tg.Dense(2, 32, rng=rng), tg.ReLU(), tg.Dense(32, 2, rng=rng))
    D = tg.Sequential(tg.Dense(2, 32, rng=rng), tg.LeakyReLU(0.2), tg.Dense(32, 1, rng=rng))
    return G, D, rng


def _fit(opt, lr, steps=200, data_nan=False, **kw):
    G, D, rng = _gan()

    def data(m):
        x = (rng.standard_normal((m, 2)) * 0.5 + 3).astype("float32")
        if data_nan:
            x[3, 1] = np.nan
        return x

    def noise(m):
        return rng.standard_normal((m, 2), dtype="float32")

    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point here
        return tg.fit(G, D, data, noise, opt(G, lr), opt(D, lr), num_steps=steps,
                      batch_size=64, **kw)


def test_exploding_adam_is_caught_in_its_second_moment():
    """Adam lr 1e8 used to run all steps at loss 4e35: v overflows, the updates become 0."""
    with pytest.raises(TrainingDiverged) as info:
        _fit(lambda m, lr: tg.Adam(m, lr, betas=(0.5, 0.999)), 1e8)
    msg = str(info.value)
    assert msg.startswith("training stopped at step 2: Adam's v for D parameter 0.W became "
                          "non-finite (64 inf): the gradients exploded"), msg
    assert "lr_G = 1e+08, lr_D = 1e+08" in msg and "non-saturating" not in msg


def test_a_layer_input_that_blows_up_mid_step_names_the_layer_and_the_parameters():
    """SGD lr 100 used to stop with a bare LayerInputError and no step."""
    with pytest.raises(TrainingDiverged) as info:
        _fit(tg.SGD, 100.0)
    msg = str(info.value)
    assert msg.startswith("training stopped at step 3 in the generator step: D layer 1, "
                          "LeakyReLU(0.2), received 2048 non-finite value(s)"), msg
    assert "Lower the learning rates (lr_G = 100, lr_D = 100)" in msg


def test_a_non_finite_loss_gets_the_hint_that_fits():
    with pytest.raises(TrainingDiverged, match=r"step 1: the generator \(minimax\) loss is nan.*"
                                               r"or train G with the non-saturating loss "
                                               "instead of minimax"):
        _fit(tg.SGD, 100.0, generator_loss="minimax")


def test_nan_in_the_data_is_named_as_the_data():
    with pytest.raises(TrainingDiverged, match=r"step 0 in the discriminator step: D layer 0, "
                                               r"Dense\(2→32\), received 1 non-finite.*The data "
                                               r"batch itself holds NaN or inf"):
        _fit(tg.Adam, 1e-3, data_nan=True)


def test_fit_checks_d_output_and_sampler_rows_on_the_first_step():
    G, D, rng = _gan()
    D2 = tg.Sequential(tg.Dense(2, 8, rng=rng), tg.LeakyReLU(0.2), tg.Dense(8, 2, rng=rng))

    def data(m):
        return rng.standard_normal((m, 2), dtype="float32")

    def short(m):
        return rng.standard_normal((m - 1, 2), dtype="float32")

    opts = (tg.Adam(G), tg.Adam(D))
    with pytest.raises(ValueError, match=r"D returned logits of shape \(8, 2\); .* shape \(N, 1\)"):
        tg.fit(G, D2, data, data, tg.Adam(G), tg.Adam(D2), 3, 8)
    with pytest.raises(ValueError, match=r"fit: sample_real\(8\) returned shape \(7, 2\); it "
                                         r"must return a batch of 8 rows"):
        tg.fit(G, D, short, data, *opts, 3, 8)
    with pytest.raises(ValueError, match=r"fit: sample_noise\(8\) returned shape \(7, 2\)"):
        tg.fit(G, D, data, short, *opts, 3, 8)


def test_the_wgan_loop_stops_on_a_loss_and_names_the_critic_layer():
    G, C, rng = _gan()

    def data(m):
        return rng.standard_normal((m, 2)).astype("float32")

    def bad_data(m):
        x = data(m)
        x[0, 0] = np.inf
        return x

    with pytest.raises(TrainingDiverged, match=r"^training stopped at step 2: the critic loss "
                                               r"is -inf. Lower the learning rates \(lr_G = "
                                               r"10000, lr_critic = 10000\)"), \
            np.errstate(over="ignore", invalid="ignore"):
        fit_wgan(G, C, data, data, tg.SGD(G, 1e4), tg.SGD(C, 1e4), 50, 32, clip=100.0)
    with pytest.raises(TrainingDiverged, match=r"^training stopped at step 0 in the critic step: "
                                               r"critic layer 0, Dense\(2→32\), received 1 "
                                               r"non-finite.*The data batch itself"):
        fit_wgan(G, C, bad_data, data, tg.Adam(G), tg.Adam(C), 5, 32, gp_lambda=10.0)


def test_the_family_loops_name_the_step_and_the_layer_that_blew_up():
    """cgan.fit and CycleGAN's fit (fit_stylegan: test_stylegan.py) stopped with a bare
    NonFiniteInputError, no step (`tinygan cgan` called it "a bug in tinygan"); they share
    fit's Watch now."""
    from tinygan.gans import cgan, cyclegan
    from tinygan.models import conditional
    from tinygan.models import cyclegan as mc

    gen = np.random.default_rng(0)
    rng = backend.rng(0)
    G = conditional.conditional_generator(latent_dim=4, width=3, embed_dim=3, rng=rng)
    D = conditional.cgan_discriminator(width=3, rng=rng)
    with pytest.raises(TrainingDiverged) as info, np.errstate(over="ignore", invalid="ignore"):
        cgan.fit(G, D, lambda m: (gen.uniform(-1, 1, (m, 1, 8, 8)).astype("float32"),
                                  gen.integers(0, 10, m)),
                 lambda m: gen.standard_normal((m, 4)).astype("float32"),
                 lambda m: gen.integers(0, 10, m), tg.SGD(G, 100.0), tg.SGD(D, 100.0), 100, 8)
    assert str(info.value).startswith("training stopped at step 11 in the discriminator step: "
                                      "G layer 1.0, Dense(7→24), received 18 non-finite"), info
    assert "Lower the learning rates (lr_G = 100, lr_D = 100)" in str(info.value)

    gen, rng = np.random.default_rng(0), backend.rng(0)
    G, F = (mc.mlp_generator(5, rng, "float32") for _ in range(2))
    D_X, D_Y = (mc.mlp_discriminator(5, rng, "float32") for _ in range(2))
    opts = tuple(tg.SGD(m, 1.0) for m in (G, F, D_X, D_Y))
    pools = (cyclegan.HistoryPool(0, backend.rng(1)), cyclegan.HistoryPool(0, backend.rng(2)))

    def points(m):
        return gen.standard_normal((m, 2)).astype("float32")

    with pytest.raises(TrainingDiverged, match=r"^training stopped at step 2 in the generator "
                                               r"step: D_X layer 3, LeakyReLU\(0.2\), received "
                                               r"80 non-finite"), \
            np.errstate(over="ignore", invalid="ignore"):
        cyclegan.fit(G, F, D_X, D_Y, points, points, opts, pools, 200, lr=100.0, batch_size=16)


@pytest.mark.parametrize("make, match", [
    (lambda: tg.Dense(4.5, 2), "Dense needs an integer in_features, got 4.5"),
    (lambda: tg.Dense(4, "2"), "Dense needs an integer out_features, got '2'"),
    (lambda: tg.Dense(4, 2, dtype="int32", rng=backend.rng(0)),
     "Dense needs a floating-point dtype such as 'float32' (gradients are real numbers), got "
     "int32"),
    (lambda: tg.Dense(4, 2, rng=42), "Dense needs rng to be a random Generator "
                                     "(tinygan.backend.rng(seed)), got int 42"),
    (lambda: tg.Dense(4, 2, rng=np.random.RandomState(0)), "got RandomState"),
    (lambda: tg.Conv2d(1, 2.0, 3, rng=backend.rng(0)), "Conv2d needs an integer out_channels"),
    (lambda: tg.Conv2d(1, 2, 3, rng=7), "Conv2d needs rng to be a random Generator"),
    (lambda: tg.ConvTranspose2d(1, 2, 4, dtype="int64", rng=backend.rng(0)),
     "ConvTranspose2d needs a floating-point dtype"),
    (lambda: tg.BatchNorm(3, dtype="bool"), "BatchNorm needs a floating-point dtype"),
    (lambda: tg.Dense(4, 2, dtype="nonsense"), "Dense needs a floating-point dtype such as "
                                               "'float32', got 'nonsense'"),
    (lambda: Embedding(10, 4, rng=3), "Embedding needs rng to be a random Generator"),
    (lambda: Embedding(10, 4, dtype="int32", rng=backend.rng(0)),
     "Embedding needs a floating-point dtype"),
    (lambda: InstanceNorm2d(3, dtype="uint8"), "InstanceNorm2d needs a floating-point dtype"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_layer_constructors_reject_bad_arguments_in_one_line(make, match):
    with pytest.raises((TypeError, ValueError)) as info:
        make()
    assert match in str(info.value) and "\n" not in str(info.value)


def test_the_steps_check_the_losses_and_replay_the_forwards_to_name_the_layer(monkeypatch):
    """update_d/update_g scan no layer input while the losses are finite; a non-finite loss
    replays the step's forwards in the order the step ran them, so the first layer that
    received NaN raises: G's ReLU (fed by a NaN bias) in D's step, although D's real
    batch came first and was fine; D's first layer for NaN data."""
    from tinygan.layers.base import NonFiniteInputError

    G, D, rng = _gan()
    x = rng.standard_normal((8, 2)).astype("float32")
    z = rng.standard_normal((8, 2)).astype("float32")
    opt_D, opt_G = tg.Adam(D), tg.Adam(G)
    scans = []
    real_all_finite = backend.all_finite
    monkeypatch.setattr(backend, "all_finite", lambda a: scans.append(a.shape)
                        or real_all_finite(a))
    tg.update_d(G, D, x, z, opt_D)
    tg.update_g(G, D, z, opt_G)
    assert scans == []  # the Adam state check is fit's, not the steps'

    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(NonFiniteInputError, match=r"Dense\(2→32\) received 1 non-finite") as info:
        tg.update_d(G, D, bad, z, opt_D)
    assert info.value.layer is D.layers[0]

    G.layers[0].params["b"][5] = np.nan
    for step in (lambda: tg.update_d(G, D, x, z, opt_D), lambda: tg.update_g(G, D, z, opt_G)):
        with pytest.raises(NonFiniteInputError, match=r"ReLU\(\) received 8 non-finite") as info:
            step()
        assert info.value.layer is G.layers[1]
        assert all(layer.cache is None for net in (G, D) for layer in net.layers)
