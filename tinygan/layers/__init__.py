from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer, LayerInputError, frozen, no_grad
from .conv import Conv2d, ConvTranspose2d
from .dense import Dense
from .embedding import Embedding
from .equalized import Equalized, EqualizedConv2d, EqualizedDense
from .norm import BatchNorm, InstanceNorm2d
from .padding import ReflectionPad2d
from .shape import Flatten, Reshape
from .style import AdaIN, ConstantInput, NoiseInput, PixelNorm
from .upsample import Upsample

__all__ = ["Layer", "LayerInputError", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
           "sigmoid", "frozen", "no_grad", "Conv2d", "ConvTranspose2d", "BatchNorm", "Reshape",
           "Flatten", "Upsample", "Embedding", "InstanceNorm2d", "ReflectionPad2d", "Equalized",
           "EqualizedDense", "EqualizedConv2d", "PixelNorm", "ConstantInput", "NoiseInput",
           "AdaIN"]
