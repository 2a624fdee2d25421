"""The claims ledger: each claim of the paper, tested by a rule fixed in config before the runs.

One row per claim x experiment (x condition where a claim is read per condition): the paper's statement
and number, our statistic with its interval and n, the experiment's regime (as set up, and as observed from
the tracked sharpness), the scale it ran at, and a verdict from the claim's rule:

    equivalence  low <= statistic <= high: the interval inside [low, high] -> supported, disjoint from it
                 -> contradicted, else inconclusive ("about 0.29" becomes a margin fixed in config)
    above/below  the interval entirely above (below) `threshold` -> supported, entirely on the other side
                 -> contradicted, else inconclusive
    trend        per-seed log-log slope of the statistic (or of |statistic - distance_to|) against a numeric
                 condition: its interval on the stated side of 0 -> supported (for `monotone: true` also the
                 condition estimates must be monotone, else inconclusive), on the other side -> contradicted
    compare      condition a against condition b, paired by seed: log ratio a/b (positive statistics) or
                 difference (signed ones and step counts); the interval on the stated side of 0 -> supported,
                 on the other -> contradicted
    proportion   a per-run violation (a condition over runs.csv columns in the grammar of lplr.expressions,
                 e.g. "lqcr_negative > 0"; never executed as code):
                 no run violates -> supported; the Clopper-Pearson lower bound of the violating fraction
                 above `max_fraction` -> contradicted (violations are not rare); else inconclusive

A claim whose `requires` (e.g. width 1024, CIFAR-10) the experiment does not meet is "not tested at this
scale"; its statistic is still shown. Fewer than two values give no interval: inconclusive.
Multiple comparisons: Bonferroni. With k rows that get a verdict, every interval is at confidence
1 - (1 - family_confidence) / k, so the chance that any of them misses its true value is at most
1 - family_confidence. The intervals are across seeds (lplr.stats), so with the default data.seed they
are conditional on one training subset.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from lplr.analysis import regime_of
from lplr.expressions import evaluate
from lplr.formatting import format_number, format_value
from lplr.stats import loglog_slope_by_seed, scale_of, summarise

VERDICTS = ("supported", "contradicted", "inconclusive", "not tested at this scale")
NOT_TESTED = VERDICTS[3]
COLUMNS = ["claim", "paper_claim", "experiment", "condition", "regime", "regime_observed", "scale", "config",
           "paper_statement", "paper_value", "statistic", "estimator", "estimate", "low", "high", "confidence",
           "n", "n_runs", "rule", "verdict", "interval_width", "seeds_to_decide", "tightness", "note"]


class ClaimError(ValueError):
    """A claim in config is malformed; the message names the claim and the key."""


# ------------------------------------------------------------------------------------------------
# selecting runs
# ------------------------------------------------------------------------------------------------

def _matches(runs: pd.DataFrame, where: dict) -> pd.Series:
    mask = pd.Series(True, index=runs.index)
    for key, value in where.items():
        if key not in runs:
            raise KeyError(key)
        column = runs[key]
        if value in ("max", "min"):
            target = column.max() if value == "max" else column.min()
            mask &= column == target
        else:
            mask &= column.astype(str) == format_value(value)
    return mask


def condition_selections(runs: pd.DataFrame, at) -> list[tuple[str, pd.DataFrame]]:
    """[(label, runs)] for a claim's `at`: None (all runs), a filter {key: value | max | min | each}, or a
    list of filters. `each` makes one selection per value of that key."""
    filters = at if isinstance(at, list) else [at or {}]
    out = []
    for where in filters:
        each = [k for k, v in where.items() if v == "each"]
        fixed = {k: v for k, v in where.items() if v != "each"}
        base = runs[_matches(runs, fixed)]
        groups = [((), base)] if not each else list(base.groupby(each, sort=True))
        for key, group in groups:
            key = key if isinstance(key, tuple) else (key,)
            resolved = {k: (group[k].iloc[0] if v in ("max", "min") and len(group) else v) for k, v in fixed.items()}
            resolved.update(dict(zip(each, key)))
            label = ",".join(f"{k}={format_value(v)}" for k, v in resolved.items()) or "all runs"
            out.append((label, group))
    return out


# ------------------------------------------------------------------------------------------------
# the rules
# ------------------------------------------------------------------------------------------------

def _side(low: float, high: float, threshold: float, above: bool) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if above:
        return "supported" if low > threshold else "contradicted" if high < threshold else "inconclusive"
    return "supported" if high < threshold else "contradicted" if low > threshold else "inconclusive"


def _completed(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "completed"]


def rule_equivalence(runs, statistic, rule, confidence):
    s = summarise(_completed(runs)[statistic], scale_of(statistic), confidence)
    low, high = rule["low"], rule["high"]
    if not (np.isfinite(s["ci_low"]) and np.isfinite(s["ci_high"])):
        verdict = "inconclusive"
    elif low <= s["ci_low"] and s["ci_high"] <= high:
        verdict = "supported"
    elif s["ci_high"] < low or s["ci_low"] > high:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    s["decision"] = (s["scale"], (low, high))
    return s, verdict, f"interval inside [{format_number(low)}, {format_number(high)}]"


def rule_threshold(runs, statistic, rule, confidence, above):
    s = summarise(_completed(runs)[statistic], scale_of(statistic), confidence)
    word = "above" if above else "below"
    s["decision"] = (s["scale"], (rule["threshold"],))
    return s, _side(s["ci_low"], s["ci_high"], rule["threshold"], above), \
        f"interval {word} {format_number(rule['threshold'])}"


def rule_trend(runs, statistic, rule, confidence):
    over, decreasing = rule["over"], rule["direction"] == "decreasing"
    frame = _completed(runs).copy()
    values = frame[statistic].astype(float)
    if "distance_to" in rule:
        values = (values - rule["distance_to"]).abs()
    frame["_y"] = values
    slope = loglog_slope_by_seed(frame, over, "_y", confidence)
    s = {"estimate": slope["slope"], "ci_low": slope["ci_low"], "ci_high": slope["ci_high"], "n": slope["n"],
         "estimator": f"per-seed log-log slope against {over}", "decision": ("linear", (0.0,))}
    verdict = _side(s["ci_low"], s["ci_high"], 0.0, above=not decreasing)
    note = ""
    if verdict == "supported" and rule.get("monotone"):
        means = frame.groupby(over)["_y"].apply(lambda v: summarise(v, "log", confidence)["estimate"]).sort_index()
        steps = np.diff(means.to_numpy())
        if not (np.all(steps < 0) if decreasing else np.all(steps > 0)):
            verdict, note = "inconclusive", f"the slope is {rule['direction']} but the per-{over} estimates are not monotone"
    target = f"|{statistic} - {format_number(rule['distance_to'])}|" if "distance_to" in rule else statistic
    text = f"slope of log {target} on log {over}: interval {'below' if decreasing else 'above'} 0"
    return s, verdict, text + (" and monotone estimates" if rule.get("monotone") else ""), note


def rule_compare(runs, statistic, rule, confidence):
    """a against b paired by seed; log ratio for log-scale statistics, else the difference."""
    frame = _completed(runs)
    a, b = frame[_matches(frame, rule["a"])], frame[_matches(frame, rule["b"])]
    paired = a.set_index("seed")[statistic].to_frame("a").join(b.set_index("seed")[statistic].to_frame("b"), how="inner")
    paired = paired[np.isfinite(paired).all(axis=1)]
    ratio = scale_of(statistic) == "log"
    if ratio:
        paired = paired[(paired > 0).all(axis=1)]
        diffs = np.log(paired["a"]) - np.log(paired["b"])
    else:
        diffs = paired["a"] - paired["b"]
    s = summarise(diffs, "linear", confidence)
    s["decision"] = ("log", (1.0,)) if ratio else ("linear", (0.0,))
    name_a, name_b = (",".join(f"{k}={format_value(v)}" for k, v in rule[x].items()) for x in ("a", "b"))
    less = rule["direction"] == "less"
    verdict = _side(s["ci_low"], s["ci_high"], 0.0, above=not less)
    if ratio:  # report the ratio a/b, not its log
        s.update(estimate=math.exp(s["estimate"]) if np.isfinite(s["estimate"]) else np.nan,
                 ci_low=math.exp(s["ci_low"]) if np.isfinite(s["ci_low"]) else np.nan,
                 ci_high=math.exp(s["ci_high"]) if np.isfinite(s["ci_high"]) else np.nan,
                 estimator=f"paired ratio {name_a} / {name_b}, geometric mean")
    else:
        s["estimator"] = f"paired difference {name_a} - {name_b}, mean"
    word = "below" if less else "above"
    text = f"{name_a} vs {name_b} paired by seed: {'ratio' if ratio else 'difference'} {word} {'1' if ratio else '0'}"
    return s, verdict, text


def rule_proportion(runs, statistic, rule, confidence):
    """The fraction of runs that violate the claim (`violation`, a condition over runs.csv, lplr.expressions)."""
    frame = _completed(runs)
    violates = evaluate(rule["violation"], frame, "rule.violation")
    k, n = int(violates.sum()), len(frame)
    low, high = (scipy_stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
                 if n else (np.nan, np.nan))
    s = {"estimate": k / n if n else np.nan, "ci_low": float(low), "ci_high": float(high), "n": n,
         "estimator": f"fraction of runs with {rule['violation']} (Clopper-Pearson)"}
    if n == 0:
        verdict = "inconclusive"
    elif k == 0:
        verdict = "supported"
    elif low > rule["max_fraction"]:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return s, verdict, f"no run with {rule['violation']}; contradicted if more than {format_number(rule['max_fraction'])} of runs"


def seeds_to_decide(estimate: float, low: float, high: float, n: int, confidence: float, decision) -> float:
    """Seeds a t-interval would need to clear every decision boundary, if the pilot's estimate and per-seed spread held.

    On the decision scale z (log for log-scale statistics and ratios), the pilot's interval gives the per-seed
    spread s = half_width * sqrt(n) / t_{n-1}; the answer is the smallest m >= 2 with t_{m-1} s / sqrt(m) <
    min_b |z(estimate) - z(b)| over the rule's boundaries b. Inf when the estimate sits on a boundary (or would
    need more than 100,000 seeds); NaN without an interval (n < 2, or a rule without a t-interval). A planning
    figure, not a test: the next run's estimate will move.
    """
    if decision is None or n < 2 or not all(np.isfinite([estimate, low, high])):
        return np.nan
    scale, boundaries = decision
    if scale == "log":
        if min(estimate, low, high, *boundaries) <= 0:
            return np.nan
        forward = np.log
    elif scale == "linear":
        forward = float
    else:  # order statistics and logit intervals are not t-intervals of a mean on this scale
        return np.nan
    quantile = (1 + confidence) / 2

    def half_width(m: int) -> float:  # t_{m-1} s / sqrt(m): falls monotonically in m
        return scipy_stats.t.ppf(quantile, m - 1) * spread / math.sqrt(m)

    distance = min(abs(forward(estimate) - forward(b)) for b in boundaries)
    spread = (forward(high) - forward(low)) / 2 * math.sqrt(n) / scipy_stats.t.ppf(quantile, n - 1)
    if spread == 0:
        return 2.0 if distance > 0 else math.inf
    lo, hi = 2, 100_000
    if distance == 0 or half_width(hi) >= distance:
        return math.inf
    while lo < hi:  # bisect for the smallest m with half_width(m) < distance
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if half_width(mid) < distance else (mid + 1, hi)
    return float(lo)


def apply_rule(runs: pd.DataFrame, statistic: str, rule: dict, confidence: float) -> tuple[dict, str, str, str]:
    """(summary, verdict, rule text, note) of one claim on one selection of runs."""
    test = rule.get("test")
    if test == "equivalence":
        return (*rule_equivalence(runs, statistic, rule, confidence), "")
    if test in ("above", "below"):
        return (*rule_threshold(runs, statistic, rule, confidence, above=test == "above"), "")
    if test == "trend":
        return rule_trend(runs, statistic, rule, confidence)
    if test == "compare":
        return (*rule_compare(runs, statistic, rule, confidence), "")
    if test == "proportion":
        return (*rule_proportion(runs, statistic, rule, confidence), "")
    raise ClaimError(f"unknown rule test {test!r}; use equivalence, above, below, trend, compare or proportion")


# ------------------------------------------------------------------------------------------------
# the ledger
# ------------------------------------------------------------------------------------------------

def unmet_requirements(requires: dict, runs: pd.DataFrame, data: dict) -> list[str]:
    """The parts of a claim's `requires` ({width: 1024, dataset: cifar10, n_train: 2000}) the experiment lacks."""
    missing = []
    for key, value in (requires or {}).items():
        if key in ("dataset", "n_train"):
            have = data.get(key)
            ok = have == value if key == "dataset" else (have or 0) >= value
        elif key in runs:
            ok = (runs[key].astype(float) >= float(value)).any() if isinstance(value, (int, float)) else \
                (runs[key].astype(str) == str(value)).any()
        else:
            ok = False
        if not ok:
            missing.append(f"{key}={format_value(value)}")
    return missing


