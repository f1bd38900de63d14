from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer, LayerInputError, frozen
from .conv import Conv2d, ConvTranspose2d
from .dense import Dense
from .norm import BatchNorm
from .shape import Flatten, Reshape
from .upsample import Upsample

__all__ = ["Layer", "LayerInputError", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
           "sigmoid", "frozen", "Conv2d", "ConvTranspose2d", "BatchNorm", "Reshape", "Flatten",
           "Upsample"]
