"""Config validation and the expansion of experiment blocks into concrete runs.

An experiment block names its conditions, either as a grid (`vary`, a cartesian product) or as an
explicit list (`conditions`, for settings that only make sense together, such as an lr value and
its lr_mode), and seeds; each condition times each seed is one run, with the settings `training`
defaults <- experiment `training` overrides <- condition values <- seed. Run ids are hive-style
("width=64+seed=0") so that a path names its settings. Their separator is '+', not ',': a cluster job
gets its run id through `snakemake --target-jobs rule:experiment=...,run=...`, which Snakemake 9
splits at every comma (quoted or not), so a comma in a wildcard value breaks every remote executor.

Shared runs, jobs and targets are the run plan's (lplr.plan). `data.seed: per_run` prepares each run's
training subset with the run's own seed.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lplr.errors import ConfigError
from lplr.formatting import RUN_ID_SEPARATOR, format_value
from lplr.io import settings_hash


FULL_BATCH = "full"  # batch_size: full = n_train of the experiment's data


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def validate_config(config: dict, schema: dict, source="config.yaml") -> dict:
    """Validate `config` against the JSON schema (filling defaults) and raise ConfigError naming the key and
    `source`: a file name, or a function of the key's path that names the file it came from."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = _with_defaults(validator_cls)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        error = errors[0]
        key = dotted_key(error.absolute_path) or "<top level>"
        where = source(list(error.absolute_path)) if callable(source) else f"{source} (or in the --config override)"
        raise ConfigError(
            f"config key '{key}': {error.message}. Fix it in {where}; "
            f"the allowed values are described in workflow/schemas/config.schema.yaml."
        )
    _check_semantics(config)
    return config


def dotted_key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _with_defaults(validator_cls):
    """A validator that also fills `default` values into the instance (as snakemake's validate does)."""
    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def _check_semantics(config: dict) -> None:
    """Checks a JSON schema cannot express."""
    from lplr.data import check_data_settings  # here, not at the top: lplr.data imports torch (~2 s)

    check_data_settings(config["data"], "data")
    for name, block in config["experiments"].items():
        if "data" in block:
            check_data_settings(data_settings(config, name), f"experiments.{name}.data")
        if "vary" in block and "conditions" in block:
            raise ConfigError(f"config key 'experiments.{name}': give either `vary` (a grid) or `conditions` (a list), not both.")
        n_train = data_settings(config, name)["n_train"]
        for run, settings in experiment_runs(config, name).items():
            if "width" not in settings:
                raise ConfigError(f"config key 'experiments.{name}': run {run} has no width; set training.width or vary.width.")
            if settings["optimizer"] == "sgd" and not 1 <= settings.get("batch_size", 0) <= n_train:
                raise ConfigError(
                    f"config key '{batch_size_key(config, name)}': run {run} of experiment '{name}' has batch_size "
                    f"{settings.get('batch_size')}, but its data have n_train = {n_train}; use 1..{n_train}, or "
                    f"`full` for the whole training set.")
        for index, condition in enumerate(block.get("conditions", [])):
            if "seed_batching" in condition:
                raise ConfigError(f"config key 'experiments.{name}.conditions[{index}].seed_batching': the seeds of an "
                                  "experiment are batched or not as a whole; set it in the experiment's `training` block.")


def batch_size_key(config: dict, experiment: str) -> str:
    """The config key an experiment's batch_size comes from (the most specific place that sets it)."""
    block = config["experiments"][experiment]
    if "batch_size" in block.get("vary", {}):
        return f"experiments.{experiment}.vary.batch_size"
    for i, condition in enumerate(block.get("conditions", [])):
        if "batch_size" in condition:
            return f"experiments.{experiment}.conditions[{i}].batch_size"
    if "batch_size" in block.get("training", {}):
        return f"experiments.{experiment}.training.batch_size"
    return "training.batch_size"


def resolve_batch_size(settings: dict, n_train: int) -> dict:
    """`batch_size: full` is the whole training set (full-batch SGD), so it follows n_train."""
    return {**settings, "batch_size": n_train} if settings.get("batch_size") == FULL_BATCH else settings


def enabled_experiments(config: dict) -> list[str]:
    return [name for name, block in config["experiments"].items() if block.get("enabled", True)]


def data_settings(config: dict, experiment: str) -> dict:
    """The data preparation settings of an experiment: top-level `data` with its overrides."""
    return {**config["data"], **config["experiments"][experiment].get("data", {})}


def fit_settings(config: dict, experiment: str) -> dict:
    """The fit settings of an experiment: top-level `fit` with the experiment's window overrides."""
    override = config["experiments"][experiment].get("fit", {}).get("window", {})
    return {**config["fit"], "window": {**config["fit"]["window"], **override}}


def run_data_settings(config: dict, experiment: str, seed: int) -> dict:
    """A run's data settings: with `data.seed: per_run` its training subset is drawn with the run's seed."""
    settings = data_settings(config, experiment)
    return {**settings, "seed": seed} if settings["seed"] == "per_run" else settings


def data_key(settings: dict) -> str:
    """The folder name of a prepared set: '<dataset>-<hash of every setting that changes the tensors>'."""
    hashed = {k: v for k, v in settings.items() if k != "root"}
    return f"{settings['dataset']}-{settings_hash(hashed)}"


def condition_id(point: dict) -> str:
    """The condition's part of a run id: "width=64", "init=he+lr=0.5+lr_mode=calibrated", "" for none."""
    return RUN_ID_SEPARATOR.join(f"{key}={format_value(value)}" for key, value in point.items())


def run_id(point: dict, seed: int) -> str:
    return RUN_ID_SEPARATOR.join(filter(None, [condition_id(point), f"seed={seed}"]))


def condition_keys(config: dict, experiment: str) -> list[str]:
    """The settings that tell an experiment's conditions apart (the columns of its tables)."""
    block = config["experiments"][experiment]
    if "conditions" in block:
        return sorted({key for condition in block["conditions"] for key in condition})
    return sorted(block.get("vary", {}))


def conditions(config: dict, experiment: str) -> list[dict]:
    block = config["experiments"][experiment]
    n_train = data_settings(config, experiment)["n_train"]
    if "conditions" in block:  # keys sorted, so run ids do not depend on how the YAML was written
        return [resolve_batch_size(dict(sorted(c.items())), n_train) for c in block["conditions"]]
    vary = dict(sorted(block.get("vary", {}).items()))
    return [resolve_batch_size(dict(zip(vary, values)), n_train) for values in itertools.product(*vary.values())]


def experiment_runs(config: dict, experiment: str) -> dict[str, dict[str, Any]]:
    """Every run of an experiment: {run_id: settings}, in a stable order."""
    block = config["experiments"][experiment]
    base = resolve_batch_size({**config["training"], **block.get("training", {})},
                              data_settings(config, experiment)["n_train"])
    runs = {}
    for point in conditions(config, experiment):
        for seed in block["seeds"]:
            runs[run_id(point, seed)] = {**base, **point, "seed": seed, "precision": config["precision"]}
    return runs


def shared_settings(config: dict, experiment: str) -> dict[str, Any]:
    """The settings every run of an experiment has alike (e.g. the step arm's width 1024, set in its training block
    and so no column of its runs.csv): what a claim's `requires` is checked against besides the columns."""
    runs = list(experiment_runs(config, experiment).values())
    return {key: value for key, value in runs[0].items() if all(run.get(key) == value for run in runs[1:])}