def observed_regime(runs: pd.DataFrame) -> str:
    """'eta<=1/L: 30/32, stable, eta>1/L: 2/32' from the runs' tracked sharpness."""
    completed = _completed(runs)
    if "sharpness_tracked_max" not in completed:
        return "untracked"
    labels = completed["sharpness_tracked_max"].map(regime_of)
    counts = labels.value_counts()
    return "; ".join(f"{label}: {counts[label]}/{len(labels)}" for label in counts.index)


def scale_label(runs: pd.DataFrame, data: dict) -> str:
    """'mnist5k, n=256, width=32..256' from the experiment's data settings and its runs."""
    parts = [str(data.get("dataset")), f"n={data.get('n_train')}"]
    if "width" in runs and runs["width"].nunique() > 1:
        parts.append(f"width={runs['width'].min()}..{runs['width'].max()}")
    elif "width" in runs:
        parts.append(f"width={runs['width'].iloc[0]}")
    return ", ".join(parts)


def _check(claim: dict, index: int) -> str:
    name = claim.get("id", f"claims.list[{index}]")
    for key in ("id", "statement", "experiments", "statistic", "rule"):
        if key not in claim:
            raise ClaimError(f"claim {name!r} (config key claims.list[{index}]) has no {key!r}; see the claims block "
                             "in config.yaml")
    return name


