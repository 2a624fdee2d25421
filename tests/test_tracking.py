"""lambda_min(Theta_t) tracked during training (training.lambda_min_every): at the checkpoints it is the
smallest eigenvalue of the float64 kernel of the saved parameters (to float32 resolution), on the probe
set S when one is given; both steppers give it for a seed; off by default, without its columns. On the
CPU with one thread, as tests/test_train.py."""

import numpy as np
import pytest
import torch

from lplr import ntk
from lplr.models import build_model
from lplr.probe import probe_indices
from lplr.train import train_job, train_run
from test_train import BASE, SGD, data_file, loud_data, metrics, one_thread  # noqa: F401 (the fixtures)

CNN = dict(SGD, arch="cnn", width=4, depth=2, momentum=0.0)
COLUMNS = ["lambda_min_tracked", "mu_tracked"]


def float64_spectrum(folder, settings, step, x):
    """Eigenvalues (ascending) of the float64 kernel at the checkpoint of `step`, by a full decomposition."""
    model = build_model(settings, tuple(x.shape[1:]))
    model.load_state_dict(torch.load(folder / "checkpoints" / f"step_{step:07d}.pt"))
    return torch.linalg.eigvalsh(ntk.empirical_ntk(model.double(), x.double()))


@pytest.mark.parametrize("probe_size", [None, 20], ids=["all_points", "probe_subset"])
@pytest.mark.parametrize("kind", ["gd", "cnn"])
def test_tracked_lambda_min_is_the_float64_kernels_at_the_checkpoints(tmp_path, data_file, kind, probe_size):
    """Tracked every 4 steps and at t = T, NaN between; at the checkpoints it equals lambda_min of the float64
    kernel (on S = probe_indices(n, probe_size, seed 3) when probe_size < n) to float32 resolution,
    |error| <= 1e-6 lambda_max (measured: <= 1e-8), and mu_tracked = lambda_min_tracked / |S|."""
    settings = {**BASE, **({} if kind == "gd" else CNN), "lambda_min_every": 4, "steps": 30, "seed": 2}
    probe = None if probe_size is None else {"probe_size": probe_size, "probe_seed": 3}
    manifest = train_job({"run": settings}, {"run": data_file}, {"run": tmp_path / "run"}, tmp_path / "resume.pt",
                         stepper="per_seed", device="cpu", probe=probe)["run"]
    m = metrics(tmp_path / "run").set_index("step")
    assert list(m.columns[-2:]) == COLUMNS
    tracked = sorted(set(range(0, 31, 4)) | {30})
    assert m["lambda_min_tracked"].dropna().index.tolist() == [s for s in tracked if s in m.index]
    x = torch.load(data_file)["x_train"]
    points = np.arange(len(x)) if probe is None else probe_indices(len(x), probe_size, 3)
    assert manifest["lambda_min_tracking"]["points"] == len(points) and len(points) == (probe_size or len(x))
    np.testing.assert_allclose(m["mu_tracked"], m["lambda_min_tracked"] / len(points), rtol=1e-12)
    checked = 0
    for step in set(manifest["checkpoint_steps"]) & set(m["lambda_min_tracked"].dropna().index):
        spectrum = float64_spectrum(tmp_path / "run", settings, step, x[points])
        assert abs(m["lambda_min_tracked"][step] - float(spectrum[0])) <= 1e-6 * float(spectrum[-1]), step
        checked += 1
    assert checked >= 2  # step 0 and the last at least


@pytest.mark.parametrize("kind", ["gd", "sgd", "cnn"])
def test_per_seed_and_batched_track_the_same_lambda_min(tmp_path, data_file, kind):
    """A seed's tracked lambda_min from the batched stepper (its own model holding a copy of its row) is
    the per-seed stepper's to float32 rounding (the parameters themselves differ in the last bits)."""
    settings = {**BASE, **{"gd": {}, "sgd": SGD, "cnn": CNN}[kind], "lambda_min_every": 5}
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 1)}
    train_job(runs, {r: data_file for r in runs}, {r: tmp_path / "b" / r for r in runs}, tmp_path / "b.pt",
              stepper="batched", device="cpu")
    train_run({**settings, "seed": 1}, data_file, tmp_path / "s", device="cpu")
    a, b = metrics(tmp_path / "b" / "seed=1"), metrics(tmp_path / "s")
    assert a["lambda_min_tracked"].notna().tolist() == b["lambda_min_tracked"].notna().tolist()
    assert a["lambda_min_tracked"].notna().sum() >= 3
    np.testing.assert_allclose(a["lambda_min_tracked"], b["lambda_min_tracked"], rtol=1e-4, atol=0)
    other = metrics(tmp_path / "b" / "seed=0")["lambda_min_tracked"]  # the seeds really are tracked apart
    assert not np.allclose(other.dropna(), a["lambda_min_tracked"].dropna())


def test_off_by_default_without_the_columns(tmp_path, data_file):
    """lambda_min_every absent or 0: metrics.csv has exactly its old columns (golden bytes), no manifest key."""
    for name, extra in (("absent", {}), ("zero", {"lambda_min_every": 0})):
        manifest = train_run({**BASE, **extra}, data_file, tmp_path / name, device="cpu")
        assert not set(COLUMNS) & set(metrics(tmp_path / name).columns)
        assert "lambda_min_tracking" not in manifest
    with pytest.raises(ValueError, match="lambda_min_every"):
        train_run({**BASE, "lambda_min_every": -1}, data_file, tmp_path / "bad", device="cpu")


def test_a_diverging_seed_is_tracked_to_its_divergence(tmp_path, data_file):
    """Images scaled by 30 blow up a fixed eta (tests/test_batched.py): the kernel goes non-finite within the
    block before the driver stops the seed, and the tracking gives NaN there instead of failing the job."""
    loud = loud_data(tmp_path / "loud", data_file)
    settings = {**BASE, "lr_mode": "fixed", "lr": 0.5, "steps": 60, "lambda_min_every": 1}
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 2)}  # they diverge at steps 2 and 4 (seed 1 does not)
    for stepper in ("per_seed", "batched"):
        manifests = train_job(runs, {r: loud for r in runs}, {r: tmp_path / stepper / r for r in runs},
                              tmp_path / f"{stepper}.pt", stepper=stepper, device="cpu")
        for run, manifest in manifests.items():
            m = metrics(tmp_path / stepper / run)
            assert manifest["status"] == "diverged" and m["step"].iloc[-1] == manifest["diverged_step"]
            assert np.isfinite(m["lambda_min_tracked"].iloc[0])
