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
    experiment_runs,
    load_schema,
    validate_config,
)

try:
    validate_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))
except ConfigError as error:
    raise WorkflowError(str(error)) from None


ENV = "../../environment.yml"
EXPERIMENTS = enabled_experiments(config)
RUNS = {name: experiment_runs(config, name) for name in EXPERIMENTS}
DATA_KEYS = {name: data_key(data_settings(config, name)) for name in EXPERIMENTS}
DATA_SETTINGS = {DATA_KEYS[name]: data_settings(config, name) for name in EXPERIMENTS}
FIGURES = ["loss_decay", "pl_scaling", "width_ablation"]


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
    return RUNS[wildcards.experiment][wildcards.run]


def experiment_run_settings(wildcards):
    return RUNS[wildcards.experiment]


def condition_columns(wildcards):
    return condition_keys(config, wildcards.experiment)


def experiment_files(pattern):
    """An input function: `pattern` formatted for every run of the experiment."""

    def files(wildcards):
        return [pattern.format(experiment=wildcards.experiment, run=run) for run in RUNS[wildcards.experiment]]

    return files


def train_gpus():
    """GPUs a training job claims: 1 unless the run is pinned to the CPU (schedules one job per GPU)."""
    return 0 if config["device"] == "cpu" else 1


def all_targets():
    targets = [f"results/tables/{name}_summary.csv" for name in EXPERIMENTS]
    if "width" in EXPERIMENTS:
        targets += [f"results/figures/{figure}.pdf" for figure in FIGURES]
        targets += ["results/notebooks/width_analysis.html", "results/paper/main.pdf"]
    return targets
