"""Across-seed summaries: each statistic on the scale its values live on, with its n beside it.

Seeds are the unit of replication (a GD trajectory is deterministic, its residuals autocorrelated),
so every interval is across seeds, at the configured confidence, and says how many values it used
(`n`) out of how many runs the condition has (`n_runs`: diverged runs and runs without a window count
there, not in the estimate). By default seeds vary the initialisation only, so an interval is
conditional on one training subset; `data.seed: per_run` makes the seed draw the subset too.

Scales (SCALES and PREFIX_SCALES below: the one registry of the statistics the analysis stage writes, read by
the summaries, the claims and the tests; a runs.csv column in neither, nor in NOT_SUMMARISED, is an error):
    log     positive quantities (rates, losses, mu, drift, sharpness, ratios): the geometric mean and
            the t-interval of the logs, mapped back, so a bound is never negative and a factor-of-ten
            spread reads as one. Non-positive values cannot be logged: they are left out of n.
    logit   fractions in (0, 1) (shares of ||r||^2, test accuracy): the t-interval on the logit scale,
            mapped back, so a bound never leaves (0, 1).
    linear  signed quantities (PL slope, LQCR q, log ratios): the mean and its t-interval.
    order   step counts and fractions that can be 0 (window start and end, LPLR exit, the share of probes
            with q_t < 0): the median and [min, max] across seeds, a
            distribution-free interval for the median with coverage 1 - 2^(1 - n) (75% at 3 seeds,
            99.2% at 8), reported in `coverage`, since a t-interval of steps can go below 0.
A bootstrap over seeds is not used: with 3 seeds it has 10 distinct resamples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

SCALES = {
    # the window fit, under the run's headline L*
    "rate": "log", "r2": "linear", "pl_slope": "linear", "pl_envelope": "log", "t0": "order", "t1": "order",
    "lstar": "order",
    # rates along training with L* = 0 (lplr.rates)
    "rate_early": "log", "rate_late": "log", "rate_slowdown": "log", "first_order_ratio": "log",
    "pl_bound_tightness": "log", "linearised_local_ratio": "log", "rate_over_predicted": "log",
    "share_top_k_0": "logit", "share_top_k_final": "logit", "share_bottom_half_0": "logit",
    "share_bottom_half_final": "logit",
    # the loss, the test split and the parameters
    "initial_loss": "log", "final_loss": "log", "decades": "log", "final_test_accuracy": "logit",
    "final_test_loss": "log", "final_drift": "log", "final_rel_drift": "log", "eta": "log",
    "sharpness_0": "log",
    # the kernel (lplr.probe)
    "mu_0": "log", "mu_at_t0": "log", "predicted_rate": "log", "sharpness_at_t0": "log", "sharpness_max": "log",
    "lambda_min_ratio_final": "log", "lambda_min_ratio_min": "log", "kernel_change_final": "log",
    "lplr_exit_step": "order", "lqcr_min": "linear", "lqcr_negative_fraction": "order",
    "linearised_final_log10_ratio": "linear", "linearised_max_abs_log10": "log", "audit_max_rel_error": "log",
    # the tracked sharpness eta lambda_max(Theta_t) / n (lplr.train) and the early transient
    "sharpness_tracked_max": "log", "sharpness_tracked_final": "log", "sharpness_first_above_1": "order",
    "early_transient": "log",
    # the statistics of the claims (lplr.analysis.claim_statistics), all with L* = 0
    "rate_slowdown_kernel": "log", "rate_slowdown_lazy": "log", "slowdown_vs_kernel": "log",
    "pl_time_constants": "log", "pl_bound_min_ratio": "linear", "pl_bound_weighted_ratio": "linear",
    "pl_bound_violations": "order", "pl_bound_intervals": "order", "early_rate": "log", "transient_ratio": "log",
    "linear_entry_step": "order", "pl_slope_zero": "linear", "rate_zero": "log", "window_decades_zero": "log",
    "rel_drift_matched_steps": "log", "rel_drift_matched_eta_t": "log", "lqcr_negative": "order",
    "t0_zero": "order", "t1_zero": "order",
    # the checks beyond the paper (lplr.beyond): noise scale, the Hessian beside the NTK, the LPLR lifetime
    "b_noise_0": "log", "b_noise_final": "log", "critical_batch_0": "log", "critical_batch_final": "log",
    "descent_ratio_0": "linear",
    "hessian_sharpness_0": "log", "hessian_sharpness_max": "log", "hessian_sharpness_final": "log",
    "hessian_sharpness_ends_max": "log", "sharpness_larger_max": "log", "hessian_residual_max": "log",
    "hessian_over_gn_0": "log", "hessian_over_gn_final": "log", "hessian_over_gn_max": "log",
    "lplr_exit_step_tracked": "order", "lplr_time_inside": "order", "lplr_exits": "order", "lplr_reentries": "order",
    "sharpness_at_exit_over_0": "log",
    "hessian_sharpness_tracked_max": "log", "hessian_sharpness_tracked_final": "log", "hessian_eos_share": "order",
    "hessian_over_gn_tracked_median": "log", "hessian_over_gn_tracked_max": "log",
    # depth x initialisation (lplr.depth; kernel_conditioning_0 = lambda_min / lambda_max of Theta_0, lplr.analysis)
    "kernel_conditioning_0": "log", "mu_0_vs_he": "log", "early_rate_vs_he": "log", "transient_ratio_vs_he": "log",
    "decades_vs_he": "log",
    "sgd_rate_per_step": "log", "rate_over_full_batch": "log", "batch_over_critical": "log",  # lplr.beyond, SGD vs GD
}
ESTIMATORS = {"log": "geometric mean", "logit": "logit-scale mean", "linear": "mean", "order": "median"}
# statistics named after a level (training.loss_checkpoints): step_to_loss_0.01, rel_drift_at_loss_0.01
PREFIX_SCALES = {"step_to_loss_": "order", "rel_drift_at_loss_": "log", "kernel_change_at_loss_": "log",
                 "lambda_min_ratio_at_loss_": "log"}


# runs.csv columns that describe a run but are not summarised across seeds: identifiers, the run's status,
# sizes, labels, the fits' intercepts and counts
NOT_SUMMARISED = {"run", "seed", "source", "condition", "status", "diverged_step", "param_count", "n_train", "regime",
                  "interpolates", "lstar_method", "has_window", "window_intercept", "pl_intercept", "lqcr_probes",
                  "lqcr_first_negative_step", "window_intercept_zero", "regime_gauss_newton"}


def scale_of(statistic: str) -> str:
    """The scale a statistic is summarised on; a statistic without one is an error naming the registry."""
    if statistic in SCALES:
        return SCALES[statistic]
    scale = next((scale for prefix, scale in PREFIX_SCALES.items() if statistic.startswith(prefix)), None)
    if scale is None:
        raise KeyError(f"statistic {statistic!r} has no scale: add it to lplr.stats.SCALES (or PREFIX_SCALES) with "
                       f"one of {tuple(ESTIMATORS)}, or to lplr.stats.NOT_SUMMARISED if it only describes a run")
    return scale


def statistics_of(runs: pd.DataFrame, by: list[str]) -> list[str]:
    """The columns of a runs table that are summarised: all but the grouping and NOT_SUMMARISED ones."""
    return [c for c in runs.columns if c not in by and c not in NOT_SUMMARISED]


def summarise(values, scale: str, confidence: float) -> dict:
    """{estimate, ci_low, ci_high, n, coverage, scale, estimator} of `values` across seeds on `scale`."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if scale == "log":
        values = values[values > 0]
    elif scale == "logit":
        values = values[(values > 0) & (values < 1)]
    elif scale not in ("linear", "order"):
        raise ValueError(f"unknown scale {scale!r}; use one of {tuple(ESTIMATORS)}")
    n = len(values)
    out = {"estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": n, "coverage": confidence,
           "scale": scale, "estimator": ESTIMATORS[scale]}
    if n == 0:
        return out
    if scale == "order":
        coverage = 1 - 2.0 ** (1 - n) if n > 1 else np.nan
        return {**out, "estimate": float(np.median(values)), "ci_low": float(values.min()) if n > 1 else np.nan,
                "ci_high": float(values.max()) if n > 1 else np.nan, "coverage": coverage}
    forward, back = {"log": (np.log, np.exp), "logit": (special.logit, special.expit),
                     "linear": (lambda v: v, lambda v: v)}[scale]
    z = forward(values)
    centre = float(z.mean())
    out["estimate"] = float(back(centre))
    if n >= 2 and np.std(z) > 0:
        low, high = stats.t.interval(confidence, n - 1, loc=centre, scale=stats.sem(z))
        out.update(ci_low=float(back(low)), ci_high=float(back(high)))
    elif n >= 2:  # identical values: a zero-width interval
        out.update(ci_low=out["estimate"], ci_high=out["estimate"])
    return out


