# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # An experiment of the LPLR workflow
#
# Executed by papermill from the Snakemake DAG (rule `notebook_experiment`), once per experiment of
# the config, with the parameters below; rendered to `results/notebooks/experiments/<experiment>.html`.
# It reads the analysis tables only (`results/fits/<experiment>/`, `results/tables/`), so rerunning it
# never retrains and never recomputes a statistic. Every symbol is defined in `docs/definitions.md`.

# %% tags=["parameters"]
experiment = "width"
description = ""
tables = {  # lplr.plots.registry.TABLES for this experiment
    "runs": "results/fits/width/runs.csv",
    "curves": "results/fits/width/curves.csv",
    "probes": "results/fits/width/probes.csv",
    "summary": "results/tables/width_summary.csv",
    "sensitivity": "results/tables/width_sensitivity.csv",
    "trends": "results/tables/width_trends.csv",
}
reading_md = ""  # workflow/notebooks/reading/<experiment>.md; "" when the repository has none
setup = ""  # this build's settings in words, from the config (lplr.setup.setup_text)
claims_csv = ""  # results/tables/claims.csv; "" when this build has no claims ledger
figure_options = {"confidence": 0.95, "exit_fraction": 0.5}  # config fit.confidence, fit.lplr_exit_fraction

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

pd.set_option("display.max_colwidth", None)  # run ids are long (init=depth_aware+lr=0.15+lr_mode=calibrated+seed=0)

from lplr import escape
from lplr.notebooks import experiment_figures, provenance_line, show_registry_figure, summary_view
from lplr.plots.registry import FIGURES

display(Markdown(f"## Experiment `{experiment}`" + (f": {escape.markdown(description)}" if description else "")))
runs = pd.read_csv(tables["runs"])
print(f"{len(runs)} runs, seeds {sorted(int(seed) for seed in runs['seed'].unique())}; status: "
      + ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items()))
print(provenance_line())

# %% [markdown]
# ## How to read this experiment

# %%
if reading_md and Path(reading_md).is_file():
    display(Markdown(Path(reading_md).read_text()))
else:
    print(f"No reading text for experiment {experiment!r} in this repository "
          f"(it would be workflow/notebooks/reading/{experiment}.md).")
if setup:
    display(Markdown(f"**This build:** {escape.markdown(setup)}"))

# %% [markdown]
# ## Figures
# Drawn here from the tables above by the figure registry (`lplr.plots.registry`), the same code that
# draws `results/figures/<name>.pdf`.

# %%
names = experiment_figures(experiment)
if not names:
    print(f"No figure of the registry (lplr.plots.registry.FIGURES) shows experiment {experiment!r}.")
for name in names:
    display(Markdown(f"### `{name}`: {FIGURES[name].description}"))
    show_registry_figure(name, tables, figure_options)

# %% [markdown]
# ## Per run
# One row per run (`results/fits/<experiment>/runs.csv`): status, the headline $L^*$, the window
# $[t_0, t_1]$ with its $R^2$, the window rate $c$ and PL slope $\beta$, the rates along training with
# $L^* = 0$, $\mu_0$, the largest sharpness, the residual's top-$k$ share at $t = 0$, drift, the LQCR
# minimum, and `source` (the experiment that trained a shared run). The full table has more columns.

# %%
shown = ["status", "interpolates", "lstar_method", "t0", "t1", "r2", "rate", "pl_slope", "rate_early", "rate_late",
         "rate_slowdown", "first_order_ratio", "mu_0", "sharpness_max", "share_top_k_0", "final_loss",
         "final_rel_drift", "final_test_accuracy", "lambda_min_ratio_min", "lplr_exit_step", "lqcr_min", "source"]
conditions = list(runs.columns[1:list(runs.columns).index("seed") + 1])  # the condition's settings, then the seed
runs[["run", *conditions[:-1], "seed", *[c for c in shown if c in runs]]].round(6)

# %% [markdown]
# ## Across seeds
# Per condition: the across-seed estimate [interval] (n / runs) of each statistic on its own scale
# (geometric for positive quantities, logit for shares, median [min, max] for step counts;
# `lplr.stats`). The long table is `results/tables/<experiment>_summary.csv`.

# %%
summary = pd.read_csv(tables["summary"])
summary_view(summary, ["final_loss", "decades", "rate_early", "rate_late", "rate_slowdown", "rate", "pl_slope",
                       "mu_0", "sharpness_max", "share_top_k_0", "final_rel_drift", "lambda_min_ratio_min",
                       "rate_over_predicted"])

# %% [markdown]
# ## The claims ledger
# This experiment's rows of `results/tables/claims.csv`: each claim of the paper, the statistic that
# tests it, its estimate and interval, and the verdict. Each claim has ONE primary row (`primary`), its
# verdict; the other rows are exploratory (95% each). `as_registered` is the verdict of the rule as first
# registered, before the amendments in the config's `claims.amendments`.

# %%
if claims_csv and Path(claims_csv).is_file():
    claims = pd.read_csv(claims_csv)
    rows = claims[claims["experiment"].astype(str) == experiment]
    if rows.empty:
        print(f"The claims ledger has no row for experiment {experiment!r}.")
    primary = rows[rows["primary"].astype(bool)] if "primary" in rows else rows.iloc[:0]
    for _, row in primary.iterrows():
        print(f"claim {row['paper_claim']} ({row['claim']}), primary row: {row['verdict']}"
              f" (as registered: {row.get('as_registered', '')})")
    shown = ["claim", "paper_claim", "primary", "condition", "measure", "estimate", "low", "high", "n", "verdict",
             "as_registered", "confirmation", "note"]
    display(rows[[c for c in shown if c in rows]] if "primary" in rows else rows)  # an older ledger: as it is
else:
    print("claims ledger not available in this build")

# %% [markdown]
# ## Sensitivity of the window fit
# The window rate and PL slope under every $L^*$ estimator and window threshold
# (`results/tables/<experiment>_sensitivity.csv`): a headline that moves a lot between rows is a
# property of the estimator, not of the dynamics.

# %%
pd.read_csv(tables["sensitivity"])
