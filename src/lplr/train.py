"""Training: one job of S >= 1 seeds of one condition, full-batch GD or mini-batch SGD, full-batch diagnostics,
log-spaced checkpoints, resume. One driver, two steppers behind `stepper` (STEPPERS), as lplr.ntk puts its
kernels behind `method`:
    per_seed  each seed's own model and autograd kernels (lplr.per_seed): the reference
    batched   the seeds' parameters stacked as rows of one [S, P] tensor, one batched step (lplr.batched)
A seed's bits do not depend on which seeds share its job; the two steppers agree to float rounding.
With training.skip_zero_columns (default) the MLP's steppers skip the input columns zero at every training
point of the job, and with training.train_in_row_space (default) they hold W_1 turned onto the training
inputs' row space where it has fewer dimensions than the kept columns (lplr.columns): the same numbers up to
float rounding, fewer FLOPs.
The optimiser, batch order and schedules are in lplr.schedule; the run folder (staging, metrics.csv,
manifest.json, the resume file) in lplr.runfolder.

Diagnostics at theta_t (before the update), ALWAYS over the full training set, also for sgd:
    loss          L(theta_t) = (1/2n) sum_i (f(x_i) - y_i)^2
    grad_norm_sq  G(theta_t) = ||grad L(theta_t)||^2
    drift         ||theta_t - theta_0||, and rel_drift = drift / ||theta_0||
    batch_loss    the loss on the batch of the step taken from theta_t (gd: the loss; sgd: NaN at t = T)
    epoch         samples seen / n = t * batch_size / n
    gd: at every step t = 0..T.  sgd: every `eval_every` steps, at the checkpoints and at t = T.
    sharpness     eta lambda_max(Theta_t) / n every `sharpness_every` steps and at t = T (NaN between; 0 = never;
                  sgd: at those of the evaluated steps): `sharpness_iterations` power iterations warm-started
                  from the previous eigenvector (ntk.top_eigenpair), a lower bound accurate to ~1e-6 on ReLU
                  kernels. The theorem's step condition eta <= 1/L reads sharpness <= 1 (L ~ lambda_max(Theta)/n
                  near interpolation); GD on a quadratic is stable below 2.
    lambda_min_tracked, mu_tracked   only with `lambda_min_every` > 0: lambda_min(Theta_t) of the empirical NTK
                  on the probe set S (lplr.probe.probe_indices: all n points when n <= ntk.probe_size, else its
                  seeded subset; all n when no `probe` is given) and mu = lambda_min / |S|, every `lambda_min_every`
                  steps and at t = T (NaN between; sgd: at those of the evaluated steps). Float32: the kernel
                  by ntk.empirical_ntk and a dense eigvalsh, resolving lambda_min to ~1e-7 lambda_max, so LPLR
                  exits (lambda_min_t / lambda_min_0 below fit.lplr_exit_fraction) are timed to the cadence; the
                  float64 probe stays the audited value. On a GPU, eigvalsh's error check is one host sync per
                  tracked step; a non-finite kernel (a seed diverging inside its block) gives NaN.
    hessian_lambda_max_tracked, hessian_sharpness_tracked   only with `hessian_every` > 0: lambda_max(H_t) of the
                  full-batch training loss and eta lambda_max(H_t) (comparable with `sharpness`: the Gauss-Newton
                  part of H is J^T J / n), every `hessian_every` steps and at t = T (NaN between; sgd: at those of
                  the evaluated steps), by `hessian_iterations` Lanczos steps on Hessian-vector products
                  (lplr.hessian, double backward on the seed's own model) warm-started from the previous tracked
                  step's eigenvector (the first from a seeded random vector, with HESSIAN_COLD_STEPS), in the
                  training dtype; the probe's float64 value stays the audited one. The warm-start vectors are in
                  the resume file, so resume is exact.
                  On a GPU, one host sync per tracked step and seed (the Lanczos eigenvalue); a seed diverging
                  inside its block gives NaN (and its next tracked step starts cold).
Metrics are buffered on the device ([block, rows, runfolder.BUFFER_COLUMNS]) and copied to the host once per block of `metrics_block`
steps, so there is no per-step host synchronisation; `step_time` is the block's wall time over its steps (the
job's, the same for all its seeds).
Checkpoints: `checkpoints` log-spaced steps, and with `loss_checkpoints` (fractions of L_0) also the first
evaluated step where L_t <= level * L_0 (schedule.LossLevelCheckpoints; the manifest lists them in
`loss_level_steps`). Test loss and accuracy at the log-spaced checkpoints. A non-finite loss (full or batch)
marks the seed "diverged" at that step (found at the end of its block); the stepper stops it, the others go
on. Resume: one file for the job (all seeds at one step), every `resume_every` steps; adding a seed to a
condition changes the job, so the whole job is retrained.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lplr import runfolder
from lplr.batched import StackedStepper
from lplr.data import load_prepared
from lplr.devices import configure_torch, resolve_device
from lplr.io import read_json, settings_hash
from lplr.per_seed import PerSeedStepper
from lplr.probe import probe_indices
from lplr.schedule import (DTYPES, checkpoint_steps, hessian_steps, host_copy, lambda_min_every, optimizer_settings,
                           sharpness_steps, tracked)

STEPPERS = {"per_seed": PerSeedStepper, "batched": StackedStepper}
SEED_KEYS = ("seed",)
HESSIAN_COLD_STEPS = 20  # Lanczos steps of a tracked Hessian without a warm start (the first, from a random vector)


def condition_of(settings: dict) -> dict:
    """A run's settings without its seed: runs with equal conditions can share a job."""
    return {k: v for k, v in settings.items() if k not in SEED_KEYS}


