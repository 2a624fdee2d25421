"""The Hessian's top eigenvalue tracked during training (training.hessian_every): at the checkpoints it is the
top eigenvalue of the dense float64 Hessian (torch.autograd.functional.hessian) of the saved parameters, for
both steppers; for a linear model it is the Gauss-Newton one, lambda_max(Theta)/n; off by default, without
its columns; a diverging seed gives NaN, not a failed job. Resume with it on: tests/test_train.py (SIGKILL).
On the CPU with one thread, as tests/test_train.py."""

import numpy as np
import pytest
import torch
from torch.func import functional_call

from lplr.models import build_model
from lplr.train import train_job, train_run
from test_train import BASE, data_file, generic_lambda_max, linear_data, loud_data, metrics, one_thread  # noqa: F401 (the fixtures)

COLUMNS = ["hessian_lambda_max_tracked", "hessian_sharpness_tracked"]


def dense_hessian_top(folder, settings, step, x, y):
    """lambda_max of the float64 Hessian of L = (1/2n)|f(x) - y|^2 at the checkpoint of `step`, formed densely."""
    model = build_model(settings, tuple(x.shape[1:])).double()
    model.load_state_dict(torch.load(folder / "checkpoints" / f"step_{step:07d}.pt"))
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def loss(vector):
        params = {n: part.reshape(s) for n, part, s in zip(names, torch.split(vector, [s.numel() for s in shapes]), shapes)}
        return 0.5 * (functional_call(model, params, (x,)).reshape(-1) - y).square().mean()

    return float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))[-1])


@pytest.mark.parametrize("stepper", ["per_seed", "batched"])
def test_tracked_hessian_is_the_dense_hessians_at_the_checkpoints(tmp_path, data_file, stepper):
    """Tracked every 4 steps and at t = T, NaN between, for each seed of a job; at the checkpoints it equals
    lambda_max of the dense float64 Hessian to float32 resolution (rtol 1e-4), through a warm-started chain of
    5 Lanczos steps each; hessian_sharpness_tracked = eta lambda_max(H)."""
    settings = {**BASE, "hessian_every": 4, "steps": 30, "checkpoints": 6}
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 1)}
    manifests = train_job(runs, {r: data_file for r in runs}, {r: tmp_path / r for r in runs}, tmp_path / "resume.pt",
                          stepper=stepper, device="cpu")
    tensors = torch.load(data_file)
    x, y = tensors["x_train"].double(), tensors["y_train"].double()
    tracked = sorted(set(range(0, 31, 4)) | {30})
    tops = []
    for run, manifest in manifests.items():
        assert manifest["hessian_tracking"] == {"every": 4, "lanczos_steps": 5, "dtype": "float32"}
        m = metrics(tmp_path / run).set_index("step")
        assert list(m.columns[-2:]) == COLUMNS
        assert m["hessian_lambda_max_tracked"].dropna().index.tolist() == tracked
        np.testing.assert_allclose(m["hessian_sharpness_tracked"], manifest["lr"] * m["hessian_lambda_max_tracked"],
                                   rtol=1e-12)
        checked = 0
        for step in set(manifest["checkpoint_steps"]) & set(tracked):
            expected = dense_hessian_top(tmp_path / run, settings, step, x, y)
            assert m["hessian_lambda_max_tracked"][step] == pytest.approx(expected, rel=1e-4), (run, step)
            checked += 1
        assert checked >= 2  # step 0 and the last at least
        tops.append(m["hessian_lambda_max_tracked"].dropna().to_numpy())
    assert not np.allclose(tops[0], tops[1])  # the seeds really are tracked apart


