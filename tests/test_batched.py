"""Batched training (lplr.batched): a seed's bits do not depend on the seeds that share its job, the
batched and per-seed engines agree to float32 rounding, divergence is masked per seed, per-seed data
sets, and exact resume after SIGKILL. On the CPU with one thread, as tests/test_train.py."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from lplr.train import train_batch
from lplr.io import read_json
from lplr.train import train_run
from test_train import BASE, SGD, assert_same_metrics, image_data, metrics, write_data

CNN = dict(SGD, arch="cnn", width=4, depth=2, momentum=0.0)
KINDS = {"gd": {}, "sgd": SGD, "cnn": CNN}


@pytest.fixture
def data_file(tmp_path):
    return image_data(tmp_path / "data")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield 1
    torch.set_num_threads(before)


def job(settings, seeds, data, out, name="job"):
    """Train `seeds` of one condition in one batched job; data: one file or {seed: file}."""
    runs = {f"seed={s}": {**settings, "seed": s} for s in seeds}
    files = {r: data[s] if isinstance(data, dict) else data for r, s in zip(runs, seeds)}
    return train_batch(runs, files, {r: out / name / r for r in runs}, out / f"{name}.resume.pt", device="cpu")


def checkpoint(folder, step):
    return torch.load(folder / "checkpoints" / f"step_{step:07d}.pt")


def assert_same_checkpoints(a, b, steps):
    for step in steps:
        first, second = checkpoint(a, step), checkpoint(b, step)
        assert first.keys() == second.keys()
        for name in first:
            assert torch.equal(first[name], second[name]), (step, name)


@pytest.mark.parametrize("kind", KINDS)
def test_a_seed_gives_the_same_bits_alone_and_with_other_seeds(tmp_path, data_file, kind):
    settings = {**BASE, **KINDS[kind], "sharpness_every": 5, "lambda_min_every": 5, "loss_checkpoints": [0.5, 0.2]}
    alone = job(settings, [1], data_file, tmp_path, "alone")["seed=1"]
    shared = job(settings, [0, 1, 2], data_file, tmp_path, "shared")
    assert_same_metrics(metrics(tmp_path / "alone/seed=1"), metrics(tmp_path / "shared/seed=1"))
    assert_same_checkpoints(tmp_path / "alone/seed=1", tmp_path / "shared/seed=1", alone["checkpoint_steps"])
    assert alone["loss_level_steps"] == shared["seed=1"]["loss_level_steps"]
    assert alone["lr"] == shared["seed=1"]["lr"] and alone["job_seeds"] == [1] and shared["seed=1"]["job_seeds"] == [0, 1, 2]
    # the seeds really are different runs
    assert not np.allclose(metrics(tmp_path / "shared/seed=0")["loss"], metrics(tmp_path / "shared/seed=1")["loss"])


@pytest.mark.parametrize("kind", KINDS)
def test_batched_and_per_seed_engines_agree_to_float32_rounding(tmp_path, data_file, kind):
    """Same theta_0 and eta bit for bit (both come from the same code); the steps then differ in the last
    bits because the batched matrix products (the MLP's written-out bmm/baddbmm, the CNN's vmap) sum in
    another order than nn.Linear/conv's addmm/conv kernels. Measured over these 40 steps: <= 2e-6 relative
    in L and <= 3e-6 in ||grad L||^2 (float32, eps 1.2e-7; SGD the largest); in float64 <= 1e-14."""
    for precision, tolerance in (("float32", 2e-5), ("float64", 1e-12)):
        settings = {**BASE, **KINDS[kind], "precision": precision, "seed": 1}
        batched = job(settings, [0, 1], data_file, tmp_path, f"b{precision}")["seed=1"]
        single = train_run(settings, data_file, tmp_path / f"s{precision}", device="cpu")
        a, b = metrics(tmp_path / f"b{precision}/seed=1"), metrics(tmp_path / f"s{precision}")
        assert (batched["lr"], batched["lambda_max_0"], batched["theta0_norm"]) == (
            single["lr"], single["lambda_max_0"], single["theta0_norm"])
        assert_same_checkpoints(tmp_path / f"b{precision}/seed=1", tmp_path / f"s{precision}", [0])
        assert a["step"].tolist() == b["step"].tolist()
        for column in ("loss", "grad_norm_sq", "drift", "test_loss", "batch_loss"):
            np.testing.assert_allclose(a[column], b[column], rtol=tolerance, atol=0, err_msg=f"{kind} {precision} {column}")
        assert (batched["mode"], single["mode"]) == ("batched", "per_seed")
        assert batched.keys() == single.keys()  # the manifest readers see the same fields


def test_a_diverging_seed_is_masked_and_the_others_go_on(tmp_path):
    """Seed 2 trains on the same images scaled by 30: its NTK is ~900x larger, so a fixed eta that is
    stable for seeds 0 and 1 blows it up. The others' numbers are those of their own jobs, bit for bit,
    and the diverged seed's are those it has alone, up to its divergence step."""
    calm = image_data(tmp_path / "calm")
    tensors = torch.load(calm)
    loud = write_data(tmp_path / "loud", 30 * tensors["x_train"], tensors["y_train"], 30 * tensors["x_test"],
                      tensors["y_test"])
    settings = {**BASE, "lr_mode": "fixed", "lr": 0.5, "steps": 60, "metrics_block": 16}
    data = {0: calm, 1: calm, 2: loud}
    manifests = job(settings, [0, 1, 2], data, tmp_path, "mixed")
    assert [manifests[f"seed={s}"]["status"] for s in (0, 1, 2)] == ["completed", "completed", "diverged"]
    step = manifests["seed=2"]["diverged_step"]
    assert 0 < step < 60 and metrics(tmp_path / "mixed/seed=2")["step"].iloc[-1] == step
    assert all(s < step for s in manifests["seed=2"]["checkpoint_steps"])
    for seed in (0, 1, 2):
        job(settings, [seed], data, tmp_path, f"alone{seed}")
        assert_same_metrics(metrics(tmp_path / f"mixed/seed={seed}"), metrics(tmp_path / f"alone{seed}/seed={seed}"))
    assert metrics(tmp_path / "mixed/seed=0")["loss"].iloc[-1] < metrics(tmp_path / "mixed/seed=0")["loss"][0]


