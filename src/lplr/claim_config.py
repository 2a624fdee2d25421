"""The claims block of the config, checked before any job runs, and the rules as first registered.

validate_claims(config) raises ClaimError naming the key (`claims.list[3].statistic`) and the valid values:
an experiment the config does not define is an error (one it defines but disables is "not tested"); every
condition key and value, rule parameter, violation expression and primary row is checked, and every
statistic against the registry lplr.stats.scale_of, including the config-dependent `*_at_loss_<f>` columns
(f must be one of the experiment's training.loss_checkpoints).
"""

from __future__ import annotations

from lplr.claim_rules import REGIME_COLUMNS as REGIME_BY, RULE_PARAMETERS, THEOREM_REGIME
from lplr.errors import ConfigError
from lplr.expressions import ExpressionError, columns, parse
from lplr.formatting import format_value
from lplr.stats import PREFIX_SCALES, SCALES, scale_of

REQUIRES = ("width", "dataset", "n_train")
DIRECTIONS = {"trend": ("increasing", "decreasing"), "compare": ("less", "greater")}
# per-run columns a violation expression may read besides the registered statistics
RUN_COLUMNS = ("has_window", "interpolates", "lplr_exit_step", "diverged_step")
AMENDMENT_KEYS = {"claim", "old", "new", "reason", "commit", "added", "removed"}


class ClaimError(ConfigError):
    """A claim in config is malformed; the message names the key and the valid values."""


def _levels(config: dict, experiment: str) -> list[str]:
    from lplr.config import experiment_runs

    runs = experiment_runs(config, experiment).values()
    return sorted({f"{float(level):g}" for settings in runs for level in settings.get("loss_checkpoints") or []})


def check_statistic(config: dict, statistic: str, key: str, experiments: list[str], extra=()) -> None:
    """A registered statistic (lplr.stats); a `<prefix><level>` one needs that level in every experiment."""
    if statistic in extra:
        return
    try:
        scale_of(statistic)
        registered = True
    except KeyError:
        registered = False
    if not registered:
        prefixes = ", ".join(f"{p}<level>" for p in PREFIX_SCALES)
        raise ClaimError(f"config key '{key}': {statistic!r} is not a registered statistic (lplr.stats); use one of "
                         f"{', '.join(sorted(SCALES))}, or {prefixes}")
    prefix = next((p for p in PREFIX_SCALES if statistic.startswith(p)), None)
    for name in experiments if prefix and statistic not in SCALES else []:
        levels = _levels(config, name)
        try:
            level = f"{float(statistic[len(prefix):]):g}"
        except ValueError:
            level = None
        if level not in levels:
            raise ClaimError(f"config key '{key}': experiment {name!r} has no column {statistic!r}; its "
                             f"training.loss_checkpoints give {', '.join(prefix + x for x in levels) or 'none'}")


def _check_where(config: dict, where: dict, key: str, experiments: list[str], allowed=("each", "max", "min")) -> None:
    from lplr.config import condition_keys, conditions

    for name in experiments:
        keys = [*condition_keys(config, name), "seed"]
        for column, value in where.items():
            if column not in keys:
                raise ClaimError(f"config key '{key}.{column}': experiment {name!r} has no condition {column!r}; "
                                 f"use one of {', '.join(keys)}")
            values = sorted({format_value(c[column]) for c in conditions(config, name) if column in c})
            if column != "seed" and value not in allowed and format_value(value) not in values:
                raise ClaimError(f"config key '{key}.{column}': experiment {name!r} has no {column} = "
                                 f"{format_value(value)}; use one of {', '.join([*values, *allowed])}")


