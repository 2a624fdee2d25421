"""Pre-flight for an expensive config: what each condition will do, from Theta_0 alone, before any training.

    python -m lplr preflight --configfile configs/paper.yaml [--max-points 1000] [--out preflight.csv]

For the first seed of every condition of every enabled experiment: the initial sharpness
eta lambda_max(Theta_0) / n, and the decades the linearised model predicts within the step budget,

    L_T / L_0 = sum_i p_i (1 - eta lambda_i / n)^(2T) / sum_i p_i,   p_i = <r_0, u_i>^2,

from the eigenpairs (lambda_i, u_i) of Theta_0 and the initial residual r_0 (the NTK's lazy prediction; a
real run also sharpens and its kernel moves, so this is what the step budget allows a lazy run, no more).
The kernel is computed on the config's data when it is on disk; offline, an MNIST config falls back to the
embedded images (mnist5k, at most 1000: 500 per class) and says so. Every number then comes from a subset of
n' <= max_points points, where eta lambda_max(Theta_0) / n' estimates the full set's sharpness (lambda_max
grows about linearly with the number of points). Warnings: a sharpness already above 1 (outside the
theorem's eta <= 1/L), above 0.5 (progressive sharpening, typically 1.5-3x in our runs, can take it past 1),
and fewer than three predicted decades.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lplr import ntk
from lplr.config import condition_id, conditions, data_key, data_settings, enabled_experiments, experiment_runs, load_schema
from lplr.data import load_prepared, prepare
from lplr.formatting import format_number
from lplr.models import build_model
from lplr.validation import validate as validate_config

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_FALLBACK = {"mnist": "mnist5k"}  # downloaded set -> the embedded set with the same images
EMBEDDED_CAP = 1000  # mnist5k holds 500 images per digit: two classes give at most 1000
TARGET_DECADES = 3.0


def load_config(configfiles: list[str | Path], base: str | Path = ROOT / "config.yaml") -> dict:
    """config.yaml updated by each --configfile in turn, as Snakemake merges them, then validated; an error
    names the file (and for a YAML error the line) it came from."""
    from snakemake.utils import update_config

    from lplr.configfiles import key_source, read_config_files

    files = read_config_files([base, *configfiles])
    config = {}
    for mapping in files.values():
        update_config(config, mapping)
    return validate_config(config, load_schema(ROOT / "workflow/schemas/config.schema.yaml"),
                           source=lambda path: key_source(path, files, default=str(base)))


def on_disk(dataset: str, root: str | Path) -> bool:
    """Whether a downloaded data set is already in `root` (never downloads)."""
    if dataset in ("mnist5k", "digits"):
        return True
    from torchvision.datasets import CIFAR10, MNIST

    kind = {"mnist": MNIST, "cifar10": CIFAR10}[dataset]
    try:
        kind(str(root), train=True, download=False)
        return True
    except RuntimeError:
        return False


def preflight_data(settings: dict, max_points: int, folder: Path) -> tuple[dict | None, str]:
    """(prepared tensors, where they came from) for one experiment's data settings; (None, why) if impossible."""
    dataset, n = settings["dataset"], settings["n_train"]
    if not on_disk(dataset, settings["root"]):
        if dataset not in EMBEDDED_FALLBACK:
            return None, f"{dataset} is not in {settings['root']} and has no embedded stand-in (download it first)"
        dataset = EMBEDDED_FALLBACK[dataset]
        n = min(n, max_points, EMBEDDED_CAP)
        source = f"offline: {dataset} stand-in, {n} of {settings['n_train']} points (embedded cap {EMBEDDED_CAP})"
    else:
        n = min(n, max_points)
        source = f"{dataset}, {n} of {settings['n_train']} points"
    prepared = {**settings, "dataset": dataset, "n_train": n, "n_test": 0,  # no test split needed
                "seed": 0 if settings["seed"] == "per_run" else settings["seed"]}
    out = folder / data_key(prepared)
    out.mkdir(parents=True, exist_ok=True)
    prepare(prepared, out)
    return load_prepared(out / "data.pt", dtype=torch.float64), source


def linearised_decades(eigenvalues: np.ndarray, projections: np.ndarray, eta: float, n: int, steps: int) -> float:
    """-log10(L_T / L_0) of the linearised model r_T = (I - eta Theta_0 / n)^T r_0."""
    factors = np.abs(1 - eta * np.clip(eigenvalues, 0, None) / n)
    with np.errstate(divide="ignore"):
        log_terms = np.log(projections) + 2 * steps * np.log(factors)
    ratio = np.exp(np.logaddexp.reduce(log_terms) - np.logaddexp.reduce(np.log(projections)))
    return float(-math.log10(ratio)) if ratio > 0 else math.inf


def warnings_for(sharpness: float, decades: float, sgd: bool) -> str:
    notes = []
    if sharpness > 2:
        notes.append("sharpness > 2: GD diverges or runs at the edge of stability")
    elif sharpness > 1:
        notes.append("sharpness > 1: outside the theorem's eta <= 1/L from the start")
    elif sharpness > 0.5:
        notes.append("sharpness > 0.5: progressive sharpening may take it past 1")
    if decades < TARGET_DECADES:
        notes.append(f"< {format_number(TARGET_DECADES)} decades predicted within the step budget")
    if sgd:
        notes.append("SGD: the prediction is full-batch GD's")
    return "; ".join(notes)


