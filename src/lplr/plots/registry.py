"""The figure registry: for every figure, the experiment it shows, the analysis tables it reads, how it is
drawn and its caption. The Snakemake rules (workflow/rules/figures.smk), the notebooks and the tests all
read this one table, so a figure's identity lives in one place.

A figure reads tables of lplr.analysis only (TABLES), never a run's raw files: every number a figure shows
is in a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from lplr.plots import depth, init, noise, regimes, sgd, step, width

TABLES = {
    "runs": "results/fits/{experiment}/runs.csv",
    "curves": "results/fits/{experiment}/curves.csv",
    "probes": "results/fits/{experiment}/probes.csv",
    "summary": "results/tables/{experiment}_summary.csv",
    "sensitivity": "results/tables/{experiment}_sensitivity.csv",
    "trends": "results/tables/{experiment}_trends.csv",
}
PER_RUN = ("curves", "probes")  # long tables read as {run id: frame}


@dataclass(frozen=True)
class Figure:
    name: str
    experiment: str
    tables: tuple[str, ...]
    draw: Callable[[dict, Path, Mapping], None]  # (loaded tables, output pdf, options: confidence, exit_fraction)
    description: str

    @property
    def caption(self) -> str:
        """The report caption (reStructuredText), relative to the repository root."""
        return f"workflow/report/{self.name}.rst"


FIGURES = {figure.name: figure for figure in (
    Figure("loss_decay", "width", ("runs", "curves"),
           lambda t, out, o: width.loss_decay(t["runs"], t["curves"], out),
           "E1: the gap on a log axis per width, window fit and the initial-NTK linearised model"),
    Figure("pl_scaling", "width", ("runs", "curves"),
           lambda t, out, o: width.pl_scaling(t["runs"], t["curves"], out),
           "E1: G against the gap, log-log, with the fitted PL slope"),
    Figure("width_ablation", "width", ("summary", "trends"),
           lambda t, out, o: width.width_ablation(t["summary"], t["trends"], out, o["confidence"]),
           "E1: final loss, rates, mu_0, drift and the residual's top-k share against width"),
    Figure("rates_along_training", "width", ("runs", "curves", "probes"),
           lambda t, out, o: width.rates_along_training(t["runs"], t["curves"], t["probes"], out),
           "E1: observed rate against the first-order, linearised and PL-bound rates; spectral shares"),
    Figure("ntk_stability", "width", ("runs", "probes"),
           lambda t, out, o: width.ntk_stability(t["runs"], t["probes"], out, exit_fraction=o["exit_fraction"]),
           "E1/E6: lambda_min ratio, kernel change, sharpness and LQCR q_t along training"),
    Figure("pl_ratio", "width", ("runs", "probes"),
           lambda t, out, o: width.pl_ratio(t["runs"], t["probes"], out),
           "E1: the PL ratio rho_t against mu_t at the probes"),
    Figure("init_comparison", "init", ("runs", "curves"),
           lambda t, out, o: init.init_comparison(t["runs"], t["curves"], out),
           "E2: He against depth-aware initialisation"),
    Figure("depth_init", "depth", ("summary", "runs"),
           lambda t, out, o: depth.depth_init(t["summary"], t["runs"], out, o["confidence"]),
           "Beyond the paper: He vs depth-aware init across depths at a fixed eta*lambda_max(Theta_0)/n"),
    Figure("step_size", "step", ("runs", "curves", "probes"),
           lambda t, out, o: step.step_size(t["runs"], t["curves"], t["probes"], out, exit_fraction=o["exit_fraction"]),
           "E3: a larger and a smaller step: gap, drift, lambda_min ratio, LPLR exit"),
    Figure("cnn_sgd", "cnn", ("runs", "curves"),
           lambda t, out, o: sgd.cnn_sgd(t["runs"], t["curves"], out),
           "E4: the CNN under mini-batch SGD: gap and PL slope"),
    Figure("batch_size", "batch", ("summary",),
           lambda t, out, o: sgd.batch_size(t["summary"], out, o["confidence"]),
           "E5: rates, PL slope and final loss against batch size"),
    Figure("sgd_noise", "sgd_noise", ("runs", "curves", "probes"),
           lambda t, out, o: noise.sgd_noise(t["runs"], t["curves"], t["probes"], out),
           "Beyond the paper: the MLP under SGD against GD per step, the noise scale and the critical batch"),
)}


# the tracked sharpness of every run, one figure per E1 arm
FIGURES.update({name: Figure(name, experiment, ("runs", "curves", "probes"),
                             lambda t, out, o: regimes.sharpness_along_training(t["runs"], t["curves"], out,
                                                                                probes=t["probes"]), description)
                for name, experiment, description in (
    ("sharpness", "width", "E1 at a fixed eta: the tracked sharpness of every run against the theorem's eta <= 1/L, "
                           "and the loss"),
    ("sharpness_calibrated", "width_calibrated", "E1 at a fixed eta*lambda_max(Theta_0)/n: the tracked sharpness and the loss"),
    ("sharpness_eos", "width_eos", "The edge-of-stability contrast: the tracked sharpness (Gauss-Newton; the Hessian's "
                                   "tracked and probed) and the loss"))})


def figure_inputs(name: str) -> dict[str, str]:
    """{table: path} that figure `name` reads."""
    figure = FIGURES[name]
    return {table: TABLES[table].format(experiment=figure.experiment) for table in figure.tables}


def read_table(table: str, path: str | Path):
    """A table as drawn: a DataFrame, or {run id: frame} for the per-run long tables (run order kept)."""
    frame = pd.read_csv(path)
    if table in PER_RUN:
        return {run: group.reset_index(drop=True) for run, group in frame.groupby("run", sort=False)}
    return frame


def draw_figure(name: str, inputs: Mapping[str, str], out: str | Path, options: Mapping) -> None:
    """Read figure `name`'s tables from `inputs` ({table: path}) and draw it to `out` (PDF, PNG beside it)."""
    figure = FIGURES[name]
    missing = [t for t in figure.tables if t not in inputs]
    if missing:
        raise KeyError(f"figure {name!r} reads tables {missing} that were not given (expected {figure_inputs(name)})")
    figure.draw({table: read_table(table, inputs[table]) for table in figure.tables}, Path(out), options)
