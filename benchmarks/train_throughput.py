"""Throughput of the full-batch GD step of lplr.train against the machine's own matmul rate.

    python benchmarks/train_throughput.py [--device auto|cpu|cuda] [--dtype float32|float64] [--quick]

For each shape (n samples, d inputs, width m, depth D) it times, with the functions train.py runs:
    bare    loss_and_grads + update                                (the GD step alone)
    engine  loss_and_grads + diagnostics + buffer write + update   (what train_run does per step)
Both run on the parameters as train_run holds them: views into one flat tensor (train.FlatParameters).
and reports steps/s, achieved FLOP/s of the engine step, the diagnostics overhead engine/bare - 1
(the median over rounds of the per-round ratio, bare and engine timed back to back in alternating
order, with the interquartile range; a ratio of two best-of times swung from -0% to +26% between
repeated runs on the 2-core development VM),
and two matmul references measured in the same process, same dtype and device:
    mm-seq  the exact matmuls of one step (shapes below), each by torch.mm, nothing else
    mm-sq   one (n x m) @ (m x m) torch.mm, the biggest layer's forward product

FLOPs counted per step (multiply-add = 2), layers l with fan_in a_l and fan_out b_l:
    forward                2 n a_l b_l   every layer
    weight gradient        2 n a_l b_l   every layer
    input gradient         2 n a_l b_l   layers 2..D (the input x needs no gradient)
    total = 6 n sum_l a_l b_l - 2 n d m
NOT counted: biases, ReLU and its mask, the loss, the update and the diagnostics (each O(P) or O(n m),
under 0.1% of the total at these shapes). Times are the best of several rounds, the variants
interleaved, because other work may share the machine (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from lplr.models import MLP
from lplr.devices import configure_torch, resolve_device
from lplr.per_seed import FlatParameters, loss_and_grads, record_diagnostics, update
from lplr.schedule import DTYPES

SHAPES = [  # name, n, d, width, depth, timed steps per round, rounds
    ("default", 256, 784, 128, 5, 10, 60),
    ("paper-like", 2000, 784, 2048, 5, 1, 5),
]


def step_flops(n: int, dims: list[int]) -> int:
    pairs = list(zip(dims[:-1], dims[1:]))
    return 6 * n * sum(a * b for a, b in pairs) - 2 * n * pairs[0][0] * pairs[0][1]


def step_matmuls(n: int, dims: list[int], dtype, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The operand pairs of one step's matmuls: forward, weight gradient and (l >= 2) input gradient."""
    pairs = []
    for layer, (a, b) in enumerate(zip(dims[:-1], dims[1:]), start=1):
        pairs.append((torch.randn(n, a, dtype=dtype, device=device), torch.randn(a, b, dtype=dtype, device=device)))
        pairs.append((torch.randn(b, n, dtype=dtype, device=device), torch.randn(n, a, dtype=dtype, device=device)))
        if layer > 1:
            pairs.append((torch.randn(n, b, dtype=dtype, device=device), torch.randn(b, a, dtype=dtype, device=device)))
    return pairs


def best_time(fn, steps: int, sync) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - start) / steps


def bench_shape(name, n, d, width, depth, steps, repeats, dtype, device, threads) -> dict:
    torch.set_num_threads(threads)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = MLP(d, width, depth).to(dtype).to(device)
    flat = FlatParameters(model)  # as train_run: parameters are views of one flat tensor, theta_0 a flat copy
    params = flat.params
    x = torch.randn(n, d, dtype=dtype, device=device)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.sign(torch.randn(n, dtype=dtype, device=device))
    buffer = torch.empty(steps, 4, dtype=dtype, device=device)
    lr = 1e-3  # tiny: the benchmark must not move far (or diverge) over its steps
    row = [0]

    def bare():
        loss, grads = loss_and_grads(model, params, x, y)
        update(params, grads, None, lr, 0.0)

    def engine():
        loss, grads = loss_and_grads(model, params, x, y)
        record_diagnostics(buffer[row[0] % steps], loss, flat.diagnostics(grads), batch_loss=True)  # as train_run (gd)
        update(params, grads, None, lr, 0.0)
        row[0] += 1

    dims = [d] + [width] * (depth - 1) + [1]
    operands = step_matmuls(n, dims, dtype, device)
    square = (torch.randn(n, width, dtype=dtype, device=device), torch.randn(width, width, dtype=dtype, device=device))

    def mm_seq():
        for a, b in operands:
            torch.mm(a, b)

    def mm_square():
        torch.mm(*square)

    bare(), engine(), mm_seq(), mm_square()  # warm-up (allocator, kernels)
    times = {"bare": [], "engine": [], "mm_seq": [], "mm_square": []}
    for index in range(repeats):
        for variant in (("bare", "engine") if index % 2 else ("engine", "bare")):
            times[variant].append(best_time(bare if variant == "bare" else engine, steps, sync))
        times["mm_seq"].append(best_time(mm_seq, steps, sync))
        times["mm_square"].append(best_time(mm_square, max(steps, 3), sync))
    t = {k: min(v) for k, v in times.items()}
    ratios = sorted(e / b - 1 for e, b in zip(times["engine"], times["bare"]))
    flops = step_flops(n, dims)
    return {
        "shape": name, "threads": threads, "n": n, "d": d, "width": width, "depth": depth, "params": sum(p.numel() for p in params),
        "gflop_per_step": flops / 1e9,
        "steps_per_s": 1 / t["engine"],
        "engine_gflops": flops / t["engine"] / 1e9,
        "bare_gflops": flops / t["bare"] / 1e9,
        "mm_seq_gflops": flops / t["mm_seq"] / 1e9,
        "mm_square_gflops": 2 * n * width * width / t["mm_square"] / 1e9,
        "engine_vs_mm_seq": t["mm_seq"] / t["engine"],
        "engine_vs_mm_square": (flops / t["engine"]) / (2 * n * width * width / t["mm_square"]),
        "diagnostics_overhead": statistics.median(ratios),
        "overhead_iqr": (ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="threads for the paper-like shape; the default shape also runs on 1 thread")
    parser.add_argument("--quick", action="store_true", help="the default shape only")
    args = parser.parse_args()
    device = resolve_device(args.device)
    configure_torch(device, None)  # TF32 off, as in training
    dtype = DTYPES[args.dtype]
    print(f"torch {torch.__version__}, {device}, {args.dtype}, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    header = ("shape", "threads", "n", "width", "params", "GFLOP/step", "steps/s", "GFLOP/s", "mm-seq GFLOP/s",
              "mm-sq GFLOP/s", "vs mm-seq", "vs mm-sq", "diag overhead (IQR)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    runs = [(SHAPES[0], 1), (SHAPES[0], args.threads)] + ([] if args.quick else [(SHAPES[1], args.threads)])
    for shape, threads in runs:
        r = bench_shape(*shape, dtype=dtype, device=device, threads=threads)
        print(f"| {r['shape']} | {r['threads']} | {r['n']} | {r['width']} | {r['params']:,} | {r['gflop_per_step']:.3g} | "
              f"{r['steps_per_s']:.3g} | {r['engine_gflops']:.3g} | {r['mm_seq_gflops']:.3g} | "
              f"{r['mm_square_gflops']:.3g} | {r['engine_vs_mm_seq']:.0%} | {r['engine_vs_mm_square']:.0%} | "
              f"{r['diagnostics_overhead']:+.1%} ({r['overhead_iqr'][0]:+.0%}..{r['overhead_iqr'][1]:+.0%}) |", flush=True)


if __name__ == "__main__":
    main()