def _check_rule(config: dict, claim: dict, key: str) -> None:
    rule, experiments = claim["rule"], claim["experiments"]
    test = rule.get("test")
    if test not in RULE_PARAMETERS:
        raise ClaimError(f"config key '{key}.rule.test': {test!r}; use one of {', '.join(RULE_PARAMETERS)}")
    required, optional = RULE_PARAMETERS[test]
    for name in sorted(required - set(rule)):
        raise ClaimError(f"config key '{key}.rule': a {test} rule needs {name!r} (it takes {', '.join(sorted(required | optional))})")
    for name in sorted(set(rule) - required - optional - {"test"}):
        raise ClaimError(f"config key '{key}.rule.{name}': not a parameter of a {test} rule; use "
                         f"{', '.join(sorted(required | optional))}")
    if test in DIRECTIONS and rule["direction"] not in DIRECTIONS[test]:
        raise ClaimError(f"config key '{key}.rule.direction': {rule['direction']!r}; use one of {', '.join(DIRECTIONS[test])}")
    if test == "trend":
        _check_where(config, {rule["over"]: "each"}, f"{key}.rule.over", experiments)
    if test == "compare":
        for side in ("a", "b"):
            _check_where(config, rule[side], f"{key}.rule.{side}", experiments, allowed=("max", "min"))
    if test == "kernel_linear":
        check_statistic(config, rule["predicted"], f"{key}.rule.predicted", experiments)
        low, high = rule["tolerance"]
        if not 0 < low < 1 < high:
            raise ClaimError(f"config key '{key}.rule.tolerance': [{low}, {high}] must hold 1 (0 < low < 1 < high)")
    if test in ("equivalence", "kernel_linear") and not rule["low"] < rule["high"]:
        raise ClaimError(f"config key '{key}.rule': low ({rule['low']}) must be below high ({rule['high']})")
    for field in ("violation", "where"):  # a condition in the grammar of lplr.expressions, never code
        if field not in rule:
            continue
        try:
            tree = parse(rule[field], f"config key '{key}.rule.{field}'")
        except ExpressionError as error:
            raise ClaimError(str(error)) from None
        for column in sorted(columns(tree)):
            check_statistic(config, column, f"{key}.rule.{field}", experiments, extra=RUN_COLUMNS)
    if "regime" in rule and rule["regime"] != THEOREM_REGIME:
        raise ClaimError(f"config key '{key}.rule.regime': {rule['regime']!r}; use {THEOREM_REGIME!r} (or leave it out)")
    if rule.get("regime_by", "larger") not in REGIME_BY:
        raise ClaimError(f"config key '{key}.rule.regime_by': {rule['regime_by']!r}; use one of {', '.join(REGIME_BY)}")
    for index, name in enumerate(rule.get("report", [])):
        check_statistic(config, name, f"{key}.rule.report[{index}]", experiments)


def _check_claim(config: dict, claim: dict, key: str) -> None:
    for name in ("id", "statement", "experiments", "statistic", "rule"):
        if name not in claim:
            raise ClaimError(f"config key '{key}': a claim needs {name!r}")
    defined = list(config["experiments"])
    for index, name in enumerate(claim["experiments"]):
        if name not in defined:
            raise ClaimError(f"config key '{key}.experiments[{index}]': experiment {name!r} is not defined in "
                             f"`experiments`; use one of {', '.join(defined)}")
    experiments = claim["experiments"]
    check_statistic(config, claim["statistic"], f"{key}.statistic", experiments, extra=RUN_COLUMNS)
    for index, where in enumerate(claim["at"] if isinstance(claim.get("at"), list) else [claim.get("at") or {}]):
        _check_where(config, where, f"{key}.at" + (f"[{index}]" if isinstance(claim.get("at"), list) else ""), experiments)
    for name in claim.get("requires") or {}:
        if name not in REQUIRES:
            raise ClaimError(f"config key '{key}.requires.{name}': use one of {', '.join(REQUIRES)}")
    _check_rule(config, claim, key)
    primary = claim.get("primary")
    if primary is not None and primary.get("experiment") not in experiments:
        raise ClaimError(f"config key '{key}.primary.experiment': {primary.get('experiment')!r}; use one of the "
                         f"claim's experiments {', '.join(experiments)}")
    if primary is not None:
        _check_where(config, primary.get("at") or {}, f"{key}.primary.at", [primary["experiment"]])
        several = isinstance(claim.get("at"), list) or "each" in (claim.get("at") or {}).values()
        if several and not primary.get("at"):
            raise ClaimError(f"config key '{key}.primary.at': the claim has a row per condition; name the primary "
                             "one with a filter, e.g. {width: max}")


