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
# # E1: width ablation, full-batch GD
#
# Executed by papermill from the Snakemake DAG (rule `notebook_width_analysis`) with the paths
# below as parameters; it only reads generated tables, so rerunning it never retrains.
#
# Definitions (the paper's Definitions section, paper/main.tex, and `lplr.analysis`):
#
# * loss $L(\theta) = \frac{1}{2n}\sum_i (f_\theta(x_i) - y_i)^2$, residual $r = f - y$
# * $G(\theta) = \|\nabla L(\theta)\|^2 = r^\top \Theta r / n^2$ with the empirical NTK $\Theta = J J^\top$
# * PL constant $\mu = \lambda_{\min}(\Theta)/n$, so $G \ge 2\mu L$ (with $L^* = 0$)
# * rates along training with $L^* = 0$: observed $-\Delta \log L_t$, early and late segment rates and their ratio
# * window rate $c$: slope of $-\log(L_t - L^*)$ against $t$ inside the detected window, under the run's headline $L^*$
# * PL slope $\beta$: slope of $\log G_t$ against $\log(L_t - L^*)$ inside the window ($\beta = 1$: constant PL ratio)

# %% tags=["parameters"]
runs_csv = "results/fits/width/runs.csv"
summary_csv = "results/tables/width_summary.csv"
sensitivity_csv = "results/tables/width_sensitivity.csv"

# %%
import pandas as pd

runs = pd.read_csv(runs_csv)
summary = pd.read_csv(summary_csv)
sensitivity = pd.read_csv(sensitivity_csv)
print(f"{len(runs)} runs, {runs['seed'].nunique()} seeds, widths {sorted(runs['width'].unique())}")
print(runs["status"].value_counts().to_string())

# %% [markdown]
# ## Per-run fits
# One row per (width, seed): the window $[t_0, t_1]$, its $R^2$, the rate $c$, the PL slope
# $\beta$, the predicted rate from $\mu$ at $t_0$, and the drift.

# %%
columns = ["width", "seed", "interpolates", "lstar_method", "t0", "t1", "r2", "rate", "rate_early", "rate_late",
           "rate_slowdown", "first_order_ratio", "pl_slope", "share_top_k_0", "mu_0", "final_loss", "final_rel_drift",
           "lambda_min_ratio_final", "lqcr_min", "lqcr_negative"]
runs[[c for c in columns if c in runs]].round(5)

# %% [markdown]
# ## Across seeds
# The across-seed estimate for each width, on each statistic's scale (geometric mean for positive
# quantities, logit scale for shares, median for step counts; `lplr.stats`), with n beside it.

# %%
shown = ["final_loss", "rate_early", "rate_late", "rate_slowdown", "rate", "pl_slope", "share_top_k_0", "mu_0",
         "final_rel_drift"]
summary[summary["statistic"].isin(shown)].pivot_table(index="width", columns="statistic", values="estimate")[shown]

# %% [markdown]
# ## How much is the rate above the PL bound?
# $\rho_t = G_t / 2(L_t - L^*)$ is a Rayleigh quotient of $\Theta/n$ at the residual, so it is at
# least $\mu$; the residual sits on large-eigenvalue directions, and the observed rate is far above
# the worst-case $(1 - \eta\mu)^2$ contraction. The ratio below is that gap.

# %%
ratio = summary[summary["statistic"] == "rate_over_predicted"][["width", "estimate", "ci_low", "ci_high", "n", "n_runs"]]
ratio

# %% [markdown]
# ## Sensitivity to the $L^*$ estimator and the window rule

# %%
sensitivity
