"""The empirical NTK Theta = J J^T (n x n) of a scalar-output model, its spectrum and the PL audit.

J_ij = d f(x_i) / d theta_j over ALL parameters. Three implementations of one quantity, chosen by
`method` and tested against each other (tests/test_ntk.py):
    "mlp"       exact structured path for `lplr.models.MLP` / `NTKMLP`; never forms J. With
                pre-activations z_l = s_l W_l h_{l-1} + b_l (s_l = 1 in the standard parametrisation)
                and back-propagated signals delta_l = df/dz_l (n x width),
                    df/dW_l = s_l delta_l h_{l-1}^T,   df/db_l = delta_l,   so
                    Theta = sum_l (Delta_l Delta_l^T) * (s_l^2 H_{l-1} H_{l-1}^T + 1)    (* elementwise)
                (the "structured derivatives" of Novak et al. 2022). Time O(n m^2 D + n^2 m D), all of
                it in matrix products; memory O(n^2 + n m D). Every n x n term is symmetric: only
                upper triangles are formed (`_gram_upper`: BLAS syrk on the CPU, half the n^2 m D part;
                torch row blocks on a GPU, (b - 1) / 2b less) and Theta is mirrored once.
    "jacobian"  any nn.Module without coupling between samples (no BatchNorm): per-sample Jacobian rows
                by torch.func (vmap of jacrev), computed once and contracted as J J^T (one triangle).
                If J does not fit `memory_budget` bytes it is never held whole: Theta is filled block
                by block, Theta_ab = J_a J_b^T for b >= a, with J_a held and J_b streamed.
    "loop"      the plain reference: one autograd call per sample.

Spectrum: `spectrum` (all eigenvalues, dense) and `extreme_eigenvalues` (lambda_min, lambda_max and the
condition number, dense or by Lanczos; matrix-free Theta v = J (J^T v) by vjp + jvp when no kernel is
given). `pl_audit` checks ||grad L||^2 == r^T Theta r / n^2, the identity the PL analysis rests on.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from scipy.linalg import blas as scipy_blas
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from lplr import columns as columns_of
from lplr import models

DENSE_MAX_N = 4096  # "auto" eigensolver: dense eigvalsh up to this n (O(n^3), ~10 s at 4096), Lanczos above


# -----------------------------------------------------------------------------
# the kernel

def empirical_ntk(model: nn.Module, x: torch.Tensor, method: str = "auto", dtype: torch.dtype = torch.float64,
                  chunk_size: int = 32, memory_budget: int = 2**30, columns: torch.Tensor | None = None) -> torch.Tensor:
    """Theta_ij = <df(x_i)/dtheta, df(x_j)/dtheta> over all parameters, computed and returned in `dtype`.

    method: "auto" (the structured path for the package's MLPs, else "jacobian"), "mlp", "jacobian", "loop".
    chunk_size: samples per vmap call of the jacobian path. memory_budget: bytes the jacobian path may
    spend on Jacobian rows (the kernel itself, n^2 entries, comes on top).
    columns: x holds only these input columns (lplr.columns.narrow; the others are zero at every point), so
    W_1 is read there only: the same kernel up to float rounding (structured path only).
    """
    if method == "auto":
        method = "mlp" if is_structured_mlp(model) else "jacobian"
    x = x.to(dtype)
    if method == "mlp":
        if not is_structured_mlp(model):
            raise ValueError(f"method 'mlp' needs an lplr.models.MLP or NTKMLP, got {type(model).__name__}; "
                             "use method 'jacobian' for other modules")
        return _ntk_mlp(model, x, columns=columns)
    if columns is not None:
        raise ValueError(f"skipped input columns need the structured 'mlp' path, not method {method!r}")
    if method == "jacobian":
        return _ntk_jacobian(model, x, chunk_size, memory_budget)
    if method == "loop":
        return _ntk_loop(model, x)
    raise ValueError(f"unknown NTK method {method!r}; use 'auto', 'mlp', 'jacobian' or 'loop'")


def is_structured_mlp(model: nn.Module) -> bool:
    """True for the package's MLPs with their own forward (a subclass overriding forward is not trusted)."""
    kinds = tuple(getattr(models, name) for name in ("MLP", "NTKMLP") if hasattr(models, name))
    return isinstance(model, kinds) and any(type(model).forward is kind.forward for kind in kinds)


@torch.no_grad()
def _ntk_mlp(model: nn.Module, x: torch.Tensor, symmetric: bool = True, columns: torch.Tensor | None = None) -> torch.Tensor:
    """Theta = sum_l (Delta_l Delta_l^T) * (s_l^2 H_{l-1} H_{l-1}^T + 1), layer by layer from the readout down.

    Every n x n term is symmetric, so with `symmetric` only the upper triangles are formed (`_gram_upper`)
    and Theta is mirrored once at the end; symmetric=False forms the full products (the reference).
    columns: x holds only these input columns of W_1 (lplr.columns); W_1 enters the forward pass only.
    """
    dtype = x.dtype
    one = torch.ones((), dtype=dtype, device=x.device)

    def gram(a: torch.Tensor, alpha: float | None = None) -> torch.Tensor:  # A A^T, or alpha A A^T + 1
        if symmetric:
            return _gram_upper(a) if alpha is None else _gram_upper(a, alpha).add_(1.0)
        return a @ a.T if alpha is None else torch.addmm(one, a, a.T, alpha=alpha)

    layers = list(model.layers)
    scales = list(getattr(model, "scales", [1.0] * len(layers)))  # s_l: NTKMLP multiplies W_l by s_l
    weights = [layer.weight.to(dtype) * s if s != 1.0 else layer.weight.to(dtype)  # effective s_l W_l
               for s, layer in zip(scales, layers)]
    weights[0] = columns_of.first_weight(weights[0], columns)
    biases = [layer.bias.to(dtype) for layer in layers]
    hs = [x.flatten(1)]  # hs[l] = h_l, the input of layer l (0-based); memory n (d + m (D - 1))
    for weight, bias in zip(weights[:-1], biases[:-1]):
        hs.append(torch.relu(torch.addmm(bias, hs[-1], weight.T)))  # h_{l+1} = relu(W_l h_l + b_l)
    theta = gram(hs[-1], scales[-1] ** 2)  # readout: delta = 1, so s^2 H H^T + 1
    if len(layers) > 1:
        delta = weights[-1] * (hs.pop() > 0)  # delta for the last hidden layer: w_D * relu'(z), n x m
    for index in range(len(layers) - 2, -1, -1):
        gram_h = gram(hs[index], scales[index] ** 2)  # s^2 H H^T + 1
        theta.addcmul_(gram(delta), gram_h)  # += (Delta Delta^T) * (s^2 H H^T + 1)
        del gram_h
        if index > 0:
            delta = (delta @ weights[index]) * (hs.pop() > 0)  # delta_{l-1} = (delta_l W_l) * relu'(z_{l-1})
    return _mirror_upper(theta) if symmetric else theta


# Symmetric products: A A^T needs only one triangle, n^2 k multiply-adds instead of 2 n^2 k.
SYRK_DTYPES = {torch.float32: "ssyrk", torch.float64: "dsyrk"}
# With torch's OpenMP team (threads > 1), every syrk lets the team fall asleep and the next torch op waits
# for it to wake (milliseconds on a loaded machine): syrk only for products that take far longer than that.
SYRK_MIN_MACS = 2**27  # n^2 k multiply-adds: 512^3, ~10 ms on one core
GRAM_BLOCK_ROWS = 256  # torch path: row blocks of at least this many rows (smaller GEMMs run far below peak)
GRAM_MAX_BLOCKS = 8  # b blocks compute (b + 1) / 2b of the full product: 8 saves 44%, more saves little


def _gram_upper(a: torch.Tensor, alpha: float = 1.0, use_blas: bool | None = None) -> torch.Tensor:
    """alpha A A^T (n x n, on a's device, in a's dtype) on and above the diagonal; below it, finite filler.

    use_blas True: BLAS syrk on zero-copy numpy views (CPU float32/float64), one triangle only, half the
    FLOPs (OpenBLAS dsyrk ~2x torch.mm at 1024^3 float64). False: pure torch on a's device (what a GPU
    runs), b row blocks, block i times the rows from block i on: (b + 1) / 2b of the FLOPs. None: syrk for
    CPU float32/float64 when torch runs one thread or the product is large (SYRK_MIN_MACS), else torch.
    """
    n, k = a.shape
    if use_blas is None:
        use_blas = (a.device.type == "cpu" and a.dtype in SYRK_DTYPES
                    and (torch.get_num_threads() == 1 or n * n * k >= SYRK_MIN_MACS))
    if use_blas:
        syrk = getattr(scipy_blas, SYRK_DTYPES[a.dtype])
        _match_blas_threads()
        # a (n x k, C order) is the Fortran k x n matrix A^T: trans=1 gives (A^T)^T A^T = A A^T, its lower
        # triangle (Fortran), i.e. the upper triangle of the C-ordered transpose returned
        c = syrk(alpha, a.detach().contiguous().numpy().T, trans=1, lower=1)
        return torch.from_numpy(c.T)
    blocks = max(1, min(GRAM_MAX_BLOCKS, n // GRAM_BLOCK_ROWS))
    if blocks == 1:
        out = a @ a.T
    else:
        out = torch.zeros(n, n, dtype=a.dtype, device=a.device)
        edges = [n * i // blocks for i in range(blocks + 1)]
        for start, stop in zip(edges[:-1], edges[1:]):
            torch.mm(a[start:stop], a[start:].T, out=out[start:stop, start:])  # block i's rows, columns from i on
    return out.mul_(alpha) if alpha != 1.0 else out


def _mirror_upper(upper: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose upper triangle (diagonal included) is `upper`'s."""
    full = upper.triu()
    return full.add_(full.triu(1).T)


def _gram(a: torch.Tensor) -> torch.Tensor:
    """A A^T, exactly symmetric, from one triangle (`_gram_upper`)."""
    return _mirror_upper(_gram_upper(a))


_BLAS_THREADS: dict = {}


def _match_blas_threads() -> None:
    """The loaded OpenBLAS libraries (scipy's, numpy's) use as many threads as torch (one per DAG job)."""
    want = torch.get_num_threads()
    if _BLAS_THREADS.get("threads") == want:
        return
    try:
        from threadpoolctl import ThreadpoolController  # scikit-learn's dependency
        _BLAS_THREADS.setdefault("libraries", ThreadpoolController().select(internal_api="openblas").lib_controllers)
    except ImportError:
        _BLAS_THREADS.setdefault("libraries", [])
    for library in _BLAS_THREADS["libraries"]:
        library.set_num_threads(want)
    _BLAS_THREADS["threads"] = want


def _params_and_buffers(model: nn.Module, dtype: torch.dtype) -> tuple[dict, dict]:
    """Detached copies in `dtype` (floating tensors only), for functional_call."""
    cast = lambda t: t.detach().to(dtype) if t.is_floating_point() else t.detach()  # noqa: E731
    return ({name: cast(p) for name, p in model.named_parameters()},
            {name: cast(b) for name, b in model.named_buffers()})


def per_sample_jacobian(model: nn.Module, x: torch.Tensor, chunk_size: int = 32) -> torch.Tensor:
    """J (len(x) x P) in x's dtype: row i is df(x_i)/dtheta, parameters flattened in `named_parameters` order.

    Rows come `chunk_size` samples at a time (vmap of jacrev) and are written into one preallocated J,
    so the peak is J plus one chunk's rows and activations.
    """
    params, buffers = _params_and_buffers(model, x.dtype)

    def f_single(p, sample):  # one sample -> scalar f(sample)
        return functional_call(model, (p, buffers), (sample.unsqueeze(0),)).squeeze(0)

    rows_of = vmap(jacrev(f_single), in_dims=(None, 0))
    jacobian = torch.empty(len(x), sum(p.numel() for p in params.values()), dtype=x.dtype, device=x.device)
    for start in range(0, len(x), chunk_size):
        chunk = rows_of(params, x[start:start + chunk_size])
        torch.cat([j.reshape(len(j), -1) for j in chunk.values()], dim=1, out=jacobian[start:start + chunk_size])
    return jacobian


def _ntk_jacobian(model: nn.Module, x: torch.Tensor, chunk_size: int, memory_budget: int) -> torch.Tensor:
    """Theta = J J^T; if n P bytes exceed the budget, Theta_ab = J_a J_b^T over row blocks, b >= a."""
    n = len(x)
    row_bytes = sum(p.numel() for p in model.parameters()) * x.element_size()
    inner = max(1, min(chunk_size, memory_budget // (4 * row_bytes)))  # vmap chunk: at most 1/4 of the budget
    if n * row_bytes + inner * row_bytes <= memory_budget:
        return _gram(per_sample_jacobian(model, x, inner))  # one triangle: n^2 P multiply-adds
    # blocked: the held block J_a gets half the budget, the streamed block J_b a quarter
    outer = max(inner, memory_budget // (2 * row_bytes))
    theta = torch.empty(n, n, dtype=x.dtype, device=x.device)
    for a0 in range(0, n, outer):
        a1 = min(a0 + outer, n)
        block = per_sample_jacobian(model, x[a0:a1], inner)
        theta[a0:a1, a0:a1] = _gram(block)
        for b0 in range(a1, n, inner):
            b1 = min(b0 + inner, n)
            theta[a0:a1, b0:b1] = block @ per_sample_jacobian(model, x[b0:b1], inner).T
            theta[b0:b1, a0:a1] = theta[a0:a1, b0:b1].T
    return theta


def _ntk_loop(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reference: row i of J by one autograd call on f(x_i)."""
    params, buffers = _params_and_buffers(model, x.dtype)
    leaves = {name: p.requires_grad_() for name, p in params.items()}
    rows = []
    for sample in x:
        out = functional_call(model, (leaves, buffers), (sample.unsqueeze(0),)).squeeze()
        grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for g, p in zip(grads, leaves.values())]))
    jacobian = torch.stack(rows)
    return jacobian @ jacobian.T  # the full product: the reference for the one-triangle products


def ntk_matvec(model: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.float64, chunk_size: int = 256):
    """v -> Theta v = J (J^T v) without forming J or Theta: one vjp and one jvp per chunk of samples.

    J^T v = sum_chunks vjp(f_chunk)(v_chunk) (a parameter-shaped vector), then (J u)_chunk = jvp(f_chunk)(u).
    Memory: the parameters twice plus one chunk's activations.
    """
    params, buffers = _params_and_buffers(model, dtype)
    x = x.to(dtype)
    chunks = x.split(chunk_size)

    def f(p, xc):
        return functional_call(model, (p, buffers), (xc,))

    def matvec(v: torch.Tensor) -> torch.Tensor:
        v = v.to(dtype)
        u = {name: torch.zeros_like(p) for name, p in params.items()}
        for xc, vc in zip(chunks, v.split(chunk_size)):
            _, pullback = vjp(lambda p: f(p, xc), params)
            for name, g in pullback(vc)[0].items():  # u += J_c^T v_c
                u[name] += g
        return torch.cat([jvp(lambda p: f(p, xc), (params,), (u,))[1] for xc in chunks])  # J u

    return matvec


@torch.no_grad()
def top_eigenpair(model: nn.Module, x: torch.Tensor, v0: torch.Tensor | None = None,
                  iterations: int = 20, columns: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(lambda, v): the power iteration's estimate of lambda_max(Theta(x)) and its unit vector, in x's dtype
    on x's device, with no host synchronisation (cheap enough to track the sharpness during training).

    Theta is formed by the structured path for the package's MLPs (O(n m^2 D), about one training step),
    and applied matrix-free (Theta v = J (J^T v), one vjp and one jvp) for other models. `iterations`
    steps of v <- Theta v / ||Theta v|| from v0 (default: the all-ones vector, close to the top eigenvector
    of a kernel of non-negative features; pass the previous estimate to warm-start along training), then
    lambda = v^T Theta v, the Rayleigh quotient: a lower bound on lambda_max that converges as
    (lambda_2 / lambda_1)^(2 iterations). columns: as in `empirical_ntk` (the package's MLPs only).
    """
    n = len(x)
    if is_structured_mlp(model):
        theta = _ntk_mlp(model, x, columns=columns)
        matvec = lambda v: theta @ v  # noqa: E731
    elif columns is not None:
        raise ValueError(f"skipped input columns need lplr.models.MLP or NTKMLP, got {type(model).__name__}")
    else:
        matvec = ntk_matvec(model, x, dtype=x.dtype)
    v = torch.ones(n, dtype=x.dtype, device=x.device) if v0 is None else v0.to(x.dtype)
    v = v / v.norm()
    for _ in range(iterations):
        w = matvec(v)
        v = w / w.norm()
    return v @ matvec(v), v


# -----------------------------------------------------------------------------
# spectrum

def spectrum(theta: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of the symmetric PSD kernel, ascending (dense float64 solver)."""
    return torch.linalg.eigvalsh(theta.to(torch.float64))


def extreme_eigenvalues(theta: torch.Tensor | None = None, model: nn.Module | None = None,
                        x: torch.Tensor | None = None, method: str = "auto", tol: float = 1e-8,
                        chunk_size: int = 256) -> dict:
    """lambda_min, lambda_max and condition = lambda_max / lambda_min of Theta (float64).

    Give `theta`, or `model` and `x` (then "dense" forms Theta by `empirical_ntk`, "iterative" never does:
    matrix-free Theta v = J (J^T v) via `ntk_matvec`). method "auto": dense for n <= DENSE_MAX_N.
      dense      torch.linalg.eigvalsh; "eigenvalues" holds the whole spectrum, ascending.
      iterative  Lanczos (ARPACK eigsh, which="SA" and "LA", k=1). ARPACK stops when each Ritz pair has
                 ||Theta v - lambda v|| <= tol |lambda|, and for a symmetric matrix the residual bounds the
                 distance to the nearest eigenvalue, so |lambda - lambda_true| <= tol |lambda| (relative
                 accuracy tol) for each end; "eigenvalues" holds only [lambda_min, lambda_max].
    """
    if theta is None and (model is None or x is None):
        raise ValueError("extreme_eigenvalues needs theta, or model and x")
    n = len(theta) if theta is not None else len(x)
    if method == "auto":
        method = "dense" if n <= DENSE_MAX_N else "iterative"
    if method == "iterative" and n < 3:
        method = "dense"  # ARPACK needs k < n - 1
    if method == "dense":
        theta = empirical_ntk(model, x) if theta is None else theta
        eigenvalues = spectrum(theta)
    elif method == "iterative":
        if theta is not None:
            theta64 = theta.to(torch.float64)
            matvec = lambda v: theta64 @ v  # noqa: E731
        else:
            matvec = ntk_matvec(model, x, torch.float64, chunk_size)
        device = theta.device if theta is not None else x.device
        operator = LinearOperator((n, n), dtype=np.float64, matvec=lambda v: matvec(
            torch.from_numpy(np.asarray(v, dtype=np.float64).reshape(-1)).to(device)).cpu().numpy())
        v0 = np.random.default_rng(0).standard_normal(n)  # fixed start: same numbers on every run
        low = eigsh(operator, k=1, which="SA", tol=tol, v0=v0, return_eigenvectors=False)[0]
        high = eigsh(operator, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0]
        eigenvalues = torch.tensor([low, high], dtype=torch.float64)
    else:
        raise ValueError(f"unknown eigensolver method {method!r}; use 'auto', 'dense' or 'iterative'")
    low, high = float(eigenvalues[0]), float(eigenvalues[-1])
    return {"lambda_min": low, "lambda_max": high, "condition": high / low if low > 0 else math.inf,
            "eigenvalues": eigenvalues, "method": method}


def lambda_max(model: nn.Module, x: torch.Tensor, method: str = "auto") -> float:
    """Largest eigenvalue of Theta(x) in float64 (used to calibrate eta = c n / lambda_max)."""
    return extreme_eigenvalues(empirical_ntk(model, x), method=method)["lambda_max"]


# -----------------------------------------------------------------------------
# the PL audit and the full gradient

def _as_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    first = next(model.parameters())
    return model if first.dtype == dtype else copy.deepcopy(model).to(dtype)


def pl_audit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor | None = None,
             tolerance_eps: float = 64.0, eigenvalues: torch.Tensor | None = None) -> dict:
    """Check ||grad L_S||^2 == r^T Theta r / |S|^2 in float64 at the model's exact parameters.

    L_S = (1/2|S|) sum_i (f(x_i) - y_i)^2, so grad L_S = J^T r / |S| and the identity is exact; the
    tolerance is `tolerance_eps` float64 epsilons times lambda_max ||r||^2 / |S|^2 (the largest the
    right side can be). A failure is a bug in the NTK code, not a property of the network.
    Also returns the lower bound 2 (lambda_min / |S|) L_S <= ||grad L_S||^2 when it is cheap (dense n).
    `eigenvalues` (ascending, of `theta`) saves the decomposition when the caller already has it.
    """
    model64 = _as_dtype(model, torch.float64)
    x, y = x.to(torch.float64), y.to(torch.float64)
    residual = model64(x) - y
    loss = 0.5 * residual.pow(2).mean()  # L_S = (1/2n) ||r||^2
    grads = torch.autograd.grad(loss, list(model64.parameters()), allow_unused=True)
    grad_norm_sq = sum(g.pow(2).sum() for g in grads if g is not None)  # ||grad L_S||^2
    theta = empirical_ntk(model64, x) if theta is None else theta.to(torch.float64)
    residual = residual.detach()
    n = len(x)
    quadratic = residual @ theta @ residual / n**2  # r^T Theta r / n^2
    ends = (extreme_eigenvalues(theta) if eigenvalues is None else
            {"lambda_min": float(eigenvalues[0]), "lambda_max": float(eigenvalues[-1])})
    top = ends["lambda_max"]
    tolerance = tolerance_eps * torch.finfo(torch.float64).eps * top * residual.pow(2).sum() / n**2
    error = (grad_norm_sq - quadratic).abs()
    loss, grad_norm_sq = loss.detach(), grad_norm_sq.detach()
    return {"loss": float(loss), "grad_norm_sq": float(grad_norm_sq), "quadratic_form": float(quadratic),
            "audit_error": float(error), "audit_tolerance": float(tolerance), "audit_ok": bool(error <= tolerance),
            "lambda_min": ends["lambda_min"], "lambda_max": top,
            "pl_lower_bound": 2.0 * ends["lambda_min"] / n * float(loss)}  # 2 (lambda_min / n) L_S


def full_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(L, grad L flattened) of the squared loss on (x, y), in the model's dtype."""
    loss = 0.5 * (model(x) - y).pow(2).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return float(loss.detach()), torch.cat([g.reshape(-1) for g in grads])
