"""The training engine: exact GD dynamics of a linear model, resume after SIGKILL, determinism,
divergence, SGD bookkeeping, the CNN, and (on a GPU) no per-step host synchronisation."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from lplr import ntk
from lplr.io import read_json, sha256_file, torch_save, write_json
from lplr.models import build_model
from lplr.schedule import BatchStream, checkpoint_steps
from lplr.train import train_run

BASE = dict(arch="mlp", width=16, depth=3, init="he", optimizer="gd", lr_mode="calibrated", lr=0.5, steps=40,
            checkpoints=5, metrics_block=16, resume_every=32, seed=0, precision="float32")
SGD = dict(optimizer="sgd", batch_size=8, momentum=0.9, eval_every=5)


def write_data(folder, x, y, x_test, y_test):
    """A prepared set as lplr.data writes it: data.pt and a manifest with its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    data_file = folder / "data.pt"
    torch_save({"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}, data_file)
    write_json(folder / "manifest.json", {"file": "data.pt", "sha256": sha256_file(data_file)})
    return data_file


def image_data(folder, n=32, shape=(1, 6, 6), seed=0):
    """Unit-norm random images with a planted linear rule for the labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n, *shape, generator=g, dtype=torch.float64)
    x = x / x.flatten(1).norm(dim=1)[:, None, None, None]
    y = torch.sign(x.flatten(1) @ torch.randn(x[0].numel(), generator=g, dtype=torch.float64))
    return write_data(folder, x[:n], y[:n], x[n:], y[n:])


def linear_data(folder):
    """A planted linear-regression set (n = 48 points in d = 5, offset 0.5, random signs), float64: (x, y, file)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 5, generator=g, dtype=torch.float64) + 0.5
    y = torch.sign(torch.randn(48, generator=g, dtype=torch.float64))
    return x, y, write_data(folder, x, y, x[:4], y[:4])


def loud_data(folder, data_file):
    """The images of `data_file` scaled by 30: a fixed eta of 0.5 diverges on them within a few steps."""
    t = torch.load(data_file)
    return write_data(folder, 30 * t["x_train"], t["y_train"], 30 * t["x_test"], t["y_test"])


def generic_lambda_max(monkeypatch):
    """lplr.ntk's structured MLP path does not handle depth 1: its generic Jacobian path instead."""
    monkeypatch.setattr(ntk, "lambda_max",
                        lambda m, x: float(ntk.spectrum(ntk.empirical_ntk(m, x, method="jacobian"))[-1]))


@pytest.fixture
def data_file(tmp_path):
    return image_data(tmp_path / "data")


@pytest.fixture(autouse=True)
def one_thread():
    """1 thread: tiny shapes are fastest so (2 threads on a busy 2-core machine spin for ms per op), and
    the killed subprocess uses 1 too: equal bits need equal reduction splits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield 1
    torch.set_num_threads(before)


def metrics(folder):
    return pd.read_csv(folder / "metrics.csv")


def assert_same_metrics(a, b):
    pd.testing.assert_frame_equal(a.drop(columns="step_time"), b.drop(columns="step_time"), check_exact=True)


def test_linear_model_follows_the_exact_residual_recursion(tmp_path, monkeypatch):
    """Depth 1 with bias: f = w.x + b, J = [X, 1], Theta = X X^T + 1 1^T, and GD gives EXACTLY
    r_{t+1} = (I - eta Theta / n) r_t. With Theta = V diag(lambda) V^T and c = V^T r_0:
        L_t = (1/2n) sum_i (1 - eta lambda_i / n)^(2t) c_i^2,   G_t = (1/n^2) sum_i lambda_i (1 - eta lambda_i / n)^(2t) c_i^2
    Directions with lambda_i = 0 (n > d + 1) never move: they are the least-squares residual, so
    L_t -> L* of least squares, at the per-step rate (1 - eta lambda_min+ / n)^2 of the gap."""
    generic_lambda_max(monkeypatch)
    x, y, data = linear_data(tmp_path / "data")
    n, d = x.shape
    settings = {**BASE, "depth": 1, "precision": "float64", "lr": 1.0, "steps": 150, "metrics_block": 64}
    manifest = train_run(settings, data, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run")

    torch.manual_seed(settings["seed"])
    model = build_model(settings, (d,)).double()
    r0 = (model(x) - y).detach()
    lam, vec = torch.linalg.eigh(x @ x.T + 1.0)
    eta = manifest["lr"]
    assert manifest["lambda_max_0"] == pytest.approx(lam[-1].item(), rel=1e-12)
    assert eta == pytest.approx(n / lam[-1].item(), rel=1e-12)  # calibrated: eta lambda_max / n = lr = 1
    c2 = (vec.T @ r0) ** 2
    factor = (1 - eta * lam / n).clamp(min=0)  # the top direction is killed in one step (factor 0)
    t = torch.arange(settings["steps"] + 1, dtype=torch.float64)[:, None]
    contraction = factor ** (2 * t)
    loss = (contraction * c2).sum(1) / (2 * n)
    grad = (contraction * c2 * lam).sum(1) / n**2
    np.testing.assert_allclose(m["loss"], loss.numpy(), rtol=1e-10)
    np.testing.assert_allclose(m["grad_norm_sq"][5:], grad.numpy()[5:], rtol=1e-6, atol=1e-14)

    design = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], 1)
    solution = torch.linalg.lstsq(design, y[:, None]).solution.squeeze(1)
    lstar = 0.5 * (design @ solution - y).pow(2).mean().item()
    positive = lam > 1e-8 * lam[-1]
    slowest = factor[positive].max().item() ** 2
    gap = m["loss"].to_numpy() - lstar
    assert gap[-1] < 1e-9 * gap[0]
    late = np.diff(np.log(gap[60:120]))  # per-step log contraction, once only the slowest mode is left
    np.testing.assert_allclose(late, np.log(slowest), rtol=1e-3)
    final = torch.load(tmp_path / "run" / "checkpoints" / f"step_{settings['steps']:07d}.pt")
    theta = torch.cat([final["layers.0.weight"].squeeze(0), final["layers.0.bias"]])
    torch.testing.assert_close(theta, solution, rtol=0, atol=1e-6)


def test_outputs_and_checkpoints(tmp_path, data_file):
    manifest = train_run(BASE, data_file, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run")
    assert list(m.columns[:8]) == ["step", "loss", "grad_norm_sq", "drift", "rel_drift", "step_time", "test_loss",
                                   "test_accuracy"]
    assert m["step"].tolist() == list(range(BASE["steps"] + 1))
    assert manifest["status"] == "completed" and manifest["diverged_step"] is None
    assert manifest["checkpoint_steps"] == checkpoint_steps(BASE["steps"], BASE["checkpoints"])
    saved = sorted(int(p.stem[5:]) for p in (tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    assert saved == manifest["checkpoint_steps"]
    assert m.dropna(subset=["test_loss"])["step"].tolist() == saved
    assert m["drift"][0] == 0 and m["rel_drift"].iloc[-1] == pytest.approx(m["drift"].iloc[-1] / manifest["theta0_norm"])
    assert m["loss"].iloc[-1] < 0.5 * m["loss"][0]
    assert manifest["sharpness_0"] == pytest.approx(BASE["lr"])
    assert not (tmp_path / "run" / "resume.pt").exists()


def test_sgd_rows_diagnostics_and_bookkeeping(tmp_path, data_file):
    settings = {**BASE, **SGD, "steps": 37}
    manifest = train_run(settings, data_file, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run")
    expected = sorted({*range(0, 38, 5), 37, *checkpoint_steps(37, BASE["checkpoints"])})
    assert m["step"].tolist() == expected
    np.testing.assert_allclose(m["epoch"], m["step"] * 8 / 32)
    assert m["batch_loss"].iloc[:-1].notna().all() and np.isnan(m["batch_loss"].iloc[-1])
    assert (manifest["optimizer"], manifest["batch_size"], manifest["momentum"]) == ("sgd", 8, 0.9)
    assert m["loss"].iloc[-1] < m["loss"][0]


def test_full_batch_sgd_equals_gd(tmp_path, data_file):
    """SGD with batch n, momentum 0 and eval_every 1 is GD up to the order of a sum (float64)."""
    common = {**BASE, "precision": "float64", "steps": 20}
    train_run(common, data_file, tmp_path / "gd", device="cpu")
    train_run({**common, "optimizer": "sgd", "batch_size": 32, "momentum": 0.0, "eval_every": 1}, data_file,
              tmp_path / "sgd", device="cpu")
    gd, sgd = metrics(tmp_path / "gd"), metrics(tmp_path / "sgd")
    for column in ["loss", "grad_norm_sq", "drift", "test_loss"]:
        np.testing.assert_allclose(sgd[column], gd[column], rtol=1e-10)
    np.testing.assert_allclose(sgd["batch_loss"][:-1], gd["batch_loss"][:-1], rtol=1e-10)
    assert gd["batch_loss"].iloc[-1] == gd["loss"].iloc[-1] and np.isnan(sgd["batch_loss"].iloc[-1])  # no step from theta_T


def test_momentum_matches_torch_sgd(tmp_path, data_file):
    settings = {**BASE, "precision": "float64", "lr_mode": "fixed", "lr": 0.05, "momentum": 0.9, "steps": 12}
    train_run(settings, data_file, tmp_path / "run", device="cpu")
    data = torch.load(data_file)
    torch.manual_seed(settings["seed"])
    model = build_model(settings, (1, 6, 6)).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(settings["steps"] + 1):
        loss = 0.5 * (model(data["x_train"]) - data["y_train"]).pow(2).mean()
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(metrics(tmp_path / "run")["loss"], losses, rtol=1e-12)


def test_same_seed_same_metrics_and_a_new_seed_differs(tmp_path, data_file):
    settings = {**BASE, **SGD}
    for name in ("a", "b"):
        train_run(settings, data_file, tmp_path / name, device="cpu")
    train_run({**settings, "seed": 1}, data_file, tmp_path / "c", device="cpu")
    assert_same_metrics(metrics(tmp_path / "a"), metrics(tmp_path / "b"))
    for name in ("a", "b"):
        assert torch.equal(torch.load(tmp_path / name / "checkpoints" / "step_0000040.pt")["layers.0.weight"],
                           torch.load(tmp_path / "a" / "checkpoints" / "step_0000040.pt")["layers.0.weight"])
    assert not np.allclose(metrics(tmp_path / "a")["loss"], metrics(tmp_path / "c")["loss"])


@pytest.mark.parametrize("extra", [{}, SGD], ids=["gd", "sgd"])
def test_divergence_stops_the_run(tmp_path, data_file, extra):
    settings = {**BASE, **extra, "lr_mode": "fixed", "lr": 1e6, "steps": 200, "eval_every": 1, "metrics_block": 8}
    manifest = train_run(settings, data_file, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run")
    step = manifest["diverged_step"]
    assert manifest["status"] == "diverged" and 0 < step < 200
    assert m["step"].iloc[-1] == step
    finite = np.isfinite(m[["loss", "grad_norm_sq", "batch_loss"]].to_numpy()).all(axis=1)
    assert finite[:-1].all() and not finite[-1]
    saved = sorted(int(p.stem[5:]) for p in (tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    assert saved == manifest["checkpoint_steps"] and all(s < step for s in saved)


def test_a_changed_setting_ignores_a_stale_resume_file(tmp_path, data_file):
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"key": "stale", "step": 10}, out / "resume.pt")
    manifest = train_run(BASE, data_file, out, device="cpu")
    assert manifest["resumed_from_step"] is None and metrics(out)["step"].iloc[0] == 0


class _Payload:
    """Unpickling this runs a command that writes a file: what a tampered resume file could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_resume_file_holding_a_pickled_object_is_refused_not_run(tmp_path, data_file):
    out, marker = tmp_path / "run", tmp_path / "payload-ran"
    out.mkdir()
    torch.save({"format": "lplr-resume-2", "key": "any", "meta": _Payload(marker)}, out / "resume.pt")
    with pytest.raises(ValueError, match="refused to load this resume file"):
        train_run(BASE, data_file, out, device="cpu")
    assert not marker.exists()  # the payload was never executed


def test_the_resume_file_round_trips_tensors_arrays_and_json_values(tmp_path):
    from lplr.runfolder import load_resume, save_resume

    state = {"step": 7, "rows": [np.arange(6.0).reshape(2, 3)], "test_rows": {0: (0.5, 1.0), 5: (float("nan"), 0.25)},
             "diverged": [None, 3], "stepper": {"params": torch.randn(4, dtype=torch.float64), "name": "x"}}
    save_resume(tmp_path / "r.pt", "key", state)
    back = load_resume(tmp_path / "r.pt", "key")
    assert back["step"] == 7 and back["diverged"] == [None, 3] and back["stepper"]["name"] == "x"
    assert list(back["test_rows"]) == [0, 5] and back["test_rows"][0] == [0.5, 1.0] and np.isnan(back["test_rows"][5][0])
    assert np.array_equal(back["rows"][0], state["rows"][0]) and isinstance(back["rows"][0], np.ndarray)
    assert torch.equal(back["stepper"]["params"], state["stepper"]["params"])
    assert load_resume(tmp_path / "r.pt", "another key") is None


@pytest.mark.parametrize("extra", [{}, SGD], ids=["gd", "sgd"])
def test_the_per_seed_stepper_gives_a_seed_the_same_bits_alone_and_in_a_job(tmp_path, data_file, extra):
    """One job, per-seed stepper, seeds 0 and 1: each seed's files are those of its own one-seed job."""
    from lplr.train import train_job

    settings = {**BASE, **extra, "loss_checkpoints": [0.5], "sharpness_every": 5}
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 1)}
    manifests = train_job(runs, {r: data_file for r in runs}, {r: tmp_path / "job" / r for r in runs},
                          tmp_path / "job.resume.pt", stepper="per_seed", device="cpu")
    train_run({**settings, "seed": 1}, data_file, tmp_path / "alone", device="cpu")
    assert_same_metrics(metrics(tmp_path / "job" / "seed=1"), metrics(tmp_path / "alone"))
    assert manifests["seed=1"]["mode"] == "per_seed" and manifests["seed=1"]["job_seeds"] == [0, 1]
    for step in manifests["seed=1"]["checkpoint_steps"]:
        a = torch.load(tmp_path / "job" / "seed=1" / "checkpoints" / f"step_{step:07d}.pt")
        b = torch.load(tmp_path / "alone" / "checkpoints" / f"step_{step:07d}.pt")
        assert all(torch.equal(a[k], b[k]) for k in b)


