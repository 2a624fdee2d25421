"""Depth x initialisation (beyond the paper, issue 23): each run against the He run of its depth and seed.

The depth-aware factor g(l, D) = (1 - |D/2 - l| / D)^2 depends on the depth D, so the `depth` experiment varies D
and the initialisation at a fixed eta lambda_max(Theta_0) / n. lplr.analysis calls this module for an experiment
that varies both `depth` and `init`:

    <statistic>_vs_he   per run, the statistic over the He run's of the same seed and the same other conditions
                        (1 for a He run; NaN without a He partner): paired by seed, so a trend of the ratio over
                        depth is fitted within each seed (lplr.stats.loglog_slope_by_seed), like any trend
    TREND_STATISTICS    the statistics whose log-log slope against depth goes into <experiment>_trends.csv
                        (per init), beside lplr.analysis.TREND_STATISTICS
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEY, REFERENCE = "init", "he"
# mu_0, the early rate over the first fit.transient_steps steps, claim 7's transient ratio, decades at the end
RELATIVE = ("mu_0", "early_rate", "transient_ratio", "decades")
TREND_STATISTICS = ("kernel_conditioning_0", "early_rate", "transient_ratio", "linear_entry_step", "t0",
                    *(f"{s}_vs_{REFERENCE}" for s in RELATIVE))


def applies(vary: list[str]) -> bool:
    """Whether an experiment's conditions are a depth x init grid (only then are the columns added)."""
    return "depth" in vary and KEY in vary


def relative_to_reference(per_run: pd.DataFrame, vary: list[str], statistics=RELATIVE) -> pd.DataFrame:
    """per_run with `<statistic>_vs_he` = statistic / the He run's with the same seed and other conditions."""
    partners = [c for c in vary if c != KEY] + ["seed"]
    reference = per_run[(per_run[KEY].astype(str) == REFERENCE) & (per_run["status"] == "completed")]
    if reference.duplicated(partners).any():
        raise ValueError(f"two {KEY}={REFERENCE} runs share {partners}: cannot pair runs by seed")
    joined = per_run[partners].merge(reference[[*partners, *statistics]], on=partners, how="left")
    out = per_run.copy()
    for statistic in statistics:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = per_run[statistic].to_numpy(float) / joined[statistic].to_numpy(float)
        out[f"{statistic}_vs_{REFERENCE}"] = np.where(per_run["status"] == "completed", ratio, np.nan)
    return out
