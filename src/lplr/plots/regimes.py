"""The step-size regime of every run: its tracked sharpness eta lambda_max(Theta_t) / n along training, with
the theorem's step condition (1: eta <= 1/L) and GD's stability limit on a quadratic (2) marked, beside the
loss; one figure per E1 arm (fixed eta, fixed effective step, edge of stability). Where the Hessian was tracked
(training.hessian_every, curves' hessian_sharpness_tracked), eta lambda_max(H_t) as crosses beside it, and the
probes' eta lambda_max(H) at the checkpoints (probes' hessian_sharpness) as open circles: the edge of
stability is eta lambda_max(H) = 2, the Gauss-Newton line its approximation near interpolation. The title
counts by the analysis' label, the larger of the three."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from lplr.plots.style import condition_of, level_styles, line_kw, mark_failures, no_data, ordered, positive, save, set_style, short_runs


def sharpness_along_training(fits: pd.DataFrame, curves: dict[str, pd.DataFrame], out: str | Path,
                             condition: str = "width", probes: dict[str, pd.DataFrame] | None = None) -> None:
    """Left: sharpness s_t of every run (all seeds, one colour per level), the Hessian's where tracked or probed;
    right: its loss. Title: how many runs stay at s <= 1 (the theorem's regime) by the analysis' regime labels."""
    set_style()
    level_of = condition_of(fits, condition)
    styles = level_styles(ordered(level_of))
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.8, 2.6))
    drawn = hessian = probed = False
    probes = probes or {}
    for level, style in styles.items():
        group = fits[(level_of == level) & (fits["status"] == "completed")].sort_values("seed")
        for i, (_, row) in enumerate(group.iterrows()):
            curve = curves.get(row["run"])
            if curve is None or "sharpness" not in curve or curve["sharpness"].isna().all():
                continue
            tracked = curve.dropna(subset=["sharpness"])
            label = f"{condition}={level}" if i == 0 else None
            left.plot(tracked["step"], tracked["sharpness"], **{**line_kw(style, i == 0), "marker": None}, label=label)
            right.plot(curve["step"], positive(curve["loss"]), **{**line_kw(style, i == 0), "marker": None}, label=label)
            if "hessian_sharpness_tracked" in curve and curve["hessian_sharpness_tracked"].notna().any():
                h = curve.dropna(subset=["hessian_sharpness_tracked"])
                left.plot(h["step"], h["hessian_sharpness_tracked"], ls="none", marker="x", ms=2.0,
                          color=style["color"], alpha=0.8 if i == 0 else 0.35)
                hessian = True
            spectrum = probes.get(row["run"])
            if spectrum is not None and "hessian_sharpness" in spectrum and spectrum["hessian_sharpness"].notna().any():
                h = spectrum.dropna(subset=["hessian_sharpness"])
                left.plot(h["step"], h["hessian_sharpness"], ls="none", marker="o", ms=2.5, mfc="none", mew=0.6,
                          color=style["color"], alpha=0.8 if i == 0 else 0.35)
                probed = True
            drawn = True
    if not drawn:
        no_data(left, "no tracked sharpness\n(training.sharpness_every = 0)")
    for level, text in ((1.0, r"$\eta \leq 1/L$"), (2.0, "GD stability limit")):
        left.axhline(level, color="0.4", lw=0.8, ls=":")
        left.annotate(text, (1.0, level), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=6)
    labels = fits.loc[fits["status"] == "completed", "regime"] if "regime" in fits else pd.Series(dtype=str)
    inside = int((labels == "eta<=1/L").sum())
    left.set(xlabel="step $t$", ylabel=r"sharpness $\eta\lambda_{\max}(\Theta_t)/n$",
             title=f"{inside} of {len(labels)} runs stay at or below 1 (the larger of this and the Hessian's)")
    right.set(xlabel="step $t$", ylabel="$L_t$", yscale="log", title="training loss")
    mark_failures(left, short_runs(fits))
    if hessian:  # one legend entry for the crosses of every level
        left.plot([], [], ls="none", marker="x", ms=3.0, color="0.3", label=r"$\eta\lambda_{\max}(H_t)$ (tracked)")
    if probed:
        left.plot([], [], ls="none", marker="o", ms=3.0, mfc="none", color="0.3", label=r"$\eta\lambda_{\max}(H)$ (probes)")
    left.legend(fontsize=6, loc="upper left")
    save(fig, out)
