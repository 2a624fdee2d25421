"""The paper's figures, drawn from tidy tables; one style, vector PDF plus PNG, readable in greyscale.

Widths are told apart by a sequential palette (luminance falls with width) and by line style and
marker, so the figures survive greyscale printing. Runs that diverged or have no linear window are
marked in the panel instead of breaking it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

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
            step = row.get("diverged_step")
            notes.append(f"{row['run']}: diverged" + (f" at step {int(step)}" if pd.notna(step) else ""))
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
                at_t0 = float(gap[m["step"] == row["t0"]].iloc[0])
                ax.plot(t, at_t0 * np.exp(-row["rate"] * (t - row["t0"])), color="black",
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
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # y keeps its minor ticks: short log ranges need them
        if stat == "final_rel_drift" and drift_slope is not None:
            ax.set_title(f"log-log slope {drift_slope['slope']:.2f}", fontsize=7)
    fig.suptitle(f"mean over {int(summary['n_seeds'].max())} seeds, {confidence:.0%} t-intervals", fontsize=7, y=1.02)
    fig.tight_layout()
    save(fig, out)


# ---------------------------------------------------------------------------------------------------
# E2-E6: init comparison, step size, NTK stability, PL ratio, SGD CNN, batch size.
# Conventions shared by these figures: a condition level keeps one colour, line style and marker in
# every panel; among the seeds of a level the lowest completed seed is drawn thick, the others thin;
# runs that diverged or have no linear window are listed in a panel note (_mark_failures), never drawn
# as if they were fits.
# ---------------------------------------------------------------------------------------------------

CONDITION_SYMBOLS = {"width": "$m$", "lr": "lr", "batch_size": "$B$", "init": "init", "channels": "channels"}
COMPARISON_TITLES = {"equal eta": r"equal $\eta$", "equal sharpness": r"equal $\eta\,\lambda_{\max}(\Theta_0)/n$"}
INIT_ORDER = ("he", "depth_aware")


def _parse_run(run_id: str) -> dict:
    """'width=64,seed=0' -> {'width': 64, 'seed': 0} (numbers parsed, everything else kept as text)."""
    settings = {}
    for part in str(run_id).split(","):
        key, sep, value = part.partition("=")
        if not sep:
            continue
        for cast in (int, float):
            try:
                settings[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            settings[key] = value
    return settings


def _condition(fits: pd.DataFrame, condition: str) -> pd.Series:
    """Each run's level of `condition`, from the run id where every id names it, else from the column.

    The run id is the authority: the fit table's `lr` column is the step size actually used (per seed
    under a calibrated step), not the configured level.
    """
    parsed = fits["run"].map(lambda run: _parse_run(run).get(condition))
    if len(parsed) and parsed.notna().all():
        return parsed
    if condition in fits:
        return fits[condition]
    return pd.Series(["all"] * len(fits), index=fits.index)


def _short_runs(fits: pd.DataFrame) -> pd.DataFrame:
    """`fits` with run ids shortened to the settings that vary within it (the seed always kept), so the
    failure notes of _mark_failures stay inside the panel."""
    parsed = [_parse_run(run) for run in fits["run"]]
    keys = list(dict.fromkeys(key for settings in parsed for key in settings))
    varying = [key for key in keys if key == "seed" or len({str(s.get(key)) for s in parsed}) > 1]
    short = [",".join(f"{key}={settings[key]}" for key in varying if key in settings) or run
             for settings, run in zip(parsed, fits["run"])]
    return fits.assign(run=short)


def _ordered(values, preferred=()) -> list:
    values = list(pd.unique(pd.Series(values).dropna()))
    head = [v for v in preferred if v in values]
    try:
        rest = sorted(v for v in values if v not in head)
    except TypeError:
        rest = [v for v in values if v not in head]
    return head + rest


def _level_label(condition: str, level) -> str:
    value = f"{level:g}" if isinstance(level, (int, float, np.number)) and not isinstance(level, bool) else str(level)
    return f"{CONDITION_SYMBOLS.get(condition, condition)} = {value}"


def _positive(values) -> np.ndarray:
    """NaN wherever a value cannot sit on a log axis."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _gap(metrics: pd.DataFrame, lstar: float) -> tuple[np.ndarray, np.ndarray]:
    """(steps, gap L_t - L*), non-positive or non-finite gaps NaN."""
    lstar = lstar if np.isfinite(lstar) else 0.0
    return metrics["step"].to_numpy(float), _positive(metrics["loss"].to_numpy(float) - lstar)


