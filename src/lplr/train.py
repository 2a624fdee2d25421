"""Full-batch gradient descent with per-step diagnostics, log-spaced checkpoints and resume.

At every step t = 0..T (metrics at theta_t, before the update):
    loss          L(theta_t) = (1/2n) sum_i (f(x_i) - y_i)^2 on the full training set
    grad_norm_sq  G(theta_t) = ||grad L(theta_t)||^2
    drift         ||theta_t - theta_0||, and rel_drift = drift / ||theta_0||
Metrics are buffered on the device and copied to the host once per block, so there is no
per-step host synchronisation; `step_time` is the block's wall time divided by its steps.
Test loss and accuracy are computed at the checkpoints.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lplr import ntk
from lplr.data import load_prepared
from lplr.io import git_commit, package_versions, read_json, settings_hash, torch_save, write_csv, write_json
from lplr.models import build_model

DTYPES = {"float32": torch.float32, "float64": torch.float64}
METRIC_COLUMNS = ["step", "loss", "grad_norm_sq", "drift", "rel_drift", "step_time", "test_loss", "test_accuracy"]


def resolve_device(name: str) -> torch.device:
    """'auto' is cuda when present, else cpu; an explicit 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' was requested (config key 'device') but torch sees no CUDA GPU; "
                           "use device=auto or device=cpu")
    return torch.device(name)


def configure_torch(device: torch.device, threads: int | None) -> None:
    """Reproducible numerics: TF32 off (it silently rounds float32 matmuls to 10 mantissa bits)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    if threads:
        torch.set_num_threads(threads)


def checkpoint_steps(steps: int, count: int) -> list[int]:
    """`count` log-spaced steps in [0, steps], step 0 and the last step always included."""
    if count < 2:
        raise ValueError("checkpoints must be at least 2 (step 0 and the last step)")
    inner = np.unique(np.round(np.geomspace(1, max(steps, 1), count - 1)).astype(int))
    return sorted({0, steps, *inner.tolist()})


def learning_rate(settings: dict, model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(eta, lambda_max(Theta_0)): fixed eta = lr, or calibrated eta = lr * n / lambda_max(Theta_0)."""
    top = ntk.lambda_max(model, x)
    if settings["lr_mode"] == "fixed":
        return float(settings["lr"]), top
    return float(settings["lr"]) * len(x) / top, top


