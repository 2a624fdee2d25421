"""The rules that turn a claim's statistic into a verdict (lplr.claims builds the ledger from them).

Each rule takes the runs of one selection (one claim x experiment x condition), the statistic, the rule's
parameters from config and a confidence, and returns (summary, verdict, rule text, note). Every rule can
return each of its verdicts (tests/test_claims.py plants data for each):

    equivalence   low <= statistic <= high: the interval inside [low, high] -> supported, disjoint from it
                  -> contradicted, else inconclusive ("about 0.29" becomes a margin fixed in config)
    above/below   the interval entirely above (below) `threshold` -> supported, entirely on the other side
                  -> contradicted, else inconclusive; `where` (a condition, as `violation`) keeps only the runs
                  it holds for (none left -> inconclusive), e.g. the batch sizes above the critical batch
    trend         per-seed log-log slope of the statistic (or of |statistic - distance_to|) against a numeric
                  condition: its interval on the stated side of 0 -> supported (`monotone: true` also needs
                  monotone condition estimates), on the other side -> contradicted. The row is labelled as the
                  trend ("slope of log|x - 1| on log width"), not as the statistic
    compare       condition a against condition b, paired by seed: ratio a/b (positive statistics) or difference;
                  the interval on the stated side of `boundary` (default 1 for a ratio, 0 for a difference) ->
                  supported, on the other side -> contradicted
    kernel_linear the late/early rate ratio (1 on a straight line) inside [low, high] -> supported; else, its
                  ratio to what the probed kernels' linearised models predict for the same steps (`predicted`)
                  inside `tolerance` -> "as the kernel predicts" (curved, by the linear dynamics' own curvature);
                  both intervals outside their regions -> contradicted; else inconclusive
    property      a property every run should have: a run (in `regime`, when given: labelled by the larger of the
                  Gauss-Newton and Hessian sharpness, or `regime_by: gauss_newton`) whose `violation` holds
                  -> contradicted, naming it; none -> "not contradicted" in n runs, with the one-sided 95%
                  Clopper-Pearson upper bound of the violation rate (0 of 32: 8.9%); no run -> inconclusive
    proportion    the violating fraction's Clopper-Pearson interval below `max_fraction` -> supported, above it
                  -> contradicted, else inconclusive (symmetric: 0 violations in 12 runs is not enough). The
                  rule as first registered (`registered=True`) called any run set with no violation supported.

A statistic that takes one value in every run gives a zero-width interval that says nothing about
uncertainty: such a row is inconclusive, with a note saying why.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from lplr.expressions import evaluate
from lplr.formatting import format_number, format_value
from lplr.stats import loglog_slope_by_seed, scale_of, summarise

NOT_CONTRADICTED = "not contradicted"
AS_KERNEL = "as the kernel predicts"
PROPERTY_CONFIDENCE = 0.95  # the one-sided bound on a property's violation rate
THEOREM_REGIME = "eta<=1/L"


def _violations(frame: pd.DataFrame, expression: str) -> pd.Series:
    """The runs for which a config expression holds. The ONE place a config expression is evaluated
    (columns, numbers, comparisons, and/or/not, parentheses)."""
    return evaluate(expression, frame, "rule.violation")


def completed(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "completed"]


def matches(runs: pd.DataFrame, where: dict) -> pd.Series:
    """Rows whose columns equal `where` ({key: value | max | min})."""
    mask = pd.Series(True, index=runs.index)
    for key, value in where.items():
        if key not in runs:
            raise KeyError(key)
        column = runs[key]
        if value in ("max", "min"):
            mask &= column == (column.max() if value == "max" else column.min())
        else:
            mask &= column.astype(str) == format_value(value)
    return mask


def _side(low: float, high: float, threshold: float, above: bool) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if above:
        return "supported" if low > threshold else "contradicted" if high < threshold else "inconclusive"
    return "supported" if high < threshold else "contradicted" if low > threshold else "inconclusive"


def _inside(low: float, high: float, region: tuple[float, float]) -> str:
    """supported: [low, high] inside the region; contradicted: disjoint from it; else inconclusive."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if region[0] <= low and high <= region[1]:
        return "supported"
    return "contradicted" if high < region[0] or low > region[1] else "inconclusive"


def rule_equivalence(runs, statistic, rule, confidence):
    s = summarise(completed(runs)[statistic], scale_of(statistic), confidence)
    s["decision"] = (s["scale"], (rule["low"], rule["high"]))
    return (s, _inside(s["ci_low"], s["ci_high"], (rule["low"], rule["high"])),
            f"interval inside [{format_number(rule['low'])}, {format_number(rule['high'])}]", "")


