from .residual import Residual
from .sequential import Sequential

__all__ = ["Sequential", "Residual"]
