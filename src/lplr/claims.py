"""The claims ledger: each claim of the paper, tested by a rule fixed in config (rules: lplr.claim_rules).

One row per claim x experiment (x condition where a claim is read per condition): the paper's statement
and number, our statistic with its interval and n, the experiment's regime (as set up, and as observed from
the larger of the tracked Gauss-Newton and the Hessian sharpness), the scale it ran at, and a verdict from the
claim's rule.

Primary rows and multiplicity. Each paper claim has exactly one primary row (config: the entry's `primary:
{experiment, at}`, `at` a filter as in the claim's own `at`); the abstract and the notebooks give its verdict. Bonferroni covers the primary rows
that get a verdict: with k of them, each primary interval is at 1 - (1 - family_confidence) / k, so the chance
that any primary interval misses its true value is at most 1 - family_confidence. Every other row is
exploratory, at family_confidence (95%) on its own.

Amendments. A rule changed after the data were seen is logged in `claims.amendments` (old rule, new rule,
reason, commit). The ledger keeps, in `as_registered`, the verdict of the rules as first registered (the
amended entries' `old`, the old multiplicity over all rows, the old proportion rule) beside the new one, and in
`confirmation` the new rule's verdict on the runs no rule was written against (seeds not in `claims.seen_seeds`).

A claim whose `requires` (e.g. width 1024, CIFAR-10) the experiment does not meet is "not tested at this
scale"; its statistic is still shown. An experiment the config defines but disables is "not tested".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lplr.analysis import regime_of
from lplr.claim_config import ClaimError, registered_claims, validate_claims  # noqa: F401 (re-exported)
from lplr.claim_rules import AS_KERNEL, NOT_CONTRADICTED, apply_rule, completed, matches, seeds_to_decide, trend_label
from lplr.formatting import format_value

VERDICTS = ("supported", "contradicted", "inconclusive", "not tested at this scale", NOT_CONTRADICTED, AS_KERNEL)
NOT_TESTED = VERDICTS[3]
COLUMNS = ["claim", "paper_claim", "primary", "experiment", "condition", "regime", "regime_observed", "scale",
           "config", "paper_statement", "paper_value", "statistic", "measure", "estimator", "estimate", "low", "high",
           "confidence", "n", "n_runs", "rule", "verdict", "as_registered", "confirmation", "interval_width",
           "seeds_to_decide",
           "tightness", "note"]


# ------------------------------------------------------------------------------------------------
# selecting runs
# ------------------------------------------------------------------------------------------------

def condition_selections(runs: pd.DataFrame, at) -> list[tuple[str, pd.DataFrame]]:
    """[(label, runs)] for a claim's `at`: None (all runs), a filter {key: value | max | min | each}, or a
    list of filters. `each` makes one selection per value of that key."""
    from lplr.claim_rules import matches

    filters = at if isinstance(at, list) else [at or {}]
    out = []
    for where in filters:
        each = [k for k, v in where.items() if v == "each"]
        fixed = {k: v for k, v in where.items() if v != "each"}
        base = runs[matches(runs, fixed)]
        groups = [((), base)] if not each else list(base.groupby(each, sort=True))
        for key, group in groups:
            key = key if isinstance(key, tuple) else (key,)
            resolved = {k: (group[k].iloc[0] if v in ("max", "min") and len(group) else v) for k, v in fixed.items()}
            resolved.update(dict(zip(each, key)))
            label = ",".join(f"{k}={format_value(v)}" for k, v in resolved.items()) or "all runs"
            out.append((label, group))
    return out


# ------------------------------------------------------------------------------------------------
# the ledger
# ------------------------------------------------------------------------------------------------

def unmet_requirements(requires: dict, runs: pd.DataFrame, data: dict, shared: dict | None = None) -> list[str]:
    """The parts of a claim's `requires` ({width: 1024, dataset: cifar10, n_train: 2000}) the experiment lacks:
    checked on the runs' column, else on the setting all its runs share (lplr.config.shared_settings)."""
    missing = []
    shared = shared or {}
    for key, value in (requires or {}).items():
        if key in ("dataset", "n_train"):
            have = data.get(key)
            ok = have == value if key == "dataset" else (have or 0) >= value
        elif key in runs or key in shared:
            have = runs[key] if key in runs else pd.Series([shared[key]])
            ok = (have.astype(float) >= float(value)).any() if isinstance(value, (int, float)) else \
                (have.astype(str) == str(value)).any()
        else:
            ok = False
        if not ok:
            missing.append(f"{key}={format_value(value)}")
    return missing