def train_run(settings: dict, data_file: str | Path, out_dir: str | Path, device: str = "auto",
              threads: int | None = None) -> dict:
    """Train one run to `out_dir` (metrics.csv, manifest.json, checkpoints/) with the per-seed stepper; resume
    from out_dir/resume.pt if it holds this run's state."""
    out_dir = Path(out_dir)
    manifests = train_job({"run": settings}, {"run": data_file}, {"run": out_dir}, out_dir / "resume.pt",
                          stepper="per_seed", device=device, threads=threads)
    return manifests["run"]


def train_batch(runs: dict[str, dict], data_files: dict, out_dirs: dict, resume_file: str | Path,
                device: str = "auto", threads: int | None = None, method: str = "auto") -> dict[str, dict]:
    """train_job with the batched stepper (method: "mlp", "vmap" or "auto", see lplr.batched)."""
    return train_job(runs, data_files, out_dirs, resume_file, stepper="batched", device=device, threads=threads,
                     method=method)


def train_job(runs: dict[str, dict], data_files: dict, out_dirs: dict, resume_file: str | Path,
              stepper: str = "batched", device: str = "auto", threads: int | None = None,
              method: str = "auto", probe: dict | None = None) -> dict[str, dict]:
    """Train the runs {run id: settings} of one condition together; run r goes to out_dirs[r] (metrics.csv,
    manifest.json, checkpoints/) on its data set data_files[r]. Returns {run id: manifest}. Resumes from
    `resume_file` when it holds this job's state. probe: the config's `ntk` block ({probe_size, probe_seed}),
    whose probe set the lambda_min tracking uses (None: the whole training set)."""
    if stepper not in STEPPERS:
        raise ValueError(f"unknown stepper {stepper!r}; use one of {sorted(STEPPERS)} (config key "
                         "'training.seed_batching')")
    run_ids = list(runs)
    condition = _same_condition(runs)
    device = resolve_device(device)
    configure_torch(device, threads)
    dtype = DTYPES[condition["precision"]]
    files = [str(data_files[r]) for r in run_ids]
    sets = {f: load_prepared(f, device=device, dtype=dtype) for f in dict.fromkeys(files)}
    shapes = {tuple(s["x_train"].shape) for s in sets.values()}
    if len(shapes) != 1:
        raise ValueError(f"the data sets of runs {run_ids} differ in size or shape ({sorted(shapes)}); a job needs "
                         "equal shapes")
    n = next(iter(shapes))[0]
    opt = optimizer_settings(condition, n)
    engine = STEPPERS[stepper]([runs[r] for r in run_ids], [sets[f] for f in files], opt, method)
    data_shas = [read_json(Path(f).with_name("manifest.json"))["sha256"] for f in files]
    points = _tracked_points(condition, n, probe, device)
    tracking = {} if points is None else {"lambda_min_points": points.tolist()}  # off: the key of before
    key = settings_hash({"runs": runs, "data": data_shas, "mode": engine.mode, **engine.layout, **tracking})
    out_dirs = {r: Path(out_dirs[r]) for r in run_ids}
    loop = _Loop(condition, engine, opt, n, [out_dirs[r] for r in run_ids], points)
    resume_file = Path(resume_file)
    state = runfolder.load_resume(resume_file, key)
    loop.restore(state)
    started = time.perf_counter()
    loop.run(lambda t: runfolder.save_resume(resume_file, key, loop.state(t)))
    job = {"device": str(device), "n_train": n, "param_count": engine.param_count, "opt": opt,
           "resumed_from_step": state["step"] if state is not None else None,
           "wall_time_s": time.perf_counter() - started, "mode": engine.mode,
           "job_seeds": [runs[r]["seed"] for r in run_ids], "lambda_min_tracking": loop.tracking_manifest(probe),
           "hessian_tracking": loop.hessian_manifest()}
    manifests = {r: loop.finish(j, runs[r], job, data_shas[j]) for j, r in enumerate(run_ids)}
    resume_file.unlink(missing_ok=True)
    return manifests


