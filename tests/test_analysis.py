"""The analysis stage on known answers: a linear model is its own linearisation, so every prediction of
lplr.analysis must match its observed decay exactly; the headline L* follows the interpolation rule; a run
shared between experiments is trained once."""

import numpy as np
import pandas as pd
import pytest

from lplr.analysis import analyse_experiment, analyse_run
from lplr.config import experiment_runs, run_id
from lplr.plan import run_sources

FIT = {"lstar": "auto", "lstar_fallback": "min", "min_offset": 0.1, "confidence": 0.95, "lplr_exit_fraction": 0.5,
       "interpolation": {"loss_fraction": 1e-3, "min_params_per_point": 10},
       "rates": {"span": 10, "early": [0.25, 0.5], "late": [0.75, 1.0], "top_k": 3},
       "window": {"r2_min": 0.99, "min_fraction": 0.1, "grid": 48, "max_residual": 0.25}}


def linear_run(n=16, d=200, steps=400, sharpness=0.1, seed=0, probes=(0, 10, 50, 200, 400)):
    """GD on f(x) = w.x: metrics, spectrum and eigen files as the workflow writes them (the NTK is X X^T, constant)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) / np.sqrt(d)
    y = rng.choice([-1.0, 1.0], n)
    kernel = x @ x.T
    evals, evecs = np.linalg.eigh(kernel)
    eta = sharpness * n / evals[-1]
    w, w0, rows, residuals = np.zeros(d), np.zeros(d), [], {}
    for t in range(steps + 1):
        r = x @ w - y
        g = x.T @ r / n
        rows.append({"step": t, "loss": r @ r / (2 * n), "grad_norm_sq": g @ g, "drift": np.linalg.norm(w - w0),
                     "rel_drift": np.nan, "test_loss": np.nan, "test_accuracy": np.nan})
        if t in probes:
            residuals[t] = (r, g, w.copy())
        w -= eta * g
    metrics = pd.DataFrame(rows)
    projections = np.stack([(evecs.T @ residuals[t][0]) ** 2 for t in probes])
    final_w, final_loss = residuals[probes[-1]][2], metrics["loss"].iloc[-1]
    spectrum = pd.DataFrame([{
        "step": t, "n_probe": n, "lambda_min": evals[0], "lambda_max": evals[-1], "lambda_min_ratio": 1.0,
        "mu": evals[0] / n, "sharpness": eta * evals[-1] / n, "kernel_change": 0.0,
        "probe_loss": metrics["loss"].iloc[t], "probe_grad_norm_sq": metrics["grad_norm_sq"].iloc[t],
        "audit_error": 0.0, "audit_tolerance": 1e-12,
        "lqcr_q": (residuals[t][1] @ (residuals[t][2] - final_w)) / (metrics["loss"].iloc[t] - final_loss)
        if t < probes[-1] else np.nan} for t in probes])
    eigen = {"steps": np.array(probes), "eigenvalues": np.tile(evals, (len(probes), 1)), "projections": projections,
             "n_probe": n, "lr": eta}
    manifest = {"status": "completed", "diverged_step": None, "lr": eta, "sharpness_0": sharpness, "param_count": d,
                "n_train": n}
    return {"settings": {"width": d, "seed": seed}, "metrics": metrics, "spectrum": spectrum, "eigen": eigen,
            "manifest": manifest}


def test_a_linear_model_meets_every_prediction_exactly():
    row, curve, probes = analyse_run(linear_run(), FIT)
    # the linearised model restarted at each probe is the model itself
    intervals = probes.dropna(subset=["next_step"])
    assert intervals["observed_decay"].to_numpy() == pytest.approx(intervals["linearised_decay"].to_numpy(), rel=1e-8)
    assert row["linearised_local_ratio"] == pytest.approx(1.0, rel=1e-8)
    one_step = -np.diff(np.log(curve["loss"].to_numpy()))
    assert curve["local_linearised_rate"].to_numpy()[:-1] == pytest.approx(one_step, rel=1e-6)
    # the initial-NTK model too, and the PL bound holds with room to spare on a spread spectrum
    assert row["linearised_final_log10_ratio"] == pytest.approx(0.0, abs=1e-8)
    assert row["pl_bound_tightness"] > 1
    # quasi-convex: a convex quadratic has q_t >= 1 (L_t - L_T <= <grad L_t, w_t - w_T>)
    assert row["lqcr_negative"] == 0 and row["lqcr_min"] >= 1 - 1e-9
    # an interpolating linear model (d > n) gets L* = 0, and the rate slows as the fast directions are spent
    assert row["interpolates"] and row["lstar_method"] == "zero"
    assert 0 < row["rate_slowdown"] < 1
    assert 0 < row["share_top_k_0"] < 1 and 0 < row["share_bottom_half_final"] <= 1


def test_headline_lstar_falls_back_where_the_model_does_not_interpolate():
    run = linear_run(d=8, n=16)  # fewer parameters than points: a floor above 0
    row, _, _ = analyse_run(run, FIT)
    assert not row["interpolates"] and row["lstar_method"] == "min"
    forced, _, _ = analyse_run(run, {**FIT, "lstar": "asymptote"})
    assert forced["lstar_method"] == "asymptote"


def test_experiment_tables_hold_rates_shares_and_counts():
    runs = {f"width=200,seed={s}": linear_run(seed=s) for s in range(3)}
    tables = analyse_experiment(runs, ["width"], FIT, {"width=200,seed=2": "other/width=200,seed=2"})
    assert set(tables) == {"runs", "curves", "probes", "summary", "sensitivity", "trends"}
    summary = tables["summary"].set_index("statistic")
    for statistic in ("rate_early", "rate_late", "rate_slowdown", "first_order_ratio", "share_top_k_0",
                      "share_bottom_half_0", "lqcr_min", "final_loss", "rate"):
        assert summary.loc[statistic, "n"] == 3 and summary.loc[statistic, "n_runs"] == 3, statistic
    positive = tables["summary"][tables["summary"]["scale"] == "log"]
    assert (positive["ci_low"].dropna() > 0).all()
    assert tables["runs"]["source"].tolist() == ["", "", "other/width=200,seed=2"]


def test_a_run_equal_to_an_earlier_experiments_run_is_shared(default_config):
    sources = run_sources(default_config)
    step = sources["step"]
    shared = {run: owner for run, owner in step.items() if owner[0] != "step"}
    seeds = default_config["experiments"]["step"]["seeds"]
    # E3's first condition (the E1 step, 2000 steps) at width 64 is E1's width-64 run
    assert shared == {run_id({"lr": 0.01, "steps": 2000}, s): ("width", run_id({"width": 64}, s)) for s in seeds}
    batch_64 = {run_id({"batch_size": 64}, s) for s in default_config["experiments"]["batch"]["seeds"]}
    assert {run: owner for run, owner in sources["batch"].items() if run in batch_64} == {run: ("cnn", run) for run in batch_64}
    assert set(sources["width"].values()) == {("width", run) for run in experiment_runs(default_config, "width")}


def test_claim_statistics_on_a_linear_model_match_the_kernel():
    """A linear model is its own linearisation: its slowdown is the kernel's, and every probe interval keeps the
    PL bound; its PL time constants are T 2 eta mu."""
    run = linear_run()
    row, _, probes = analyse_run(run, FIT)
    assert row["slowdown_vs_kernel"] == pytest.approx(1.0, rel=0.02)
    assert row["rate_slowdown_lazy"] == pytest.approx(row["rate_slowdown"], rel=1e-6)  # the kernel never moves
    assert row["pl_bound_min_ratio"] > 1 and row["pl_bound_violations"] == 0
    assert row["pl_bound_intervals"] == len(probes) - 1
    eta, mu = run["manifest"]["lr"], run["spectrum"]["mu"].iloc[-1]
    assert row["pl_time_constants"] == pytest.approx(400 * 2 * eta * mu)
    assert row["transient_ratio"] > 1  # the fast directions go first: the early rate is above the late one
    assert row["pl_slope_zero"] == pytest.approx(row["pl_slope"])  # it interpolates: headline L* = 0 already


def test_a_rising_interval_counts_against_the_bound():
    run = linear_run()
    metrics = run["metrics"].copy()
    metrics.loc[metrics["step"] == 50, "loss"] = metrics.loc[metrics["step"] == 10, "loss"].iloc[0] * 1.5  # loss rises
    row, _, _ = analyse_run({**run, "metrics": metrics}, FIT)
    assert row["pl_bound_min_ratio"] < 0 and row["pl_bound_violations"] >= 1


def test_matched_drift_is_read_at_the_common_step_and_the_common_eta_t():
    from lplr.analysis import matched_drifts

    def run(eta, steps):
        metrics = pd.DataFrame({"step": np.arange(steps + 1), "rel_drift": np.arange(steps + 1) * eta})
        return {"metrics": metrics}
    runs = {"big": run(0.01, 100), "small": run(0.002, 500)}
    per_run = pd.DataFrame({"run": ["big", "small"], "eta": [0.01, 0.002], "status": "completed"})
    out = matched_drifts(runs, per_run).set_index("run")
    assert out.loc["big", "rel_drift_matched_steps"] == pytest.approx(1.0)  # step 100
    assert out.loc["small", "rel_drift_matched_steps"] == pytest.approx(0.2)  # step 100 of 500
    assert out["rel_drift_matched_eta_t"].tolist() == pytest.approx([1.0, 1.0])  # eta t = 1: step 100 and step 500
