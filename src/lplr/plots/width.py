"""E1 (width) and E6 (the probe of every run): loss decay, PL scaling, width ablation, NTK stability with
the LQCR, the PL ratio, and rates along training against the kernel's predictions."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from lplr.plots.style import (SYMBOLS, condition_of, headroom, interval_errorbar, is_thick, level_label, level_styles,
                              line_kw, mark_failures, no_data, ordered, positive, save, seeds_note, set_style,
                              short_runs, symlog_steps, value_at)


def _completed(fits: pd.DataFrame, curves: dict) -> pd.DataFrame:
    return fits[(fits["status"] == "completed") & fits["run"].isin(list(curves))].sort_values("seed")


def loss_decay(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path, condition: str = "width") -> None:
    """The loss L_t (L* = 0 in every panel: every run has P >> n) on a log axis, one panel per level; the window
    line of the L* = 0 fit over its [t0, t1]; the initial-NTK linearised model dashed."""
    set_style()
    level_of = condition_of(fits, condition)
    levels = ordered(level_of)
    styles = level_styles(levels)
    fig, axes = plt.subplots(1, len(levels), figsize=(1.9 * len(levels) + 0.6, 2.3), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels):
        group = fits[level_of == level]
        for _, row in _completed(group, curves).iterrows():
            m, thick = curves[row["run"]], is_thick(row, group)
            ax.plot(m["step"], positive(m["loss"]), **{**line_kw(styles[level], thick), "marker": None},
                    label="$L_t$ ($L^*$ = 0)" if thick else None)
            if thick and np.isfinite(row.get("t0_zero", np.nan)):
                t = m["step"][(m["step"] >= row["t0_zero"]) & (m["step"] <= row["t1_zero"])]
                ax.plot(t, np.exp(row["window_intercept_zero"] - row["rate_zero"] * t), color="black", lw=1.0,
                        label=f"window fit, $c$={row['rate_zero']:.2g}")
            if thick and m["linearised_loss"].notna().all():
                ax.plot(m["step"], positive(m["linearised_loss"]), color="0.35", ls="--", lw=0.9,
                        label="linearised (NTK at $t=0$)")
        ax.set_yscale("log")
        ax.set_title(level_label(condition, level))
        ax.set_xlabel("step $t$")
        mark_failures(ax, short_runs(group))
        ax.legend(fontsize=6, loc="lower left")
    axes[0][0].set_ylabel(r"$L_t$ (gap with $L^*=0$)")
    save(fig, out)


def pl_scaling(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path, condition: str = "width") -> None:
    """log-log G_t against the gap per level (lowest completed seed), with its fitted slope beta over the
    window (from the fit table) and a slope-1 reference (a constant PL ratio)."""
    set_style()
    level_of = condition_of(fits, condition)
    styles = level_styles(ordered(level_of))
    fig, ax = plt.subplots(figsize=(3.6, 2.9))
    gaps = []
    for level, style in styles.items():
        chosen = _completed(fits[level_of == level], curves)
        if chosen.empty:
            continue
        row = chosen.iloc[0]
        m = curves[row["run"]]
        gap, grad = positive(m["gap"]), positive(m["grad_norm_sq"])
        label = (f"{level_label(condition, level)}, $\\beta$={row['pl_slope']:.2f}" if row["has_window"]
                 else f"{level_label(condition, level)}, no window")
        ax.plot(gap, grad, label=label, **{**line_kw(style, True), "lw": 1.0})
        if row["has_window"]:
            inside = (m["step"] >= row["t0"]) & (m["step"] <= row["t1"]) & np.isfinite(gap)
            g = np.geomspace(np.nanmin(gap[inside]), np.nanmax(gap[inside]), 10)
            ax.plot(g, np.exp(row["pl_intercept"]) * g ** row["pl_slope"], color="black", lw=0.8, ls=(0, (4, 2)))
        gaps.append(gap[np.isfinite(gap)])
    if gaps:
        g = np.concatenate(gaps)
        ref = np.geomspace(g.min(), g.max(), 10)
        anchor = 2 * fits["pl_envelope"].median() if fits["pl_envelope"].notna().any() else 1.0
        ax.plot(ref, anchor * ref, color="0.5", ls=":", lw=1, label="slope 1 (constant PL ratio)")
        ax.plot([], [], color="black", lw=0.8, ls=(0, (4, 2)), label=r"fitted $\beta$ over the window")
    ax.set(xscale="log", yscale="log", xlabel=r"gap $L_t - L^*$", ylabel=r"$G_t = \|\nabla L(\theta_t)\|^2$")
    ax.legend(fontsize=6)
    mark_failures(ax, short_runs(fits))
    save(fig, out)


def width_ablation(summary: pd.DataFrame, trends: pd.DataFrame, out: str | Path, confidence: float,
                   statistics=("final_loss", "rate_late", "rate", "mu_0", "final_rel_drift", "share_top_k_0")) -> None:
    """Each statistic against width: the across-seed estimate with its interval (lplr.stats); the drift
    panel is titled with the per-seed log-log slope from the trends table."""
    set_style()
    fig, axes = plt.subplots(1, len(statistics), figsize=(2.1 * len(statistics), 2.3))
    for ax, stat in zip(np.atleast_1d(axes), statistics):
        rows = summary[summary["statistic"] == stat].sort_values("width")
        if rows.empty or rows["estimate"].isna().all():
            no_data(ax, f"{stat}: not available")
            continue
        interval_errorbar(ax, rows, "width", color="black", marker="o", ms=3.5, capsize=2.5, lw=1)
        ax.set(xscale="log", xlabel="width $m$", ylabel=SYMBOLS.get(stat, stat))
        if (rows["scale"] == "log").all():
            ax.set_yscale("log")
        ax.set_xticks(rows["width"], [str(int(w)) for w in rows["width"]])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        slope = trends[trends["statistic"] == stat] if len(trends) else trends
        if len(slope) and np.isfinite(slope["slope"].iloc[0]):
            ax.set_title(f"log-log slope {slope['slope'].iloc[0]:.2f}", fontsize=7)
    fig.suptitle(seeds_note(summary[summary["statistic"].isin(statistics)], confidence), fontsize=7, y=1.02)
    fig.tight_layout()
    save(fig, out)


def ntk_stability(fits: pd.DataFrame, spectra: dict[str, pd.DataFrame], out: str | Path, exit_fraction: float = 0.5,
                  condition: str = "width") -> None:
    """Along training per level: lambda_min ratio (exit fraction and each run's LPLR exit marked), kernel
    change, sharpness eta lambda_max / n (edge of stability at 2) and the LQCR q_t (0 marked), on a symlog
    step axis (step 0 included)."""
    set_style()
    level_of = condition_of(fits, condition)
    styles = level_styles(ordered(level_of))
    fig, (ax_ratio, ax_kernel, ax_sharp, ax_q) = plt.subplots(1, 4, figsize=(11.0, 2.6), sharex=True)
    handles, exits, probed, negative = [], 0, 0, 0
    for level, style in styles.items():
        group = fits[level_of == level]
        done = _completed(group, spectra)
        if done.empty:
            continue
        handles.append(plt.Line2D([], [], **line_kw(style, True), label=level_label(condition, level)))
        for _, row in done.iterrows():
            spectrum = spectra[row["run"]]
            probed += 1
            kw = {**line_kw(style, is_thick(row, group)), "markevery": 1}
            ax_ratio.plot(spectrum["step"], spectrum["lambda_min_ratio"], **kw)
            ax_kernel.plot(spectrum["step"], positive(spectrum["kernel_change"]), **kw)
            ax_sharp.plot(spectrum["step"], spectrum["sharpness"], **kw)
            ax_q.plot(spectrum["step"], spectrum["lqcr_q"], **kw)
            negative += int(row.get("lqcr_negative", 0) > 0)
            if np.isfinite(row["lplr_exit_step"]):
                exits += 1
                ax_ratio.plot([row["lplr_exit_step"]], [value_at(spectrum, "lambda_min_ratio", row["lplr_exit_step"])],
                              ls="none", marker="X", ms=6.5, mfc=style["color"], mec="black", mew=0.6, zorder=5)
    ax_ratio.axhline(exit_fraction, color="0.4", ls="--", lw=0.9)
    ax_sharp.axhline(2.0, color="0.2", ls="--", lw=0.9)
    ax_sharp.text(0.02, 2.0, " edge of stability", transform=ax_sharp.get_yaxis_transform(), fontsize=6, va="bottom")
    ax_sharp.set_ylim(bottom=0, top=max(2.3, ax_sharp.get_ylim()[1]))
    ax_q.axhline(0.0, color="0.2", ls="--", lw=0.9)
    ax_q.set_yscale("symlog", linthresh=0.1)
    handles += [plt.Line2D([], [], color="0.4", ls="--", lw=0.9, label=f"exit fraction {exit_fraction:g}"),
                plt.Line2D([], [], ls="none", marker="X", color="0.6", mec="black",
                           label=f"leaves the LPLR ({exits}/{probed} runs)")]
    ax_ratio.set(ylabel=r"$\lambda_{\min}(\Theta_t) / \lambda_{\min}(\Theta_0)$")
    ax_kernel.set(yscale="log", ylabel=r"$\|\Theta_t-\Theta_0\|_F / \|\Theta_0\|_F$")
    ax_sharp.set(ylabel=r"sharpness $\eta\,\lambda_{\max}(\Theta_t)/n$")
    ax_q.set(ylabel=r"LQCR $q_t$ (symlog)", title=f"$q_t < 0$ at some probe: {negative}/{probed} runs")
    ax_q.title.set_fontsize(7)
    for ax in (ax_ratio, ax_kernel, ax_sharp, ax_q):
        symlog_steps(ax)
    if probed:
        headroom(ax_kernel, 0.5)
    else:
        no_data(ax_ratio, "no probed runs")
    mark_failures(ax_kernel, short_runs(fits))
    fig.tight_layout()
    fig.legend(handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(handles), 4), frameon=False)
    save(fig, out)


def pl_ratio(fits: pd.DataFrame, spectra: dict[str, pd.DataFrame], out: str | Path, condition: str = "width") -> None:
    """rho_t = G_t / 2L_t (L* = 0, on the probe set) against mu_t = lambda_min(Theta_t)/n at the probed
    checkpoints, log-log, with the line rho = mu: rho >= mu by construction, and the distance above the
    line is how loose the lambda_min bound is."""
    set_style()
    level_of = condition_of(fits, condition)
    styles = level_styles(ordered(level_of))
    fig, ax = plt.subplots(figsize=(3.9, 3.2))
    xs, ys, dropped = [], [], 0
    for level, style in styles.items():
        group = fits[level_of == level]
        labelled = False
        for _, row in _completed(group, spectra).iterrows():
            probes = spectra[row["run"]]
            rho, mu = positive(probes["rho"]), positive(probes["mu"])
            ok = np.isfinite(rho) & np.isfinite(mu)
            dropped += int((~ok).sum())
            if not ok.any():
                continue
            ax.plot(mu[ok], rho[ok], **{**line_kw(style, is_thick(row, group)), "markevery": 1},
                    label=None if labelled else level_label(condition, level))
            labelled = True
            if ok[0] and probes["step"].iloc[0] == 0:
                ax.plot([mu[0]], [rho[0]], ls="none", marker="o", ms=6, mfc="none", mec=style["color"], mew=1.0)
            xs.append(mu[ok])
            ys.append(rho[ok])
    if xs:
        mu_all, rho_all = np.concatenate(xs), np.concatenate(ys)
        ref = np.geomspace(mu_all.min() / 1.5, mu_all.max() * 1.5, 10)
        ax.plot(ref, ref, color="black", ls=":", lw=1.1, label=r"$\rho = \mu$ (the $\lambda_{\min}$ bound)")
        ax.plot([], [], ls="none", marker="o", ms=6, mfc="none", mec="0.3", label="step 0")
        ax.set(xscale="log", yscale="log", xlim=(ref[0], ref[-1]))
        ax.set_title(f"median $\\rho_t/\\mu_t$ = {np.median(rho_all / mu_all):.3g}", fontsize=7)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        headroom(ax)
    else:
        no_data(ax, "no run with a spectrum")
    if dropped:
        ax.text(0.98, 0.02, f"{dropped} probed points with $\\mu \\leq 0$ or $L = 0$ not shown",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=5.5, color="0.3")
    ax.set(xlabel=r"$\mu_t = \lambda_{\min}(\Theta_t)/n$", ylabel=r"$\rho_t = G_t / 2L_t$")
    mark_failures(ax, short_runs(fits))
    save(fig, out)


def rates_along_training(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], spectra: dict[str, pd.DataFrame],
                         out: str | Path, condition: str = "width") -> None:
    """Top, one panel per level (lowest completed seed): the observed rate -d log L/dt (L* = 0), the first-order
    rate eta G/L, the local linearised prediction restarted at every probe, and the PL bound 2 eta mu_t at the
    probes, per step on a log axis. Bottom: the residual's share of ||r||^2 on the top-k eigen-directions and
    on the bottom half of the spectrum at each probe, every seed."""
    set_style()
    level_of = condition_of(fits, condition)
    levels = ordered(level_of)
    styles = level_styles(levels)
    fig, axes = plt.subplots(2, len(levels), figsize=(2.3 * len(levels) + 0.6, 4.4), squeeze=False, sharex="col",
                             gridspec_kw={"height_ratios": [1.6, 1]})
    for col, level in enumerate(levels):
        top, bottom = axes[0][col], axes[1][col]
        group = fits[level_of == level]
        done = _completed(group, curves)
        done = done[done["run"].isin(list(spectra))]
        if done.empty:
            no_data(top, "no completed run")
            continue
        row = done.iloc[0]
        m, probes = curves[row["run"]], spectra[row["run"]]
        top.plot(m["step"], positive(m["observed_rate"]), color=styles[level]["color"], lw=1.4, label="observed")
        top.plot(m["step"], positive(m["first_order_rate"]), color="0.45", lw=0.8, ls="-.", label=r"first order $\eta G/L$")
        top.plot(m["step"], positive(m["local_linearised_rate"]), color="black", lw=0.9, ls="--",
                 label="linearised from each probe")
        top.plot(probes["step"], positive(probes["pl_bound_rate"]), ls="none", marker="v", ms=4, color="0.2",
                 label=r"PL bound $2\eta\mu_t$")
        top.set(yscale="log", title=f"{level_label(condition, level)}, seed {int(row['seed'])}")
        top.title.set_fontsize(7)
        for _, run in done.iterrows():
            shares = spectra[run["run"]]
            kw = {**line_kw(styles[level], is_thick(run, group)), "markevery": 1}
            bottom.plot(shares["step"], shares["share_top_k"], **kw)
            bottom.plot(shares["step"], shares["share_bottom_half"], **{**kw, "linestyle": ":", "marker": "x"})
        bottom.set(ylim=(-0.02, 1.02), xlabel="step $t$")
        symlog_steps(bottom)
        bottom.set_xlabel("step $t$ (symlog)")
        mark_failures(top, short_runs(group))
    axes[0][0].set_ylabel(r"rate per step ($L^*=0$)")
    axes[0][0].legend(fontsize=5.5, loc="lower left")
    axes[1][0].set_ylabel(r"share of $\|r_t\|^2$")
    axes[1][0].plot([], [], color="0.3", label="top-$k$ directions")
    axes[1][0].plot([], [], color="0.3", ls=":", marker="x", label="bottom half")
    axes[1][0].legend(fontsize=5.5, loc="center left")
    fig.tight_layout()
    save(fig, out)
