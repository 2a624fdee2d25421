"""A run folder's lifecycle, the same for every stepper: checkpoints staged in checkpoints.partial/ and
moved to checkpoints/ at the end, metrics.csv from the host copies of the metric blocks, the one
manifest builder, and the job's resume file.

Resume files hold tensors and JSON only: torch.save({"format", "key", "meta": JSON text, "tensors":
{name: tensor}}) read back with torch.load(weights_only=True), whose unpickler builds tensors and plain
containers and nothing else, so a tampered file cannot run code (a pickled object is refused).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lplr.io import git_commit, package_versions, torch_save, write_csv, write_json

METRIC_COLUMNS = ["step", "loss", "grad_norm_sq", "drift", "rel_drift", "step_time", "test_loss", "test_accuracy",
                  "batch_loss", "epoch", "sharpness"]
# written after METRIC_COLUMNS only when training.lambda_min_every > 0 (runs without it keep their bytes)
LAMBDA_MIN_COLUMNS = ["lambda_min_tracked", "mu_tracked"]
# then these only when training.hessian_every > 0: lambda_max(H) of the full-batch loss and eta lambda_max(H)
HESSIAN_COLUMNS = ["hessian_lambda_max_tracked", "hessian_sharpness_tracked"]
# a seed's row of the device buffer, one per visited step; block_rows turns it into metrics.csv's columns
BUFFER_COLUMNS = ("loss", "grad_norm_sq", "drift_sq", "batch_loss", "sharpness", "lambda_min", "hessian")
STAGING = "checkpoints.partial"
RESUME_FORMAT = "lplr-resume-2"  # tensors + JSON; version 1 was a pickle and is refused


def remove_partial_writes(folder: Path) -> None:
    """Temporary files of io.atomic_path left behind by a killed run."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def open_staging(out_dir: Path, fresh: bool) -> Path:
    """The run's staging folder for checkpoints, emptied when the run starts afresh (not on resume)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_partial_writes(out_dir)
    staging = out_dir / STAGING
    if fresh:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(exist_ok=True)
    remove_partial_writes(staging)
    return staging


def save_checkpoint(staging: Path, step: int, state: dict[str, torch.Tensor]) -> None:
    torch_save(state, staging / f"step_{step:07d}.pt")


def block_rows(values: np.ndarray, steps: np.ndarray, step_time: float, theta0_norm: float,
               epochs_per_step: float, tracked_points: int | None = None,
               hessian_lr: float | None = None) -> np.ndarray:
    """metrics.csv rows (without the test columns) of one seed's block of BUFFER_COLUMNS; with tracked_points
    = |S| (lambda_min tracked on S) also LAMBDA_MIN_COLUMNS: lambda_min and mu = lambda_min / |S|; with
    hessian_lr = eta (the Hessian tracked) also HESSIAN_COLUMNS: lambda_max(H) and eta lambda_max(H)."""
    drift = np.sqrt(values[:, 2])
    columns = [steps, values[:, 0], values[:, 1], drift, drift / theta0_norm, np.full(len(values), step_time),
               values[:, 3], steps * epochs_per_step, values[:, 4]]
    if tracked_points is not None:
        columns += [values[:, 5], values[:, 5] / tracked_points]
    if hessian_lr is not None:
        columns += [values[:, 6], values[:, 6] * hessian_lr]
    return np.column_stack(columns)


def metrics_frame(rows: np.ndarray, test_rows: dict, lambda_min: bool = False, hessian: bool = False) -> pd.DataFrame:
    """metrics.csv: METRIC_COLUMNS, then LAMBDA_MIN_COLUMNS with `lambda_min` (rows from block_rows with |S|),
    then HESSIAN_COLUMNS with `hessian` (rows from block_rows with eta)."""
    extra = (LAMBDA_MIN_COLUMNS if lambda_min else []) + (HESSIAN_COLUMNS if hessian else [])
    frame = pd.DataFrame(rows, columns=[c for c in METRIC_COLUMNS if not c.startswith("test_")] + extra)
    frame["step"] = frame["step"].astype(int)
    frame["test_loss"] = frame["step"].map({s: v[0] for s, v in test_rows.items()})
    frame["test_accuracy"] = frame["step"].map({s: v[1] for s, v in test_rows.items()})
    return frame[METRIC_COLUMNS + extra]


def finish_outputs(out_dir: Path, steps: int, ckpt_steps: set, diverged_step, rows: list, test_rows: dict,
                   lambda_min: bool = False, hessian: bool = False) -> list[int]:
    """Write metrics.csv (with LAMBDA_MIN_COLUMNS when `lambda_min`, HESSIAN_COLUMNS when `hessian`) and move the
    staged checkpoints to checkpoints/; return the checkpoint steps kept (a diverged run keeps only those before
    the blow-up)."""
    staging = out_dir / STAGING
    last_step = steps if diverged_step is None else diverged_step
    saved_steps = sorted(s for s in ckpt_steps if s <= steps and (diverged_step is None or s < diverged_step))
    for path in staging.glob("step_*.pt"):
        if int(path.stem.split("_")[1]) not in saved_steps:
            path.unlink()
    metrics = metrics_frame(np.concatenate(rows), {s: v for s, v in test_rows.items() if s <= last_step}, lambda_min,
                            hessian)
    write_csv(metrics, out_dir / "metrics.csv")
    final_dir = out_dir / "checkpoints"
    shutil.rmtree(final_dir, ignore_errors=True)
    staging.rename(final_dir)
    (out_dir / "resume.pt").unlink(missing_ok=True)  # a per-seed job's resume file (or a leftover of one)
    return saved_steps


def write_manifest(out_dir: Path, settings: dict, job: dict, seed: dict) -> dict:
    """manifest.json of one seed's run. job: {device, n_train, param_count, opt, resumed_from_step, wall_time_s,
    mode, job_seeds, lambda_min_tracking and hessian_tracking (None: off)}; seed: {lr, lambda_max_0, theta0_norm,
    diverged_step, checkpoint_steps, level_steps, data_sha256}."""
    opt, n, saved = job["opt"], job["n_train"], seed["checkpoint_steps"]
    manifest = {
        "status": "completed" if seed["diverged_step"] is None else "diverged",
        "diverged_step": seed["diverged_step"],
        "settings": settings,
        "device": job["device"],
        "dtype": settings["precision"],
        "n_train": n,
        "param_count": job["param_count"],
        "optimizer": settings.get("optimizer", "gd"),
        "batch_size": opt["batch_size"],
        "momentum": opt["momentum"],
        "eval_every": opt["eval_every"],
        "lr": seed["lr"],
        "lambda_max_0": seed["lambda_max_0"],
        "sharpness_0": seed["lr"] * seed["lambda_max_0"] / n,
        "theta0_norm": seed["theta0_norm"],
        "checkpoint_steps": saved,
        "loss_level_steps": {format(level, "g"): step for level, step in seed["level_steps"].items() if step in saved},
        "resumed_from_step": job["resumed_from_step"],
        "data_sha256": seed["data_sha256"],
        "wall_time_s": job["wall_time_s"],  # the job's (all its seeds), this session's after a resume
        "mode": job["mode"],  # the stepper: "per_seed" or "batched"
        "job_seeds": job["job_seeds"],
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    if job.get("lambda_min_tracking"):  # only when tracked: other runs' manifests keep their keys
        manifest["lambda_min_tracking"] = job["lambda_min_tracking"]
    if job.get("hessian_tracking"):
        manifest["hessian_tracking"] = job["hessian_tracking"]
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def save_resume(path: Path, key: str, state: dict) -> None:
    """The job's state (nested dicts and lists of tensors, numpy arrays and JSON values) as tensors + JSON."""
    tensors: dict[str, torch.Tensor] = {}
    meta = json.dumps(_pack(state, tensors))
    torch_save({"format": RESUME_FORMAT, "key": key, "meta": meta, "tensors": tensors}, path)


