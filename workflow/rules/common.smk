# Config validation and the input functions every rule uses; no logic beyond naming paths.
import os
import re
import sys

# Rules import lplr from this checkout's src/ in whichever environment runs them (the venv,
# --sdm conda, a SLURM node), so jobs get it on PYTHONPATH; this process needs it for validation.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from lplr.config import (
    ConfigError,
    condition_keys,
    data_settings,
    data_key,
    enabled_experiments,
    fit_settings,
    experiment_runs,
    load_schema,
    run_data_settings,
    run_sources,
    seed_batching,
    seed_jobs,
    validate_config,
)
from lplr import resources
from lplr.formatting import RUN_ID_SEPARATOR
from lplr.data import sample_shape

from lplr.bundle import BundleError, bundle_name, check_restored_config, restored_manifest
from lplr.provenance import describe, export
from lplr.notebooks import READING, selected_experiments, selected_runs
from lplr.setup import setup_text

try:
    validate_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")), CONFIG_SOURCE)
    # Restore mode (lplr.bundle): results/ holds a restored bundle, so data, training and probe outputs
    # are sources, not rules (the Snakefile leaves those stages out), and the config must be the bundle's.
    RESTORED = restored_manifest()
    PROVENANCE = describe(config, RESTORED, workflow.basedir)
    if RESTORED:
        check_restored_config(RESTORED, PROVENANCE["config_hash"])
    # {experiment: run ids} with a run explorer in the default target (config notebooks.runs)
    NOTEBOOK_RUNS = selected_runs(config, enabled_experiments(config))
    NOTEBOOK_EXPERIMENTS = selected_experiments(config, enabled_experiments(config))
except (ConfigError, BundleError) as error:
    raise WorkflowError(str(error)) from None
export(PROVENANCE)  # every job stamps its figures, HTML and paper with it (lplr.provenance)


ENV = "../../environment.yml"
EXPERIMENTS = enabled_experiments(config)
RUNS = {name: experiment_runs(config, name) for name in EXPERIMENTS}
# A run equal to an earlier experiment's run (settings and data) is read from there, never retrained.
SOURCES = run_sources(config)
OWNED = {name: {run: RUNS[name][run] for run, source in SOURCES[name].items() if source == (name, run)} for name in EXPERIMENTS}
RUN_DATA = {  # {experiment: {run: its prepared set's settings}}; per run because of data.seed: per_run
    name: {run: run_data_settings(config, name, settings["seed"]) for run, settings in runs.items()}
    for name, runs in RUNS.items()
}
DATA_KEYS = {name: {run: data_key(d) for run, d in runs.items()} for name, runs in RUN_DATA.items()}
DATA_SETTINGS = {data_key(d): d for runs in RUN_DATA.values() for d in runs.values()}
# Training and probe jobs over the runs an experiment trains itself: {experiment: {job id: run ids}}; a
# batched experiment has one job per condition (rules train_<experiment>, probe_<experiment>), a per-seed
# one a job per run (rules train, probe_ntk).
JOBS = {name: seed_jobs(config, name) for name in EXPERIMENTS}
BATCHED = [name for name in EXPERIMENTS if seed_batching(config, name) == "batched"]
PER_SEED = "|".join(name for name in EXPERIMENTS if name not in BATCHED) or "(?!)"  # (?!) matches nothing
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
    return f"results/data/{DATA_KEYS[wildcards.experiment][wildcards.run]}/data.pt"


def job_of(wildcards):
    """A job's id: its run (rules train, probe_ntk) or its condition (batched rules; "" for one condition)."""
    return wildcards.get("run") or wildcards.get("condition", "")


def job_runs(wildcards):
    """{run: settings} of the runs the job trains or probes."""
    return {run: RUNS[wildcards.experiment][run] for run in JOBS[wildcards.experiment][job_of(wildcards)]}


def seeds_per_job(wildcards):
    """How many runs (seeds) a train or probe job covers; for resource functions (memory, runtime)."""
    return len(JOBS[wildcards.experiment][job_of(wildcards)])


def job_data(wildcards):
    """{run: prepared data file} of the job's runs."""
    keys = DATA_KEYS[wildcards.experiment]
    return {run: f"results/data/{keys[run]}/data.pt" for run in job_runs(wildcards)}


def job_data_files(wildcards):
    return sorted(set(job_data(wildcards).values()))


def job_resume_file(wildcards):
    """A batched job's resume file (all its seeds at one step); not an output, so a rerun finds it."""
    return f"results/train/{wildcards.experiment}/{job_of(wildcards) or 'seeds'}.resume.pt"


def batch_groups():
    """[(experiment, name suffix, seeds, wildcard constraints)]: each batched experiment's jobs grouped
    by the seeds they train (one group, suffix "", unless some runs are shared with an earlier experiment
    with other seeds), because a rule's outputs name its seeds."""
    groups = []
    for name in BATCHED:
        by_seeds = {}
        for job, runs in JOBS[name].items():
            by_seeds.setdefault(tuple(RUNS[name][run]["seed"] for run in runs), []).append(job)
        for index, (seeds, jobs) in enumerate(by_seeds.items()):
            constraints = {"experiment": name}
            if condition_keys(config, name):
                constraints["condition"] = "|".join(re.escape(job) for job in jobs)
            groups.append((name, f"_{index}" if index else "", seeds, constraints))
    return groups


def batched_paths(experiment, seeds, pattern):
    """`pattern` ('results/train/{run}/metrics.csv') for each seed of a batched job, with {experiment} and
    the condition ({condition}; absent when the experiment has one condition) as wildcards."""
    prefix = f"{{condition}}{RUN_ID_SEPARATOR}" if condition_keys(config, experiment) else ""
    return [pattern.replace("{run}", f"{{experiment}}/{prefix}seed={seed}") for seed in seeds]


