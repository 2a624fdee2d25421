"""Benchmark of lplr.ntk.empirical_ntk against the Jacobian contraction of the PyTorch NTK tutorial.

    python benchmarks/ntk.py            (~3-5 min on 2 cores; prints markdown for benchmarks/README.md)
    python benchmarks/ntk.py --quick    (small sizes, a smoke test)
    python benchmarks/ntk.py --symmetric [--quick]   (only the one-triangle A/B below, ~1 min)
    python benchmarks/ntk.py --symmetric --sizes 1024x1024 [--threads 1] [--rounds 5]
                                        (against neural-tangents, run from its own venv: benchmarks/README.md)

Every measured call runs in its own subprocess so that peak memory can be read from the kernel:
peak = ru_maxrss after the call minus ru_maxrss before it (resident set high-water mark, after setup
and a small warm-up). tracemalloc does not see torch's allocations; maxrss does. Times are the best
of `repeats` calls (the machine may be shared: best-of is the least noisy estimate of the cost).
All timing comparisons are in float32 (the tutorial's dtype); accuracy is checked against float64.

The one-triangle A/B (float64, and float32 at the default config's shapes): the MLP path as it is
(every n x n product from one triangle, lplr.ntk._gram_upper) against the same path with full products
(symmetric=False, the code before) and with torch row blocks (the GPU path), alternated call by call in
one process; best of each and the range of the per-round ratios (wall clock; with --threads 1 the CPU
time of the process instead, which the other processes of a shared machine barely disturb; XLA is then
held to one thread by XLA_FLAGS, XLA_ONE_THREAD). Where jax and neural-tangents are installed, its
implementations (structured derivatives with and without vmap_axes, the Jacobian contraction and the
NTK-vector products, the last two over tiles when their Jacobians exceed MEMORY_CAP) are timed in the
same rounds on the same weights, jit-compiled in float64 (x64), and their kernels checked against ours.

The tutorial method ("Neural Tangent Kernels", pytorch.org/tutorials/intermediate/neural_tangent_kernels):
jac1 = vmap(jacrev(f))(params, x1), jac2 = the same for x2, then einsum('Naf,Mbf->NMab') per parameter
tensor, stacked and summed. When its two Jacobians would exceed ~8 GB it is run over blocks of samples
(every block pair (a, b), as the tutorial's function would be called), and when that would take too
long only the first `pairs` block pairs are timed and the time is extrapolated to all of them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from unittest import mock

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from lplr import models, ntk

MEMORY_CAP = 8e9  # bytes: the tutorial's two Jacobians above this are run over blocks of samples
DEPTH, IN_FEATURES = 5, 784
MM_SIZE = 2048
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def best_time(call, repeats: int, budget_s: float = 2.0, most: int = 30) -> float:
    """Best of at least `repeats` calls, more (up to `most`) while they fit in `budget_s` seconds."""
    times, begin = [], time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - begin < budget_s and len(times) < most):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def tutorial_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """The tutorial's empirical_ntk_jacobian_contraction, for a scalar output (the (1,)-shaped output keeps 'a', 'b')."""
    params = {name: p.detach() for name, p in model.named_parameters()}

    def fnet_single(p, x):
        return functional_call(model, p, (x.unsqueeze(0),))  # shape (1,)

    jac1 = [j.flatten(2) for j in vmap(jacrev(fnet_single), (None, 0))(params, x1).values()]
    jac2 = [j.flatten(2) for j in vmap(jacrev(fnet_single), (None, 0))(params, x2).values()]
    result = torch.stack([torch.einsum("Naf,Mbf->NMab", j1, j2) for j1, j2 in zip(jac1, jac2)]).sum(0)
    return result[:, :, 0, 0]


