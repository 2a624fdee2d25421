"""Models with a scalar output f_theta: R^d -> R.

MLP: `depth` linear layers (four hidden layers of width m and a scalar readout for depth 5), ReLU,
standard parametrisation. Initialisations (experiments.md):
    he           W_l ~ N(0, 2 / fan_in) for hidden layers, readout N(0, 1 / fan_in), biases 0
    depth_aware  the He variance times g(l, D) = (1 - |D/2 - l| / D)^2, l = 1..D
                 (D = 5: 0.49, 0.81, 0.81, 0.49, 0.25). We scale the variance: OUR reading of the summary.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INITS = ("he", "depth_aware")


def depth_aware_factor(layer: int, depth: int) -> float:
    """g(l, D) = (1 - |D/2 - l| / D)^2 for layer l = 1..D."""
    return (1.0 - abs(depth / 2 - layer) / depth) ** 2


def init_variance(layer: int, depth: int, fan_in: int, init: str) -> float:
    """Weight variance of layer l (1-based) of `depth` under `init`."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; use one of {INITS}")
    gain = 1.0 if layer == depth else 2.0  # ReLU layers get He's 2, the linear readout 1
    variance = gain / fan_in
    return variance * depth_aware_factor(layer, depth) if init == "depth_aware" else variance


class MLP(nn.Module):
    """f(x) = W_D relu(... relu(W_1 x + b_1) ...) + b_D, inputs flattened."""

    def __init__(self, in_features: int, width: int, depth: int = 5, init: str = "he"):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"MLP needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        dims = [in_features] + [width] * (depth - 1) + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.depth, self.init = depth, init
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for index, layer in enumerate(self.layers, start=1):
            std = math.sqrt(init_variance(index, self.depth, layer.in_features, self.init))
            layer.weight.normal_(0.0, std)
            layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h).squeeze(-1)


def build_model(settings: dict, input_shape: tuple[int, ...]) -> nn.Module:
    """The model a run's settings describe, initialised from torch's current RNG state."""
    arch = settings.get("arch", "mlp")
    if arch == "mlp":
        return MLP(math.prod(input_shape), settings["width"], settings["depth"], settings["init"])
    raise ValueError(f"unknown arch {arch!r}; use 'mlp'")
