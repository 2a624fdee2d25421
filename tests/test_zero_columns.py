"""Skipping input columns that are zero at every training point (lplr.columns, training.skip_zero_columns):
the same training and kernel as without, to float tolerance; the skipped weights never move; the test set,
the checkpoints and the parameter count keep the full weights.

Tolerances (OUR measurement, tests below and benchmarks/README.md): tiny runs here agree to <= 3e-7 relative
in float32 (per-seed: bit-identical on these shapes) and <= 5e-13 in float64 (SGD's gradient norm; GD
<= 7e-15); default-config MNIST runs (d = 784, n = 256, 2000 steps) to the figures in benchmarks/README.md.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train import BASE, SGD, one_thread, write_data  # noqa: E402,F401 (one_thread: the fixture)

from lplr import columns, models, ntk  # noqa: E402
from lplr.batched import StackedStepper  # noqa: E402
from lplr.data import load_prepared  # noqa: E402
from lplr.io import read_json, write_json  # noqa: E402
from lplr.per_seed import PerSeedStepper  # noqa: E402
from lplr.probe import probe_run  # noqa: E402
from lplr.schedule import optimizer_settings  # noqa: E402
from lplr.train import train_job  # noqa: E402

BASE = {**BASE, "train_in_row_space": False}  # the skip alone here; turned onto the row space: test_row_space.py
SHAPE = (1, 6, 6)
ZERO = [0, 1, 2, 3, 4, 5, 11, 17, 23, 29, 35]  # the top row and the right column: 11 of 36 pixels
RTOL = {"float32": 2e-6, "float64": 2e-12}  # measured: <= 3e-7 and <= 5e-13 (module docstring)
COLUMNS = ["loss", "grad_norm_sq", "drift", "sharpness", "lambda_min_tracked", "hessian_lambda_max_tracked", "test_loss"]
KINDS = {"gd": {}, "sgd_momentum": SGD, "ntk": {"parametrization": "ntk"}}


def sparse_data(folder, n=32, seed=0, zero=ZERO):
    """Random images whose pixels `zero` are 0 in every TRAINING image (not in the test images), with
    labels from a planted linear rule that reads every pixel."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n, *SHAPE, generator=g, dtype=torch.float64)
    x.view(2 * n, -1)[:n, zero] = 0.0
    y = torch.sign(x.flatten(1) @ torch.randn(x[0].numel(), generator=g, dtype=torch.float64))
    return write_data(folder, x[:n], y[:n], x[n:], y[n:])


def train(tmp, settings, data, stepper, seeds=(0, 1), name="job"):
    runs = {f"seed={s}": {**settings, "seed": s} for s in seeds}
    files = data if isinstance(data, dict) else {r: data for r in runs}
    out = tmp / name
    train_job(runs, files, {r: out / r for r in runs}, out / "resume.pt", stepper=stepper, device="cpu")
    return out


def checkpoints(folder):
    return {int(p.stem.split("_")[1]): torch.load(p, weights_only=True) for p in sorted((folder / "checkpoints").glob("*.pt"))}


def test_kept_columns_are_the_union_of_the_non_zero_columns_over_the_jobs_sets():
    a, b = torch.ones(4, 6), torch.ones(3, 6)
    a[:, [0, 1, 2]] = 0
    b[:, [1, 2, 5]] = 0
    assert columns.kept_columns([a, b]).tolist() == [0, 3, 4, 5]  # skipped: 1 and 2, zero in both
    assert columns.kept_columns([a]).tolist() == [3, 4, 5]
    assert columns.kept_columns([torch.ones(2, 1, 2, 3)]) is None  # nothing to skip
    assert columns.job_columns([{"skip_zero_columns": False}], [a]) is None
    assert columns.job_columns([{"arch": "cnn"}], [a]) is None  # the CNN never skips
    assert columns.stored_order(torch.tensor([0, 3, 4, 5]), 6).tolist() == [0, 3, 4, 5, 1, 2]
    with pytest.raises(ValueError, match="skip_zero_columns"):
        columns.enabled({"skip_zero_columns": "yes"})


@pytest.mark.parametrize("skip", [True, False])
def test_both_steppers_train_on_the_kept_columns_only_when_asked(tmp_path, skip):
    data = load_prepared(sparse_data(tmp_path / "d"), device="cpu", dtype=torch.float32)
    runs = [{**BASE, "seed": s, "skip_zero_columns": skip} for s in (0, 1)]
    opt = optimizer_settings(runs[0], 32)
    width = 36 - len(ZERO) if skip else 36
    per_seed, batched = PerSeedStepper(runs, [data, data], opt), StackedStepper(runs, [data, data], opt)
    assert per_seed.seeds[0].x.flatten(1).shape[1] == width and batched.x.flatten(2).shape[2] == width
    assert per_seed.param_count == batched.param_count == 36 * 16 + 16 + 16 * 16 + 16 + 16 + 1  # the full model
    assert batched.x_test.flatten(2).shape[2] == 36  # the test set: every column


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("stepper", ["per_seed", "batched"])
def test_skipping_gives_the_same_training_to_float_tolerance(tmp_path, stepper, kind, precision):
    data = sparse_data(tmp_path / "d")
    settings = {**BASE, **KINDS[kind], "precision": precision, "sharpness_every": 5, "lambda_min_every": 5,
                "hessian_every": 10, "steps": 60}  # every tracked quantity reads the kept columns too
    skip = train(tmp_path, {**settings, "skip_zero_columns": True}, data, stepper, name="skip")
    full = train(tmp_path, {**settings, "skip_zero_columns": False}, data, stepper, name="full")
    for run in ("seed=0", "seed=1"):
        a, b = pd.read_csv(skip / run / "metrics.csv"), pd.read_csv(full / run / "metrics.csv")
        assert list(a["step"]) == list(b["step"])
        for column in COLUMNS:
            np.testing.assert_allclose(a[column], b[column], rtol=RTOL[precision], equal_nan=True, err_msg=column)
        assert a["loss"].iloc[-1] < 0.5 * a["loss"].iloc[0]  # it trained
        saved, reference = checkpoints(skip / run), checkpoints(full / run)
        first = saved[0]["layers.0.weight"]
        assert first.shape == (16, 36)  # full shape, the model's column order
        for step, state in saved.items():
            assert torch.equal(state["layers.0.weight"][:, ZERO], first[:, ZERO])  # exactly theta_0
            for name, tensor in state.items():
                torch.testing.assert_close(tensor, reference[step][name], rtol=RTOL[precision], atol=0)


