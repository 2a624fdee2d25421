"""The NTK implementations agree, the kernel is a Gram matrix, and the PL audit identity holds.

    Theta = J J^T,  grad L = J^T r / n  =>  ||grad L||^2 = r^T Theta r / n^2 >= 2 (lambda_min / n) L
"""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from lplr import models, ntk

RTOL = 1e-6  # agreement between methods in float64 (they agree to ~1e-15 in practice)


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


class TinyResNet(nn.Module):
    """Fallback if lplr.models has no CNN: stem conv, one residual block, global pooling, scalar readout."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv1, self.conv2 = nn.Conv2d(width, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)
        self.readout = nn.Linear(width, 1)

    def forward(self, x):
        h = self.stem(x)
        h = h + self.conv2(torch.relu(self.conv1(torch.relu(h))))
        return self.readout(torch.relu(h).mean(dim=(2, 3))).squeeze(-1)


def small_cnn(width: int = 3) -> nn.Module:
    if hasattr(models, "CNN"):
        return models.CNN(1, width=width, depth=2)
    return TinyResNet(1, width)


def mlp_kinds():
    return [models.MLP] + ([models.NTKMLP] if hasattr(models, "NTKMLP") else [])


@pytest.mark.parametrize("kind", mlp_kinds())
def test_mlp_methods_agree(kind):
    torch.manual_seed(0)
    model, x = kind(6, 5, depth=4), torch.randn(7, 6)
    reference = ntk.empirical_ntk(model, x, method="loop")
    assert reference.dtype == torch.float64
    for method in ("mlp", "jacobian", "auto"):
        assert rel_error(ntk.empirical_ntk(model, x, method=method), reference) < RTOL, method
    # blocked jacobian path: the budget holds 2 Jacobian rows, so Theta is filled block pair by block pair
    row_bytes = 8 * sum(p.numel() for p in model.parameters())
    blocked = ntk.empirical_ntk(model, x, method="jacobian", chunk_size=1, memory_budget=2 * row_bytes)
    assert rel_error(blocked, reference) < RTOL


def test_cnn_methods_agree():
    torch.manual_seed(1)
    model, x = small_cnn(), torch.randn(6, 1, 6, 6)
    reference = ntk.empirical_ntk(model, x, method="loop")
    assert rel_error(ntk.empirical_ntk(model, x), reference) < RTOL  # auto -> jacobian
    row_bytes = 8 * sum(p.numel() for p in model.parameters())
    blocked = ntk.empirical_ntk(model, x, method="jacobian", chunk_size=2, memory_budget=4 * row_bytes)
    assert rel_error(blocked, reference) < RTOL
    with pytest.raises(ValueError, match="method 'jacobian'"):
        ntk.empirical_ntk(model, x, method="mlp")


def test_mlp_path_dtypes():
    """float32 is computed in float32 (benchmarks); the default is float64 whatever the model's dtype."""
    torch.manual_seed(2)
    model, x = models.MLP(5, 8, depth=3), torch.randn(9, 5)
    theta32 = ntk.empirical_ntk(model, x, dtype=torch.float32)
    theta64 = ntk.empirical_ntk(model, x)
    assert theta32.dtype == torch.float32 and theta64.dtype == torch.float64
    assert rel_error(theta32.double(), theta64) < 1e-5
    assert next(model.parameters()).dtype == torch.float32  # the model is not converted in place


SYMMETRIC_EPS = 32  # one-triangle vs full products, max |difference| / max |Theta| in epsilons (measured <= 4.5)


def force_gram_path(monkeypatch, path: str) -> None:
    """"syrk": BLAS syrk at every size; "torch": the device path's row blocks (64 rows) on the CPU."""
    if path == "syrk":
        monkeypatch.setattr(ntk, "SYRK_MIN_MACS", 0)
    else:
        monkeypatch.setattr(ntk, "SYRK_DTYPES", {})
        monkeypatch.setattr(ntk, "GRAM_BLOCK_ROWS", 64)


