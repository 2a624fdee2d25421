"""All seeds of one condition trained in one process: parameters stacked over seeds, one vmapped
forward and backward per step (torch.func), each seed with its own files.

A job is the runs of one condition (settings equal but for the seed). Seed s of the job has exactly
lplr.train's dynamics and diagnostics (see its docstring): its own theta_0 (torch.manual_seed(s), CPU),
its own eta (calibrated on its own Theta_0), its own SGD batch stream, its own full-batch L, G,
drift and tracked sharpness (on its own copy of the model, so its bits are lplr.train's), its own checkpoints, metrics.csv and manifest.json in its own run folder. The S seeds' parameters
live as rows of one [S, P] tensor; a step is
    (L_s, g_s)_s = vmap(grad_and_value(L))(theta, x, y)        one batched forward and backward
    v_s = momentum v_s + g_s,   theta_s -= eta_s v_s           one kernel over [S, P] each
The batched forward and backward has two implementations behind `method` (STEP_METHODS), tested against
each other: "vmap" (torch.func, any model; the CNN) and "mlp" (the package's MLPs, forward and backward
written out with one batched matrix product per layer and direction, no autograd, no vmap overhead).
Nothing mixes seeds: every kernel works row by row, so on the CPU a seed's bits do not depend on which
seeds share its job (tests/test_batched.py checks it), given two precautions taken here: every row and
parameter segment of the stack starts on a 64-byte boundary (MKL sums small products in another order
into unaligned outputs), and, since torch's batched matrix products take another path for a batch of ONE,
a one-seed job carries a masked copy of its seed as a second row (twice the arithmetic; the per-seed mode,
lplr.train, is the cheaper choice for one seed). Against lplr.train's per-seed engine the bits
differ in the last places (batched matrix products sum in another order; the test states how far).

Divergence: a seed whose loss (full or batch) turns non-finite is marked diverged at that step (found
at the end of the metrics block, as in lplr.train) and masked: its parameters go back to theta_0 and
its eta to 0, so it stays finite and costs the same; the others go on.
step_time is the job's wall time per step, the same for every seed of the job.
Resume: one resume file for the job (all seeds at one step), written every `resume_every` steps.
Adding a seed to a condition changes the job, so the whole condition is retrained.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, grad_and_value, vmap
from tqdm import tqdm

from lplr import models, ntk
from lplr.data import load_prepared
from lplr.io import git_commit, package_versions, read_json, settings_hash, torch_save, write_json
from lplr.models import build_model
from lplr.train import (DTYPES, BatchStream, aligned_offsets, LossLevelCheckpoints, _block_rows, _host_copy, _remove_partial_writes, finish_outputs,
                        batch_seed, checkpoint_steps, configure_torch, learning_rate, optimizer_settings,
                        resolve_device, sharpness_steps, tracked)

SEED_KEYS = ("seed",)


def condition_of(settings: dict) -> dict:
    """A run's settings without its seed: runs with equal conditions can share a job."""
    return {k: v for k, v in settings.items() if k not in SEED_KEYS}


