"""Mini-batch gradient noise from the empirical NTK, at no cost beyond the probe's kernel.

For the squared loss L = (1/2n) sum_i r_i^2 the per-example gradient is g_i = r_i grad f_i, so with the
kernel Theta = J J^T (J: the n x P Jacobian of the outputs)

    |g_i|^2 = r_i^2 Theta_ii,      G = (1/n) J^T r,      |G|^2 = r^T Theta r / n^2,
    tr(Sigma) = (1/n) sum_i |g_i|^2 - |G|^2          (Sigma: the per-example gradients' covariance)

and the gradient noise scale (McCandlish et al. 2018, "simple" B_noise) is B_noise = tr(Sigma) / |G|^2. A
batch of B drawn without replacement has E|g_B - G|^2 = tr(Sigma) / B * (n - B) / (n - 1).

SGD against GD per step (descent lemma with curvature lambda_max(Theta)/n, s = eta lambda_max / n):
E L' <= L - eta |G|^2 (1 - s/2 (1 + B_noise (n - B) / (B (n - 1)))), against GD's L - eta |G|^2 (1 - s/2),
so SGD's guaranteed per-step decrease matches GD's when B >> s B_noise (n - B) / ((2 - s)(n - 1)).
"""

from __future__ import annotations

import torch


def noise_scale(theta: torch.Tensor, residual: torch.Tensor) -> dict[str, float]:
    """{'grad_norm_sq': |G|^2, 'trace_sigma': tr(Sigma), 'b_noise': B_noise} from the n x n kernel and r = f - y."""
    n = residual.numel()
    r = residual.reshape(-1).to(theta.dtype)
    grad_norm_sq = float(r @ theta @ r) / n**2
    per_example = float((r.square() * theta.diagonal()).sum()) / n
    trace_sigma = per_example - grad_norm_sq
    return {"grad_norm_sq": grad_norm_sq, "trace_sigma": trace_sigma,
            "b_noise": trace_sigma / grad_norm_sq if grad_norm_sq > 0 else float("nan")}


def without_replacement(n: int, batch_size: int) -> float:
    """The finite-population factor (n - B) / (n - 1) of a batch drawn without replacement (0 at B = n)."""
    return (n - batch_size) / (n - 1) if n > 1 else 0.0


def batch_noise(trace_sigma: float, n: int, batch_size: int) -> float:
    """E|g_B - G|^2 of a batch of `batch_size` drawn without replacement."""
    return trace_sigma / batch_size * without_replacement(n, batch_size)


def descent_ratio(sharpness: float, b_noise: float, n: int, batch_size: int) -> float:
    """SGD's over GD's guaranteed per-step decrease (descent lemma) at s = eta lambda_max / n; 1 at B = n."""
    gd = 1 - sharpness / 2
    noise = b_noise * without_replacement(n, batch_size) / batch_size
    return (gd - sharpness / 2 * noise) / gd


def critical_batch(sharpness: float, b_noise: float, n: int) -> float:
    """The batch size at which SGD's noise term equals GD's margin: B = s B_noise (n - B) / ((2 - s)(n - 1)),
    so B* = s B_noise n / ((2 - s)(n - 1) + s B_noise); batches well above it descend like GD per step."""
    return sharpness * b_noise * n / ((2 - sharpness) * (n - 1) + sharpness * b_noise)