def observed_regime(runs: pd.DataFrame) -> str:
    """'eta<=1/L: 30/32; stable, eta>1/L: 2/32' from the runs' regime labels (the larger of the Gauss-Newton and
    the Hessian's sharpness, lplr.analysis.regime_labels)."""
    done = completed(runs)
    if "regime" in done:
        labels = done["regime"]
    elif "sharpness_tracked_max" in done:
        labels = done["sharpness_tracked_max"].map(regime_of)
    else:
        return "untracked"
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


def same_sides(rule: dict, runs: pd.DataFrame) -> list[str]:
    """A compare rule whose sides select the same runs (a config with one condition, e.g. a single step size,
    where lr: min and lr: max coincide) compares nothing: the requirement it does not meet, else []."""
    if rule.get("test") != "compare" or runs.empty:
        return []
    a, b = (set(runs.loc[matches(runs, rule[side]), "run"]) for side in ("a", "b"))
    if a != b or not a:  # no run on either side: the rule itself says so (no pairs, inconclusive)
        return []
    where = ", ".join(f"{side}: {', '.join(f'{k}={format_value(v)}' for k, v in rule[side].items())}" for side in ("a", "b"))
    return [f"two conditions to compare ({where} select the same runs)"]


def primary_label(claim: dict, experiment: str, runs: pd.DataFrame | None) -> str | None:
    """The condition label of the claim's primary row in this experiment (None: not this experiment).
    `primary.at` is a filter like `at` ({width: max}), so the primary row follows the config's widths."""
    primary = claim.get("primary") or {}
    if primary.get("experiment") != experiment:
        return None
    if runs is None:
        return ""
    selections = condition_selections(runs, primary.get("at"))
    return selections[0][0] if selections else ""


def plan_rows(claims: list[dict], runs_by_experiment: dict, data_by_experiment: dict,
              shared_by_experiment: dict | None = None) -> list[tuple]:
    """[(claim, experiment, condition label, runs or None, unmet requirements or reason, primary)]."""
    planned = []
    for claim in claims:
        for experiment in claim["experiments"]:
            runs = runs_by_experiment.get(experiment)
            try:
                chosen = primary_label(claim, experiment, runs)
                selections = condition_selections(runs, claim.get("at")) if runs is not None else []
            except KeyError as error:
                raise ClaimError(f"claim {claim['id']!r}: experiment {experiment!r} has no column {error.args[0]!r}") from None
            if runs is None:
                reason = f"experiment {experiment} not run in this build"
                planned.append((claim, experiment, chosen or "", None, [reason], chosen is not None))
                continue
            if claim["statistic"] not in runs:
                raise ClaimError(f"claim {claim['id']!r}: statistic {claim['statistic']!r} is not a column of "
                                 f"results/fits/{experiment}/runs.csv")
            missing = unmet_requirements(claim.get("requires"), runs, data_by_experiment.get(experiment, {}),
                                         (shared_by_experiment or {}).get(experiment))
            for label, selection in selections:
                planned.append((claim, experiment, label, selection, missing + same_sides(claim["rule"], selection),
                                label == chosen))
    return planned


def confirmation(claim: dict, selection: pd.DataFrame, seen: list[int], confidence: float) -> str:
    """The new rule's verdict on the runs no rule was written against (seeds not in `seen`; with data.seed:
    per_run each of them has its own training subset)."""
    fresh = selection[~selection["seed"].isin(seen)]
    if fresh.empty:
        return "no fresh runs"
    return apply_rule(fresh, claim["statistic"], claim["rule"], confidence)[1] + f" ({len(fresh)} fresh runs)"


def _row(claim, experiment, label, selection, missing, primary, confidence, regimes, data, config_name,
         registered, seen=()) -> dict:
    statistic = claim["statistic"]
    measure = trend_label(statistic, claim["rule"]) if claim["rule"].get("test") == "trend" else statistic
    row = {"claim": claim["id"], "paper_claim": claim.get("paper", "beyond" if claim.get("beyond") else ""), "primary": primary, "experiment": experiment,
           "condition": label, "paper_statement": claim["statement"],
           "paper_value": "" if claim.get("paper_value") is None else str(claim["paper_value"]),
           "statistic": statistic, "measure": measure, "config": config_name, "confidence": confidence}
    if selection is None:
        return {**row, "verdict": NOT_TESTED, "note": "; ".join(missing), "n": 0, "n_runs": 0}
    summary, verdict, text, note = apply_rule(selection, statistic, claim["rule"], confidence, registered)
    if missing:
        verdict, note = NOT_TESTED, "; ".join(filter(None, [f"needs {', '.join(missing)}", note]))
    row.update(regime=regimes.get(experiment, ""), regime_observed=observed_regime(selection),
               scale=scale_label(selection, data.get(experiment, {})), estimator=summary.get("estimator", ""),
               estimate=summary["estimate"], low=summary["ci_low"], high=summary["ci_high"], n=summary["n"],
               n_runs=len(selection), rule=text, verdict=verdict, interval_width=summary["ci_high"] - summary["ci_low"],
               seeds_to_decide=seeds_to_decide(summary["estimate"], summary["ci_low"], summary["ci_high"],
                                               summary["n"], confidence, summary.get("decision")),
               tightness=summary["estimate"] if claim.get("tightness") else np.nan, note=note)
    if seen and not missing and not registered:
        row["confirmation"] = confirmation(claim, selection, list(seen), confidence)
    if claim["rule"].get("test") == "property":
        row["confidence"] = np.nan  # a property is decided by any violating run; its bound is one-sided 95%
    return row