def preflight(config: dict, max_points: int = EMBEDDED_CAP, device: str = "cpu", log=sys.stderr) -> pd.DataFrame:
    """One row per condition of every enabled experiment (its first seed)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="lplr-preflight-") as scratch:
        data_cache = {}
        for experiment in enabled_experiments(config):
            settings_d = data_settings(config, experiment)
            key = str(sorted(settings_d.items()))
            if key not in data_cache:
                data_cache[key] = preflight_data(settings_d, max_points, Path(scratch))
            data, source = data_cache[key]
            runs = experiment_runs(config, experiment)
            seed = config["experiments"][experiment]["seeds"][0]
            for point in conditions(config, experiment):
                settings = next(s for s in runs.values() if s["seed"] == seed and all(s.get(k) == v for k, v in point.items()))
                row = {"experiment": experiment, "condition": condition_id(point) or "all",
                       "seed": seed, "data": source, "steps": settings["steps"], "lr_mode": settings["lr_mode"],
                       "lr": settings["lr"]}
                if data is None:
                    rows.append({**row, "note": source})
                    continue
                x, y = data["x_train"].to(device), data["y_train"].to(device)
                torch.manual_seed(seed)
                model = build_model(settings, tuple(x.shape[1:])).double().to(device)
                with torch.no_grad():
                    residual = (model(x) - y).double()
                kernel = ntk.empirical_ntk(model, x)
                eigenvalues, vectors = torch.linalg.eigh(kernel)
                n = len(x)
                top = float(eigenvalues[-1])
                eta = settings["lr"] if settings["lr_mode"] == "fixed" else settings["lr"] * n / top
                projections = (vectors.T @ residual).pow(2).cpu().numpy()
                decades = linearised_decades(eigenvalues.cpu().numpy(), projections, eta, n, settings["steps"])
                sharpness = eta * top / n
                rows.append({**row, "n_points": n, "params": sum(p.numel() for p in model.parameters()), "eta": eta,
                             "sharpness_0": sharpness, "mu_0": float(eigenvalues[0]) / n,
                             "predicted_decades": decades,
                             "note": warnings_for(sharpness, decades, settings.get("optimizer") == "sgd")})
                print(f"{experiment} {row['condition']}: sharpness_0 {format_number(sharpness)}, "
                      f"{format_number(decades)} decades predicted", file=log, flush=True)
    return pd.DataFrame(rows)


NUMBERS = {"lr": "lr", "eta": "eta", "sharpness_0": "sharp_0", "mu_0": "mu_0", "predicted_decades": "decades"}


def format_table(table: pd.DataFrame, max_points: int, width: int = 100) -> str:
    """The table for a terminal of `width` columns: the long fields (condition, data, notes) become short keys
    (condition 1, 2, ... of each experiment; data A, B, ...; notes a, b, ...) explained in a legend below."""
    import textwrap

    def keys(values, labels):
        return {value: labels[i] for i, value in enumerate(dict.fromkeys(values))}

    notes = [part for note in table["note"] for part in note.split("; ") if part]
    note_key = keys(notes, "abcdefghijklmnopqrstuvwxyz")
    data_key = keys(table["data"], "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    shown = pd.DataFrame({
        "experiment": table["experiment"],
        "cond": table.groupby("experiment", sort=False).cumcount() + 1,
        "data": table["data"].map(data_key),
        "steps": table["steps"],
        **{short: table[long].map(format_number) if long in table else "" for long, short in NUMBERS.items()},
        "notes": [",".join(note_key[p] for p in note.split("; ") if p) for note in table["note"]],
    }).fillna("")
    legend = ["conditions: " + "; ".join(f"{e} {c}: {condition}" for e, c, condition in
                                         zip(shown["experiment"], shown["cond"], table["condition"]))]
    legend += ["data: " + "; ".join(f"{k} = {v}" for v, k in data_key.items())]
    legend += ["notes: " + "; ".join(f"{k} = {v}" for v, k in note_key.items())] if note_key else []
    legend += [f"sharp_0 = eta lambda_max(Theta_0) / n_k, with n_k the kernel's points (at most {max_points}; offline "
               f"MNIST: the embedded images, at most {EMBEDDED_CAP}); decades = -log10(L_T/L_0) of the linearised "
               "model at the step budget."]
    wrapped = [textwrap.fill(line, width, subsequent_indent="  ") for line in legend]
    return shown.to_string(index=False) + "\n\n" + "\n".join(wrapped)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lplr preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", action="append", default=[], help="merged over config.yaml, as Snakemake does")
    parser.add_argument("--max-points", type=int, default=EMBEDDED_CAP, help="kernel points (default %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    table = preflight(load_config(args.configfile), args.max_points, args.device)
    print(format_table(table, args.max_points))
    if args.out:
        from lplr.io import write_csv

        write_csv(table, args.out)
    return 0
