"""The workflow on a real one-node SLURM cluster (tests/slurm/start.sh): Debian's slurmctld, slurmd and
munge on this machine, jobs submitted by snakemake-executor-plugin-slurm. Not skipped: when the
cluster cannot start, the tests fail with start.sh's reason."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import BIN, ROOT
from test_workflow import copy_repo, snakemake, tiny_config

pytestmark = pytest.mark.integration
PROFILE = ROOT / "tests/slurm/profile"
FAULT_RUN = "width=128+seed=0"


@pytest.fixture(scope="module")
def cluster():
    """SLURM_CONF of the running test cluster; stopped when the module's tests are done."""
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "tests/slurm/start.sh")], capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        pytest.fail(f"the SLURM test cluster did not start (tests/slurm/start.sh): {result.stderr.strip()}")
    conf = result.stdout.strip().splitlines()[-1].removeprefix("SLURM_CONF=")
    print(f"SLURM test cluster up in {time.monotonic() - started:.1f} s ({conf})")
    os.environ["SLURM_CONF"] = conf  # for snakemake, sbatch, squeue, scancel below
    yield conf
    stop = subprocess.run([str(ROOT / "tests/slurm/stop.sh")], capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stderr


def width_only(default: dict, **training) -> dict:
    """The tiny config with E1 only, at one seed (2 training and 2 probe jobs)."""
    config = tiny_config(default)
    for name in config["experiments"]:
        config["experiments"][name]["enabled"] = name == "width"
    config["experiments"]["width"]["seeds"] = [0]
    config["training"].update(training)
    return config


def slurm_snakemake(workdir, *args, **kwargs):
    return snakemake(workdir, "--profile", str(PROFILE), *args, **kwargs)


def submitted_ids(log: str) -> list[str]:
    """SLURM job ids Snakemake reported submitting."""
    return re.findall(r"submitted with SLURM jobid (\d+)", log)


def slurm_state(job_id: str) -> str:
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%T", "--jobs", job_id],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def frames_without_timing(folder, pattern):
    return {path.relative_to(folder).as_posix(): pd.read_csv(path).drop(columns=["step_time"], errors="ignore")
            for path in sorted(folder.glob(pattern))}


@pytest.fixture(scope="module")
def slurm_and_local_runs(cluster, tmp_path_factory):
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    config = width_only(default)
    dropping = json.loads(json.dumps(config))
    dropping["ntk"]["keep_checkpoints"] = False  # the cluster-quota option: checkpoints gone once probed
    slurm_dir = copy_repo(tmp_path_factory.mktemp("slurm"), dropping)
    result = slurm_snakemake(slurm_dir)
    assert result.returncode == 0, result.stderr[-6000:]
    local_dir = copy_repo(tmp_path_factory.mktemp("local"), config)
    local = snakemake(local_dir, "--cores", "2", "results/fits/width/runs.csv", "--config", "device=cpu")
    assert local.returncode == 0, local.stderr[-4000:]
    return slurm_dir, local_dir, result.stderr


def test_train_and_probe_jobs_went_through_slurm(cluster, slurm_and_local_runs):
    slurm_dir, _, log = slurm_and_local_runs
    ids = submitted_ids(log)
    assert len(ids) == 4 == len(set(ids)), log[-3000:]  # 2 train + 2 probe; data, fits, figures, paper are local
    controller_log = Path(cluster).with_name("slurmctld.log").read_text()
    for job_id in ids:
        assert f"JobId={job_id} done" in controller_log, f"slurmctld.log has no completion of job {job_id}"
        assert slurm_state(job_id) == "COMPLETED"
        job = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout
        assert "Partition=cpu" in job and "gpu" not in re.search(r"TRES=(\S+)", job).group(1), job
    assert (slurm_dir / "results/paper/main.pdf").read_bytes().startswith(b"%PDF")


def test_probed_checkpoints_are_dropped_and_nothing_reruns(slurm_and_local_runs):
    slurm_dir, local_dir, _ = slurm_and_local_runs
    spectra = sorted(slurm_dir.glob("results/ntk/width/*/spectrum.csv"))
    assert len(spectra) == 2
    assert not list(slurm_dir.glob("results/train/width/*/checkpoints"))  # keep_checkpoints: false
    assert len(list(local_dir.glob("results/train/width/*/checkpoints/step_*.pt"))) == 2 * 5  # kept by default
    assert not list(slurm_dir.glob("results/train/width/*/resume.pt"))  # removed when each run completed
    again = slurm_snakemake(slurm_dir, "--dry-run")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stderr[-3000:]


def test_slurm_metrics_equal_a_local_run(slurm_and_local_runs):
    slurm_dir, local_dir, _ = slurm_and_local_runs
    for pattern in ("results/train/width/*/metrics.csv", "results/ntk/width/*/spectrum.csv", "results/fits/width/runs.csv"):
        slurm, local = frames_without_timing(slurm_dir, pattern), frames_without_timing(local_dir, pattern)
        assert slurm.keys() == local.keys() and slurm, pattern
        for name in slurm:
            pd.testing.assert_frame_equal(slurm[name], local[name], check_exact=True, obj=name)


def test_a_gpu_request_reaches_slurm_apart_from_the_device(cluster, tmp_path):
    """config gpus=1 with device=cpu: the batched training job asks SLURM for the test node's one GPU (a generic
    resource without a device) and trains on the CPU; the request is in `scontrol show job`."""
    config = width_only(yaml.safe_load((ROOT / "config.yaml").read_text()))
    config["experiments"]["width"]["vary"] = {"width": [8]}
    workdir = copy_repo(tmp_path, config)
    result = slurm_snakemake(workdir, "results/train/width/width=8+seed=0/metrics.csv", "--config", "device=cpu", "gpus=1")
    assert result.returncode == 0, result.stderr[-4000:]
    ids = submitted_ids(result.stderr)
    assert len(ids) == 1, result.stderr[-3000:]
    job = subprocess.run(["scontrol", "show", "job", ids[0]], capture_output=True, text=True, timeout=30).stdout
    # the request (TRES= lists tracked resources only, and tracking a GPU needs slurmdbd)
    assert re.search(r"TresPerJob=\S*gres[:/]gpu[:=]1\b", job), job
    assert slurm_state(ids[0]) == "COMPLETED"
    assert json.loads((workdir / "results/train/width/width=8+seed=0/manifest.json").read_text())["device"] == "cpu"


def test_a_cancelled_training_job_resumes_to_identical_metrics(cluster, tmp_path):
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    config = width_only(default, steps=3000, resume_every=500, metrics_block=250)
    config["data"].update(n_train=128, n_test=40)
    config["training"]["seed_batching"] = "per_seed"  # rule train: one job, one run, resume.pt in the run folder
    config["experiments"]["width"]["vary"] = {"width": [128]}
    target = f"results/train/width/{FAULT_RUN}/metrics.csv"
    run_dir = tmp_path / "slurm"
    run_dir.mkdir()
    copy_repo(run_dir, config)
    resume_file = run_dir / f"results/train/width/{FAULT_RUN}/resume.pt"

    log_file = tmp_path / "first.log"
    with open(log_file, "w") as log:
        first = subprocess.Popen([str(BIN / "snakemake"), "--configfile", "tiny.yaml", "--profile", str(PROFILE), target],
                                 cwd=run_dir, stdout=log, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
        deadline = time.monotonic() + 300
        while not resume_file.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert resume_file.exists(), f"no resume checkpoint was written: {log_file.read_text()[-3000:]}"
        ids = submitted_ids(log_file.read_text())
        assert len(ids) == 1
        subprocess.run(["scancel", ids[0]], check=True, timeout=30)
        assert first.wait(timeout=300) != 0
    assert slurm_state(ids[0]) == "CANCELLED"
    assert not (run_dir / target).exists() and resume_file.exists()

    second = slurm_snakemake(run_dir, target)
    assert second.returncode == 0, second.stderr[-4000:]
    manifest = json.loads((run_dir / f"results/train/width/{FAULT_RUN}/manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["resumed_from_step"] >= 500
    assert not resume_file.exists()  # removed once the run completed

    local_dir = tmp_path / "local"
    local_dir.mkdir()
    copy_repo(local_dir, config)
    local = snakemake(local_dir, "--cores", "1", target, "--config", "device=cpu")
    assert local.returncode == 0, local.stderr[-4000:]
    resumed = pd.read_csv(run_dir / target).drop(columns="step_time")
    uninterrupted = pd.read_csv(local_dir / target).drop(columns="step_time")
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)
