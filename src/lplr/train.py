"""Training: full-batch GD or mini-batch SGD, full-batch diagnostics, log-spaced checkpoints, resume.

The update (heavy ball; momentum 0 is plain (S)GD; torch.optim.SGD's rule with dampening 0):
    v_{t+1} = momentum * v_t + g_t,    theta_{t+1} = theta_t - eta * v_{t+1},    v_0 = 0
where g_t is the gradient of the squared loss on the step's batch:
    gd   the full training set, every step
    sgd  `batch_size` indices read from a stream of seeded random permutations of 0..n-1 (an epoch is
         one permutation; a batch may straddle two epochs, so every batch has the same size). The
         stream's generator lives on the CPU and its state is in the resume file, so resume is exact.

Diagnostics at theta_t (before the update), ALWAYS over the full training set, also for sgd:
    loss          L(theta_t) = (1/2n) sum_i (f(x_i) - y_i)^2
    grad_norm_sq  G(theta_t) = ||grad L(theta_t)||^2
    drift         ||theta_t - theta_0||, and rel_drift = drift / ||theta_0||
    batch_loss    the loss on the batch of the step taken from theta_t (gd: the loss; sgd: NaN at t = T)
    epoch         samples seen / n = t * batch_size / n
    gd: at every step t = 0..T.  sgd: every `eval_every` steps, at the checkpoints and at t = T.
    sharpness     eta lambda_max(Theta_t) / n every `sharpness_every` steps and at t = T (NaN between; 0 = never;
                  sgd: at those of the evaluated steps):
                  `sharpness_iterations` power iterations warm-started from the previous eigenvector
                  (ntk.top_eigenpair), a lower bound accurate to ~1e-6 on ReLU kernels, whose top eigenvalue
                  is far from the second. The theorem's step condition eta <= 1/L reads sharpness <= 1
                  (L ~ lambda_max(Theta)/n near interpolation); GD on a quadratic is stable below 2.
The parameters live as views into one flat tensor (FlatParameters), so theta_t - theta_0 is one
subtraction into a preallocated buffer; the norms are still taken per parameter tensor and summed, as
before (same float32 reduction order, so the same bits).
Metrics are buffered on the device and copied to the host once per block of `metrics_block` steps,
so there is no per-step host synchronisation; `step_time` is the block's wall time over its steps.
Checkpoints: `checkpoints` log-spaced steps, and with `loss_checkpoints` (fractions of L_0) also the first
evaluated step where L_t <= level * L_0, so that the probe sees every run at matched loss (LossLevelCheckpoints:
caught on the device, no host synchronisation; the manifest lists them in `loss_level_steps`).
Test loss and accuracy are computed at the log-spaced checkpoints. A non-finite loss (full or batch) stops the
run with status "diverged" (detected at the end of the block it happens in).
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
from lplr.devices import resolve_device
from lplr.io import git_commit, package_versions, read_json, settings_hash, torch_save, write_csv, write_json
from lplr.models import build_model

DTYPES = {"float32": torch.float32, "float64": torch.float64}
METRIC_COLUMNS = ["step", "loss", "grad_norm_sq", "drift", "rel_drift", "step_time", "test_loss", "test_accuracy",
                  "batch_loss", "epoch", "sharpness"]


def configure_torch(device: torch.device, threads: int | None) -> None:
    """Reproducible numerics: TF32 off (it silently rounds float32 matmuls to 10 mantissa bits)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True  # the CNN's conv backward, else run-to-run noise on GPUs
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


def sharpness_steps(settings: dict) -> tuple[int, int]:
    """(every, iterations) of the sharpness tracking; every = 0 turns it off."""
    every, iterations = int(settings.get("sharpness_every", 0)), int(settings.get("sharpness_iterations", 10))
    if every < 0 or iterations < 1:
        raise ValueError(f"training.sharpness_every = {every} must be >= 0 and training.sharpness_iterations = "
                         f"{iterations} >= 1")
    return every, iterations


