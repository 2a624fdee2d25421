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

The training inputs' row space (training.train_in_row_space, default true; the training steppers only).
GD and SGD (momentum too) move W_1 only inside the row space of the training inputs X [n, d]:
dL/dW_1 = sum_i delta_1(x_i) x_i^T, so W_1(t) - W_1(0) = C(t) X for some C. With Q [k, k] orthogonal from
the complete QR of X[:, K]^T (k = |K| kept columns), X[:, K] Q = [R^T, 0]: in the coordinates W_1' = W_1 Q
the training inputs have n non-zero columns, not k, so where n < k the steppers train on R^T [n, n] and the
first n columns of W_1' (the rest stay at W_1(0) Q, exactly as the skipped columns stay at W_1(0)). Every
training quantity is invariant under the orthogonal change of basis (outputs, loss, ||grad||^2, the drift,
Theta, the Hessian's spectrum on the moving directions), so again the numbers agree up to float rounding, and
the first layer costs n^2 m instead of n k m per product (n = 256, k ~ 490: about half). The test inputs are
turned alike (X_test Q: every column), and the checkpoints get W_1(0) + (W_1'(t) - W_1'(0)) Q^T back, so
theta_0 and the columns outside the row space are the model's own bits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FIRST_WEIGHT = "layers.0.weight"  # the MLPs' W_1: the weight whose input columns are skipped or turned


def enabled(settings: dict) -> bool:
    """Whether a run's settings ask for the skip: the MLP only (a conv's input pixels are not a weight column)."""
    value = settings.get("skip_zero_columns", True)
    if not isinstance(value, bool):
        raise ValueError(f"training.skip_zero_columns = {value!r} must be true or false")
    return value and settings.get("arch", "mlp") == "mlp"


def row_space_enabled(settings: dict) -> bool:
    """Whether a run's settings ask for training in the training inputs' row space (the MLP only)."""
    value = settings.get("train_in_row_space", True)
    if not isinstance(value, bool):
        raise ValueError(f"training.train_in_row_space = {value!r} must be true or false")
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


class InputBasis:
    """W_1's input coordinates as a training stepper stores them: the kept columns K first (a permutation,
    lplr.columns.stored_order) and, with `rotation` Q [k, k] (float64), the K block turned by Q onto the
    training inputs' row space. The training inputs then live in the first `kept` stored columns (|K|, or n
    with the rotation); `inputs` puts a data set into the stored coordinates, `stored` a weight, `original`
    a stored weight back."""

    def __init__(self, d: int, columns: torch.Tensor | None, rotation: torch.Tensor | None = None, n: int = 0):
        self.d, self.columns, self.rotation = d, columns, rotation
        self.order = stored_order(columns, d)
        self.inverse = None if self.order is None else torch.argsort(self.order)
        self.k = d if columns is None else len(columns)
        self.kept = self.k if rotation is None else n  # n: the training points, the row space's dimension at most

    def _permuted(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.order is None else x.index_select(-1, self.order)

    def inputs(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """x [n, ...] flattened in the stored coordinates: [n, kept] for the training inputs (the other columns
        are zero there, or rounding's zeros after the rotation), [n, d] for any other set (the test set)."""
        if self.rotation is None:
            return narrow(x, self.columns if train else self.order).flatten(1)
        x = self._permuted(x.flatten(1))
        head = (x[:, :self.k].double() @ self.rotation[:, :self.kept if train else self.k]).to(x.dtype)
        return head if train else torch.cat([head, x[:, self.k:]], 1)

    def stored(self, weight: torch.Tensor) -> torch.Tensor:
        """W_1 [..., m, d] in the model's coordinates -> stored (the rotation in float64)."""
        weight = self._permuted(weight)
        if self.rotation is None:
            return weight
        head = (weight[..., :self.k].double() @ self.rotation).to(weight.dtype)
        return torch.cat([head, weight[..., self.k:]], -1)

    def original(self, weight: torch.Tensor, stored0: torch.Tensor | None = None,
                 original0: torch.Tensor | None = None) -> torch.Tensor:
        """A stored W_1 -> the model's coordinates: the kept columns alone, a permutation back. With the rotation,
        W_1(0) + (W_1'(t) - W_1'(0))[:, :kept] Q^T from the start in both coordinates (stored0, original0, needed
        then): only the change is turned back, so theta_0 and everything outside the row space keep their bits."""
        if self.rotation is None:
            return weight if self.inverse is None else weight.index_select(-1, self.inverse)
        change = ((weight - stored0)[..., :self.kept].double() @ self.rotation[:, :self.kept].T).to(weight.dtype)
        out = original0.clone()
        if self.columns is None:
            return out.add_(change)
        out[..., self.columns] += change
        return out


def job_bases(runs: list[dict], inputs: list[torch.Tensor]) -> list[InputBasis | None]:
    """Each training set's basis in one job (the runs share a condition). Turned onto the row space where every
    set has fewer points n than kept columns: each set its own K and its own rotation, from the complete QR of
    its X[:, K]^T (one per distinct set), so a column zero in a seed's own data stays exactly at theta_0.
    Otherwise the job's K (job_columns) for every set, or None when nothing is skipped."""
    d, n = inputs[0][0].numel(), len(inputs[0])
    if row_space_enabled(runs[0]):
        own = {id(x): (x, kept_columns([x]) if enabled(runs[0]) else None) for x in inputs}
        if all(n < (d if columns is None else len(columns)) for _, columns in own.values()):
            bases = {key: _row_space(x, columns, n) for key, (x, columns) in own.items()}
            return [bases[id(x)] for x in inputs]
    columns = job_columns(runs, inputs)
    return [None if columns is None else InputBasis(d, columns)] * len(inputs)


def layout(bases: list[InputBasis | None]) -> dict:
    """What a job's manifest (and its resume key) record of its seeds' input coordinates."""
    if bases[0] is None:
        return {}
    if bases[0].rotation is None:
        return {"kept_columns": bases[0].columns.tolist()}
    return {"row_space": bases[0].kept,
            "kept_columns": [None if b.columns is None else b.columns.tolist() for b in bases]}


def _row_space(x: torch.Tensor, columns: torch.Tensor | None, n: int) -> InputBasis:
    """x's basis turned onto its row space: Q [k, k] of the complete QR of X[:, K]^T in float64 (X[:, K] Q = [R^T, 0])."""
    flat = x.flatten(1).double()
    kept = flat if columns is None else flat.index_select(1, columns)
    return InputBasis(flat.shape[1], columns, torch.linalg.qr(kept.T, mode="complete").Q, n)


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
