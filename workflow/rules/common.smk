# Config validation, path names and the input functions the rules use; the run plan (experiments -> runs ->
# jobs -> targets) is lplr.plan's, unit-tested there.
import os
import sys

# Rules import lplr from this checkout's src/ in whichever environment runs them (the venv,
# --sdm conda, a SLURM node), so jobs get it on PYTHONPATH; this process needs it for validation.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from lplr import resources
from lplr.bundle import BundleError, bundle_name, check_restored_config, restored_manifest
from lplr.config import condition_keys, data_settings, fit_settings, load_schema, shared_settings
from lplr.validation import validate as validate_config
from lplr.errors import ConfigError, PlanError
from lplr.notebooks import READING
from lplr.plan import Plan
from lplr.plots.registry import FIGURES, figure_inputs
from lplr.provenance import describe, export
from lplr.setup import setup_text

try:
    validate_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")), CONFIG_SOURCE)
    # Restore mode (lplr.bundle): results/ holds a restored bundle, so data, training and probe outputs
    # are sources, not rules (the Snakefile leaves those stages out), and the config must be the bundle's.
    RESTORED = restored_manifest()
    PROVENANCE = describe(config, RESTORED, workflow.basedir)
    if RESTORED:
        check_restored_config(RESTORED, PROVENANCE["config_hash"])
    PLAN = Plan(config)
    NOTEBOOK_RUNS = PLAN.notebook_runs()  # {experiment: run ids} with a run explorer in the default target
    NOTEBOOK_EXPERIMENTS = PLAN.notebook_experiments()
except (ConfigError, BundleError) as error:
    raise WorkflowError(str(error)) from None
export(PROVENANCE)  # every job stamps its figures, HTML and paper with it (lplr.provenance)


ENV = "../../environment.yml"
EXPERIMENTS = PLAN.experiments
PER_SEED = "|".join(name for name in EXPERIMENTS if name not in PLAN.batched) or "(?!)"  # (?!) matches nothing
ENABLED_FIGURES = PLAN.figures()
TRAIN_GPUS = resources.job_gpus(config["device"], config["gpus"])  # a train or probe job's GPUs (config `gpus`)
CLAIMS = "results/tables/claims.csv"
claims_ledger = [CLAIMS]  # rule claims (claims.smk) builds it in every mode


wildcard_constraints:
    experiment="[a-z][a-z0-9_]*",
    data_key="[a-z0-9]+-[0-9a-f]{10}",
    run="[^/]+",
    figure="[a-z_]+",


def planned(lookup):
    """A plan lookup whose PlanError becomes a WorkflowError with its message."""
    try:
        return lookup()
    except PlanError as error:
        raise WorkflowError(str(error)) from None


data_settings_for = lambda wildcards: PLAN.data_settings[wildcards.data_key]
prepared_data = lambda wildcards: PLAN.data_file(wildcards.experiment, wildcards.run)


def job_of(wildcards):
    """A job's id: its run (rules train, probe_ntk) or its condition (batched rules; "" for one condition)."""
    return wildcards.get("run") or wildcards.get("condition", "")


def job_runs(wildcards):
    return planned(lambda: PLAN.job_runs(wildcards.experiment, job_of(wildcards)))


def job_data(wildcards):
    return planned(lambda: PLAN.job_data(wildcards.experiment, job_of(wildcards)))


def job_data_files(wildcards):
    return sorted(set(job_data(wildcards).values()))


def job_paths(pattern):
    """An input function: {run: `pattern` for it} over the job's runs, declared to its script."""
    return lambda wildcards: planned(lambda: PLAN.job_paths(wildcards.experiment, job_of(wildcards), pattern))


def job_resume_file(wildcards):
    return PLAN.resume_file(wildcards.experiment, job_of(wildcards))


def job_probe_set(wildcards):
    """The probe set S ({probe_size, probe_seed} of config `ntk`) when a run of the job tracks lambda_min on it
    (training.lambda_min_every), else None: declared, so changing S reruns exactly the jobs that read it."""
    runs = job_runs(wildcards)
    if not any(int(settings.get("lambda_min_every", 0)) for settings in runs.values()):
        return None
    return {key: config["ntk"][key] for key in ("probe_size", "probe_seed")}


def job_stepper(wildcards):
    return PLAN.stepper(wildcards.experiment)


