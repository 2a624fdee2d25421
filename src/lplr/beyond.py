"""Per-run statistics of the checks the paper leaves open (issue 23): mini-batch noise, the Hessian beside the
NTK, and how long a run stays in its locally PL region. Each reads what training and the probe already wrote.

    noise (spectrum.csv, lplr.noise)   b_noise_0, b_noise_final: tr(Sigma) / |grad L|^2 at the first and last probe;
                                       probes.csv gets critical_batch at every probe (probe_critical_batch);
                                       for SGD runs critical_batch_0 (_final at the last probe) =
                                       s B_noise n / ((2 - s)(n - 1) + s B_noise) and
                                       descent_ratio_0, SGD's over GD's guaranteed per-step decrease, at step 0
    Hessian (spectrum.csv, lplr.hessian)  hessian_sharpness_0, _max, _final: eta lambda_max(H); hessian_over_gn_0,
                                       _final, _max: that over the Gauss-Newton sharpness eta lambda_max(Theta)/|S|
                                       (the residual term's weight); hessian_sharpness_ends_max: the larger of the
                                       first and last probe's (the statistic as registered when only those were probed);
                                       hessian_residual_max: the largest |H v - lambda v| / lambda of its Lanczos
                                       (above lplr.probe.HESSIAN_LANCZOS's 1e-6: a probe that hit its step cap)
    lifetime (metrics.csv, lambda_min_tracked; only when training.lambda_min_every > 0)
                                       inside the LPLR while lambda_min(Theta_t) / lambda_min(Theta_0) >= fraction
                                       (fit.lplr_exit_fraction, as for the probe's lplr_exit_step):
                                       lplr_exit_step_tracked (first tracked step outside), lplr_time_inside (share
                                       of tracked steps inside), lplr_exits and lplr_reentries (crossings), and
                                       sharpness_at_exit_over_0 (tracked sharpness at the exit over its value at 0)
    tracked Hessian (metrics.csv, hessian_sharpness_tracked; only when training.hessian_every > 0)
                                       hessian_sharpness_tracked_max, _final: eta lambda_max(H_t) along training;
                                       hessian_eos_share: the share of its tracked steps inside EOS_BAND (time at
                                       the edge of stability, GD's limit 2 on the local quadratic);
                                       hessian_over_gn_tracked_median, _max: over the tracked sharpness
                                       eta lambda_max(Theta_t)/n at the steps where both are tracked
    SGD against GD per step (metrics.csv of every run of an experiment with batch sizes, versus_full_batch)
                                       sgd_rate_per_step: the least-squares slope of -ln L against step over the
                                       steps every run of the seed has (the shortest run's T); rate_over_full_batch:
                                       that over the full-batch run's of the same seed (same eta when calibrated on
                                       theta_0); batch_over_critical: B / critical_batch_0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lplr.config import FULL_BATCH
from lplr.noise import critical_batch, descent_ratio

NOISE = ["b_noise_0", "b_noise_final", "critical_batch_0", "critical_batch_final", "descent_ratio_0"]
HESSIAN = ["hessian_sharpness_0", "hessian_sharpness_max", "hessian_sharpness_final", "hessian_sharpness_ends_max",
           "hessian_over_gn_0", "hessian_over_gn_final", "hessian_over_gn_max", "hessian_residual_max"]
TRACKED_HESSIAN = ["hessian_sharpness_tracked_max", "hessian_sharpness_tracked_final", "hessian_eos_share",
                   "hessian_over_gn_tracked_median", "hessian_over_gn_tracked_max"]
EOS_BAND = (1.8, 2.2)  # OUR CHOICE: "at the edge of stability" = eta lambda_max(H) within 10% of 2
VERSUS_GD = ["sgd_rate_per_step", "rate_over_full_batch", "batch_over_critical"]
LIFETIME = ["lplr_exit_step_tracked", "lplr_time_inside", "lplr_exits", "lplr_reentries", "sharpness_at_exit_over_0"]


def noise_statistics(spectrum: pd.DataFrame, settings: dict, n_train: int) -> dict:
    if "b_noise" not in spectrum:  # a probe from before the noise scale was measured
        return dict.fromkeys(NOISE, np.nan)
    b0 = float(spectrum["b_noise"].iloc[0])
    row = {"b_noise_0": b0, "b_noise_final": float(spectrum["b_noise"].iloc[-1]),
           "critical_batch_0": np.nan, "critical_batch_final": np.nan, "descent_ratio_0": np.nan}
    if settings.get("optimizer") == "sgd" and np.isfinite(b0):
        s0, s_final = float(spectrum["sharpness"].iloc[0]), float(spectrum["sharpness"].iloc[-1])
        row["critical_batch_0"] = critical_batch(s0, b0, n_train)
        if s_final < 2:  # past GD's stability limit the descent lemma guarantees no decrease
            row["critical_batch_final"] = critical_batch(s_final, row["b_noise_final"], n_train)
        row["descent_ratio_0"] = descent_ratio(s0, b0, n_train, batch_of(settings["batch_size"], n_train))
    return row


def hessian_statistics(spectrum: pd.DataFrame) -> dict:
    if "hessian_sharpness" not in spectrum:
        return dict.fromkeys(HESSIAN, np.nan)
    h, gn = spectrum["hessian_sharpness"].astype(float), spectrum["sharpness"].astype(float)
    ratio = h / gn  # NaN at the probes where the Hessian was not computed (ntk.hessian: ends)
    return {"hessian_sharpness_0": float(h.iloc[0]), "hessian_sharpness_max": float(h.max()),
            "hessian_sharpness_final": float(h.iloc[-1]), "hessian_sharpness_ends_max": float(h.iloc[[0, -1]].max()),
            "hessian_over_gn_0": float(ratio.iloc[0]), "hessian_over_gn_final": float(ratio.iloc[-1]),
            "hessian_over_gn_max": float(ratio.max()),
            "hessian_residual_max": float(spectrum["hessian_residual"].max()) if "hessian_residual" in spectrum else np.nan}


def lifetime_statistics(metrics: pd.DataFrame, fraction: float) -> dict:
    if "lambda_min_tracked" not in metrics:
        return dict.fromkeys(LIFETIME, np.nan)
    tracked = metrics.dropna(subset=["lambda_min_tracked"])
    if tracked.empty or not tracked["lambda_min_tracked"].iloc[0] > 0:
        return dict.fromkeys(LIFETIME, np.nan)
    inside = (tracked["lambda_min_tracked"] / tracked["lambda_min_tracked"].iloc[0] >= fraction).to_numpy()
    steps = tracked["step"].to_numpy()
    crossings = np.diff(inside.astype(int))
    exits = int((crossings == -1).sum())
    row = {"lplr_exit_step_tracked": float(steps[~inside][0]) if (~inside).any() else np.nan,
           "lplr_time_inside": float(inside.mean()), "lplr_exits": exits, "lplr_reentries": int((crossings == 1).sum()),
           "sharpness_at_exit_over_0": np.nan}
    sharp = metrics.dropna(subset=["sharpness"]) if "sharpness" in metrics else pd.DataFrame()
    if exits and len(sharp) and sharp["sharpness"].iloc[0] > 0:
        before = sharp[sharp["step"] <= row["lplr_exit_step_tracked"]]
        row["sharpness_at_exit_over_0"] = float(before["sharpness"].iloc[-1] / sharp["sharpness"].iloc[0])
    return row


def tracked_hessian_statistics(metrics: pd.DataFrame) -> dict:
    if "hessian_sharpness_tracked" not in metrics:
        return dict.fromkeys(TRACKED_HESSIAN, np.nan)
    h = metrics["hessian_sharpness_tracked"].dropna()  # NaN at a diverging seed's last steps too
    if h.empty:
        return dict.fromkeys(TRACKED_HESSIAN, np.nan)
    gn = metrics["sharpness"] if "sharpness" in metrics else pd.Series(np.nan, index=metrics.index)
    ratio = (metrics["hessian_sharpness_tracked"] / gn).dropna()  # where both are tracked
    return {"hessian_sharpness_tracked_max": float(h.max()), "hessian_sharpness_tracked_final": float(h.iloc[-1]),
            "hessian_eos_share": float(h.between(*EOS_BAND).mean()),
            "hessian_over_gn_tracked_median": float(ratio.median()) if len(ratio) else np.nan,
            "hessian_over_gn_tracked_max": float(ratio.max()) if len(ratio) else np.nan}


def run_statistics(metrics: pd.DataFrame, spectrum: pd.DataFrame, settings: dict, n_train: int, fraction: float) -> dict:
    """Every statistic above for one run."""
    return {**noise_statistics(spectrum, settings, n_train), **hessian_statistics(spectrum),
            **lifetime_statistics(metrics, fraction), **tracked_hessian_statistics(metrics)}


def batch_of(batch_size, n_train: int) -> int:
    """A batch_size setting as a number of examples (`full` = n_train)."""
    return int(n_train) if str(batch_size) == FULL_BATCH else int(batch_size)


def rate_per_step(metrics: pd.DataFrame, until: float) -> float:
    """-d ln L / dt by least squares over the evaluated steps <= until (SGD's full-batch loss fluctuates, so a
    fit rather than the end points); NaN with fewer than 3 finite positive losses."""
    steps, loss = metrics["step"].to_numpy(float), metrics["loss"].to_numpy(float)
    ok = (steps <= until) & np.isfinite(loss) & (loss > 0)
    return -float(np.polyfit(steps[ok], np.log(loss[ok]), 1)[0]) if ok.sum() >= 3 else np.nan


def versus_full_batch(runs: dict[str, dict], per_run: pd.DataFrame, vary=()) -> pd.DataFrame:
    """per_run with VERSUS_GD added (NaN where the experiment varies no batch size or a seed has no full-batch
    run); the reference is the full-batch run of the same seed and the same other conditions (`vary` but
    batch_size), and its own rate_over_full_batch is NaN."""
    out = per_run.copy()
    for column in VERSUS_GD:
        out[column] = np.nan
    if "batch_size" not in out or out.empty:
        return out
    done = out["status"] == "completed"
    batch = np.array([batch_of(b, n) for b, n in zip(out["batch_size"], out["n_train"])], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["batch_over_critical"] = batch / out["critical_batch_0"].astype(float)
    for _, group in out[done].groupby([*(c for c in vary if c != "batch_size"), "seed"]):
        until = min(float(runs[r]["metrics"]["step"].iloc[-1]) for r in group["run"])  # steps every run has
        rates = {i: rate_per_step(runs[r]["metrics"], until) for i, r in zip(group.index, group["run"])}
        out.loc[list(rates), "sgd_rate_per_step"] = list(rates.values())
        full = [i for i in group.index if batch[out.index.get_loc(i)] == group.loc[i, "n_train"]]
        if len(full) == 1 and rates[full[0]] > 0:
            others = [i for i in group.index if i != full[0]]
            out.loc[others, "rate_over_full_batch"] = [rates[i] / rates[full[0]] for i in others]
    return out


def probe_critical_batch(probes: pd.DataFrame, n_train: int) -> pd.DataFrame:
    """probes with critical_batch = s_t B_noise,t n / ((2 - s_t)(n - 1) + s_t B_noise,t) at every probe (NaN
    without a noise scale, or where s_t >= 2 and the descent lemma guarantees no decrease)."""
    out = probes.copy()
    if "b_noise" not in out:
        out["critical_batch"] = np.nan
        return out
    s, b = out["sharpness"].to_numpy(float), out["b_noise"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["critical_batch"] = np.where(s < 2, [critical_batch(x, y, n_train) for x, y in zip(s, b)], np.nan)
    return out
