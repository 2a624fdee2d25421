"""The claims ledger (lplr.claims): every rule gives the planted verdict, Bonferroni over the rows tested,
'not tested at this scale' where the scale is missing, and the paper's sentences follow the verdicts."""

import numpy as np
import pandas as pd
import pytest

from lplr.claims import ClaimError, build_ledger, condition_selections, verdict_counts
from lplr.paper import claim_sentence, claims_latex

SEEDS = range(8)
DATA = {"dataset": "mnist5k", "n_train": 256}


def runs(widths=(32, 64, 128, 256), **columns):
    """A runs.csv frame: one row per width x seed; columns are functions (width, seed) -> value."""
    rng = np.random.default_rng(0)
    rows = []
    for width in widths:
        for seed in SEEDS:
            row = {"run": f"width={width}+seed={seed}", "width": width, "seed": seed, "status": "completed",
                   "sharpness_tracked_max": 0.5}
            row.update({name: f(width, seed, rng) for name, f in columns.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def ledger(claim, frame, data=DATA, family=0.95):
    return build_ledger({"family_confidence": family, "list": [claim]}, {"width": frame}, {"width": data},
                        {"width": "theorem"}, "cfg")


def claim(statistic, rule, **extra):
    return {"id": "c", "paper": 1, "statement": "s", "experiments": ["width"], "statistic": statistic,
            "rule": rule, **extra}


@pytest.mark.parametrize("centre, spread, verdict", [(1.0, 0.02, "supported"), (3.0, 0.02, "contradicted"),
                                                     (1.0, 1.0, "inconclusive")])
def test_equivalence_verdicts(centre, spread, verdict):
    frame = runs(rate_slowdown=lambda w, s, rng: centre * np.exp(spread * rng.standard_normal()))
    out = ledger(claim("rate_slowdown", {"test": "equivalence", "low": 0.67, "high": 1.5}, at={"width": "max"}), frame)
    assert len(out) == 1 and out["verdict"].iloc[0] == verdict
    assert out["condition"].iloc[0] == "width=256" and out["n"].iloc[0] == 8
    assert out["low"].iloc[0] <= out["estimate"].iloc[0] <= out["high"].iloc[0]


@pytest.mark.parametrize("exponent, verdict", [(-1.0, "supported"), (1.0, "contradicted"), (0.0, "inconclusive")])
def test_trend_verdicts(exponent, verdict):
    frame = runs(final_loss=lambda w, s, rng: w ** exponent * np.exp(0.05 * rng.standard_normal()))
    out = ledger(claim("final_loss", {"test": "trend", "over": "width", "direction": "decreasing", "monotone": True}), frame)
    assert out["verdict"].iloc[0] == verdict
    if exponent == -1.0:
        assert out["estimate"].iloc[0] == pytest.approx(-1.0, abs=0.05)


def test_a_decreasing_slope_with_a_non_monotone_mean_is_inconclusive():
    bumps = {32: 1.0, 64: 0.3, 128: 0.4, 256: 0.05}
    frame = runs(final_loss=lambda w, s, rng: bumps[w] * np.exp(0.01 * rng.standard_normal()))
    rule = {"test": "trend", "over": "width", "direction": "decreasing"}
    assert ledger(claim("final_loss", rule), frame)["verdict"].iloc[0] == "supported"
    out = ledger(claim("final_loss", {**rule, "monotone": True}), frame)
    assert out["verdict"].iloc[0] == "inconclusive" and "not monotone" in out["note"].iloc[0]


def test_trend_towards_a_target_uses_the_distance():
    frame = runs(pl_slope=lambda w, s, rng: 1 + 4 / w + 0.001 * rng.standard_normal())  # approaches 1 from above
    rule = {"test": "trend", "over": "width", "direction": "decreasing", "distance_to": 1.0}
    assert ledger(claim("pl_slope", rule), frame)["verdict"].iloc[0] == "supported"
    away = runs(pl_slope=lambda w, s, rng: 1 + w / 100 + 0.001 * rng.standard_normal())
    assert ledger(claim("pl_slope", rule), away)["verdict"].iloc[0] == "contradicted"


@pytest.mark.parametrize("factor, verdict", [(0.5, "supported"), (2.0, "contradicted"), (1.0, "inconclusive")])
def test_compare_is_paired_by_seed(factor, verdict):
    """a = factor * b * exp(+-0.1) alternating over seeds: the paired log ratio has mean log(factor) exactly and
    a spread that straddles 0 only when factor = 1; the seeds themselves differ 8x (pairing removes it)."""
    def drift(w, s, rng):
        return (1 + s) * (factor * np.exp(0.1 * (-1) ** s) if w == 32 else 1.0)
    frame = runs(widths=(32, 64), final_rel_drift=drift)
    rule = {"test": "compare", "a": {"width": "min"}, "b": {"width": "max"}, "direction": "less"}
    out = ledger(claim("final_rel_drift", rule), frame)
    assert out["verdict"].iloc[0] == verdict
    assert out["estimate"].iloc[0] == pytest.approx(factor)  # the geometric mean of the ratio a/b


def test_a_compare_rule_whose_sides_select_the_same_runs_is_not_tested():
    """One condition (a config with a single width, or a single step size): min and max coincide, so a/b = 1 by
    construction; that is no evidence either way and must not read as contradicted against a 0.2 boundary."""
    frame = runs(widths=(64,), final_rel_drift=lambda w, s, rng: 1 + s)
    rule = {"test": "compare", "a": {"width": "min"}, "b": {"width": "max"}, "direction": "less", "boundary": 0.2}
    row = ledger(claim("final_rel_drift", rule), frame).iloc[0]
    assert row["verdict"] == "not tested at this scale"
    assert "two conditions to compare (a: width=min, b: width=max select the same runs)" in row["note"]
    two = runs(widths=(32, 64), final_rel_drift=lambda w, s, rng: 1 + s)  # two widths, equal drift: contradicted
    assert ledger(claim("final_rel_drift", rule), two)["verdict"].iloc[0] == "contradicted"


@pytest.mark.parametrize("seeds, violating, verdict", [(range(8), 0, "inconclusive"), (range(200), 0, "supported"),
                                                        (range(8), 8, "contradicted"), (range(8), 1, "inconclusive")])
def test_proportion_verdicts_are_symmetric(seeds, violating, verdict, monkeypatch):
    """0 violations in 8 runs cannot put the interval below 5%: inconclusive, with the runs it would need."""
    monkeypatch.setattr(__import__(__name__), "SEEDS", seeds)
    frame = runs(widths=(64,), lqcr_negative=lambda w, s, rng: int(s < violating))
    out = ledger(claim("lqcr_negative", {"test": "proportion", "violation": "lqcr_negative > 0", "max_fraction": 0.05}), frame)
    assert out["verdict"].iloc[0] == verdict and out["estimate"].iloc[0] == violating / len(seeds)
    if verdict == "inconclusive" and violating == 0:
        assert "needs at least 72 runs" in out["note"].iloc[0]  # ceil(log(0.025) / log(0.95))


def test_bonferroni_over_the_primary_rows_and_scale_requirements():
    frame = runs(rate_slowdown=lambda w, s, rng: 1.0 + 0.01 * rng.standard_normal())
    rule = {"test": "equivalence", "low": 0.67, "high": 1.5}
    claims = [claim("rate_slowdown", rule, at={"width": "each"}, primary={"experiment": "width", "at": {"width": "max"}}),
              {**claim("rate_slowdown", rule), "id": "big", "paper": 2, "requires": {"width": 1024}},
              {**claim("rate_slowdown", rule), "id": "cifar", "paper": 3, "requires": {"dataset": "cifar10"},
               "primary": {"experiment": "width"}},
              {**claim("rate_slowdown", rule), "id": "absent", "paper": 4, "experiments": ["cnn"],
               "primary": {"experiment": "cnn"}},
              {**claim("rate_slowdown", rule), "id": "second", "paper": 2, "primary": {"experiment": "width"}},
              {**claim("rate_slowdown", {"test": "property", "violation": "rate_slowdown < 0"}), "id": "prop",
               "paper": 5, "primary": {"experiment": "width"}}]
    out = build_ledger({"family_confidence": 0.95, "list": claims}, {"width": frame}, {"width": DATA},
                       {"width": "theorem"}, "cfg")
    counts = verdict_counts(out)
    assert counts["tested"] == 6 and counts["not tested at this scale"] == 3  # 4 widths + second + prop; 3 rows not
    primary = out[out["primary"]]
    assert list(primary["claim"]) == ["c", "cifar", "absent", "second", "prop"]  # one per paper claim
    assert primary[primary["claim"] == "c"]["condition"].iloc[0] == "width=256"
    # two primary rows get an interval verdict (c at width 256, second): each at 1 - 0.05/2; a property's primary
    # row is decided by any violating run and does not count; the rest exploratory at 95%
    assert primary[primary["claim"] == "c"]["confidence"].iloc[0] == pytest.approx(1 - 0.05 / 2)
    assert out[~out["primary"]]["confidence"].dropna().eq(0.95).all()
    big = out[out["claim"] == "big"].iloc[0]
    assert "width=1024" in big["note"] and np.isfinite(big["estimate"])  # our statistic still shown
    assert out[out["claim"] == "absent"]["note"].iloc[0] == "experiment cnn not run in this build"


def test_a_requirement_met_by_a_setting_every_run_shares_is_tested():
    """The step arm sets width 1024 in its training block, so its runs.csv has no width column: the requirement is
    looked up in the experiment's shared settings (lplr.config.shared_settings) and the row gets a verdict."""
    frame = runs(rate_slowdown=lambda w, s, rng: 1.0 + 0.01 * rng.standard_normal()).drop(columns="width")
    big = {**claim("rate_slowdown", {"test": "equivalence", "low": 0.67, "high": 1.5}), "requires": {"width": 1024}}
    def verdict(shared):
        out = build_ledger({"family_confidence": 0.95, "list": [big]}, {"width": frame}, {"width": DATA},
                           {"width": "theorem"}, "cfg", shared)
        return out["verdict"].iloc[0], str(out["note"].iloc[0])
    assert verdict({"width": {"width": 1024}}) == ("supported", "")
    assert verdict({"width": {"width": 512}})[0] == "not tested at this scale"
    assert "needs width=1024" in verdict(None)[1]  # neither a column nor a shared setting


def test_bad_claims_name_the_claim_and_the_column():
    frame = runs(rate_slowdown=lambda w, s, rng: 1.0)
    with pytest.raises(ClaimError, match="'c'.*no column 'depth'"):
        ledger(claim("rate_slowdown", {"test": "above", "threshold": 1}, at={"depth": 5}), frame)
    with pytest.raises(ClaimError, match="statistic 'nope'"):
        ledger(claim("nope", {"test": "above", "threshold": 1}), frame)
    with pytest.raises(ClaimError, match="no 'rule'"):
        build_ledger({"list": [{"id": "x", "statement": "s", "experiments": ["width"], "statistic": "s"}]},
                     {"width": frame}, {}, {}, "cfg")


def test_each_makes_one_selection_per_value():
    frame = runs(x=lambda w, s, rng: 1.0)
    labels = [label for label, _ in condition_selections(frame, {"width": "each"})]
    assert labels == ["width=32", "width=64", "width=128", "width=256"]
    assert [label for label, _ in condition_selections(frame, [{"width": "min"}, {"width": "max"}])] == ["width=32", "width=256"]


def test_the_sentences_follow_the_data_when_the_direction_reverses():
    """The paper's prose about a claim comes from its ledger row: reverse the data and the sentence changes."""
    rule = {"test": "trend", "over": "width", "direction": "decreasing", "monotone": True}
    primary = claim("final_loss", rule, primary={"experiment": "width"})  # the abstract's verdict
    falling = ledger(primary, runs(final_loss=lambda w, s, rng: 1 / w * (1 + 0.01 * rng.standard_normal())))
    rising = ledger(primary, runs(final_loss=lambda w, s, rng: w * (1 + 0.01 * rng.standard_normal())))
    assert "verdict: SUPPORTED" in claim_sentence(falling.iloc[0])
    assert "verdict: CONTRADICTED" in claim_sentence(rising.iloc[0])
    tex = claims_latex(rising)
    assert r"\claimstable" in tex and r"\claimsprose" in tex and "CONTRADICTED" in tex
    assert r"lplr@claims.contradicted\endcsname{1}" in tex and r"lplr@claims.supported\endcsname{0}" in tex
    assert r"\newcommand{\claimsabstract}{claim 1 (c) contradicted}" in tex
    assert r"lplr@claims.verdict.1\endcsname{contradicted}" in tex and r"\label{tab:claims}" in tex


def test_seeds_to_decide_matches_the_t_interval_it_plans_for():
    """The planned m is the first seed count whose t-interval (same spread, same estimate) clears the boundary:
    m seeds decide, m - 1 do not."""
    from scipy import stats
    from lplr.claims import seeds_to_decide

    confidence, n, centre, sd = 0.99, 4, 0.3, 1.0
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * sd / np.sqrt(n)
    m = seeds_to_decide(centre, centre - half, centre + half, n, confidence, ("linear", (0.0,)))
    assert np.isfinite(m) and m > n

    def clears(k):
        return stats.t.ppf((1 + confidence) / 2, k - 1) * sd / np.sqrt(k) < centre
    assert clears(int(m)) and not clears(int(m) - 1)
    # on the log scale the distance is taken between logs: a ratio of 2 against the boundary 1
    m_log = seeds_to_decide(2.0, 2.0 / np.exp(half), 2.0 * np.exp(half), n, confidence, ("log", (1.0,)))
    k = int(m_log)
    assert stats.t.ppf((1 + confidence) / 2, k - 1) * sd / np.sqrt(k) < np.log(2.0)
    # an estimate on the boundary never decides; no interval, no plan
    assert np.isinf(seeds_to_decide(0.0, -1.0, 1.0, n, confidence, ("linear", (0.0,))))
    assert np.isnan(seeds_to_decide(0.3, np.nan, np.nan, 1, confidence, ("linear", (0.0,))))


def test_the_ledger_reports_the_interval_width_and_the_seeds_an_inconclusive_row_needs():
    frame = runs(rate_slowdown=lambda w, s, rng: 1.4 * np.exp(0.3 * rng.standard_normal()))
    out = ledger(claim("rate_slowdown", {"test": "equivalence", "low": 0.67, "high": 1.5}, at={"width": "max"}), frame)
    row = out.iloc[0]
    assert row["verdict"] == "inconclusive"
    assert row["interval_width"] == pytest.approx(row["high"] - row["low"])
    assert row["seeds_to_decide"] > row["n"]
    assert f"about {int(row['seeds_to_decide'])} seeds (here 8)" in claim_sentence(row)
    decided = ledger(claim("rate_slowdown", {"test": "equivalence", "low": 0.67, "high": 1.5}, at={"width": "max"}),
                     runs(rate_slowdown=lambda w, s, rng: np.exp(0.02 * rng.standard_normal()))).iloc[0]
    assert decided["verdict"] == "supported" and decided["seeds_to_decide"] <= decided["n"]
    assert "seeds" not in claim_sentence(decided).split("verdict")[1]


# ------------------------------------------------------------------------------------------------
# the rules of issue 20: each returns each of its verdicts on planted data
# ------------------------------------------------------------------------------------------------

def property_claim(**rule):
    return claim("lambda_min_ratio_min", {"test": "property", "violation": "lambda_min_ratio_min < 0.5", **rule})


def test_a_property_with_no_violation_in_12_runs_is_not_contradicted_with_its_bound(monkeypatch):
    monkeypatch.setattr(__import__(__name__), "SEEDS", range(12))
    frame = runs(widths=(64,), lambda_min_ratio_min=lambda w, s, rng: 0.9, regime=lambda w, s, rng: "eta<=1/L")
    row = ledger(property_claim(regime="eta<=1/L"), frame).iloc[0]
    assert row["verdict"] == "not contradicted" and "not contradicted in 12 runs" in row["note"]
    assert row["high"] == pytest.approx(1 - 0.05 ** (1 / 12))  # one-sided 95% Clopper-Pearson, 0 of 12
    assert "22.1%" in row["note"]


def test_one_violating_run_contradicts_a_property_and_is_named():
    frame = runs(widths=(64,), lambda_min_ratio_min=lambda w, s, rng: 0.3 if s == 5 else 0.9,
                 regime=lambda w, s, rng: "eta<=1/L")
    row = ledger(property_claim(regime="eta<=1/L"), frame).iloc[0]
    assert row["verdict"] == "contradicted" and "width=64+seed=5" in row["note"] and "1 of 8" in row["note"]


def test_a_property_judges_only_the_theorems_regime_and_says_so():
    frame = runs(widths=(64,), lambda_min_ratio_min=lambda w, s, rng: 0.3, regime=lambda w, s, rng: "edge of stability")
    row = ledger(property_claim(regime="eta<=1/L"), frame).iloc[0]
    assert row["verdict"] == "inconclusive" and "no run in the regime" in row["note"]
    assert "outside the regime: 8 of 8 runs violate it" in row["note"]
    # without a regime every run counts
    assert ledger(property_claim(), frame)["verdict"].iloc[0] == "contradicted"


def test_the_regime_is_read_from_the_larger_sharpness_unless_the_rule_asks_for_the_gauss_newton_label():
    """Runs whose Gauss-Newton sharpness says eta <= 1/L but whose Hessian does not: by the larger label (the
    default) none is in the regime; by `regime_by: gauss_newton` (the label as first registered) all are."""
    frame = runs(widths=(64,), lambda_min_ratio_min=lambda w, s, rng: 0.3, regime=lambda w, s, rng: "stable, eta>1/L",
                 regime_gauss_newton=lambda w, s, rng: "eta<=1/L")
    assert ledger(property_claim(regime="eta<=1/L"), frame)["verdict"].iloc[0] == "inconclusive"
    row = ledger(property_claim(regime="eta<=1/L", regime_by="gauss_newton"), frame).iloc[0]
    assert row["verdict"] == "contradicted" and "8 of 8" in row["note"]


KERNEL = {"test": "kernel_linear", "low": 0.67, "high": 1.5, "predicted": "rate_slowdown_kernel", "tolerance": [0.8, 1.25]}


@pytest.mark.parametrize("observed, predicted, verdict", [(1.0, 1.0, "supported"), (0.5, 0.5, "as the kernel predicts"),
                                                          (0.2, 0.6, "contradicted"), (0.62, 0.5, "inconclusive")])
def test_claim_1_against_a_straight_line_and_the_kernels_curvature(observed, predicted, verdict):
    frame = runs(widths=(256,), rate_slowdown=lambda w, s, rng: observed * np.exp(0.02 * rng.standard_normal()),
                 rate_slowdown_kernel=lambda w, s, rng: predicted * np.exp(0.02 * rng.standard_normal()),
                 pl_time_constants=lambda w, s, rng: 0.5 + 0.1 * s)
    row = ledger(claim("rate_slowdown", KERNEL), frame).iloc[0]
    assert row["verdict"] == verdict
    assert "kernel-predicted" in row["note"] and "0.5-1.2 PL time constants" in row["note"]


@pytest.mark.parametrize("ratio, spread, verdict", [(1.0, 0.01, "contradicted"), (0.05, 0.01, "supported"),
                                                    (0.2, 0.5, "inconclusive")])
def test_claim_8_is_the_papers_five_fold_reduction(ratio, spread, verdict):
    """A drift ratio of 1.0 with a tight interval contradicts 'at least five-fold'."""
    frame = runs(widths=(32, 64), rel_drift_matched_eta_t=lambda w, s, rng: (1 + s) * (
        ratio * np.exp(spread * (-1) ** s) if w == 32 else 1.0))
    rule = {"test": "compare", "a": {"width": "min"}, "b": {"width": "max"}, "direction": "less", "boundary": 0.2}
    row = ledger(claim("rel_drift_matched_eta_t", rule), frame).iloc[0]
    assert row["verdict"] == verdict and row["estimate"] == pytest.approx(ratio)
    assert "ratio below 0.2" in row["rule"]


def test_a_statistic_equal_in_every_run_is_inconclusive_with_a_note():
    frame = runs(widths=(32, 64), early_transient=lambda w, s, rng: 1.0)
    rule = {"test": "compare", "a": {"width": "min"}, "b": {"width": "max"}, "direction": "less"}
    row = ledger(claim("early_transient", rule), frame).iloc[0]
    assert row["verdict"] == "inconclusive" and "is 1 in every run" in row["note"] and "cannot decide" in row["note"]


def test_a_trend_row_is_labelled_as_the_trend():
    frame = runs(pl_slope_zero=lambda w, s, rng: 1 + 4 / w + 0.001 * rng.standard_normal())
    rule = {"test": "trend", "over": "width", "direction": "decreasing", "distance_to": 1.0}
    row = ledger(claim("pl_slope_zero", rule), frame).iloc[0]
    assert row["measure"] == "trend: slope of log |pl_slope_zero - 1| on log width"
    assert row["measure"] in claim_sentence(row) and "per-seed log-log slope" in row["estimator"]


def test_as_registered_keeps_the_registered_verdict_beside_the_amended_one():
    frame = runs(widths=(64,), lqcr_negative=lambda w, s, rng: 0, regime=lambda w, s, rng: "eta<=1/L")
    new = claim("lqcr_negative", {"test": "property", "violation": "lqcr_negative > 0"}, primary={"experiment": "width"})
    amendments = [{"claim": "c", "old": {"rule": {"test": "proportion", "violation": "lqcr_negative > 0",
                                                  "max_fraction": 0.05}, "primary": None},
                   "new": "property", "reason": "asymmetric", "commit": "abc"},
                  {"claim": "added", "added": True, "new": "n", "reason": "r", "commit": "abc"}]
    added = {**new, "id": "added", "paper": 2}
    out = build_ledger({"family_confidence": 0.95, "list": [new, added], "amendments": amendments}, {"width": frame},
                       {"width": DATA}, {"width": "theorem"}, "cfg")
    assert out["verdict"].tolist() == ["not contradicted", "not contradicted"]
    # as registered, 0 of 8 violating runs was "supported" (the asymmetric rule)
    assert out["as_registered"].tolist() == ["supported", "not registered (added by an amendment)"]

    # amended again later (a second entry for "c"): the first entry's `old` stays the rule as registered
    again = {"claim": "c", "old": {"rule": {"test": "property", "violation": "lqcr_negative > 5"}}, "new": "n",
             "reason": "r", "commit": "def"}
    twice = build_ledger({"family_confidence": 0.95, "list": [new, added], "amendments": amendments + [again]},
                         {"width": frame}, {"width": DATA}, {"width": "theorem"}, "cfg")
    assert twice["as_registered"].tolist() == out["as_registered"].tolist()


# ------------------------------------------------------------------------------------------------
# the claims block validated with the config, before any job
# ------------------------------------------------------------------------------------------------

def _config():
    import yaml
    from pathlib import Path

    from lplr.config import load_schema, validate_config

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config.yaml").read_text())
    return validate_config(config, load_schema(root / "workflow/schemas/config.schema.yaml")), config


def test_the_default_claims_block_validates_with_one_primary_row_per_claim():
    config, _ = _config()
    paper = [c for c in config["claims"]["list"] if not c.get("beyond")]
    numbers = {c.get("paper") for c in paper}
    primaries = [c.get("paper") for c in paper if c.get("primary")]
    assert sorted(primaries) == sorted(numbers) == list(range(1, 11))
    beyond = [c for c in config["claims"]["list"] if c.get("beyond")]  # checks beyond the paper: exploratory
    assert len(beyond) >= 3 and not any(c.get("primary") or c.get("paper") for c in beyond)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["claims"]["list"][0]["experiments"].append("nope"),
     r"claims.list\[0\].experiments\[4\]': experiment 'nope' is not defined.*use one of width, "),
    (lambda c: c["claims"]["list"][3].update(statistic="final_los"),
     r"claims.list\[3\].statistic': 'final_los' is not a registered statistic.*final_loss"),
    (lambda c: c["claims"]["list"][13].update(statistic="rel_drift_at_loss_0.05"),
     r"claims.list\[13\].statistic': experiment 'step' has no column 'rel_drift_at_loss_0.05'.*rel_drift_at_loss_0.01"),
    (lambda c: c["claims"]["list"][4]["rule"].update(violation="lambda_min_ratio < 0.5"),
     r"claims.list\[4\].rule.violation': 'lambda_min_ratio' is not a registered statistic"),
    (lambda c: c["claims"]["list"][2]["rule"].update(overr="width"),
     r"claims.list\[2\].rule.overr': not a parameter of a trend rule"),
    (lambda c: c["claims"]["list"][0].update(at={"depth": "each"}),
     r"claims.list\[0\].at.depth': experiment 'width' has no condition 'depth'; use one of width, seed"),
    (lambda c: c["claims"]["list"][8]["rule"]["a"].update(init="xavier"),
     r"claims.list\[8\].rule.a.init': experiment 'init' has no init = xavier; use one of depth_aware, he"),
    (lambda c: c["claims"]["list"][3].pop("primary"), r"paper claim 3 has no primary row"),
    (lambda c: c["claims"]["list"][5].update(primary={"experiment": "width", "at": {"width": "max"}}),
     r"claims.list\[5\].primary': paper claim 4 already has its primary row in claims.list\[4\]"),
    (lambda c: c["claims"]["amendments"][1].pop("reason"), r"claims.amendments\[1\]': an amendment needs reason"),
    # a claim amended twice: the rule between its amendments is validated too (a typo in the second `old`)
    (lambda c: next(a for a in reversed(c["claims"]["amendments"]) if a["claim"] == "lqcr")["old"]["rule"].update(
        violation="lqcr_negativ > 0"), r"the 'lqcr' before its amendment of commit .*'lqcr_negativ' is not a registered"),
])
def test_a_bad_claims_block_names_the_key_and_the_valid_values(edit, message):
    from lplr.claim_config import validate_claims

    config, _ = _config()
    edit(config)
    with pytest.raises(ClaimError, match=message):
        validate_claims(config)


def test_a_disabled_experiment_is_allowed_and_not_tested():
    from lplr.claim_config import validate_claims

    config, _ = _config()
    config["experiments"]["width_eos"]["enabled"] = False
    validate_claims(config)  # defined but disabled: no error; the ledger says "not tested"


def test_confirmation_judges_the_new_rule_on_the_runs_no_rule_was_written_against():
    frame = runs(widths=(64,), lqcr_negative=lambda w, s, rng: int(s == 0), regime=lambda w, s, rng: "eta<=1/L")
    rule = {"test": "property", "violation": "lqcr_negative > 0"}
    out = build_ledger({"family_confidence": 0.95, "list": [claim("lqcr_negative", rule)], "seen_seeds": [0]},
                       {"width": frame}, {"width": DATA}, {"width": "theorem"}, "cfg").iloc[0]
    assert out["verdict"] == "contradicted" and out["confirmation"] == "not contradicted (7 fresh runs)"
