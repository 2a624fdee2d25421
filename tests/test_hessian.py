"""The Hessian's top eigenvalue by Lanczos equals the dense Hessian's, and the Gauss-Newton one for a linear model."""

import math

import pytest
import torch
from torch import nn

from lplr.hessian import (gauss_newton_direction, hessian_top_converged, hessian_top_eigenvalue, lanczos, lanczos_top,
                          loss_hvp)
from lplr.models import MLP
from lplr.ntk import empirical_ntk


def dense_hessian(model, x, y):
    hvp, flat = loss_hvp(model, x, y)
    return torch.stack([hvp(e) for e in torch.eye(flat.numel(), dtype=flat.dtype)])


def test_top_eigenvalue_of_a_small_mlp_equals_the_dense_hessians():
    torch.manual_seed(0)
    model = MLP(in_features=4, width=6, depth=3).double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, dtype=torch.float64)
    dense = dense_hessian(model, x, y)
    assert torch.allclose(dense, dense.T, atol=1e-12)  # hvp is a symmetric operator
    params = dict(model.named_parameters())
    reference = torch.autograd.functional.hessian(
        lambda *p: 0.5 * (torch.func.functional_call(model, dict(zip(params, p)), (x,)).reshape(-1) - y).square().mean(),
        tuple(params.values()))
    assert reference[0][0].reshape(dense[:24, :24].shape).allclose(dense[:24, :24], atol=1e-12)
    value, vector = hessian_top_eigenvalue(model, x, y, steps=60)
    assert value == pytest.approx(float(torch.linalg.eigvalsh(dense)[-1]), rel=1e-8)
    assert torch.allclose(dense @ vector, value * vector, atol=1e-6 * value)


def test_a_linear_model_has_the_gauss_newton_hessian():
    """f = X w + b: H = J^T J / n exactly, so lambda_max(H) = lambda_max(Theta) / n."""
    torch.manual_seed(1)
    model = nn.Linear(7, 1).double()
    x, y = torch.randn(40, 7, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    value, _ = hessian_top_eigenvalue(model, x, y, steps=8)  # dim 8: Lanczos is exact
    gauss_newton = float(torch.linalg.eigvalsh(empirical_ntk(model, x))[-1]) / len(x)
    assert value == pytest.approx(gauss_newton, rel=1e-10)


def test_lanczos_on_a_planted_spectrum():
    values = torch.cat([torch.tensor([5.0, 4.9]), torch.linspace(-1, 1, 98)]).double()
    basis, _ = torch.linalg.qr(torch.randn(100, 100, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    matrix = basis @ torch.diag(values) @ basis.T
    value, vector = lanczos_top(lambda v: matrix @ v, 100, matrix, steps=40,
                                generator=torch.Generator().manual_seed(4))
    assert value == pytest.approx(5.0, rel=1e-10)
    assert abs(float(vector @ basis[:, 0])) == pytest.approx(1.0, abs=1e-6)


def test_the_residual_rule_stops_early_and_bounds_the_error():
    """From a start near the top eigenvector the rule stops after few products; the stated residual is the true
    |H v - lambda v|, and lambda is within it of the top eigenvalue."""
    values = torch.cat([torch.tensor([5.0, 4.0]), torch.linspace(-1, 1, 98)]).double()
    basis, _ = torch.linalg.qr(torch.randn(100, 100, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    matrix = basis @ torch.diag(values) @ basis.T
    start = basis[:, 0] + 0.01 * torch.randn(100, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ritz = lanczos(lambda v: matrix @ v, 100, matrix, steps=40, v0=start, tolerance=1e-8, min_steps=2)
    assert 2 <= ritz.steps < 40
    assert ritz.residual <= 1e-8 * ritz.value
    assert float((matrix @ ritz.vector - ritz.value * ritz.vector).norm()) == pytest.approx(ritz.residual, rel=1e-3, abs=1e-12)
    assert abs(ritz.value - 5.0) <= ritz.residual
    fixed = lanczos(lambda v: matrix @ v, 100, matrix, steps=12, v0=start)  # no rule: all 12 steps
    assert fixed.steps == 12


def test_the_probe_finds_the_dense_top_eigenvalue_from_the_gauss_newton_direction():
    """The probe's path (double backward, Gauss-Newton start, residual rule) on a small MLP away from
    interpolation, where H and J^T J / n differ: the dense Hessian's top eigenvalue to 1e-9."""
    torch.manual_seed(2)
    model = MLP(in_features=5, width=8, depth=3).double()
    x, y = torch.randn(12, 5, dtype=torch.float64), 3 * torch.randn(12, dtype=torch.float64)
    dense = dense_hessian(model, x, y)
    top = float(torch.linalg.eigvalsh(dense)[-1])
    evals, evecs = torch.linalg.eigh(empirical_ntk(model, x))
    start = gauss_newton_direction(model, x, evecs[:, -1])
    jacobian = torch.func.jacrev(lambda p: torch.func.functional_call(model, p, (x,)).reshape(-1))(
        dict(model.named_parameters()))
    jacobian = torch.cat([j.reshape(len(x), -1) for j in jacobian.values()], dim=1)
    gauss_newton = jacobian.T @ jacobian / len(x)
    assert torch.allclose(gauss_newton @ start, float(evals[-1]) / len(x) * start, atol=1e-10)  # its top eigenvector
    ritz = hessian_top_converged(model, x, y, start, tolerance=1e-6, min_steps=4, max_steps=40)
    assert ritz.value == pytest.approx(top, rel=1e-9)
    assert abs(ritz.value - float(evals[-1]) / len(x)) > 1e-3 * top  # the residual term matters here


def test_a_start_in_a_lower_eigenspace_still_finds_the_top_and_non_finite_products_stop_at_once():
    """Started exactly on the third eigenvector, Lanczos meets an invariant subspace after one product; before
    min_steps it goes on from a fresh seeded direction and finds lambda_max. A NaN operator stops it at once."""
    values = torch.cat([torch.tensor([5.0, 4.0, 3.0]), torch.linspace(-1, 1, 47)]).double()
    basis, _ = torch.linalg.qr(torch.randn(50, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(7)))
    matrix = basis @ torch.diag(values) @ basis.T
    ritz = lanczos(lambda v: matrix @ v, 50, matrix, steps=40, v0=basis[:, 2].clone(),
                   generator=torch.Generator().manual_seed(8), tolerance=1e-8, min_steps=4)
    assert ritz.value == pytest.approx(5.0, rel=1e-8)
    calls = []
    stopped = lanczos(lambda v: calls.append(1) or torch.full_like(v, math.nan), 50, matrix, steps=40,
                      generator=torch.Generator().manual_seed(8), tolerance=1e-6, min_steps=2)
    assert math.isnan(stopped.value) and len(calls) == 2