def tracked(step: int, steps: int, every: int) -> bool:
    """Whether the sharpness is measured at `step` (every `every` steps and at the last one)."""
    return every > 0 and (step % every == 0 or step == steps)


def optimizer_settings(settings: dict, n: int) -> dict:
    """{sgd, batch_size, momentum, eval_every} with the config keys checked (gd: the full batch, every step)."""
    name = settings.get("optimizer", "gd")
    momentum = float(settings.get("momentum", 0.0))
    if name == "gd":
        return {"sgd": False, "batch_size": n, "momentum": momentum, "eval_every": 1}
    if name != "sgd":
        raise ValueError(f"unknown optimizer {name!r} (config key 'training.optimizer'); use 'gd' or 'sgd'")
    if "batch_size" not in settings:
        raise ValueError("optimizer 'sgd' needs 'training.batch_size' (in config.yaml or the experiment's block)")
    batch_size = int(settings["batch_size"])
    if not 1 <= batch_size <= n:
        raise ValueError(f"training.batch_size = {batch_size} must be in 1..n_train = {n}; use optimizer 'gd' "
                         "for the full batch")
    return {"sgd": True, "batch_size": batch_size, "momentum": momentum, "eval_every": int(settings.get("eval_every", 1))}


class BatchStream:
    """Mini-batch indices read from a stream of seeded random permutations of 0..n-1, on the CPU."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm, self.pos = torch.randperm(n, generator=self.generator), 0

    def take(self, count: int) -> torch.Tensor:
        """The next `count` batches as a [count, batch_size] index tensor."""
        parts, need = [], count * self.batch_size
        while need:
            if self.pos == self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.generator), 0
            k = min(need, self.n - self.pos)
            parts.append(self.perm[self.pos:self.pos + k])
            self.pos, need = self.pos + k, need - k
        return torch.cat(parts).view(count, self.batch_size) if parts else torch.empty(0, self.batch_size, dtype=torch.long)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"].clone(), state["pos"]


class LossLevelCheckpoints:
    """The parameters at the first evaluated step where L_t <= level * L_0, for each level, caught on the device.

    Every evaluated step: hit = (L_t <= level L_0) and not yet caught, then params = where(hit, theta_t, params)
    over a [levels, *theta.shape] buffer, and steps = where(hit, t, steps): no host synchronisation on a GPU; on
    the CPU only the crossing steps copy (the memory is `levels` copies of theta). Works for one run (theta [P], L scalar) and for a
    stack of seeds (theta [S, P], L [S]).
    """

    def __init__(self, levels, flat: torch.Tensor):
        self.levels = [float(level) for level in levels]
        self.count = len(self.levels)
        extra = flat.dim() - 1  # seed dimensions
        self.level_tensor = torch.tensor(self.levels, dtype=flat.dtype, device=flat.device).view(-1, *[1] * extra)
        self.params = torch.zeros(self.count, *flat.shape, dtype=flat.dtype, device=flat.device)
        self.steps = torch.full((self.count, *flat.shape[:-1]), -1, dtype=torch.long, device=flat.device)
        self.threshold = None

    @torch.no_grad()
    def observe(self, step: int, loss: torch.Tensor, flat: torch.Tensor) -> None:
        if not self.count:
            return
        if self.threshold is None:  # the first observation is t = 0: thresholds are fractions of L_0
            self.threshold = self.level_tensor * loss.detach()
        hit = (loss.detach() <= self.threshold) & (self.steps < 0)
        # On a GPU, a masked copy every evaluated step (no host sync). On the CPU nothing is asynchronous, so
        # reading `hit` costs nothing and the copy is made only on the rare steps that cross a level.
        if self.params.device.type != "cpu" or bool(hit.any()):
            torch.where(hit.unsqueeze(-1), flat, self.params, out=self.params)
            self.steps.masked_fill_(hit, step)

    def caught(self, seed_index=None) -> dict[float, int]:
        """{level: step} of the levels reached (one host copy; seed_index picks a seed of a stack)."""
        steps = self.steps.cpu() if seed_index is None else self.steps[:, seed_index].cpu()
        return {level: int(step) for level, step in zip(self.levels, steps.tolist()) if step >= 0}

    def state_dict(self) -> dict:
        return {"params": _host_copy(self.params), "steps": _host_copy(self.steps),
                "threshold": None if self.threshold is None else _host_copy(self.threshold)}

    def load_state_dict(self, state: dict) -> None:
        self.params.copy_(state["params"])
        self.steps.copy_(state["steps"])
        self.threshold = None if state["threshold"] is None else state["threshold"].to(self.params.device)


def batch_seed(seed: int) -> int:
    """The batch-order stream's seed: its own child of the run seed, so it does not replay the init's draws."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def loss_and_grads(model: torch.nn.Module, params: list, x: torch.Tensor, y: torch.Tensor):
    """(L, grad L) of L = (1/2|batch|) sum (f(x_i) - y_i)^2; both stay on the device."""
    loss = 0.5 * (model(x) - y).pow(2).mean()
    return loss, torch.autograd.grad(loss, params)