def tutorial_blocked(model: nn.Module, x: torch.Tensor, block: int, pairs: int | None) -> tuple[torch.Tensor, float]:
    """The tutorial over sample blocks: Theta_ab = tutorial_ntk(x_a, x_b) for all pairs; (Theta, extrapolation factor)."""
    blocks = x.split(block)
    theta = torch.zeros(len(x), len(x), dtype=x.dtype)
    all_pairs = [(a, b) for a in range(len(blocks)) for b in range(len(blocks))]
    timed = all_pairs[:pairs] if pairs else all_pairs
    for a, b in timed:
        theta[a * block:(a + 1) * block, b * block:(b + 1) * block] = tutorial_ntk(model, blocks[a], blocks[b])
    return theta, len(all_pairs) / len(timed)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def mlp_path_flops(n: int, width: int, depth: int = DEPTH, d: int = IN_FEATURES) -> float:
    """Matrix-product FLOPs of ntk._ntk_mlp: forward 2 n d_in d_out per hidden layer, delta back-propagation
    2 n m^2 per hidden-to-hidden layer, Gram H H^T 2 n^2 d_in per layer and Delta Delta^T 2 n^2 m per hidden layer.
    The Grams are counted as full products; where one triangle is formed (syrk: half their FLOPs) the
    GFLOP/s derived from this count is an effective rate and can exceed the torch.mm yardstick."""
    dims = [d] + [width] * (depth - 1)
    forward = sum(2 * n * a * b for a, b in zip(dims[:-1], dims[1:]))
    backward = 2 * n * width * width * (depth - 2)
    grams = sum(2 * n * n * a for a in dims) + 2 * n * n * width * (depth - 1)
    return float(forward + backward + grams)


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def mm_call(dtype: torch.dtype):
    """The FLOP/s yardstick: one square torch.mm of side MM_SIZE (2 MM_SIZE^3 FLOPs)."""
    a, b = torch.randn(MM_SIZE, MM_SIZE, dtype=dtype), torch.randn(MM_SIZE, MM_SIZE, dtype=dtype)
    return lambda: a @ b


def small_cnn() -> nn.Module:
    """The package's ResNet-style CNN (stem conv, 2 residual blocks of 16 channels, global pooling, scalar readout)."""
    return models.CNN(1, width=16, depth=2)


# -----------------------------------------------------------------------------
# one case per subprocess

def run_case(case: dict) -> dict:
    torch.manual_seed(0)
    dtype = torch.float32
    if case["model"] == "mlp":
        model = models.MLP(IN_FEATURES, case["width"], DEPTH)
        x = torch.randn(case["n"], IN_FEATURES)
    else:
        model = small_cnn()
        x = torch.randn(case["n"], 1, 28, 28)
    result = {**case, "params": n_params(model)}
    if case["method"] == "ours":
        call = lambda: ntk.empirical_ntk(model, x, dtype=dtype)  # noqa: E731
        ntk.empirical_ntk(model, x[:16], dtype=dtype)  # warm-up
        before, start = maxrss(), time.perf_counter()
        theta = call()
        result["seconds"] = time.perf_counter() - start
        result["peak_bytes"] = maxrss() - before
        # timing interleaved with its yardstick (torch.mm, or the tutorial for the CNN), best of `repeats`
        # rounds: on a shared machine both then see the same conditions
        other = (lambda: tutorial_ntk(model, x, x)) if case["model"] == "cnn" else mm_call(dtype)  # noqa: E731
        times, other_times = [result["seconds"]], []
        for _ in range(case["repeats"]):
            times.append(timed(call))
            other_times.append(timed(other))
        result["seconds"], other_best = min(times), min(other_times)
        if case["model"] == "mlp":
            result["flops"] = mlp_path_flops(case["n"], case["width"])
            result["mm_flops_per_s"] = 2 * MM_SIZE**3 / other_best
        else:
            result["tutorial_seconds_interleaved"] = other_best
    else:
        jac_bytes = 2 * case["n"] * result["params"] * 4  # the tutorial holds two Jacobians
        tutorial_ntk(model, x[:8], x[:8])  # warm-up
        before = maxrss()
        start = time.perf_counter()
        if jac_bytes <= MEMORY_CAP:
            theta, factor = tutorial_ntk(model, x, x), 1.0
        else:
            theta, factor = tutorial_blocked(model, x, case["block"], case.get("pairs"))
        result["seconds"] = (time.perf_counter() - start) * factor
        result["peak_bytes"] = maxrss() - before
        result["blocked"] = jac_bytes > MEMORY_CAP
        result["extrapolation"] = factor
        for _ in range(case["repeats"] - 1):
            start = time.perf_counter()
            tutorial_ntk(model, x, x) if not result["blocked"] else tutorial_blocked(model, x, case["block"], case.get("pairs"))
            result["seconds"] = min(result["seconds"], (time.perf_counter() - start) * factor)
    if case.get("accuracy"):  # relative max error of the float32 kernel against float64 (our exact paths)
        reference = ntk.empirical_ntk(model, x, dtype=torch.float64)
        result["rel_error"] = float((theta.double() - reference).abs().max() / reference.abs().max())
    return result


