# Config validation and the input functions every rule uses; no logic beyond naming paths.
import os
import sys

# Rules import lplr from this checkout's src/ in whichever environment runs them (the venv,
# --sdm conda, a SLURM node), so jobs get it on PYTHONPATH; this process needs it for validation.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from lplr.config import (
    ConfigError,
    condition_keys,
    data_key,
    data_settings,
    enabled_experiments,
    fit_settings,
    experiment_runs,
    load_schema,
    run_sources,
    validate_config,
)

try:
    validate_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))
except ConfigError as error:
    raise WorkflowError(str(error)) from None


ENV = "../../environment.yml"
EXPERIMENTS = enabled_experiments(config)
RUNS = {name: experiment_runs(config, name) for name in EXPERIMENTS}
# A run equal to an earlier experiment's run (settings and data) is read from there, never retrained.
SOURCES = run_sources(config)
OWNED = {name: {run: RUNS[name][run] for run, source in SOURCES[name].items() if source == (name, run)} for name in EXPERIMENTS}
DATA_KEYS = {name: data_key(data_settings(config, name)) for name in EXPERIMENTS}
DATA_SETTINGS = {DATA_KEYS[name]: data_settings(config, name) for name in EXPERIMENTS}
# Each figure shows one experiment (E1 width, E2 init, E3 step, E4 cnn, E5 batch; E6 is the probe of all).
from lplr.plots.registry import FIGURES, figure_inputs

ENABLED_FIGURES = [name for name, figure in FIGURES.items() if figure.experiment in EXPERIMENTS]


wildcard_constraints:
    experiment="[a-z][a-z0-9_]*",
    data_key="[a-z0-9]+-[0-9a-f]{10}",
    run="[^/]+",
    figure="[a-z_]+",


def data_settings_for(wildcards):
    return DATA_SETTINGS[wildcards.data_key]


def prepared_data(wildcards):
    return f"results/data/{DATA_KEYS[wildcards.experiment]}/data.pt"


def run_settings(wildcards):
    """Settings of a run this experiment trains itself (a shared run is trained under its first experiment)."""
    owned = OWNED.get(wildcards.experiment, {})
    if wildcards.run not in owned:
        raise WorkflowError(f"results/train/{wildcards.experiment}/{wildcards.run} is not a run this config trains "
                            f"(unknown, or shared with an earlier experiment: see lplr.config.run_sources).")
    return owned[wildcards.run]


def experiment_run_settings(wildcards):
    return RUNS[wildcards.experiment]


def experiment_fit_settings(wildcards):
    return fit_settings(config, wildcards.experiment)


def shared_run_sources(wildcards):
    """{run id: 'experiment/run'} for this experiment's runs that another experiment trains."""
    return {run: "/".join(source) for run, source in SOURCES[wildcards.experiment].items()
            if source != (wildcards.experiment, run)}


def condition_columns(wildcards):
    return condition_keys(config, wildcards.experiment)


def run_files(experiment, pattern):
    """`pattern` formatted for every run of `experiment`, in RUNS order, at the folder of whoever trains it."""
    return [pattern.format(experiment=owner, run=run) for owner, run in SOURCES[experiment].values()]


def experiment_files(pattern):
    """An input function: `pattern` formatted for every run of the experiment."""

    def files(wildcards):
        return run_files(wildcards.experiment, pattern)

    return files


def notebook_parameters(wildcards, input):
    """A notebook's papermill parameters: each named input (the notebook source aside) as `<name>_csv`."""
    return {f"{name}_csv": path for name, path in input.items() if name != "notebook"}


def train_gpus():
    """GPUs a training job claims: 1 unless the run is pinned to the CPU (schedules one job per GPU)."""
    return 0 if config["device"] == "cpu" else 1


def all_targets():
    targets = [f"results/tables/{name}_summary.csv" for name in EXPERIMENTS]
    targets += [f"results/figures/{figure}.pdf" for figure in ENABLED_FIGURES]
    if "width" in EXPERIMENTS:  # the notebook and the paper are built around E1
        targets += ["results/notebooks/width_analysis.html", "results/paper/main.pdf"]
    return targets
