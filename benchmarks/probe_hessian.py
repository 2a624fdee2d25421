"""The probe's Hessian (lplr.probe.HESSIAN_LANCZOS) against the one it replaced, on real checkpoints.

    python benchmarks/probe_hessian.py [--steps 2000] [--widths 32 256] [--eos-widths 32 256]

Trains, with lplr.train.train_run, the default E1 run at each of --widths (5-layer MLP, n = 256 embedded
MNIST pixels, eta = 0.01, 12 log-spaced checkpoints and the loss-level ones) and the edge-of-stability run at
each of --eos-widths (eta lambda_max(Theta_0)/n = 1); then at every checkpoint, in float64, one thread:
    new        the probe's: double-backward products from the Gauss-Newton top direction J^T u, stopped once
               |H v - lambda v| <= 1e-6 lambda (at least 4, at most 40 products)
    previous   what the probe did before (commit dc70fc5): 20 Lanczos steps of forward-over-reverse products
               (torch.func jvp of grad), warm-started from the previous checkpoint's eigenvector
    reference  60 Lanczos steps from a seeded random vector (double backward)
and prints per run: the products `new` took (min-max), the largest relative difference of new and of
previous from the reference, and the time of each over the checkpoints, with their ratio. Times are of this
process on a possibly shared machine (the load average is printed): read the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from lplr import ntk
from lplr.data import load_prepared, prepare
from lplr.hessian import gauss_newton_direction, hessian_top_converged, hessian_top_eigenvalue
from lplr.io import read_json
from lplr.probe import HESSIAN_LANCZOS, load_checkpoint
from lplr.train import train_run


def compare(run_dir: Path, x: torch.Tensor, y: torch.Tensor) -> dict:
    manifest = read_json(run_dir / "manifest.json")
    out = {"steps": [], "err_new": 0.0, "err_previous": 0.0, "t_new": 0.0, "t_previous": 0.0, "hessian_over_gn_0": None}
    previous_vector = None
    for step in manifest["checkpoint_steps"]:
        model = load_checkpoint(run_dir / "checkpoints" / f"step_{step:07d}.pt", manifest["settings"], tuple(x.shape[1:]))
        evals, evecs = torch.linalg.eigh(ntk.empirical_ntk(model, x))
        start = time.perf_counter()
        ritz = hessian_top_converged(model, x, y, gauss_newton_direction(model, x, evecs[:, -1]), **HESSIAN_LANCZOS)
        out["t_new"] += time.perf_counter() - start
        start = time.perf_counter()
        previous, previous_vector = hessian_top_eigenvalue(model, x, y, v0=previous_vector)
        out["t_previous"] += time.perf_counter() - start
        reference, _ = hessian_top_eigenvalue(model, x, y, steps=60, hvp="autograd")
        out["steps"].append(ritz.steps)
        out["err_new"] = max(out["err_new"], abs(ritz.value - reference) / abs(reference))
        out["err_previous"] = max(out["err_previous"], abs(previous - reference) / abs(reference))
        if out["hessian_over_gn_0"] is None:
            out["hessian_over_gn_0"] = reference / (float(evals[-1]) / len(x))
    out["checkpoints"] = len(manifest["checkpoint_steps"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--eos-widths", type=int, nargs="+", default=[32, 256])
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        prepare({"dataset": "mnist5k", "classes": [0, 1], "n_train": 256, "n_test": 256, "normalization": "pixels",
                 "seed": 0, "root": "data"}, Path(scratch) / "data")
        data_file = Path(scratch) / "data" / "data.pt"
        data = load_prepared(data_file, dtype=torch.float64)
        base = dict(arch="mlp", depth=5, init="he", parametrization="standard", optimizer="gd", lr_mode="fixed",
                    lr=0.01, steps=args.steps, checkpoints=12, loss_checkpoints=[0.1, 0.01, 0.001], metrics_block=256,
                    resume_every=10**9, sharpness_every=20, sharpness_iterations=10, precision="float32", seed=0)
        runs = {f"E1 width {w}": {**base, "width": w} for w in args.widths}
        runs |= {f"EoS width {w}": {**base, "width": w, "lr_mode": "calibrated", "lr": 1.0} for w in args.eos_widths}
        print(f"load average {os.getloadavg()[0]:.1f}; {args.steps} steps; float64, 1 thread")
        print(f"{'run':>14} {'probes':>6} {'products':>9} {'new err':>9} {'prev. err':>9} {'new s':>7} {'prev. s':>7} "
              f"{'prev./new':>9} {'H/GN at 0':>9}")
        total_new = total_previous = 0.0
        for name, settings in runs.items():
            run_dir = Path(scratch) / name.replace(" ", "_")
            train_run(settings, data_file, run_dir, device="cpu", threads=1)
            r = compare(run_dir, data["x_train"], data["y_train"])
            total_new, total_previous = total_new + r["t_new"], total_previous + r["t_previous"]
            print(f"{name:>14} {r['checkpoints']:>6} {min(r['steps']):>4}-{max(r['steps']):<4} {r['err_new']:>9.1e} "
                  f"{r['err_previous']:>9.1e} {r['t_new']:>7.2f} {r['t_previous']:>7.2f} "
                  f"{r['t_previous'] / r['t_new']:>9.2f} {r['hessian_over_gn_0']:>9.3f}")
        print(f"{'all':>14} {'':>6} {'':>9} {'':>9} {'':>9} {total_new:>7.2f} {total_previous:>7.2f} "
              f"{total_previous / total_new:>9.2f}")


if __name__ == "__main__":
    main()
