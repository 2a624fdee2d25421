"""Probe the empirical NTK at every checkpoint of a training run, with the PL audit and the LQCR check.

Per checkpoint t (on the probe set S, in float64 at the checkpoint's exact parameters):
    lambda_min, lambda_max, condition   spectrum of Theta_SS
    mu = lambda_min / |S|                the PL constant (L* = 0): G >= 2 mu L
    sharpness = eta lambda_max / |S|     linearised GD is stable while eta (lambda_max + lambda_min) / |S| <= 2
    lambda_min_ratio, kernel_change      lambda_min(Theta_t) / lambda_min(Theta_0), ||Theta_t - Theta_0||_F / ||Theta_0||_F
    audit                                ||grad L_S||^2 == r_S^T Theta_SS r_S / |S|^2 (raises on violation)
    grad_noise_trace, b_noise            tr(Sigma) of the per-example gradients on S and the noise scale
                                         tr(Sigma) / |grad L_S|^2, from Theta_SS (lplr.noise)
    hessian_lambda_max, hessian_sharpness  top eigenvalue of the Hessian of L_S (Lanczos on Hessian-vector
                                         products, lplr.hessian) and eta lambda_max(H): the Gauss-Newton
                                         sharpness plus the residual term (1/|S|) sum_i r_i grad^2 f_i;
    hessian_lanczos_steps, _residual     the products it took and |H v - lambda v| / lambda (HESSIAN_LANCZOS)
    lqcr_q                               <grad L(theta_t), theta_t - theta_T> / (L_t - L_T) on the training set
eigenvalues.npz holds, per checkpoint, the eigenvalues lambda_i of Theta_SS (ascending) and the squared
projections p_i = (u_i . r_S)^2 of the probe-set residual on its eigenvectors: the linearised model from
checkpoint k, r_{t} = (I - eta Theta_k / n)^(t - t_k) r_k, and the residual's spread over the spectrum
both follow from them (lplr.rates). `initial_projections` is row 0 (the lazy model from Theta_0).
The MLP's kernel skips the input columns that are zero at every training point (training.skip_zero_columns,
lplr.columns): the same Theta_SS up to float rounding; everything else reads the full checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lplr import columns as columns_of
from lplr import ntk
from lplr.data import load_prepared
from lplr.hessian import gauss_newton_direction, hessian_top_converged
from lplr.io import atomic_path, read_json, write_csv
from lplr.models import build_model
from lplr.noise import noise_scale


# The probe's lambda_max(H): Lanczos from the Gauss-Newton top direction J^T u (u: Theta's top eigenvector, where
# H's lies near interpolation), stopped once |H v - lambda v| <= 1e-6 lambda (lambda is then within 1e-6 lambda of
# an eigenvalue, and within ~(1e-6 lambda)^2 / gap of it). On real checkpoints (E1, edge of stability) it took
# 4-14 products and agreed with 60 cold steps to 1e-12 (benchmarks/README.md, "The probe's Hessian").
HESSIAN_LANCZOS = {"tolerance": 1e-6, "min_steps": 4, "max_steps": 40}


class AuditError(AssertionError):
    """The PL identity failed: a bug in the NTK code, never a property of the network."""


def probe_indices(n: int, probe_size: int, seed: int) -> np.ndarray:
    """The probe set S: all n points when n <= probe_size, else a seeded subset of probe_size."""
    if n <= probe_size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, probe_size, replace=False))


def load_checkpoint(path: Path, settings: dict, input_shape, dtype=torch.float64, device="cpu") -> torch.nn.Module:
    model = build_model(settings, input_shape)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(dtype=dtype, device=device)


def probe_run(train_dir: str | Path, data_file: str | Path, out_spectrum: str | Path, out_eigen: str | Path,
              probe_size: int, probe_seed: int = 0, audit_eps: float = 1024.0, device: str = "cpu",
              hessian: str = "all") -> pd.DataFrame:
    """Probe every checkpoint of one run (module docstring); the Hessian at every checkpoint (`hessian`: all),
    at the first and last (ends) or at none (none)."""
    train_dir = Path(train_dir)
    manifest = read_json(train_dir / "manifest.json")
    settings, lr = manifest["settings"], manifest["lr"]
    data = load_prepared(data_file, device=device, dtype=torch.float64)
    x, y = data["x_train"], data["y_train"]
    subset = torch.as_tensor(probe_indices(len(x), probe_size, probe_seed), device=x.device)
    x_s, y_s = x[subset], y[subset]
    columns = columns_of.kept_columns([x]) if columns_of.enabled(settings) else None  # the run's own K
    x_kernel = columns_of.narrow(x_s, columns)
    steps = manifest["checkpoint_steps"]
    models = {}

    def model_at(step):
        if step not in models:
            models[step] = load_checkpoint(train_dir / "checkpoints" / f"step_{step:07d}.pt", settings,
                                           tuple(x.shape[1:]), device=device)
        return models[step]

    final = model_at(steps[-1])
    loss_final, _ = ntk.full_gradient(final, x, y)
    theta_final = torch.cat([p.detach().reshape(-1) for p in final.parameters()])

    rows, eigenvalues, projections, theta_0 = [], [], [], None
    for step in steps:
        model = model_at(step)
        theta = ntk.empirical_ntk(model, x_kernel, columns=columns)
        evals, evecs = torch.linalg.eigh(theta)  # one decomposition, shared with the audit
        if theta_0 is None:
            theta_0 = theta
        with torch.no_grad():  # (u_i . r_S)^2: where the residual sits in the spectrum
            residual = (model(x_s) - y_s).reshape(-1)
            projections.append((evecs.T @ residual).pow(2).cpu().numpy())
        noise = noise_scale(theta, residual)
        hessian_top, hessian_steps, hessian_residual = float("nan"), 0, float("nan")
        if hessian == "all" or (hessian == "ends" and step in (steps[0], steps[-1])):
            ritz = hessian_top_converged(model, x_s, y_s, gauss_newton_direction(model, x_s, evecs[:, -1]),
                                         **HESSIAN_LANCZOS)
            hessian_top, hessian_steps = ritz.value, ritz.steps
            hessian_residual = ritz.residual / abs(ritz.value) if ritz.value else float("nan")
        audit = ntk.pl_audit(model, x_s, y_s, theta=theta, tolerance_eps=audit_eps, eigenvalues=evals)
        if not audit["audit_ok"]:
            raise AuditError(f"{train_dir}: PL audit failed at step {step}: ||grad L_S||^2 = {audit['grad_norm_sq']!r} "
                             f"but r^T Theta r / |S|^2 = {audit['quadratic_form']!r} (|error| {audit['audit_error']:.3g} > "
                             f"tolerance {audit['audit_tolerance']:.3g}). The NTK code is wrong; do not trust any spectrum.")
        loss_t, grad_t = ntk.full_gradient(model, x, y)
        params_t = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        gap = loss_t - loss_final
        lqcr = float(grad_t @ (params_t - theta_final)) / gap if gap > 0 else float("nan")
        n_s = len(x_s)
        lam_min, lam_max = float(evals[0]), float(evals[-1])
        rows.append({
            "step": step, "n_probe": n_s, "lambda_min": lam_min, "lambda_max": lam_max,
            "condition": lam_max / lam_min if lam_min > 0 else float("inf"),
            "mu": lam_min / n_s, "sharpness": lr * lam_max / n_s,
            "kernel_change": float(torch.linalg.norm(theta - theta_0) / torch.linalg.norm(theta_0)),
            "probe_loss": audit["loss"], "probe_grad_norm_sq": audit["grad_norm_sq"],
            "quadratic_form": audit["quadratic_form"], "audit_error": audit["audit_error"],
            "audit_tolerance": audit["audit_tolerance"], "audit_ok": audit["audit_ok"], "lqcr_q": lqcr,
            "grad_noise_trace": noise["trace_sigma"], "b_noise": noise["b_noise"],
            "hessian_lambda_max": hessian_top, "hessian_sharpness": lr * hessian_top,
            "hessian_lanczos_steps": hessian_steps, "hessian_residual": hessian_residual,
        })
        eigenvalues.append(evals.cpu().numpy())
    frame = pd.DataFrame(rows)
    frame.insert(4, "lambda_min_ratio", frame["lambda_min"] / frame["lambda_min"].iloc[0])
    write_csv(frame, out_spectrum)
    with atomic_path(out_eigen) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, steps=np.array(steps), eigenvalues=np.stack(eigenvalues), projections=np.stack(projections),
                     initial_projections=projections[0], lr=lr, n_probe=len(x_s))
    return frame


def probe_runs(train_dirs: dict[str, Path], data_files: dict[str, str | Path], out_spectra: dict[str, Path],
               out_eigen: dict[str, Path], probe_size: int, probe_seed: int = 0, audit_eps: float = 1024.0,
               device: str = "cpu", hessian: str = "all") -> dict[str, pd.DataFrame]:
    """`probe_run` for each run {run id: train dir} of a batched job, each on its own data set, in one
    process (one start-up for all seeds)."""
    return {run: probe_run(train_dir, data_files[run], out_spectra[run], out_eigen[run], probe_size, probe_seed,
                           audit_eps, device, hessian)
            for run, train_dir in train_dirs.items()}
