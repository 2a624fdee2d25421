"""Across-seed summaries: known intervals, bounds on the right side of 0 and 1, n beside every estimate."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from lplr.stats import SCALES, loglog_slope_by_seed, summarise, summarise_conditions


def test_log_scale_interval_is_the_t_interval_of_the_logs_mapped_back():
    values = np.array([1e-3, 1e-2, 1e-1])  # logs: mean log(1e-2), sd log(10)
    out = summarise(values, "log", 0.95)
    half = scipy_stats.t.ppf(0.975, 2) * np.log(10) / np.sqrt(3)
    assert out["estimate"] == pytest.approx(1e-2)
    assert out["ci_low"] == pytest.approx(1e-2 * np.exp(-half)) and out["ci_high"] == pytest.approx(1e-2 * np.exp(half))
    assert out["n"] == 3 and out["estimator"] == "geometric mean"


def test_no_interval_of_a_positive_quantity_has_a_negative_bound():
    rng = np.random.default_rng(0)
    for _ in range(200):
        values = np.exp(rng.normal(-5, 3, size=3))  # spread over decades, as final losses are
        out = summarise(values, "log", 0.95)
        assert out["ci_low"] > 0 and out["ci_low"] <= out["estimate"] <= out["ci_high"]
        linear = summarise(values, "linear", 0.95)  # the raw-scale t-interval would go negative here
        if linear["ci_low"] < 0:
            break
    else:
        pytest.fail("the raw t-interval never went negative: the test does not exercise what it should")
    shares = summarise([0.99, 0.5, 0.9], "logit", 0.95)
    assert 0 < shares["ci_low"] < shares["estimate"] < shares["ci_high"] < 1


def test_order_interval_of_steps_is_min_max_with_its_coverage():
    out = summarise([10, 0, 40], "order", 0.95)
    assert (out["estimate"], out["ci_low"], out["ci_high"]) == (10, 0, 40)
    assert out["coverage"] == pytest.approx(0.75)


def test_log_scale_coverage_of_the_geometric_mean():
    rng = np.random.default_rng(1)
    # exact coverage: the t-interval of normal logs covers the median exp(mu) at its nominal rate
    trials, hits = 3000, 0
    for _ in range(trials):
        out = summarise(np.exp(rng.normal(np.log(0.02), 0.7, size=3)), "log", 0.9)
        hits += out["ci_low"] <= 0.02 <= out["ci_high"]
    assert hits / trials == pytest.approx(0.9, abs=0.02)


def test_summary_counts_runs_that_did_not_complete_in_n_runs_only():
    runs = pd.DataFrame({"width": [8, 8, 8], "seed": [0, 1, 2], "status": ["completed", "completed", "diverged"],
                         "rate": [0.01, np.nan, 0.5], "final_loss": [1e-3, 2e-3, np.nan]})
    table = summarise_conditions(runs, ["width"], 0.95, ["rate", "final_loss"]).set_index("statistic")
    assert table.loc["rate", "n"] == 1 and table.loc["rate", "n_runs"] == 3
    assert table.loc["final_loss", "n"] == 2
    assert table.loc["rate", "estimate"] == pytest.approx(0.01)


def test_every_summarised_statistic_has_a_known_scale():
    assert set(SCALES.values()) <= {"log", "logit", "linear", "order"}


def test_loglog_slope_by_seed_recovers_minus_one_half():
    rows = [{"seed": s, "width": w, "status": "completed", "drift": 2.0 * w ** -0.5 * (1 + 0.01 * s)}
            for s in range(3) for w in (32, 64, 128, 256)]
    fitted = loglog_slope_by_seed(pd.DataFrame(rows), "width", "drift", 0.95)
    assert fitted["slope"] == pytest.approx(-0.5, abs=1e-9) and fitted["n"] == 3


def test_an_interval_unbounded_for_want_of_seeds_says_undecidable():
    from lplr.formatting import format_interval, interval_unbounded

    assert format_interval(1.5, 1.2, 1.9, 3, 3) == "1.5 [1.2, 1.9; n=3/3]"
    assert format_interval(1.5, 1.2, 1.9, 3, 4, latex=True) == "1.5 [1.2, 1.9; $n=3/4$]"
    assert format_interval(0.02, 1e-100, 1e97, 2, 2) == "0.02 (undecidable with 2 seeds)"
    assert format_interval(0.5, float("nan"), float("nan"), 1, 1) == "0.5 (undecidable with 1 seed)"
    assert not interval_unbounded(-3.0, 5.0, 2) and interval_unbounded(-1e12, 5.0, 2)
    assert not interval_unbounded(1e-5, 1e4, 2) and interval_unbounded(1e-6, 1e5, 2)  # 9 vs 11 decades
