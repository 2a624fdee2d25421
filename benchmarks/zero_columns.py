"""Skipping the input columns that are zero at every training point (training.skip_zero_columns, lplr.columns).

    python benchmarks/zero_columns.py [--widths 32 64 128 256] [--seeds 8] [--steps 300] [--rounds 2]
                                      [--threads 1] [--device cpu|cuda] [--no-probe]

Training: for each width, the default E1 job (config.yaml's `training` block: 5-layer MLP, He init, GD at
eta = 0.01, sharpness every 20 steps, the loss-level checkpoints; n = 256 embedded MNIST pixels, float32,
`seeds` seeds batched in one job, each on its own training subset as data.seed: per_run draws them) by
lplr.train.train_job, with the skip and without, interleaved round by round in THIS process. Printed:
steps/s of each (median over rounds) and the ratio, and how far the two agree: the largest relative
difference of the loss and the test loss over all seeds and steps (summation order, lplr.columns); then the
jobs' summed time over the widths with and without, the issue's measure (target: >= 20% lower). `--steps` < 2000 shortens every job alike, so the
ratio is the default jobs' up to their start-up and checkpoint writes.
Probe: lplr.probe.probe_run of one seed's run per width (its 12+ checkpoints, float64 kernel, PL audit,
Hessian at the ends), with and without the skip (the manifest's setting), same interleaving.
Ratios, not times: the machine may be shared (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from lplr.data import prepare
from lplr.io import read_json, write_json
from lplr.probe import probe_run
from lplr.train import train_job

ROOT = Path(__file__).resolve().parents[1]


def datasets(folder: Path, seeds: list[int]) -> dict[int, Path]:
    """The default config's data, one training subset per seed (data.seed: per_run)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())["data"]
    out = {}
    for seed in seeds:
        prepare({**config, "seed": seed}, folder / str(seed))
        out[seed] = folder / str(seed) / "data.pt"
    return out


def zero_columns(data: dict[int, Path]) -> tuple[int, int]:
    """(columns zero in every seed's training subset, columns d)."""
    from lplr.columns import kept_columns
    from lplr.data import load_prepared

    xs = [load_prepared(f, device="cpu", dtype=torch.float32)["x_train"] for f in data.values()]
    kept = kept_columns(xs)
    d = xs[0][0].numel()
    return d - (d if kept is None else len(kept)), d


def train(settings: dict, data: dict[int, Path], out: Path, device: str) -> float:
    runs = {f"seed={s}": {**settings, "seed": s} for s in data}
    start = time.perf_counter()
    train_job(runs, {f"seed={s}": f for s, f in data.items()}, {r: out / r for r in runs}, out / "resume.pt",
              stepper="batched", device=device)
    return time.perf_counter() - start


def probe(train_dir: Path, data: Path, out: Path, skip: bool, device: str) -> float:
    manifest = read_json(train_dir / "manifest.json")
    manifest["settings"]["skip_zero_columns"] = skip  # the same checkpoints, the probe told to skip or not
    write_json(train_dir / "manifest.json", manifest)
    start = time.perf_counter()
    probe_run(train_dir, data, out / "spectrum.csv", out / "eigen.npz", probe_size=512, device=device)
    return time.perf_counter() - start


def difference(scratch: Path, width: int, column: str, seeds: int) -> float:
    """max |a - b| / |b| of a metrics column, skip (a) against full (b), over the first round's seeds and steps."""
    worst = 0.0
    for seed in range(seeds):
        a, b = (pd.read_csv(scratch / f"w{width}-{skip}-0" / f"seed={seed}" / "metrics.csv")[column] for skip in (True, False))
        worst = max(worst, float(np.nanmax(np.abs(a - b) / np.abs(b))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the rules use 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32", choices=["float32", "float64"])
    parser.add_argument("--no-probe", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    training = yaml.safe_load((ROOT / "config.yaml").read_text())["training"]
    base = {**training, "steps": args.steps, "precision": args.precision, "resume_every": 10**9}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = datasets(scratch / "data", list(range(args.seeds)))
        zero, d = zero_columns(data)
        print(f"load average {os.getloadavg()[0]:.1f}; {args.seeds} seeds batched, {args.steps} steps, "
              f"{args.threads} thread(s), device {args.device}; {zero} of {d} input columns zero in every "
              "training subset of the job")
        print(f"{'width':>6} {'steps/s skip':>13} {'steps/s full':>13} {'speed-up':>9} {'rel. diff loss':>15} "
              f"{'test loss':>10}"
              + ("" if args.no_probe else f" {'probe s skip':>13} {'probe s full':>13} {'speed-up':>9}"))
        totals = {True: 0.0, False: 0.0}
        probe_totals = {True: 0.0, False: 0.0}
        for width in args.widths:
            times = {True: [], False: []}
            probes = {True: [], False: []}
            for round_ in range(args.rounds):
                for skip in ((True, False) if round_ % 2 == 0 else (False, True)):
                    out = scratch / f"w{width}-{skip}-{round_}"
                    times[skip].append(train({**base, "width": width, "skip_zero_columns": skip}, data, out,
                                             args.device))
            if not args.no_probe and width == args.widths[0]:  # warm-up (first calls of torch.func, imports)
                probe(scratch / f"w{width}-True-0" / "seed=0", data[0], scratch / "warm-up", True, args.device)
            for round_ in range(0 if args.no_probe else args.rounds):
                for skip in ((True, False) if round_ % 2 == 0 else (False, True)):
                    run = scratch / f"w{width}-True-0" / "seed=0"
                    probes[skip].append(probe(run, data[0], scratch / f"p{width}-{skip}-{round_}", skip, args.device))
            t = {skip: statistics.median(v) for skip, v in times.items()}
            line = (f"{width:>6} {args.steps / t[True]:>13.2f} {args.steps / t[False]:>13.2f} "
                    f"{t[False] / t[True]:>8.2f}x {difference(scratch, width, 'loss', args.seeds):>15.1e} "
                    f"{difference(scratch, width, 'test_loss', args.seeds):>10.1e}")
            for skip in t:
                totals[skip] += t[skip]
            if not args.no_probe:
                p = {skip: statistics.median(v) for skip, v in probes.items()}
                line += f" {p[True]:>13.2f} {p[False]:>13.2f} {p[False] / p[True]:>8.2f}x"
                for skip in p:
                    probe_totals[skip] += p[skip]
            print(line, flush=True)
        print(f"summed training time: skip {totals[True]:.1f} s, full {totals[False]:.1f} s: "
              f"{100 * (1 - totals[True] / totals[False]):.1f}% lower with the skip")
        if not args.no_probe:
            print(f"summed probe time: skip {probe_totals[True]:.1f} s, full {probe_totals[False]:.1f} s: "
                  f"{100 * (1 - probe_totals[True] / probe_totals[False]):.1f}% lower with the skip")


if __name__ == "__main__":
    main()
