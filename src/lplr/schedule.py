"""What a training run does when: the step size, the optimiser's settings, the SGD batch order, the
checkpoint, sharpness, lambda_min and Hessian schedules, and the loss-level checkpoints. Shared by both steppers
(lplr.per_seed, lplr.batched) and the driver (lplr.train); no kernels here.

The update (heavy ball; momentum 0 is plain (S)GD; torch.optim.SGD's rule with dampening 0):
    v_{t+1} = momentum * v_t + g_t,    theta_{t+1} = theta_t - eta * v_{t+1},    v_0 = 0
where g_t is the gradient of the squared loss on the step's batch:
    gd   the full training set, every step
    sgd  `batch_size` indices read from a stream of seeded random permutations of 0..n-1 (an epoch is
         one permutation; a batch may straddle two epochs, so every batch has the same size). The
         stream's generator lives on the CPU and its state is in the resume file, so resume is exact.
"""

from __future__ import annotations

import numpy as np
import torch

from lplr import ntk

DTYPES = {"float32": torch.float32, "float64": torch.float64}


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


def lambda_min_every(settings: dict) -> int:
    """Cadence of the lambda_min(Theta_t) tracking (training.lambda_min_every); 0 = off."""
    every = int(settings.get("lambda_min_every", 0))
    if every < 0:
        raise ValueError(f"training.lambda_min_every = {every} must be >= 0 (0 = off)")
    return every


def hessian_steps(settings: dict) -> tuple[int, int]:
    """(every, lanczos_steps) of the Hessian tracking (training.hessian_every, training.hessian_iterations);
    every = 0 turns it off."""
    every, steps = int(settings.get("hessian_every", 0)), int(settings.get("hessian_iterations", 5))
    if every < 0 or steps < 2:
        raise ValueError(f"training.hessian_every = {every} must be >= 0 (0 = off) and training.hessian_iterations = "
                         f"{steps} >= 2 (Lanczos steps per tracked step)")
    return every, steps


def tracked(step: int, steps: int, every: int) -> bool:
    """Whether a tracked quantity is measured at `step` (every `every` steps and at the last one)."""
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


def batch_seed(seed: int) -> int:
    """The batch-order stream's seed: its own child of the run seed, so it does not replay the init's draws."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


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


def host_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy with its own storage (a parameter is a view of a flat tensor: saved as is, every
    file would hold the whole flat storage)."""
    return tensor.detach().to("cpu", copy=True)


class LossLevelCheckpoints:
    """The parameters at the first evaluated step where L_t <= level * L_0, for each level, caught on the device.

    Every evaluated step: hit = (L_t <= level L_0) and not yet caught, then params = where(hit, theta_t, params)
    over a [levels, *theta.shape] buffer, and steps = where(hit, t, steps): no host synchronisation on a GPU; on
    the CPU only the crossing steps copy (the memory is `levels` copies of theta). Works for one run (theta [P],
    L scalar) and for a stack of seeds (theta [S, P], L [S]).
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
        return {"params": host_copy(self.params), "steps": host_copy(self.steps),
                "threshold": None if self.threshold is None else host_copy(self.threshold)}

    def load_state_dict(self, state: dict) -> None:
        self.params.copy_(state["params"])
        self.steps.copy_(state["steps"])
        self.threshold = None if state["threshold"] is None else state["threshold"].to(self.params.device)
