"""The run plan: experiments -> runs -> jobs -> targets, as plain data the rules read (workflow/rules/*.smk
name paths and call this; everything here is unit-tested without Snakemake, tests/test_plan.py).

    runs     lplr.config.experiment_runs: each condition times each seed, {run id: settings}
    sources  shared runs: a run whose settings and prepared data equal another enabled experiment's run is
             ONE run, trained and probed once under its owner and read by reference by the others (E3 at
             lr 0.5 is E1 at its width; E5 at E4's batch size is E4). The owner is the first of the
             experiments in OWNER_ORDER (the paper's order), then any others by name: never the config's
             key order, which a YAML writer may sort.
    jobs     training and probe jobs over the runs an experiment owns: `training.seed_batching: batched`
             (the default) one job per condition, its id the condition's part of the run id ("width=64";
             "" for one condition), trained by lplr.train's batched stepper; `per_seed` one job per run,
             its id the run id. A condition whose runs are all owned elsewhere has no job.
    groups   a batched experiment's jobs grouped by the seeds they train (a rule's outputs name its seeds):
             one group unless some runs are shared with an experiment that has other seeds.
    sizes    (settings, n, n_probe, P, seeds) of a job, for its threads, memory and runtime (lplr.resources).
    targets  the default target and the bundle's contents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lplr import resources
from lplr.config import (condition_id, condition_keys, conditions, data_key, enabled_experiments, experiment_runs,
                         run_data_settings, run_id)
from lplr.data import sample_shape
from lplr.errors import PlanError
from lplr.formatting import RUN_ID_SEPARATOR
from lplr.io import settings_hash
from lplr.notebooks import selected_experiments, selected_runs
from lplr.plots.registry import FIGURES, TABLES

OWNER_ORDER = ("width", "width_calibrated", "width_eos", "init", "step", "cnn", "batch")
PAPER_EXPERIMENTS = ("width",)  # paper/main.tex is written around E1: the PDF is a default target when E1 runs
RUN_FILES = ("results/train/{experiment}/{run}/metrics.csv", "results/train/{experiment}/{run}/manifest.json",
             "results/ntk/{experiment}/{run}/spectrum.csv", "results/ntk/{experiment}/{run}/eigenvalues.npz")
CHECKPOINTS = "results/train/{experiment}/{run}/checkpoints"


def owner_order(experiments) -> list[str]:
    """The order in which experiments claim shared runs: OWNER_ORDER, then the others sorted by name."""
    known = [name for name in OWNER_ORDER if name in experiments]
    return known + sorted(name for name in experiments if name not in OWNER_ORDER)


def run_sources(config: dict) -> dict[str, dict[str, tuple[str, str]]]:
    """{experiment: {run id: (experiment, run id) that trains it}} over the enabled experiments (config order)."""
    experiments = enabled_experiments(config)
    owners: dict[str, tuple[str, str]] = {}
    claimed = {}
    for name in owner_order(experiments):
        claimed[name] = {}
        for run, settings in experiment_runs(config, name).items():
            data = data_key(run_data_settings(config, name, settings["seed"]))
            claimed[name][run] = owners.setdefault(settings_hash({**settings, "data": data}), (name, run))
    return {name: claimed[name] for name in experiments}


def seed_batching(config: dict, experiment: str) -> str:
    """'batched' (one job per condition) or 'per_seed' (one job per run): the stepper of lplr.train."""
    block = config["experiments"][experiment]
    return {**config["training"], **block.get("training", {})}.get("seed_batching", "batched")


def seed_jobs(config: dict, experiment: str, sources: dict | None = None) -> dict[str, list[str]]:
    """{job id: its run ids} over the runs the experiment owns (run_sources), in a stable order."""
    sources = (sources or run_sources(config))[experiment]
    owned = [run for run, source in sources.items() if source == (experiment, run)]
    if seed_batching(config, experiment) == "per_seed":
        return {run: [run] for run in owned}
    seeds = config["experiments"][experiment]["seeds"]
    jobs = {condition_id(point): [run_id(point, seed) for seed in seeds if run_id(point, seed) in owned]
            for point in conditions(config, experiment)}
    return {job: runs for job, runs in jobs.items() if runs}


@dataclass(frozen=True)
class BatchGroup:
    """The jobs of a batched experiment that train the same seeds: one rule (name suffix "", "_1", ...)."""
    experiment: str
    suffix: str
    seeds: tuple[int, ...]
    jobs: tuple[str, ...]
    constraints: dict  # the rule's wildcard constraints: its experiment and, with conditions, its jobs


@dataclass(frozen=True)
class JobSize:
    settings: dict  # of the job's first run (a job's runs differ by seed only)
    n: int
    n_probe: int
    params: int
    seeds: int


class Plan:
    """The plan of one validated config."""

    def __init__(self, config: dict):
        self.config = config
        self.experiments = enabled_experiments(config)
        self.runs = {name: experiment_runs(config, name) for name in self.experiments}
        self.sources = run_sources(config)
        self.run_data = {name: {run: run_data_settings(config, name, s["seed"]) for run, s in runs.items()}
                         for name, runs in self.runs.items()}  # per run: data.seed may be per_run
        self.data_keys = {name: {run: data_key(d) for run, d in runs.items()} for name, runs in self.run_data.items()}
        self.data_settings = {data_key(d): d for runs in self.run_data.values() for d in runs.values()}
        self.jobs = {name: seed_jobs(config, name, self.sources) for name in self.experiments}
        self.batched = [name for name in self.experiments if seed_batching(config, name) == "batched"]

    def owned(self, experiment: str) -> dict[str, dict]:
        """{run: settings} of the runs `experiment` trains itself."""
        return {run: self.runs[experiment][run] for run, source in self.sources[experiment].items()
                if source == (experiment, run)}

    def source_of(self, experiment: str, run: str) -> tuple[str, str]:
        """(experiment, run) whose folders hold `run` of `experiment`; an unknown run is refused, naming the runs."""
        runs = self.sources.get(experiment)
        if runs is None or run not in runs:
            known = ", ".join(runs) if runs else f"none: enabled experiments are {', '.join(self.experiments)}"
            raise PlanError(f"experiment {experiment!r} has no run {run!r} in this config; its runs: {known}.")
        return runs[run]

    def shared_sources(self, experiment: str) -> dict[str, str]:
        """{run id: 'owner/run'} of this experiment's runs that another experiment trains."""
        return {run: "/".join(source) for run, source in self.sources[experiment].items()
                if source != (experiment, run)}

    def job_runs(self, experiment: str, job: str) -> dict[str, dict]:
        """{run: settings} of a job; a job the plan does not have (a run trained by another experiment) is refused."""
        jobs = self.jobs.get(experiment, {})
        if job not in jobs:
            raise PlanError(f"experiment {experiment!r} has no training job {job!r} in this config (unknown, or its "
                            f"runs are trained by another experiment: see lplr.plan.run_sources); its jobs: "
                            f"{', '.join(map(repr, jobs)) or 'none'}.")
        return {run: self.runs[experiment][run] for run in jobs[job]}

    def stepper(self, experiment: str) -> str:
        """The stepper of lplr.train that trains the experiment: "batched" or "per_seed"."""
        return "batched" if experiment in self.batched else "per_seed"

    def resume_file(self, experiment: str, job: str) -> str:
        """A job's resume file, not an output (a rerun finds it): in a per-seed job's run folder, beside a batched
        job's run folders (all its seeds at one step)."""
        if experiment in self.batched:
            return f"results/train/{experiment}/{job or 'seeds'}.resume.pt"
        return f"results/train/{experiment}/{job}/resume.pt"

    def data_file(self, experiment: str, run: str) -> str:
        return f"results/data/{self.data_keys[experiment][run]}/data.pt"

    def job_data(self, experiment: str, job: str) -> dict[str, str]:
        """{run: prepared data file} of the job's runs."""
        return {run: self.data_file(experiment, run) for run in self.job_runs(experiment, job)}

    def job_paths(self, experiment: str, job: str, pattern: str) -> dict[str, str]:
        """{run: `pattern` formatted for it} over the job's runs: the declared paths its script reads or writes."""
        return {run: pattern.format(experiment=experiment, run=run) for run in self.job_runs(experiment, job)}

    def job_size(self, experiment: str, job: str) -> JobSize:
        run, settings = next(iter(self.job_runs(experiment, job).items()))
        data = self.data_settings[self.data_keys[experiment][run]]
        params = resources.parameter_count(settings.get("arch", "mlp"), settings["width"], settings["depth"],
                                           sample_shape(data))
        n = data["n_train"]
        return JobSize(settings, n, min(n, self.config["ntk"]["probe_size"]), params, len(self.jobs[experiment][job]))

    def job_threads(self, experiment: str, job: str) -> int:
        """A job's threads (lplr.resources.cpus_per_task) from one seed's step, 6 n P flops, not from its seed
        count: thread counts change float reduction splits, and a seed's bits must not depend on its job."""
        size = self.job_size(experiment, job)
        return resources.cpus_per_task(size.params, size.n, self.config["device"])

    def train_memory_mb(self, experiment: str, job: str, attempt: int = 1) -> int:
        s = self.job_size(experiment, job)
        return resources.train_memory_mb(s.params, s.n, s.settings["width"], s.settings["depth"], s.seeds,
                                         self.config["device"], attempt)

    def train_runtime_min(self, experiment: str, job: str, attempt: int = 1) -> int:
        s = self.job_size(experiment, job)
        return resources.train_runtime_min(s.params, s.n, s.settings["steps"], s.seeds, self.config["device"], attempt)

    def train_priority(self, experiment: str, job: str) -> int:
        s = self.job_size(experiment, job)
        return resources.train_priority(s.params, s.n, s.settings["steps"], s.seeds)

    def probe_memory_mb(self, experiment: str, job: str, attempt: int = 1) -> int:
        s = self.job_size(experiment, job)
        return resources.probe_memory_mb(s.params, s.n_probe, s.settings["width"], s.settings["depth"],
                                         s.settings["checkpoints"], s.seeds, self.config["device"], attempt)

    def probe_runtime_min(self, experiment: str, job: str, attempt: int = 1) -> int:
        s = self.job_size(experiment, job)
        return resources.probe_runtime_min(s.params, s.n, s.n_probe, s.settings["width"], s.settings["depth"],
                                           s.settings["checkpoints"], s.seeds, self.config["device"], attempt)

    def batch_groups(self) -> list[BatchGroup]:
        groups = []
        for name in self.batched:
            by_seeds: dict[tuple, list[str]] = {}
            for job, runs in self.jobs[name].items():
                by_seeds.setdefault(tuple(self.runs[name][run]["seed"] for run in runs), []).append(job)
            for index, (seeds, jobs) in enumerate(by_seeds.items()):
                constraints = {"experiment": name}
                if condition_keys(self.config, name):
                    constraints["condition"] = "|".join(re.escape(job) for job in jobs)
                groups.append(BatchGroup(name, f"_{index}" if index else "", seeds, tuple(jobs), constraints))
        return groups

    def seed_run_pattern(self, experiment: str, seed: int) -> str:
        """A batched job's run id for `seed`, its condition a {condition} wildcard (none for one condition)."""
        condition = "{condition}" if condition_keys(self.config, experiment) else ""
        return RUN_ID_SEPARATOR.join(filter(None, [condition, f"seed={seed}"]))

    def run_files(self, experiment: str, pattern: str) -> list[str]:
        """`pattern` for every run of `experiment`, in run order, at the folder of the experiment that trains it."""
        return [pattern.format(experiment=owner, run=run) for owner, run in self.sources[experiment].values()]

    def bundle_inputs(self) -> list[str]:
        """What rebuilds tables, figures, notebooks and the paper: data manifests, each run's files, the
        analysis tables (lplr.plots.registry.TABLES); a shared run is listed once."""
        files = [f"results/data/{key}/manifest.json" for key in sorted(self.data_settings)]
        for name in self.experiments:
            for pattern in RUN_FILES + ((CHECKPOINTS,) if self.config["bundle_checkpoints"] else ()):
                files += self.run_files(name, pattern)
            files += [table.format(experiment=name) for table in TABLES.values()]
        return list(dict.fromkeys(files))

    def figures(self) -> list[str]:
        """The figures of the registry whose experiment is enabled."""
        return [name for name, figure in FIGURES.items() if figure.experiment in self.experiments]

    def notebook_runs(self) -> dict[str, list[str]]:
        """{experiment: run ids} with a run explorer in the default target (config notebooks.runs)."""
        return selected_runs(self.config, self.experiments)

    def notebook_experiments(self) -> list[str]:
        return selected_experiments(self.config, self.experiments)

    def default_targets(self) -> list[str]:
        """Every experiment's summary, every enabled figure, the notebook index (and through it every notebook),
        and the paper when its experiments run."""
        targets = [TABLES["summary"].format(experiment=name) for name in self.experiments]
        targets += [f"results/figures/{figure}.pdf" for figure in self.figures()]
        targets.append("results/notebooks/index.html")
        if all(name in self.experiments for name in PAPER_EXPERIMENTS):
            targets.append("results/paper/main.pdf")
        return targets
