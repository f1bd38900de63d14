"""tinygan: an educational GAN library whose every gradient is written by hand.

NumPy by default; ``tinygan.backend.use("cupy")`` (or ``TINYGAN_BACKEND=cupy``) runs
the same code on a GPU.
"""

from . import backend, gans, gradcheck, losses, optim
from .gans.pacgan import Pack, packed
from .gans.wgan import critic_loss, fit_wgan, gradient_penalty
from .layers import (
    Dense,
    Layer,
    LayerInputError,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
    frozen,
    no_grad,
    sigmoid,
)
from .layers.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from .layers.embedding import Embedding
from .layers.equalized import EqualizedConv2d, EqualizedDense
from .layers.norm import BatchNorm, InstanceNorm2d
from .layers.padding import ReflectionPad2d
from .layers.shape import Flatten, Reshape
from .layers.style import AdaIN, ConstantInput, NoiseInput, PixelNorm
from .layers.upsample import Upsample
from .models import Residual, Sequential
from .optim import SGD, Adam, RMSProp
from .train import History, TrainingDiverged, fake_batch, fit, update_d, update_g

__version__ = "0.1.0"

__all__ = [
    "backend", "gans", "gradcheck", "losses", "optim",
    "Layer", "LayerInputError", "frozen", "no_grad",
    "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "sigmoid",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "BatchNorm", "Reshape", "Flatten", "Upsample",
    "Embedding", "InstanceNorm2d", "ReflectionPad2d", "Residual",
    "EqualizedDense", "EqualizedConv2d", "PixelNorm", "ConstantInput", "NoiseInput", "AdaIN",
    "Sequential", "SGD", "Adam", "RMSProp",
    "History", "TrainingDiverged", "fit", "update_d", "update_g", "fake_batch",
    "Pack", "packed", "critic_loss", "gradient_penalty", "fit_wgan",
]
