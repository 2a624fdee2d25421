"""W_1 trained in the training inputs' row space (lplr.columns.InputBasis, training.train_in_row_space): where a
training set has fewer points n than kept input columns k, both steppers hold W_1 turned by an orthogonal Q onto
the row space and train its first n coordinates. The same training as without, to float tolerance; W_1 moves
only inside the row space; theta_0, the skipped columns and the test set keep the model's coordinates.

Tolerances (OUR measurement on these shapes, 60 steps), relative to each metric's largest value: float32
<= 1e-5 (the rotation's rounding, ~1e-7, grows along the run; SGD with momentum 0.9 most), float64 <= 1e-11;
the tracked lambda_min is float32 in both (2.5e-6 measured: it is resolved to ~eps_32 lambda_max).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train import BASE, SGD, one_thread  # noqa: E402,F401 (one_thread: the fixture)
from test_zero_columns import SHAPE, ZERO, checkpoints, sparse_data, train  # noqa: E402

from lplr import columns  # noqa: E402
from lplr.batched import StackedStepper  # noqa: E402
from lplr.data import load_prepared  # noqa: E402
from lplr.io import read_json  # noqa: E402
from lplr.per_seed import PerSeedStepper  # noqa: E402
from lplr.schedule import optimizer_settings  # noqa: E402

N = 12  # training points: fewer than the 25 kept columns, so the row space is used
RTOL = {"float32": 1e-5, "float64": 1e-11}
METRICS = ["loss", "grad_norm_sq", "drift", "sharpness", "lambda_min_tracked", "hessian_lambda_max_tracked", "test_loss"]
KINDS = {"gd": {}, "sgd_momentum": {**SGD, "batch_size": 4}, "ntk": {"parametrization": "ntk"}}
OFF = {"train_in_row_space": False}


def outside_row_space(weight: torch.Tensor, x: torch.Tensor) -> float:
    """|| W P_perp || / || W ||: the part of W's rows outside the row space of x [n, d] (float64)."""
    q = torch.linalg.qr(x.flatten(1).double().T).Q  # [d, n]: an orthonormal basis of the row space
    w = weight.double()
    return float((w - (w @ q) @ q.T).norm() / w.norm())


def test_the_row_space_is_chosen_only_where_it_has_fewer_columns(tmp_path):
    x = load_prepared(sparse_data(tmp_path / "a", n=N), device="cpu", dtype=torch.float32)["x_train"]
    wide = load_prepared(sparse_data(tmp_path / "b", n=32), device="cpu", dtype=torch.float32)["x_train"]
    turned = columns.job_bases([BASE], [x])[0]
    assert turned.rotation.shape == (25, 25) and turned.kept == N and turned.inputs(x, True).shape == (N, N)
    assert turned.inputs(x, False).shape == (N, 36)  # any other set: every coordinate
    assert columns.job_bases([BASE], [wide])[0].rotation is None  # 32 points >= 25 kept columns: the columns
    assert columns.job_bases([{**BASE, **OFF}], [x])[0].rotation is None
    assert columns.job_bases([{**BASE, "skip_zero_columns": False}], [x])[0].rotation.shape == (36, 36)
    assert columns.job_bases([{**BASE, "arch": "cnn"}], [x]) == [None]
    with pytest.raises(ValueError, match="train_in_row_space"):
        columns.row_space_enabled({"train_in_row_space": "yes"})