def _ledger(claims: list[dict], runs_by_experiment, data_by_experiment, regimes, config_name, family: float,
            registered: bool, seen=(), shared_by_experiment=None) -> pd.DataFrame:
    planned = plan_rows(claims, runs_by_experiment, data_by_experiment, shared_by_experiment)
    if registered:  # as first registered: Bonferroni over every row that gets a verdict, all rows alike
        k = sum(1 for *_, missing, _ in planned if not missing)
        level = {True: 1 - (1 - family) / max(k, 1), False: 1 - (1 - family) / max(k, 1)}
    else:  # Bonferroni over the primary rows that get a verdict; the others exploratory at `family`
        k = sum(1 for claim, *_, missing, primary in planned  # a property is decided by any run, not an interval
                if primary and not missing and claim["rule"].get("test") != "property")
        level = {True: 1 - (1 - family) / max(k, 1), False: family}
    rows = [_row(claim, experiment, label, selection, missing, primary, level[primary], regimes, data_by_experiment,
                 config_name, registered, seen) for claim, experiment, label, selection, missing, primary in planned]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def _as_registered(ledger: pd.DataFrame, registered: pd.DataFrame) -> list[str]:
    """Per row of the new ledger, the registered rules' verdict on the same claim, experiment and condition;
    where the amended rule reads other conditions, the registered verdicts of that claim and experiment."""
    out = []
    for _, row in ledger.iterrows():
        same = registered[(registered["claim"] == row["claim"]) & (registered["experiment"] == row["experiment"])]
        exact = same[same["condition"] == row["condition"]]
        if len(exact):
            out.append(str(exact["verdict"].iloc[0]))
        elif len(same):
            verdicts = same["verdict"].astype(str)
            out.append(verdicts.iloc[0] if verdicts.nunique() == 1 else
                       "; ".join(f"{c}: {v}" for c, v in zip(same["condition"], verdicts)))
        else:
            out.append("not registered (added by an amendment)")
    return out


def build_ledger(claims_cfg: dict, runs_by_experiment: dict[str, pd.DataFrame], data_by_experiment: dict[str, dict],
                 regimes: dict[str, str], config_name: str,
                 shared_by_experiment: dict[str, dict] | None = None) -> pd.DataFrame:
    """The claims ledger, with the rules as first registered in `as_registered`. runs_by_experiment:
    {experiment: runs.csv frame} of the experiments that ran; a claim naming one that did not gets a
    'not tested at this scale' row. shared_by_experiment: the settings all runs of an experiment share
    (lplr.config.shared_settings), where a claim's `requires` is looked up when it is no column."""
    family = float(claims_cfg.get("family_confidence", 0.95))
    claims = claims_cfg["list"]
    for index, claim in enumerate(claims):
        for key in ("id", "statement", "experiments", "statistic", "rule"):
            if key not in claim:
                raise ClaimError(f"claim {claim.get('id', index)!r} (config key claims.list[{index}]) has no {key!r}")
    ledger = _ledger(claims, runs_by_experiment, data_by_experiment, regimes, config_name, family, registered=False,
                     seen=claims_cfg.get("seen_seeds") or (), shared_by_experiment=shared_by_experiment)
    registered = _ledger(registered_claims(claims_cfg), runs_by_experiment, data_by_experiment, regimes, config_name,
                         family, registered=True, shared_by_experiment=shared_by_experiment)
    ledger["as_registered"] = _as_registered(ledger, registered)
    return ledger


def primary_rows(ledger: pd.DataFrame) -> pd.DataFrame:
    """One row per paper claim: its primary row, in claim order."""
    primary = ledger[ledger["primary"].astype(bool)]
    return primary.sort_values("paper_claim", kind="stable")


def verdict_counts(ledger: pd.DataFrame) -> dict[str, int]:
    """{verdict: rows} over every verdict (zeros included), and 'tested': rows that got a verdict."""
    counts = {v: int((ledger["verdict"] == v).sum()) for v in VERDICTS}
    counts["tested"] = len(ledger) - counts[NOT_TESTED]
    return counts
