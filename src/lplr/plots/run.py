"""The run explorer's panels (workflow/notebooks/run.py): one run, drawn from the analysis tables of its
experiment (curves.csv and probes.csv, filtered to the run), its row of runs.csv, and its probe's
eigenvalues.npz. Each function returns a matplotlib Figure for the notebook to display; none computes a
statistic (definitions: docs/definitions.md). A quantity with no finite value (a diverged run, an SGD
run's steps between evaluations) is said in the panel, not drawn as a line at zero.
"""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lplr.plots.style import no_data, positive, set_style, symlog_steps

EXIT_STYLE = {"color": "0.4", "ls": ":", "lw": 0.9}


def _legend(ax, **kw) -> None:
    """A legend when the panel drew something labelled (a panel that says "no data" has none)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _evaluated(curve: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows where `column` was evaluated (SGD evaluates the full-batch loss every eval_every steps)."""
    return curve[curve[column].notna()]


def _plot_positive(ax, x, y, **kw) -> bool:
    """Plot y > 0 on a log axis; False (and nothing drawn) when no value is positive and finite."""
    y = positive(y)
    if not np.isfinite(y).any():
        return False
    ax.plot(np.asarray(x, float), y, **kw)
    return True


def loss_and_gap(curve: pd.DataFrame, row: Mapping) -> plt.Figure:
    """L_t and the gap L_t - L* (the run's headline L*) on a log axis, the window fit over [t0, t1] and the
    initial-NTK linearised loss; test loss at the checkpoints."""
    set_style()
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    m = _evaluated(curve, "loss")
    drawn = _plot_positive(ax, m["step"], m["loss"], color="C0", lw=1.3, label="$L_t$ (training)")
    if row.get("lstar_method") != "zero":
        drawn |= _plot_positive(ax, m["step"], m["gap"], color="C1", lw=1.0,
                                label=f"gap $L_t - L^*$, $L^*$ by {row.get('lstar_method')}")
    if m["window_line"].notna().any():
        ax.plot(m["step"], m["window_line"], color="black", lw=1.0,
                label=f"window fit, $c$ = {row.get('rate', np.nan):.3g} per step")
    _plot_positive(ax, m["step"], m["linearised_loss"], color="0.4", ls="--", lw=0.9, label="linearised (NTK at $t=0$)")
    test = _evaluated(curve, "test_loss")
    _plot_positive(ax, test["step"], test["test_loss"], color="C2", marker="o", ms=3, lw=0.6, label="test loss")
    if not drawn:
        no_data(ax, "no finite positive loss (diverged?)")
    ax.set(yscale="log", xlabel="step $t$", ylabel="loss")
    _legend(ax, fontsize=7)
    return fig


def pl_plane(curve: pd.DataFrame, row: Mapping) -> plt.Figure:
    """G_t against the gap, log-log, with the fitted PL slope beta over the window and a slope-1 reference."""
    set_style()
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    m = _evaluated(curve, "grad_norm_sq")
    gap, grad = positive(m["gap"]), positive(m["grad_norm_sq"])
    ok = np.isfinite(gap) & np.isfinite(grad)
    if not ok.any():
        no_data(ax, "no finite gap and G")
    else:
        points = ax.scatter(gap[ok], grad[ok], c=m["step"].to_numpy(float)[ok], s=5, cmap="viridis")
        fig.colorbar(points, ax=ax, label="step $t$")
        ref = np.geomspace(gap[ok].min(), gap[ok].max(), 10)
        ax.plot(ref, ref * grad[ok][0] / gap[ok][0], color="0.5", ls=":", lw=1, label="slope 1 (constant PL ratio)")
        if row.get("has_window") and np.isfinite(row.get("pl_slope", np.nan)):
            inside = ok & (m["step"] >= row["t0"]).to_numpy() & (m["step"] <= row["t1"]).to_numpy()
            if inside.any():
                g = np.geomspace(gap[inside].min(), gap[inside].max(), 10)
                ax.plot(g, np.exp(row["pl_intercept"]) * g ** row["pl_slope"], color="black", lw=1.0,
                        label=rf"window fit, $\beta$ = {row['pl_slope']:.3g}")
        ax.set(xscale="log", yscale="log")
        _legend(ax, fontsize=7)
    ax.set(xlabel=r"gap $L_t - L^*$", ylabel=r"$G_t = \|\nabla L\|^2$")
    return fig


def rates(curve: pd.DataFrame, probes: pd.DataFrame) -> plt.Figure:
    """The observed rate (L* = 0) against the first-order rate eta G/L, the local linearised rate from the
    latest probe and the PL bound 2 eta mu at the probes; log axis."""
    set_style()
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    drawn = _plot_positive(ax, curve["step"], curve["observed_rate"], color="C0", lw=1.3, label=r"observed $-\Delta\log L$")
    drawn |= _plot_positive(ax, curve["step"], curve["first_order_rate"], color="C1", lw=0.9, label=r"first order $\eta G/L$")
    drawn |= _plot_positive(ax, curve["step"], curve["local_linearised_rate"], color="C2", lw=0.9, ls="--",
                            label="linearised from the last probe")
    drawn |= _plot_positive(ax, probes["step"], probes["pl_bound_rate"], color="C3", marker="s", ms=3, lw=0.6,
                            label=r"PL bound $2\eta\mu_t$")
    if not drawn:
        no_data(ax, "no finite rate")
    else:
        ax.set_yscale("log")
    symlog_steps(ax)
    ax.set_ylabel("rate per step")
    _legend(ax, fontsize=7)
    return fig


