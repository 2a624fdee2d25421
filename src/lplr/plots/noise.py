"""Beyond the paper (issue 23): mini-batch SGD against full-batch GD per step, with the gradient noise scale
B_noise = tr(Sigma) / |grad L|^2 of the probe (lplr.noise) and the descent lemma's critical batch
B* = s B_noise n / ((2 - s)(n - 1) + s B_noise), s = eta lambda_max(Theta_t) / n: a batch well above B* decreases
the loss per step like GD."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from lplr.plots.style import (condition_of, is_thick, level_label, level_styles, line_kw, mark_failures, no_data,
                              ordered, positive, save, set_style, short_runs, symlog_steps)


def _runs_by_batch(fits: pd.DataFrame):
    """[(batch size, style, completed runs of that size)], largest batch (the GD reference) first."""
    level_of = pd.to_numeric(condition_of(fits, "batch_size"), errors="coerce")
    levels = ordered(level_of)[::-1]
    # a qualitative palette: three or four batch sizes on the sequential one came out as near-identical blues
    styles = {b: {**style, "color": color} for (b, style), color in
              zip(level_styles(levels).items(), sns.color_palette("colorblind", n_colors=len(levels)))}
    return [(b, styles[b], fits[(level_of == b) & (fits["status"] == "completed")].sort_values("seed")) for b in levels]


def _along_training(ax, groups, probes: dict, column: str) -> bool:
    drawn = False
    for batch, style, group in groups:
        for _, row in group.iterrows():
            p = probes.get(row["run"])
            if p is None or column not in p or p[column].isna().all():
                continue
            thick = is_thick(row, group)
            ax.plot(p["step"], positive(p[column]), **line_kw(style, thick, markevery=1),
                    label=level_label("batch_size", int(batch)) if thick else None)
            drawn = True
    return drawn


def _critical_panel(ax, groups, probes: dict) -> None:
    """B*_t along training, with each mini-batch size used as a horizontal line: above the curve, per step like GD."""
    if not _along_training(ax, groups, probes, "critical_batch"):
        no_data(ax, "no noise scale probed")
        return
    n = max((int(g["n_train"].max()) for _, _, g in groups if len(g)), default=0)
    for batch, style, _ in groups:
        if batch < n:
            ax.axhline(batch, color=style["color"], ls=":", lw=1.0)
            ax.text(0.99, batch, f"$B$ = {int(batch)}", transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    fontsize=6, color=style["color"])
    ax.set(yscale="log", ylabel=r"critical batch $B^*_t$")
    ax.text(0.02, 0.97, r"$B > B^*_t$: per step like GD (descent lemma)", transform=ax.transAxes, fontsize=6, va="top")
    symlog_steps(ax)


def _loss_panel(ax, groups, curves: dict, fits: pd.DataFrame) -> None:
    """Full-batch L_t against step for every run; the legend gives each batch size's rate over GD's (geometric mean)."""
    for batch, style, group in groups:
        ratio = positive(group["rate_over_full_batch"]) if "rate_over_full_batch" in group else np.array([np.nan])
        ratio = ratio[np.isfinite(ratio)]
        note = f": rate/GD {np.exp(np.log(ratio).mean()):.3f}" if len(ratio) else " (GD)"
        for _, row in group.iterrows():
            c = curves.get(row["run"])
            if c is None:
                continue
            thick = is_thick(row, group)
            ax.plot(c["step"], positive(c["loss"]), **{**line_kw(style, thick), "marker": None},
                    label=level_label("batch_size", int(batch)) + note if thick else None)
    ax.set(yscale="log", xlabel="step $t$ (per step, not per epoch)", ylabel=r"full-batch loss $L_t$")
    ax.legend(fontsize=6, loc="lower left")
    mark_failures(ax, short_runs(fits[fits["status"] != "completed"]))


def _ratio_panel(ax, groups, threshold: float) -> None:
    """Each SGD run's per-step rate over its seed's GD run against B / B*_0 (log x)."""
    drawn = False
    for batch, style, group in groups:
        if not {"rate_over_full_batch", "batch_over_critical"} <= set(group) or group["rate_over_full_batch"].isna().all():
            continue
        ax.plot(group["batch_over_critical"], group["rate_over_full_batch"], ls="none", marker=style["marker"], ms=4,
                color=style["color"], label=level_label("batch_size", int(batch)))
        drawn = True
    if not drawn:
        no_data(ax, "no SGD run with a full-batch run of its seed")
        return
    ax.axhline(threshold, color="0.4", ls="--", lw=0.9)
    ax.text(0.02, threshold, f"claim threshold {threshold:g}", transform=ax.get_yaxis_transform(), fontsize=6,
            va="bottom", color="0.3")
    ax.axvline(1.0, color="0.5", ls=":", lw=0.9)
    ax.set(xscale="log", xlabel=r"$B / B^*_0$ (critical batch at step 0)", ylabel="SGD rate / GD rate (per step)")
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, threshold - 0.05), max(high, 1.05))
    ax.legend(fontsize=6, loc="lower right")


def sgd_noise(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], probes: dict[str, pd.DataFrame], out: str | Path,
              threshold: float = 0.8) -> None:
    """(a) B_noise along training per batch size; (b) the critical batch B*_t with the batch sizes used; (c) the
    full-batch loss per step, SGD against GD; (d) per-step rate over GD's against B / B*_0."""
    set_style()
    groups = _runs_by_batch(fits)
    fig, axes = plt.subplots(2, 2, figsize=(7.4, 5.2))
    noise, critical, loss, ratio = axes.ravel()
    if _along_training(noise, groups, probes, "b_noise"):
        noise.set(yscale="log", ylabel=r"noise scale $B_{\rm noise} = \mathrm{tr}\,\Sigma / |\nabla L|^2$")
        noise.legend(fontsize=6, loc="upper left")
        symlog_steps(noise)
    else:
        no_data(noise, "no noise scale probed")
    _critical_panel(critical, groups, probes)
    _loss_panel(loss, groups, curves, fits)
    _ratio_panel(ratio, groups, threshold)
    fig.suptitle("mini-batch SGD against full-batch GD at the same $\\eta$ (beyond the paper)", fontsize=8)
    fig.tight_layout()
    save(fig, out)