def _thick(row, group: pd.DataFrame) -> bool:
    """The lowest completed seed of a group is drawn thick."""
    done = group[group["status"] == "completed"]
    return len(done) > 0 and row["seed"] == done["seed"].min()


def _window_line(steps: np.ndarray, gap: np.ndarray, row) -> tuple[np.ndarray, np.ndarray] | None:
    """The fitted gap ~ exp(-c t) over [t0, t1]. The fit table keeps the slope only, so the level is the
    least-squares intercept of log gap + c t inside the window (the line sits on the data it was fitted to)."""
    if not row["has_window"] or not np.isfinite(row["rate"]):
        return None
    inside = (steps >= row["t0"]) & (steps <= row["t1"]) & np.isfinite(gap)
    if not inside.any():
        return None
    level = np.mean(np.log(gap[inside]) + row["rate"] * steps[inside])
    t = np.array([row["t0"], row["t1"]], dtype=float)
    return t, np.exp(level - row["rate"] * t)


def _exit_step(row, spectra: dict, exit_fraction: float) -> float:
    """The run's LPLR exit at `exit_fraction`, from its spectrum (so marks agree with the drawn fraction);
    the fit table's lplr_exit_step where there is no spectrum."""
    spectrum = spectra.get(row["run"])
    if spectrum is not None and len(spectrum):
        from lplr.fit import lplr_exit_step
        return lplr_exit_step(spectrum, exit_fraction)
    return float(row.get("lplr_exit_step", np.nan))


def _value_at(frame: pd.DataFrame, column: str, step: float) -> float:
    return float(frame.iloc[(frame["step"] - step).abs().argmin()][column])


def _level_styles(levels) -> dict:
    colors = palette(levels)
    return {level: {"color": colors[level], "linestyle": LINESTYLES[i % len(LINESTYLES)],
                    "marker": MARKERS[i % len(MARKERS)]} for i, level in enumerate(levels)}


def _line_kw(style: dict, thick: bool, markevery=0.2) -> dict:
    return {"color": style["color"], "linestyle": style["linestyle"], "marker": style["marker"],
            "markevery": markevery, "ms": 3.0 if thick else 2.0, "lw": 1.3 if thick else 0.6,
            "alpha": 1.0 if thick else 0.5}


def _symlog_steps(ax) -> None:
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.6)
    ax.set_xlim(left=0)
    ax.set_xlabel("step $t$ (symlog)")


def _headroom(ax, fraction: float = 0.35) -> None:
    """Room above the data on a log y axis for the failure note in the upper right."""
    low, high = ax.get_ylim()
    if low > 0 and high > low:
        ax.set_ylim(low, high * (high / low) ** fraction)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=7, color="0.3")


def init_comparison(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path,
                    transient_steps: int = 20) -> None:
    """E2: gap against step for he vs depth_aware, one column per comparison (equal eta / equal sharpness),
    window start t0 marked (time to enter the linear regime); second row: the first `transient_steps` steps."""
    set_style()
    comparison = _condition(fits, "comparison")
    comparisons = _ordered(comparison, tuple(COMPARISON_TITLES))
    inits = _condition(fits, "init")
    styles = _level_styles(_ordered(inits, INIT_ORDER))
    fig, axes = plt.subplots(2, len(comparisons), figsize=(3.3 * len(comparisons), 4.6), squeeze=False,
                             gridspec_kw={"height_ratios": [1.6, 1]})
    for col, value in enumerate(comparisons):
        top, zoom = axes[0][col], axes[1][col]
        block = fits[comparison == value]
        for init, style in styles.items():
            group = block[inits[block.index] == init]
            done = group[group["status"] == "completed"]
            if done.empty:
                continue
            t0 = done.loc[done["has_window"].astype(bool), "t0"]
            rates = done.loc[done["has_window"].astype(bool), "rate"]
            label = (f"{init}: $\\eta$={done['eta'].mean():.3g}, $\\eta\\lambda_{{\\max}}/n$={done['sharpness_0'].mean():.2f}\n"
                     + (f"$c$={rates.mean():.3g}, $t_0$={t0.mean():.0f}" if len(t0) else "no linear window")
                     + f" ({len(done)} seeds)")
            for _, row in done.sort_values("seed").iterrows():
                if row["run"] not in curves:
                    continue
                m = curves[row["run"]]
                thick = _thick(row, group)
                steps, gap = _gap(m, row["lstar"])
                top.plot(steps, gap, label=label if thick else None, **_line_kw(style, thick))
                if row["has_window"]:
                    at = _value_at(pd.DataFrame({"step": steps, "gap": gap}), "gap", row["t0"])
                    top.plot([row["t0"]], [at], ls="none", marker=style["marker"], ms=6 if thick else 4, mfc="white",
                             mec=style["color"], mew=1.2, zorder=5)
                    if thick:
                        top.axvline(row["t0"], color=style["color"], ls=":", lw=0.9)
                early = m[m["step"] <= transient_steps]
                zoom.plot(early["step"], early["loss"], **_line_kw(style, thick, markevery=1))
        top.set_yscale("log")
        top.set_title(COMPARISON_TITLES.get(value, str(value)))
        top.set_xlabel("step $t$")
        top.plot([], [], ls=":", marker="o", mfc="white", color="0.3", label="window start $t_0$")
        top.legend(fontsize=5.5, loc="lower left")
        _mark_failures(top, _short_runs(block))
        zoom.set(xlabel="step $t$", xlim=(0, transient_steps), title=f"first {transient_steps} steps")
        zoom.title.set_fontsize(7)
    axes[0][0].set_ylabel(r"$L_t - L^*$")
    axes[1][0].set_ylabel(r"$L_t$")
    fig.tight_layout()
    save(fig, out)