def rule_threshold(runs, statistic, rule, confidence, above):
    frame = completed(runs)
    if "where" in rule:  # only the runs the condition holds for (a comparison with a missing value is false)
        frame = frame[evaluate(rule["where"], frame, "rule.where").to_numpy(bool)] if len(frame) else frame
    s = summarise(frame[statistic], scale_of(statistic), confidence)
    s["decision"] = (s["scale"], (rule["threshold"],))
    where = f" where {rule['where']}" if "where" in rule else ""
    note = f"{len(frame)} of {len(completed(runs))} completed runs{where}" if where else ""
    return (s, _side(s["ci_low"], s["ci_high"], rule["threshold"], above),
            f"interval {'above' if above else 'below'} {format_number(rule['threshold'])}{where}", note)


def trend_label(statistic: str, rule: dict) -> str:
    target = f"|{statistic} - {format_number(rule['distance_to'])}|" if "distance_to" in rule else statistic
    return f"trend: slope of log {target} on log {rule['over']}"


def rule_trend(runs, statistic, rule, confidence):
    over, decreasing = rule["over"], rule["direction"] == "decreasing"
    frame = completed(runs).copy()
    values = frame[statistic].astype(float)
    frame["_y"] = (values - rule["distance_to"]).abs() if "distance_to" in rule else values
    slope = loglog_slope_by_seed(frame, over, "_y", confidence)
    s = {"estimate": slope["slope"], "ci_low": slope["ci_low"], "ci_high": slope["ci_high"], "n": slope["n"],
         "estimator": f"per-seed log-log slope against {over}, mean", "decision": ("linear", (0.0,))}
    verdict = _side(s["ci_low"], s["ci_high"], 0.0, above=not decreasing)
    note = ""
    if verdict == "supported" and rule.get("monotone"):
        means = frame.groupby(over)["_y"].apply(lambda v: summarise(v, "log", confidence)["estimate"]).sort_index()
        steps = np.diff(means.to_numpy())
        if not (np.all(steps < 0) if decreasing else np.all(steps > 0)):
            verdict, note = "inconclusive", f"the slope is {rule['direction']} but the per-{over} estimates are not monotone"
    text = f"{trend_label(statistic, rule)}: interval {'below' if decreasing else 'above'} 0"
    return s, verdict, text + (" and monotone estimates" if rule.get("monotone") else ""), note


def paired(runs: pd.DataFrame, statistic: str, a: dict, b: dict) -> tuple[pd.Series, bool]:
    """Per seed, log(a/b) for a positive (log-scale) statistic, else a - b; and whether it is a log ratio."""
    frame = completed(runs)
    pairs = frame[matches(frame, a)].set_index("seed")[statistic].to_frame("a").join(
        frame[matches(frame, b)].set_index("seed")[statistic].to_frame("b"), how="inner")
    pairs = pairs[np.isfinite(pairs.astype(float)).all(axis=1)]
    if scale_of(statistic) == "log":
        pairs = pairs[(pairs > 0).all(axis=1)]
        return np.log(pairs["a"].astype(float)) - np.log(pairs["b"].astype(float)), True
    return pairs["a"].astype(float) - pairs["b"].astype(float), False


def _exp(value: float) -> float:
    return math.exp(value) if np.isfinite(value) else np.nan


def rule_compare(runs, statistic, rule, confidence):
    """a against b paired by seed; ratio for log-scale statistics, else the difference; against `boundary`."""
    diffs, ratio = paired(runs, statistic, rule["a"], rule["b"])
    boundary = float(rule.get("boundary", 1.0 if ratio else 0.0))
    s = summarise(diffs, "linear", confidence)
    s["decision"] = ("log", (boundary,)) if ratio else ("linear", (boundary,))
    name_a, name_b = (",".join(f"{k}={format_value(v)}" for k, v in rule[x].items()) for x in ("a", "b"))
    less = rule["direction"] == "less"
    if ratio:  # decide and report on the ratio a/b, not its log
        s.update(estimate=_exp(s["estimate"]), ci_low=_exp(s["ci_low"]), ci_high=_exp(s["ci_high"]),
                 estimator=f"paired ratio {name_a} / {name_b}, geometric mean")
    else:
        s["estimator"] = f"paired difference {name_a} - {name_b}, mean"
    verdict = _side(s["ci_low"], s["ci_high"], boundary, above=not less)
    text = (f"{name_a} vs {name_b} paired by seed: {'ratio' if ratio else 'difference'} "
            f"{'below' if less else 'above'} {format_number(boundary)}")
    return s, verdict, text, ""