def batched_job_name(experiment):
    """A batched job's name in its log and benchmark paths: its condition, or "seeds" for one condition."""
    return "{condition}" if condition_keys(config, experiment) else "seeds"


def batched_log(experiment, stage):
    return f"logs/{stage}/{{experiment}}/{batched_job_name(experiment)}.log"


def batched_benchmark(experiment, stage):
    """Snakemake's record of a batched job (wall time, max_rss): benchmarks/resources.py reads it."""
    return f"results/benchmarks/{stage}/{{experiment}}/{batched_job_name(experiment)}.tsv"


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


CLAIMS = "results/tables/claims.csv"


def claims_ledger(wildcards=None):
    """[the claims ledger] when a rule of this workflow builds it, else [] (the experiment notebooks then say
    it is not available). Evaluated when the DAG is built, after every rule file is read."""
    return [CLAIMS] if any(CLAIMS in map(str, rule.output) for rule in workflow.rules) else []


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


def run_file(pattern):
    """An input function: `pattern` ('results/train/{experiment}/{run}/manifest.json') for the run of the
    wildcards, at the folder of the experiment that trains it; an unknown run is refused, naming the runs."""

    def files(wildcards):
        runs = SOURCES.get(wildcards.experiment)
        if runs is None or wildcards.run not in runs:
            known = ", ".join(runs) if runs else f"none: enabled experiments are {', '.join(EXPERIMENTS)}"
            raise WorkflowError(f"results/notebooks/runs/{wildcards.experiment}/{wildcards.run}.html: experiment "
                                f"{wildcards.experiment!r} has no run {wildcards.run!r} in this config; its runs: {known}.")
        owner, run = runs[wildcards.run]
        return pattern.format(experiment=owner, run=run)

    return files


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


def train_gpus():
    """GPUs a training or probe job asks the cluster for (config `gpus`; lplr.resources.job_gpus)."""
    return resources.job_gpus(config["device"], config["gpus"])


def bundle_inputs():
    """What rebuilds tables, figures, notebooks and the paper: data manifests, metrics, manifests, spectra, fits."""
    files = [f"results/data/{key}/manifest.json" for key in sorted(DATA_SETTINGS)]
    for name in EXPERIMENTS:
        for pattern in ("results/train/{experiment}/{run}/metrics.csv", "results/train/{experiment}/{run}/manifest.json",
                        "results/ntk/{experiment}/{run}/spectrum.csv", "results/ntk/{experiment}/{run}/eigenvalues.npz"):
            files += run_files(name, pattern)
        if config["bundle_checkpoints"]:
            files += run_files(name, "results/train/{experiment}/{run}/checkpoints")
        files += [f"results/fits/{name}/{table}.csv" for table in ("runs", "curves", "probes")]
        files += [f"results/tables/{name}_{table}.csv" for table in ("summary", "sensitivity", "trends")]
    return list(dict.fromkeys(files))  # a shared run is listed by every experiment that reads it


def probe_checkpoints(pattern):
    """The checkpoints folder: kept, or temp() (deleted once probed) with ntk.keep_checkpoints: false."""
    return directory(pattern) if config["ntk"]["keep_checkpoints"] else temp(directory(pattern))


# Cluster requests of train and probe_ntk from the job's size (lplr.resources), in the form
# Snakemake calls them: (wildcards[, attempt]); `attempt` grows memory and time on each retry.
def job_size(wildcards):
    """(settings, n, n_probe, P) of one of the job's runs (a job's runs differ by seed only)."""
    run, settings = next(iter(job_runs(wildcards).items()))
    data = DATA_SETTINGS[DATA_KEYS[wildcards.experiment][run]]
    shape = sample_shape(data)
    params = resources.parameter_count(settings.get("arch", "mlp"), settings["width"], settings["depth"], shape)
    n = data["n_train"]
    return settings, n, min(n, config["ntk"]["probe_size"]), params


def job_threads(wildcards):
    settings, n, _, params = job_size(wildcards)
    return resources.cpus_per_task(params, n, config["device"])


def train_mem_mb(wildcards, attempt):
    settings, n, _, params = job_size(wildcards)
    return resources.train_memory_mb(params, n, settings["width"], settings["depth"], seeds_per_job(wildcards),
                                     config["device"], attempt)


def train_runtime(wildcards, attempt):
    settings, n, _, params = job_size(wildcards)
    return resources.train_runtime_min(params, n, settings["steps"], seeds_per_job(wildcards), config["device"],
                                       attempt)


def train_priority(wildcards):
    settings, n, _, params = job_size(wildcards)
    return resources.train_priority(params, n, settings["steps"], seeds_per_job(wildcards))


def probe_mem_mb(wildcards, attempt):
    settings, n, n_probe, params = job_size(wildcards)
    return resources.probe_memory_mb(params, n_probe, settings["width"], settings["depth"], settings["checkpoints"],
                                     seeds_per_job(wildcards), config["device"], attempt)


def probe_runtime(wildcards, attempt):
    settings, n, n_probe, params = job_size(wildcards)
    return resources.probe_runtime_min(params, n, n_probe, settings["width"], settings["depth"],
                                       settings["checkpoints"], seeds_per_job(wildcards), config["device"], attempt)


def all_targets():
    targets = [f"results/tables/{name}_summary.csv" for name in EXPERIMENTS]
    targets += [f"results/figures/{figure}.pdf" for figure in ENABLED_FIGURES]
    targets.append("results/notebooks/index.html")  # and through it every notebook
    if "width" in EXPERIMENTS:  # the paper is built around E1
        targets.append("results/paper/main.pdf")
    return targets