def build_ledger(claims_cfg: dict, runs_by_experiment: dict[str, pd.DataFrame], data_by_experiment: dict[str, dict],
                 regimes: dict[str, str], config_name: str) -> pd.DataFrame:
    """The claims ledger. runs_by_experiment: {experiment: runs.csv frame} of the experiments that ran (a claim
    naming an experiment that did not run gets a 'not tested at this scale' row)."""
    planned = []
    for index, claim in enumerate(claims_cfg["list"]):
        name = _check(claim, index)
        for experiment in claim["experiments"]:
            runs = runs_by_experiment.get(experiment)
            if runs is None:
                planned.append((claim, experiment, "", None, [f"experiment {experiment} not in this config"]))
                continue
            try:
                selections = condition_selections(runs, claim.get("at"))
            except KeyError as error:
                raise ClaimError(f"claim {name!r}: experiment {experiment!r} has no column {error.args[0]!r} "
                                 "(config key claims.list[...].at); use one of its conditions") from None
            if claim["statistic"] not in runs and claim["rule"].get("test") != "proportion":
                raise ClaimError(f"claim {name!r}: statistic {claim['statistic']!r} is not a column of "
                                 f"results/fits/{experiment}/runs.csv")
            missing = unmet_requirements(claim.get("requires"), runs, data_by_experiment.get(experiment, {}))
            for label, selection in selections:
                planned.append((claim, experiment, label, selection, missing))

    tested = sum(1 for *_, missing in planned if not missing)
    family = float(claims_cfg.get("family_confidence", 0.95))
    confidence = 1 - (1 - family) / max(tested, 1)
    rows = []
    for claim, experiment, label, selection, missing in planned:
        row = {"claim": claim["id"], "paper_claim": claim.get("paper", ""), "experiment": experiment,
               "condition": label, "paper_statement": claim["statement"],
               "paper_value": "" if claim.get("paper_value") is None else str(claim["paper_value"]),
               "statistic": claim["statistic"], "config": config_name, "confidence": confidence}
        if selection is None:
            rows.append({**row, "verdict": NOT_TESTED, "note": "; ".join(missing), "n": 0, "n_runs": 0})
            continue
        summary, verdict, text, note = apply_rule(selection, claim["statistic"], claim["rule"], confidence)
        if missing:
            verdict, note = NOT_TESTED, "; ".join(filter(None, [f"needs {', '.join(missing)}", note]))
        row.update(regime=regimes.get(experiment, ""), regime_observed=observed_regime(selection),
                   scale=scale_label(selection, data_by_experiment.get(experiment, {})),
                   estimator=summary.get("estimator", ""), estimate=summary["estimate"], low=summary["ci_low"],
                   high=summary["ci_high"], n=summary["n"], n_runs=len(selection), rule=text, verdict=verdict,
                   interval_width=summary["ci_high"] - summary["ci_low"],
                   seeds_to_decide=seeds_to_decide(summary["estimate"], summary["ci_low"], summary["ci_high"],
                                                   summary["n"], confidence, summary.get("decision")),
                   tightness=summary["estimate"] if claim.get("tightness") else np.nan, note=note)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def verdict_counts(ledger: pd.DataFrame) -> dict[str, int]:
    """{verdict: rows} over every verdict (zeros included), and 'tested': rows that got a verdict."""
    counts = {v: int((ledger["verdict"] == v).sum()) for v in VERDICTS}
    counts["tested"] = len(ledger) - counts[NOT_TESTED]
    return counts