def test_the_basis_round_trips_a_weight_and_keeps_theta_0s_bits(tmp_path):
    x = load_prepared(sparse_data(tmp_path / "a", n=N), device="cpu", dtype=torch.float64)["x_train"]
    basis = columns.job_bases([BASE], [x])[0]
    weight = torch.randn(16, 36, dtype=torch.float64)
    stored = basis.stored(weight)
    torch.testing.assert_close(basis.inputs(x, False) @ stored.T, x.flatten(1) @ weight.T, rtol=1e-12, atol=1e-12)
    assert torch.equal(basis.original(stored, stored, weight), weight)  # no change: theta_0 exactly
    moved = stored.clone()
    moved[:, :N] += 0.1
    back = basis.original(moved, stored, weight)
    assert torch.equal(back[:, ZERO], weight[:, ZERO])  # the skipped columns are never turned
    assert outside_row_space(back - weight, x) < 1e-14  # the change lies in the row space
    torch.testing.assert_close(basis.stored(back), moved, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stepper", ["per_seed", "batched"])
def test_both_steppers_train_on_n_row_space_coordinates(tmp_path, stepper):
    data = load_prepared(sparse_data(tmp_path / "d", n=N), device="cpu", dtype=torch.float32)
    runs = [{**BASE, "seed": s} for s in (0, 1)]
    engine = {"per_seed": PerSeedStepper, "batched": StackedStepper}[stepper](runs, [data, data], optimizer_settings(runs[0], N))
    x = engine.seeds[0].x if stepper == "per_seed" else engine.x[0]
    assert x.shape == (N, N)
    assert engine.layout["row_space"] == N and engine.param_count == 36 * 16 + 16 + 16 * 16 + 16 + 16 + 1


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("stepper", ["per_seed", "batched"])
def test_the_row_space_gives_the_same_training_to_float_tolerance(tmp_path, stepper, kind, precision):
    data = sparse_data(tmp_path / "d", n=N)
    settings = {**BASE, **KINDS[kind], "precision": precision, "sharpness_every": 5, "lambda_min_every": 5,
                "hessian_every": 10, "steps": 60, "loss_checkpoints": [0.5]}  # every tracked quantity, too
    turned = train(tmp_path, settings, data, stepper, name="turned")
    plain = train(tmp_path, {**settings, **OFF}, data, stepper, name="plain")
    x = load_prepared(data, device="cpu", dtype=torch.float64)["x_train"]
    for run in ("seed=0", "seed=1"):
        a, b = pd.read_csv(turned / run / "metrics.csv"), pd.read_csv(plain / run / "metrics.csv")
        assert list(a["step"]) == list(b["step"])
        for column in METRICS:  # relative to the column's scale (SGD's loss dips to 1e-3 of it and back);
            # lambda_min is tracked in float32 whatever the precision
            tol = RTOL["float32" if column == "lambda_min_tracked" else precision]
            np.testing.assert_allclose(a[column], b[column], rtol=tol, atol=tol * np.nanmax(np.abs(b[column])),
                                       equal_nan=True, err_msg=column)
        assert a["loss"].iloc[-1] < 0.5 * a["loss"].iloc[0]  # it trained
        saved, reference = checkpoints(turned / run), checkpoints(plain / run)
        assert saved.keys() == reference.keys() and read_json(turned / run / "manifest.json")["loss_level_steps"]
        first = saved[0]["layers.0.weight"]
        assert first.shape == (16, 36)
        for step, state in saved.items():
            if step == 0:
                assert all(torch.equal(state[k], reference[0][k]) for k in state)  # theta_0: the same bits
                continue
            assert torch.equal(state["layers.0.weight"][:, ZERO], first[:, ZERO])  # skipped: exactly theta_0
            assert outside_row_space(state["layers.0.weight"] - first, x) < 1e-5  # moved inside the row space
            for name, tensor in state.items():
                torch.testing.assert_close(tensor, reference[step][name], rtol=RTOL[precision], atol=1e-6)


def test_each_seed_turns_onto_its_own_row_space_and_keeps_its_own_zero_columns(tmp_path):
    files = {"seed=0": sparse_data(tmp_path / "d0", n=N, seed=10, zero=[0, 1, 2, 3]),
             "seed=1": sparse_data(tmp_path / "d1", n=N, seed=11, zero=[2, 3, 4, 5])}
    out = train(tmp_path, {**BASE, "steps": 30}, files, "batched")
    for run, own in (("seed=0", [0, 1, 2, 3]), ("seed=1", [2, 3, 4, 5])):
        saved = checkpoints(out / run)
        first, last = saved[0]["layers.0.weight"], saved[max(saved)]["layers.0.weight"]
        assert torch.equal(last[:, own], first[:, own])  # zero in this seed's own data: exactly theta_0
        x = load_prepared(files[run], device="cpu", dtype=torch.float64)["x_train"]
        assert outside_row_space(last - first, x) < 1e-5 and not torch.equal(last, first)