def test_each_seed_trains_on_its_own_data_set(tmp_path):
    """Per-seed data (data.seed: per_run): the sets are stacked and vmapped over; seed s in the job has
    the bits it has alone on its own set, and differs from the run on another seed's set."""
    files = {s: image_data(tmp_path / f"data{s}", seed=10 + s) for s in (0, 1)}
    settings = {**BASE, **SGD}
    manifests = job(settings, [0, 1], files, tmp_path, "pair")
    assert manifests["seed=0"]["data_sha256"] != manifests["seed=1"]["data_sha256"]
    for seed in (0, 1):
        job(settings, [seed], files, tmp_path, f"alone{seed}")
        assert_same_metrics(metrics(tmp_path / f"pair/seed={seed}"), metrics(tmp_path / f"alone{seed}/seed={seed}"))
    job(settings, [0], files[1], tmp_path, "swapped")
    assert not np.allclose(metrics(tmp_path / "pair/seed=0")["loss"], metrics(tmp_path / "swapped/seed=0")["loss"])


def test_runs_of_different_conditions_are_refused(tmp_path, data_file):
    runs = {"width=16,seed=0": {**BASE, "seed": 0}, "width=8,seed=1": {**BASE, "width": 8, "seed": 1}}
    with pytest.raises(ValueError, match="ONE condition"):
        train_batch(runs, {r: data_file for r in runs}, {r: tmp_path / r for r in runs}, tmp_path / "r.pt", device="cpu")