def summarise_conditions(runs: pd.DataFrame, by: list[str], confidence: float, statistics=None) -> pd.DataFrame:
    """Per condition and statistic: the summary on the statistic's scale, its n and the condition's n_runs.

    Runs that did not complete are counted in n_runs and left out of every estimate.
    """
    statistics = [s for s in (statistics or statistics_of(runs, by)) if s in runs.columns]
    rows = []
    for key, group in runs.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        completed = group[group["status"] == "completed"]
        for statistic in statistics:
            summary = summarise(completed[statistic], scale_of(statistic), confidence)
            rows.append({**dict(zip(by, key)), "statistic": statistic, **summary, "n_runs": len(group)})
    return pd.DataFrame(rows)


def loglog_slope_by_seed(runs: pd.DataFrame, x: str, y: str, confidence: float) -> dict:
    """Slope of log y on log x fitted within each seed (completed runs, y > 0), then a t-interval across seeds."""
    slopes = []
    for _, group in runs[runs["status"] == "completed"].groupby("seed"):
        group = group[np.isfinite(group[y]) & (group[y] > 0)]
        if group[x].nunique() >= 2:
            slopes.append(stats.linregress(np.log(group[x].astype(float)), np.log(group[y])).slope)
    summary = summarise(slopes, "linear", confidence)
    return {"x": x, "statistic": y, "slope": summary["estimate"], "ci_low": summary["ci_low"],
            "ci_high": summary["ci_high"], "n": summary["n"], "n_seeds": runs["seed"].nunique()}
