"""The run plan (lplr.plan) without Snakemake: shared runs and their owner, jobs per condition or per run,
the seed groups of batched rules, job sizes and threads, the bundle's contents and the default targets."""

import copy
import re

import pytest
import yaml

from lplr.config import experiment_runs, validate_config
from lplr.errors import PlanError
from lplr.plan import Plan, run_sources, seed_jobs
from lplr.plots.registry import TABLES
from tiny import EXPLORED, tiny_config


@pytest.fixture
def tiny(default_config, schema):
    """The tiny config as the workflow tests write it: yaml.safe_dump sorts the experiments by name."""
    return validate_config(yaml.safe_load(yaml.safe_dump(tiny_config(default_config))), schema)


def test_jobs_are_one_per_condition_or_one_per_run(default_config, schema):
    config = validate_config(copy.deepcopy(default_config), schema)
    jobs = seed_jobs(config, "width")
    widths, seeds = config["experiments"]["width"]["vary"]["width"], config["experiments"]["width"]["seeds"]
    assert list(jobs) == [f"width={w}" for w in widths]
    assert jobs[f"width={widths[1]}"] == [f"width={widths[1]}+seed={s}" for s in seeds]
    assert sorted(r for runs in jobs.values() for r in runs) == sorted(experiment_runs(config, "width"))
    config["experiments"]["width"]["training"] = {"seed_batching": "per_seed"}
    assert seed_jobs(config, "width") == {run: [run] for run in experiment_runs(config, "width")}
    del config["experiments"]["width"]["vary"]  # one condition: its job id is "" and run ids are "seed=s"
    config["experiments"]["width"]["training"] = {"width": 8}
    assert seed_jobs(config, "width") == {"": [f"seed={s}" for s in seeds]}


def test_a_shared_run_belongs_to_the_first_experiment_of_the_owner_order_whatever_the_key_order(tiny):
    plan = Plan(tiny)
    assert list(tiny["experiments"])[:2] == ["batch", "cnn"]  # sorted keys
    assert plan.shared_sources("init") == {"init=he+lr=0.01+lr_mode=fixed+seed=0": "width/width=8+seed=0"}
    assert plan.shared_sources("step") == {EXPLORED: "width/width=8+seed=0"}
    assert plan.shared_sources("batch") == {"batch_size=8+seed=0": "cnn/batch_size=8+seed=0"}
    assert plan.shared_sources("width") == plan.shared_sources("cnn") == {}
    reordered = {**tiny, "experiments": dict(reversed(list(tiny["experiments"].items())))}
    assert run_sources(reordered) == run_sources(tiny)
    # an experiment outside the fixed order comes after it, by name
    renamed = {**tiny, "experiments": {("zz_width" if k == "width" else k): v for k, v in tiny["experiments"].items()}}
    assert Plan(renamed).shared_sources("zz_width") == {"width=8+seed=0": ("init/init=he+lr=0.01+lr_mode=fixed+seed=0")}


def test_only_owned_runs_are_trained_and_a_shared_one_is_read_from_its_owner(tiny):
    plan = Plan(tiny)
    assert "init=he+lr=0.01+lr_mode=fixed" not in plan.jobs["init"]  # E2's He condition is all E1's
    assert plan.job_runs("width", "width=8")["width=8+seed=0"]["width"] == 8
    with pytest.raises(PlanError, match=re.escape("experiment 'step' has no training job 'lr=0.01+steps=150'")):
        plan.job_runs("step", "lr=0.01+steps=150")  # its one run is E1's
    assert plan.source_of("step", EXPLORED) == ("width", "width=8+seed=0")
    assert plan.run_files("step", "results/train/{experiment}/{run}/manifest.json")[0] == \
        "results/train/width/width=8+seed=0/manifest.json"
    with pytest.raises(PlanError, match=re.escape("experiment 'width' has no run 'width=99+seed=0' in this config; "
                                                  "its runs: width=8+seed=0")):
        plan.source_of("width", "width=99+seed=0")