@pytest.mark.parametrize("kind", ["gd", "sgd"])
def test_sigkill_during_a_batched_job_then_rerun_gives_the_uninterrupted_metrics(tmp_path, data_file, one_thread, kind):
    settings = {**BASE, **KINDS[kind], "steps": 1000, "metrics_block": 25, "resume_every": 50, "checkpoints": 8,
                "sharpness_every": 30,  # the power iteration's warm start is resumed too
                "loss_checkpoints": [0.5, 0.05]}  # and the parameters caught at loss levels
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 1, 2)}
    out, resume = tmp_path / "killed", tmp_path / "killed.resume.pt"
    code = ("import json, sys; from lplr.train import train_batch; runs = json.loads(sys.argv[1]); "
            "train_batch(runs, {r: sys.argv[2] for r in runs}, {r: f'{sys.argv[3]}/{r}' for r in runs}, sys.argv[4], "
            "device='cpu', threads=1)")
    process = subprocess.Popen([sys.executable, "-c", code, json.dumps(runs), str(data_file), str(out), str(resume)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not resume.exists():
        assert process.poll() is None, "the training subprocess ended before writing a resume file"
        assert time.monotonic() < deadline, "no resume file after 120 s"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not any((out / r / "metrics.csv").exists() for r in runs), "the job finished before the kill; make it longer"

    manifests = train_batch(runs, {r: data_file for r in runs}, {r: out / r for r in runs}, resume, device="cpu",
                            threads=one_thread)
    assert all(0 < m["resumed_from_step"] < settings["steps"] for m in manifests.values())
    assert not resume.exists()
    straight = job(settings, [0, 1, 2], data_file, tmp_path, "straight")
    for r in runs:
        assert_same_metrics(metrics(out / r), metrics(tmp_path / "straight" / r))
        assert_same_checkpoints(out / r, tmp_path / "straight" / r, straight[r]["checkpoint_steps"])
        assert read_json(out / r / "manifest.json")["checkpoint_steps"] == straight[r]["checkpoint_steps"]


def test_a_resume_file_of_other_seeds_is_ignored(tmp_path, data_file):
    settings = {**BASE, "steps": 60, "resume_every": 20}
    (tmp_path / "job.resume.pt").parent.mkdir(exist_ok=True)
    torch.save({"key": "another job", "step": 40}, tmp_path / "job.resume.pt")
    manifests = job(settings, [0, 1], data_file, tmp_path)
    assert all(m["resumed_from_step"] is None for m in manifests.values())
    assert metrics(tmp_path / "job/seed=0")["step"].tolist() == list(range(61))
    assert isinstance(pd.read_csv(tmp_path / "job/seed=1/metrics.csv"), pd.DataFrame)


def test_the_batched_probe_gives_each_seed_the_probe_of_its_own_data(tmp_path):
    """probe_runs (one process per condition) writes, per seed, exactly what probe_run writes for that seed
    alone on its own data set; the float64 PL audit passes per seed."""
    from lplr.probe import probe_run, probe_runs

    files = {s: image_data(tmp_path / f"data{s}", seed=20 + s) for s in (0, 1)}
    job({**BASE, "steps": 12, "checkpoints": 3}, [0, 1], files, tmp_path, "pair")
    runs = {f"seed={s}": tmp_path / "pair" / f"seed={s}" for s in (0, 1)}
    data = {f"seed={s}": files[s] for s in (0, 1)}
    frames = probe_runs(runs, data, {r: tmp_path / "ntk" / r / "spectrum.csv" for r in runs},
                        {r: tmp_path / "ntk" / r / "eigenvalues.npz" for r in runs}, probe_size=16)
    for seed, run in enumerate(runs):
        alone = probe_run(runs[run], files[seed], tmp_path / "alone" / run / "spectrum.csv",
                          tmp_path / "alone" / run / "eigenvalues.npz", probe_size=16)
        pd.testing.assert_frame_equal(frames[run], alone)
        assert frames[run]["audit_ok"].all() and len(frames[run]) == 3
        batched, single = np.load(tmp_path / "ntk" / run / "eigenvalues.npz"), np.load(tmp_path / "alone" / run / "eigenvalues.npz")
        assert batched.files == single.files and all(np.array_equal(batched[k], single[k]) for k in single.files)
    assert not frames["seed=0"]["lambda_max"].equals(frames["seed=1"]["lambda_max"])


@pytest.mark.parametrize("extra", [{}, {"parametrization": "ntk"}, SGD], ids=["mlp", "ntk-mlp", "sgd"])
def test_the_written_out_mlp_step_matches_the_vmap_step(tmp_path, data_file, extra):
    """Two implementations of the batched step (lplr.batched.STEP_METHODS), tested against each other:
    on this CPU they give the same bits (vmap's rule for nn.Linear is the same baddbmm); the test allows
    float32 rounding, which is all the design promises."""
    settings = {**BASE, **extra}
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 1)}
    for method in ("mlp", "vmap"):
        train_batch(runs, {r: data_file for r in runs}, {r: tmp_path / method / r for r in runs},
                    tmp_path / f"{method}.resume.pt", device="cpu", method=method)
    for run in runs:
        a, b = metrics(tmp_path / "mlp" / run), metrics(tmp_path / "vmap" / run)
        for column in ("loss", "grad_norm_sq", "drift", "test_loss"):
            np.testing.assert_allclose(a[column], b[column], rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="unknown step method 'jit'"):
        train_batch(runs, {r: data_file for r in runs}, {r: tmp_path / "x" / r for r in runs}, tmp_path / "x.pt",
                    device="cpu", method="jit")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("kind", ["gd", "sgd"])
def test_a_batched_job_on_cuda_matches_the_same_job_on_the_cpu(tmp_path, data_file, kind):
    """The written-out MLP step on cuda: theta_0 and eta bit for bit (both made on the CPU), the metrics to
    float32 rounding (cuBLAS sums in other orders than MKL; TF32 is off), as lplr.train's GPU test."""
    settings = {**BASE, **KINDS[kind]}
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 1)}
    for device in ("cpu", "cuda"):
        train_batch(runs, {r: data_file for r in runs}, {r: tmp_path / device / r for r in runs},
                    tmp_path / f"{device}.resume.pt", device=device)
    for run in runs:
        assert_same_checkpoints(tmp_path / "cpu" / run, tmp_path / "cuda" / run, [0])
        for column in ("loss", "grad_norm_sq", "drift"):
            np.testing.assert_allclose(metrics(tmp_path / "cuda" / run)[column], metrics(tmp_path / "cpu" / run)[column],
                                       rtol=1e-3, err_msg=f"{run} {column}")
