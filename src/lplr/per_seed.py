"""The per-seed stepper ("per_seed"): each seed's own model, its parameters as views into one flat tensor,
one forward and backward per seed and step (torch.autograd). The reference kernels: the batched stepper
(lplr.batched) is tested against them.

The parameters live as views into one flat tensor (FlatParameters), so theta_t - theta_0 is one
subtraction into a preallocated buffer; the norms are still taken per parameter tensor and summed (the
same float32 reduction order as separate tensors, so the same bits).
The MLP's training forward, backward and tracked kernels read only the job's kept input columns
(lplr.columns; W_1[:, K] gathered per step, its gradient scattered back by autograd with exact zeros). Where a
seed has fewer training points than kept columns, its model holds W_1 turned onto its training inputs' row
space (lplr.columns.InputBasis) and reads the first n columns; checkpoints get the model's coordinates back.
"""

from __future__ import annotations

import math

import torch

from lplr import columns as columns_of
from lplr.columns import FIRST_WEIGHT
from lplr import ntk
from lplr.hessian import hessian_top_eigenvalue
from lplr.models import build_model
from lplr.schedule import BatchStream, LossLevelCheckpoints, batch_seed, host_copy, learning_rate

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
    The drift needs theta_t - theta_0 every step: one subtraction of the two flat tensors into a
    preallocated buffer, then per-tensor norms of its views, squared and summed. (One norm over the whole
    flat buffer would save ~20 small kernels but change the float32 reduction order, i.e. the last bits of
    the metrics; measured in place it was not faster on CPU.) The Parameter objects are kept (their .data
    is re-pointed), so state_dict and torch.func see the same parameters; `.to()` or `load_state_dict`
    with assign=True would undo the sharing, and the stepper does neither after construction.
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


def loss_and_grads(model: torch.nn.Module, params: list, x: torch.Tensor, y: torch.Tensor,
                   columns: torch.Tensor | None = None):
    """(L, grad L) of L = (1/2|batch|) sum (f(x_i) - y_i)^2; both stay on the device. columns: x holds only
    these input columns (lplr.columns), the gradient is still over the full parameters."""
    loss = 0.5 * (columns_of.mlp_forward(model, x, columns) - y).pow(2).mean()
    return loss, torch.autograd.grad(loss, params)


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


