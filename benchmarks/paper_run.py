"""One run of a config's experiment, trained and probed as its jobs would, timed: what one seed costs here.

    python benchmarks/paper_run.py [--configfile configs/paper.yaml] [--experiment width] [--width 4096]
                                   [--seed 0] [--device cuda] [--steps N] [--out DIR]
    python benchmarks/paper_run.py ... --save-run run.json      here: resolve the run's settings only
    python benchmarks/paper_run.py --run run.json --device cuda  there: a machine without snakemake/jsonschema

The run's settings are the config's (config.yaml updated by --configfile and validated, as Snakemake
does, by lplr.preflight.load_config), with `--steps` to shorten it. A bare GPU image without snakemake
takes them from a file `--save-run` wrote where the project is installed (benchmarks/gpu_check.sh). Data: synthetic 28x28 images (benchmarks/batched_seeds.py's: unit-norm Gaussian
pixels, planted linear labels) with the config's n_train, since the GPU machines here cannot download
MNIST; the timing depends on the shapes, not on the pixels, but the loss curve is not the paper's.
Printed: training wall time, steps/s and the projected time of the config's full step count, the probe's
wall time (float64 NTK, eigh and PL audit at every checkpoint) and peak device memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from batched_seeds import prepare_data

ROOT = Path(__file__).resolve().parents[1]


def resolve_run(args) -> dict:
    """The run of `args.experiment` with `args.seed` and `args.width` (default: the widest) in the config."""
    from lplr.config import data_settings, experiment_runs
    from lplr.preflight import load_config

    config = load_config([args.configfile])
    runs = [s for s in experiment_runs(config, args.experiment).values() if s["seed"] == args.seed]
    if not runs:
        sys.exit(f"experiment {args.experiment!r} of {args.configfile} has no run with seed {args.seed}")
    width = args.width or max(s["width"] for s in runs)
    matching = [s for s in runs if s["width"] == width]
    if not matching:
        sys.exit(f"experiment {args.experiment!r} has no run of width {width}; its widths: "
                 f"{sorted({s['width'] for s in runs})}")
    return {"config": args.configfile, "experiment": args.experiment, "settings": matching[0],
            "n": data_settings(config, args.experiment)["n_train"], "ntk": config["ntk"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default=str(ROOT / "configs/paper.yaml"))
    parser.add_argument("--experiment", default="width")
    parser.add_argument("--width", type=int, help="the run of this width (default: the experiment's widest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, help="train this many steps instead of the config's")
    parser.add_argument("--out", help="keep the run's files here (default: a temporary folder)")
    parser.add_argument("--save-run", help="write the resolved run (settings, n, ntk settings) to this JSON file and stop")
    parser.add_argument("--run", help="train and probe the run of this JSON file (from --save-run)")
    args = parser.parse_args()

    run = json.loads(Path(args.run).read_text()) if args.run else resolve_run(args)
    if args.save_run:
        Path(args.save_run).write_text(json.dumps(run, indent=1))
        return
    settings, n, ntk_settings = dict(run["settings"]), run["n"], run["ntk"]
    full_steps = settings["steps"]
    if args.steps:
        settings["steps"] = args.steps

    from lplr.probe import probe_run
    from lplr.train import train_run

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        data = prepare_data(out / "data", "synthetic", n)
        cuda = args.device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        manifest = train_run(settings, data, out / "train", device=args.device)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        probe_run(out / "train", data, out / "spectrum.csv", out / "eigenvalues.npz", ntk_settings["probe_size"],
                  ntk_settings["probe_seed"], ntk_settings["audit_eps"], device=args.device)
        probe_s = time.perf_counter() - start
        report = {
            "config": run["config"], "experiment": run["experiment"], "width": settings["width"],
            "seed": settings["seed"], "n": n,
            "device": manifest["device"], "gpu": torch.cuda.get_device_name() if cuda else None,
            "params": manifest["param_count"], "steps": settings["steps"], "status": manifest["status"],
            "train_s": round(train_s, 1), "steps_per_s": round(settings["steps"] / train_s, 1),
            "projected_train_s_at_config_steps": round(train_s * full_steps / settings["steps"], 1),
            "probe_s": round(probe_s, 1), "checkpoints": len(manifest["checkpoint_steps"]),
            "peak_device_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
            "torch": torch.__version__,
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
