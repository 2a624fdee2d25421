"""E2: He against depth-aware initialisation, at equal eta and at equal eta lambda_max(Theta_0)/n."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from lplr.plots.style import (condition_of, is_thick, level_styles, line_kw, mark_failures, ordered, positive, save,
                              set_style, short_runs, value_at)

COMPARISONS = {"fixed": "equal eta", "calibrated": "equal sharpness"}  # what lr_mode holds equal across inits
COMPARISON_TITLES = {"equal eta": r"equal $\eta$", "equal sharpness": r"equal $\eta\,\lambda_{\max}(\Theta_0)/n$"}
INIT_ORDER = ("he", "depth_aware")


def init_comparison(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path,
                    transient_steps: int = 20) -> None:
    """Gap against step for he vs depth_aware, one column per comparison (equal eta / equal sharpness), window
    start t0 marked (time to enter the linear regime); second row: the loss over the first `transient_steps`."""
    set_style()
    comparison = condition_of(fits, "lr_mode").map(COMPARISONS).fillna("all")
    comparisons = ordered(comparison, tuple(COMPARISON_TITLES))
    inits = condition_of(fits, "init")
    styles = level_styles(ordered(inits, INIT_ORDER))
    fig, axes = plt.subplots(2, len(comparisons), figsize=(3.3 * len(comparisons), 4.6), squeeze=False,
                             gridspec_kw={"height_ratios": [1.6, 1]})
    for col, value in enumerate(comparisons):
        top, zoom = axes[0][col], axes[1][col]
        block = fits[comparison == value]
        for init, style in styles.items():
            group = block[inits[block.index] == init]
            done = group[(group["status"] == "completed") & group["run"].isin(list(curves))]
            if done.empty:
                continue
            windowed = done[done["has_window"].astype(bool)]
            label = (f"{init}: $\\eta$={done['eta'].mean():.3g}, $\\eta\\lambda_{{\\max}}/n$={done['sharpness_0'].mean():.2f}\n"
                     + (f"$c$={windowed['rate'].mean():.3g}, $t_0$={windowed['t0'].median():.0f}" if len(windowed)
                        else "no linear window") + f" ({len(windowed)}/{len(group)} runs with a window)")
            for _, row in done.sort_values("seed").iterrows():
                m, thick = curves[row["run"]], is_thick(row, group)
                gap = positive(m["gap"])
                top.plot(m["step"], gap, label=label if thick else None, **line_kw(style, thick))
                if row["has_window"]:
                    at = value_at(pd.DataFrame({"step": m["step"], "gap": gap}), "gap", row["t0"])
                    top.plot([row["t0"]], [at], ls="none", marker=style["marker"], ms=6 if thick else 4, mfc="white",
                             mec=style["color"], mew=1.2, zorder=5)
                    if thick:
                        top.axvline(row["t0"], color=style["color"], ls=":", lw=0.9)
                early = m[m["step"] <= transient_steps]
                zoom.plot(early["step"], early["loss"], **line_kw(style, thick, markevery=1))
        top.set_yscale("log")
        top.set_title(COMPARISON_TITLES.get(value, str(value)))
        top.set_xlabel("step $t$")
        top.plot([], [], ls=":", marker="o", mfc="white", color="0.3", label="window start $t_0$")
        top.legend(fontsize=5.5, loc="lower left")
        mark_failures(top, short_runs(block))
        zoom.set(xlabel="step $t$", xlim=(0, transient_steps), title=f"first {transient_steps} steps")
        zoom.title.set_fontsize(7)
    axes[0][0].set_ylabel(r"$L_t - L^*$")
    axes[1][0].set_ylabel(r"$L_t$")
    fig.tight_layout()
    save(fig, out)
