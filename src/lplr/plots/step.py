"""E3: one width at a larger and a smaller step: gap, drift, lambda_min and leaving the LPLR."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lplr.formatting import format_value
from lplr.plots.style import (condition_of, is_thick, level_styles, line_kw, mark_failures, ordered, positive, save,
                              set_style, short_runs, value_at)


def step_size(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], spectra: dict[str, pd.DataFrame],
              out: str | Path, exit_fraction: float = 0.5) -> None:
    """Loss (L* = 0), relative drift and lambda_min ratio against step per step size, and the drift against eta t (matched
    eta t: the step sizes compared at equal 'time'); each run's LPLR exit dotted."""
    set_style()
    level_of = condition_of(fits, "lr")
    styles = level_styles(ordered(level_of))
    fig, (ax_gap, ax_drift, ax_ratio, ax_time) = plt.subplots(1, 4, figsize=(10.4, 2.6))
    ax_drift.sharex(ax_gap)
    ax_ratio.sharex(ax_gap)
    exits, handles = 0, []
    for level, style in styles.items():
        group = fits[level_of == level]
        done = group[group["status"] == "completed"]
        if done.empty:
            continue
        label = (f"lr = {format_value(level)}: $\\eta$={done['eta'].mean():.3g}, "
                 f"$\\eta\\lambda_{{\\max}}/n$={done['sharpness_0'].mean():.2f}")
        handles.append(plt.Line2D([], [], **line_kw(style, True), label=label))
        for _, row in done.sort_values("seed").iterrows():
            kw = line_kw(style, is_thick(row, group))
            if row["run"] in curves:
                m = curves[row["run"]]
                ax_gap.plot(m["step"], positive(m["loss"]), **kw)  # L* = 0, as every claim
                ax_drift.plot(m["step"], positive(m["rel_drift"]), **kw)
                ax_time.plot(row["eta"] * m["step"], positive(m["rel_drift"]), **kw)
            spectrum = spectra.get(row["run"])
            if spectrum is not None and len(spectrum):
                ax_ratio.plot(spectrum["step"], spectrum["lambda_min_ratio"], **{**kw, "markevery": 1})
            step = row["lplr_exit_step"]
            if np.isfinite(step):
                exits += 1
                for ax in (ax_gap, ax_drift, ax_ratio):
                    ax.axvline(step, color=style["color"], ls=":", lw=1.1 if kw["lw"] > 1 else 0.6)
                if spectrum is not None and len(spectrum):
                    ax_ratio.plot([step], [value_at(spectrum, "lambda_min_ratio", step)], ls="none", marker="X", ms=6,
                                  mfc=style["color"], mec="black", mew=0.6, zorder=5)
    ax_ratio.axhline(exit_fraction, color="0.4", ls="--", lw=0.9)
    handles += [plt.Line2D([], [], color="0.4", ls="--", lw=0.9, label=f"exit fraction {exit_fraction:g}"),
                plt.Line2D([], [], color="0.3", ls=":", marker="X", mec="black", label="leaves the LPLR")]
    if not exits:
        ax_ratio.text(0.03, 0.03, "no run leaves the LPLR", transform=ax_ratio.transAxes, fontsize=6.5, color="0.3")
    ax_gap.set(yscale="log", ylabel=r"$L_t$ ($L^*=0$)", xlabel="step $t$")
    ax_drift.set(yscale="log", ylabel=r"$\|\theta_t-\theta_0\| / \|\theta_0\|$", xlabel="step $t$")
    ax_ratio.set(ylabel=r"$\lambda_{\min}(\Theta_t) / \lambda_{\min}(\Theta_0)$", xlabel="step $t$ (markers: probes)")
    ax_time.set(yscale="log", ylabel=r"$\|\theta_t-\theta_0\| / \|\theta_0\|$", xlabel=r"$\eta t$ (matched $\eta t$)")
    mark_failures(ax_gap, short_runs(fits))
    fig.tight_layout()
    fig.legend(handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 3),
               frameon=False)
    save(fig, out)
