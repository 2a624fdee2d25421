"""The analysis stage: every statistic of an experiment, computed once, from its runs' files into tables.

Figures, notebooks and the paper read these tables and nothing else (lplr.plots.registry checks it):

    results/fits/<experiment>/runs.csv      one row per run: the window fit under the run's headline L*,
                                            rates along training, spectrum statistics, LQCR, shares
    results/fits/<experiment>/curves.csv    one row per run x evaluated step: loss, G, drift, the gap under
                                            the headline L*, the fitted window line, the observed, first-order
                                            and local linearised rates, the initial-NTK linearised loss
    results/fits/<experiment>/probes.csv    one row per run x probed checkpoint: the spectrum, the PL audit,
                                            q_t (LQCR), the residual's shares on the spectrum, the rates at the
                                            probe and the decay to the next probe, observed and predicted
    results/tables/<experiment>_summary.csv per condition x statistic: the across-seed summary (lplr.stats)
    results/tables/<experiment>_sensitivity.csv  window rate and PL slope under every L* x R^2 threshold
    results/tables/<experiment>_trends.csv  log-log slopes of statistics against a numeric condition (width)

Headline L*: a run "interpolates" when its final training loss is below `interpolation.loss_fraction`
of its initial loss and it has at least `interpolation.min_params_per_point` parameters per training
point; its L* is then 0 (the floor of an interpolating fit), otherwise `lstar_fallback`. `fit.lstar`
set to an estimator forces that estimator for every run. The rates along training always use L* = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lplr import beyond, depth, rates
from lplr.fit import LSTAR_METHODS, estimate_lstar, fit_curve, log_gap, lplr_exit_step
from lplr.io import read_json
from lplr.stats import loglog_slope_by_seed, summarise, summarise_conditions

LN10 = math.log(10.0)
# The step-size regime of a run, from its largest sharpness s over training (regime_labels: the larger of the
# tracked eta lambda_max(Theta_t) / n and the Hessian's eta lambda_max(H_t)): the theorem's step condition
# eta <= 1/L (L = lambda_max(H), ~ lambda_max(Theta)/n near interpolation) is s <= 1; GD on the local quadratic is stable while s < 2; above, the edge of stability (Cohen et al. 2021).
REGIMES = ((1.0, "eta<=1/L"), (2.0, "stable, eta>1/L"), (math.inf, "edge of stability"))


def regime_of(sharpness_max: float) -> str:
    """The regime label of a run whose sharpness peaks at `sharpness_max` ("untracked" if NaN)."""
    if not np.isfinite(sharpness_max):
        return "untracked"
    return next(label for bound, label in REGIMES if sharpness_max <= bound)


def regime_labels(row: dict, status: str) -> dict:
    """The run's regime by the larger of its sharpnesses (the theorem's L is the Hessian's top eigenvalue; the
    Gauss-Newton one misses the residual term): the tracked eta lambda_max(Theta_t)/n, the probes' eta
    lambda_max(H) and the tracked Hessian's where on; regime_gauss_newton by the first alone (as registered)."""
    values = [row.get(k, np.nan) for k in ("sharpness_tracked_max", "hessian_sharpness_max", "hessian_sharpness_tracked_max")]
    larger = max((v for v in values if np.isfinite(v)), default=np.nan)
    done = status == "completed"
    return {"sharpness_larger_max": larger, "regime": regime_of(larger) if done else status,
            "regime_gauss_newton": regime_of(row.get("sharpness_tracked_max", np.nan)) if done else status}


def matched_loss_steps(steps: np.ndarray, loss: np.ndarray, levels) -> dict[float, float]:
    """{level: the first step where L_t <= level * L_0} (NaN where the run never gets there): drift and
    kernel change compared at matched loss, not at matched step, across widths and step sizes."""
    out = {}
    for level in levels:
        hit = np.flatnonzero(loss <= level * loss[0])
        out[level] = float(steps[hit[0]]) if len(hit) else np.nan
    return out


TREND_STATISTICS = ("final_rel_drift", "final_loss", "decades", "rate_late", "kernel_change_final", "sharpness_max",
                    "mu_0", "lambda_min_ratio_min")


