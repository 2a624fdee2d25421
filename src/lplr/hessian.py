"""The Hessian's top eigenvalue by Lanczos on Hessian-vector products, beside the NTK sharpness.

The NTK sharpness lambda_max(Theta)/n is the top eigenvalue of the Gauss-Newton matrix J^T J / n; the Hessian
of L = (1/2n)|r|^2 adds the residual term (1/n) sum_i r_i grad^2 f_i, so the two agree near interpolation and
differ by that term elsewhere (at the edge of stability, eta lambda_max(H) sits near 2). A Hessian-vector
product is a double backward (loss_hvp_autograd: training's tracking and the probe) or forward-over-reverse
(loss_hvp, torch.func jvp of grad: the reference), about 2-3 gradients; Lanczos with full reorthogonalisation
finds the top eigenvalue in far fewer products than power iteration when the top gap is small. Everything
stays on the parameters' device and dtype.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call, grad, jvp

from lplr import columns as columns_of


def loss_hvp(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """(hvp, flat parameters): hvp(v) = H v for L = (1/2n) |f(x) - y|^2, v flat over the model's parameters."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])
    sizes = [s.numel() for s in shapes]

    def unflatten(vector):
        return {n: part.reshape(s) for n, part, s in zip(names, torch.split(vector, sizes), shapes)}

    def loss(vector):
        return 0.5 * (functional_call(model, unflatten(vector), (x,)).reshape(-1) - y.reshape(-1)).square().mean()

    gradient = grad(loss)
    return (lambda v: jvp(gradient, (flat,), (v,))[1]), flat


