from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer, LayerInputError
from .dense import Dense

__all__ = ["Layer", "LayerInputError", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
           "sigmoid"]