def nt_kernels(model: nn.Module, x: torch.Tensor) -> dict:
    """{name: (call, factor, tile)}: neural-tangents' empirical NTK of the same MLP and weights (float64, x64,
    jit-compiled), or {} without jax / neural-tangents. Implementations 3 (structured derivatives, with and
    without vmap_axes), 1 (Jacobian contraction) and 2 (NTK-vector products). 1 and 2 hold n x P Jacobian-sized
    arrays (2 n P 8 bytes): above MEMORY_CAP one (b, b) tile of Theta is timed, b the largest power of two that
    fits, and its time multiplied by (n / b)^2, as nt.batch would run every tile (factor; tile = b, else None)."""
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import neural_tangents as nt
    except ImportError:
        return {}
    as_jax = lambda t: jnp.asarray(t.detach().double().numpy())  # noqa: E731
    params = [(as_jax(layer.weight.T), as_jax(layer.bias)) for layer in model.layers]  # W (in, out): h @ W + b

    def f(p, inputs):
        for weight, bias in p[:-1]:
            inputs = jax.nn.relu(inputs @ weight + bias)
        return inputs @ p[-1][0] + p[-1][1]  # (n, 1)

    inputs, n = jnp.asarray(x.double().numpy()), len(x)
    kinds = {"structured": (nt.NtkImplementation.STRUCTURED_DERIVATIVES, 0),
             "structured-novmap": (nt.NtkImplementation.STRUCTURED_DERIVATIVES, None),
             "jacobian": (nt.NtkImplementation.JACOBIAN_CONTRACTION, 0),
             "vector-products": (nt.NtkImplementation.NTK_VECTOR_PRODUCTS, 0)}
    calls = {}
    for name, (kind, axes) in kinds.items():
        fn = jax.jit(nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=axes, implementation=kind))
        tile = None
        if kind != nt.NtkImplementation.STRUCTURED_DERIVATIVES and 2 * n * n_params(model) * 8 > MEMORY_CAP:
            tile = 2 ** int(math.log2(MEMORY_CAP / (2 * n_params(model) * 8)))
        if tile is None:
            calls[f"nt-{name}"] = (lambda fn=fn: np.array(fn(inputs, None, params).block_until_ready()), 1.0, None)
        else:  # an off-diagonal tile (x1 != x2), as nt.batch computes most of them
            a, b = inputs[:tile], inputs[tile:2 * tile]
            calls[f"nt-{name}"] = (lambda fn=fn, a=a, b=b: np.array(fn(a, b, params).block_until_ready()),
                                   (n / tile) ** 2, tile)
    return calls


def torch_blocks(call):
    """`call` with the device path's torch row blocks instead of syrk (what a GPU runs), on the CPU."""
    with mock.patch.object(ntk, "SYRK_DTYPES", {}):
        return call()