def step_size(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], spectra: dict[str, pd.DataFrame],
              out: str | Path, exit_fraction: float = 0.5) -> None:
    """E3: gap, relative drift and lambda_min ratio against step per step size; each run's LPLR exit dotted."""
    set_style()
    level_of = _condition(fits, "lr")
    styles = _level_styles(_ordered(level_of))
    fig, (ax_gap, ax_drift, ax_ratio) = plt.subplots(1, 3, figsize=(8.4, 2.6), sharex=True)
    exits, handles = 0, []
    for level, style in styles.items():
        group = fits[level_of == level]
        done = group[group["status"] == "completed"]
        if done.empty:
            continue
        label = (f"lr = {level:g}: $\\eta$={done['eta'].mean():.3g}, "
                 f"$\\eta\\lambda_{{\\max}}/n$={done['sharpness_0'].mean():.2f}" if isinstance(level, (int, float, np.number))
                 else f"{level}: $\\eta$={done['eta'].mean():.3g}")
        handles.append(plt.Line2D([], [], **_line_kw(style, True), label=label))
        for _, row in done.sort_values("seed").iterrows():
            thick = _thick(row, group)
            kw = _line_kw(style, thick)
            if row["run"] in curves:
                m = curves[row["run"]]
                steps, gap = _gap(m, row["lstar"])
                ax_gap.plot(steps, gap, **kw)
                ax_drift.plot(steps, _positive(m["rel_drift"]), **kw)
            spectrum = spectra.get(row["run"])
            if spectrum is not None and len(spectrum):
                ax_ratio.plot(spectrum["step"], spectrum["lambda_min_ratio"], **{**kw, "markevery": 1})
            step = _exit_step(row, spectra, exit_fraction)
            if np.isfinite(step):
                exits += 1
                for ax in (ax_gap, ax_drift, ax_ratio):
                    ax.axvline(step, color=style["color"], ls=":", lw=1.1 if thick else 0.6)
                if spectrum is not None and len(spectrum):
                    ax_ratio.plot([step], [_value_at(spectrum, "lambda_min_ratio", step)], ls="none", marker="X", ms=6,
                                  mfc=style["color"], mec="black", mew=0.6, zorder=5)
    ax_ratio.axhline(exit_fraction, color="0.4", ls="--", lw=0.9)
    handles += [plt.Line2D([], [], color="0.4", ls="--", lw=0.9, label=f"exit fraction {exit_fraction:g}"),
                plt.Line2D([], [], color="0.3", ls=":", marker="X", mec="black", label="leaves the LPLR")]
    if not exits:
        ax_ratio.text(0.03, 0.03, "no run leaves the LPLR", transform=ax_ratio.transAxes, fontsize=6.5, color="0.3")
    ax_gap.set(yscale="log", ylabel=r"$L_t - L^*$", xlabel="step $t$")
    ax_drift.set(yscale="log", ylabel=r"$\|\theta_t-\theta_0\| / \|\theta_0\|$", xlabel="step $t$")
    ax_ratio.set(ylabel=r"$\lambda_{\min}(\Theta_t) / \lambda_{\min}(\Theta_0)$", xlabel="step $t$ (markers: probes)")
    _mark_failures(ax_gap, _short_runs(fits))
    fig.tight_layout()
    fig.legend(handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 3),
               frameon=False)
    save(fig, out)


