"""E4 (CNN, mini-batch SGD) and E5 (the same across batch sizes)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lplr.plots.style import (SYMBOLS, headroom, interval_errorbar, level_label, level_styles, line_kw, mark_failures,
                              no_data, positive, save, seeds_note, set_style, short_runs)


def cnn_sgd(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path) -> None:
    """Full-batch gap against step per seed with the window line over [t0, t1] (rate c); log-log G against
    the gap with the fitted slope beta over the window and a slope-1 reference (G = 2 min rho gap)."""
    set_style()
    done = fits[(fits["status"] == "completed") & fits["run"].isin(list(curves))].sort_values("seed")
    styles = level_styles(list(done["run"]))
    by_seed = done["seed"].is_unique
    fig, (ax_gap, ax_pl) = plt.subplots(1, 2, figsize=(7.4, 2.9))
    gaps = []
    for _, row in done.iterrows():
        style, m = styles[row["run"]], curves[row["run"]]
        name = f"seed {row['seed']}" if by_seed else row["run"]
        kw = {**line_kw(style, True), "lw": 0.9}
        gap, grad = positive(m["gap"]), positive(m["grad_norm_sq"])
        windowed = bool(row["has_window"])
        ax_gap.plot(m["step"], gap, label=f"{name}: $c$={row['rate']:.3g}" if windowed else f"{name}: no window", **kw)
        ax_pl.plot(gap, grad, label=f"{name}: $\\beta$={row['pl_slope']:.2f}" if windowed else f"{name}: no window", **kw)
        gaps.append(gap[np.isfinite(gap)])
        if not windowed:
            continue
        ax_gap.plot(m["step"], m["window_line"], color="black", lw=1.0, ls=(0, (4, 2)))
        inside = (m["step"] >= row["t0"]) & (m["step"] <= row["t1"]) & np.isfinite(gap)
        if inside.any():
            g = np.geomspace(np.nanmin(gap[inside]), np.nanmax(gap[inside]), 10)
            ax_pl.plot(g, np.exp(row["pl_intercept"]) * g ** row["pl_slope"], color="black", lw=1.0, ls=(0, (4, 2)))
    ax_gap.plot([], [], color="black", lw=1.0, ls=(0, (4, 2)), label=r"fit over $[t_0, t_1]$")
    ax_pl.plot([], [], color="black", lw=1.0, ls=(0, (4, 2)), label=r"fitted slope $\beta$ over $[t_0, t_1]$")
    if gaps and np.concatenate(gaps).size:
        g = np.concatenate(gaps)
        ref = np.geomspace(g.min(), g.max(), 10)
        envelope = done["pl_envelope"].median() if done["pl_envelope"].notna().any() else 1.0
        ax_pl.plot(ref, 2 * envelope * ref, color="0.5", ls=":", lw=1.1, label=r"slope 1: $G = 2\min_t\rho_t\,(L-L^*)$")
    else:
        no_data(ax_gap, "no completed run")
    ax_gap.set(yscale="log", xlabel="step $t$", ylabel=r"full-batch $L_t - L^*$", title="mini-batch SGD")
    headroom(ax_gap, 0.3)
    ax_pl.set(xscale="log", yscale="log", xlabel=r"gap $L_t - L^*$", ylabel=r"$G_t = \|\nabla L(\theta_t)\|^2$")
    ax_gap.legend(fontsize=6, loc="lower left")
    ax_pl.legend(fontsize=6, loc="upper left")
    mark_failures(ax_gap, short_runs(fits))
    fig.tight_layout()
    save(fig, out)


def batch_size(summary: pd.DataFrame, out: str | Path, confidence: float,
               statistics=("rate", "rate_late", "pl_slope", "final_loss")) -> None:
    """Window rate, late rate (L* = 0), PL slope and final loss against batch size (log x): the across-seed
    estimate with its interval (lplr.stats)."""
    set_style()
    fixed = {"batch_size", "statistic", "estimate", "ci_low", "ci_high", "n", "n_runs", "coverage", "scale", "estimator"}
    others = [c for c in summary.columns if c not in fixed]
    series = list(summary.groupby(others, sort=True)) if others else [((), summary)]
    styles = level_styles(list(range(len(series))))
    fig, axes = plt.subplots(1, len(statistics), figsize=(2.5 * len(statistics), 2.4))
    for ax, stat in zip(np.atleast_1d(axes), statistics):
        drawn = pd.DataFrame()
        for i, (key, block) in enumerate(series):
            rows = block[block["statistic"] == stat].sort_values("batch_size")
            if rows.empty or rows["estimate"].isna().all():
                continue
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(level_label(c, v) for c, v in zip(others, key)) or None
            color = "black" if len(series) == 1 else styles[i]["color"]
            interval_errorbar(ax, rows, "batch_size", color=color, marker=styles[i]["marker"], ls=styles[i]["linestyle"],
                              ms=3.5, capsize=2.5, lw=1, label=label)
            drawn = pd.concat([drawn, rows])
        if drawn.empty:
            no_data(ax, f"{stat}: not available")
            continue
        ax.set(xscale="log", xlabel="batch size $B$", ylabel=SYMBOLS.get(stat, stat))
        if (drawn["scale"] == "log").all() and drawn["estimate"].max() > 10 * drawn["estimate"].min():
            ax.set_yscale("log")  # only where the values span a decade, else the axis has no labels
        if stat == "pl_slope":
            ax.axhline(1.0, color="0.5", ls=":", lw=0.9)
            ax.text(0.02, 1.0, r"$\beta = 1$", transform=ax.get_yaxis_transform(), fontsize=6, va="bottom", color="0.3")
        sizes = sorted(drawn["batch_size"].unique())
        ax.set_xticks(sizes, [str(int(b)) for b in sizes])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        if len(series) > 1:
            ax.legend(fontsize=5.5)
    fig.suptitle("mini-batch SGD: " + seeds_note(summary[summary["statistic"].isin(statistics)], confidence), fontsize=7,
                 y=1.02)
    fig.tight_layout()
    save(fig, out)
