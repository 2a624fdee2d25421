"""Config validation names the key; experiment blocks expand into the expected runs."""

import copy
import re
from pathlib import Path

import pytest

from lplr.config import (ConfigError, data_key, data_settings, enabled_experiments, experiment_runs, run_id,
                         shared_settings, validate_config)


def test_default_config_is_valid(default_config, schema):
    validate_config(default_config, schema)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["experiments"]["width"]["vary"].__setitem__("width", [16, -8]), "experiments.width.vary.width[1]"),
        (lambda c: c["training"].__setitem__("steps", "many"), "training.steps"),
        (lambda c: c["training"].__setitem__("init", "xavier"), "training.init"),
        (lambda c: c["training"].__setitem__("lambda_min_every", -20), "training.lambda_min_every"),
        (lambda c: c["data"].__setitem__("dataset", "svhn"), "data.dataset"),
        (lambda c: c["data"].__setitem__("classes", [0, 11]), "data.classes[1]"),
        (lambda c: c["fit"].__setitem__("confidence", 1.5), "fit.confidence"),
        (lambda c: c["experiments"]["width"].__setitem__("colour", "red"), "experiments.width"),
        (lambda c: c.__setitem__("device", "tpu"), "device"),
    ],
)
def test_bad_values_are_refused_naming_the_key(default_config, schema, mutate, key):
    config = copy.deepcopy(default_config)
    mutate(config)
    with pytest.raises(ConfigError, match=re.escape(f"config key '{key}'")):
        validate_config(config, schema)


def test_unknown_key_is_named(default_config, schema):
    config = copy.deepcopy(default_config)
    config["training"]["widht"] = 64
    with pytest.raises(ConfigError, match="'widht' was unexpected"):
        validate_config(config, schema)


def test_runs_are_the_grid_times_the_seeds(default_config, schema):
    config = validate_config(copy.deepcopy(default_config), schema)
    runs = experiment_runs(config, "width")
    widths, seeds = config["experiments"]["width"]["vary"]["width"], config["experiments"]["width"]["seeds"]
    assert len(runs) == len(widths) * len(seeds)
    assert runs[f"width={widths[0]}+seed={seeds[-1]}"]["width"] == widths[0]
    assert all(r["precision"] == config["precision"] and r["depth"] == 5 for r in runs.values())


def test_data_key_changes_with_every_preparation_setting(default_config, schema):
    config = validate_config(copy.deepcopy(default_config), schema)
    base = data_settings(config, "width")
    keys = {data_key(base)}
    for change in ({"n_train": 100}, {"seed": 1}, {"classes": [3, 8]}, {"normalization": "unit_norm"}):
        keys.add(data_key({**base, **change}))
    assert len(keys) == 5
    assert data_key({**base, "root": "/elsewhere"}) == data_key(base)  # where downloads live changes nothing


def test_conditions_list_expands_with_seeds(default_config, schema):
    config = copy.deepcopy(default_config)
    config["experiments"]["pair"] = {
        "training": {"width": 16},
        "conditions": [{"init": "he", "lr_mode": "calibrated", "lr": 0.5},
                       {"init": "depth_aware", "lr_mode": "fixed", "lr": 0.2}],
        "seeds": [0, 1],
    }
    validate_config(config, schema)
    runs = experiment_runs(config, "pair")
    # condition keys sorted: run ids do not depend on the order the YAML lists them in
    assert list(runs) == ["init=he+lr=0.5+lr_mode=calibrated+seed=0", "init=he+lr=0.5+lr_mode=calibrated+seed=1",
                          "init=depth_aware+lr=0.2+lr_mode=fixed+seed=0", "init=depth_aware+lr=0.2+lr_mode=fixed+seed=1"]
    assert runs["init=depth_aware+lr=0.2+lr_mode=fixed+seed=1"]["width"] == 16
    shared = shared_settings(config, "pair")  # what every run has alike: the width, not the varied init or seed
    assert shared["width"] == 16 and "init" not in shared and "seed" not in shared and "lr" not in shared


