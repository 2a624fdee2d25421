"""What a CPU config costs, from its pieces: core-seconds measured alone on one thread (process CPU time).

    python benchmarks/cpu_cost.py [--configfile configs/paper-cpu.yaml] [--steps 100]

For each width of the config's `width` experiment, on its data (the embedded images at its n_train):
a training step of the DAG's batched engine (one seed; `steps` steps minus 10, so start-up cancels), a
float64 Hessian-vector product of the loss (the probe's Hessian: 20 Lanczos steps at the first and last
checkpoint) and the float64 NTK with its eigh (one probe checkpoint). Prints them as JSON; the model that
turns them into a wall time is in docs/paper-scale.md. Process CPU time, so a loaded machine inflates
them little; on two threads a job runs about 1.8x faster than on one (OUR assumption there).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from lplr import models, ntk
from lplr.config import experiment_runs
from lplr.data import load_prepared, prepare
from lplr.hessian import loss_hvp
from lplr.preflight import load_config
from lplr.train import train_job

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(call) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(ROOT / "configs/paper-cpu.yaml"))
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config([args.configfile])
    runs = {s["width"]: s for s in experiment_runs(config, "width").values() if s["seed"] == 0}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare({**config["data"], "seed": 0}, tmp / "data")
        data = tmp / "data" / "data.pt"
        tensors = load_prepared(data, dtype=torch.float64)
        x, y = tensors["x_train"].flatten(1), tensors["y_train"]
        for width, settings in sorted(runs.items()):
            def train(steps: int):
                short = dict(settings, steps=steps, checkpoints=2, loss_checkpoints=[])
                out = tmp / f"{width}-{steps}"
                train_job({"r": short}, {"r": data}, {"r": out}, out / "resume.pt", stepper="batched", device="cpu",
                          threads=1)
            step = (cpu_seconds(lambda: train(args.steps + 10)) - cpu_seconds(lambda: train(10))) / args.steps
            torch.manual_seed(0)
            model = models.MLP(x.shape[1], width, settings["depth"]).double()
            hvp, flat = loss_hvp(model, x, y)
            vector = torch.randn_like(flat)
            hvp(vector)  # warm-up
            rows.append({"width": width, "n": len(x), "train_step_s": round(step, 4),
                         "hvp_f64_s": round(cpu_seconds(lambda: hvp(vector)), 3),
                         "ntk_eigh_f64_s": round(cpu_seconds(lambda: torch.linalg.eigh(
                             ntk.empirical_ntk(model, x, dtype=torch.float64))), 3)})
            print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
