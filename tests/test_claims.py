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


@pytest.mark.parametrize("violating, verdict", [(0, "supported"), (8, "contradicted"), (1, "inconclusive")])
def test_proportion_verdicts(violating, verdict):
    frame = runs(widths=(64,), lqcr_negative=lambda w, s, rng: int(s < violating))
    out = ledger(claim("lqcr_negative", {"test": "proportion", "violation": "lqcr_negative > 0", "max_fraction": 0.05}), frame)
    assert out["verdict"].iloc[0] == verdict and out["estimate"].iloc[0] == violating / 8


def test_bonferroni_over_the_rows_tested_and_scale_requirements():
    frame = runs(rate_slowdown=lambda w, s, rng: 1.0 + 0.01 * rng.standard_normal())
    rule = {"test": "equivalence", "low": 0.67, "high": 1.5}
    claims = [claim("rate_slowdown", rule, at={"width": "each"}),
              {**claim("rate_slowdown", rule), "id": "big", "requires": {"width": 1024}},
              {**claim("rate_slowdown", rule), "id": "cifar", "requires": {"dataset": "cifar10"}},
              {**claim("rate_slowdown", rule), "id": "absent", "experiments": ["cnn"]}]
    out = build_ledger({"family_confidence": 0.95, "list": claims}, {"width": frame}, {"width": DATA},
                       {"width": "theorem"}, "cfg")
    counts = verdict_counts(out)
    assert counts["tested"] == 4 and counts["not tested at this scale"] == 3  # 4 widths tested; 3 rows not
    assert out["confidence"].iloc[0] == pytest.approx(1 - 0.05 / 4)
    big = out[out["claim"] == "big"].iloc[0]
    assert "width=1024" in big["note"] and np.isfinite(big["estimate"])  # our statistic still shown
    assert out[out["claim"] == "absent"]["note"].iloc[0] == "experiment cnn not in this config"


def test_bad_claims_name_the_claim_and_the_column():
    frame = runs(rate_slowdown=lambda w, s, rng: 1.0)
    with pytest.raises(ClaimError, match="'c'.*no column 'depth'"):
        ledger(claim("rate_slowdown", {"test": "above", "threshold": 1}, at={"depth": 5}), frame)
    with pytest.raises(ClaimError, match="statistic 'nope'"):
        ledger(claim("nope", {"test": "above", "threshold": 1}), frame)
    with pytest.raises(ClaimError, match="has no 'rule'"):
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
    falling = ledger(claim("final_loss", rule), runs(final_loss=lambda w, s, rng: 1 / w * (1 + 0.01 * rng.standard_normal())))
    rising = ledger(claim("final_loss", rule), runs(final_loss=lambda w, s, rng: w * (1 + 0.01 * rng.standard_normal())))
    assert "verdict: SUPPORTED" in claim_sentence(falling.iloc[0])
    assert "verdict: CONTRADICTED" in claim_sentence(rising.iloc[0])
    tex = claims_latex(rising)
    assert r"\claimstable" in tex and r"\claimsprose" in tex and "CONTRADICTED" in tex
    assert r"lplr@claims.contradicted\endcsname{1}" in tex and r"lplr@claims.supported\endcsname{0}" in tex


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