def test_vary_and_conditions_together_are_refused(default_config, schema):
    config = copy.deepcopy(default_config)
    config["experiments"]["width"]["conditions"] = [{"width": 8}]
    with pytest.raises(ConfigError, match="either `vary`"):
        validate_config(config, schema)


def test_a_condition_with_a_bad_value_names_its_index(default_config, schema):
    config = copy.deepcopy(default_config)
    config["experiments"]["pair"] = {"conditions": [{"width": 8}, {"width": 0}], "seeds": [0]}
    with pytest.raises(ConfigError, match=re.escape("config key 'experiments.pair.conditions[1].width'")):
        validate_config(config, schema)


def test_seed_batching_is_per_experiment_not_per_condition(default_config, schema):
    config = copy.deepcopy(default_config)
    config["experiments"]["init"]["conditions"][0]["seed_batching"] = "per_seed"
    with pytest.raises(ConfigError, match=re.escape("config key 'experiments.init.conditions[0].seed_batching'")):
        validate_config(config, schema)
    config = copy.deepcopy(default_config)
    config["training"]["seed_batching"] = "sometimes"
    with pytest.raises(ConfigError, match=re.escape("config key 'training.seed_batching'")):
        validate_config(config, schema)


def test_per_run_data_seed_gives_each_seed_its_own_prepared_set(default_config, schema):
    from lplr.config import run_data_settings

    config = copy.deepcopy(default_config)
    config["data"]["seed"] = 0  # an integer: one training subset for every seed
    config = validate_config(config, schema)
    shared = {data_key(run_data_settings(config, "width", s)) for s in (0, 1, 2)}
    assert len(shared) == 1
    config["data"]["seed"] = "per_run"
    validate_config(config, schema)
    per_run = [run_data_settings(config, "width", s) for s in (0, 1, 2)]
    assert [d["seed"] for d in per_run] == [0, 1, 2]
    assert len({data_key(d) for d in per_run}) == 3
    config["data"]["seed"] = "per_seed"
    with pytest.raises(ConfigError, match=re.escape("config key 'data.seed'")):
        validate_config(config, schema)


# Data-dependent limits are checked at validation, before any job, naming the key.
def test_digits_sizes_beyond_its_class_counts_are_refused(default_config, schema):
    config = copy.deepcopy(default_config)
    config["data"].update(dataset="digits", n_train=256, n_test=256)
    with pytest.raises(ConfigError, match=re.escape("config key 'data.n_train' / 'data.n_test'")) as error:
        validate_config(config, schema)
    assert "digits has 178 examples of class '0'" in str(error.value)
    config["data"].update(n_train=256, n_test=96)  # 128 + 48 = 176 <= 178 per class
    validate_config(config, schema)


def test_download_split_sizes_are_checked_per_split(default_config, schema):
    config = copy.deepcopy(default_config)
    config["experiments"]["width"]["data"] = {"dataset": "cifar10", "classes": ["cat", "dog"], "n_test": 2002}
    with pytest.raises(ConfigError, match=r"'experiments\.width\.data\.n_train'.*1000 examples of class 'cat' in its test split"):
        validate_config(config, schema)


@pytest.mark.parametrize("where, key", [
    (lambda c: c["experiments"]["batch"]["vary"].__setitem__("batch_size", [64, 300]), "experiments.batch.vary.batch_size"),
    (lambda c: (c["experiments"]["cnn"].pop("vary"), c["experiments"]["cnn"]["training"].__setitem__("batch_size", 300)),
     "experiments.cnn.training.batch_size"),
    (lambda c: c["experiments"]["cnn"].__setitem__("data", {"n_train": 32}), "experiments.cnn.vary.batch_size"),
])
def test_a_batch_larger_than_the_training_set_is_refused(default_config, schema, where, key):
    config = copy.deepcopy(default_config)
    config["experiments"]["cnn"]["training"] = dict(config["experiments"]["cnn"]["training"])  # unalias the YAML anchor
    where(config)
    with pytest.raises(ConfigError, match=re.escape(f"config key '{key}'")) as error:
        validate_config(config, schema)
    assert "n_train" in str(error.value) and "full" in str(error.value)