def kernel_over_checkpoints(probes: pd.DataFrame, exit_fraction: float | None = None) -> plt.Figure:
    """lambda_min and lambda_max of Theta_t, the sharpness eta lambda_max / n (2: the stability limit), and
    the lambda_min ratio and kernel change, over the probed checkpoints."""
    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 2.8))
    steps = probes["step"]
    ax = axes[0]
    _plot_positive(ax, steps, probes["lambda_max"], color="C3", marker="^", ms=3, label=r"$\lambda_{\max}(\Theta_t)$")
    _plot_positive(ax, steps, probes["lambda_min"], color="C0", marker="o", ms=3, label=r"$\lambda_{\min}(\Theta_t)$")
    ax.set(yscale="log", ylabel="eigenvalue")
    _legend(ax, fontsize=7)
    ax = axes[1]
    ax.plot(steps, probes["sharpness"], color="C3", marker="^", ms=3)
    ax.axhline(2.0, color="0.4", ls="--", lw=0.8, label="2 (stability limit)")
    ax.set(ylabel=r"sharpness $\eta\lambda_{\max}/n$")
    _legend(ax, fontsize=7)
    ax = axes[2]
    ax.plot(steps, probes["lambda_min_ratio"], color="C0", marker="o", ms=3, label=r"$\lambda_{\min}(\Theta_t)/\lambda_{\min}(\Theta_0)$")
    ax.plot(steps, probes["kernel_change"], color="C4", marker="D", ms=3, label=r"$\|\Theta_t-\Theta_0\|_F/\|\Theta_0\|_F$")
    if exit_fraction is not None:
        ax.axhline(exit_fraction, **EXIT_STYLE, label=f"LPLR exit ({exit_fraction:g})")
    _legend(ax, fontsize=7)
    for ax in axes:
        symlog_steps(ax)
    fig.tight_layout()
    return fig


def eigenvalue_spectra(eigen: Mapping) -> plt.Figure:
    """The eigenvalues of Theta at every checkpoint, largest first, on a log axis (colour: the step)."""
    set_style()
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    steps = np.asarray(eigen["steps"])
    colors = plt.cm.viridis(np.linspace(0, 1, len(steps)))
    for k, (step, color) in enumerate(zip(steps, colors)):
        values = np.sort(np.asarray(eigen["eigenvalues"][k], float))[::-1]
        _plot_positive(ax, np.arange(1, len(values) + 1), values, color=color, lw=1.0, label=f"t = {int(step)}")
    ax.set(xscale="log", yscale="log", xlabel="index $i$ (largest first)", ylabel=r"$\lambda_i(\Theta_t)$")
    _legend(ax, fontsize=6, ncol=2)
    return fig


def residual_shares(probes: pd.DataFrame, eigen: Mapping, top_k: int | None = None) -> plt.Figure:
    """Left: the residual's share on the top-k and the bottom-half eigen-directions over the checkpoints
    (probes.csv). Right: at each checkpoint, each direction's share p_i / sum p of ||r||^2 against its
    eigenvalue lambda_i (eigenvalues.npz), so one sees which part of the spectrum the residual sits on."""
    set_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.0))
    label = f"top {top_k}" if top_k else "top k"
    left.plot(probes["step"], probes["share_top_k"], color="C3", marker="^", ms=3, label=f"share on the {label}")
    left.plot(probes["step"], probes["share_bottom_half"], color="C0", marker="o", ms=3, label="share on the bottom half")
    left.set(ylim=(-0.02, 1.02), ylabel=r"share of $\|r_t\|^2$")
    symlog_steps(left)
    _legend(left, fontsize=7)
    steps = np.asarray(eigen["steps"])
    colors = plt.cm.viridis(np.linspace(0, 1, len(steps)))
    for k, (step, color) in enumerate(zip(steps, colors)):
        p = np.asarray(eigen["projections"][k], float)
        if p.sum() > 0:
            right.scatter(positive(eigen["eigenvalues"][k]), positive(p / p.sum()), s=4, color=color, label=f"t = {int(step)}")
    right.set(xscale="log", yscale="log", xlabel=r"$\lambda_i(\Theta_t)$", ylabel=r"$p_i / \|r_t\|^2$")
    _legend(right, fontsize=6, ncol=2, markerscale=2)
    fig.tight_layout()
    return fig


def drift_and_accuracy(curve: pd.DataFrame) -> plt.Figure:
    """Relative drift ||theta_t - theta_0|| / ||theta_0|| per step; test accuracy at the checkpoints."""
    set_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.5, 2.8))
    drift = _evaluated(curve, "rel_drift")
    left.plot(drift["step"], drift["rel_drift"], color="C0")
    left.set(xlabel="step $t$", ylabel=r"$\|\theta_t-\theta_0\|/\|\theta_0\|$")
    test = _evaluated(curve, "test_accuracy")
    if test.empty:
        no_data(right, "no test accuracy recorded")
    else:
        right.plot(test["step"], test["test_accuracy"], color="C2", marker="o", ms=3)
        symlog_steps(right)
    right.set(ylabel="test accuracy", ylim=(-0.02, 1.02))
    fig.tight_layout()
    return fig
