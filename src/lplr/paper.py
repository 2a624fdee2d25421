"""numbers.tex: every number the paper quotes, one macro each, from the generated tables.

A number is named `<experiment>.<statistic>.<condition>` with the condition written as in run ids
(`width.rate.width=64`, `init.t0.init=he,lr=0.2,lr_mode=fixed`), plus its t-interval bounds
(`....low`, `....high`), and is used in the text as `\\val{width.rate.width=64}`. Macros are
defined through \\csname so that names may hold digits and punctuation. Values are plain numerals
(ASCII minus, no thousands separators, `e` exponents for very small or large values) so that the
PDF's text can be checked against the tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lplr.formatting import condition_label, format_number, format_value  # noqa: F401 (re-exported)
from lplr.io import write_csv, write_text

STATISTICS = ("final_loss", "rate", "pl_slope", "pl_envelope", "mu_0", "final_rel_drift", "final_drift",
              "final_test_accuracy", "predicted_rate", "rate_over_predicted", "sharpness_0", "sharpness_max",
              "lambda_min_ratio_final", "kernel_change_final", "t0", "lplr_exit_step", "lqcr_min")
KEY_PATTERN = r"[A-Za-z0-9_.=,\-]+"


def numbers_from_summary(experiment: str, summary: pd.DataFrame, columns: list[str],
                         statistics=STATISTICS) -> list[dict]:
    """The mean across seeds and its interval bounds, per (condition, statistic)."""
    rows = []
    for _, row in summary[summary["statistic"].isin(statistics)].iterrows():
        base = f"{experiment}.{row['statistic']}.{condition_label(row, columns)}"
        rows += [{"key": base, "value": row["mean"]}, {"key": f"{base}.low", "value": row["ci_low"]},
                 {"key": f"{base}.high", "value": row["ci_high"]}]
    return rows


def single_condition_aliases(experiment: str, summary: pd.DataFrame, columns: list[str]) -> list[dict]:
    """For an experiment with one condition, `<experiment>.<statistic>` names its numbers too."""
    levels = summary[columns].drop_duplicates()
    if len(levels) != 1:
        return []
    label = condition_label(levels.iloc[0], columns)
    return [{"key": n["key"].replace(f".{label}", ""), "value": n["value"]}
            for n in numbers_from_summary(experiment, summary, columns)]


def condition_table(summary: pd.DataFrame, columns: list[str], statistics: list[str]) -> str:
    """LaTeX table rows (one per condition): the conditions, then each statistic's mean [t-interval]."""
    rows = []
    wide = summary[summary["statistic"].isin(statistics)]
    for _, group in wide.groupby(columns, sort=True):
        first = group.iloc[0]
        cells = [format_value(first[c]) for c in columns]
        for statistic in statistics:
            row = group[group["statistic"] == statistic]
            cells.append("--" if row.empty else
                         f"{format_number(row['mean'].iloc[0])} [{format_number(row['ci_low'].iloc[0])}, "
                         f"{format_number(row['ci_high'].iloc[0])}]")
        rows.append(" & ".join(cell.replace("_", r"\_") for cell in cells) + r" \\")
    return "\n".join(rows)


def sensitivity_table(sensitivity: pd.DataFrame) -> str:
    """LaTeX rows: L* estimator, window R^2 threshold, runs with a window, mean rate, mean PL slope."""
    rows = [f"{r['lstar_method']} & {format_number(r['r2_min'])} & {int(r['runs_with_window'])}/{int(r['runs'])} & "
            f"{format_number(r['mean_rate'])} & {format_number(r['mean_pl_slope'])} \\\\" for _, r in sensitivity.iterrows()]
    return "\n".join(rows)


def run_counts(experiment: str, runs: pd.DataFrame) -> list[dict]:
    """How many runs an experiment has, completed, with a linear window, leaving the LPLR."""
    completed = runs[runs["status"] == "completed"]
    counts = {"runs": len(runs), "completed": len(completed), "diverged": int((runs["status"] == "diverged").sum()),
              "seeds": runs["seed"].nunique(),
              "with_window": int(completed["has_window"].astype(bool).sum()) if len(completed) else 0,
              "leaving_lplr": int(completed["lplr_exit_step"].notna().sum()) if "lplr_exit_step" in completed else 0}
    numbers = [{"key": f"{experiment}.{name}", "value": float(value)} for name, value in counts.items()]
    if "audit_max_rel_error" in completed and len(completed):
        numbers.append({"key": f"{experiment}.audit_max_rel_error", "value": float(completed["audit_max_rel_error"].max())})
    return numbers


