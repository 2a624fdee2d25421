"""Readers that turn the DAG's files back into the objects lplr.fit and lplr.plots take.

Run files live at results/<stage>/<experiment>/<run>/..., so a file's run id is its folder name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lplr.io import read_json
from lplr.probe import linearised_loss


def run_of(path: str | Path) -> str:
    return Path(path).parent.name


def linearised_curve(eigen_file: str | Path, steps: np.ndarray, n_train: int | None) -> np.ndarray | None:
    """The initial-NTK prediction of the loss at `steps`, when the probe set was the whole training set."""
    eigen = np.load(eigen_file)
    if n_train is not None and int(eigen["n_probe"]) != n_train:
        return None
    return linearised_loss(eigen["eigenvalues"][0], eigen["initial_projections"], float(eigen["lr"]), steps)


def load_runs(settings: dict[str, dict], inputs) -> dict[str, dict]:
    """{run id: settings, metrics, manifest, spectrum, linearised} from a fit rule's inputs, which list every
    run's files in the order of `settings` (a run shared with another experiment lives in that one's folder)."""
    runs = {}
    files = zip(settings.items(), inputs.metrics, inputs.manifests, inputs.spectra, inputs.eigen)
    for (run_id, run_settings), metrics_file, manifest_file, spectrum_file, eigen_file in files:
        metrics = pd.read_csv(metrics_file)
        manifest = read_json(manifest_file)
        spectrum = pd.read_csv(spectrum_file)
        linearised = None
        if manifest["status"] == "completed":
            linearised = linearised_curve(eigen_file, metrics["step"].to_numpy(), manifest["n_train"])
        runs[run_id] = {"settings": run_settings, "metrics": metrics, "manifest": manifest, "spectrum": spectrum,
                        "linearised": linearised}
    return runs


def read_fits(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path)


def read_curves(fits: pd.DataFrame, metrics_files) -> dict[str, pd.DataFrame]:
    files = dict(zip(fits["run"], metrics_files))  # the rule lists files in the fit table's run order
    return {run: pd.read_csv(files[run]) for run in fits["run"]}


def read_linearised(fits: pd.DataFrame, eigen_files, curves: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    files = dict(zip(fits["run"], eigen_files))
    out = {}
    for run in fits.loc[fits["status"] == "completed", "run"]:
        curve = linearised_curve(files[run], curves[run]["step"].to_numpy(), None)
        if curve is not None:
            out[run] = curve
    return out


def read_spectra(fits: pd.DataFrame, spectrum_files) -> dict[str, pd.DataFrame]:
    files = dict(zip(fits["run"], spectrum_files))
    return {run: pd.read_csv(files[run]) for run in fits.loc[fits["status"] == "completed", "run"] if run in files}


COMPARISONS = {"fixed": "equal eta", "calibrated": "equal sharpness"}  # E2: what lr_mode holds equal across inits


def draw_figure(name: str, inputs, out: str | Path, confidence: float, exit_fraction: float) -> None:
    """Read what figure `name` needs from a figure rule's inputs and draw it with lplr.plots."""
    from lplr import plots
    from lplr.fit import loglog_slope_by_seed

    fits = read_fits(inputs.runs)
    if name == "width_ablation":
        drift = loglog_slope_by_seed(fits[fits["status"] == "completed"], "width", "final_rel_drift", confidence)
        return plots.width_ablation(pd.read_csv(inputs.summary), out, confidence, drift)
    if name == "batch_size":
        return plots.batch_size(pd.read_csv(inputs.summary), out, confidence)
    curves = read_curves(fits, inputs.metrics)
    spectra = read_spectra(fits, inputs.spectra)
    if name == "loss_decay":
        return plots.loss_decay(fits, curves, read_linearised(fits, inputs.eigen, curves), out)
    if name == "pl_scaling":
        return plots.pl_scaling(fits, curves, out)
    if name == "ntk_stability":
        return plots.ntk_stability(fits, spectra, out, exit_fraction=exit_fraction)
    if name == "pl_ratio":
        return plots.pl_ratio(fits, curves, spectra, out)
    if name == "init_comparison":
        return plots.init_comparison(fits.assign(comparison=fits["lr_mode"].map(COMPARISONS)), curves, out)
    if name == "step_size":
        return plots.step_size(fits, curves, spectra, out, exit_fraction=exit_fraction)
    if name == "cnn_sgd":
        return plots.cnn_sgd(fits, curves, out)
    raise ValueError(f"no figure named {name!r}")
