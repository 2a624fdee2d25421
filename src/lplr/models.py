"""Models with a scalar output f_theta: R^d -> R.

MLP: `depth` linear layers (four hidden layers of width m and a scalar readout for depth 5), ReLU,
standard parametrisation. Initialisations (docs/definitions.md), for weight layer l = 1..L in forward order:
    he           W_l ~ N(0, 2 / fan_in) for layers followed by a ReLU, readout N(0, 1 / fan_in), biases 0
    depth_aware  the He variance times g(l, L) = (1 - |L/2 - l| / L)^2
                 (L = 5: 0.49, 0.81, 0.81, 0.49, 0.25). We scale the variance: OUR reading of the summary.

NTKMLP: the same network in the NTK parametrisation (an option, settings "parametrization": ntk):
    z_l = sqrt(v_l) W_l h_{l-1} + b_l,  W_l ~ N(0, 1)
with v_l the variance above (gain * g / fan_in): the fan-in scale lives in the forward pass, not in
the weights.
At init it is the same random function as the MLP; its NTK is O(1) in the width instead of O(width).
It is deliberately not a subclass of MLP: lplr.ntk's structured "mlp" path assumes the standard one.

CNN: a ResNet-style network for images [N, C, H, W] without BatchNorm (BatchNorm couples the samples
of a batch, so the per-example NTK would not be defined):
    h_0 = stem(x)                                          3x3 conv, C -> width
    h_k = (S_k(h_{k-1}) + conv_k2(relu(conv_k1(relu(h_{k-1}))))) / sqrt(2)    k = 1..depth
    f   = w . mean_{pixels}(relu(h_depth)) + b             global average pooling, scalar readout
Every conv is 3x3 with `width` channels; blocks k >= 2 halve the resolution (stride 2 in conv_k1),
and their shortcut S_k is a parameter-free 2x2 average pool (S_1 is the identity). The 1/sqrt(2)
keeps the forward variance of h_k about constant without BatchNorm (OUR CHOICE). Layer indices for
depth_aware: stem l = 1, block k convs l = 2k, 2k + 1, readout l = L = 2 depth + 2.
Inputs: with unit-norm images the per-pixel features are ~1/sqrt(d) small and the NTK is dominated by
the readout bias's all-ones block (lambda_2 / lambda_max ~ 0.3% on 28x28 MNIST), so an eta calibrated on
lambda_max barely moves the discriminative directions. The default CPU scale therefore feeds the CNN
standardised, 4x average-pooled images (data.normalization: standardize, data.downsample: 4; 7x7), where
width 8, depth 3 gives lambda_2 / lambda_max ~ 0.13-0.22 and > 3 decades of loss decrease in 2000 SGD
steps at eta * lambda_max / n = 1 (measured; see lplr.data.normalize).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

INITS = ("he", "depth_aware")
PARAMETRIZATIONS = ("standard", "ntk")


def depth_aware_factor(layer: int, depth: int) -> float:
    """g(l, D) = (1 - |D/2 - l| / D)^2 for layer l = 1..D."""
    return (1.0 - abs(depth / 2 - layer) / depth) ** 2


def init_variance(layer: int, depth: int, fan_in: int, init: str) -> float:
    """Weight variance of layer l (1-based) of `depth` weight layers under `init` (the last is the readout)."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r} (config key 'training.init'); use one of {INITS}")
    gain = 1.0 if layer == depth else 2.0  # ReLU layers get He's 2, the linear readout 1
    variance = gain / fan_in
    return variance * depth_aware_factor(layer, depth) if init == "depth_aware" else variance


def _fan_in(weight: torch.Tensor) -> int:
    return math.prod(weight.shape[1:])  # in_features, or in_channels * kh * kw


@torch.no_grad()
def _init_layers(layers: list[nn.Module], init: str) -> None:
    """Weights ~ N(0, init_variance(l, L, fan_in)) in the order given, biases 0."""
    for index, layer in enumerate(layers, start=1):
        layer.weight.normal_(0.0, math.sqrt(init_variance(index, len(layers), _fan_in(layer.weight), init)))
        layer.bias.zero_()


