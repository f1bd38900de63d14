from .sequential import Sequential

__all__ = ["Sequential"]