class StackedParameters:
    """The S seeds' parameters as rows of one [S, P] tensor; `views` shapes each parameter [S, *shape].

    As in lplr.train.FlatParameters, every parameter's segment (and so every row) starts on a 64-byte
    boundary, zero padding between them, which the gradients and updates keep at zero. The alignment is
    what makes a seed's bits independent of its row: MKL's small products (the readout's [1, m] gradient)
    take another summation order when their output is not aligned, which unpadded rows of odd length P are
    not, except row 0.
    """

    def __init__(self, models: list[torch.nn.Module]):
        first = next(models[0].parameters())
        self.names = [name for name, _ in models[0].named_parameters()]
        self.shapes = [p.shape for p in models[0].parameters()]
        self.param_count = sum(math.prod(shape) for shape in self.shapes)  # without the padding
        self.offsets, width = aligned_offsets([math.prod(shape) for shape in self.shapes], first.element_size())
        self.flat = torch.zeros(len(models), width, dtype=first.dtype, device=first.device)
        self.views = self.split(self.flat)
        with torch.no_grad():
            for j, model in enumerate(models):
                torch._foreach_copy_([view[j] for view in self.views.values()], [p.detach() for p in model.parameters()])
        self.theta0 = self.flat.clone()
        self._work = None  # diagnostics' buffer, allocated on first use

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """{name: [S, *shape] view of `flat`'s columns}."""
        s = flat.shape[0]
        return {name: flat[:, a:a + math.prod(shape)].view(s, *shape)
                for name, shape, a in zip(self.names, self.shapes, self.offsets)}

    def state_dict(self, seed_index: int) -> dict[str, torch.Tensor]:
        """One seed's parameters as its model's state_dict (host copies), as lplr.train saves them."""
        return {name: _host_copy(view[seed_index]) for name, view in self.views.items()}

    @torch.no_grad()
    def diagnostics(self, g: torch.Tensor) -> torch.Tensor:
        """Per seed: [G = ||g||^2, ||theta - theta_0||^2] from the flat [S, P] gradient, row-wise sums (no host
        sync). The squares go to one [S, P] work buffer kept across steps: a fresh [S, P] temporary per call
        costs more than the arithmetic at width 256 on the CPU (page faults on S x P x 4 bytes)."""
        if self._work is None:
            self._work = torch.empty_like(self.flat)
        out = torch.empty(len(g), 2, dtype=g.dtype, device=g.device)
        torch.sum(torch.mul(g, g, out=self._work), 1, out=out[:, 0])
        torch.sum(torch.sub(self.flat, self.theta0, out=self._work).square_(), 1, out=out[:, 1])
        return out


def vmap_step(template: torch.nn.Module, stack: StackedParameters):
    """Any model: (L_s, g_s)_s = vmap(grad_and_value(L)) over parameters, inputs and targets; g flat [S, P]."""
    step = vmap(grad_and_value(_loss(template)))
    grad_flat = torch.zeros_like(stack.flat)  # the padding stays zero
    grad_views = stack.split(grad_flat)

    def loss_and_grad(x, y):
        grads, loss = step(stack.views, x, y)
        with torch.no_grad():
            torch._foreach_copy_([grad_views[name] for name in stack.names], [grads[name] for name in stack.names])
        return loss, grad_flat

    def forward(x):
        return vmap(lambda params, inputs: functional_call(template, params, (inputs,)))(stack.views, x)

    return loss_and_grad, forward


def mlp_step(template: torch.nn.Module, stack: StackedParameters):
    """The package's MLPs (lplr.models.MLP, NTKMLP), forward and backward written out over the stack. With
    x [S, n, d], s_l the layer's forward scale (1 for MLP, NTKMLP's 1/sqrt(fan-in)) and r = f - y:
        h_l = relu(h_{l-1} (s_l W_l)^T + b_l)       one torch.baddbmm over the seeds per layer
        delta_D = r / n                             dL_s/df_s of L_s = (1/2n) ||r_s||^2
        dW_l = s_l (h_{l-1}^T delta_l)^T,  db_l = sum_i delta_l
        delta_{l-1} = (delta_l s_l W_l) * 1[h_{l-1} > 0]
    Each gradient is written by its kernel straight into the flat [S, P] buffer (bmm and sum with out=),
    reused every step: no autograd graph, no per-step [S, P] allocation, no copy. Autograd of the same
    forward (the vmap step) agrees to float rounding (tests/test_batched.py); neither transform's per-call
    overhead (a few ms per step, most of a width-32 step on the CPU) nor the gradient copy (a pass over
    S x P, beyond the cache at width 256) is paid."""
    layers = [(f"layers.{i}.weight", f"layers.{i}.bias") for i in range(len(template.layers))]
    scales = list(template.scales) if isinstance(template, models.NTKMLP) else [1.0] * len(layers)
    grad_flat = torch.zeros_like(stack.flat)
    grad_views = stack.split(grad_flat)
    buffers = {}  # the step's activations and deltas, kept across steps: fresh MB-sized tensors cost page faults

    def buffer(*key):
        shape = key[-1]
        if key not in buffers:
            buffers[key] = torch.empty(shape, dtype=stack.flat.dtype, device=stack.flat.device)
        return buffers[key]

    def forward_from(params, x, activations=None):
        h = x.flatten(2)
        for index, ((weight, bias), scale) in enumerate(zip(layers, scales)):
            w = params[weight] * scale if scale != 1.0 else params[weight]
            if activations is None:
                h = torch.baddbmm(params[bias].unsqueeze(1), h, w.transpose(1, 2))
            else:
                activations.append((h, w))
                out = buffer("h", index, (*h.shape[:2], w.shape[1]))
                h = torch.baddbmm(params[bias].unsqueeze(1), h, w.transpose(1, 2), out=out)
            h = h.relu_() if index < len(layers) - 1 else h
        return h.squeeze(-1)

    @torch.no_grad()
    def loss_and_grad(x, y):
        inputs = []  # (h_{l-1}, s_l W_l) of each layer: its input and its weight as the forward applied it
        r = forward_from(stack.views, x, inputs) - y
        loss = 0.5 * r.pow(2).mean(1)
        delta = (r / r.shape[1]).unsqueeze(-1)  # [S, n, 1]
        for index in reversed(range(len(layers))):
            (weight, bias), scale, (h, w) = layers[index], scales[index], inputs[index]
            # (h^T delta)^T, written through the transposed view: autograd's orientation. delta^T h into the view
            # gives the readout's [1, m] gradient another, batch-size dependent summation order on the CPU.
            torch.bmm(h.transpose(1, 2), delta, out=grad_views[weight].transpose(1, 2))
            torch.sum(delta, dim=1, out=grad_views[bias])
            if scale != 1.0:
                grad_views[weight].mul_(scale)
            if index > 0:  # relu'(z) = 1[h > 0], applied in place by autograd's own kernel for it
                delta = torch.bmm(delta, w, out=buffer("delta", index, h.shape))
                torch.ops.aten.threshold_backward.grad_input(delta, h, 0.0, grad_input=delta)
        return loss, grad_flat

    @torch.no_grad()
    def forward(x):
        return forward_from(stack.views, x)

    return loss_and_grad, forward