def ntk_stability(fits: pd.DataFrame, spectra: dict[str, pd.DataFrame], out: str | Path, exit_fraction: float = 0.5,
                  condition: str = "width") -> None:
    """E1/E6: lambda_min ratio (exit fraction and exits marked), kernel change and sharpness eta lambda_max / n
    (edge of stability at 2) against step, per condition level, on a symlog step axis (step 0 included)."""
    set_style()
    level_of = _condition(fits, condition)
    styles = _level_styles(_ordered(level_of))
    fig, (ax_ratio, ax_kernel, ax_sharp) = plt.subplots(1, 3, figsize=(8.4, 2.6), sharex=True)
    handles, exits, probed = [], 0, 0
    for level, style in styles.items():
        group = fits[level_of == level]
        done = group[(group["status"] == "completed") & group["run"].isin(list(spectra))]
        if done.empty:
            continue
        handles.append(plt.Line2D([], [], **_line_kw(style, True), label=_level_label(condition, level)))
        for _, row in done.sort_values("seed").iterrows():
            spectrum = spectra[row["run"]]
            if not len(spectrum):
                continue
            probed += 1
            kw = {**_line_kw(style, _thick(row, group)), "markevery": 1}
            ax_ratio.plot(spectrum["step"], spectrum["lambda_min_ratio"], **kw)
            ax_kernel.plot(spectrum["step"], _positive(spectrum["kernel_change"]), **kw)
            ax_sharp.plot(spectrum["step"], spectrum["sharpness"], **kw)
            step = _exit_step(row, spectra, exit_fraction)
            if np.isfinite(step):
                exits += 1
                ax_ratio.plot([step], [_value_at(spectrum, "lambda_min_ratio", step)], ls="none", marker="X", ms=6.5,
                              mfc=style["color"], mec="black", mew=0.6, zorder=5)
    ax_ratio.axhline(exit_fraction, color="0.4", ls="--", lw=0.9)
    ax_sharp.axhline(2.0, color="0.2", ls="--", lw=0.9)
    ax_sharp.text(0.02, 2.0, " edge of stability", transform=ax_sharp.get_yaxis_transform(), fontsize=6, va="bottom")
    ax_sharp.set_ylim(bottom=0, top=max(2.3, ax_sharp.get_ylim()[1]))
    handles += [plt.Line2D([], [], color="0.4", ls="--", lw=0.9, label=f"exit fraction {exit_fraction:g}"),
                plt.Line2D([], [], ls="none", marker="X", color="0.6", mec="black", label=f"leaves the LPLR ({exits}/{probed} runs)")]
    ax_ratio.set(ylabel=r"$\lambda_{\min}(\Theta_t) / \lambda_{\min}(\Theta_0)$")
    ax_kernel.set(yscale="log", ylabel=r"$\|\Theta_t-\Theta_0\|_F / \|\Theta_0\|_F$")
    ax_sharp.set(ylabel=r"sharpness $\eta\,\lambda_{\max}(\Theta_t)/n$")
    for ax in (ax_ratio, ax_kernel, ax_sharp):
        _symlog_steps(ax)
    if probed:
        _headroom(ax_kernel, 0.5)
    if not probed:
        _no_data(ax_ratio, "no probed runs")
    _mark_failures(ax_kernel, _short_runs(fits))
    fig.tight_layout()
    fig.legend(handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(handles), 4), frameon=False)
    save(fig, out)