@torch.no_grad()
def tracked_lambda_min(model: torch.nn.Module, x: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
    """lambda_min(Theta(x)) in float32, a 0-d tensor on x's device: the n x n kernel by lplr.ntk.empirical_ntk,
    then the dense symmetric solver (O(n^3), ~4 ms at n = 256 on one CPU core; on a GPU its error check is
    one host sync). Float32 resolves lambda_min to ~eps_32 * lambda_max: enough to track it; the float64
    probe stays the audited value. A non-finite kernel (a seed diverging within its block, found at the
    block's end) gives NaN: the solver would fail to converge on it and stop the job. columns: as in
    lplr.ntk.empirical_ntk (x holds only those input columns)."""
    theta = ntk.empirical_ntk(model, x, dtype=torch.float32, columns=columns)
    finite = torch.isfinite(theta).all()
    smallest = torch.linalg.eigvalsh(torch.where(finite, theta, 0.0))[0]
    return torch.where(finite, smallest, math.nan)


@torch.no_grad()
def test_metrics(out: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(test loss (1/2n) sum (f - y)^2, accuracy: the share with sign(f) = y) of outputs `out`."""
    return float(0.5 * (out - y).pow(2).mean()), float((torch.sign(out) == y).double().mean())


class Seed:
    """One seed's model (theta_0 from torch.manual_seed(seed) on the CPU, so cpu and cuda runs start from the
    same theta_0), flat parameters, eta (lplr.schedule.learning_rate), velocity, batch stream and data.
    basis: its input coordinates (lplr.columns.InputBasis; None: the model's): the training inputs `x` hold only
    the kept columns (and, turned onto the row space, the model holds W_1 so); eta is calibrated on the full
    inputs in the model's coordinates (once, as without the skip)."""

    def __init__(self, settings: dict, data: dict, opt: dict, dtype: torch.dtype, device: torch.device, levels,
                 basis: columns_of.InputBasis | None = None):
        self.x, self.y, self.x_test, self.y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
        torch.manual_seed(settings["seed"])
        self.model = build_model(settings, tuple(self.x.shape[1:])).to(dtype).to(device)
        self.flat = FlatParameters(self.model)
        self.params = self.flat.params
        self.lr, self.lambda_max0 = learning_rate(settings, self.model, self.x)
        self.theta0_norm = self.flat.theta0_norm()
        self.basis = basis if basis is not None and basis.rotation is not None else None  # turned onto the row space
        self.columns = None if basis is None else basis.columns
        if self.basis is not None:
            weight = dict(self.model.named_parameters())[FIRST_WEIGHT]
            self.first0 = weight.detach().clone()
            with torch.no_grad():
                weight.copy_(self.basis.stored(weight))
                self.flat.theta0.copy_(self.flat.flat)
            self.columns = torch.arange(self.basis.kept, device=device)
            self.x_test = self.basis.inputs(self.x_test, train=False)
        self.x = self.x if basis is None else basis.inputs(self.x, train=True)
        self.velocity = [torch.zeros_like(p) for p in self.params] if opt["momentum"] else None
        self.stream = BatchStream(len(self.x), opt["batch_size"], batch_seed(settings["seed"])) if opt["sgd"] else None
        self.levels = LossLevelCheckpoints(levels, self.flat.flat)
        self.grads = None

    def state(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's state_dict (host copies, the model's coordinates) of flat parameters `flat`."""
        names = [name for name, _ in self.model.named_parameters()]
        state = dict(zip(names, self.flat.views(flat)))
        if self.basis is not None:
            stored0 = dict(zip(names, self.flat.views(self.flat.theta0)))[FIRST_WEIGHT]
            state[FIRST_WEIGHT] = self.basis.original(state[FIRST_WEIGHT], stored0, self.first0)
        return {name: host_copy(v) for name, v in state.items()}


class PerSeedStepper:
    """S >= 1 seeds, each stepped by its own kernels; a stopped (diverged) seed is no longer stepped."""

    mode = "per_seed"

    def __init__(self, runs: list[dict], data: list[dict], opt: dict, method: str = "auto"):
        if method != "auto":
            raise ValueError(f"step method {method!r} is for the batched stepper; the per-seed stepper has one")
        first = data[0]["x_train"]
        self.opt, self.count, self.rows = opt, len(runs), len(runs)
        bases = columns_of.job_bases(runs, [d["x_train"] for d in data])  # one K for the job, as batched
        self.seeds = [Seed(s, d, opt, first.dtype, first.device, s.get("loss_checkpoints", []), basis)
                      for s, d, basis in zip(runs, data, bases)]
        self.lrs = [seed.lr for seed in self.seeds]
        self.lambda_max0 = [seed.lambda_max0 for seed in self.seeds]
        self.theta0_norms = [seed.theta0_norm for seed in self.seeds]
        self.param_count = sum(p.numel() for p in self.seeds[0].params)
        self.active = [True] * self.count
        self.layout = columns_of.layout(bases)
        self.dtype, self.device = first.dtype, first.device

    def _live(self):
        return [(j, seed) for j, seed in enumerate(self.seeds) if self.active[j]]

    def evaluate(self, row: torch.Tensor, step: int) -> None:
        """Full-batch [L, G, drift^2] (and gd's batch loss) of every live seed into row[j]."""
        for j, seed in self._live():
            loss, seed.grads = loss_and_grads(seed.model, seed.params, seed.x, seed.y, seed.columns)
            record_diagnostics(row[j], loss, seed.flat.diagnostics(seed.grads), batch_loss=seed.stream is None)
            seed.levels.observe(step, loss, seed.flat.flat)

    def top_eigenpair(self, j: int, vector, iterations: int):
        """Warm-started power iteration on seed j's NTK (lplr.ntk.top_eigenpair): (lambda_max, vector)."""
        seed = self.seeds[j]
        return ntk.top_eigenpair(seed.model, seed.x, vector, iterations, columns=seed.columns)

    def lambda_min(self, j: int, points: torch.Tensor | None) -> torch.Tensor:
        """Seed j's float32 lambda_min(Theta_t) on its training points `points` (None: all of them)."""
        seed = self.seeds[j]
        return tracked_lambda_min(seed.model, seed.x if points is None else seed.x[points], seed.columns)

    def hessian_top(self, j: int, vector, steps: int):
        """Seed j's top eigenpair of the full-batch loss Hessian (lplr.hessian: `steps` Lanczos steps from `vector`
        on double-backward Hessian-vector products)."""
        seed = self.seeds[j]
        return hessian_top_eigenvalue(seed.model, seed.x, seed.y, steps, vector, hvp="autograd", columns=seed.columns)

    @torch.no_grad()
    def test_rows(self) -> dict[int, tuple[float, float]]:
        return {j: test_metrics(seed.model(seed.x_test), seed.y_test) for j, seed in self._live()}

    def checkpoint(self, j: int) -> dict[str, torch.Tensor]:
        seed = self.seeds[j]
        if seed.basis is not None:
            return seed.state(seed.flat.flat)
        return {name: host_copy(p) for name, p in seed.model.state_dict().items()}

    def take_batches(self, count: int):
        """The next `count` batches of each seed, one host-to-device copy per seed."""
        return [None if seed.stream is None else seed.stream.take(count).to(seed.x.device) for seed in self.seeds]

    def step(self, row: torch.Tensor, batches, i: int) -> None:
        """theta -= eta v for every live seed (sgd: on the step's batch, its loss into row[j, 3])."""
        for j, seed in self._live():
            if seed.stream is not None:
                idx = batches[j][i]
                loss, seed.grads = loss_and_grads(seed.model, seed.params, seed.x[idx], seed.y[idx], seed.columns)
                row[j, 3] = loss.detach()
            update(seed.params, seed.grads, seed.velocity, seed.lr, self.opt["momentum"])

    def stop(self, j: int) -> None:
        self.active[j] = False

    def level_steps(self, j: int) -> dict[float, int]:
        return self.seeds[j].levels.caught()

    def level_checkpoint(self, j: int, level: float) -> dict[str, torch.Tensor]:
        seed = self.seeds[j]
        return seed.state(seed.levels.params[seed.levels.levels.index(level)])

    def state_dict(self) -> dict:
        return {"seeds": [{"params": [host_copy(p) for p in seed.params],
                           "velocity": None if seed.velocity is None else [host_copy(v) for v in seed.velocity],
                           "batches": None if seed.stream is None else seed.stream.state_dict(),
                           "loss_levels": seed.levels.state_dict()} for seed in self.seeds]}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for seed, saved in zip(self.seeds, state["seeds"]):
            device = seed.flat.flat.device
            torch._foreach_copy_(seed.params, [p.to(device) for p in saved["params"]])
            if seed.velocity is not None:
                torch._foreach_copy_(seed.velocity, [v.to(device) for v in saved["velocity"]])
            if seed.stream is not None:
                seed.stream.load_state_dict(saved["batches"])
            seed.levels.load_state_dict(saved["loss_levels"])