def symmetric_ab(sizes: list[tuple[int, int, str]], rounds: int, threads: int | None = None) -> list[dict]:
    """Per (n, width, dtype): the MLP path with one-triangle products vs full products (and neural-tangents'
    implementations where installed), alternated `rounds` times; best-of times, per-round ratio range, agreement.
    One thread: process CPU time (all threads of the process, so XLA's too), else wall clock."""
    if threads:
        torch.set_num_threads(threads)
    clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
    rows = []
    for n, width, dtype_name in sizes:
        dtype = getattr(torch, dtype_name)
        torch.manual_seed(0)
        model, x = models.MLP(IN_FEATURES, width, DEPTH), torch.randn(n, IN_FEATURES, dtype=dtype)
        calls = {"full": (lambda: ntk._ntk_mlp(model, x, symmetric=False), 1.0, None),
                 "ours": (lambda: ntk.empirical_ntk(model, x, dtype=dtype), 1.0, None),
                 "blocks": (lambda: torch_blocks(lambda: ntk.empirical_ntk(model, x, dtype=dtype)), 1.0, None)}
        if dtype == torch.float64:
            calls.update(nt_kernels(model, x))
        compile_s, results, failed = {}, {}, {}
        for name, (call, _, _) in list(calls.items()):  # warm-up (and jax's compilation)
            start = time.perf_counter()
            try:
                results[name] = call()
            except Exception as error:  # an implementation that does not fit (XLA: RESOURCE_EXHAUSTED): reported
                if not name.startswith("nt-"):
                    raise
                failed[name] = str(error).splitlines()[0][:120]
                del calls[name]
                continue
            compile_s[name] = time.perf_counter() - start
        reference = results["full"]
        error = {}
        for name, theta in results.items():
            tile = calls[name][2]
            expected = reference if tile is None else reference[:tile, tile:2 * tile]
            error[name] = float((torch.as_tensor(theta) - expected).abs().max() / expected.abs().max())
        times = {name: [] for name in calls}
        for _ in range(rounds):
            for name, (call, factor, _) in calls.items():
                start = clock()
                call()
                times[name].append((clock() - start) * factor)
        ratios = {name: [a / b for a, b in zip(times[name], times["ours"])] for name in calls if name != "ours"}
        rows.append({"n": n, "width": width, "dtype": dtype_name, "best": {k: min(v) for k, v in times.items()},
                     "ratio_range": {k: (min(v), max(v)) for k, v in ratios.items()}, "rel_error": error,
                     "tiles": {k: c[2] for k, c in calls.items() if c[2]}, "first_call_s": compile_s, "failed": failed,
                     "eps": torch.finfo(dtype).eps, "threads": torch.get_num_threads(),
                     "clock": "process CPU" if clock is time.process_time else "wall",
                     "xla_flags": os.environ.get("XLA_FLAGS", "")})
    return rows