def test_a_condition_partly_owned_elsewhere_gets_its_own_seed_group(tiny):
    """E3 seeds [0, 2]: its lr 0.01 condition trains seed 2 only (seed 0 is E1's), the other both seeds, so the
    two conditions need rules with different outputs: train_step and train_step_1."""
    tiny["experiments"]["step"]["seeds"] = [0, 2]
    groups = [g for g in Plan(tiny).batch_groups() if g.experiment == "step"]
    assert [(g.suffix, g.seeds, g.jobs) for g in groups] == [("", (2,), ("lr=0.01+steps=150",)),
                                                              ("_1", (0, 2), ("lr=0.001+steps=300",))]
    assert groups[0].constraints == {"experiment": "step", "condition": re.escape("lr=0.01+steps=150")}
    assert Plan(tiny).seed_run_pattern("step", 2) == "{condition}+seed=2"


def test_a_per_seed_job_is_one_run_with_its_resume_file_in_its_folder(tiny):
    plan = Plan(tiny)
    assert (plan.stepper("width"), plan.resume_file("width", "width=8")) == ("batched", "results/train/width/width=8.resume.pt")
    tiny["training"]["seed_batching"] = "per_seed"
    plan = Plan(tiny)
    assert plan.stepper("width") == "per_seed" and list(plan.jobs["width"])[0] == "width=8+seed=0"
    assert plan.job_runs("width", "width=8+seed=0") == {"width=8+seed=0": plan.runs["width"]["width=8+seed=0"]}
    assert plan.resume_file("width", "width=8+seed=0") == "results/train/width/width=8+seed=0/resume.pt"


def test_per_run_data_prepares_one_set_per_seed(tiny):
    tiny["data"]["seed"] = 0  # one training subset for every run
    assert len({Plan(tiny).data_file("width", run) for run in Plan(tiny).runs["width"]}) == 1
    tiny["data"]["seed"] = "per_run"  # the default
    plan = Plan(tiny)
    files = plan.job_data("width", "width=8")
    assert list(files) == ["width=8+seed=0", "width=8+seed=1"] and len(set(files.values())) == 2
    assert {plan.data_settings[key]["seed"] for key in plan.data_keys["width"].values()} == {0, 1}


def test_job_sizes_count_seeds_and_threads_follow_one_seeds_work(tiny):
    plan = Plan(tiny)
    size = plan.job_size("width", "width=16")
    assert (size.n, size.seeds, size.settings["width"]) == (40, 2, 16) and size.params > 0
    assert plan.job_paths("width", "width=16", "results/train/{experiment}/{run}") == {
        "width=16+seed=0": "results/train/width/width=16+seed=0", "width=16+seed=1": "results/train/width/width=16+seed=1"}
    big = copy.deepcopy(tiny)
    big["experiments"]["width"].update(vary={"width": [4096]}, seeds=list(range(8)))
    big["data"]["n_train"] = 4096
    few = copy.deepcopy(big)
    few["experiments"]["width"]["seeds"] = [0]
    threads = Plan(big).job_threads("width", "width=4096")
    assert threads > 1 and threads == Plan(few).job_threads("width", "width=4096")  # not from the seed count
    assert Plan(big).train_memory_mb("width", "width=4096") > Plan(few).train_memory_mb("width", "width=4096")


def test_the_bundle_holds_each_run_once_and_every_analysis_table(tiny):
    plan = Plan(tiny)
    files = plan.bundle_inputs()
    assert len(files) == len(set(files))
    for name in plan.experiments:
        assert all(table.format(experiment=name) in files for table in TABLES.values())
    assert "results/train/width/width=8+seed=0/metrics.csv" in files
    assert not any(f.startswith("results/train/step/" + EXPLORED) for f in files)
    assert not any(f.endswith("/checkpoints") for f in files)
    tiny["bundle_checkpoints"] = True
    assert "results/train/width/width=8+seed=0/checkpoints" in Plan(tiny).bundle_inputs()


def test_default_targets_follow_the_enabled_experiments(tiny):
    targets = Plan(tiny).default_targets()
    assert "results/paper/main.pdf" in targets and "results/tables/cnn_summary.csv" in targets
    assert "results/figures/width_ablation.pdf" in targets and "results/notebooks/index.html" in targets
    tiny["experiments"]["width"]["enabled"] = False
    targets = Plan(tiny).default_targets()
    assert "results/paper/main.pdf" not in targets and "results/figures/width_ablation.pdf" not in targets
    assert "results/tables/width_summary.csv" not in targets and "results/tables/init_summary.csv" in targets