def pl_ratio(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], spectra: dict[str, pd.DataFrame], out: str | Path,
             condition: str = "width") -> None:
    """rho_t = G_t / (2 (L_t - L*)) against mu_t = lambda_min(Theta_t) / n at the probed steps, log-log, with rho = mu.

    G and L come from the training curves at the probed steps (exact step match), mu from the spectra.
    With L* = 0, rho_t >= mu_t by construction; how far above the line the points sit is how loose the
    lambda_min bound is.
    """
    set_style()
    level_of = _condition(fits, condition)
    styles = _level_styles(_ordered(level_of))
    fig, ax = plt.subplots(figsize=(3.9, 3.2))
    xs, ys, dropped = [], [], 0
    for level, style in styles.items():
        group = fits[level_of == level]
        done = group[(group["status"] == "completed") & group["run"].isin(list(spectra)) & group["run"].isin(list(curves))]
        labelled = False
        for _, row in done.sort_values("seed").iterrows():
            m = curves[row["run"]][["step", "loss", "grad_norm_sq"]]
            joined = spectra[row["run"]][["step", "mu"]].merge(m, on="step", how="inner").sort_values("step")
            lstar = row["lstar"] if np.isfinite(row["lstar"]) else 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                rho = _positive(joined["grad_norm_sq"] / (2 * (joined["loss"] - lstar)))
            mu = _positive(joined["mu"])
            ok = np.isfinite(rho) & np.isfinite(mu)
            dropped += int((~ok).sum())
            if not ok.any():
                continue
            thick = _thick(row, group)
            ax.plot(mu[ok], rho[ok], **{**_line_kw(style, thick), "markevery": 1},
                    label=None if labelled else _level_label(condition, level))
            labelled = True
            first = np.flatnonzero(ok)[0]
            if joined["step"].iloc[first] == 0:
                ax.plot([mu[first]], [rho[first]], ls="none", marker="o", ms=6, mfc="none", mec=style["color"], mew=1.0)
            xs.append(mu[ok])
            ys.append(rho[ok])
    if xs:
        # x spans the data's mu; the line rho = mu sits below the points, the vertical distance is the finding
        mu_all, rho_all = np.concatenate(xs), np.concatenate(ys)
        ref = np.geomspace(mu_all.min() / 1.5, mu_all.max() * 1.5, 10)
        ax.plot(ref, ref, color="black", ls=":", lw=1.1, label=r"$\rho = \mu$ (the $\lambda_{\min}$ bound)")
        ax.plot([], [], ls="none", marker="o", ms=6, mfc="none", mec="0.3", label="step 0")
        ax.set(xscale="log", yscale="log", xlim=(ref[0], ref[-1]))
        if ref[-1] / ref[0] < 100:  # under two decades: label 1, 2, 5 x 10^k, not every minor tick
            from matplotlib import ticker
            ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.LogFormatterSciNotation(labelOnlyBase=False))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(f"median $\\rho_t/\\mu_t$ = {np.median(rho_all / mu_all):.3g}", fontsize=7)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        _headroom(ax)
    else:
        _no_data(ax, "no run with both a curve and a spectrum")
    if dropped:
        ax.text(0.98, 0.02, f"{dropped} probed points with $\\mu \\leq 0$ or gap $\\leq 0$ not shown",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=5.5, color="0.3")
    ax.set(xlabel=r"$\mu_t = \lambda_{\min}(\Theta_t)/n$", ylabel=r"$\rho_t = G_t / (2(L_t - L^*))$")
    _mark_failures(ax, _short_runs(fits))
    save(fig, out)


