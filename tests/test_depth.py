"""Depth x initialisation (lplr.depth, issue 23): the paired ratios against He, the trends over depth per init,
and the three pre-registered depth claims of config.yaml, each planted to give every verdict it can give."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lplr import depth
from lplr.analysis import trends
from lplr.claims import build_ledger
from lplr.stats import scale_of

DEPTHS, INITS = (3, 5, 8, 12), ("he", "depth_aware")
CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())


def grid(seeds=range(4), **columns):
    """A depth x init runs.csv frame; columns are functions (depth, init, seed, rng) -> value."""
    rng = np.random.default_rng(1)
    rows = []
    for d in DEPTHS:
        for init in INITS:
            for seed in seeds:
                row = {"run": f"depth={d}+init={init}+seed={seed}", "depth": d, "init": init, "seed": seed,
                       "status": "completed", "sharpness_tracked_max": 0.3}
                row.update({name: f(d, init, seed, rng) for name, f in columns.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def test_each_run_is_divided_by_the_he_run_of_its_depth_and_seed():
    frame = grid(mu_0=lambda d, i, s, rng: (1 + s) / d * (0.1 if i == "depth_aware" else 1.0),
                 early_rate=lambda d, i, s, rng: 0.01 * (2.0 if i == "he" else 1.0) * (1 + s),
                 transient_ratio=lambda d, i, s, rng: 3.0 * (d / 3 if i == "depth_aware" else 1.0),
                 decades=lambda d, i, s, rng: 2.0)
    frame.loc[(frame["depth"] == 8) & (frame["init"] == "he") & (frame["seed"] == 1), "status"] = "diverged"
    out = depth.relative_to_reference(frame.sample(frac=1, random_state=0), ["depth", "init"])  # order kept
    da = out[out["init"] == "depth_aware"]
    has_partner = ~((da["depth"] == 8) & (da["seed"] == 1))
    np.testing.assert_allclose(da.loc[has_partner, "mu_0_vs_he"], 0.1)
    np.testing.assert_allclose(da.loc[has_partner, "early_rate_vs_he"], 0.5)
    np.testing.assert_allclose(da.loc[has_partner, "transient_ratio_vs_he"], da.loc[has_partner, "depth"] / 3)
    assert da.loc[~has_partner, "mu_0_vs_he"].isna().all()  # its He partner diverged: no ratio, not a guess
    he = out[(out["init"] == "he") & (out["status"] == "completed")]
    assert (he["decades_vs_he"] == 1.0).all()
    assert out.loc[out["status"] == "diverged", "mu_0_vs_he"].isna().all()
    for name in ("kernel_conditioning_0", *(f"{s}_vs_he" for s in depth.RELATIVE)):
        assert scale_of(name) == "log"


def test_two_he_runs_of_one_seed_and_depth_are_refused():
    frame = grid(seeds=[0], mu_0=lambda *a: 1.0, early_rate=lambda *a: 1.0, transient_ratio=lambda *a: 1.0,
                 decades=lambda *a: 1.0)
    with pytest.raises(ValueError, match="share"):
        depth.relative_to_reference(pd.concat([frame, frame.iloc[:1]]), ["depth", "init"])
    assert not depth.applies(["width"]) and not depth.applies(["init", "lr", "lr_mode"])
    assert depth.applies(["depth", "init"])


def test_trends_over_depth_are_fitted_per_init():
    """kernel_conditioning_0 = c_s D^-1.5 (He) and D^-0.5 (depth-aware): the slopes come back per init."""
    exponent = {"he": -1.5, "depth_aware": -0.5}
    frame = grid(kernel_conditioning_0=lambda d, i, s, rng: (1 + s) * d ** exponent[i] * np.exp(0.01 * rng.standard_normal()))
    table = trends(frame, ["depth", "init"], 0.95)
    rows = table[table["statistic"] == "kernel_conditioning_0"].set_index("init")
    assert set(rows.index) == set(INITS) and (rows["x"] == "depth").all() and (rows["n"] == 4).all()
    for init, slope in exponent.items():
        assert rows.loc[init, "slope"] == pytest.approx(slope, abs=0.03)
        assert rows.loc[init, "ci_low"] < slope < rows.loc[init, "ci_high"]
    # one numeric condition alone (width) keeps its table as before, without extra columns
    width = frame[frame["init"] == "he"].rename(columns={"depth": "width"})
    assert list(trends(width, ["width"], 0.95).columns[:2]) == ["x", "statistic"]


def _claim(claim_id: str) -> dict:
    (claim,) = [c for c in CONFIG["claims"]["list"] if c["id"] == claim_id]
    assert claim.get("beyond") and claim["experiments"] == ["depth"]
    return claim


def _verdicts(claim_id: str, frame: pd.DataFrame) -> dict[str, str]:
    out = build_ledger({"family_confidence": 0.95, "list": [_claim(claim_id)]}, {"depth": frame},
                       {"depth": {"dataset": "mnist5k", "n_train": 256}}, {"depth": "theorem"}, "cfg")
    return dict(zip(out["condition"], out["verdict"]))


@pytest.mark.parametrize("exponent, noise, verdict", [(-1.0, 0.02, "supported"), (1.0, 0.02, "contradicted"),
                                                      (0.0, 0.5, "inconclusive")])
def test_deeper_kernel_worse_conditioned_can_give_each_verdict(exponent, noise, verdict):
    frame = grid(kernel_conditioning_0=lambda d, i, s, rng: 0.01 * d ** exponent * np.exp(noise * rng.standard_normal()))
    assert _verdicts("deeper_kernel_worse_conditioned", frame) == {"init=he": verdict, "init=depth_aware": verdict}


@pytest.mark.parametrize("exponent, noise, verdict", [(-0.8, 0.02, "supported"), (0.8, 0.02, "contradicted"),
                                                      (0.0, 0.5, "inconclusive")])
def test_depth_aware_advantage_grows_can_give_each_verdict(exponent, noise, verdict):
    """The depth-aware/He ratio of the transient ratio ~ D^exponent, built from the runs through lplr.depth."""
    frame = grid(mu_0=lambda *a: 1.0, early_rate=lambda *a: 1.0, decades=lambda *a: 1.0,
                 transient_ratio=lambda d, i, s, rng: (1 + s) * (d ** exponent * np.exp(noise * rng.standard_normal())
                                                                if i == "depth_aware" else 2.0))
    frame = depth.relative_to_reference(frame, ["depth", "init"])
    assert _verdicts("depth_aware_advantage_grows", frame) == {"init=depth_aware": verdict}


def test_depth_aware_transient_by_depth_gives_each_verdict_per_depth():
    """Depth-aware/He transient ratio per depth: 0.5 (3), 2 (5), 1 with a spread (8), 0.5 (12); paired by seed
    (the seeds differ 4x, the pairing removes it)."""
    factor = {3: 0.5, 5: 2.0, 8: 1.0, 12: 0.5}
    frame = grid(transient_ratio=lambda d, i, s, rng: (1 + s) * (factor[d] * np.exp(0.1 * (-1) ** s)
                                                                if i == "depth_aware" else 1.0))
    assert _verdicts("depth_aware_transient_by_depth", frame) == {
        "depth=3": "supported", "depth=5": "contradicted", "depth=8": "inconclusive", "depth=12": "supported"}


def test_per_init_trends_get_their_own_paper_numbers():
    from lplr.paper import numbers_from_trends

    frame = grid(kernel_conditioning_0=lambda d, i, s, rng: (1 + s) * d ** (-1.0 if i == "he" else -0.5))
    keys = {n["key"]: n.get("value") for n in numbers_from_trends("depth", trends(frame, ["depth", "init"], 0.95))}
    assert keys["depth.trend.kernel_conditioning_0.init=he"] == pytest.approx(-1.0)
    assert keys["depth.trend.kernel_conditioning_0.init=depth_aware"] == pytest.approx(-0.5)
    assert "depth.trend.kernel_conditioning_0" not in keys  # no key the two inits would overwrite


def test_the_setup_sentence_states_the_depth_per_condition_when_it_varies():
    from lplr.setup import setup_text

    text = setup_text(CONFIG, "depth")
    assert text.startswith("A ReLU MLP of depth D (D-1 hidden layers of width 64")
    assert "depth 3, He init; depth 3, depth-aware init" in text and "depth 12, depth-aware init" in text
    assert setup_text(CONFIG, "init").startswith("A five-layer ReLU MLP (4 hidden layers")  # a fixed depth, as before