def batched_paths(experiment, seeds, pattern):
    """`pattern` ('results/train/{run}/metrics.csv') for each seed of a batched job, {experiment} and
    {condition} left as wildcards."""
    return [pattern.replace("{run}", f"{{experiment}}/{PLAN.seed_run_pattern(experiment, s)}") for s in seeds]


def batched_job_path(experiment, template):
    """A batched job's log or benchmark path (template "logs/train/{experiment}/{job}.log"), {job} its condition
    wildcard or "seeds" for one condition."""
    return template.replace("{job}", "{condition}" if condition_keys(config, experiment) else "seeds")


experiment_run_settings = lambda wildcards: PLAN.runs[wildcards.experiment]
experiment_fit_settings = lambda wildcards: fit_settings(config, wildcards.experiment)
shared_run_sources = lambda wildcards: PLAN.shared_sources(wildcards.experiment)
condition_columns = lambda wildcards: condition_keys(config, wildcards.experiment)


def experiment_files(pattern):
    """An input function: `pattern` for every run of the experiment, at its owner's folder."""
    return lambda wildcards: PLAN.run_files(wildcards.experiment, pattern)


def run_file(pattern):
    """An input function: `pattern` for the run of the wildcards at its owner's folder; an unknown run is
    refused, naming the runs."""

    def files(wildcards):
        owner, run = planned(lambda: PLAN.source_of(wildcards.experiment, wildcards.run))
        return pattern.format(experiment=owner, run=run)

    return files


def reading_text(wildcards):
    """[the experiment's reading text] (workflow/notebooks/reading/<experiment>.md) if the repository has one."""
    path = READING.format(experiment=wildcards.experiment)
    return [path] if os.path.isfile(os.path.join(workflow.basedir, path)) else []


def optional_input(files) -> str:
    """The path of an optional input (an input function that returns [path] or []), or ""."""
    return files if isinstance(files, str) else next(iter(files), "")


def experiment_notebook_parameters(wildcards, input):
    """Papermill parameters of workflow/notebooks/experiment.py."""
    from lplr.plots.registry import TABLES

    return {"experiment": wildcards.experiment,
            "description": config["experiments"][wildcards.experiment].get("description", ""),
            "tables": {table: input[table] for table in TABLES},
            "reading_md": optional_input(input.reading), "claims_csv": optional_input(input.claims),
            "setup": setup_text(config, wildcards.experiment),  # this build's settings in words
            "figure_options": {"confidence": config["fit"]["confidence"],
                               "exit_fraction": config["fit"]["lplr_exit_fraction"]}}


def run_notebook_parameters(wildcards, input):
    """Papermill parameters of workflow/notebooks/run.py."""
    return {"experiment": wildcards.experiment, "run": wildcards.run, "runs_csv": input.runs,
            "curves_csv": input.curves, "probes_csv": input.probes, "manifest_json": input.manifest,
            "eigenvalues_npz": input.eigenvalues, "exit_fraction": config["fit"]["lplr_exit_fraction"],
            "top_k": config["fit"]["rates"]["top_k"]}


def experiment_notebooks():
    return [f"results/notebooks/experiments/{name}.html" for name in NOTEBOOK_EXPERIMENTS]


def run_notebooks():
    """{experiment: html of each selected run explorer}."""
    return {name: [f"results/notebooks/runs/{name}/{run}.html" for run in runs] for name, runs in NOTEBOOK_RUNS.items()}


def probe_checkpoints(pattern):
    """The checkpoints folder: kept, or temp() (deleted once probed) with ntk.keep_checkpoints: false."""
    return directory(pattern) if config["ntk"]["keep_checkpoints"] else temp(directory(pattern))


# Threads and cluster requests of train and probe jobs from the job's size (lplr.plan, lplr.resources), in the
# form Snakemake calls them: (wildcards[, attempt]); `attempt` grows memory and time on each retry.
def job_threads(wildcards):
    return PLAN.job_threads(wildcards.experiment, job_of(wildcards))


def sized(request):
    """An input function (wildcards, attempt) for PLAN.<request>(experiment, job, attempt)."""
    return lambda wildcards, attempt: request(wildcards.experiment, job_of(wildcards), attempt)


def train_priority(wildcards):
    return PLAN.train_priority(wildcards.experiment, job_of(wildcards))


bundle_inputs = PLAN.bundle_inputs
all_targets = PLAN.default_targets
