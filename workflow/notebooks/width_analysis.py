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
# Definitions (see `../shared/spec/experiments.md` and the paper):
#
# * loss $L(\theta) = \frac{1}{2n}\sum_i (f_\theta(x_i) - y_i)^2$, residual $r = f - y$
# * $G(\theta) = \|\nabla L(\theta)\|^2 = r^\top \Theta r / n^2$ with the empirical NTK $\Theta = J J^\top$
# * PL constant $\mu = \lambda_{\min}(\Theta)/n$, so $G \ge 2\mu L$ (with $L^* = 0$)
# * linear rate $c$: slope of $-\log(L_t - L^*)$ against $t$ inside the detected window
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
columns = ["width", "seed", "t0", "t1", "r2", "rate", "predicted_rate", "pl_slope", "pl_envelope",
           "mu_0", "final_loss", "final_rel_drift", "lambda_min_ratio_final", "lqcr_min"]
runs[[c for c in columns if c in runs]].round(5)

# %% [markdown]
# ## Across seeds
# Mean and t-interval across seeds for each width (uncertainty from seeds only: a GD trajectory is
# deterministic, so per-run regression errors are not meaningful).

# %%
table = summary.pivot_table(index="width", columns="statistic", values="mean")
table[[c for c in ["final_loss", "rate", "predicted_rate", "pl_slope", "pl_envelope", "mu_0", "final_rel_drift"] if c in table]]

# %% [markdown]
# ## How much is the rate above the PL bound?
# $\rho_t = G_t / 2(L_t - L^*)$ is a Rayleigh quotient of $\Theta/n$ at the residual, so it is at
# least $\mu$; the residual sits on large-eigenvalue directions, and the observed rate is far above
# the worst-case $(1 - \eta\mu)^2$ contraction. The ratio below is that gap.

# %%
ratio = runs.groupby("width")["rate_over_predicted"].describe()[["mean", "min", "max"]]
ratio

# %% [markdown]
# ## Sensitivity to the $L^*$ estimator and the window rule

# %%
sensitivity
