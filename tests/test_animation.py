"""GIFs of training and DCGAN's latent paths: the writer, the frames, the interpolation math."""

import doctest

import numpy as np

from tinygan import animation, backend
from tinygan.image_plots import interpolate_latents


def test_doctests_of_the_writer_and_the_rng_state():
    for module in (animation, backend):
        result = doctest.testmod(module, verbose=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_linear_and_spherical_paths_start_and_end_at_their_vectors():
    gen = np.random.default_rng(0)
    z0, z1 = gen.standard_normal((3, 16)), gen.standard_normal((3, 16))
    for kind in ("linear", "spherical"):
        path = interpolate_latents(z0, z1, num=7, kind=kind)
        assert path.shape == (3, 7, 16)
        np.testing.assert_allclose(path[:, 0], z0, atol=1e-12)
        np.testing.assert_allclose(path[:, -1], z1, atol=1e-12)
    lin = interpolate_latents(z0, z1, 3, "linear")
    np.testing.assert_allclose(lin[:, 1], (z0 + z1) / 2)
    # slerp between two vectors of one length stays on that sphere; the line cuts inside
    z1 = z1 / np.linalg.norm(z1, axis=1, keepdims=True) * np.linalg.norm(z0, axis=1,
                                                                       keepdims=True)
    sph = interpolate_latents(z0, z1, 9, "spherical")
    norms = np.linalg.norm(sph, axis=2)
    np.testing.assert_allclose(norms, norms[:, :1].repeat(9, axis=1), rtol=1e-12)
    assert (np.linalg.norm(interpolate_latents(z0, z1, 9, "linear")[:, 4], axis=1)
            < norms[:, 4] - 1e-6).all()
    same = interpolate_latents(z0, z0, 4, "spherical")  # Ω = 0: no division by sin 0
    np.testing.assert_allclose(same, np.repeat(z0[:, None], 4, axis=1))


def _frames(path):
    from PIL import Image

    with Image.open(path) as gif:
        return gif.n_frames


def test_figure1_and_modes_animate_what_they_kept(tmp_path):
    import matplotlib.pyplot as plt

    from tinygan.experiments import figure1, modes

    cfg = figure1.Config(batch_size=32, steps_a=4, dstar_steps=6, dstar_batch=32, steps_c=2,
                         chunks_d=1, steps_per_chunk=4)
    res = figure1.run(cfg, frames=8)
    assert sorted(res.frames)[0] == 0 and max(res.frames) == 16
    fig, draw, n = figure1.animate_figure1(res)
    animation.save_gif(tmp_path / "f.gif", fig, draw, n)
    plt.close(fig)
    assert _frames(tmp_path / "f.gif") == n == len(res.frames)

    runs_ = [modes.run("ring", m, protocol="quick", steps=12, snapshots=2, frames=4)
             for m in ("gan", "pac2")]
    assert all(sorted(r.frames) == [0, 4, 8, 12] for r in runs_)
    assert runs_[0].frames[12].shape == (modes.FRAME_SAMPLES, 2)
    fig, draw, n = modes.animate_modes(runs_, "ring")
    assert len(fig.axes) == 2  # the plain GAN beside PacGAN
    animation.save_gif(tmp_path / "m.gif", fig, draw, n)
    plt.close(fig)
    assert _frames(tmp_path / "m.gif") == 4
