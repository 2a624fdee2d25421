"""The batched stepper ("batched"): all seeds of one condition in one process, parameters stacked over
seeds, one batched forward and backward per step.

Seed s of the job has exactly the per-seed stepper's dynamics and diagnostics (lplr.per_seed): its own
theta_0 (torch.manual_seed(s), CPU), its own eta (calibrated on its own Theta_0), its own SGD batch
stream, its own full-batch L, G, drift, tracked sharpness and tracked lambda_min (on its own copy of the
model, so its bits are the per-seed stepper's). The S seeds' parameters live as rows of one [S, P] tensor;
a step is
    (L_s, g_s)_s = vmap(grad_and_value(L))(theta, x, y)        one batched forward and backward
    v_s = momentum v_s + g_s,   theta_s -= eta_s v_s           one kernel over [S, P] each
The batched forward and backward has two implementations behind `method` (STEP_METHODS), tested against
each other: "vmap" (torch.func, any model; the CNN) and "mlp" (the package's MLPs, forward and backward
written out with one batched matrix product per layer and direction, no autograd, no vmap overhead).
Nothing mixes seeds: every kernel works row by row, so on the CPU a seed's bits do not depend on which
seeds share its job (tests/test_batched.py checks it), given two precautions taken here: every row and
parameter segment of the stack starts on a 64-byte boundary (MKL sums small products in another order
into unaligned outputs), and, since torch's batched matrix products take another path for a batch of ONE,
a one-seed job carries a masked copy of its seed as a second row (twice the arithmetic; the per-seed
stepper is the cheaper choice for one seed). Against the per-seed stepper the bits differ in the last
places (batched matrix products sum in another order; the test states how far).

The MLP's input columns that are zero at every training point of the job (lplr.columns; the union of
the seeds' non-zero columns K, so with per-run subsets a seed's bits may depend on which subsets share its
job) are skipped by the mlp step: W_1 is stored with K first (checkpoints get the model's order back), the
training inputs hold K only and the test inputs are put in the stored order. Where a seed has fewer training
points than kept columns, its K block is also turned onto its training inputs' row space (lplr.columns,
InputBasis: each seed its own rotation), and the training inputs hold the n row-space coordinates only.

A stopped (diverged) seed is masked: its parameters go back to theta_0 and its eta to 0, so it stays
finite and costs the same; the others go on.
"""

from __future__ import annotations

import math

import torch
from torch.func import functional_call, grad_and_value, vmap

from lplr import columns as columns_of
from lplr.columns import FIRST_WEIGHT
from lplr import models, ntk
from lplr.hessian import hessian_top_eigenvalue
from lplr.per_seed import aligned_offsets, test_metrics, tracked_lambda_min
from lplr.schedule import BatchStream, LossLevelCheckpoints, batch_seed, host_copy, learning_rate