def _linear_layers(in_features: int, width: int, depth: int) -> nn.ModuleList:
    """`depth` linear layers: in_features -> width -> ... -> width -> 1."""
    if depth < 1 or width < 1:
        raise ValueError(f"MLP needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
    dims = [in_features] + [width] * (depth - 1) + [1]
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))


class MLP(nn.Module):
    """f(x) = W_D relu(... relu(W_1 x + b_1) ...) + b_D, inputs flattened."""

    def __init__(self, in_features: int, width: int, depth: int = 5, init: str = "he"):
        super().__init__()
        self.layers = _linear_layers(in_features, width, depth)
        self.depth, self.init = depth, init
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_layers(list(self.layers), self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h).squeeze(-1)


class NTKMLP(nn.Module):
    """The MLP in the NTK parametrisation: z_l = s_l W_l h_{l-1} + b_l, W_l ~ N(0, 1), s_l = sqrt(v_l)."""

    def __init__(self, in_features: int, width: int, depth: int = 5, init: str = "he"):
        super().__init__()
        self.layers = _linear_layers(in_features, width, depth)
        self.scales = [math.sqrt(init_variance(l, depth, layer.in_features, init))
                       for l, layer in enumerate(self.layers, start=1)]
        self.depth, self.init = depth, init
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.weight.normal_(0.0, 1.0)
            layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for index, (scale, layer) in enumerate(zip(self.scales, self.layers), start=1):
            h = F.linear(h, layer.weight * scale, layer.bias)
            h = torch.relu(h) if index < self.depth else h
        return h.squeeze(-1)


class CNN(nn.Module):
    """ResNet-style CNN without normalisation layers; see the module docstring for the equations."""

    def __init__(self, in_channels: int, width: int, depth: int = 3, init: str = "he"):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"CNN needs depth >= 1 residual blocks and width >= 1 channels, got depth={depth}, width={width}")
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([nn.Conv2d(width, width, 3, stride=1 if k == 0 else 2, padding=1),
                           nn.Conv2d(width, width, 3, padding=1)])
            for k in range(depth))
        self.readout = nn.Linear(width, 1)
        self.depth, self.init = depth, init
        self.reset_parameters()

    def weight_layers(self) -> list[nn.Module]:
        """The weight layers in forward order: l = 1 (stem) .. L = 2 depth + 2 (readout)."""
        return [self.stem, *(conv for block in self.blocks for conv in block), self.readout]

    def reset_parameters(self) -> None:
        _init_layers(self.weight_layers(), self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for k, (conv1, conv2) in enumerate(self.blocks):
            # ceil_mode matches the strided conv's output size on odd inputs (7 -> 4)
            shortcut = h if k == 0 else F.avg_pool2d(h, 2, ceil_mode=True)
            h = (shortcut + conv2(torch.relu(conv1(torch.relu(h))))) / math.sqrt(2.0)
        return self.readout(torch.relu(h).mean(dim=(2, 3))).squeeze(-1)


def build_model(settings: dict, input_shape: tuple[int, ...]) -> nn.Module:
    """The model a run's settings describe, initialised from torch's current (CPU) RNG state.

    `input_shape` is one sample's shape: (C, H, W) for images (the MLP flattens it).
    """
    arch = settings.get("arch", "mlp")
    width, depth, init = settings["width"], settings["depth"], settings["init"]
    if arch == "mlp":
        parametrization = settings.get("parametrization", "standard")
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"unknown parametrization {parametrization!r} (config key 'training.parametrization'); "
                             f"use one of {PARAMETRIZATIONS}")
        cls = MLP if parametrization == "standard" else NTKMLP
        return cls(math.prod(input_shape), width, depth, init)
    if arch == "cnn":
        if len(input_shape) != 3:
            raise ValueError(f"arch 'cnn' needs image inputs (C, H, W), got samples of shape {tuple(input_shape)}; "
                             "use arch 'mlp' for flat inputs")
        return CNN(input_shape[0], width, depth, init)
    raise ValueError(f"unknown arch {arch!r} (config key 'training.arch'); use 'mlp' or 'cnn'")