def width_extras(summary: pd.DataFrame, runs: pd.DataFrame, confidence: float) -> list[dict]:
    """E1: the drift-width slope, the width range, and `wmin`/`wmax` aliases of every E1 number."""
    from lplr.fit import loglog_slope_by_seed

    completed = runs[runs["status"] == "completed"]
    drift = loglog_slope_by_seed(completed, "width", "final_rel_drift", confidence)
    widths = sorted(runs["width"].unique())
    numbers = [{"key": "width.drift_slope", "value": drift["slope"]},
               {"key": "width.drift_slope.low", "value": drift["ci_low"]},
               {"key": "width.drift_slope.high", "value": drift["ci_high"]},
               {"key": "width.min", "value": float(widths[0])}, {"key": "width.max", "value": float(widths[-1])}]
    per_width = numbers_from_summary("width", summary, ["width"])
    for alias, width in (("wmin", widths[0]), ("wmax", widths[-1])):
        level = f"width={format_value(width)}"
        numbers += [{"key": n["key"].replace(f".{level}", f".{alias}"), "value": n["value"]}
                    for n in per_width if f".{level}" in n["key"]]
    return numbers


TABLE_STATISTICS = ["rate", "pl_slope", "final_loss"]


def paper_numbers(summary_files: dict[str, str], runs_files: dict[str, str], conditions: dict[str, list[str]],
                  confidence: float, sensitivity_files: dict[str, str] | None = None,
                  fit_settings: dict | None = None) -> tuple[list[dict], dict[str, str]]:
    """Every number the paper quotes, and per experiment a table of its conditions (LaTeX rows); with
    `sensitivity_files`, also `<experiment>-sensitivity` tables."""
    numbers = [{"key": "confidence", "value": 100 * confidence}]
    if fit_settings:  # the fit's own settings, so the text quotes the rule it used
        numbers += [{"key": f"fit.{k}", "value": float(fit_settings[k])} for k in ("min_offset", "lplr_exit_fraction")]
        numbers += [{"key": f"fit.{k}", "value": float(v)} for k, v in fit_settings["window"].items()]
    tables, audit = {}, []
    for experiment, columns in conditions.items():
        summary, runs = pd.read_csv(summary_files[experiment]), pd.read_csv(runs_files[experiment])
        numbers += numbers_from_summary(experiment, summary, columns) + run_counts(experiment, runs)
        numbers += single_condition_aliases(experiment, summary, columns)
        if "audit_max_rel_error" in runs:
            audit.append(runs["audit_max_rel_error"].max())
        if experiment == "width":
            numbers += width_extras(summary, runs, confidence)
        tables[experiment] = condition_table(summary, columns or ["condition"], TABLE_STATISTICS)
        if sensitivity_files and experiment in sensitivity_files:
            tables[f"{experiment}-sensitivity"] = sensitivity_table(pd.read_csv(sensitivity_files[experiment]))
    numbers.append({"key": "audit_max_rel_error", "value": float(np.nanmax(audit)) if audit else np.nan})
    return numbers, tables


def write_numbers(numbers: list[dict], tex_path: str | Path, csv_path: str | Path, tables: dict[str, str] | None = None) -> pd.DataFrame:
    """Write numbers.tex (\\val{key} macros, \\ifexperiment flags, \\conditiontable{experiment} rows) and the
    same numbers as a CSV table. An experiment is enabled when it has a table."""
    frame = pd.DataFrame(numbers)
    frame["text"] = [format_number(v) for v in frame["value"]]
    for key in frame["key"]:
        if not re.fullmatch(KEY_PATTERN, key):
            raise ValueError(f"number key {key!r} may only hold letters, digits and _ . = , -")
    lines = ["% Generated by lplr.paper.write_numbers from results/tables; do not edit.",
             r"\providecommand{\val}[1]{\ifcsname lplr@#1\endcsname\csname lplr@#1\endcsname\else\textbf{??\detokenize{#1}??}\fi}",
             r"\providecommand{\ifexperiment}[2]{\ifcsname lplr@enabled@#1\endcsname#2\fi}",
             r"\providecommand{\conditiontable}[1]{\csname lplr@table@#1\endcsname}"]
    for name, rows in (tables or {}).items():
        lines += [rf"\expandafter\def\csname lplr@enabled@{name}\endcsname{{}}",
                  rf"\expandafter\def\csname lplr@table@{name}\endcsname{{{rows}}}"]
    lines += [rf"\expandafter\def\csname lplr@{k}\endcsname{{{t}}}" for k, t in zip(frame["key"], frame["text"])]
    write_text(tex_path, "\n".join(lines) + "\n")
    write_csv(frame, csv_path)
    return frame