def test_full_batch_follows_n_train(default_config, schema):
    config = copy.deepcopy(default_config)
    config["experiments"]["batch"]["data"] = {**config["experiments"]["batch"]["data"], "n_train": 128}
    validate_config(config, schema)
    runs = experiment_runs(config, "batch")
    assert {settings["batch_size"] for settings in runs.values()} == {128, 64, 16}
    assert "batch_size=128+seed=0" in runs  # run ids name the size, so tables and figures stay numeric


def test_an_unknown_batch_word_is_refused(default_config, schema):
    config = copy.deepcopy(default_config)
    config["experiments"]["batch"]["vary"]["batch_size"] = ["all", 16]
    with pytest.raises(ConfigError, match=re.escape("config key 'experiments.batch.vary.batch_size[0]'")):
        validate_config(config, schema)


def test_run_ids_survive_the_cluster_job_command_line(default_config):
    """A cluster job gets its wildcards through `snakemake --target-jobs`; Snakemake's own encoder and
    parser must give every run id back unchanged (a comma would be split off)."""
    from snakemake.target_jobs import parse_target_jobs_cli_args
    from snakemake_interface_executor_plugins.utils import TargetSpec, encode_target_jobs_cli_args

    for experiment in enabled_experiments(default_config):
        for run in experiment_runs(default_config, experiment):
            spec = TargetSpec("train", {"experiment": experiment, "run": run})
            parsed = parse_target_jobs_cli_args(encode_target_jobs_cli_args([spec]))[0]
            assert parsed.wildcards_dict == {"experiment": experiment, "run": run}


def test_float_values_in_run_ids_have_no_separator():
    assert run_id({"lr": 1e6, "momentum": 0.9}, 0) == "lr=1e06+momentum=0.9+seed=0"


@pytest.mark.parametrize("name", ["quick", "full-cpu", "paper", "paper-cpu"])
def test_every_shipped_config_validates_merged_over_the_default(name):
    """configs/<name>.yaml merged over config.yaml as Snakemake merges them: valid, and its run explorers exist."""
    from lplr.config import enabled_experiments
    from lplr.notebooks import selected_runs
    from lplr.preflight import ROOT, load_config

    config = load_config([ROOT / "configs" / f"{name}.yaml"])
    chosen = selected_runs(config, enabled_experiments(config))
    assert sum(len(runs) for runs in chosen.values()) >= 1


def test_a_yaml_error_names_file_and_line_and_a_key_its_file(tmp_path):
    from lplr.configfiles import key_source, read_config_file, read_config_files

    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  steps: 10\n   lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"config file .*bad\.yaml, line 3, column 6: not valid YAML"):
        read_config_file(bad)
    (tmp_path / "a.yaml").write_text("training: {steps: 5}\nexperiments: {width: {seeds: [0, 1]}}\n")
    (tmp_path / "b.yaml").write_text("experiments: {width: {seeds: [2]}}\n")
    files = read_config_files([tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "missing.yaml"])
    assert [Path(name).name for name in files] == ["a.yaml", "b.yaml"]
    assert Path(key_source(["experiments", "width", "seeds", 0], files)).name == "b.yaml"  # the last one wins
    assert Path(key_source(["training", "steps"], files)).name == "a.yaml"
    assert key_source(["training", "steps"], files, {"training": {"steps": 3}}) == "the --config override"
    assert key_source(["fit", "lstar"], files) == "config.yaml"


def test_python_m_lplr_help_and_an_unknown_command():
    import subprocess
    import sys

    run = lambda *args: subprocess.run([sys.executable, "-m", "lplr", *args], capture_output=True, text=True)
    shown = run("--help")
    assert shown.returncode == 0 and "preflight" in shown.stdout and not shown.stderr
    unknown = run("prefligth")
    assert unknown.returncode == 2 and "unknown command 'prefligth'" in unknown.stderr
