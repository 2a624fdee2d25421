"""The one style every figure shares: theme, palettes, line and marker per condition level, saving.

Conventions: a condition level (a width, a step, an init) keeps one colour, line style and marker in
every panel (`level_styles`), so figures survive greyscale printing; among the seeds of a level the
lowest completed seed is drawn thick, the others thin (`is_thick`); runs that diverged or have no
linear window are listed in a panel note (`mark_failures`), never drawn as if they were fits.
Figures draw only what lplr.analysis wrote: nothing here computes a statistic.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from lplr.formatting import SEPARATOR, format_value, parse_run_id  # noqa: E402
from lplr.io import atomic_path  # noqa: E402
from lplr.provenance import figure_metadata  # noqa: E402

LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P"]
SYMBOLS = {
    "final_loss": r"final loss $L_T$",
    "rate": r"window rate $c$ (per step)",
    "rate_late": r"late rate, $L^*=0$ (per step)",
    "rate_early": r"early rate, $L^*=0$ (per step)",
    "pl_envelope": r"PL envelope $\min_t \rho_t$",
    "mu_0": r"$\mu_0 = \lambda_{\min}(\Theta_0)/n$",
    "final_rel_drift": r"$\|\theta_T-\theta_0\| / \|\theta_0\|$",
    "pl_slope": r"PL slope $\beta$",
    "share_top_k_0": r"share of $\|r_0\|^2$ on top-$k$",
}
CONDITION_SYMBOLS = {"width": "$m$", "lr": "lr", "batch_size": "$B$", "init": "init", "channels": "channels"}


def set_style() -> None:
    sns.set_theme(context="paper", style="ticks", font_scale=0.95,
                  rc={"pdf.fonttype": 42, "axes.spines.top": False, "axes.spines.right": False,
                      "figure.dpi": 150, "savefig.bbox": "tight"})


def palette(levels) -> dict:
    colors = sns.color_palette("crest", n_colors=len(levels)) if len(levels) > 1 else [sns.color_palette("crest")[3]]
    return dict(zip(levels, colors))


def level_styles(levels) -> dict:
    colors = palette(levels)
    return {level: {"color": colors[level], "linestyle": LINESTYLES[i % len(LINESTYLES)],
                    "marker": MARKERS[i % len(MARKERS)]} for i, level in enumerate(levels)}


def line_kw(style: dict, thick: bool, markevery=0.2) -> dict:
    return {"color": style["color"], "linestyle": style["linestyle"], "marker": style["marker"],
            "markevery": markevery, "ms": 3.0 if thick else 2.0, "lw": 1.3 if thick else 0.6,
            "alpha": 1.0 if thick else 0.5}


def save(fig: plt.Figure, pdf_path: str | Path) -> None:
    """Write NAME.pdf and NAME.png beside it, atomically, with the provenance in their metadata."""
    pdf_path = Path(pdf_path)
    for path in (pdf_path, pdf_path.with_suffix(".png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], metadata=figure_metadata(path.suffix[1:]))
    plt.close(fig)


def mark_failures(ax, fits: pd.DataFrame) -> None:
    notes = []
    for _, row in fits.iterrows():
        if row["status"] != "completed":
            step = row.get("diverged_step")
            notes.append(f"{row['run']}: diverged" + (f" at step {int(step)}" if pd.notna(step) else ""))
        elif not row["has_window"]:
            notes.append(f"{row['run']}: no linear window")
    if notes:
        ax.text(0.98, 0.98, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=6,
                bbox={"facecolor": "white", "edgecolor": "0.6", "alpha": 0.9})


def condition_of(fits: pd.DataFrame, condition: str) -> pd.Series:
    """Each run's level of `condition`, from the run id where every id names it, else from the column.

    The run id is the authority: under a calibrated step the fit table's `eta` is the step actually used
    (per seed), not the configured level.
    """
    parsed = fits["run"].map(lambda run: parse_run_id(run).get(condition))
    if len(parsed) and parsed.notna().all():
        return parsed
    if condition in fits:
        return fits[condition]
    return pd.Series(["all"] * len(fits), index=fits.index)


def short_runs(fits: pd.DataFrame) -> pd.DataFrame:
    """`fits` with run ids shortened to the settings that vary within it (the seed always kept)."""
    parsed = [parse_run_id(run) for run in fits["run"]]
    keys = list(dict.fromkeys(key for settings in parsed for key in settings))
    varying = [key for key in keys if key == "seed" or len({str(s.get(key)) for s in parsed}) > 1]
    short = [SEPARATOR.join(f"{key}={format_value(settings[key])}" for key in varying if key in settings) or run
             for settings, run in zip(parsed, fits["run"])]
    return fits.assign(run=short)


def ordered(values, preferred=()) -> list:
    values = list(pd.unique(pd.Series(values).dropna()))
    head = [v for v in preferred if v in values]
    try:
        rest = sorted(v for v in values if v not in head)
    except TypeError:
        rest = [v for v in values if v not in head]
    return head + rest


def level_label(condition: str, level) -> str:
    return f"{CONDITION_SYMBOLS.get(condition, condition)} = {format_value(level)}"


def positive(values) -> np.ndarray:
    """NaN wherever a value cannot sit on a log axis."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def is_thick(row, group: pd.DataFrame) -> bool:
    """The lowest completed seed of a group is drawn thick."""
    done = group[group["status"] == "completed"]
    return len(done) > 0 and row["seed"] == done["seed"].min()


def value_at(frame: pd.DataFrame, column: str, step: float) -> float:
    return float(frame.iloc[(frame["step"] - step).abs().argmin()][column])


def symlog_steps(ax) -> None:
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.6)
    ax.set_xlim(left=0)
    ax.set_xlabel("step $t$ (symlog)")


def headroom(ax, fraction: float = 0.35) -> None:
    """Room above the data on a log y axis for the failure note in the upper right."""
    low, high = ax.get_ylim()
    if low > 0 and high > low:
        ax.set_ylim(low, high * (high / low) ** fraction)


def no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=7, color="0.3")


def interval_errorbar(ax, rows: pd.DataFrame, x: str, **kw) -> None:
    """rows' estimate with [ci_low, ci_high] as error bars (bounds that are NaN, e.g. one seed, drawn as none)."""
    err = np.vstack([rows["estimate"] - rows["ci_low"], rows["ci_high"] - rows["estimate"]])
    ax.errorbar(rows[x], rows["estimate"], yerr=np.nan_to_num(err), **kw)


def seeds_note(summary: pd.DataFrame, confidence: float) -> str:
    """'n = 3 of 3 runs per condition, 95% intervals on each statistic's scale' (n as a range if it varies)."""
    n, runs = summary["n"], summary["n_runs"]
    count = f"{int(n.max())}" if n.min() == n.max() else f"{int(n.min())}-{int(n.max())}"
    return f"n = {count} of {int(runs.max())} runs per condition; {confidence:.0%} intervals (geometric for positive quantities)"