@pytest.mark.parametrize("path", ["syrk", "torch"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", mlp_kinds())
def test_symmetric_products_match_full_products(monkeypatch, kind, dtype, path):
    """The one-triangle kernel equals the full-product kernel to float rounding, in both dtypes, by syrk
    and by torch row blocks, and it is symmetric to the bit."""
    torch.manual_seed(8)
    model, x = kind(20, 48, depth=4), torch.randn(300, 20, dtype=dtype)
    full = ntk._ntk_mlp(model, x, symmetric=False)
    force_gram_path(monkeypatch, path)
    theta = ntk.empirical_ntk(model, x, dtype=dtype)
    assert theta.dtype == dtype and torch.equal(theta, theta.T)
    assert rel_error(theta, full) <= SYMMETRIC_EPS * torch.finfo(dtype).eps


@pytest.mark.parametrize("path", ["syrk", "torch"])
def test_pl_audit_passes_on_each_gram_path(monkeypatch, path):
    """The float64 audit (the probe's) at its default tolerance, with the kernel from one triangle."""
    force_gram_path(monkeypatch, path)
    torch.manual_seed(11)
    model, x = models.MLP(30, 64, depth=5).double(), torch.rand(300, 30, dtype=torch.float64)
    y = torch.randn(300, dtype=torch.float64).sign()
    audit = ntk.pl_audit(model, x, y)
    assert audit["audit_ok"], audit
    assert audit["audit_error"] < 0.1 * audit["audit_tolerance"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("rows, n", [(256, 700), (16, 101)], ids=["2-blocks", "6-uneven-blocks"])
def test_gram_upper_torch_path_matches_blas(monkeypatch, dtype, rows, n):
    """The device path (torch row blocks, what a GPU runs) and syrk give alpha A A^T on and above the diagonal."""
    monkeypatch.setattr(ntk, "GRAM_BLOCK_ROWS", rows)
    a = torch.randn(n, 33, dtype=dtype, generator=torch.Generator().manual_seed(9))
    full = 2.5 * a @ a.T
    tol = SYMMETRIC_EPS * torch.finfo(dtype).eps
    for use_blas in (True, False):
        upper = ntk._gram_upper(a, 2.5, use_blas=use_blas)
        assert upper.dtype == dtype and upper.shape == (n, n)
        assert rel_error(upper.triu(), full.triu()) <= tol, use_blas
    assert rel_error(ntk._gram(a), a @ a.T) <= tol


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_kernel_stays_on_device_and_matches_cpu(monkeypatch):
    """On a GPU the one-triangle products are torch row blocks on the device (no syrk, no host copy)."""
    monkeypatch.setattr(ntk, "GRAM_BLOCK_ROWS", 64)  # several blocks at a test-sized n
    monkeypatch.setattr(ntk, "scipy_blas", None)  # any syrk call would fail
    torch.manual_seed(10)
    model, x = models.MLP(12, 40, depth=4).double(), torch.randn(333, 12, dtype=torch.float64)
    reference = ntk._ntk_mlp(model, x, symmetric=False)
    theta = ntk.empirical_ntk(model.cuda(), x.cuda())
    assert theta.device.type == "cuda" and torch.equal(theta, theta.T)
    assert rel_error(theta.cpu(), reference) <= SYMMETRIC_EPS * torch.finfo(torch.float64).eps


mlp_cases = st.fixed_dictionaries({
    "seed": st.integers(0, 2**16), "n": st.integers(2, 10), "d": st.integers(1, 6),
    "width": st.integers(1, 8), "depth": st.integers(1, 4), "init": st.sampled_from(models.INITS),
    "scale": st.floats(0.1, 10.0),
})


def random_problem(case):
    torch.manual_seed(case["seed"])
    model = models.MLP(case["d"], case["width"], case["depth"], case["init"]).double()
    x = case["scale"] * torch.randn(case["n"], case["d"], dtype=torch.float64)
    y = torch.randn(case["n"], dtype=torch.float64).sign()
    return model, x, y


@settings(max_examples=40, deadline=None)
@given(mlp_cases)
def test_kernel_is_symmetric_psd(case):
    model, x, _ = random_problem(case)
    theta = ntk.empirical_ntk(model, x)
    assert torch.equal(theta, theta.T)  # one triangle formed, mirrored: symmetric to the bit
    eigenvalues = ntk.spectrum(theta)
    assert eigenvalues[0] >= -1e-12 * eigenvalues[-1]


@settings(max_examples=40, deadline=None)
@given(mlp_cases)
def test_pl_audit_identity_and_inequality(case):
    """||grad L||^2 == r^T Theta r / n^2 (to float64 rounding), hence >= 2 (lambda_min / n) L."""
    model, x, y = random_problem(case)
    audit = ntk.pl_audit(model, x, y)
    assert audit["audit_ok"], audit
    slack = audit["audit_tolerance"] + 1e-12 * audit["lambda_max"] * audit["loss"]
    assert audit["grad_norm_sq"] >= audit["pl_lower_bound"] - slack
    assert audit["grad_norm_sq"] <= 2 * audit["lambda_max"] / case["n"] * audit["loss"] + slack


def test_pl_audit_cnn_and_full_gradient():
    torch.manual_seed(3)
    model, x = small_cnn().double(), torch.randn(5, 1, 6, 6, dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    audit = ntk.pl_audit(model, x, y)
    assert audit["audit_ok"], audit
    loss, grad = ntk.full_gradient(model, x, y)
    assert math.isclose(loss, audit["loss"], rel_tol=1e-12)
    assert math.isclose(float(grad.pow(2).sum()), audit["grad_norm_sq"], rel_tol=1e-12)
    # a wrong kernel fails the audit: drop one layer's contribution by scaling Theta
    assert not ntk.pl_audit(model, x, y, theta=0.9 * ntk.empirical_ntk(model, x))["audit_ok"]


def test_duplicate_inputs_give_zero_lambda_min():
    """Identical inputs give identical rows of J, so Theta is singular."""
    torch.manual_seed(4)
    model, x = models.MLP(4, 16, depth=3), torch.randn(6, 4)
    x[3] = x[0]
    ends = ntk.extreme_eigenvalues(ntk.empirical_ntk(model, x))
    assert abs(ends["lambda_min"]) <= 1e-12 * ends["lambda_max"]
    assert ends["condition"] > 1e10


def test_dead_relu_network_has_zero_lambda_min():
    """All first-layer units dead: f = b_D for every input, J has only the readout bias, Theta = 1 1^T."""
    torch.manual_seed(5)
    model, x = models.MLP(3, 8, depth=3), torch.randn(5, 3)
    with torch.no_grad():
        model.layers[0].bias.fill_(-100.0)
    theta = ntk.empirical_ntk(model, x)
    assert torch.equal(theta, torch.ones(5, 5, dtype=torch.float64))
    assert abs(ntk.extreme_eigenvalues(theta)["lambda_min"]) < 1e-12


def test_iterative_eigenvalues_match_dense():
    torch.manual_seed(6)
    model, x = models.MLP(10, 32, depth=3), torch.randn(80, 10)
    theta = ntk.empirical_ntk(model, x)
    dense = ntk.extreme_eigenvalues(theta, method="dense")
    assert torch.equal(dense["eigenvalues"], ntk.spectrum(theta))
    iterative = ntk.extreme_eigenvalues(theta, method="iterative", tol=1e-10)
    for key in ("lambda_min", "lambda_max", "condition"):
        assert math.isclose(iterative[key], dense[key], rel_tol=1e-6), key
    # matrix-free: Theta v = J (J^T v) by vjp and jvp, on the CNN, in chunks of samples
    cnn, images = small_cnn(), torch.randn(12, 1, 6, 6)
    dense = ntk.extreme_eigenvalues(model=cnn, x=images, method="dense")
    free = ntk.extreme_eigenvalues(model=cnn, x=images, method="iterative", tol=1e-10, chunk_size=5)
    for key in ("lambda_min", "lambda_max"):
        assert math.isclose(free[key], dense[key], rel_tol=1e-6), key
    assert math.isclose(ntk.lambda_max(model, x), float(ntk.spectrum(theta)[-1]), rel_tol=1e-12)


def test_unknown_method_names_the_options():
    model, x = models.MLP(2, 2, depth=2), torch.randn(3, 2)
    with pytest.raises(ValueError, match="'auto', 'mlp', 'jacobian' or 'loop'"):
        ntk.empirical_ntk(model, x, method="fast")
    with pytest.raises(ValueError, match="'dense' or 'iterative'"):
        ntk.extreme_eigenvalues(torch.eye(3), method="lanczos")


@pytest.mark.parametrize("make", [lambda: models.MLP(10, 32, depth=3), lambda: small_cnn()], ids=["mlp", "cnn"])
def test_power_iteration_finds_lambda_max_and_warm_starts(make):
    """ntk.top_eigenpair (the sharpness tracked during training): the Rayleigh quotient is a lower bound on
    lambda_max and reaches it; warm-started from its own vector, one iteration keeps it there."""
    torch.manual_seed(7)
    model = make().double()
    x = torch.rand(24, 10, dtype=torch.float64) if isinstance(model, models.MLP) else torch.rand(24, 1, 6, 6, dtype=torch.float64)
    exact = float(ntk.spectrum(ntk.empirical_ntk(model, x, method="jacobian"))[-1])
    lam, v = ntk.top_eigenpair(model, x, iterations=50)
    assert float(lam) <= exact * (1 + 1e-12) and math.isclose(float(lam), exact, rel_tol=1e-8)
    assert math.isclose(float(v.norm()), 1.0, rel_tol=1e-12)
    again, _ = ntk.top_eigenpair(model, x, v0=v, iterations=1)
    assert math.isclose(float(again), exact, rel_tol=1e-10)