# ------------------------------------------------------------------------------------------------
# reading a run's files
# ------------------------------------------------------------------------------------------------

def load_run(settings: dict, metrics_file, manifest_file, spectrum_file, eigen_file) -> dict:
    """One run's files as {settings, metrics, manifest, spectrum, eigen} (eigen: the npz as a dict)."""
    with np.load(eigen_file) as eigen:
        eigen = {key: eigen[key] for key in eigen.files}
    return {"settings": settings, "metrics": pd.read_csv(metrics_file), "manifest": read_json(manifest_file),
            "spectrum": pd.read_csv(spectrum_file), "eigen": eigen}


def load_runs(settings: dict[str, dict], inputs) -> dict[str, dict]:
    """{run id: run} from a fit rule's inputs, which list every run's files in the order of `settings`
    (a run shared with an earlier experiment lives in that experiment's folder)."""
    files = zip(settings.items(), inputs.metrics, inputs.manifests, inputs.spectra, inputs.eigen)
    return {run_id: load_run(run_settings, *paths) for (run_id, run_settings), *paths in files}


# ------------------------------------------------------------------------------------------------
# one run
# ------------------------------------------------------------------------------------------------

def headline_lstar(row: dict, manifest: dict, fit_cfg: dict) -> tuple[bool, str]:
    """(interpolates, L* estimator) of a run, by the rule in the module docstring."""
    rule = fit_cfg["interpolation"]
    interpolates = bool(row["final_loss"] < rule["loss_fraction"] * row["initial_loss"]
                        and manifest["param_count"] >= rule["min_params_per_point"] * manifest["n_train"])
    if fit_cfg["lstar"] != "auto":
        return interpolates, fit_cfg["lstar"]
    return interpolates, "zero" if interpolates else fit_cfg["lstar_fallback"]


def _local_linearised(steps: np.ndarray, probe_steps: np.ndarray, eigen: dict, eta: float) -> np.ndarray:
    """At each step, the rate the linearised model of the latest probe at or before it predicts."""
    out = np.full(len(steps), np.nan)
    for k, start in enumerate(probe_steps):
        end = probe_steps[k + 1] if k + 1 < len(probe_steps) else np.inf
        inside = (steps >= start) & (steps < end)
        if inside.any():
            out[inside] = rates.linearised_rate(eigen["eigenvalues"][k], eigen["projections"][k], eta,
                                                steps[inside] - start)
    return out


def run_curve(metrics: pd.DataFrame, eigen: dict, manifest: dict, fitted: dict, span: int) -> pd.DataFrame:
    """The per-step table of one run (see the module docstring)."""
    eta = manifest["lr"]
    steps, loss = metrics["step"].to_numpy(float), metrics["loss"].to_numpy(float)
    curve = metrics[[c for c in ("step", "loss", "grad_norm_sq", "drift", "rel_drift", "test_loss", "test_accuracy",
                                 "sharpness", "hessian_sharpness_tracked") if c in metrics]].copy()
    with np.errstate(invalid="ignore"):
        curve["gap"] = np.where(loss - fitted["lstar"] > 0, loss - fitted["lstar"], np.nan)
    curve["window_line"] = np.nan
    if fitted["has_window"]:
        inside = (steps >= fitted["t0"]) & (steps <= fitted["t1"])
        curve.loc[inside, "window_line"] = np.exp(fitted["window_intercept"] - fitted["rate"] * steps[inside])
    curve["observed_rate"] = rates.observed_rate(steps, loss, span)
    curve["first_order_rate"] = rates.first_order_rate(loss, metrics["grad_norm_sq"], eta)
    curve["local_linearised_rate"] = _local_linearised(steps, np.asarray(eigen["steps"], float), eigen, eta)
    curve["linearised_loss"] = np.nan  # the lazy model from Theta_0, when the probe set is the training set
    if int(eigen["n_probe"]) == manifest["n_train"]:
        curve["linearised_loss"] = rates.linearised_loss(eigen["eigenvalues"][0], eigen["projections"][0], eta, steps)
    return curve