STEP_METHODS = {"mlp": mlp_step, "vmap": vmap_step}


def _loss(model: torch.nn.Module):
    """L(theta; x, y) = (1/2|batch|) sum (f_theta(x_i) - y_i)^2 for one seed's parameter dict."""
    def loss(params, x, y):
        return 0.5 * (functional_call(model, params, (x,)) - y).pow(2).mean()
    return loss


def _same_condition(runs: dict[str, dict]) -> dict:
    conditions = {settings_hash(condition_of(s)) for s in runs.values()}
    if len(conditions) != 1:
        raise ValueError(f"a batched job trains the seeds of ONE condition; runs {sorted(runs)} differ in more than "
                         "their seed")
    seeds = [s["seed"] for s in runs.values()]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"runs {sorted(runs)} repeat a seed")
    return condition_of(next(iter(runs.values())))


def train_batch(runs: dict[str, dict], data_files: dict[str, str | Path], out_dirs: dict[str, str | Path],
                resume_file: str | Path, device: str = "auto", threads: int | None = None,
                method: str = "auto") -> dict[str, dict]:
    """Train the runs {run id: settings} of one condition together; run r goes to out_dirs[r]
    (metrics.csv, manifest.json, checkpoints/) on its data set data_files[r]. Returns {run id: manifest}.
    Resumes from `resume_file` when it holds this job's state. method: the batched step, "mlp" (the
    package's MLPs, written out with batched matrix products) or "vmap" (any model, torch.func); "auto"
    picks "mlp" where it applies. Each is deterministic; they agree to float rounding."""
    run_ids = list(runs)
    condition = _same_condition(runs)
    seeds = [runs[r]["seed"] for r in run_ids]
    out_dirs = {r: Path(out_dirs[r]) for r in run_ids}
    for folder in out_dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    resume_file = Path(resume_file)
    device = resolve_device(device)
    configure_torch(device, threads)
    dtype = DTYPES[condition["precision"]]

    # data: [S, n, ...], one set per seed stacked, or a shared one expanded (a view, no copy). One code
    # path for both: vmap over x as well, so a seed's bits do not depend on whether its data is shared.
    files = [str(data_files[r]) for r in run_ids]
    sets = {f: load_prepared(f, device=device, dtype=dtype) for f in dict.fromkeys(files)}
    first = sets[files[0]]
    sample_shape = tuple(first["x_train"].shape[1:])
    n, steps, count = len(first["x_train"]), condition["steps"], len(run_ids)
    opt = optimizer_settings(condition, n)
    data_shas = [read_json(Path(f).with_name("manifest.json"))["sha256"] for f in files]

    models, lrs, lambda_max0 = [], [], []
    for r, seed in zip(run_ids, seeds):  # each seed's theta_0 and eta exactly as lplr.train makes them
        torch.manual_seed(seed)
        model = build_model(runs[r], sample_shape).to(dtype).to(device)
        lr, top = learning_rate(runs[r], model, sets[str(data_files[r])]["x_train"])
        models.append(model)
        lrs.append(lr)
        lambda_max0.append(top)
    # rows of the stack: the seeds, and for a one-seed job a copy of it (see the module docstring)
    rows_of = seeds + seeds if count == 1 else seeds
    stack = StackedParameters(models * len(rows_of) if count == 1 else models)
    row_files = files * len(rows_of) if count == 1 else files
    if any(len(d["x_train"]) != n or d["x_train"].shape[1:] != first["x_train"].shape[1:] for d in sets.values()):
        raise ValueError(f"the data sets of runs {run_ids} differ in size or shape; a batched job needs equal shapes")
    x, y, x_test, y_test = (torch.stack([sets[f][k] for f in row_files]) if len(sets) > 1
                            else first[k].expand(len(rows_of), *first[k].shape)
                            for k in ("x_train", "y_train", "x_test", "y_test"))
    template = models[0]
    theta0_views = stack.split(stack.theta0)  # ||theta_0|| per tensor, then summed: lplr.train's order
    theta0_norms = [math.sqrt(sum(float(v[j].pow(2).sum()) for v in theta0_views.values())) for j in range(count)]
    neg_lr = torch.tensor([-lrs[0 if count == 1 else j] for j in range(len(rows_of))], dtype=dtype, device=device)[:, None]
    velocity = torch.zeros_like(stack.flat) if opt["momentum"] else None
    streams = [BatchStream(n, opt["batch_size"], batch_seed(seed)) for seed in rows_of] if opt["sgd"] else None
    if method == "auto":
        method = "mlp" if ntk._is_structured_mlp(template) else "vmap"
    if method not in STEP_METHODS:
        raise ValueError(f"unknown step method {method!r}; use 'auto', 'mlp' or 'vmap'")
    loss_and_grad, forward = STEP_METHODS[method](template, stack)
    ckpt_steps = set(checkpoint_steps(steps, condition["checkpoints"]))
    sharp_every, sharp_iterations = sharpness_steps(condition)
    top_vectors = [None] * count  # each seed's power-iteration warm start
    loss_levels = LossLevelCheckpoints(condition.get("loss_checkpoints", []), stack.flat)  # row by row, per seed

    def evaluated(t: int) -> bool:
        return not opt["sgd"] or t % opt["eval_every"] == 0 or t == steps or t in ckpt_steps

    key = settings_hash({"runs": runs, "data": data_shas, "mode": "batched", "method": method,
                         "layout": stack.offsets})
    stagings = [out_dirs[r] / "checkpoints.partial" for r in run_ids]
    state = _load_resume(resume_file, key)
    if state is None:
        start, rows, test_rows, diverged = 0, [[] for _ in run_ids], [{} for _ in run_ids], [None] * count
        for staging in stagings:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        with torch.no_grad():
            stack.flat.copy_(state["params"])
            if velocity is not None:
                velocity.copy_(state["velocity"])
        for stream, saved in zip(streams or [], state["batches"] or []):
            stream.load_state_dict(saved)
        start, test_rows, diverged = state["step"], state["test_rows"], state["diverged"]
        top_vectors = [None if v is None else v.to(device) for v in state.get("top_vectors") or top_vectors]
        if state.get("loss_levels") is not None:
            loss_levels.load_state_dict(state["loss_levels"])
        rows = [[saved] for saved in state["rows"]]
        for i, step in enumerate(diverged):
            if step is not None:
                _mask(i, stack, neg_lr, velocity)
        print(f"resuming from step {start}", file=sys.stderr)
    for folder, staging in zip(out_dirs.values(), stagings):
        _remove_partial_writes(folder)
        staging.mkdir(exist_ok=True)
        _remove_partial_writes(staging)

    seed_index = torch.arange(len(rows_of), device=device)[:, None]
    block = condition["metrics_block"]
    buffer = torch.empty(block, len(rows_of), 5, dtype=dtype, device=device)  # per seed: L, G, drift^2, batch loss, sharpness
    last_resume, t, started = start, start, time.perf_counter()
    bar = tqdm(total=steps + 1, initial=start, desc=f"train {count} seeds", file=sys.stderr, mininterval=5)
    while t <= steps:
        block_start = time.perf_counter()
        end = min(t + block, steps + 1)  # this block visits theta_t .. theta_{end-1}
        if streams is not None:  # [S, steps of the block, batch_size], one host-to-device copy
            batch_index = torch.stack([s.take(min(end, steps) - t) for s in streams]).to(device)
        buffer.fill_(math.nan)
        for i, s in enumerate(range(t, end)):
            if evaluated(s):
                loss, g = loss_and_grad(x, y)
                norms = stack.diagnostics(g)
                with torch.no_grad():
                    buffer[i, :, 0] = loss
                    buffer[i, :, 1:3] = norms
                    if streams is None:
                        buffer[i, :, 3] = loss
                loss_levels.observe(s, loss, stack.flat)
                if tracked(s, steps, sharp_every):
                    for j in range(count):
                        if diverged[j] is None:
                            with torch.no_grad():  # a copy into seed j's own model (own aligned storage)
                                torch._foreach_copy_(list(models[j].parameters()),
                                                     [view[j] for view in stack.views.values()])
                            top, top_vectors[j] = ntk.top_eigenpair(models[j], x[j], top_vectors[j], sharp_iterations)
                            buffer[i, j, 4] = top * (lrs[j] / n)
            if s in ckpt_steps:  # rare (log-spaced): host syncs here are fine
                with torch.no_grad():
                    out = forward(x_test)
                for j, staging in enumerate(stagings):
                    if diverged[j] is None:
                        test_rows[j][s] = _test_row(out[j], y_test[j])
                        torch_save(stack.state_dict(j), staging / f"step_{s:07d}.pt")
            if s < steps:
                if streams is not None:
                    idx = batch_index[:, i]
                    loss, g = loss_and_grad(x[seed_index, idx], y[seed_index, idx])
                    buffer[i, :, 3] = loss.detach()
                _update(stack.flat, g, velocity, neg_lr, opt["momentum"])

        values = buffer[: end - t].cpu().numpy().astype(np.float64)  # the one host synchronisation per block
        elapsed = time.perf_counter() - block_start
        block_steps = np.arange(t, end)
        keep = np.array([evaluated(s) for s in block_steps])
        for j in range(count):  # a one-seed job's copy row is never read
            if diverged[j] is not None:
                continue
            seed_keep = keep.copy()
            bad = (keep & ~np.isfinite(values[:, j, :2]).all(axis=1)) | ((block_steps < steps) & ~np.isfinite(values[:, j, 3]))
            if bad.any():
                diverged[j] = int(block_steps[np.argmax(bad)])
                seed_keep &= block_steps <= diverged[j]
                _mask(j, stack, neg_lr, velocity)
            rows[j].append(_block_rows(values[seed_keep, j], block_steps[seed_keep], elapsed / (end - t),
                                       theta0_norms[j], opt["batch_size"] / n))
        bar.update(end - t)
        t = end
        if all(step is not None for step in diverged):
            break
        if t - last_resume >= condition["resume_every"] and t <= steps:
            _save_resume(resume_file, key, t, stack.flat, velocity, streams, rows, test_rows, diverged, top_vectors,
                         loss_levels)
            last_resume = t
    bar.close()

    manifests, wall_time = {}, time.perf_counter() - started
    for j, r in enumerate(run_ids):
        level_steps = loss_levels.caught(j)
        for level, step in level_steps.items():  # seed j's parameters where its loss first reached level * L_0
            if step not in ckpt_steps and (diverged[j] is None or step < diverged[j]):
                snapshot = stack.split(loss_levels.params[loss_levels.levels.index(level)])
                torch_save({name: _host_copy(view[j]) for name, view in snapshot.items()}, stagings[j] / f"step_{step:07d}.pt")
        manifests[r] = _finish_run(out_dirs[r], stagings[j], runs[r], rows[j], test_rows[j], diverged[j], ckpt_steps,
                                   dict(device=str(device), n=n, param_count=stack.param_count, opt=opt,
                                        lr=lrs[j], lambda_max0=lambda_max0[j], theta0_norm=theta0_norms[j],
                                        resumed=start if state is not None else None, data_sha=data_shas[j],
                                        wall_time=wall_time, seeds=seeds, level_steps=level_steps))
    resume_file.unlink(missing_ok=True)
    return manifests


