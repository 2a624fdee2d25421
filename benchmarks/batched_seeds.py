"""Batched against per-seed training jobs, start-up included, as Snakemake runs them.

    python benchmarks/batched_seeds.py [--device cpu|cuda] [--widths 32 64 128 256] [--seeds 8] [--steps 2000]
                                       [--n 256] [--data mnist5k|synthetic] [--repeats 1] [--cnn [BATCH_SIZE ...]]
    GPU (paper-like): --device cuda --widths 512 1024 2048 4096 --n 2000 --data synthetic

For each width it trains the same work, `seeds` runs of one condition (5-layer MLP, full-batch GD,
calibrated eta, the default config's training settings), twice:
    per-seed  `seeds` fresh Python processes one after the other, each lplr.train.train_run of one seed
    batched   one fresh Python process, lplr.train.train_batch of all seeds (the batched stepper)
Each process is started as Snakemake's script jobs are (a new interpreter that imports torch and lplr,
loads the prepared data and writes the run's files), so the start-up users wait for is counted; the
process wall time is measured from outside. Snakemake's own per-job cost (its script preamble, the job
scheduling) is not included: it is the same per job for both modes, so the ratio here is conservative.
Printed: wall time per mode, the ratio per-seed / batched (> 1: batched is faster) and the start-up of
one empty job (interpreter + imports + data load). And the bound: the training step's matrix products
(benchmarks/train_throughput.py's FLOP count) at the rate the faster of torch.mm per seed and torch.bmm
over the seeds runs those very products here, in this process, with the same threads ("mm GFLOP/s"); "batched GFLOP/s" is that FLOP count over the batched job's
time less one start-up, and "ceiling" = per-seed time / (start-up + the products at the mm rate): no
scheduling of the same arithmetic on these threads beats it (sharpness tracking, evaluation and the
update come on top). Jobs run one at a time with `--threads` each (1, as
the rules' `threads: 1`), so the ratio is about the same work, not about parallelism.
Data: mnist5k (the default config's prepared set: digits 0/1, unit-norm, n up to ~1000) or synthetic
unit-norm Gaussian images (28x28) with planted labels, for n beyond mnist5k (the GPU shapes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from train_throughput import best_time, step_flops, step_matmuls

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PER_SEED = ("import json, sys; from lplr.train import train_run; a = json.loads(sys.argv[1]); "
            "train_run(a['settings'], a['data'], a['out'], device=a['device'], threads=a['threads'])")
BATCHED = ("import json, sys; from lplr.train import train_batch; a = json.loads(sys.argv[1]); "
           "train_batch(a['runs'], a['data'], a['outs'], a['resume'], device=a['device'], threads=a['threads'])")
STARTUP = ("import json, sys; import lplr.train, lplr.batched; from lplr.data import load_prepared; "
           "a = json.loads(sys.argv[1]); load_prepared(a['data'], device=a['device'])")


def prepare_data(folder: Path, kind: str, n: int, overrides: dict | None = None) -> Path:
    from lplr.data import prepare
    from lplr.io import sha256_file, torch_save, write_json

    if kind == "mnist5k":
        settings = {**yaml.safe_load((ROOT / "config.yaml").read_text())["data"], **(overrides or {}), "n_train": n,
                    "n_test": 256}
        prepare(settings, folder)
        return folder / "data.pt"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n + 256, 1, 28, 28, generator=g, dtype=torch.float64)
    x = x / x.flatten(1).norm(dim=1)[:, None, None, None]
    y = torch.sign(x.flatten(1) @ torch.randn(784, generator=g, dtype=torch.float64))
    folder.mkdir(parents=True, exist_ok=True)
    torch_save({"x_train": x[:n], "y_train": y[:n], "x_test": x[n:], "y_test": y[n:]}, folder / "data.pt")
    write_json(folder / "manifest.json", {"file": "data.pt", "sha256": sha256_file(folder / "data.pt")})
    return folder / "data.pt"


def spawn(code: str, payload: dict) -> float:
    """Wall time of one fresh interpreter running `code`, as a Snakemake script job runs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, json.dumps(payload)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def matmul_rate(n: int, dims: list[int], seeds: int, device: str) -> float:
    """GFLOP/s of one step's products (forward, weight and input gradients) by the faster of torch.mm per seed
    and torch.bmm over the seeds, best of 5 rounds: the rate no scheduling of these products beats here."""
    pairs = step_matmuls(n, dims, torch.float32, device)
    stacked = [(a.expand(seeds, *a.shape).contiguous(), b.expand(seeds, *b.shape).contiguous()) for a, b in pairs]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def per_seed():
        for a, b in pairs:
            torch.mm(a, b)

    def batched():
        for a, b in stacked:
            torch.bmm(a, b)

    per_seed(), batched()
    best = min(min(best_time(per_seed, 5, sync) for _ in range(5)),
               min(best_time(batched, 5, sync) for _ in range(5)) / seeds)
    return step_flops(n, dims) / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--data", choices=["mnist5k", "synthetic"], default="mnist5k")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (the rules use 1)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of both modes per width; best-of is reported")
    parser.add_argument("--cnn", type=int, nargs="*", metavar="BATCH_SIZE",
                        help="train E4's CNN (config.yaml's `cnn` experiment: its data and training settings, SGD) at "
                             "these batch sizes instead of MLP widths (default 64); no FLOP columns")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # the mm yardstick runs with the jobs' threads

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    base = {**config["training"], "width": 0, "steps": args.steps, "precision": "float32", "seed": 0}
    data_overrides, grid = {}, [{"width": width} for width in args.widths]
    if args.cnn is not None:
        cnn = config["experiments"]["cnn"]
        base = {**base, **cnn["training"]}
        data_overrides, grid = cnn.get("data", {}), [{"batch_size": b} for b in (args.cnn or [64])]
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, device {args.device}, {args.threads} thread(s) per job, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    model = (f"E4's CNN ({base['width']} channels, {base['depth']} blocks, SGD)" if args.cnn is not None
             else f"MLP depth {base['depth']}, full-batch GD")
    print(f"# {args.seeds} seeds, n = {args.n} ({args.data}), {args.steps} steps, {model}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = prepare_data(tmp / "data", args.data, args.n, data_overrides)
        common = {"device": args.device, "threads": args.threads}
        startup = min(spawn(STARTUP, {"data": str(data), **common}) for _ in range(2))
        print(f"# start-up of one job (interpreter, imports, data load): {startup:.1f} s")
        key = next(iter(grid[0]))
        print(f"| {key} | per-seed jobs (s) | batched job (s) | per-seed / batched | batched GFLOP/s | mm GFLOP/s | ceiling |")
        print("|---|---|---|---|---|---|---|")
        for point in grid:
            per_seed, batched = [], []
            for round_ in range(args.repeats):
                runs = {f"seed={s}": {**base, **point, "seed": s} for s in range(args.seeds)}
                out = tmp / f"{key}{point[key]}r{round_}"
                per_seed.append(sum(spawn(PER_SEED, {"settings": settings, "data": str(data),
                                                     "out": str(out / "single" / run), **common})
                                    for run, settings in runs.items()))
                batched.append(spawn(BATCHED, {"runs": runs, "data": {r: str(data) for r in runs},
                                               "outs": {r: str(out / "batched" / r) for r in runs},
                                               "resume": str(out / "batched.resume.pt"), **common}))
            ratio = f"| {point[key]} | {min(per_seed):.1f} | {min(batched):.1f} | {min(per_seed) / min(batched):.2f}x |"
            if args.cnn is not None:
                print(ratio + " | | |", flush=True)
                continue
            dims = [784] + [point["width"]] * (base["depth"] - 1) + [1]
            work = args.seeds * args.steps * step_flops(args.n, dims) / 1e9  # GFLOP of the training steps' products
            rate = matmul_rate(args.n, dims, args.seeds, args.device)
            print(f"{ratio} {work / (min(batched) - startup):.0f} | {rate:.0f} | "
                  f"{min(per_seed) / (startup + work / rate):.2f}x |", flush=True)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