def cnn_sgd(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path) -> None:
    """E4: full-batch gap against step per seed with the fitted line over [t0, t1] (rate c); log-log G against
    the gap with the fitted slope beta over the window and a slope-1 reference (G = 2 min rho gap)."""
    set_style()
    done = fits[(fits["status"] == "completed") & fits["run"].isin(list(curves))].sort_values("seed")
    styles = _level_styles(list(done["run"]))
    by_seed = done["seed"].is_unique
    fig, (ax_gap, ax_pl) = plt.subplots(1, 2, figsize=(7.4, 2.9))
    gaps = []
    for _, row in done.iterrows():
        style, m = styles[row["run"]], curves[row["run"]]
        name = f"seed {row['seed']}" if by_seed else row["run"]
        kw = {**_line_kw(style, True), "lw": 0.9}
        steps, gap = _gap(m, row["lstar"])
        grad = _positive(m["grad_norm_sq"])
        fitted = _window_line(steps, gap, row)
        ax_gap.plot(steps, gap, label=f"{name}: $c$={row['rate']:.3g}" if fitted else f"{name}: no window", **kw)
        ax_pl.plot(gap, grad, label=f"{name}: $\\beta$={row['pl_slope']:.2f}" if fitted else f"{name}: no window", **kw)
        gaps.append(gap[np.isfinite(gap)])
        if fitted is None:
            continue
        ax_gap.plot(*fitted, color="black", lw=1.0, ls=(0, (4, 2)))
        inside = (steps >= row["t0"]) & (steps <= row["t1"]) & np.isfinite(gap) & np.isfinite(grad)
        if inside.any() and np.isfinite(row["pl_slope"]):
            level = np.mean(np.log(grad[inside]) - row["pl_slope"] * np.log(gap[inside]))
            g = np.geomspace(np.nanmin(gap[inside]), np.nanmax(gap[inside]), 10)
            ax_pl.plot(g, np.exp(level) * g ** row["pl_slope"], color="black", lw=1.0, ls=(0, (4, 2)))
    ax_gap.plot([], [], color="black", lw=1.0, ls=(0, (4, 2)), label=r"fit over $[t_0, t_1]$")
    ax_pl.plot([], [], color="black", lw=1.0, ls=(0, (4, 2)), label=r"fitted slope $\beta$ over $[t_0, t_1]$")
    if gaps and np.concatenate(gaps).size:
        g = np.concatenate(gaps)
        ref = np.geomspace(g.min(), g.max(), 10)
        envelope = done["pl_envelope"].median() if done["pl_envelope"].notna().any() else 1.0
        ax_pl.plot(ref, 2 * envelope * ref, color="0.5", ls=":", lw=1.1,
                   label=r"slope 1: $G = 2\min_t\rho_t\,(L-L^*)$")
    else:
        _no_data(ax_gap, "no completed run")
    ax_gap.set(yscale="log", xlabel="step $t$", ylabel=r"full-batch $L_t - L^*$", title="mini-batch SGD")
    _headroom(ax_gap, 0.3)
    ax_pl.set(xscale="log", yscale="log", xlabel=r"gap $L_t - L^*$", ylabel=r"$G_t = \|\nabla L(\theta_t)\|^2$")
    ax_gap.legend(fontsize=6, loc="lower left")
    ax_pl.legend(fontsize=6, loc="upper left")
    _mark_failures(ax_gap, _short_runs(fits))
    fig.tight_layout()
    save(fig, out)


def batch_size(summary: pd.DataFrame, out: str | Path, confidence: float,
               statistics=("rate", "pl_slope", "final_loss")) -> None:
    """E5: rate, PL slope and final loss against batch size (log x): mean across seeds with its t-interval."""
    set_style()
    fixed = {"batch_size", "statistic", "mean", "ci_low", "ci_high", "n_seeds"}
    others = [c for c in summary.columns if c not in fixed]
    series = list(summary.groupby(others, sort=True)) if others else [((), summary)]
    styles = _level_styles(list(range(len(series))))
    fig, axes = plt.subplots(1, len(statistics), figsize=(2.5 * len(statistics), 2.4))
    for ax, stat in zip(np.atleast_1d(axes), statistics):
        drawn = pd.DataFrame()
        for i, (key, block) in enumerate(series):
            rows = block[block["statistic"] == stat].sort_values("batch_size")
            if rows.empty:
                continue
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(_level_label(c, v) for c, v in zip(others, key)) or None
            err = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
            color = "black" if len(series) == 1 else styles[i]["color"]
            ax.errorbar(rows["batch_size"], rows["mean"], yerr=np.nan_to_num(err), color=color,
                        marker=styles[i]["marker"], ls=styles[i]["linestyle"], ms=3.5, capsize=2.5, lw=1, label=label)
            drawn = pd.concat([drawn, rows])
        if drawn.empty:
            _no_data(ax, f"{stat}: not available")
            continue
        ax.set(xscale="log", xlabel="batch size $B$", ylabel=SYMBOLS.get(stat, stat))
        positive = drawn["mean"][drawn["mean"] > 0]
        if stat != "pl_slope" and len(positive) == len(drawn) and positive.max() > 10 * positive.min():
            ax.set_yscale("log")  # only where the values span a decade, else the axis has no labels
        if stat == "pl_slope":
            ax.axhline(1.0, color="0.5", ls=":", lw=0.9)
            ax.text(0.02, 1.0, r"$\beta = 1$", transform=ax.get_yaxis_transform(), fontsize=6, va="bottom", color="0.3")
        sizes = sorted(drawn["batch_size"].unique())
        ax.set_xticks(sizes, [str(int(b)) for b in sizes])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        if len(series) > 1:
            ax.legend(fontsize=5.5)
    seeds = summary["n_seeds"]
    count = f"{int(seeds.max())}" if seeds.min() == seeds.max() else f"{int(seeds.min())}-{int(seeds.max())}"
    fig.suptitle(f"mini-batch SGD: mean over {count} seeds, {confidence:.0%} t-intervals", fontsize=7, y=1.02)
    fig.tight_layout()
    save(fig, out)