@torch.no_grad()
def _update(flat: torch.Tensor, g: torch.Tensor, velocity: torch.Tensor | None, neg_lr: torch.Tensor,
            momentum: float) -> None:
    """theta_s -= eta_s v_s with v_s = momentum v_s + g_s (v = g when momentum = 0), all seeds at once."""
    if velocity is not None:
        velocity.mul_(momentum).add_(g)
        g = velocity
    flat.addcmul_(g, neg_lr)


@torch.no_grad()
def _mask(j: int, stack: StackedParameters, neg_lr: torch.Tensor, velocity: torch.Tensor | None) -> None:
    """Freeze a diverged seed at its (finite) theta_0 with eta 0; rows are independent, so the others are unaffected."""
    stack.flat[j] = stack.theta0[j]
    neg_lr[j] = 0.0
    if velocity is not None:
        velocity[j] = 0.0


def _test_row(out: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    return float(0.5 * (out - y).pow(2).mean()), float((torch.sign(out) == y).double().mean())


def _finish_run(out_dir: Path, staging: Path, settings: dict, rows: list, test_rows: dict, diverged_step,
                ckpt_steps: set, info: dict) -> dict:
    """Write one seed's metrics.csv, checkpoints/ and manifest.json (the keys of lplr.train's manifest)."""
    steps, opt, n = settings["steps"], info["opt"], info["n"]
    level_steps = info["level_steps"]
    saved_steps = finish_outputs(out_dir, staging, steps, ckpt_steps | set(level_steps.values()), diverged_step, rows,
                                 test_rows)
    manifest = {
        "status": "completed" if diverged_step is None else "diverged",
        "diverged_step": diverged_step,
        "settings": settings,
        "device": info["device"],
        "dtype": settings["precision"],
        "n_train": n,
        "param_count": info["param_count"],
        "optimizer": settings.get("optimizer", "gd"),
        "batch_size": opt["batch_size"],
        "momentum": opt["momentum"],
        "eval_every": opt["eval_every"],
        "lr": info["lr"],
        "lambda_max_0": info["lambda_max0"],
        "sharpness_0": info["lr"] * info["lambda_max0"] / n,
        "theta0_norm": info["theta0_norm"],
        "checkpoint_steps": saved_steps,
        "loss_level_steps": {format(level, "g"): step for level, step in level_steps.items() if step in saved_steps},
        "resumed_from_step": info["resumed"],
        "data_sha256": info["data_sha"],
        "wall_time_s": info["wall_time"],  # the job's (all its seeds), this session's after a resume
        "mode": "batched",
        "job_seeds": info["seeds"],
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    write_json(out_dir / "manifest.json", manifest)
    (out_dir / "resume.pt").unlink(missing_ok=True)  # a per-seed run's leftover, if the mode was switched
    return manifest


def _save_resume(path: Path, key: str, step: int, flat, velocity, streams, rows, test_rows, diverged,
                 top_vectors, loss_levels) -> None:
    torch_save({"key": key, "step": step, "params": _host_copy(flat), "loss_levels": loss_levels.state_dict(),
                "top_vectors": [None if v is None else _host_copy(v) for v in top_vectors],
                "velocity": None if velocity is None else _host_copy(velocity),
                "batches": None if streams is None else [s.state_dict() for s in streams],
                "rows": [np.concatenate(r) for r in rows], "test_rows": test_rows, "diverged": diverged}, path)


def _load_resume(path: Path, key: str) -> dict | None:
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("key") != key:
        print(f"{path}: the job's settings, seeds or data changed since it was written; starting again", file=sys.stderr)
        return None
    return state