@pytest.mark.parametrize("stepper", ["per_seed", "batched"])
def test_the_test_loss_uses_the_full_weights(tmp_path, stepper):
    """The skipped pixels are non-zero in the test images: their (initial) weights count there."""
    data = sparse_data(tmp_path / "d")
    out = train(tmp_path, {**BASE, "precision": "float64"}, data, stepper)
    sets = load_prepared(data, device="cpu", dtype=torch.float64)
    x_test, y_test = sets["x_test"], sets["y_test"]
    metrics = pd.read_csv(out / "seed=0" / "metrics.csv").set_index("step")
    last = max(checkpoints(out / "seed=0"))
    model = models.build_model(BASE, SHAPE).double()
    model.load_state_dict(checkpoints(out / "seed=0")[last])
    with torch.no_grad():
        full = float(0.5 * (model(x_test) - y_test).pow(2).mean())
        dropped = x_test.clone()
        dropped.view(len(x_test), -1)[:, ZERO] = 0.0
        without = float(0.5 * (model(dropped) - y_test).pow(2).mean())
    assert metrics.loc[last, "test_loss"] == pytest.approx(full, rel=1e-12)
    assert abs(full - without) > 1e-3 * full  # dropping the columns would change it


@pytest.mark.parametrize("cls", [models.MLP, models.NTKMLP])
def test_the_kernel_on_the_kept_columns_equals_the_full_kernel(tmp_path, cls):
    x = load_prepared(sparse_data(tmp_path / "d"), device="cpu", dtype=torch.float64)["x_train"]
    torch.manual_seed(3)
    model = cls(36, 16, 4).double()
    kept = columns.kept_columns([x])
    assert len(kept) == 36 - len(ZERO)
    full = ntk.empirical_ntk(model, x)
    torch.testing.assert_close(ntk.empirical_ntk(model, columns.narrow(x, kept), columns=kept), full, rtol=1e-13, atol=0)
    top, _ = ntk.top_eigenpair(model, columns.narrow(x, kept), iterations=30, columns=kept)
    assert float(top) == pytest.approx(float(ntk.top_eigenpair(model, x, iterations=30)[0]), rel=1e-13)
    with pytest.raises(ValueError, match="structured"):
        ntk.empirical_ntk(model, columns.narrow(x, kept), method="jacobian", columns=kept)


def test_the_probe_with_the_skip_equals_the_probe_without_and_its_audit_passes(tmp_path):
    data = sparse_data(tmp_path / "d")
    out = train(tmp_path, {**BASE, "precision": "float64", "skip_zero_columns": False}, data, "batched", seeds=(0,))
    frames = {}
    for skip in (True, False):
        manifest_file = out / "seed=0" / "manifest.json"
        manifest = read_json(manifest_file)
        manifest["settings"]["skip_zero_columns"] = skip
        write_json(manifest_file, manifest)
        frames[skip] = probe_run(out / "seed=0", data, tmp_path / f"spectrum{skip}.csv", tmp_path / f"eigen{skip}.npz",
                                 probe_size=512, hessian="none")
    a, b = frames[True], frames[False]
    assert a["audit_ok"].all() and b["audit_ok"].all()
    for column in ("lambda_min", "lambda_max", "kernel_change", "quadratic_form", "b_noise"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-10, err_msg=column)
    np.testing.assert_array_equal(a["probe_grad_norm_sq"], b["probe_grad_norm_sq"])  # the full model's gradient


def test_a_batched_job_on_per_run_subsets_skips_only_the_columns_zero_in_every_subset(tmp_path):
    files = {"seed=0": sparse_data(tmp_path / "d0", seed=10, zero=[0, 1, 2, 3]),
             "seed=1": sparse_data(tmp_path / "d1", seed=11, zero=[2, 3, 4, 5])}
    sets = [load_prepared(f, device="cpu", dtype=torch.float32) for f in files.values()]
    runs = [{**BASE, "seed": s} for s in (0, 1)]
    engine = StackedStepper(runs, sets, optimizer_settings(runs[0], 32))
    assert engine.columns.tolist() == [0, 1] + list(range(4, 36))  # 2 and 3 are zero in both subsets
    out = train(tmp_path, BASE, files, "batched")
    for run, own in (("seed=0", [0, 1]), ("seed=1", [4, 5])):
        saved = checkpoints(out / run)
        first, last = saved[0]["layers.0.weight"], saved[max(saved)]["layers.0.weight"]
        assert torch.equal(last[:, [2, 3]], first[:, [2, 3]])  # skipped
        assert torch.equal(last[:, own], first[:, own])  # trained, but zero in this seed's data: gradient 0
        assert not torch.equal(last[:, 10:], first[:, 10:])