def _check_amendments(block: dict, ids: set[str]) -> None:
    for index, amendment in enumerate(block.get("amendments") or []):
        key = f"claims.amendments[{index}]"
        missing = {"claim", "new", "reason", "commit"} - set(amendment)
        if missing:
            raise ClaimError(f"config key '{key}': an amendment needs {', '.join(sorted(missing))} (and `old`, the "
                             "rule as registered, unless it adds a claim)")
        if set(amendment) - AMENDMENT_KEYS:
            raise ClaimError(f"config key '{key}': unknown keys {sorted(set(amendment) - AMENDMENT_KEYS)}; use "
                             f"{', '.join(sorted(AMENDMENT_KEYS))}")
        if amendment["claim"] != "*" and amendment["claim"] not in ids and not amendment.get("removed"):
            raise ClaimError(f"config key '{key}.claim': {amendment['claim']!r} is no claim id; use one of "
                             f"{', '.join(sorted(ids))} or '*' (the whole ledger)")
        if amendment["claim"] != "*" and not amendment.get("added") and not isinstance(amendment.get("old"), dict):
            raise ClaimError(f"config key '{key}.old': the registered entry's changed keys (or `added: true`)")


def validate_claims(config: dict) -> None:
    """Check the claims block against the config's experiments and the statistics registry (module docstring)."""
    block = config.get("claims") or {}
    ids, primaries, numbers = set(), {}, set()
    for index, claim in enumerate(block.get("list") or []):
        key = f"claims.list[{index}]"
        _check_claim(config, claim, key)
        if claim["id"] in ids:
            raise ClaimError(f"config key '{key}.id': {claim['id']!r} is used twice")
        ids.add(claim["id"])
        number = claim.get("paper", claim["id"])
        if not claim.get("beyond"):  # a check beyond the paper is exploratory: no primary row needed
            numbers.add(number)
        if claim.get("primary") is not None:
            if number in primaries:
                raise ClaimError(f"config key '{key}.primary': paper claim {number} already has its primary row in "
                                 f"{primaries[number]}; one primary row per claim")
            primaries[number] = key
    for number in sorted(numbers - set(primaries), key=str):
        raise ClaimError(f"config key 'claims.list': paper claim {number} has no primary row; give one of its entries "
                         "`primary: {experiment: ..., at: {...}}`")
    _check_amendments(block, ids)
    for claim in registered_claims(block) if block.get("list") else []:
        _check_claim(config, claim, f"claims.amendments (the registered {claim['id']!r})")
    history = _history(block)
    for claim in block.get("list") or []:  # a claim amended more than once: the rules in between too
        entries = history.get(claim["id"], [])
        for later in range(1, len(entries)):
            if not any(a.get("added") for a in entries[:later]):
                _check_claim(config, _undo(claim, entries[later:]),
                             f"claims.amendments (the {claim['id']!r} before its amendment of commit {entries[later]['commit']})")


def _history(block: dict) -> dict[str, list[dict]]:
    """{claim id: its amendments in the order logged} ('*' left out)."""
    history: dict[str, list] = {}
    for amendment in block.get("amendments") or []:
        if amendment.get("claim") != "*":
            history.setdefault(amendment["claim"], []).append(amendment)
    return history


def _undo(claim: dict, entries: list[dict]) -> dict:
    """The claim before `entries` (its amendments, in order): each `old` applied, the latest first, so the first
    one's is applied last; without its primary (added by amendment) unless an `old` gives one; `key: null` in an
    `old`: the key was absent."""
    merged = {k: v for k, v in claim.items() if k != "primary"}
    for amendment in reversed(entries):
        merged = {**merged, **(amendment.get("old") or {})}
    return {k: v for k, v in merged.items() if v is not None}


def registered_claims(block: dict) -> list[dict]:
    """The claims list as first registered: amended entries with their `old` keys, added ones left out,
    removed ones put back."""
    amendments = [a for a in block.get("amendments") or [] if a.get("claim") != "*"]
    history = _history(block)
    out = []
    for claim in block["list"]:
        entries = history.get(claim["id"])
        if entries is None:
            out.append(claim)
        elif not any(a.get("added") for a in entries):
            out.append(_undo(claim, entries))
    out += [{"id": a["claim"], **a["old"]} for a in amendments if a.get("removed")]
    return out
