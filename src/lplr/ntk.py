"""The empirical NTK Theta = J J^T (n x n) of a scalar-output model, its spectrum and the PL audit.

Three implementations of one quantity, chosen by `method` and tested against each other:
    "mlp"       exact structured path for `lplr.models.MLP`; never forms J. With pre-activations
                z_l = W_l h_{l-1} + b_l and back-propagated signals delta_l = df/dz_l,
                df/dW_l = delta_l h_{l-1}^T and df/db_l = delta_l, so
                    Theta = sum_l (Delta_l Delta_l^T) * (H_{l-1} H_{l-1}^T + 1)     (* elementwise)
                (the "structured derivatives" idea of Novak et al. 2022). Cost O(n m^2 D + n^2 m D).
    "jacobian"  any nn.Module: per-sample Jacobians by torch.func (vmap of jacrev) in chunks of
                samples, contracted as J J^T.
    "loop"      the plain reference: one autograd call per sample.
"""

from __future__ import annotations

import copy
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from lplr.models import MLP


def empirical_ntk(model: nn.Module, x: torch.Tensor, method: str = "auto", dtype: torch.dtype = torch.float64,
                  chunk_size: int = 64) -> torch.Tensor:
    """Theta_ij = <df(x_i)/dtheta, df(x_j)/dtheta> over all parameters, computed and returned in `dtype`."""
    if method == "auto":
        method = "mlp" if isinstance(model, MLP) else "jacobian"
    model = _as_dtype(model, dtype)
    x = x.to(dtype)
    if method == "mlp":
        return _ntk_mlp(model, x)
    if method == "jacobian":
        return _ntk_jacobian(model, x, chunk_size)
    if method == "loop":
        return _ntk_loop(model, x)
    raise ValueError(f"unknown NTK method {method!r}; use 'auto', 'mlp', 'jacobian' or 'loop'")


def _as_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    first = next(model.parameters())
    return model if first.dtype == dtype else copy.deepcopy(model).to(dtype)


@torch.no_grad()
def _ntk_mlp(model: MLP, x: torch.Tensor) -> torch.Tensor:
    layers = model.layers
    inputs, masks = [], []  # h_{l-1} and 1[z_l > 0] for each layer
    h = x.flatten(1)
    for layer in layers[:-1]:
        inputs.append(h)
        z = layer(h)
        masks.append(z > 0)
        h = torch.relu(z)
    inputs.append(h)
    ones = torch.ones(len(x), len(x), dtype=x.dtype, device=x.device)
    theta = inputs[-1] @ inputs[-1].T + ones  # readout layer: delta_D = 1
    delta = layers[-1].weight.expand(len(x), -1) * masks[-1]  # delta_{D-1}
    for index in range(len(layers) - 2, -1, -1):
        theta += (delta @ delta.T) * (inputs[index] @ inputs[index].T + ones)
        if index > 0:
            delta = (delta @ layers[index].weight) * masks[index - 1]
    return theta


def per_sample_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """J (len(x) x P): row i is df(x_i)/dtheta, parameters flattened in `named_parameters` order."""
    params = {name: p.detach() for name, p in model.named_parameters()}

    def f_single(p, sample):
        return functional_call(model, p, (sample.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(f_single), in_dims=(None, 0))(params, x)
    return torch.cat([j.reshape(len(x), -1) for j in jac.values()], dim=1)


def _ntk_jacobian(model: nn.Module, x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    jacobian = torch.cat([per_sample_jacobian(model, chunk) for chunk in x.split(chunk_size)])
    return jacobian @ jacobian.T


def _ntk_loop(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for sample in x:
        grads = torch.autograd.grad(model(sample.unsqueeze(0)).squeeze(), params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    jacobian = torch.stack(rows)
    return jacobian @ jacobian.T


def spectrum(theta: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of the symmetric PSD kernel, ascending (dense float64 solver)."""
    return torch.linalg.eigvalsh(theta.to(torch.float64))


def lambda_max(model: nn.Module, x: torch.Tensor) -> float:
    return float(spectrum(empirical_ntk(model, x))[-1])


def pl_audit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor | None = None,
             tolerance_eps: float = 64.0) -> dict:
    """Check ||grad L_S||^2 == r^T Theta r / |S|^2 in float64 at the model's exact parameters.

    L_S = (1/2|S|) sum_i (f(x_i) - y_i)^2, so grad L_S = J^T r / |S| and the identity is exact; the
    tolerance is `tolerance_eps` float64 epsilons times lambda_max ||r||^2 / |S|^2 (the largest the
    right side can be). A failure is a bug in the NTK code, not a property of the network.
    """
    model64 = _as_dtype(model, torch.float64)
    x, y = x.to(torch.float64), y.to(torch.float64)
    residual = model64(x) - y
    loss = 0.5 * residual.pow(2).mean()
    grads = torch.autograd.grad(loss, [p for p in model64.parameters()])
    grad_norm_sq = sum(g.pow(2).sum() for g in grads)
    theta = empirical_ntk(model64, x) if theta is None else theta.to(torch.float64)
    residual = residual.detach()
    n = len(x)
    quadratic = residual @ theta @ residual / n**2
    top = torch.linalg.eigvalsh(theta)[-1]
    tolerance = tolerance_eps * torch.finfo(torch.float64).eps * top * residual.pow(2).sum() / n**2
    error = (grad_norm_sq - quadratic).abs()
    return {"loss": float(loss), "grad_norm_sq": float(grad_norm_sq), "quadratic_form": float(quadratic),
            "audit_error": float(error), "audit_tolerance": float(tolerance), "audit_ok": bool(error <= tolerance)}


def full_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(L, grad L flattened) of the squared loss on (x, y), in the model's dtype."""
    loss = 0.5 * (model(x) - y).pow(2).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return float(loss), torch.cat([g.reshape(-1) for g in grads])

