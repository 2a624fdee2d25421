"""Beyond the paper (issue 23): He against depth-aware initialisation across depths, at a fixed eta lambda_max(Theta_0)/n."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from lplr.plots.style import interval_errorbar, level_styles, no_data, ordered, save, seeds_note, set_style

INIT_ORDER = ("he", "depth_aware")
SHIFT = {"he": 0.96, "depth_aware": 1.04}  # multiplicative x offsets on the log depth axis, so intervals do not overlap
PANELS = (  # (statistics drawn, y label, log y); the second statistic of a panel is drawn hollow and dashed
    (("mu_0",), r"$\mu_0 = \lambda_{\min}(\Theta_0)/n$", True),
    (("kernel_conditioning_0",), r"$\lambda_{\min}(\Theta_0)/\lambda_{\max}(\Theta_0)$", True),
    (("early_rate",), r"early rate $\log(L_0/L_{20})/20$", True),
    (("transient_ratio",), "early rate / late rate", True),
    (("t0", "linear_entry_step"), r"window start $t_0$ (filled), entry step (hollow)", False),
    (("decades",), r"decades $\log_{10}(L_0/L_T)$", False),
)


def exits_note(runs: pd.DataFrame) -> str:
    """'LPLR exits (probe): he 0/12, depth_aware 1/12 (D=12); tracked sharpness above 2 ...: he 1/12, ...' and
    the runs that did not complete."""
    inits = ordered(runs["init"], INIT_ORDER)
    done = runs[runs["status"] == "completed"]
    parts = []
    for init in inits:
        group = done[done["init"] == init]
        left = group[group["lplr_exit_step"].notna()]
        where = f" (D={','.join(str(d) for d in sorted(left['depth'].unique()))})" if len(left) else ""
        parts.append(f"{init} {len(left)}/{len(group)}{where}")
    failed = runs[runs["status"] != "completed"]
    note = "LPLR exits (probe): " + ", ".join(parts)
    larger = "sharpness_larger_max" if "sharpness_larger_max" in done else "sharpness_tracked_max"
    if larger in done:  # the regime each run reached, although each starts at the same eta*lambda_max/n
        note += "; sharpness above 2 (Gauss-Newton or Hessian): " + ", ".join(
            f"{init} {int((done.loc[done['init'] == init, larger] > 2).sum())}/"
            f"{int((done['init'] == init).sum())}" for init in inits)
    if len(failed):
        note += "\n" + "\n".join(f"{row['run']}: {row['status']}" + (f" at step {int(row['diverged_step'])}"
                                 if pd.notna(row.get("diverged_step")) else "") for _, row in failed.iterrows())
    return note


def depth_init(summary: pd.DataFrame, runs: pd.DataFrame, out: str | Path, confidence: float) -> None:
    """Per depth and init, the across-seed estimate with its interval (lplr.stats) of the kernel at step 0, the
    early transient, the entry into the linear regime and the decades reached; LPLR exits and failures noted."""
    set_style()
    inits = ordered(summary["init"], INIT_ORDER)
    styles = level_styles(inits)
    depths = sorted(summary["depth"].unique())
    fig, axes = plt.subplots(2, 3, figsize=(7.4, 4.6))
    for ax, (statistics, label, log_y) in zip(axes.flat, PANELS):
        drawn = False
        for k, stat in enumerate(statistics):
            for init in inits:
                rows = summary[(summary["statistic"] == stat) & (summary["init"] == init)].sort_values("depth")
                if rows.empty or rows["estimate"].isna().all():
                    continue
                style = styles[init]
                rows = rows.assign(x=rows["depth"] * SHIFT.get(init, 1.0))
                interval_errorbar(ax, rows, "x", color=style["color"], marker=style["marker"], ms=3.5, capsize=2.5,
                                  lw=1, ls="-" if k == 0 else "--", mfc=style["color"] if k == 0 else "white",
                                  label=init if k == 0 else f"{init}: {stat}")
                drawn = True
        if not drawn:
            no_data(ax, f"{', '.join(statistics)}: not available")
            continue
        ax.set(xscale="log", xlabel="depth $D$", ylabel=label)
        ax.yaxis.label.set_fontsize(7)
        ax.set_xticks(depths, [str(int(d)) for d in depths])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        if log_y:
            ax.set_yscale("log")
        if statistics == ("transient_ratio",):
            ax.axhline(1.0, color="0.5", ls=":", lw=0.9)
    handles = [c for c in axes.flat[0].containers if c.get_label() in inits]
    if handles:  # one legend for every panel: the inits' markers and colours are the same throughout
        axes.flat[0].legend(handles=handles, fontsize=6)
    fig.text(0.01, -0.01, exits_note(runs), fontsize=6, va="top", ha="left")
    shown = summary[summary["statistic"].isin([s for panel in PANELS for s in panel[0]])]
    fig.suptitle(r"He vs depth-aware init at a fixed $\eta\lambda_{\max}(\Theta_0)/n$ (beyond the paper): "
                 + (seeds_note(shown, confidence) if len(shown) else "no runs"), fontsize=7, y=1.02)
    fig.tight_layout()
    save(fig, out)