def test_an_unknown_stepper_is_refused_with_the_config_key(tmp_path, data_file):
    from lplr.train import train_job

    with pytest.raises(ValueError, match="seed_batching"):
        train_job({"r": BASE}, {"r": data_file}, {"r": tmp_path / "r"}, tmp_path / "r.pt", stepper="fused", device="cpu")


def test_batch_stream_is_a_sequence_of_permutations_and_restores_exactly():
    stream = BatchStream(10, 4, seed=0)
    first = stream.take(5).flatten()  # 20 indices = two whole permutations
    assert sorted(first[:10].tolist()) == list(range(10)) and sorted(first[10:].tolist()) == list(range(10))
    state = stream.state_dict()
    ahead = stream.take(3)
    stream.load_state_dict(state)
    assert torch.equal(stream.take(3), ahead)
    assert stream.take(0).shape == (0, 4)


@pytest.mark.parametrize("extra", [{}, SGD], ids=["gd", "sgd"])
def test_sigkill_and_restart_gives_the_uninterrupted_metrics(tmp_path, data_file, one_thread, extra):
    settings = {**BASE, **extra, "steps": 1000, "metrics_block": 25, "resume_every": 50, "checkpoints": 8,
                "sharpness_every": 30,  # the power iteration's warm start is resumed too
                "lambda_min_every": 40,  # and the tracked lambda_min's rows
                "hessian_every": 45,  # and the tracked Hessian's rows, its Lanczos warm start resumed
                "loss_checkpoints": [0.5, 0.05, 1e-3]}  # and the parameters caught at loss levels
    out = tmp_path / "killed"
    code = ("import json, sys; from lplr.train import train_run; "
            "train_run(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], device='cpu', threads=1)")
    process = subprocess.Popen([sys.executable, "-c", code, json.dumps(settings), str(data_file), str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "resume.pt").exists():
        assert process.poll() is None, "the training subprocess ended before writing a resume file"
        assert time.monotonic() < deadline, "no resume file after 120 s"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "metrics.csv").exists(), "the run finished before the kill; make it longer"

    manifest = train_run(settings, data_file, out, device="cpu", threads=one_thread)
    assert 0 < manifest["resumed_from_step"] < settings["steps"]
    train_run(settings, data_file, tmp_path / "straight", device="cpu", threads=one_thread)
    assert_same_metrics(metrics(out), metrics(tmp_path / "straight"))
    last = f"step_{settings['steps']:07d}.pt"
    for name, value in torch.load(out / "checkpoints" / last).items():
        assert torch.equal(value, torch.load(tmp_path / "straight" / "checkpoints" / last)[name])
    killed, straight = read_json(out / "manifest.json"), read_json(tmp_path / "straight" / "manifest.json")
    assert killed["checkpoint_steps"] == straight["checkpoint_steps"]
    assert killed["loss_level_steps"] == straight["loss_level_steps"]
    for step in killed["loss_level_steps"].values():
        file = f"step_{step:07d}.pt"
        for name, value in torch.load(out / "checkpoints" / file).items():
            assert torch.equal(value, torch.load(tmp_path / "straight" / "checkpoints" / file)[name])