def loss_hvp_autograd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, columns: torch.Tensor | None = None):
    """loss_hvp by double backward (reverse over reverse): the graph of grad L is built once, then each product
    is one backward through it, H v = d(grad L . v)/d theta. No forward-mode set-up (~3 s in a fresh process)
    and, measured in training (float32, n = 256, one thread), 1.6-4x cheaper per product than jvp of grad:
    what the tracking during training and the probe use. columns: x holds only these input columns (the training
    engines' zero-column skip, lplr.columns); the products are still over the full parameters (zero rows there)."""
    params = list(model.parameters())
    with torch.enable_grad():
        loss = 0.5 * (columns_of.mlp_forward(model, x, columns).reshape(-1) - y.reshape(-1)).square().mean()
        grads = torch.autograd.grad(loss, params, create_graph=True)
    sizes = [p.numel() for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def hvp(v):
        parts = [part.view_as(p) for part, p in zip(torch.split(v, sizes), params)]
        with torch.enable_grad():
            products = torch.autograd.grad(grads, params, parts, retain_graph=True, allow_unused=True)
        return torch.cat([torch.zeros_like(p).reshape(-1) if h is None else h.reshape(-1)  # None: a zero row of H
                          for h, p in zip(products, params)])

    return hvp, flat


HVPS = {"jvp": loss_hvp, "autograd": loss_hvp_autograd}


class Ritz(NamedTuple):
    """Lanczos's top Ritz pair and how far it is from an eigenpair: |H v - value v| = residual."""
    value: float
    vector: torch.Tensor
    steps: int
    residual: float


def lanczos(matvec, dim: int, like: torch.Tensor, steps: int = 20, v0: torch.Tensor | None = None,
            generator: torch.Generator | None = None, tolerance: float = 0.0, min_steps: int = 1) -> Ritz:
    """The top Ritz pair of the symmetric operator `matvec` on R^dim after at most `steps` Lanczos steps with full
    reorthogonalisation (a Krylov basis of at most `steps` vectors, kept in memory). With `tolerance` > 0 it stops
    after at least `min_steps` once the Ritz residual |H v - theta v| = beta_m |s_m| (s: the top eigenvector of the
    tridiagonal T_m) is at most tolerance |theta|: theta is then within that of an eigenvalue of H, and never above
    lambda_max (a Ritz value lies inside the spectrum): from a start with little weight on the top eigenvector it
    can settle on a lower one, so the probe starts where the top one lies near interpolation (the Gauss-Newton
    direction) and benchmarks/probe_hessian.py checks it against 60 cold steps on trained runs."""
    v = v0 if v0 is not None else torch.randn(dim, dtype=like.dtype, device=like.device, generator=generator)
    basis = [v / v.norm()]
    alphas, betas = [], []
    last = min(steps, dim) - 1
    for k in range(last + 1):
        w = matvec(basis[k])
        alphas.append(torch.dot(w, basis[k]))
        w = _orthogonal(w, basis)
        beta = w.norm()
        if k == last:
            break
        if beta <= 1e-12 * abs(alphas[0]):  # an invariant subspace: exact there, but a start lying in a lower
            if k + 1 >= min_steps:          # eigenspace would miss the top: before min_steps, a fresh direction
                break
            fresh = _orthogonal(torch.randn(dim, dtype=like.dtype, device=like.device, generator=generator), basis)
            betas.append(torch.zeros_like(beta))  # T decouples: a new Krylov block starts here
            basis.append(fresh / fresh.norm())
            continue
        if tolerance > 0 and k + 1 >= min_steps:  # one host sync per step: the probe's path only
            ritz = _top_ritz(alphas, betas, basis, beta)
            if ritz is None:  # non-finite products (a diverging seed's parameters): more cannot help
                return Ritz(math.nan, basis[0], len(alphas), math.nan)
            if ritz.residual <= tolerance * abs(ritz.value):
                break
        betas.append(beta)
        basis.append(w / beta)
    ritz = _top_ritz(alphas, betas, basis, beta)
    return ritz if ritz is not None else Ritz(math.nan, basis[0], len(alphas), math.nan)


def _orthogonal(w: torch.Tensor, basis: list) -> torch.Tensor:
    """w less its projection on the basis (full reorthogonalisation, twice: enough in floating point)."""
    stacked = torch.stack(basis)
    w = w - stacked.T @ (stacked @ w)
    return w - stacked.T @ (stacked @ w)


def _top_ritz(alphas: list, betas: list, basis: list, beta: torch.Tensor) -> Ritz | None:
    """The top eigenpair of T_m (alphas on the diagonal, betas beside it) lifted to R^dim, and its residual
    beta_m |s_m|; None when T_m is not finite (a diverging seed's parameters: eigh would fail)."""
    m = len(alphas)
    tridiagonal = torch.diag(torch.stack(alphas))
    if m > 1:
        off = torch.stack(betas[:m - 1])
        tridiagonal = tridiagonal + torch.diag(off, 1) + torch.diag(off, -1)
    if not bool(torch.isfinite(tridiagonal).all()):
        return None
    values, vectors = torch.linalg.eigh(tridiagonal)
    top = torch.stack(basis[:m]).T @ vectors[:, -1]
    return Ritz(float(values[-1]), top / top.norm(), m, float(beta * vectors[-1, -1].abs()))


def lanczos_top(matvec, dim: int, like: torch.Tensor, steps: int = 20, v0: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[float, torch.Tensor]:
    """(top eigenvalue, its unit eigenvector) after `steps` Lanczos steps (`lanczos` without a stopping rule)."""
    ritz = lanczos(matvec, dim, like, steps, v0, generator)
    return ritz.value, ritz.vector


def gauss_newton_direction(model: nn.Module, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """J^T u / |J^T u| (one backward), flat in the order of model.parameters(): with u Theta's top eigenvector
    (Theta = J J^T), the top eigenvector of the Gauss-Newton matrix J^T J / n, where H's is near interpolation."""
    params = list(model.parameters())
    with torch.enable_grad():
        out = model(x).reshape(-1)
        grads = torch.autograd.grad(out, params, grad_outputs=u.to(out.dtype), allow_unused=True)
    v = torch.cat([torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1) for g, p in zip(grads, params)])
    return v / v.norm()


def hessian_top_eigenvalue(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                           v0: torch.Tensor | None = None, seed: int = 0, hvp: str = "jvp",
                           columns: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
    """(lambda_max of the loss Hessian, its eigenvector); warm-start with the previous eigenvector as v0.
    hvp: "jvp" (forward over reverse, torch.func: the probe's) or "autograd" (double backward: training's)."""
    if columns is not None and hvp != "autograd":
        raise ValueError("hessian_top_eigenvalue: inputs cut to their kept columns need hvp='autograd'")
    hvp, flat = HVPS[hvp](model, x, y, columns) if columns is not None else HVPS[hvp](model, x, y)
    generator = torch.Generator(device=flat.device).manual_seed(seed)
    return lanczos_top(hvp, flat.numel(), flat, steps, v0, generator)


def hessian_top_converged(model: nn.Module, x: torch.Tensor, y: torch.Tensor, v0: torch.Tensor,
                          tolerance: float, min_steps: int, max_steps: int) -> Ritz:
    """The probe's lambda_max(H): double-backward products in the model's dtype from the start `v0` (the
    Gauss-Newton direction), stopped by `lanczos`'s residual rule; .steps says how many products it took."""
    hvp, flat = loss_hvp_autograd(model, x, y)
    generator = torch.Generator(device=flat.device).manual_seed(0)  # a fresh direction, if an invariant subspace
    return lanczos(hvp, flat.numel(), flat, max_steps, v0, generator, tolerance=tolerance, min_steps=min_steps)