class _Loop:
    """The block loop of one job: the diagnostics schedule, checkpoints, divergence, resume state."""

    def __init__(self, condition: dict, engine, opt: dict, n: int, out_dirs: list[Path], points: torch.Tensor | None):
        self.engine, self.opt, self.n, self.out_dirs = engine, opt, n, out_dirs
        self.steps, self.block, self.resume_every = condition["steps"], condition["metrics_block"], condition["resume_every"]
        self.ckpt_steps = set(checkpoint_steps(self.steps, condition["checkpoints"]))
        self.sharp_every, self.sharp_iterations = sharpness_steps(condition)
        # lambda_min tracking: on the points `points` (device indices; None: all n, or off when every = 0)
        self.min_every, self.min_points = lambda_min_every(condition), points
        self.min_count = None if not self.min_every else n if points is None else len(points)  # |S|, None = off
        self.hess_every, self.hess_steps = hessian_steps(condition)
        count = engine.count
        self.start, self.rows, self.test_rows = 0, [[] for _ in range(count)], [{} for _ in range(count)]
        self.diverged, self.top_vectors = [None] * count, [None] * count  # the power iterations' warm starts
        self.hess_vectors = [None] * count  # the Lanczos warm starts

    def evaluated(self, t: int) -> bool:
        return not self.opt["sgd"] or t % self.opt["eval_every"] == 0 or t == self.steps or t in self.ckpt_steps

    def restore(self, state: dict | None) -> None:
        """Open the run folders' staging (emptied unless resuming) and load the resume state."""
        self.stagings = [runfolder.open_staging(folder, fresh=state is None) for folder in self.out_dirs]
        if state is None:
            return
        self.engine.load_state_dict(state["stepper"])
        self.start, self.test_rows, self.diverged = state["step"], state["test_rows"], state["diverged"]
        self.rows = [[saved] for saved in state["rows"]]
        self.top_vectors = [None if v is None else v.to(self.engine.device) for v in state["top_vectors"]]
        self.hess_vectors = [None if v is None else v.to(self.engine.device)
                             for v in state.get("hessian_vectors", self.hess_vectors)]
        for j, step in enumerate(self.diverged):
            if step is not None:
                self.engine.stop(j)
        print(f"resuming from step {self.start}", file=sys.stderr)

    def state(self, t: int) -> dict:
        """What a resume at step t needs, the stepper's tensors included."""
        return {"step": t, "stepper": self.engine.state_dict(), "rows": [np.concatenate(r) for r in self.rows],
                "test_rows": self.test_rows, "diverged": self.diverged,
                "top_vectors": [None if v is None else host_copy(v) for v in self.top_vectors],
                "hessian_vectors": [None if v is None else host_copy(v) for v in self.hess_vectors]}

    def run(self, save_resume) -> None:
        """Steps start..T in blocks: the block's rows stay on the device until its one host copy."""
        engine = self.engine
        buffer = torch.empty(self.block, engine.rows, len(runfolder.BUFFER_COLUMNS), dtype=engine.dtype,
                             device=engine.device)
        t = last_resume = self.start
        bar = tqdm(total=self.steps + 1, initial=t, desc=f"train {engine.count} seed(s)", file=sys.stderr, mininterval=5)
        while t <= self.steps:
            block_start = time.perf_counter()
            end = min(t + self.block, self.steps + 1)  # this block visits theta_t .. theta_{end-1}
            batches = engine.take_batches(min(end, self.steps) - t)
            buffer.fill_(math.nan)
            for i, s in enumerate(range(t, end)):
                self._visit(buffer[i], s)
                if s < self.steps:
                    engine.step(buffer[i], batches, i)
            values = buffer[: end - t].cpu().numpy().astype(np.float64)  # the one host synchronisation per block
            self._record(values, np.arange(t, end), (time.perf_counter() - block_start) / (end - t))
            bar.update(end - t)
            t = end
            if all(step is not None for step in self.diverged):
                break
            if t - last_resume >= self.resume_every and t <= self.steps:
                save_resume(t)
                last_resume = t
        bar.close()

    def _visit(self, row: torch.Tensor, s: int) -> None:
        """The diagnostics at theta_s (before its update): full-batch metrics, sharpness, checkpoint."""
        engine = self.engine
        if self.evaluated(s):
            engine.evaluate(row, s)
            if tracked(s, self.steps, self.sharp_every):  # sgd: at full-batch evaluations only
                for j in self._live():
                    top, self.top_vectors[j] = engine.top_eigenpair(j, self.top_vectors[j], self.sharp_iterations)
                    row[j, 4] = top * (engine.lrs[j] / self.n)
            if tracked(s, self.steps, self.min_every):
                for j in self._live():
                    row[j, 5] = engine.lambda_min(j, self.min_points)  # a device tensor, written on the device
            if tracked(s, self.steps, self.hess_every):
                for j in self._live():
                    start = self.hess_vectors[j]  # None: a cold start, given HESSIAN_COLD_STEPS Lanczos steps
                    top, vector = engine.hessian_top(j, start, self.hess_steps if start is not None else
                                                     max(self.hess_steps, HESSIAN_COLD_STEPS))
                    self.hess_vectors[j] = vector if math.isfinite(top) else None  # NaN: a diverging seed
                    row[j, 6] = top
        if s in self.ckpt_steps:  # rare (log-spaced): host syncs here are fine
            for j, metrics in engine.test_rows().items():
                self.test_rows[j][s] = metrics
                runfolder.save_checkpoint(self.stagings[j], s, engine.checkpoint(j))

    def _live(self) -> list[int]:
        return [j for j in range(self.engine.count) if self.diverged[j] is None]

    def tracking_manifest(self, probe: dict | None) -> dict | None:
        """The manifest's record of the lambda_min tracking (None when off)."""
        if self.min_count is None:
            return None
        return {"every": self.min_every, "points": self.min_count, "dtype": "float32",
                "probe_size": None if probe is None else probe["probe_size"],
                "probe_seed": None if probe is None else probe.get("probe_seed", 0)}

    def hessian_manifest(self) -> dict | None:
        """The manifest's record of the Hessian tracking (None when off)."""
        if not self.hess_every:
            return None
        return {"every": self.hess_every, "lanczos_steps": self.hess_steps,
                "dtype": str(self.engine.dtype).split(".")[-1]}

    def _record(self, values: np.ndarray, block_steps: np.ndarray, step_time: float) -> None:
        """Each live seed's rows of the block; a non-finite loss (full or batch) stops the seed at that step."""
        keep = np.array([self.evaluated(s) for s in block_steps])
        for j in range(self.engine.count):  # a one-seed batched job's copy row is never read
            if self.diverged[j] is not None:
                continue
            seed_keep = keep.copy()
            bad = ((keep & ~np.isfinite(values[:, j, :2]).all(axis=1))
                   | ((block_steps < self.steps) & ~np.isfinite(values[:, j, 3])))
            if bad.any():
                self.diverged[j] = int(block_steps[np.argmax(bad)])
                seed_keep &= block_steps <= self.diverged[j]
                self.engine.stop(j)
            self.rows[j].append(runfolder.block_rows(values[seed_keep, j], block_steps[seed_keep], step_time,
                                                     self.engine.theta0_norms[j], self.opt["batch_size"] / self.n,
                                                     self.min_count,
                                                     self.engine.lrs[j] if self.hess_every else None))

    def finish(self, j: int, settings: dict, job: dict, data_sha: str) -> dict:
        """Seed j's loss-level checkpoints, metrics.csv, checkpoints/ and manifest.json."""
        out_dir, diverged, level_steps = self.out_dirs[j], self.diverged[j], self.engine.level_steps(j)
        for level, step in level_steps.items():  # seed j's parameters where its loss first reached level * L_0
            if step not in self.ckpt_steps and (diverged is None or step < diverged):
                runfolder.save_checkpoint(self.stagings[j], step, self.engine.level_checkpoint(j, level))
        saved = runfolder.finish_outputs(out_dir, self.steps, self.ckpt_steps | set(level_steps.values()), diverged,
                                         self.rows[j], self.test_rows[j], lambda_min=self.min_count is not None,
                                         hessian=bool(self.hess_every))
        return runfolder.write_manifest(out_dir, settings, job, {
            "lr": self.engine.lrs[j], "lambda_max_0": self.engine.lambda_max0[j],
            "theta0_norm": self.engine.theta0_norms[j], "diverged_step": diverged, "checkpoint_steps": saved,
            "level_steps": level_steps, "data_sha256": data_sha})


def _tracked_points(condition: dict, n: int, probe: dict | None, device) -> torch.Tensor | None:
    """The lambda_min tracking's points as device indices: the probe set S when it is a proper subset of the n
    training points, else None (all of them; also when the tracking is off)."""
    if not lambda_min_every(condition) or probe is None:
        return None
    subset = probe_indices(n, probe["probe_size"], probe.get("probe_seed", 0))
    return None if len(subset) == n else torch.as_tensor(subset, device=device)


def _same_condition(runs: dict[str, dict]) -> dict:
    if not runs:
        raise ValueError("a training job needs at least one run")
    conditions = {settings_hash(condition_of(s)) for s in runs.values()}
    if len(conditions) != 1:
        raise ValueError(f"a training job trains the seeds of ONE condition; runs {sorted(runs)} differ in more than "
                         "their seed")
    seeds = [s["seed"] for s in runs.values()]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"runs {sorted(runs)} repeat a seed")
    return condition_of(next(iter(runs.values())))