def load_resume(path: Path, key: str) -> dict | None:
    """The state saved under `key`, or None (no file, or another job's or another version's state)."""
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only's unpickler refuses anything but tensors and plain containers
        raise ValueError(f"{path}: refused to load this resume file: it holds more than tensors and JSON ({error}). "
                         "Delete it to train the job from the start.") from error
    if not isinstance(saved, dict) or saved.get("format") != RESUME_FORMAT or saved.get("key") != key:
        print(f"{path}: written for other settings, seeds, data or another version; starting again", file=sys.stderr)
        return None
    return _unpack(json.loads(saved["meta"]), saved["tensors"])


def _pack(value, tensors: dict):
    """JSON for `value`, its tensors and arrays moved to `tensors` (dict keys kept with their type)."""
    if isinstance(value, torch.Tensor):
        tensors[name := str(len(tensors))] = value
        return {"tensor": name}
    if isinstance(value, np.ndarray):
        tensors[name := str(len(tensors))] = torch.from_numpy(np.ascontiguousarray(value))
        return {"ndarray": name}
    if isinstance(value, dict):
        return {"dict": [[k, _pack(v, tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_pack(v, tensors) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"resume state holds a {type(value).__name__}; only tensors, arrays and JSON values are saved")


def _unpack(value, tensors: dict):
    if isinstance(value, list):
        return [_unpack(v, tensors) for v in value]
    if isinstance(value, dict):
        if "tensor" in value:
            return tensors[value["tensor"]]
        if "ndarray" in value:
            return tensors[value["ndarray"]].numpy()
        return {k: _unpack(v, tensors) for k, v in value["dict"]}
    return value
