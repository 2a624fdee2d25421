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
# # Run explorer
#
# One training run, executed by papermill from the Snakemake DAG (rule `notebook_run`) with the run
# as its parameter; `snakemake results/notebooks/runs/<experiment>/<run>.html` builds the one for any
# run of the config (`notebooks.runs` in config.yaml chooses those of the default target). It reads
# results/ only: the run's rows of its experiment's analysis tables (`results/fits/<experiment>/`),
# its `manifest.json` and its probe's `eigenvalues.npz`. Every symbol is defined in
# `docs/definitions.md`.

# %% tags=["parameters"]
# Set by the rule: the run and the files it reads (its manifest and spectrum at the experiment that trained it).
experiment = "width"
run = ""
runs_csv = "results/fits/width/runs.csv"
curves_csv = "results/fits/width/curves.csv"
probes_csv = "results/fits/width/probes.csv"
manifest_json = ""
eigenvalues_npz = ""
exit_fraction = 0.5  # config fit.lplr_exit_fraction
top_k = 10  # config fit.rates.top_k

# %%
import json

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from lplr.notebooks import provenance_line, run_row, show_figure
from lplr.plots import run as panels

row = run_row(pd.read_csv(runs_csv), run, runs_csv)
curves = pd.read_csv(curves_csv)
curve = curves[curves["run"] == run].reset_index(drop=True)
probes = pd.read_csv(probes_csv)
probe = probes[probes["run"] == run].reset_index(drop=True)
eigen = dict(np.load(eigenvalues_npz))
display(Markdown(f"## Run `{run}` of experiment `{experiment}`"))
print(f"status {row['status']}; {len(curve)} evaluated steps, {len(probe)} probed checkpoints"
      + (f"; trained by {row['source']}" if isinstance(row.get("source"), str) and row["source"] else ""))
print(provenance_line())

# %% [markdown]
# ## The run's numbers
# Its row of `runs.csv` (the statistics are computed once, by `lplr.analysis`).

# %%
row.to_frame(name=run)

# %% [markdown]
# ## Loss and gap
# $L_t$ on a log axis: a straight stretch is linear (geometric) convergence. The gap $L_t - L^*$ is
# drawn when the run's headline $L^*$ is not 0; black: the window fit (rate $c$); dashed: the
# linearised model from the initial kernel (how far the run is from lazy training).

# %%
show_figure(panels.loss_and_gap(curve, row))

# %% [markdown]
# ## $G$ against the gap
# A PL inequality $G \ge 2\mu (L - L^*)$ keeps the points above a line of slope 1; the fitted slope
# $\beta$ over the window is 1 for a constant PL ratio and below 1 when $G$/gap grows as the gap shrinks.

# %%
show_figure(panels.pl_plane(curve, row))

# %% [markdown]
# ## The rate along training, against the kernel's predictions
# All with $L^* = 0$. Observed above the PL bound $2\eta\mu_t$ by orders of magnitude is expected:
# the residual sits on large-eigenvalue directions. Observed close to the first-order rate means
# second-order effects are small; the linearised rate from each probe slows as fast directions are spent.

# %%
show_figure(panels.rates(curve, probe))

# %% [markdown]
# ## The kernel over the checkpoints
# $\lambda_{\min}$ and $\lambda_{\max}$ of $\Theta_t$; the sharpness $\eta\lambda_{\max}/n$ (2 is the
# stability limit of linearised GD); the $\lambda_{\min}$ ratio (the run leaves the LPLR where it
# falls below the dotted line) and the relative kernel change.

# %%
show_figure(panels.kernel_over_checkpoints(probe, exit_fraction))

# %% [markdown]
# ## The eigenvalue spectrum at each checkpoint

# %%
show_figure(panels.eigenvalue_spectra(eigen))

# %% [markdown]
# ## Where the residual sits in the spectrum
# Left: the share of $\|r_t\|^2$ on the top-$k$ and on the bottom half of the eigen-directions.
# Right: each direction's share against its eigenvalue, per checkpoint.

# %%
show_figure(panels.residual_shares(probe, eigen, top_k))

# %% [markdown]
# ## Drift and test accuracy

# %%
show_figure(panels.drift_and_accuracy(curve))

# %% [markdown]
# ## The probed checkpoints
# One row per checkpoint (`probes.csv`): the spectrum, the PL audit (its error against its tolerance),
# the LQCR $q_t$, the shares and the rates at the probe.

# %%
probe[["step", "lambda_min", "lambda_max", "mu", "sharpness", "lambda_min_ratio", "kernel_change", "audit_error",
       "audit_tolerance", "audit_ok", "lqcr_q", "share_top_k", "share_bottom_half", "rho", "pl_bound_rate",
       "observed_rate", "first_order_rate", "local_linearised_rate"]]

# %% [markdown]
# ## The run's manifest
# `manifest.json`, written by the training job: status, step size, sharpness at $t=0$, settings,
# package versions and the git commit that trained it.

# %%
print(json.dumps(json.load(open(manifest_json)), indent=1, sort_keys=True))