def train_run(settings: dict, data_file: str | Path, out_dir: str | Path, device: str = "auto",
              threads: int | None = None) -> dict:
    """Train one run to `out_dir` (metrics.csv, manifest.json, checkpoints/); resume if a resume file is there."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    configure_torch(device, threads)
    dtype = DTYPES[settings["precision"]]
    data = load_prepared(data_file, device=device, dtype=dtype)
    x, y, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    n, steps = len(x), settings["steps"]

    torch.manual_seed(settings["seed"])  # init on the CPU so cpu and cuda runs start from the same theta_0
    model = build_model(settings, tuple(x.shape[1:])).to(dtype).to(device)
    params = list(model.parameters())
    theta0 = [p.detach().clone() for p in params]
    theta0_norm = math.sqrt(sum(float(p.pow(2).sum()) for p in theta0))
    lr, lambda_max0 = learning_rate(settings, model, x)
    ckpt_steps = set(checkpoint_steps(steps, settings["checkpoints"]))

    resume_file, staging = out_dir / "resume.pt", out_dir / "checkpoints.partial"
    key = settings_hash({**settings, "data": read_json(Path(data_file).with_name("manifest.json"))["sha256"]})
    state = _load_resume(resume_file, key)
    if state is None:
        shutil.rmtree(staging, ignore_errors=True)
        start, rows, test_rows = 0, [], {}
    else:
        with torch.no_grad():
            for p, saved in zip(params, state["params"]):
                p.copy_(saved)
        start, rows, test_rows = state["step"], [state["rows"]], state["test_rows"]
        print(f"resuming from step {start}", file=sys.stderr)
    staging.mkdir(exist_ok=True)

    block = settings["metrics_block"]
    buffer = torch.empty(block, 3, dtype=dtype, device=device)  # loss, G, ||theta - theta_0||^2
    status, diverged_step, last_resume = "completed", None, start
    t, fill, block_start, started = start, 0, time.perf_counter(), time.perf_counter()
    bar = tqdm(total=steps + 1, initial=start, desc=f"train {settings.get('width', '')}", file=sys.stderr, mininterval=5)
    while t <= steps:
        residual = model(x) - y
        loss = 0.5 * residual.pow(2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            grad_norm_sq = torch.stack(torch._foreach_norm(grads)).pow(2).sum()
            drift_sq = torch.stack(torch._foreach_norm(torch._foreach_sub(params, theta0))).pow(2).sum()
            buffer[fill] = torch.stack([loss.detach(), grad_norm_sq, drift_sq])
            if t in ckpt_steps:
                test_rows[t] = _evaluate(model, x_test, y_test)
                torch_save({name: p.detach().cpu() for name, p in model.state_dict().items()},
                           staging / f"step_{t:07d}.pt")
            if t < steps:
                torch._foreach_add_(params, grads, alpha=-lr)
        fill, t = fill + 1, t + 1
        if fill == block or t > steps:
            values = buffer[:fill].cpu().numpy()  # the one host synchronisation per block
            elapsed = time.perf_counter() - block_start
            rows.append(_block_rows(values, t - fill, elapsed / fill, theta0_norm))
            bar.update(fill)
            bad = np.flatnonzero(~np.isfinite(values[:, :2]).all(axis=1))
            if len(bad):
                status, diverged_step = "diverged", int(t - fill + bad[0])
                rows[-1] = rows[-1][: bad[0] + 1]
                break
            if t - last_resume >= settings["resume_every"] and t <= steps:
                _save_resume(resume_file, key, t, params, np.concatenate(rows), test_rows)
                last_resume = t
            fill, block_start = 0, time.perf_counter()
    bar.close()

    metrics = _metrics_frame(np.concatenate(rows), test_rows)
    write_csv(metrics, out_dir / "metrics.csv")
    final_dir = out_dir / "checkpoints"
    shutil.rmtree(final_dir, ignore_errors=True)
    staging.rename(final_dir)
    manifest = {
        "status": status,
        "diverged_step": diverged_step,
        "settings": settings,
        "device": str(device),
        "dtype": settings["precision"],
        "n_train": n,
        "param_count": sum(p.numel() for p in params),
        "lr": lr,
        "lambda_max_0": lambda_max0,
        "sharpness_0": lr * lambda_max0 / n,
        "theta0_norm": theta0_norm,
        "checkpoint_steps": sorted(s for s in ckpt_steps if s < len(metrics)),
        "data_sha256": read_json(Path(data_file).with_name("manifest.json"))["sha256"],
        "wall_time_s": time.perf_counter() - started,
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    write_json(out_dir / "manifest.json", manifest)
    resume_file.unlink(missing_ok=True)
    return manifest


@torch.no_grad()
def _evaluate(model, x, y) -> tuple[float, float]:
    out = model(x)
    return float(0.5 * (out - y).pow(2).mean()), float((torch.sign(out) == y).double().mean())


def _block_rows(values: np.ndarray, first_step: int, step_time: float, theta0_norm: float) -> np.ndarray:
    steps = np.arange(first_step, first_step + len(values))
    drift = np.sqrt(values[:, 2].astype(np.float64))
    return np.column_stack([steps, values[:, 0], values[:, 1], drift, drift / theta0_norm,
                            np.full(len(values), step_time)])


def _metrics_frame(rows: np.ndarray, test_rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS[:6])
    frame["step"] = frame["step"].astype(int)
    frame["test_loss"] = frame["step"].map({s: v[0] for s, v in test_rows.items()})
    frame["test_accuracy"] = frame["step"].map({s: v[1] for s, v in test_rows.items()})
    return frame[METRIC_COLUMNS]


def _save_resume(path: Path, key: str, step: int, params, rows: np.ndarray, test_rows: dict) -> None:
    torch_save({"key": key, "step": step, "params": [p.detach().cpu() for p in params], "rows": rows,
                "test_rows": test_rows}, path)


def _load_resume(path: Path, key: str) -> dict | None:
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("key") != key:
        print(f"{path}: settings changed since it was written; starting again", file=sys.stderr)
        return None
    return state
