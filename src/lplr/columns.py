"""Input columns that are zero at every training point, skipped by the MLP's training and kernel arithmetic.

With pixel inputs many pixels are 0 in every training image (344 of 784 in the default 256 MNIST
images). For such a column c and every training point i, x_ic = 0, so
    z_1(x_i) = W_1 x_i + b_1 = W_1[:, K] x_i[K] + b_1        K: the kept columns (non-zero somewhere)
    dL/dW_1[:, c] = sum_i delta_1(x_i) x_ic = 0              the column's weights never move from theta_0
    Theta(x_i, x_j) has the first layer's term x_i . x_j = x_i[K] . x_j[K]
so the training forward and backward, the tracked sharpness and lambda_min and the probe's kernel need
only x[:, K] and W_1[:, K]: the same numbers up to the summation order (float rounding), fewer FLOPs.
The full W_1 stays where the skipped columns matter or are read: the test set (its images may be non-zero
there), the drift ||theta_t - theta_0||, the parameter count, the checkpoints; the NTK parametrisation's
scale keeps the full fan-in d (the model is built as before).

For a job of several seeds on their own training subsets (data.seed: per_run) K is the union of the
seeds' non-zero columns (a column is skipped only where it is zero in every seed's subset), so the
batched stepper slices all rows alike. Switch: training.skip_zero_columns (default true); the CNN
(arch cnn) never skips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def enabled(settings: dict) -> bool:
    """Whether a run's settings ask for the skip: the MLP only (a conv's input pixels are not a weight column)."""
    value = settings.get("skip_zero_columns", True)
    if not isinstance(value, bool):
        raise ValueError(f"training.skip_zero_columns = {value!r} must be true or false")
    return value and settings.get("arch", "mlp") == "mlp"


def kept_columns(inputs: list[torch.Tensor]) -> torch.Tensor | None:
    """K: the flattened input columns non-zero at some point of some of `inputs` ([n, ...] each), as
    ascending indices on their device; None when no column is zero everywhere (nothing to skip) or all are."""
    nonzero = torch.zeros(inputs[0][0].numel(), dtype=torch.bool, device=inputs[0].device)
    for x in inputs:
        nonzero |= (x.flatten(1) != 0).any(0)
    if bool(nonzero.all()) or not bool(nonzero.any()):  # nothing to skip, or nothing left to train on
        return None
    return nonzero.nonzero().squeeze(1)


def job_columns(runs: list[dict], inputs: list[torch.Tensor]) -> torch.Tensor | None:
    """K of one training job (its runs share a condition): None when the skip is off or nothing is zero."""
    return kept_columns(inputs) if enabled(runs[0]) else None


def stored_order(columns: torch.Tensor | None, d: int) -> torch.Tensor | None:
    """The input columns with K first, then the skipped ones (lplr.batched stores W_1's columns so, making
    W_1[:, K] a view); None when nothing is skipped."""
    if columns is None:
        return None
    skipped = torch.ones(d, dtype=torch.bool, device=columns.device)
    skipped[columns] = False
    return torch.cat([columns, skipped.nonzero().squeeze(1)])


def narrow(x: torch.Tensor, columns: torch.Tensor | None) -> torch.Tensor:
    """x [n, ...] flattened to [n, d] and cut to the kept columns, [n, |K|] (a copy), or x unchanged when None."""
    return x if columns is None else x.flatten(1).index_select(1, columns)


def first_weight(weight: torch.Tensor, columns: torch.Tensor | None) -> torch.Tensor:
    """W_1[..., K]: the first layer's weight (or a stack of them, [S, m, d]) at the kept columns."""
    return weight if columns is None else weight.index_select(-1, columns)


def mlp_forward(model: torch.nn.Module, x: torch.Tensor, columns: torch.Tensor | None) -> torch.Tensor:
    """f(x) of lplr.models.MLP / NTKMLP with x = narrow(x, columns); differentiable in the FULL parameters
    (W_1's skipped columns get exact zero gradients). columns None: the model's own forward."""
    if columns is None:
        return model(x)
    layers = list(model.layers)
    scales = getattr(model, "scales", [1.0] * len(layers))  # NTKMLP: s_l from the full fan-in
    h = x
    for index, (layer, scale) in enumerate(zip(layers, scales)):
        weight = first_weight(layer.weight, columns) if index == 0 else layer.weight
        h = F.linear(h, weight * scale if scale != 1.0 else weight, layer.bias)
        h = torch.relu(h) if index < len(layers) - 1 else h
    return h.squeeze(-1)
