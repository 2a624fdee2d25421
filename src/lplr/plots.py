"""The paper's figures, drawn from tidy tables; one style, vector PDF plus PNG, readable in greyscale.

Widths are told apart by a sequential palette (luminance falls with width) and by line style and
marker, so the figures survive greyscale printing. Runs that diverged or have no linear window are
marked in the panel instead of breaking it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from lplr.io import atomic_path  # noqa: E402

LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P"]
SYMBOLS = {
    "final_loss": r"final loss $L_T$",
    "rate": r"linear rate $c$ (per step)",
    "pl_envelope": r"PL envelope $\min_t \rho_t$",
    "mu_0": r"$\mu_0 = \lambda_{\min}(\Theta_0)/n$",
    "final_rel_drift": r"$\|\theta_T-\theta_0\| / \|\theta_0\|$",
    "pl_slope": r"PL slope $\beta$",
}


def set_style() -> None:
    sns.set_theme(context="paper", style="ticks", font_scale=0.95,
                  rc={"pdf.fonttype": 42, "axes.spines.top": False, "axes.spines.right": False,
                      "figure.dpi": 150, "savefig.bbox": "tight"})


def palette(levels) -> dict:
    colors = sns.color_palette("crest", n_colors=len(levels)) if len(levels) > 1 else [sns.color_palette("crest")[3]]
    return dict(zip(levels, colors))


def save(fig: plt.Figure, pdf_path: str | Path) -> None:
    """Write NAME.pdf and NAME.png beside it, atomically."""
    pdf_path = Path(pdf_path)
    for path in (pdf_path, pdf_path.with_suffix(".png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:])
    plt.close(fig)


def _style(i: int) -> dict:
    return {"linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)], "markevery": 0.2}


def _mark_failures(ax, fits: pd.DataFrame) -> None:
    notes = []
    for _, row in fits.iterrows():
        if row["status"] != "completed":
            notes.append(f"{row['run']}: diverged at step {int(row['diverged_step'])}")
        elif not row["has_window"]:
            notes.append(f"{row['run']}: no linear window")
    if notes:
        ax.text(0.98, 0.98, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=6,
                bbox={"facecolor": "white", "edgecolor": "0.6", "alpha": 0.9})


def loss_decay(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], linearised: dict[str, np.ndarray],
               out: str | Path, seed: int | None = None) -> None:
    """Gap L_t - L* on a log axis against step, one panel per width; fitted line over the window; linearised model dashed."""
    set_style()
    widths = sorted(fits["width"].unique())
    seed = fits["seed"].min() if seed is None else seed
    fig, axes = plt.subplots(1, len(widths), figsize=(1.9 * len(widths) + 0.6, 2.3), sharey=True, squeeze=False)
    colors = palette(widths)
    for ax, width in zip(axes[0], widths):
        group = fits[fits["width"] == width]
        for _, row in group[group["status"] == "completed"].iterrows():  # diverged runs: noted, not drawn
            m = curves[row["run"]]
            gap = m["loss"] - row["lstar"]
            thick = row["seed"] == seed
            ax.plot(m["step"], gap, color=colors[width], lw=1.2 if thick else 0.6, alpha=1 if thick else 0.45,
                    label="gap $L_t-L^*$" if thick else None)
            if thick and row["has_window"]:
                t = np.array([row["t0"], row["t1"]])
                ax.plot(t, np.exp(np.log(gap.iloc[int(row["t0"])]) - row["rate"] * (t - row["t0"])), color="black",
                        lw=1.0, label=f"fit, $c$={row['rate']:.2g}")
            if thick and row["run"] in linearised:
                ax.plot(m["step"], linearised[row["run"]], color="0.35", ls="--", lw=0.9, label="linearised (NTK at $t=0$)")
        ax.set_yscale("log")
        ax.set_title(f"$m$ = {width}")
        ax.set_xlabel("step $t$")
        _mark_failures(ax, group)
        ax.legend(fontsize=6, loc="lower left")
    axes[0][0].set_ylabel(r"$L_t - L^*$")
    save(fig, out)


def pl_scaling(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path) -> None:
    """log-log G_t against the gap, per width (lowest completed seed), with the fitted slope beta and a reference slope 1."""
    set_style()
    widths = sorted(fits["width"].unique())
    colors = palette(widths)
    fig, ax = plt.subplots(figsize=(3.6, 2.9))
    gaps = []
    for i, width in enumerate(widths):
        chosen = fits[(fits["width"] == width) & (fits["status"] == "completed")].sort_values("seed")
        if chosen.empty:
            continue
        row = chosen.iloc[0]
        m = curves[row["run"]]
        gap = m["loss"] - row["lstar"]
        keep = gap > 0
        label = f"$m$={width}, $\\beta$={row['pl_slope']:.2f}" if row["has_window"] else f"$m$={width}, no window"
        ax.plot(gap[keep], m["grad_norm_sq"][keep], color=colors[width], lw=1.0, label=label, **_style(i))
        gaps.append(gap[keep])
    g = np.concatenate([np.asarray(x) for x in gaps])
    ref = np.geomspace(g.min(), g.max(), 10)
    anchor = fits["pl_envelope"].median() * 2 if fits["pl_envelope"].notna().any() else 1.0
    ax.plot(ref, anchor * ref, color="0.5", ls=":", lw=1, label="slope 1 (constant PL ratio)")
    ax.set(xscale="log", yscale="log", xlabel=r"gap $L_t - L^*$", ylabel=r"$G_t = \|\nabla L(\theta_t)\|^2$")
    ax.legend(fontsize=6)
    _mark_failures(ax, fits)
    save(fig, out)


def width_ablation(summary: pd.DataFrame, out: str | Path, confidence: float, drift_slope: dict | None = None,
                   statistics=("final_loss", "rate", "pl_envelope", "mu_0", "final_rel_drift")) -> None:
    """Each statistic against width: mean across seeds with its t-interval."""
    set_style()
    fig, axes = plt.subplots(1, len(statistics), figsize=(2.1 * len(statistics), 2.3))
    for ax, stat in zip(np.atleast_1d(axes), statistics):
        rows = summary[summary["statistic"] == stat].sort_values("width")
        if rows.empty:
            ax.text(0.5, 0.5, f"{stat}: not available", transform=ax.transAxes, ha="center")
            continue
        err = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
        ax.errorbar(rows["width"], rows["mean"], yerr=np.nan_to_num(err), color="black", marker="o", ms=3.5,
                    capsize=2.5, lw=1)
        ax.set(xscale="log", xlabel="width $m$", ylabel=SYMBOLS.get(stat, stat))
        if (rows["mean"] > 0).all():
            ax.set_yscale("log")
        ax.set_xticks(rows["width"], [str(int(w)) for w in rows["width"]])
        ax.minorticks_off()
        if stat == "final_rel_drift" and drift_slope is not None:
            ax.set_title(f"log-log slope {drift_slope['slope']:.2f}", fontsize=7)
    fig.suptitle(f"mean over {int(summary['n_seeds'].max())} seeds, {confidence:.0%} t-intervals", fontsize=7, y=1.02)
    fig.tight_layout()
    save(fig, out)