class StackedParameters:
    """The S seeds' parameters as rows of one [S, P] tensor; `views` shapes each parameter [S, *shape].

    As in lplr.per_seed.FlatParameters, every parameter's segment (and so every row) starts on a 64-byte
    boundary, zero padding between them, which the gradients and updates keep at zero. The alignment is
    what makes a seed's bits independent of its row: MKL's small products (the readout's [1, m] gradient)
    take another summation order when their output is not aligned, which unpadded rows of odd length P are
    not, except row 0.
    bases: per row, the coordinates W_1 is stored in (lplr.columns.InputBasis: the kept columns first, so
    W_1[:, :kept] is a view; None: the model's); `state_dict` and `original` give the model's back.
    """

    def __init__(self, models: list[torch.nn.Module], bases: list | None = None):
        first = next(models[0].parameters())
        self.names = [name for name, _ in models[0].named_parameters()]
        self.shapes = [p.shape for p in models[0].parameters()]
        self.param_count = sum(math.prod(shape) for shape in self.shapes)  # without the padding
        self.offsets, width = aligned_offsets([math.prod(shape) for shape in self.shapes], first.element_size())
        self.flat = torch.zeros(len(models), width, dtype=first.dtype, device=first.device)
        self.views = self.split(self.flat)
        self.bases = bases if bases is not None and bases[0] is not None else None
        with torch.no_grad():
            for j, model in enumerate(models):
                torch._foreach_copy_([view[j] for view in self.views.values()],
                                     [self.stored(name, p.detach(), j) for name, p in model.named_parameters()])
        self.theta0 = self.flat.clone()
        # W_1(0) in the model's coordinates, per row: what `original` adds the turned-back change to
        self.first0 = ([dict(m.named_parameters())[FIRST_WEIGHT].detach().clone() for m in models]
                       if self.bases is not None and self.bases[0].rotation is not None else None)
        self._work = None  # diagnostics' buffer, allocated on first use

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """{name: [S, *shape] view of `flat`'s columns}."""
        s = flat.shape[0]
        return {name: flat[:, a:a + math.prod(shape)].view(s, *shape)
                for name, shape, a in zip(self.names, self.shapes, self.offsets)}

    def stored(self, name: str, tensor: torch.Tensor, j: int) -> torch.Tensor:
        """Row j's parameter in the model's coordinates -> as stored (W_1 in row j's basis)."""
        return tensor if self.bases is None or name != FIRST_WEIGHT else self.bases[j].stored(tensor)

    def original(self, name: str, tensor: torch.Tensor, j: int) -> torch.Tensor:
        """Row j's stored parameter -> in the model's coordinates."""
        if self.bases is None or name != FIRST_WEIGHT:
            return tensor
        first0 = None if self.first0 is None else self.first0[j]
        return self.bases[j].original(tensor, self.split(self.theta0)[FIRST_WEIGHT][j], first0)

    def state_dict(self, seed_index: int, flat: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One seed's parameters (of `flat`, default the current ones) as its model's state_dict (host copies),
        as lplr.train saves them: full shapes, the model's column order."""
        views = self.views if flat is None else self.split(flat)
        return {name: host_copy(self.original(name, view[seed_index], seed_index)) for name, view in views.items()}

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


def mlp_step(template: torch.nn.Module, stack: StackedParameters, kept: int | None = None):
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
    S x P, beyond the cache at width 256) is paid.
    kept: the training inputs x hold only the first `kept` input columns of the stored W_1 (lplr.columns; the
    stack stores the kept columns first): the first layer reads the view W_1[:, :kept] and its gradient is
    written into those columns only (the others stay exactly zero). `forward` (the test set) uses all of W_1,
    on inputs whose columns are in the stored order."""
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

    def forward_from(params, x, activations=None, columns=None):
        h = x.flatten(2)
        for index, ((weight, bias), scale) in enumerate(zip(layers, scales)):
            w = params[weight][..., :columns] if index == 0 and columns is not None else params[weight]  # a view
            w = w * scale if scale != 1.0 else w
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
        r = forward_from(stack.views, x, inputs, kept) - y
        loss = 0.5 * r.pow(2).mean(1)
        delta = (r / r.shape[1]).unsqueeze(-1)  # [S, n, 1]
        for index in reversed(range(len(layers))):
            (weight, bias), scale, (h, w) = layers[index], scales[index], inputs[index]
            # (h^T delta)^T, written through the transposed view: autograd's orientation. delta^T h into the view
            # gives the readout's [1, m] gradient another, batch-size dependent summation order on the CPU.
            grad = grad_views[weight][..., :kept] if index == 0 and kept is not None else grad_views[weight]  # rest: 0
            torch.bmm(h.transpose(1, 2), delta, out=grad.transpose(1, 2))
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


class StackedStepper:
    """S >= 1 seeds of one condition as rows of one [S, P] stack (a one-seed job: two rows, see above)."""

    mode = "batched"

    def __init__(self, runs: list[dict], data: list[dict], opt: dict, method: str = "auto"):
        first = data[0]["x_train"]
        dtype, device, n = first.dtype, first.device, len(first)
        self.opt, self.count = opt, len(runs)
        self.models, self.lrs, self.lambda_max0 = [], [], []
        for settings, d in zip(runs, data):  # each seed's theta_0 and eta exactly as the per-seed stepper makes them
            torch.manual_seed(settings["seed"])
            model = models.build_model(settings, tuple(first.shape[1:])).to(dtype).to(device)
            lr, top = learning_rate(settings, model, d["x_train"])
            self.models.append(model)
            self.lrs.append(lr)
            self.lambda_max0.append(top)
        row_runs, row_data = (runs * 2, data * 2) if self.count == 1 else (runs, data)
        self.rows = len(row_runs)
        if method == "auto":
            method = "mlp" if ntk.is_structured_mlp(self.models[0]) else "vmap"
        # ||theta_0|| per tensor, then summed (the per-seed order), in the model's coordinates
        self.theta0_norms = [math.sqrt(sum(float(p.detach().pow(2).sum()) for p in m.parameters())) for m in self.models]
        # the job's input coordinates (lplr.columns; the mlp step only): W_1 stored with the kept columns K first
        # (and turned onto each seed's row space where n < |K|), the training inputs cut to the first `kept`
        # stored columns, the test inputs in the stored coordinates
        bases = (columns_of.job_bases(runs, [d["x_train"] for d in data]) if method == "mlp" else [None] * self.count)
        row_bases = bases * 2 if self.count == 1 else bases
        self.stack = StackedParameters(self.models * self.rows if self.count == 1 else self.models, row_bases)
        self.param_count = self.stack.param_count
        self.kept = None if bases[0] is None else bases[0].kept
        self.x = _stacked(_each(row_data, "x_train", row_bases, lambda b, x: x if b is None else b.inputs(x, True)))
        self.x_test = _stacked(_each(row_data, "x_test", row_bases, lambda b, x: x if b is None else b.inputs(x, False)))
        self.y, self.y_test = (_stacked([d[k] for d in row_data]) for k in ("y_train", "y_test"))
        # the tracked kernels read the kept columns K of a seed's model in its own coordinates, or, turned onto
        # the row space, the first `kept` columns of its model in the stored coordinates
        self.rotated = bases[0] is not None and bases[0].rotation is not None
        self.columns = (torch.arange(self.kept, device=device) if self.rotated
                        else None if bases[0] is None else bases[0].columns)
        self.neg_lr = torch.tensor([-self.lrs[0 if self.count == 1 else j] for j in range(self.rows)],
                                   dtype=dtype, device=device)[:, None]
        self.velocity = torch.zeros_like(self.stack.flat) if opt["momentum"] else None
        self.streams = ([BatchStream(n, opt["batch_size"], batch_seed(s["seed"])) for s in row_runs]
                        if opt["sgd"] else None)
        if method not in STEP_METHODS:
            raise ValueError(f"unknown step method {method!r}; use 'auto', 'mlp' or 'vmap'")
        self.loss_and_grad, self.forward = (STEP_METHODS[method](self.models[0], self.stack) if self.kept is None
                                            else mlp_step(self.models[0], self.stack, self.kept))
        self.levels = LossLevelCheckpoints(runs[0].get("loss_checkpoints", []), self.stack.flat)  # row by row
        self.seed_index = torch.arange(self.rows, device=device)[:, None]
        self.active = [True] * self.count
        self.dtype, self.device = first.dtype, first.device
        self.layout = {"method": method, "layout": self.stack.offsets,
                       **columns_of.layout(bases)}
        self.g = None

    def evaluate(self, row: torch.Tensor, step: int) -> None:
        """Full-batch [L, G, drift^2] (and gd's batch loss) of every row into row[j]."""
        loss, self.g = self.loss_and_grad(self.x, self.y)
        norms = self.stack.diagnostics(self.g)
        with torch.no_grad():
            row[:, 0] = loss
            row[:, 1:3] = norms
            if self.streams is None:
                row[:, 3] = loss
        self.levels.observe(step, loss, self.stack.flat)

    def seed_model(self, j: int) -> torch.nn.Module:
        """Seed j's own model holding a copy of its row (own aligned storage): its kernels see only its bits. In the
        model's coordinates, or turned onto the row space the row as stored (the kernels read `self.columns`)."""
        with torch.no_grad():
            torch._foreach_copy_(list(self.models[j].parameters()),
                                 [view[j] if self.rotated else self.stack.original(name, view[j], j)
                                  for name, view in self.stack.views.items()])
        return self.models[j]

    def top_eigenpair(self, j: int, vector, iterations: int):
        """Warm-started power iteration on seed j's NTK (lplr.ntk.top_eigenpair) on its own model."""
        return ntk.top_eigenpair(self.seed_model(j), self.x[j], vector, iterations, columns=self.columns)

    def lambda_min(self, j: int, points: torch.Tensor | None) -> torch.Tensor:
        """Seed j's float32 lambda_min(Theta_t) on its training points `points` (None: all of them)."""
        return tracked_lambda_min(self.seed_model(j), self.x[j] if points is None else self.x[j][points], self.columns)

    def hessian_top(self, j: int, vector, steps: int):
        """Seed j's top eigenpair of the full-batch loss Hessian on its own model (autograd's double backward: the
        written-out backward cannot be differentiated twice), by `steps` Lanczos steps from `vector` (lplr.hessian)."""
        return hessian_top_eigenvalue(self.seed_model(j), self.x[j], self.y[j], steps, vector, hvp="autograd",
                                      columns=self.columns)

    @torch.no_grad()
    def test_rows(self) -> dict[int, tuple[float, float]]:
        out = self.forward(self.x_test)
        return {j: test_metrics(out[j], self.y_test[j]) for j in range(self.count) if self.active[j]}

    def checkpoint(self, j: int) -> dict[str, torch.Tensor]:
        return self.stack.state_dict(j)

    def take_batches(self, count: int):
        """[S, count, batch_size]: the next `count` batches of every row, one host-to-device copy."""
        if self.streams is None:
            return None
        return torch.stack([s.take(count) for s in self.streams]).to(self.x.device)

    def step(self, row: torch.Tensor, batches, i: int) -> None:
        if self.streams is not None:
            idx = batches[:, i]
            loss, self.g = self.loss_and_grad(self.x[self.seed_index, idx], self.y[self.seed_index, idx])
            row[:, 3] = loss.detach()
        _update(self.stack.flat, self.g, self.velocity, self.neg_lr, self.opt["momentum"])

    def stop(self, j: int) -> None:
        self.active[j] = False
        _mask(j, self.stack, self.neg_lr, self.velocity)

    def level_steps(self, j: int) -> dict[float, int]:
        return self.levels.caught(j)

    def level_checkpoint(self, j: int, level: float) -> dict[str, torch.Tensor]:
        return self.stack.state_dict(j, self.levels.params[self.levels.levels.index(level)])

    def state_dict(self) -> dict:
        return {"params": host_copy(self.stack.flat), "loss_levels": self.levels.state_dict(),
                "velocity": None if self.velocity is None else host_copy(self.velocity),
                "batches": None if self.streams is None else [s.state_dict() for s in self.streams]}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        self.stack.flat.copy_(state["params"])
        if self.velocity is not None:
            self.velocity.copy_(state["velocity"])
        for stream, saved in zip(self.streams or [], state["batches"] or []):
            stream.load_state_dict(saved)
        self.levels.load_state_dict(state["loss_levels"])


def _each(data: list[dict], key: str, bases: list, transform) -> list[torch.Tensor]:
    """transform(basis, d[key]) for each row's data set, once per distinct (basis, tensor): a shared set in a
    shared basis stays one tensor."""
    done = {}
    for d, basis in zip(data, bases):
        if (id(basis), id(d[key])) not in done:
            done[id(basis), id(d[key])] = transform(basis, d[key])
    return [done[id(basis), id(d[key])] for d, basis in zip(data, bases)]


def _stacked(tensors: list[torch.Tensor]) -> torch.Tensor:
    """[S, n, ...]: one set per seed stacked, or a shared one expanded (a view, no copy). One code path for
    both (vmap over x as well), so a seed's bits do not depend on whether its data is shared."""
    if all(t is tensors[0] for t in tensors):
        return tensors[0].expand(len(tensors), *tensors[0].shape)
    return torch.stack(tensors)