def print_symmetric(rows: list[dict]) -> None:
    print(f"\n{rows[0]['threads']} torch thread(s), {rows[0]['clock']} time; XLA_FLAGS={rows[0]['xla_flags']!r}.\n")
    print("| n | width | dtype | full products (s) | one triangle (s) | speedup best / per-round range | "
          "rel. error vs full (eps) | torch row blocks (s), speedup | neural-tangents best (s) | ours vs NT |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        best, lo_hi = row["best"], row["ratio_range"]
        nt_names = [k for k in best if k.startswith("nt-")]
        nt = min(nt_names, key=best.get) if nt_names else None
        nt_cells = "not installed | -" if nt is None else (
            f"{best[nt]:.3f} ({nt[3:]}, rel. error {row['rel_error'][nt]:.0e}) | "
            f"{best[nt] / best['ours']:.2f}x ({lo_hi[nt][0]:.2f}-{lo_hi[nt][1]:.2f})")
        print(f"| {row['n']} | {row['width']} | {row['dtype']} | {best['full']:.3f} | {best['ours']:.3f} | "
              f"{best['full'] / best['ours']:.2f}x / {lo_hi['full'][0]:.2f}-{lo_hi['full'][1]:.2f} | "
              f"{row['rel_error']['ours']:.1e} ({row['rel_error']['ours'] / row['eps']:.1f}) | "
              f"{best['blocks']:.3f}, {best['full'] / best['blocks']:.2f}x | {nt_cells} |")
    nt_rows = [row for row in rows if any(k.startswith("nt-") for k in row["best"]) or row.get("failed")]
    if nt_rows:
        print("\n| n | width | neural-tangents implementation | best (s) | ours vs it (per-round range) | "
              "rel. error vs full | first call incl. compilation (s) |\n|---|---|---|---|---|---|---|")
    for row in nt_rows:
        for name in (k for k in row["best"] if k.startswith("nt-")):
            tile = row["tiles"].get(name)
            how = f" (one {tile}x{tile} tile x {(row['n'] / tile) ** 2:.0f})" if tile else ""
            print(f"| {row['n']} | {row['width']} | {name[3:]}{how} | {row['best'][name]:.3f} | "
                  f"{row['best'][name] / row['best']['ours']:.2f}x ({row['ratio_range'][name][0]:.2f}-"
                  f"{row['ratio_range'][name][1]:.2f}) | {row['rel_error'][name]:.1e} | {row['first_call_s'][name]:.1f} |")
        for name, why in row.get("failed", {}).items():
            print(f"| {row['n']} | {row['width']} | {name[3:]} | failed: {why} | - | - | - |")


def growth_table(sizes: list[tuple[int, int]], repeats: int) -> list[dict]:
    rows = []
    for n, width in sizes:
        torch.manual_seed(0)
        model, x = models.MLP(IN_FEATURES, width, DEPTH), torch.randn(n, IN_FEATURES)
        ntk.empirical_ntk(model, x[:16], dtype=torch.float32)
        seconds = best_time(lambda: ntk.empirical_ntk(model, x, dtype=torch.float32), repeats)
        rows.append({"n": n, "width": width, "seconds": seconds, "gflops": mlp_path_flops(n, width) / seconds / 1e9})
    return rows


def in_subprocess(case: dict) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if case.get("threads") == 1:  # XLA's CPU client on one thread too (read when jax starts)
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
    out = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help="internal: run one case (JSON) and print its result")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--symmetric", action="store_true", help="only the one-triangle vs full-products A/B")
    parser.add_argument("--threads", type=int, help="with --symmetric: torch threads (1: CPU time is reported)")
    parser.add_argument("--sizes", nargs="+", metavar="NxWIDTH", help="with --symmetric: only these float64 shapes, "
                        "e.g. 1024x1024 (issue 24's comparison with neural-tangents)")
    parser.add_argument("--rounds", type=int, help="with --symmetric: alternated rounds (default 7, --quick 3)")
    args = parser.parse_args()
    if args.case:
        case = json.loads(args.case)
        if case["model"] == "growth":
            print(json.dumps(growth_table(case["sizes"], case["repeats"])))
        elif case["model"] == "symmetric":
            print(json.dumps(symmetric_ab([tuple(size) for size in case["sizes"]], case["repeats"], case.get("threads"))))
        else:
            print(json.dumps(run_case(case)))
        return
    symmetric_sizes = ([(128, 128, "float64"), (256, 256, "float64"), (256, 32, "float32")] if args.quick else
                       [(256, 512, "float64"), (1024, 512, "float64"), (1024, 1024, "float64"),
                        (1024, 2048, "float64"), (256, 32, "float32"), (256, 256, "float32")])
    if args.symmetric:
        print(f"Machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; "
              f"load average before {os.getloadavg()[0]:.1f}")
        if args.sizes:
            symmetric_sizes = [(*map(int, size.lower().split("x")), "float64") for size in args.sizes]
        rounds = args.rounds or (3 if args.quick else 7)
        print_symmetric(in_subprocess({"model": "symmetric", "sizes": symmetric_sizes, "repeats": rounds,
                                       "threads": args.threads}))
        print(f"load average after {os.getloadavg()[0]:.1f}")
        return

    wall = time.perf_counter()
    torch_threads = torch.get_num_threads()
    if args.quick:
        mlp_cases = [(64, 128), (128, 128)]
        tutorial_plan = {(64, 128): {}, (128, 128): {"block": 64}}
        growth = [(64, 128), (128, 128), (128, 256)]
        cnn_n = 32
    else:
        mlp_cases = [(256, 512), (1024, 512), (1024, 2048)]
        tutorial_plan = {(256, 512): {}, (1024, 512): {"block": 256, "pairs": 2},
                         (1024, 2048): {"block": 32, "pairs": 2}}
        growth = [(n, 512) for n in (256, 512, 1024, 2048, 4096)] + [(1024, w) for w in (256, 1024, 2048)]
        cnn_n = 256

    rows = []
    for n, width in mlp_cases:
        ours = in_subprocess({"model": "mlp", "method": "ours", "n": n, "width": width, "repeats": 8})
        tut = in_subprocess({"model": "mlp", "method": "tutorial", "n": n, "width": width, "repeats": 1,
                             **tutorial_plan[(n, width)]})
        rows.append((ours, tut))
        print(f"# mlp n={n} width={width}: ours {ours['seconds']:.3f}s, tutorial {tut['seconds']:.1f}s", file=sys.stderr)
    growth_rows = in_subprocess({"model": "growth", "sizes": growth, "repeats": 3})
    cnn_ours = in_subprocess({"model": "cnn", "method": "ours", "n": cnn_n, "repeats": 6, "accuracy": True})
    cnn_tut = in_subprocess({"model": "cnn", "method": "tutorial", "n": cnn_n, "repeats": 1, "accuracy": True})
    symmetric_rows = in_subprocess({"model": "symmetric", "sizes": symmetric_sizes, "repeats": 3 if args.quick else 7})

    gb = lambda b: f"{b / 1e9:.2f}"  # noqa: E731
    print(f"Machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch_threads} threads, float32; "
          f"load average at the end {os.getloadavg()[0]:.1f}; benchmark wall time {time.perf_counter() - wall:.0f} s.\n")
    print("| n | width | params | ours (s) | ours peak (GB) | GFLOP/s ours | GFLOP/s mm | ratio | tutorial (s) | tutorial peak (GB) | tutorial run | speedup |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for ours, tut in rows:
        achieved = ours["flops"] / ours["seconds"]
        run = "whole" if not tut["blocked"] else (
            f"blocks of {tut['block']}" + (f", {tut['pairs']} pairs timed, x{tut['extrapolation']:.0f}" if tut["extrapolation"] > 1 else ""))
        print(f"| {ours['n']} | {ours['width']} | {ours['params']} | {ours['seconds']:.3f} | {gb(ours['peak_bytes'])} | "
              f"{achieved / 1e9:.0f} | {ours['mm_flops_per_s'] / 1e9:.0f} | {achieved / ours['mm_flops_per_s']:.0%} | "
              f"{tut['seconds']:.1f} | {gb(tut['peak_bytes'])} | {run} | {tut['seconds'] / ours['seconds']:.0f}x |")
    print("\n| n | width | MLP path (s) | GFLOP/s |\n|---|---|---|---|")
    for row in growth_rows:
        print(f"| {row['n']} | {row['width']} | {row['seconds']:.3f} | {row['gflops']:.0f} |")
    print(f"\nCNN ({cnn_ours['params']} params, n = {cnn_n}, 28x28): general path {cnn_ours['seconds']:.2f} s "
          f"(peak {gb(cnn_ours['peak_bytes'])} GB, rel. error vs float64 {cnn_ours['rel_error']:.1e}); tutorial "
          f"{cnn_ours['tutorial_seconds_interleaved']:.2f} s (interleaved with ours; alone {cnn_tut['seconds']:.2f} s; peak "
          f"{gb(cnn_tut['peak_bytes'])} GB, rel. error {cnn_tut['rel_error']:.1e}); "
          f"speedup {cnn_ours['tutorial_seconds_interleaved'] / cnn_ours['seconds']:.1f}x")
    print_symmetric(symmetric_rows)


if __name__ == "__main__":
    main()
