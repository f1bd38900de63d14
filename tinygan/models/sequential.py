"""Sequential: a chain of layers, forward left to right, backward right to left."""

from __future__ import annotations

from ..layers.base import Layer


class Sequential(Layer):
    """Layers applied in order.

    Math
    ----
    Forward:  out = f_L(… f_2(f_1(x)))
    Backward: the chain rule, applied from the last layer to the first:
              dx = J_1ᵀ(J_2ᵀ(… J_Lᵀ dout))

    ``params`` and ``grads`` are flat views keyed ``"<index>.<name>"`` (``"0.W"``)
    over the *same arrays* the layers hold, so an optimizer updating them in place
    updates the layers.

    Cache: none of its own; each layer keeps its own one-slot cache.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential item {i} is {type(layer).__name__}, not a Layer")
        self.layers = list(layers)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})"

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    # The flat dicts are rebuilt on access so they always reference the live arrays.
    @property
    def params(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.params.items()}

    @params.setter
    def params(self, value):  # Layer.__init__ assigns {}; nothing to store
        pass

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.grads.items()}

    @grads.setter
    def grads(self, value):
        pass

    @property
    def cache(self):
        return None

    @cache.setter
    def cache(self, value):
        pass

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout, need_dx=True):
        # every layer but the first must pass a gradient on; the first only if asked
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self.layers[i].backward(dout, need_dx=need_dx or i > 0)
        return dout

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def clear_cache(self):
        for layer in self.layers:
            layer.clear_cache()

    def train(self):
        for layer in self.layers:
            layer.train()
        self.training = True
        return self

    def eval(self):
        for layer in self.layers:
            layer.eval()
        self.training = False
        return self

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def state_dict(self):
        """Every layer's state under its index: ``{"0.W": …, "2.running_mean": …}``."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.state_dict().items()}

    def load_state_dict(self, state):
        """Split ``state`` by layer index and load each part, checking every key."""
        parts = {i: {} for i in range(len(self.layers))}
        unexpected = []
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head.isdigit() and int(head) in parts and rest:
                parts[int(head)][rest] = value
            else:
                unexpected.append(key)
        if unexpected:
            raise ValueError(f"{self!r}: the saved state has keys that match no layer: "
                             f"{sorted(unexpected)}")
        for i, layer in enumerate(self.layers):
            layer.load_state_dict(parts[i])
        return self
