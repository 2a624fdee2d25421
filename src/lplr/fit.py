"""Statistics of the loss curves: L* estimators, the linear-regime window, rates, PL slopes.

Definitions (docs/definitions.md):
    gap_t       = L_t - L*
    linear rate c: least-squares slope of log gap_t against t inside the window, gap ~ exp(-c t)
    PL slope beta: least-squares slope of log G_t against log gap_t inside the window
    PL ratio    rho_t = G_t / (2 gap_t); its lower envelope is min rho_t over the window
    predicted   linearised GD contracts the loss per step by at most (1 - eta mu)^2, rate -2 log(1 - eta mu);
                the seed's PL + smoothness bound is (1 - eta mu), rate -log(1 - eta mu)

Window rule (deterministic): candidate ends on `grid` evenly spaced steps; among all windows
spanning at least `min_fraction` of the run whose log-linear fit has R^2 >= r2_min and no residual
larger than `max_residual` (in log-gap units: R^2 alone lets a long steep window swallow a
transient or a floor), take the longest, ties to the higher R^2. No such window: the run has
"no linear window" (NaN rate).

GD trajectories are deterministic and their residuals autocorrelated, so per-run regression
standard errors are not reported; uncertainty comes from seeds (lplr.stats). Which L* a run's
headline uses, and every other per-run statistic, is decided in lplr.analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

LSTAR_METHODS = ("zero", "min", "asymptote")


def estimate_lstar(loss: np.ndarray, method: str, min_offset: float = 0.1) -> float:
    """L* by `method`: 'zero'; 'min' = (1 - min_offset) * min L; 'asymptote' = L* of L* + A exp(-c t) on the tail.

    'min' keeps the last point off log(0): its gap is min_offset * min L.
    """
    loss = np.asarray(loss, dtype=float)
    low = float(np.nanmin(loss))
    if method == "zero":
        return 0.0
    if method == "min":
        return (1.0 - min_offset) * low
    if method == "asymptote":
        return _asymptote(loss, low, min_offset)
    raise ValueError(f"unknown L* estimator {method!r}; use one of {LSTAR_METHODS}")


def _asymptote(loss: np.ndarray, low: float, min_offset: float) -> float:
    """Fit L* + A exp(-c t) to the second half of the run; clamp L* to [0, min L) (just below min L)."""
    tail = loss[len(loss) // 2:]
    t = np.arange(len(tail), dtype=float)
    ceiling = low * (1.0 - 1e-9)
    guess_c = max(math.log(max(tail[0], 1e-300) / max(tail[-1], 1e-300)) / max(len(tail) - 1, 1), 1e-6)

    def model(t, lstar, log_a, c):
        return lstar + np.exp(log_a - c * t)

    try:
        (lstar, _, _), _ = optimize.curve_fit(
            model, t, tail, p0=(0.5 * ceiling, math.log(max(tail[0] - 0.5 * ceiling, 1e-300)), guess_c),
            bounds=([0.0, -np.inf, 0.0], [max(ceiling, 1e-300), np.inf, np.inf]), maxfev=5000)
    except (RuntimeError, ValueError):
        return ceiling
    return float(np.clip(lstar, 0.0, ceiling))


@dataclass(frozen=True)
class Window:
    start: int  # first step in the window
    end: int    # last step in the window
    slope: float
    intercept: float
    r2: float


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(slope, intercept, R^2) of the least-squares line: scipy.stats.linregress's centred formulas without
    its per-call argument handling, which cost ~1 ms per call (detect_window makes ~300 calls per fit)."""
    x_mean, y_mean = x.mean(), y.mean()
    dx, dy = x - x_mean, y - y_mean
    sxx, sxy, syy = float(dx @ dx), float(dx @ dy), float(dy @ dy)
    slope = sxy / sxx
    r2 = 0.0 if sxx == 0 or syy == 0 else min(sxy * sxy / (sxx * syy), 1.0)  # linregress: r = 0 on a flat line
    return slope, float(y_mean) - slope * float(x_mean), r2


def detect_window(steps: np.ndarray, log_gap: np.ndarray, r2_min: float, min_fraction: float, grid: int,
                  max_residual: float = np.inf) -> Window | None:
    """The longest window (on a grid of candidate ends) whose log-linear fit reaches R^2 >= r2_min
    with every |residual| <= max_residual."""
    steps, log_gap = np.asarray(steps, dtype=float), np.asarray(log_gap, dtype=float)
    finite = np.isfinite(log_gap)
    candidates = np.unique(np.linspace(0, len(steps) - 1, grid).round().astype(int))
    span_min = min_fraction * (steps[-1] - steps[0])
    best = None
    for i, a in enumerate(candidates):
        for b in candidates[i + 1:]:
            span = steps[b] - steps[a]
            if span < span_min or (best is not None and span < best.end - best.start):
                continue
            if not finite[a:b + 1].all():
                continue
            slope, intercept, r2 = _line_fit(steps[a:b + 1], log_gap[a:b + 1])
            if r2 < r2_min:
                continue
            residual = log_gap[a:b + 1] - (intercept + slope * steps[a:b + 1])
            if np.abs(residual).max() > max_residual:
                continue
            if best is None or span > best.end - best.start or r2 > best.r2:
                best = Window(int(steps[a]), int(steps[b]), slope, intercept, r2)
    return best


def log_gap(loss: np.ndarray, lstar: float) -> np.ndarray:
    gap = np.asarray(loss, dtype=float) - lstar
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, np.log(gap), np.nan)


def fit_curve(metrics: pd.DataFrame, lstar_method: str, fit_cfg: dict) -> dict:
    """Window, rate, PL slope and PL-ratio envelope of one loss curve under one L* estimator."""
    steps, loss, grad = (metrics[c].to_numpy(float) for c in ("step", "loss", "grad_norm_sq"))
    lstar = estimate_lstar(loss, lstar_method, fit_cfg["min_offset"])
    lg = log_gap(loss, lstar)
    w = fit_cfg["window"]
    window = detect_window(steps, lg, w["r2_min"], w["min_fraction"], w["grid"], w["max_residual"])
    out = {"lstar_method": lstar_method, "lstar": lstar}
    if window is None:
        return {**out, "has_window": False, "t0": np.nan, "t1": np.nan, "rate": np.nan, "r2": np.nan,
                "window_intercept": np.nan, "pl_slope": np.nan, "pl_intercept": np.nan, "pl_envelope": np.nan}
    inside = (steps >= window.start) & (steps <= window.end) & np.isfinite(lg) & (grad > 0)
    pl = stats.linregress(lg[inside], np.log(grad[inside]))
    rho = grad[inside] / (2 * np.exp(lg[inside]))
    return {**out, "has_window": True, "t0": window.start, "t1": window.end, "rate": -window.slope,
            "r2": window.r2, "window_intercept": window.intercept, "pl_slope": float(pl.slope),
            "pl_intercept": float(pl.intercept), "pl_envelope": float(rho.min())}


def lplr_exit_step(spectrum: pd.DataFrame, fraction: float) -> float:
    """The first probed step where lambda_min(Theta_t) / lambda_min(Theta_0) < fraction (NaN if never)."""
    outside = spectrum.loc[spectrum["lambda_min_ratio"] < fraction, "step"]
    return float(outside.iloc[0]) if len(outside) else np.nan