def rule_kernel_linear(runs, statistic, rule, confidence):
    """Claim 1: a straight line (late/early rate ratio near 1), or the curvature the kernel predicts."""
    frame = completed(runs)
    s = summarise(frame[statistic], scale_of(statistic), confidence)
    s["decision"] = (s["scale"], (rule["low"], rule["high"]))
    straight = _inside(s["ci_low"], s["ci_high"], (rule["low"], rule["high"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        versus = summarise(frame[statistic].astype(float) / frame[rule["predicted"]].astype(float), "log", confidence)
    as_kernel = _inside(versus["ci_low"], versus["ci_high"], tuple(rule["tolerance"]))
    if straight == "supported":
        verdict = "supported"
    elif as_kernel == "supported":
        verdict = AS_KERNEL
    elif straight == "contradicted" and as_kernel == "contradicted":
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    time_constants = frame["pl_time_constants"].astype(float) if "pl_time_constants" in frame else pd.Series(dtype=float)
    note = (f"observed / kernel-predicted ({rule['predicted']}) = {format_number(versus['estimate'])} "
            f"[{format_number(versus['ci_low'])}, {format_number(versus['ci_high'])}]")
    if time_constants.notna().any():
        note += (f"; the runs last T 2 eta mu_T = {format_number(time_constants.min())}-"
                 f"{format_number(time_constants.max())} PL time constants")
    text = (f"straight: interval inside [{format_number(rule['low'])}, {format_number(rule['high'])}]; as the kernel "
            f"predicts: observed/predicted inside [{format_number(rule['tolerance'][0])}, {format_number(rule['tolerance'][1])}]")
    return s, verdict, text, note


# Which runs.csv label `regime` filters on (lplr.analysis.regime_labels): the larger of the Gauss-Newton and the
# Hessian's sharpness, or the Gauss-Newton one alone (the label before the probe's Hessian at every checkpoint).
REGIME_COLUMNS = {"larger": "regime", "gauss_newton": "regime_gauss_newton"}


def upper_bound(k: int, n: int, confidence: float = PROPERTY_CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson upper bound of a rate with k events in n trials (0 of n: 1 - alpha^(1/n))."""
    return float(scipy_stats.beta.ppf(confidence, k + 1, n - k)) if k < n else 1.0


def rule_property(runs, statistic, rule, confidence):
    """A property every run (in the theorem's regime, when `regime` is set) should have; any violation decides."""
    frame = completed(runs)
    regime = rule.get("regime")
    label = REGIME_COLUMNS[rule.get("regime_by", "larger")]  # gauss_newton: the label as first registered
    if regime and label not in frame:
        raise ValueError(f"runs.csv has no column {label!r} (written by an older lplr.analysis): rerun the analysis, "
                         f"e.g. snakemake --forcerun fit_experiment")
    outside = frame[frame[label] != regime] if regime else frame.iloc[:0]
    inside = frame[frame[label] == regime] if regime else frame
    violates = _violations(inside, rule["violation"]) if len(inside) else pd.Series(dtype=bool)
    k, n = int(violates.sum()), len(inside)
    bound = upper_bound(k, n) if n else np.nan
    s = {"estimate": k / n if n else np.nan, "ci_low": 0.0 if n else np.nan, "ci_high": bound, "n": n,
         "estimator": f"runs with {rule['violation']}, one-sided {format_number(100 * PROPERTY_CONFIDENCE)}% upper bound"}
    where = f" in the regime {regime}" if regime else ""
    notes = []
    if n == 0:
        verdict = "inconclusive"
        notes.append(f"no run{where} ({len(frame)} outside it)")
    elif k:
        verdict = "contradicted"
        notes.append(f"{k} of {n} runs{where} violate it: {', '.join(inside.loc[violates, 'run'].astype(str))}")
    else:
        verdict = NOT_CONTRADICTED
        notes.append(f"not contradicted in {n} runs{where}; violation rate at most {format_number(100 * bound)}% "
                     f"(one-sided {format_number(100 * PROPERTY_CONFIDENCE)}%)")
    if len(outside):
        k_out = int(_violations(outside, rule["violation"]).sum())
        notes.append(f"outside the regime: {k_out} of {len(outside)} runs violate it")
    for extra in rule.get("report", []):
        if extra in frame:
            e = summarise(frame[extra], scale_of(extra), confidence)
            notes.append(f"{extra} {format_number(e['estimate'])} [{format_number(e['ci_low'])}, {format_number(e['ci_high'])}]")
    return s, verdict, f"no run{where} with {rule['violation']}", "; ".join(notes)


def runs_to_bound(max_fraction: float, confidence: float) -> int:
    """Runs with no violation that a two-sided Clopper-Pearson interval needs to fall below max_fraction."""
    return int(math.ceil(math.log((1 - confidence) / 2) / math.log(1 - max_fraction)))


def rule_proportion(runs, statistic, rule, confidence, registered=False):
    """The fraction of runs that violate the claim: its Clopper-Pearson interval against `max_fraction`."""
    frame = completed(runs)
    violates = _violations(frame, rule["violation"])
    k, n = int(violates.sum()), len(frame)
    low, high = (scipy_stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
                 if n else (np.nan, np.nan))
    s = {"estimate": k / n if n else np.nan, "ci_low": float(low), "ci_high": float(high), "n": n,
         "estimator": f"fraction of runs with {rule['violation']} (Clopper-Pearson)"}
    limit, note = rule["max_fraction"], ""
    if n == 0:
        verdict = "inconclusive"
    elif registered:  # as first registered: no violation at all was "supported", whatever n
        verdict = "supported" if k == 0 else "contradicted" if low > limit else "inconclusive"
    else:
        verdict = "supported" if high < limit else "contradicted" if low > limit else "inconclusive"
        if verdict == "inconclusive":
            note = f"an interval below {format_number(limit)} needs at least {runs_to_bound(limit, confidence)} runs"
    return s, verdict, f"violating fraction below {format_number(limit)}", note


RULES = {"equivalence": rule_equivalence, "above": lambda *a: rule_threshold(*a, above=True),
         "below": lambda *a: rule_threshold(*a, above=False), "trend": rule_trend, "compare": rule_compare,
         "kernel_linear": rule_kernel_linear, "property": rule_property, "proportion": rule_proportion}
# the parameters each rule needs and may take (lplr.claim_config checks them against the config)
RULE_PARAMETERS = {
    "equivalence": ({"low", "high"}, set()), "above": ({"threshold"}, {"where"}), "below": ({"threshold"}, {"where"}),
    "trend": ({"over", "direction"}, {"distance_to", "monotone"}),
    "compare": ({"a", "b", "direction"}, {"boundary"}),
    "kernel_linear": ({"low", "high", "predicted", "tolerance"}, set()),
    "property": ({"violation"}, {"regime", "regime_by", "report"}), "proportion": ({"violation", "max_fraction"}, set())}
VERDICTS_OF = {"property": ("contradicted", NOT_CONTRADICTED, "inconclusive"),
               "kernel_linear": ("supported", AS_KERNEL, "contradicted", "inconclusive")}


def constant_note(runs: pd.DataFrame, statistic: str) -> str:
    """A note when the statistic takes one value in every completed run (an interval of width 0 decides nothing)."""
    values = completed(runs)[statistic].astype(float) if statistic in runs else pd.Series(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) >= 2 and values.nunique() == 1:
        return (f"{statistic} is {format_number(values.iloc[0])} in every run: a statistic that does not vary "
                "cannot decide the claim")
    return ""


def apply_rule(runs: pd.DataFrame, statistic: str, rule: dict, confidence: float,
               registered: bool = False) -> tuple[dict, str, str, str]:
    """(summary, verdict, rule text, note) of one claim on one selection of runs."""
    test = rule.get("test")
    if test not in RULES:
        raise ValueError(f"unknown rule test {test!r}; use one of {', '.join(RULES)}")
    if test == "proportion":
        summary, verdict, text, note = rule_proportion(runs, statistic, rule, confidence, registered)
    else:
        summary, verdict, text, note = RULES[test](runs, statistic, rule, confidence)
    constant = constant_note(runs, statistic) if test not in ("property", "proportion") else ""
    if constant and not registered:
        verdict, note = "inconclusive", "; ".join(filter(None, [constant, note]))
    return summary, verdict, text, note


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
    distance = min(abs(forward(estimate) - forward(b)) for b in boundaries)
    spread = (forward(high) - forward(low)) / 2 * math.sqrt(n) / scipy_stats.t.ppf(quantile, n - 1)
    if spread == 0:
        return 2.0 if distance > 0 else math.inf

    def half_width(m: int) -> float:  # t_{m-1} s / sqrt(m): falls monotonically in m
        return scipy_stats.t.ppf(quantile, m - 1) * spread / math.sqrt(m)

    lo, hi = 2, 100_000
    if distance == 0 or half_width(hi) >= distance:
        return math.inf
    while lo < hi:  # bisect for the smallest m with half_width(m) < distance
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if half_width(mid) < distance else (mid + 1, hi)
    return float(lo)
