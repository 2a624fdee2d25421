"""The gradient noise scale from the kernel equals the one from per-example gradients (torch.func)."""

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, vmap

from lplr.models import MLP
from lplr.noise import batch_noise, critical_batch, descent_ratio, noise_scale, without_replacement
from lplr.ntk import empirical_ntk


def per_example_statistics(model, x, y):
    """|G|^2 and tr(Sigma) from the per-example gradients g_i = grad (f_i - y_i)^2 / 2 (torch.func)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        return 0.5 * (functional_call(model, p, (xi[None],)).reshape(()) - yi) ** 2

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    g = torch.cat([v.reshape(len(x), -1) for v in grads.values()], dim=1)
    mean = g.mean(0)
    return float(mean @ mean), float(((g - mean) ** 2).sum(1).mean())


def test_kernel_noise_scale_equals_per_example_gradients():
    torch.manual_seed(0)
    model = MLP(in_features=6, width=16, depth=3).double()
    x, y = torch.randn(24, 6, dtype=torch.float64), torch.randn(24, dtype=torch.float64)
    residual = model(x).reshape(-1).detach() - y
    kernel = noise_scale(empirical_ntk(model, x), residual)
    grad_norm_sq, trace_sigma = per_example_statistics(model, x, y)
    assert kernel["grad_norm_sq"] == pytest.approx(grad_norm_sq, rel=1e-10)
    assert kernel["trace_sigma"] == pytest.approx(trace_sigma, rel=1e-10)
    assert kernel["b_noise"] == pytest.approx(trace_sigma / grad_norm_sq, rel=1e-10)


def test_linear_regression_closed_form():
    """f = X w: Theta = X X^T, g_i = r_i x_i, Sigma the biased covariance of the g_i."""
    rng = np.random.default_rng(1)
    x, r = rng.normal(size=(30, 5)), rng.normal(size=30)
    g = r[:, None] * x
    out = noise_scale(torch.tensor(x @ x.T), torch.tensor(r))
    assert out["trace_sigma"] == pytest.approx(np.trace(np.cov(g.T, bias=True)), rel=1e-12)
    assert out["grad_norm_sq"] == pytest.approx(np.sum(g.mean(0) ** 2), rel=1e-12)


def test_batch_noise_without_replacement_matches_enumeration():
    """E|g_B - G|^2 over every batch of 2 out of 5, against tr(Sigma)/B (n - B)/(n - 1)."""
    rng = np.random.default_rng(2)
    g = rng.normal(size=(5, 3))
    mean = g.mean(0)
    trace_sigma = ((g - mean) ** 2).sum(1).mean()
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    exact = np.mean([np.sum((g[[i, j]].mean(0) - mean) ** 2) for i, j in pairs])
    assert batch_noise(trace_sigma, 5, 2) == pytest.approx(exact, rel=1e-12)
    assert without_replacement(5, 5) == 0 and batch_noise(trace_sigma, 5, 5) == 0


def test_descent_ratio_and_critical_batch():
    s, b, n = 0.2, 50.0, 256
    assert descent_ratio(s, b, n, n) == 1.0  # full batch is GD
    assert descent_ratio(s, b, n, 8) < descent_ratio(s, b, n, 32) < descent_ratio(s, b, n, 128) < 1
    star = critical_batch(s, b, n)  # the noise term equals GD's margin: the ratio is 0 there
    assert descent_ratio(s, b, n, star) == pytest.approx(0.0, abs=1e-12)
