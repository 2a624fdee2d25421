"""Cluster requests (lplr.resources) against what the jobs used: Snakemake's `benchmark:` records.

    python benchmarks/resources.py [results]

For every training and probe job with a record (results/benchmarks/{train,probe}/<experiment>/<job>.tsv;
<job> is a run for per-seed jobs, a condition, or "seeds", for batched ones) it prints the measured wall
time and peak memory (max_rss) next to the request the SLURM profile makes for that job on a CPU (with the
job's seed count, first attempt), and the ratio request / measured: a ratio below 1 is a job the cluster
would kill. The sizes come from the runs' manifest.json.
"""

import sys
from pathlib import Path

import pandas as pd
import yaml

from lplr import resources
from lplr.formatting import RUN_ID_SEPARATOR
from lplr.io import read_json

root = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
probe_size = yaml.safe_load(Path("config.yaml").read_text())["ntk"]["probe_size"]
rows = []
for record in sorted(root.glob("benchmarks/*/*/*.tsv")):
    kind, experiment, job = record.parts[-3], record.parts[-2], record.stem
    train = root / "train" / experiment
    if (train / job).is_dir():  # a per-seed job
        runs = [job]
    else:  # a batched job: its condition's runs, or every run of a one-condition experiment
        pattern = "seed=*" if job == "seeds" else f"{job}{RUN_ID_SEPARATOR}seed=*"
        runs = sorted(p.name for p in train.glob(pattern) if p.is_dir())
    if not runs:
        print(f"{record}: no run folder under {train} for job {job!r}; skipped", file=sys.stderr)
        continue
    seeds = len(runs)
    manifest = read_json(train / runs[0] / "manifest.json")
    settings, n, params = manifest["settings"], manifest["n_train"], manifest["param_count"]
    width, depth, checkpoints = settings["width"], settings["depth"], len(manifest["checkpoint_steps"])
    measured = pd.read_csv(record, sep="\t").iloc[-1]
    if kind == "train":
        memory = resources.train_memory_mb(params, n, width, depth, seeds, "cpu")
        runtime = resources.train_runtime_min(params, n, settings["steps"], seeds, "cpu")
    else:
        n_probe = min(n, probe_size)
        memory = resources.probe_memory_mb(params, n_probe, width, depth, checkpoints, seeds, "cpu")
        runtime = resources.probe_runtime_min(params, n, n_probe, width, depth, checkpoints, seeds, "cpu")
    rows.append({"job": kind, "id": f"{experiment}/{job}", "seeds": seeds, "params": params, "wall_s": measured["s"],
                 "runtime_request_s": 60 * runtime, "time_ratio": 60 * runtime / measured["s"],
                 "max_rss_mb": measured["max_rss"], "mem_request_mb": memory, "mem_ratio": memory / measured["max_rss"]})
table = pd.DataFrame(rows)
print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
print("\nsmallest ratios (request / measured):")
print(table.groupby("job")[["time_ratio", "mem_ratio"]].min().to_string(float_format=lambda v: f"{v:.2f}"))
