"""The GAN family: one module per variant, each holding that variant's losses and update steps.

``tinygan.train`` holds the original GAN (Algorithm 1 of Goodfellow et al. 2014); every
other variant lives here, one file each, so that a reader who wants "what is a WGAN"
opens one module:

* :mod:`tinygan.gans.wgan`: WGAN (weight clipping) and WGAN-GP (gradient penalty, with its
  hand-written double backward);
* :mod:`tinygan.gans.pacgan`: PacGAN's packed discriminator;
* :mod:`tinygan.gans.lsgan`: the least-squares GAN losses and their optimal D;
* :mod:`tinygan.gans.cgan`: the conditional GAN (both players see the label);
* :mod:`tinygan.gans.acgan`: AC-GAN (D predicts the label with a second head);
* :mod:`tinygan.gans.cyclegan`: CycleGAN's two-chain generator step, its discriminators'
  step and the history pool;
* :mod:`tinygan.gans.stylegan`: StyleGAN's logistic losses, the R1 penalty (with its
  hand-written double backward), style mixing and the moving average of w;
* :mod:`tinygan.gans.gan3d`: 3D-GAN's adaptive training (D steps skipped above 80 % accuracy).

Layers a variant needs live in :mod:`tinygan.layers`, architectures in
:mod:`tinygan.models`, and each variant's command in :mod:`tinygan.experiments`.
"""

from . import acgan, cgan, cyclegan, gan3d, lsgan, pacgan, stylegan, wgan

__all__ = ["acgan", "cgan", "cyclegan", "gan3d", "lsgan", "pacgan", "stylegan", "wgan"]
