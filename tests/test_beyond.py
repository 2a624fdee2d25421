"""Per-run statistics of the checks beyond the paper, on planted runs."""

import numpy as np
import pandas as pd
import pytest

from lplr.analysis import regime_labels, regime_of
from lplr.beyond import HESSIAN, LIFETIME, NOISE, TRACKED_HESSIAN, run_statistics
from lplr.noise import critical_batch


def spectrum(**extra):
    return pd.DataFrame({"step": [0, 10, 100], "sharpness": [0.2, 0.5, 0.9], **extra})


def test_lplr_lifetime_counts_exits_and_reentries_at_the_tracking_cadence():
    lam = [1.0, np.nan, 0.8, 0.4, 0.3, 0.6, 0.45, 0.7]  # ratio vs 0.5: in, -, in, out, out, in, out, in
    metrics = pd.DataFrame({"step": range(8), "lambda_min_tracked": lam,
                            "sharpness": [0.2, np.nan, 0.3, 1.1, 1.2, 0.9, 1.3, 1.0]})
    row = run_statistics(metrics, spectrum(), {}, 256, 0.5)
    assert row["lplr_exit_step_tracked"] == 3 and row["lplr_exits"] == 2 and row["lplr_reentries"] == 2
    assert row["lplr_time_inside"] == pytest.approx(4 / 7)
    assert row["sharpness_at_exit_over_0"] == pytest.approx(1.1 / 0.2)
    stays = run_statistics(metrics.assign(lambda_min_tracked=[1.0] * 8), spectrum(), {}, 256, 0.5)
    assert np.isnan(stays["lplr_exit_step_tracked"]) and stays["lplr_exits"] == 0 and stays["lplr_time_inside"] == 1


def test_without_the_columns_every_statistic_is_missing_not_invented():
    row = run_statistics(pd.DataFrame({"step": [0], "loss": [1.0]}), spectrum(), {}, 256, 0.5)
    assert all(np.isnan(row[k]) for k in NOISE + HESSIAN + LIFETIME + TRACKED_HESSIAN)


def test_noise_and_hessian_statistics_from_the_probe():
    probe = spectrum(b_noise=[40.0, 80.0, 500.0], hessian_sharpness=[0.25, 0.6, 2.1])
    sgd = run_statistics(pd.DataFrame({"step": [0]}), probe, {"optimizer": "sgd", "batch_size": 16}, 256, 0.5)
    assert sgd["b_noise_0"] == 40 and sgd["b_noise_final"] == 500
    assert sgd["critical_batch_0"] == pytest.approx(critical_batch(0.2, 40.0, 256))
    assert 0 < sgd["descent_ratio_0"] < 1
    assert sgd["hessian_over_gn_0"] == pytest.approx(1.25) and sgd["hessian_over_gn_max"] == pytest.approx(2.1 / 0.9)
    assert sgd["hessian_sharpness_max"] == 2.1 and sgd["hessian_sharpness_ends_max"] == 2.1
    full = run_statistics(pd.DataFrame({"step": [0]}), probe, {"optimizer": "sgd", "batch_size": "full"}, 256, 0.5)
    assert full["descent_ratio_0"] == 1.0  # the whole set: no sampling noise
    gd = run_statistics(pd.DataFrame({"step": [0]}), probe, {"optimizer": "gd"}, 256, 0.5)
    assert np.isnan(gd["critical_batch_0"]) and np.isnan(gd["descent_ratio_0"])


def test_tracked_hessian_time_at_the_edge_and_its_ratio_to_gauss_newton():
    """Planted series: the Hessian tracked every 2 steps, the Gauss-Newton sharpness every 4; the band [1.8, 2.2]
    holds 3 of the 5 tracked values (its ends included); the ratio is taken where both are tracked."""
    nan = np.nan
    metrics = pd.DataFrame({"step": range(9),
                            "sharpness": [1.0, nan, nan, nan, 1.6, nan, nan, nan, 2.0],
                            "hessian_sharpness_tracked": [1.5, nan, 1.8, nan, 2.4, nan, 2.2, nan, 2.0]})
    row = run_statistics(metrics, spectrum(), {}, 256, 0.5)
    assert row["hessian_sharpness_tracked_max"] == 2.4 and row["hessian_sharpness_tracked_final"] == 2.0
    assert row["hessian_eos_share"] == pytest.approx(3 / 5)
    assert row["hessian_over_gn_tracked_median"] == pytest.approx(1.5)  # ratios 1.5, 1.5, 1.0
    assert row["hessian_over_gn_tracked_max"] == pytest.approx(1.5)
    alone = run_statistics(metrics.drop(columns="sharpness"), spectrum(), {}, 256, 0.5)
    assert alone["hessian_eos_share"] == pytest.approx(3 / 5) and np.isnan(alone["hessian_over_gn_tracked_median"])


def test_the_regime_is_labelled_by_the_larger_sharpness():
    """The Gauss-Newton sharpness at 0.9 says eta <= 1/L; a probe's Hessian at 1.3 says otherwise, and wins;
    the label by the Gauss-Newton one alone is kept beside it. A run that did not complete keeps its status."""
    row = {"sharpness_tracked_max": 0.9, "hessian_sharpness_max": 1.3, "hessian_sharpness_tracked_max": np.nan}
    labels = regime_labels(row, "completed")
    assert labels["sharpness_larger_max"] == 1.3
    assert labels["regime"] == regime_of(1.3) != labels["regime_gauss_newton"] == regime_of(0.9)
    assert regime_labels({**row, "hessian_sharpness_tracked_max": 2.4}, "completed")["regime"] == "edge of stability"
    assert regime_labels({"sharpness_tracked_max": np.nan}, "completed")["regime"] == "untracked"
    assert regime_labels(row, "diverged")["regime"] == "diverged"