def run_probes(spectrum: pd.DataFrame, eigen: dict, curve: pd.DataFrame, eta: float, top_k: int) -> pd.DataFrame:
    """The per-checkpoint table of one run (see the module docstring).

    Decays are in decades over [t_k, t_{k+1}]: observed log10(L_k / L_{k+1}); the local linearised model's;
    the PL bound's (t_{k+1} - t_k) 2 eta mu_k / ln 10. Their ratios are the tightness of each prediction.
    """
    probes = spectrum.copy()
    shares = [rates.spectral_shares(eigen["eigenvalues"][k], eigen["projections"][k], top_k) for k in range(len(probes))]
    probes["share_top_k"] = [s["share_top_k"] for s in shares]
    probes["share_bottom_half"] = [s["share_bottom_half"] for s in shares]
    with np.errstate(divide="ignore", invalid="ignore"):
        probes["rho"] = probes["probe_grad_norm_sq"] / (2 * probes["probe_loss"])  # L* = 0, on the probe set
    probes["pl_bound_rate"] = rates.pl_bound_rate(probes["mu"], eta)
    at = curve.set_index("step")
    steps = probes["step"].to_numpy()
    probes["first_order_rate"] = at["first_order_rate"].reindex(steps).to_numpy()
    probes["observed_rate"] = at["observed_rate"].reindex(steps).to_numpy()
    probes["local_linearised_rate"] = [float(rates.linearised_rate(eigen["eigenvalues"][k], eigen["projections"][k],
                                                                   eta, np.array([0]))[0]) for k in range(len(probes))]
    loss = at["loss"].reindex(steps).to_numpy(float)
    next_steps = np.append(steps[1:], np.nan)
    elapsed = next_steps - steps
    with np.errstate(divide="ignore", invalid="ignore"):
        probes["observed_decay"] = np.log10(loss) - np.log10(np.append(loss[1:], np.nan))
    probes["linearised_decay"] = [
        (rates.linearised_log_loss(eigen["eigenvalues"][k], eigen["projections"][k], eta, np.array([0.0, tau]))
         @ np.array([1.0, -1.0])) / LN10 if np.isfinite(tau) else np.nan for k, tau in enumerate(elapsed)]
    probes["pl_bound_decay"] = elapsed * probes["pl_bound_rate"] / LN10
    probes["next_step"] = next_steps
    return probes


def _median_ratio(numerator, denominator) -> float:
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    ok = np.isfinite(numerator) & np.isfinite(denominator) & (denominator > 0) & (numerator > 0)
    return float(np.median(numerator[ok] / denominator[ok])) if ok.any() else np.nan