def test_cnn_trains_with_sgd_on_tiny_images(tmp_path):
    """sklearn's embedded 8x8 digits, 0 vs 1. The CNN's NTK is nearly rank one on these images
    (lambda_2 / lambda_max ~ 0.5%), so it first sits on a plateau; 150 steps get well past it."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target <= 1
    x = torch.tensor(digits.images[keep][:64, None], dtype=torch.float64)
    x = x / x.flatten(1).norm(dim=1)[:, None, None, None]
    y = torch.tensor(digits.target[keep][:64] * 2.0 - 1.0)
    data = write_data(tmp_path / "data", x[:32], y[:32], x[32:], y[32:])
    settings = {**BASE, **SGD, "arch": "cnn", "width": 4, "depth": 2, "steps": 150, "eval_every": 15, "lr": 0.5,
                "batch_size": 16, "momentum": 0.0}
    manifest = train_run(settings, data, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run")
    assert manifest["status"] == "completed"
    assert manifest["param_count"] == (9 * 4 + 4) + 2 * 2 * (4 * 9 * 4 + 4) + 5
    assert m["loss"].iloc[-1] < 0.2 * m["loss"][0]
    assert m["test_accuracy"].iloc[-1] > 0.9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_run_matches_cpu_start_and_syncs_once_per_block(tmp_path, data_file):
    """theta_0 is the same on cpu and cuda; the number of synchronising calls grows with the number
    of blocks and checkpoints, not with the number of steps."""
    def synchronisations(steps, extra):
        settings = {**BASE, **extra, "steps": steps, "checkpoints": 2, "metrics_block": 50, "resume_every": 10**6}
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train_run(settings, data_file, tmp_path / f"sync{steps}{len(extra)}", device="cuda")
        finally:
            torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message) for w in caught)

    for extra in ({}, SGD):
        assert synchronisations(200, extra) == synchronisations(50, extra) + 3  # 3 more blocks, one sync each
    train_run(BASE, data_file, tmp_path / "cpu", device="cpu")
    train_run(BASE, data_file, tmp_path / "cuda", device="cuda")
    first = "step_0000000.pt"
    for name, value in torch.load(tmp_path / "cpu" / "checkpoints" / first).items():
        assert torch.equal(value, torch.load(tmp_path / "cuda" / "checkpoints" / first)[name])
    np.testing.assert_allclose(metrics(tmp_path / "cuda")["loss"], metrics(tmp_path / "cpu")["loss"], rtol=1e-3)


def test_tracked_sharpness_is_eta_lambda_max_over_n_at_the_checkpoints(tmp_path, data_file):
    """metrics.csv's sharpness column: eta lambda_max(Theta_t) / n every `sharpness_every` steps and at the
    last step, NaN between; at a checkpoint it equals the value recomputed from the saved parameters."""
    settings = {**BASE, "sharpness_every": 8, "sharpness_iterations": 30}
    manifest = train_run(settings, data_file, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run").set_index("step")
    tracked = sorted(set(range(0, settings["steps"] + 1, 8)) | {settings["steps"]})
    assert m["sharpness"].dropna().index.tolist() == tracked
    assert m["sharpness"][0] == pytest.approx(manifest["sharpness_0"], rel=1e-5)  # = lr in calibrated mode
    x = torch.load(data_file)["x_train"].float()
    for step in set(manifest["checkpoint_steps"]) & set(tracked):
        model = build_model(settings, tuple(x.shape[1:]))
        model.load_state_dict(torch.load(tmp_path / "run" / "checkpoints" / f"step_{step:07d}.pt"))
        expected = manifest["lr"] * ntk.lambda_max(model.double(), x.double()) / len(x)
        assert m["sharpness"][step] == pytest.approx(expected, rel=1e-4), step
    untracked = train_run({**BASE}, data_file, tmp_path / "off", device="cpu")
    assert untracked["status"] == "completed" and metrics(tmp_path / "off")["sharpness"].isna().all()


def test_loss_level_checkpoints_catch_the_first_step_below_each_level(tmp_path, data_file):
    """training.loss_checkpoints: a checkpoint at the first step with L_t <= level L_0, probed like the others,
    whose parameters give that step's loss; levels never reached get none."""
    settings = {**BASE, "steps": 60, "loss_checkpoints": [0.5, 0.1, 1e-12]}
    manifest = train_run(settings, data_file, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run").set_index("step")
    levels = manifest["loss_level_steps"]
    assert set(levels) == {"0.5", "0.1"}  # 1e-12 is not reached in 60 steps
    x, y = (torch.load(data_file)[k].float() for k in ("x_train", "y_train"))
    for level, step in levels.items():
        below = m["loss"] <= float(level) * m["loss"][0]
        assert step == below.idxmax() and step in manifest["checkpoint_steps"]
        model = build_model(settings, tuple(x.shape[1:]))
        model.load_state_dict(torch.load(tmp_path / "run" / "checkpoints" / f"step_{step:07d}.pt"))
        with torch.no_grad():
            assert float(0.5 * (model(x) - y).pow(2).mean()) == pytest.approx(m["loss"][step], rel=1e-5)
    assert manifest["checkpoint_steps"] == sorted(set(checkpoint_steps(60, BASE["checkpoints"])) | set(levels.values()))
