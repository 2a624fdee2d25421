"""Fewer first-layer FLOPs in training (lplr.columns): the zero input columns skipped
(training.skip_zero_columns), and W_1 turned onto the training inputs' row space (training.train_in_row_space).

    python benchmarks/zero_columns.py [--widths 32 64 128 256] [--seeds 8] [--steps 300] [--rounds 2]
                                      [--threads 1] [--device cpu|cuda] [--no-probe]

Training: for each width, the default E1 job (config.yaml's `training` block: 5-layer MLP, He init, GD at
eta = 0.01, sharpness every 20 steps, the loss-level checkpoints; n = 256 embedded MNIST pixels, float32,
`seeds` seeds batched in one job, each on its own training subset as data.seed: per_run draws them) by
lplr.train.train_job in three arms, interleaved round by round in THIS process (the order rotates):
"full" (both off: the engine before issue 24), "columns" (the skip only) and "row space" (both on: the
default). Printed: steps/s of each (median over rounds), the ratios to "full", and how far each agrees with
"full": the largest relative difference of the loss and the test loss over all seeds and steps (summation
order, lplr.columns); then the jobs' summed time over the widths per arm, the issue's measure (target: >= 20%
lower). `--steps` < 2000 shortens every job alike, so the ratio is the default jobs' up to their start-up
and checkpoint writes.
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


ARMS = {"full": {"skip_zero_columns": False, "train_in_row_space": False},
        "columns": {"skip_zero_columns": True, "train_in_row_space": False},
        "row space": {"skip_zero_columns": True, "train_in_row_space": True}}


def difference(scratch: Path, width: int, arm: str, column: str, seeds: int) -> float:
    """max |a - b| / |b| of a metrics column, `arm` (a) against "full" (b), over the first round's seeds and steps."""
    worst = 0.0
    for seed in range(seeds):
        a, b = (pd.read_csv(scratch / f"w{width}-{name}-0" / f"seed={seed}" / "metrics.csv")[column]
                for name in (arm, "full"))
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
    arms = list(ARMS)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = datasets(scratch / "data", list(range(args.seeds)))
        zero, d = zero_columns(data)
        print(f"load average {os.getloadavg()[0]:.1f}; {args.seeds} seeds batched, {args.steps} steps, "
              f"{args.threads} thread(s), device {args.device}; {zero} of {d} input columns zero in every "
              "training subset of the job")
        print(f"{'width':>6} " + " ".join(f"{'steps/s ' + arm:>18}" for arm in arms)
              + " " + " ".join(f"{'x ' + arm:>11}" for arm in arms[1:])
              + " " + " ".join(f"{'diff ' + arm + ' loss/test':>26}" for arm in arms[1:])
              + ("" if args.no_probe else f" {'probe s skip':>13} {'probe s full':>13} {'speed-up':>9}"))
        totals = dict.fromkeys(arms, 0.0)
        probe_totals = {True: 0.0, False: 0.0}
        for width in args.widths:
            times = {arm: [] for arm in arms}
            probes = {True: [], False: []}
            for round_ in range(args.rounds):
                for arm in arms[round_ % 3:] + arms[:round_ % 3]:
                    out = scratch / f"w{width}-{arm}-{round_}"
                    times[arm].append(train({**base, "width": width, **ARMS[arm]}, data, out, args.device))
            run = scratch / f"w{width}-columns-0" / "seed=0"
            if not args.no_probe and width == args.widths[0]:  # warm-up (first calls of torch.func, imports)
                probe(run, data[0], scratch / "warm-up", True, args.device)
            for round_ in range(0 if args.no_probe else args.rounds):
                for skip in ((True, False) if round_ % 2 == 0 else (False, True)):
                    probes[skip].append(probe(run, data[0], scratch / f"p{width}-{skip}-{round_}", skip, args.device))
            t = {arm: statistics.median(v) for arm, v in times.items()}
            line = (f"{width:>6} " + " ".join(f"{args.steps / t[arm]:>18.2f}" for arm in arms)
                    + " " + " ".join(f"{t['full'] / t[arm]:>10.2f}x" for arm in arms[1:])
                    + " " + " ".join(f"{difference(scratch, width, arm, 'loss', args.seeds):>17.1e}/"
                                     f"{difference(scratch, width, arm, 'test_loss', args.seeds):.1e}"
                                     for arm in arms[1:]))
            for arm in arms:
                totals[arm] += t[arm]
            if not args.no_probe:
                p = {skip: statistics.median(v) for skip, v in probes.items()}
                line += f" {p[True]:>13.2f} {p[False]:>13.2f} {p[False] / p[True]:>8.2f}x"
                for skip in p:
                    probe_totals[skip] += p[skip]
            print(line, flush=True)
        print("summed training time: " + ", ".join(f"{arm} {totals[arm]:.1f} s" for arm in arms) + "; "
              + ", ".join(f"{arm} {100 * (1 - totals[arm] / totals['full']):.1f}% lower than full" for arm in arms[1:]))
        if not args.no_probe:
            print(f"summed probe time: skip {probe_totals[True]:.1f} s, full {probe_totals[False]:.1f} s: "
                  f"{100 * (1 - probe_totals[True] / probe_totals[False]):.1f}% lower with the skip")


if __name__ == "__main__":
    main()