def test_a_linear_models_hessian_is_its_gauss_newton_matrix(tmp_path, monkeypatch):
    """Depth 1 with bias: f = w.x + b, so H = J^T J / n with J = [X, 1] at every theta, and lambda_max(H) =
    lambda_max(X X^T + 1 1^T) / n at every tracked step: the calibrated eta makes eta lambda_max(H) = lr."""
    generic_lambda_max(monkeypatch)
    x, y, data = linear_data(tmp_path / "data")
    n = len(x)
    settings = {**BASE, "depth": 1, "precision": "float64", "lr": 0.7, "steps": 30, "hessian_every": 3}
    manifest = train_run(settings, data, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run").dropna(subset=COLUMNS)
    assert len(m) == 11
    expected = float(torch.linalg.eigvalsh(x @ x.T + 1.0)[-1]) / n
    np.testing.assert_allclose(m["hessian_lambda_max_tracked"], expected, rtol=1e-10)
    np.testing.assert_allclose(m["hessian_sharpness_tracked"], manifest["sharpness_0"], rtol=1e-10)
    assert manifest["sharpness_0"] == pytest.approx(0.7, rel=1e-12)


def test_off_by_default_without_the_columns(tmp_path, data_file):
    """hessian_every absent or 0: no columns, no manifest key; a bad value names its key."""
    for name, extra in (("absent", {}), ("zero", {"hessian_every": 0})):
        manifest = train_run({**BASE, **extra}, data_file, tmp_path / name, device="cpu")
        assert not set(COLUMNS) & set(metrics(tmp_path / name).columns)
        assert "hessian_tracking" not in manifest
    for bad in ({"hessian_every": -1}, {"hessian_every": 5, "hessian_iterations": 1}):
        with pytest.raises(ValueError, match="training.hessian_every"):
            train_run({**BASE, **bad}, data_file, tmp_path / "bad", device="cpu")


def test_with_lambda_min_both_column_groups_in_order(tmp_path, data_file):
    """Both trackings on: the lambda_min columns, then the Hessian's, each at its own cadence."""
    train_run({**BASE, "lambda_min_every": 5, "hessian_every": 10}, data_file, tmp_path / "run", device="cpu")
    m = metrics(tmp_path / "run")
    assert list(m.columns[-4:]) == ["lambda_min_tracked", "mu_tracked", *COLUMNS]
    assert m.dropna(subset=["lambda_min_tracked"])["step"].tolist() == list(range(0, 41, 5))
    assert m.dropna(subset=COLUMNS)["step"].tolist() == [0, 10, 20, 30, 40]


def test_a_diverging_seed_is_tracked_to_its_divergence(tmp_path, data_file):
    """Images scaled by 30 blow up a fixed eta (tests/test_tracking.py): the Hessian goes non-finite within the
    block before the driver stops the seed; the tracking gives NaN there instead of failing the job."""
    loud = loud_data(tmp_path / "loud", data_file)
    settings = {**BASE, "lr_mode": "fixed", "lr": 0.5, "steps": 60, "hessian_every": 1}
    runs = {f"seed={s}": {**settings, "seed": s} for s in (0, 2)}
    for stepper in ("per_seed", "batched"):
        manifests = train_job(runs, {r: loud for r in runs}, {r: tmp_path / stepper / r for r in runs},
                              tmp_path / f"{stepper}.pt", stepper=stepper, device="cpu")
        for run, manifest in manifests.items():
            m = metrics(tmp_path / stepper / run)
            assert manifest["status"] == "diverged" and m["step"].iloc[-1] == manifest["diverged_step"]
            assert np.isfinite(m["hessian_lambda_max_tracked"].iloc[0])


def test_the_double_backward_product_is_the_forward_over_reverse_one():
    """Training's Hessian-vector product (lplr.hessian.loss_hvp_autograd) against the probe's (jvp of grad), in
    float64 on a small MLP and a CNN: the same H v to rounding."""
    from lplr.hessian import loss_hvp, loss_hvp_autograd

    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 1, 6, 6, generator=g, dtype=torch.float64)
    y = torch.sign(torch.randn(12, generator=g, dtype=torch.float64))
    for extra in ({}, {"arch": "cnn", "width": 4, "depth": 2}):
        torch.manual_seed(0)
        model = build_model({**BASE, **extra}, (1, 6, 6)).double()
        (forward, flat), (backward, flat_b) = loss_hvp(model, x, y), loss_hvp_autograd(model, x, y)
        assert torch.equal(flat, flat_b)
        v = torch.randn(flat.numel(), generator=g, dtype=torch.float64)
        torch.testing.assert_close(backward(v), forward(v), rtol=1e-10, atol=1e-12)
