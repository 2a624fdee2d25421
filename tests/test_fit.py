"""The estimators recover planted parameters; seed intervals cover at their nominal rate."""

import numpy as np
import pandas as pd
import pytest

from lplr.fit import detect_window, estimate_lstar, fit_curve, log_gap, lplr_exit_step
from lplr.stats import summarise

FIT_CFG = {"min_offset": 0.1, "window": {"r2_min": 0.99, "min_fraction": 0.1, "grid": 48, "max_residual": 0.25}, "confidence": 0.95,
           "lplr_exit_fraction": 0.5}


def planted_curve(rate=0.01, lstar=0.0, steps=1000, t0=100, t1=700, noise=0.02, seed=0):
    """log gap: a fast transient up to t0, slope -rate on [t0, t1], a flat floor after t1; multiplicative noise."""
    t = np.arange(steps + 1)
    log_g = np.where(t < t0, -0.05 * t, -0.05 * t0 - rate * (t - t0))
    log_g = np.where(t > t1, -0.05 * t0 - rate * (t1 - t0), log_g)
    rng = np.random.default_rng(seed)
    gap = np.exp(log_g + noise * rng.standard_normal(len(t)))
    return t, lstar + gap


def test_window_and_rate_recover_the_planted_linear_regime():
    t, loss = planted_curve(rate=0.01, t0=100, t1=700)
    window = detect_window(t, log_gap(loss, 0.0), r2_min=0.99, min_fraction=0.1, grid=101, max_residual=0.25)
    assert window is not None
    assert -window.slope == pytest.approx(0.01, rel=0.01)
    # a kink is found to within max_residual / (change of slope) = 0.25 / 0.01 = 25 steps, plus the grid
    assert 70 <= window.start <= 135 and 665 <= window.end <= 735


def test_no_window_on_pure_noise():
    rng = np.random.default_rng(1)
    t = np.arange(500)
    assert detect_window(t, rng.standard_normal(500), r2_min=0.99, min_fraction=0.1, grid=48) is None


def test_asymptote_recovers_a_planted_floor():
    t = np.arange(2001)
    rng = np.random.default_rng(0)
    loss = 0.02 + 0.5 * np.exp(-0.004 * t) * (1 + 0.001 * rng.standard_normal(len(t)))
    assert estimate_lstar(loss, "asymptote") == pytest.approx(0.02, rel=0.02)
    assert estimate_lstar(loss, "zero") == 0.0
    assert estimate_lstar(loss, "min", min_offset=0.1) == pytest.approx(0.9 * loss.min())


def test_asymptote_is_clamped_below_the_minimum():
    loss = np.exp(-0.01 * np.arange(1000))  # interpolating: the true L* is 0
    lstar = estimate_lstar(loss, "asymptote", min_offset=0.1)
    assert 0.0 <= lstar <= 0.9 * loss.min()


def test_pl_slope_recovers_a_planted_power_law():
    t, loss = planted_curve(rate=0.01, noise=0.0)
    gap = loss
    grad = 3.0 * gap ** 0.7  # G = k gap^beta with beta = 0.7
    fitted = fit_curve(pd.DataFrame({"step": t, "loss": loss, "grad_norm_sq": grad}), "zero", FIT_CFG)
    assert fitted["pl_slope"] == pytest.approx(0.7, abs=1e-6)
    assert fitted["rate"] == pytest.approx(0.01, rel=0.03)


def test_seed_interval_covers_at_its_nominal_rate(default_config):
    """Linear-scale t-intervals at the default config's seed count and confidence cover the true mean as nominal."""
    seeds = len(default_config["experiments"]["width"]["seeds"])
    confidence = default_config["fit"]["confidence"]
    rng = np.random.default_rng(0)
    trials, hits = 4000, 0
    for _ in range(trials):
        out = summarise(rng.normal(2.0, 0.5, size=seeds), "linear", confidence)
        hits += out["ci_low"] <= 2.0 <= out["ci_high"]
    assert out["n"] == seeds
    # binomial standard error at 4000 trials is about 0.0035; allow four of them
    assert hits / trials == pytest.approx(confidence, abs=0.015)


def test_lplr_exit_is_the_first_step_below_the_fraction():
    spectrum = pd.DataFrame({"step": [0, 1, 3, 10, 30], "lambda_min_ratio": [1.0, 0.9, 0.6, 0.4, 0.7]})
    assert lplr_exit_step(spectrum, 0.5) == 10
    assert np.isnan(lplr_exit_step(spectrum, 0.1))


