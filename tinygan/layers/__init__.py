from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer, LayerInputError, frozen, no_grad
from .conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvNd,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    ConvTransposeNd,
)
from .dense import Dense
from .embedding import Embedding
from .equalized import Equalized, EqualizedConv2d, EqualizedDense
from .norm import BatchNorm, InstanceNorm2d
from .padding import ReflectionPad2d
from .shape import Flatten, Reshape
from .style import AdaIN, ConstantInput, NoiseInput, PixelNorm
from .upsample import Upsample

__all__ = ["Layer", "LayerInputError", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
           "sigmoid", "frozen", "no_grad", "Conv1d", "Conv2d", "Conv3d", "ConvNd",
           "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "ConvTransposeNd",
           "BatchNorm", "Reshape", "Flatten", "Upsample", "Embedding", "InstanceNorm2d",
           "ReflectionPad2d", "Equalized", "EqualizedDense", "EqualizedConv2d", "PixelNorm",
           "ConstantInput", "NoiseInput", "AdaIN"]