ALIGN_BYTES = 64


def aligned_offsets(numels: list[int], element_size: int) -> tuple[list[int], int]:
    """Start of each of the segments in one flat tensor, every one on an ALIGN_BYTES boundary (as a fresh
    allocation is), and the total length with the padding."""
    align = max(1, ALIGN_BYTES // element_size)
    offsets, total = [], 0
    for numel in numels:
        offsets.append(total)
        total += -(-numel // align) * align
    return offsets, total


class FlatParameters:
    """The model's parameters as views into ONE flat contiguous tensor, theta_0 as one flat copy.

    Every parameter's segment starts on a 64-byte boundary (zero padding between them), as a fresh
    allocation would, so the matmul kernels see the same alignment and the arithmetic is unchanged.
    The drift needs theta_t - theta_0 of the stored iterate every step: one subtraction of the two flat
    tensors into a preallocated buffer (no per-tensor kernels, no allocation), then per-tensor norms of
    its views, squared and summed as before. (One norm over the whole flat buffer would save ~20 small
    kernels but change the float32 reduction order, i.e. the last bits of the metrics; measured in
    place it was not faster on CPU, where the cost is the passes over theta, theta_0 and the gradients.)
    The Parameter objects are kept (their .data is re-pointed), so optimiser state, state_dict and
    torch.func see the same parameters; `.to()` or `load_state_dict` with assign=True would undo the
    sharing, and train_run does neither after construction.
    """

    @torch.no_grad()
    def __init__(self, model: torch.nn.Module):
        self.params = list(model.parameters())
        first = self.params[0]
        if any(p.dtype != first.dtype or p.device != first.device for p in self.params):
            raise ValueError("FlatParameters needs all parameters in one dtype on one device")
        self.offsets, total = aligned_offsets([p.numel() for p in self.params], first.element_size())
        self.flat = torch.zeros(total, dtype=first.dtype, device=first.device)
        for p, view in zip(self.params, self.views(self.flat)):
            view.copy_(p)
            p.data = view  # the Parameter objects stay; their storage is now the flat tensor
        self.theta0 = self.flat.clone()
        self.diff = torch.zeros_like(self.flat)
        self._diff_views = self.views(self.diff)

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """`flat`'s segments shaped as the parameters (padding excluded)."""
        return [flat[o:o + p.numel()].view_as(p) for o, p in zip(self.offsets, self.params)]

    def theta0_norm(self) -> float:
        return math.sqrt(sum(float(p.pow(2).sum()) for p in self.views(self.theta0)))

    @torch.no_grad()
    def diagnostics(self, grads) -> torch.Tensor:
        """[||g||^2, ||theta - theta_0||^2] as one device tensor, no host sync."""
        torch.sub(self.flat, self.theta0, out=self.diff)
        norms = torch.stack([*torch._foreach_norm(grads), *torch._foreach_norm(self._diff_views)])
        return norms.square().view(2, -1).sum(1)


@torch.no_grad()
def record_diagnostics(row: torch.Tensor, loss: torch.Tensor, diagnostics: torch.Tensor, batch_loss: bool) -> None:
    """Write [L, G, ||theta - theta_0||^2] (and L again as the batch loss: gd's batch is the training set)
    into a row of the device buffer: one kernel, no host sync."""
    loss = loss.detach().view(1)
    if batch_loss:
        torch.cat([loss, diagnostics, loss], out=row[:4])
    else:
        torch.cat([loss, diagnostics], out=row[:3])


@torch.no_grad()
def update(params, grads, velocity, lr: float, momentum: float) -> None:
    """theta -= eta v with v = momentum v + g (v is None when momentum = 0: plain theta -= eta g)."""
    if velocity is None:
        torch._foreach_add_(params, grads, alpha=-lr)
        return
    torch._foreach_mul_(velocity, momentum)
    torch._foreach_add_(velocity, grads)
    torch._foreach_add_(params, velocity, alpha=-lr)


def train_run(settings: dict, data_file: str | Path, out_dir: str | Path, device: str = "auto",
              threads: int | None = None) -> dict:
    """Train one run to `out_dir` (metrics.csv, manifest.json, checkpoints/); resume if a resume file is there."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    configure_torch(device, threads)
    dtype = DTYPES[settings["precision"]]
    data = load_prepared(data_file, device=device, dtype=dtype)  # the data lives on the device
    x, y, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    n, steps = len(x), settings["steps"]
    opt = optimizer_settings(settings, n)

    torch.manual_seed(settings["seed"])  # init on the CPU so cpu and cuda runs start from the same theta_0
    model = build_model(settings, tuple(x.shape[1:])).to(dtype).to(device)
    flat = FlatParameters(model)
    params, theta0_norm = flat.params, flat.theta0_norm()
    lr, lambda_max0 = learning_rate(settings, model, x)
    ckpt_steps = set(checkpoint_steps(steps, settings["checkpoints"]))
    velocity = [torch.zeros_like(p) for p in params] if opt["momentum"] else None
    batches = BatchStream(n, opt["batch_size"], batch_seed(settings["seed"])) if opt["sgd"] else None
    sharp_every, sharp_iterations = sharpness_steps(settings)
    top_vector = None  # the power iteration's warm start
    loss_levels = LossLevelCheckpoints(settings.get("loss_checkpoints", []), flat.flat)

    def evaluated(t: int) -> bool:
        return not opt["sgd"] or t % opt["eval_every"] == 0 or t == steps or t in ckpt_steps

    resume_file, staging = out_dir / "resume.pt", out_dir / "checkpoints.partial"
    data_sha = read_json(Path(data_file).with_name("manifest.json"))["sha256"]
    key = settings_hash({**settings, "data": data_sha})
    _remove_partial_writes(out_dir)
    state = _load_resume(resume_file, key)
    if state is None:
        shutil.rmtree(staging, ignore_errors=True)
        start, rows, test_rows = 0, [], {}
    else:
        with torch.no_grad():
            torch._foreach_copy_(params, [p.to(device) for p in state["params"]])
            if velocity is not None:
                torch._foreach_copy_(velocity, [v.to(device) for v in state["velocity"]])
        if batches is not None:
            batches.load_state_dict(state["batches"])
        start, rows, test_rows = state["step"], [state["rows"]], state["test_rows"]
        top_vector = None if state.get("top_vector") is None else state["top_vector"].to(device)
        if state.get("loss_levels") is not None:
            loss_levels.load_state_dict(state["loss_levels"])
        print(f"resuming from step {start}", file=sys.stderr)
    staging.mkdir(exist_ok=True)
    _remove_partial_writes(staging)

    block = settings["metrics_block"]
    buffer = torch.empty(block, 5, dtype=dtype, device=device)  # loss, G, ||theta - theta_0||^2, batch loss, sharpness
    status, diverged_step, last_resume = "completed", None, start
    t, started = start, time.perf_counter()
    bar = tqdm(total=steps + 1, initial=start, desc=f"train {settings.get('width', '')}", file=sys.stderr, mininterval=5)
    while t <= steps:
        block_start = time.perf_counter()
        end = min(t + block, steps + 1)  # this block visits theta_t .. theta_{end-1}
        if batches is not None:  # one host-to-device copy of the block's batch indices
            batch_index = batches.take(min(end, steps) - t).to(device)
        buffer.fill_(math.nan)
        for i, s in enumerate(range(t, end)):
            if evaluated(s):
                loss, grads = loss_and_grads(model, params, x, y)
                record_diagnostics(buffer[i], loss, flat.diagnostics(grads), batch_loss=batches is None)
                loss_levels.observe(s, loss, flat.flat)
            if evaluated(s) and tracked(s, steps, sharp_every):  # sgd: at full-batch evaluations only
                top, top_vector = ntk.top_eigenpair(model, x, top_vector, sharp_iterations)
                buffer[i, 4] = top * (lr / n)
            if s in ckpt_steps:  # rare (log-spaced): host syncs here are fine
                test_rows[s] = _evaluate(model, x_test, y_test)
                torch_save({name: _host_copy(p) for name, p in model.state_dict().items()},
                           staging / f"step_{s:07d}.pt")
            if s < steps:
                if batches is not None:
                    idx = batch_index[i]
                    loss, grads = loss_and_grads(model, params, x[idx], y[idx])
                    buffer[i, 3] = loss.detach()
                update(params, grads, velocity, lr, opt["momentum"])

        values = buffer[: end - t].cpu().numpy().astype(np.float64)  # the one host synchronisation per block
        elapsed = time.perf_counter() - block_start
        block_steps = np.arange(t, end)
        keep = np.array([evaluated(s) for s in block_steps])
        bad = (keep & ~np.isfinite(values[:, :2]).all(axis=1)) | ((block_steps < steps) & ~np.isfinite(values[:, 3]))
        if bad.any():
            status, diverged_step = "diverged", int(block_steps[np.argmax(bad)])
            keep &= block_steps <= diverged_step
        rows.append(_block_rows(values[keep], block_steps[keep], elapsed / (end - t), theta0_norm,
                                opt["batch_size"] / n))
        bar.update(end - t)
        t = end
        if status == "diverged":
            break
        if t - last_resume >= settings["resume_every"] and t <= steps:
            _save_resume(resume_file, key, t, params, velocity, batches, np.concatenate(rows), test_rows, top_vector,
                         loss_levels)
            last_resume = t
    bar.close()

    level_steps = loss_levels.caught()
    names = [name for name, _ in model.named_parameters()]
    for level, step in level_steps.items():
        if step not in ckpt_steps:
            index = loss_levels.levels.index(level)
            torch_save({name: _host_copy(v) for name, v in zip(names, flat.views(loss_levels.params[index]))},
                       staging / f"step_{step:07d}.pt")
    saved_steps = finish_outputs(out_dir, staging, steps, ckpt_steps | set(level_steps.values()), diverged_step, rows,
                                 test_rows)
    manifest = {
        "status": status,
        "diverged_step": diverged_step,
        "settings": settings,
        "device": str(device),
        "dtype": settings["precision"],
        "n_train": n,
        "param_count": sum(p.numel() for p in params),
        "optimizer": settings.get("optimizer", "gd"),
        "batch_size": opt["batch_size"],
        "momentum": opt["momentum"],
        "eval_every": opt["eval_every"],
        "lr": lr,
        "lambda_max_0": lambda_max0,
        "sharpness_0": lr * lambda_max0 / n,
        "theta0_norm": theta0_norm,
        "checkpoint_steps": saved_steps,
        "loss_level_steps": {format(level, "g"): step for level, step in level_steps.items() if step in saved_steps},
        "resumed_from_step": start if state is not None else None,
        "data_sha256": data_sha,
        "wall_time_s": time.perf_counter() - started,  # this session's, after a resume
        "mode": "per_seed",  # lplr.batched writes "batched"
        "job_seeds": [settings["seed"]],
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    write_json(out_dir / "manifest.json", manifest)
    resume_file.unlink(missing_ok=True)
    return manifest


def finish_outputs(out_dir: Path, staging: Path, steps: int, ckpt_steps: set, diverged_step, rows: list,
                   test_rows: dict) -> list[int]:
    """Write metrics.csv and move the staged checkpoints to checkpoints/; return the checkpoint steps kept
    (a diverged run keeps only those before the blow-up)."""
    last_step = steps if diverged_step is None else diverged_step
    saved_steps = sorted(s for s in ckpt_steps if s <= steps and (diverged_step is None or s < diverged_step))
    for path in staging.glob("step_*.pt"):
        if int(path.stem.split("_")[1]) not in saved_steps:
            path.unlink()
    metrics = _metrics_frame(np.concatenate(rows), {s: v for s, v in test_rows.items() if s <= last_step})
    write_csv(metrics, out_dir / "metrics.csv")
    final_dir = out_dir / "checkpoints"
    shutil.rmtree(final_dir, ignore_errors=True)
    staging.rename(final_dir)
    return saved_steps


@torch.no_grad()
def _evaluate(model, x, y) -> tuple[float, float]:
    out = model(x)
    return float(0.5 * (out - y).pow(2).mean()), float((torch.sign(out) == y).double().mean())


def _block_rows(values: np.ndarray, steps: np.ndarray, step_time: float, theta0_norm: float,
                epochs_per_step: float) -> np.ndarray:
    drift = np.sqrt(values[:, 2])
    return np.column_stack([steps, values[:, 0], values[:, 1], drift, drift / theta0_norm,
                            np.full(len(values), step_time), values[:, 3], steps * epochs_per_step, values[:, 4]])


def _metrics_frame(rows: np.ndarray, test_rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[c for c in METRIC_COLUMNS if not c.startswith("test_")])
    frame["step"] = frame["step"].astype(int)
    frame["test_loss"] = frame["step"].map({s: v[0] for s, v in test_rows.items()})
    frame["test_accuracy"] = frame["step"].map({s: v[1] for s, v in test_rows.items()})
    return frame[METRIC_COLUMNS]


def _save_resume(path: Path, key: str, step: int, params, velocity, batches, rows: np.ndarray, test_rows: dict,
                 top_vector: torch.Tensor | None, loss_levels: LossLevelCheckpoints) -> None:
    torch_save({"key": key, "step": step, "params": [_host_copy(p) for p in params],
                "loss_levels": loss_levels.state_dict(),
                "top_vector": None if top_vector is None else _host_copy(top_vector),
                "velocity": None if velocity is None else [_host_copy(v) for v in velocity],
                "batches": None if batches is None else batches.state_dict(),
                "rows": rows, "test_rows": test_rows}, path)


def _host_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy with its own storage (a parameter is a view of the flat tensor: saved as is, every
    file would hold the whole flat storage)."""
    return tensor.detach().to("cpu", copy=True)


def _load_resume(path: Path, key: str) -> dict | None:
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("key") != key:
        print(f"{path}: settings changed since it was written; starting again", file=sys.stderr)
        return None
    return state


def _remove_partial_writes(folder: Path) -> None:
    """Temporary files of io.atomic_path left behind by a killed run."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
