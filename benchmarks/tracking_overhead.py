"""What tracking the sharpness or lambda_min and catching the loss-level checkpoints costs a training run.

    python benchmarks/tracking_overhead.py [--widths 64 256] [--steps 600] [--rounds 3] [--device cpu|cuda]
                                           [--variants baseline hessian ...]

For each width it trains the default E1 run (5-layer MLP, n = 256 embedded MNIST pixels, eta = 0.01) with
lplr.train.train_run in these variants (or those named by --variants; baseline always), interleaved round by
round in one process, and prints the median over rounds of each variant's wall time over the baseline's (the
same run with none of the tracking):
    baseline    sharpness_every = 0, no loss_checkpoints
    sharpness   sharpness_every = 20, 10 power iterations (the default config)
    tracking    sharpness as above, and loss_checkpoints [0.1, 0.01, 0.001] (the default config)
    lambda_min  lambda_min_every = 20 alone: the float32 n x n kernel and its eigvalsh every 20 steps
    hessian     hessian_every = 20 alone: 5 warm-started Lanczos steps on Hessian-vector products (20 the first time)
    eos         the width_eos arm's tracking: sharpness, loss_checkpoints and lambda_min_every = 20
    eos_hessian eos and hessian_every = 20 (configs/full-cpu.yaml's width_eos); also printed over eos
Ratios, not times: other work may share the machine (the load average is printed). Threads: 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from lplr.data import prepare
from lplr.train import train_run

VARIANTS = {"baseline": {"sharpness_every": 0, "loss_checkpoints": []},
            "sharpness": {"sharpness_every": 20, "sharpness_iterations": 10, "loss_checkpoints": []},
            "tracking": {"sharpness_every": 20, "sharpness_iterations": 10, "loss_checkpoints": [0.1, 0.01, 0.001]},
            "lambda_min": {"sharpness_every": 0, "lambda_min_every": 20, "loss_checkpoints": []},
            "hessian": {"sharpness_every": 0, "hessian_every": 20, "loss_checkpoints": []},
            "eos": {"sharpness_every": 20, "sharpness_iterations": 10, "lambda_min_every": 20,
                    "loss_checkpoints": [0.1, 0.01, 0.001]},
            "eos_hessian": {"sharpness_every": 20, "sharpness_iterations": 10, "lambda_min_every": 20, "hessian_every": 20,
                            "loss_checkpoints": [0.1, 0.01, 0.001]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    variants = {name: VARIANTS[name] for name in VARIANTS if name == "baseline" or name in args.variants}
    names = list(variants)[1:] + (["eos_hessian/eos"] if {"eos", "eos_hessian"} <= set(variants) else [])
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        prepare({"dataset": "mnist5k", "classes": [0, 1], "n_train": 256, "n_test": 256, "normalization": "pixels",
                 "seed": 0, "root": "data"}, data)
        base = dict(arch="mlp", depth=5, init="he", parametrization="standard", optimizer="gd", lr_mode="fixed",
                    lr=0.01, steps=args.steps, checkpoints=12, metrics_block=256, resume_every=10**9,
                    precision="float32", seed=0)
        print(f"load average {os.getloadavg()[0]:.1f}; {args.steps} steps, 1 thread, device {args.device}")
        print(f"{'width':>6} {'baseline s':>11}" + "".join(f" {name if '/' in name else name + ' / baseline':>22}"
                                                          for name in names))
        for width in args.widths:
            times = {name: [] for name in variants}
            for round_ in range(args.rounds):
                for name, extra in variants.items():
                    out = Path(scratch) / f"{width}-{name}-{round_}"
                    start = time.perf_counter()
                    train_run({**base, **extra, "width": width}, data / "data.pt", out, device=args.device, threads=1)
                    times[name].append(time.perf_counter() - start)
            ratio = {name: statistics.median(t / b for t, b in zip(times[name], times["baseline"])) for name in variants}
            if "eos_hessian/eos" in names:  # the Hessian's cost on top of the rest of the arm's tracking
                ratio["eos_hessian/eos"] = statistics.median(t / b for t, b in zip(times["eos_hessian"], times["eos"]))
            print(f"{width:>6} {statistics.median(times['baseline']):>11.2f}"
                  + "".join(f" {ratio[name]:>22.3f}" for name in names))


if __name__ == "__main__":
    main()