def analyse_run(run: dict, fit_cfg: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(per-run row, curve table, probe table) of one run."""
    metrics, manifest, spectrum, eigen = run["metrics"], run["manifest"], run["spectrum"], run["eigen"]
    cfg_rates = fit_cfg["rates"]
    first, final = metrics.iloc[0], metrics.iloc[-1]
    tested = metrics.dropna(subset=["test_accuracy"])
    row = {"status": manifest["status"], "diverged_step": manifest["diverged_step"], "eta": manifest["lr"],
           "sharpness_0": manifest["sharpness_0"], "param_count": manifest["param_count"], "n_train": manifest["n_train"],
           "initial_loss": float(first["loss"]), "final_loss": float(final["loss"]),
           "final_drift": float(final["drift"]), "final_rel_drift": float(final["rel_drift"]),
           "final_test_accuracy": float(tested["test_accuracy"].iloc[-1]) if len(tested) else np.nan,
           "final_test_loss": float(tested["test_loss"].iloc[-1]) if len(tested) else np.nan}
    with np.errstate(divide="ignore", invalid="ignore"):
        row["decades"] = float(np.log10(np.float64(row["initial_loss"]) / row["final_loss"]))
    tracked = metrics["sharpness"].dropna() if "sharpness" in metrics else pd.Series(dtype=float)
    crossing = metrics.loc[tracked.index[tracked > 1.0], "step"]
    row.update(sharpness_tracked_max=float(tracked.max()) if len(tracked) else np.nan,
               sharpness_tracked_final=float(tracked.iloc[-1]) if len(tracked) else np.nan,
               sharpness_first_above_1=float(crossing.iloc[0]) if len(crossing) else np.nan)
    row["interpolates"], method = headline_lstar(row, manifest, fit_cfg)
    completed = manifest["status"] == "completed"
    fitted = fit_curve(metrics, method, fit_cfg) if completed else {
        "lstar_method": method, "lstar": np.nan, "has_window": False, "t0": np.nan, "t1": np.nan, "rate": np.nan,
        "r2": np.nan, "window_intercept": np.nan, "pl_slope": np.nan, "pl_intercept": np.nan, "pl_envelope": np.nan}
    row.update(fitted)
    curve = run_curve(metrics, eigen, manifest, fitted, cfg_rates["span"])
    probes = beyond.probe_critical_batch(run_probes(spectrum, eigen, curve, manifest["lr"], cfg_rates["top_k"]),
                                         manifest["n_train"])
    if not completed:
        return row, curve, probes

    steps, loss = metrics["step"].to_numpy(float), metrics["loss"].to_numpy(float)
    rel_drift = metrics["rel_drift"].to_numpy(float)
    probed = spectrum.set_index("step")
    for level, step in matched_loss_steps(steps, loss, run.get("settings", {}).get("loss_checkpoints", [])).items():
        tag = f"{level:g}"  # at the first step with L_t <= level L_0; the kernel where that step was probed
        row[f"step_to_loss_{tag}"] = step
        row[f"rel_drift_at_loss_{tag}"] = rel_drift[int(np.searchsorted(steps, step))] if np.isfinite(step) else np.nan
        at = probed.loc[int(step)] if np.isfinite(step) and int(step) in probed.index else None
        row[f"kernel_change_at_loss_{tag}"] = float(at["kernel_change"]) if at is not None else np.nan
        row[f"lambda_min_ratio_at_loss_{tag}"] = float(at["lambda_min_ratio"]) if at is not None else np.nan
    early = loss[steps <= fit_cfg.get("transient_steps", 20)]
    row["early_transient"] = float(early.max() / loss[0])  # 1 when the loss never rises above L_0 early on
    row["rate_early"] = rates.segment_rate(steps, loss, *cfg_rates["early"])
    row["rate_late"] = rates.segment_rate(steps, loss, *cfg_rates["late"])
    row["rate_slowdown"] = row["rate_late"] / row["rate_early"] if row["rate_early"] > 0 else np.nan
    row["first_order_ratio"] = _median_ratio(curve["observed_rate"], curve["first_order_rate"])
    intervals = probes.dropna(subset=["next_step"])
    row["pl_bound_tightness"] = _median_ratio(intervals["observed_decay"], intervals["pl_bound_decay"])
    row["linearised_local_ratio"] = _median_ratio(intervals["observed_decay"], intervals["linearised_decay"])
    for name in ("share_top_k", "share_bottom_half"):
        row[f"{name}_0"], row[f"{name}_final"] = float(probes[name].iloc[0]), float(probes[name].iloc[-1])

    eta = manifest["lr"]
    nearest = spectrum.iloc[(spectrum["step"] - (row["t0"] if row["has_window"] else 0)).abs().argmin()]
    mu = float(nearest["mu"])
    q = spectrum["lqcr_q"].iloc[:-1]  # q_T is 0/0
    negative = spectrum.loc[spectrum.index[:-1]][q < 0]
    row.update(mu_0=float(spectrum["mu"].iloc[0]), mu_at_t0=mu,
               kernel_conditioning_0=float(spectrum["lambda_min"].iloc[0] / spectrum["lambda_max"].iloc[0]), sharpness_at_t0=float(nearest["sharpness"]),
               predicted_rate=-2 * math.log1p(-eta * mu) if eta * mu < 1 else np.nan,
               lambda_min_ratio_final=float(spectrum["lambda_min_ratio"].iloc[-1]),
               lambda_min_ratio_min=float(spectrum["lambda_min_ratio"].min()),
               kernel_change_final=float(spectrum["kernel_change"].iloc[-1]),
               sharpness_max=float(spectrum["sharpness"].max()),
               lplr_exit_step=lplr_exit_step(spectrum, fit_cfg["lplr_exit_fraction"]),
               lqcr_min=float(q.min()), lqcr_probes=int(q.notna().sum()), lqcr_negative=int(len(negative)),
               lqcr_negative_fraction=float(len(negative) / max(q.notna().sum(), 1)),
               lqcr_first_negative_step=float(negative["step"].iloc[0]) if len(negative) else np.nan,
               audit_max_rel_error=float((spectrum["audit_error"] / spectrum["audit_tolerance"]).max()))
    row["rate_over_predicted"] = row["rate"] / row["predicted_rate"] if row["has_window"] else np.nan
    row.update(claim_statistics(metrics, curve, probes, fitted, fit_cfg, eta, row))
    lin = curve["linearised_loss"].to_numpy(float)
    if np.isfinite(lin).all():
        ratio = np.log10(loss) - np.log10(lin)
        row.update(linearised_final_log10_ratio=float(ratio[-1]), linearised_max_abs_log10=float(np.nanmax(np.abs(ratio))))
    row.update(beyond.run_statistics(metrics, spectrum, run.get("settings", {}), manifest["n_train"],
                                     fit_cfg["lplr_exit_fraction"]))  # the checks beyond the paper
    row.update(regime_labels(row, manifest["status"]))
    return row, curve, probes


def claim_statistics(metrics: pd.DataFrame, curve: pd.DataFrame, probes: pd.DataFrame, fitted: dict, fit_cfg: dict,
                     eta: float, row: dict) -> dict:
    """The per-run statistics the claims are judged on (lplr.claims), every one with L* = 0 (lplr.rates)."""
    cfg = fit_cfg["rates"]
    steps, loss = metrics["step"].to_numpy(float), metrics["loss"].to_numpy(float)
    out = {}
    # claim 1: the slowdown the local linearised models predict for the same segments, and the lazy model's
    kernel = [rates.segment_mean(steps, curve["local_linearised_rate"], *cfg[s]) for s in ("early", "late")]
    out["rate_slowdown_kernel"] = kernel[1] / kernel[0] if kernel[0] > 0 else np.nan
    lazy = curve["linearised_loss"].to_numpy(float)
    lazy_rates = [rates.segment_rate(steps, lazy, *cfg[s]) for s in ("early", "late")] if np.isfinite(lazy).all() else [np.nan] * 2
    out["rate_slowdown_lazy"] = lazy_rates[1] / lazy_rates[0] if lazy_rates[0] > 0 else np.nan
    out["slowdown_vs_kernel"] = row["rate_slowdown"] / out["rate_slowdown_kernel"]
    out["pl_time_constants"] = float(steps[-1] * 2 * eta * probes["mu"].iloc[-1])  # T 2 eta mu_T
    # claim 5: every probe interval, bounded with min(mu_k, mu_{k+1})
    elapsed = (probes["next_step"] - probes["step"]).to_numpy(float)[:-1]
    ratios = rates.bound_ratios(probes["observed_decay"].to_numpy(float)[:-1], elapsed, probes["mu"], eta)
    ok = np.isfinite(ratios)
    out.update(pl_bound_min_ratio=float(ratios[ok].min()) if ok.any() else np.nan,
               pl_bound_weighted_ratio=float(elapsed[ok] @ ratios[ok] / elapsed[ok].sum()) if ok.any() else np.nan,
               pl_bound_violations=int((ratios[ok] < 1).sum()), pl_bound_intervals=int(ok.sum()))
    # claim 7: the early rate over the first transient_steps against the late rate; entry into the linear regime
    k = float(fit_cfg.get("transient_steps", 20))
    out["early_rate"] = float((math.log(loss[0]) - np.interp(k, steps, np.log(loss))) / k) if (loss > 0).all() else np.nan
    out["transient_ratio"] = out["early_rate"] / row["rate_late"] if row["rate_late"] > 0 else np.nan
    out["linear_entry_step"] = rates.entry_step(steps, curve["observed_rate"], row["rate_late"], cfg.get("entry_factor", 1.5))
    # claims 2, 6 and 10: the window fit with L* = 0 at every width
    zero = fitted if fitted["lstar_method"] == "zero" else fit_curve(metrics, "zero", fit_cfg)
    out.update(pl_slope_zero=zero["pl_slope"], rate_zero=zero["rate"], t0_zero=zero["t0"], t1_zero=zero["t1"],
               window_intercept_zero=zero["window_intercept"],
               window_decades_zero=float(zero["rate"] * (zero["t1"] - zero["t0"]) / LN10) if zero["has_window"] else 0.0)
    return out


def fixed_window_fit(metrics: pd.DataFrame, lstar_method: str, fit_cfg: dict, start: float = 0.25) -> dict:
    """Rate and PL slope by least squares over the fixed window [start T, T] under one L* estimator."""
    steps, loss, grad = (metrics[c].to_numpy(float) for c in ("step", "loss", "grad_norm_sq"))
    lg = log_gap(loss, estimate_lstar(loss, lstar_method, fit_cfg["min_offset"]))
    inside = (steps >= start * steps[-1]) & np.isfinite(lg) & (grad > 0)
    if inside.sum() < 3:
        return {"rate": np.nan, "pl_slope": np.nan, "has_window": False}
    return {"rate": -float(np.polyfit(steps[inside], lg[inside], 1)[0]),
            "pl_slope": float(np.polyfit(lg[inside], np.log(grad[inside]), 1)[0]), "has_window": True}


def matched_drifts(runs: dict[str, dict], per_run: pd.DataFrame) -> pd.DataFrame:
    """Relative drift of every run at the experiment's common step (the shortest run's T) and at its common
    eta t (the smallest eta T): across step sizes, the drift at matched steps and at matched eta t."""
    done = per_run["status"] == "completed"
    finals = {r: float(run["metrics"]["step"].iloc[-1]) for r, run in runs.items()}
    common_step = min((finals[r] for r in per_run.loc[done, "run"]), default=np.nan)
    common_eta_t = min((finals[r] * e for r, e in zip(per_run.loc[done, "run"], per_run.loc[done, "eta"])), default=np.nan)
    out = per_run.copy()
    for column, target in (("rel_drift_matched_steps", lambda e: common_step),
                           ("rel_drift_matched_eta_t", lambda e: common_eta_t / e)):
        values = []
        for run_id, eta in zip(per_run["run"], per_run["eta"]):
            m = runs[run_id]["metrics"]
            at = m.loc[m["step"] <= target(eta) * (1 + 1e-9), "rel_drift"]  # the last evaluated step at or before
            values.append(float(at.iloc[-1]) if len(at) and np.isfinite(target(eta)) else np.nan)
        out[column] = values
    return out


# ------------------------------------------------------------------------------------------------
# one experiment
# ------------------------------------------------------------------------------------------------

def sensitivity(runs: dict[str, dict], fit_cfg: dict, confidence: float) -> pd.DataFrame:
    """The window rate (geometric mean) and PL slope (mean) over completed runs, for every L* estimator x
    window R^2 threshold (the configured r2_min and half-way towards and away from 1), and the fixed window [T/4, T]."""
    r2 = fit_cfg["window"]["r2_min"]
    completed = [run["metrics"] for run in runs.values() if run["manifest"]["status"] == "completed"]
    rows = []
    for method in LSTAR_METHODS:
        for r2_min in (r2 - (1 - r2) / 2, r2, r2 + (1 - r2) / 2, "fixed"):
            if r2_min == "fixed":  # the fixed window [T/4, T]: no window rule at all
                fits = pd.DataFrame([{**fixed_window_fit(m, method, fit_cfg), "t0": m["step"].iloc[-1] / 4,
                                      "t1": m["step"].iloc[-1]} for m in completed])
            else:
                cfg = {**fit_cfg, "window": {**fit_cfg["window"], "r2_min": r2_min}}
                fits = pd.DataFrame([fit_curve(m, method, cfg) for m in completed])
            rate = summarise(fits["rate"], "log", confidence) if len(fits) else {"estimate": np.nan}
            slope = summarise(fits["pl_slope"], "linear", confidence) if len(fits) else {"estimate": np.nan}
            rows.append({"lstar_method": method, "window": "fixed [T/4, T]" if r2_min == "fixed" else "detected",
                         "r2_min": np.nan if r2_min == "fixed" else r2_min, "runs": len(runs),
                         "runs_with_window": int(fits["has_window"].sum()) if len(fits) else 0,
                         "rate": rate["estimate"], "pl_slope": slope["estimate"],
                         "window_start": float(fits["t0"].median()) if len(fits) else np.nan,
                         "window_end": float(fits["t1"].median()) if len(fits) else np.nan})
    return pd.DataFrame(rows)


def trends(per_run: pd.DataFrame, vary: list[str], confidence: float) -> pd.DataFrame:
    """Log-log slopes against the experiment's one numeric condition (e.g. width), fitted per seed; with other
    conditions beside it (depth x init), per level of those, where the numeric one takes >= 2 values."""
    numeric = [c for c in vary if pd.api.types.is_numeric_dtype(per_run[c]) and per_run[c].nunique() >= 2]
    others = [c for c in vary if c not in numeric]
    columns = [*others, "x", "statistic", "slope", "ci_low", "ci_high", "n", "n_seeds"]
    if len(numeric) != 1:
        return pd.DataFrame(columns=columns)
    at_matched_loss = [c for c in per_run.columns if c.startswith(("rel_drift_at_loss_", "kernel_change_at_loss_"))]
    extra = depth.TREND_STATISTICS if numeric[0] == "depth" else ()
    names = [y for y in dict.fromkeys((*TREND_STATISTICS, *extra, *at_matched_loss)) if y in per_run]
    groups = per_run.groupby(others, sort=True) if others else [((), per_run)]
    rows = [{**dict(zip(others, key if isinstance(key, tuple) else (key,))),
             **loglog_slope_by_seed(group, numeric[0], y, confidence)}
            for key, group in groups if group[numeric[0]].nunique() >= 2 for y in names]
    return pd.DataFrame(rows, columns=columns)


def analyse_experiment(runs: dict[str, dict], vary: list[str], fit_cfg: dict,
                       sources: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """{runs, curves, probes, summary, sensitivity, trends} of one experiment.

    `runs` maps run id -> load_run(...); `sources` maps a run id to the folder it was read from when that
    run is shared with an earlier experiment (recorded in the `source` column, so it is never counted twice).
    """
    rows, curves, probes = [], [], []
    for run_id, run in runs.items():
        row, curve, probe = analyse_run(run, fit_cfg)
        settings = run["settings"]
        rows.append({"run": run_id, **{k: settings[k] for k in vary}, "seed": settings["seed"],
                     "source": (sources or {}).get(run_id, ""), **row})
        curves.append(curve.assign(run=run_id))
        probes.append(probe.assign(run=run_id))
    per_run = beyond.versus_full_batch(runs, matched_drifts(runs, pd.DataFrame(rows)), vary)  # SGD vs GD per step
    if depth.applies(vary):  # depth x init: each run against the He run of its depth and seed (lplr.depth)
        per_run = depth.relative_to_reference(per_run, vary)
    by = vary or ["condition"]
    grouped = per_run.assign(condition="all") if not vary else per_run
    return {
        "runs": per_run,
        "curves": pd.concat(curves, ignore_index=True)[["run", *curves[0].columns.drop("run")]],
        "probes": pd.concat(probes, ignore_index=True)[["run", *probes[0].columns.drop("run")]],
        "summary": summarise_conditions(grouped, by, fit_cfg["confidence"]),
        "sensitivity": sensitivity(runs, fit_cfg, fit_cfg["confidence"]),
        "trends": trends(per_run, vary, fit_cfg["confidence"]),
    }
