"""numbers.tex: every number the paper quotes, one macro each, read from the analysis tables only.

A number is named `<experiment>.<statistic>.<condition>` with the condition written as in run ids
(`width.rate.width=64`, `init.t0.init=he,lr=0.2,lr_mode=fixed`), with its interval bounds
(`....low`, `....high`) and its counts (`....n`: values in the estimate, `....runs`: runs of the
condition), used in the text as `\\val{width.rate.width=64}` or `\\ci{...}`, which prints the value,
its interval and n. Trends across a condition are `<experiment>.trend.<statistic>` (a per-seed log-log
slope). Macros are defined through \\csname so that names may hold digits and punctuation. Values are
plain numerals (lplr.formatting.format_number) so the PDF's text can be checked against the tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lplr import escape
from lplr.formatting import condition_label, format_interval, format_number, format_value  # noqa: F401 (format_number re-exported)
from lplr.io import write_csv, write_text

KEY_PATTERN = r"[A-Za-z0-9_.=,\-]+"
TABLE_STATISTICS = ["rate", "pl_slope", "final_loss"]
TABLE_HEADERS = ["rate c", "PL slope beta", "final loss"]


def _with_interval(base: str, row) -> list[dict]:
    """The estimate, its bounds and counts, and `<base>.ci`: the text of \\ci{<base>} (lplr.formatting.format_interval,
    which says 'undecidable with n seeds' where the interval is unbounded)."""
    ci = format_interval(row["estimate"], row["ci_low"], row["ci_high"], row["n"], row["n_runs"], latex=True)
    return [{"key": base, "value": row["estimate"]}, {"key": f"{base}.low", "value": row["ci_low"]},
            {"key": f"{base}.high", "value": row["ci_high"]}, {"key": f"{base}.n", "value": float(row["n"])},
            {"key": f"{base}.runs", "value": float(row["n_runs"])}, {"key": f"{base}.ci", "text": ci}]


def numbers_from_summary(experiment: str, summary: pd.DataFrame, columns: list[str], label=None) -> list[dict]:
    """Every (condition, statistic) of the summary: estimate, bounds, n and n_runs. `label` maps a row to the
    name of its condition in the key (default: as in run ids); a label of '' leaves the condition out."""
    label = label or (lambda row: condition_label(row, columns))
    rows = []
    for _, row in summary.iterrows():
        name = label(row)
        rows += _with_interval(f"{experiment}.{row['statistic']}" + (f".{name}" if name else ""), row)
    return rows


TREND_COLUMNS = ("x", "statistic", "slope", "ci_low", "ci_high", "n", "n_seeds")


def numbers_from_trends(experiment: str, trends: pd.DataFrame) -> list[dict]:
    """`<experiment>.trend.<statistic>`, with the other conditions' label after it where the trend is per level
    of them (depth x init: `depth.trend.mu_0.init=he`)."""
    others = [c for c in trends.columns if c not in TREND_COLUMNS]
    return [n for _, row in trends.iterrows() for n in _with_interval(
        f"{experiment}.trend.{row['statistic']}" + (f".{condition_label(row, others)}" if others else ""),
        {"estimate": row["slope"], "ci_low": row["ci_low"], "ci_high": row["ci_high"], "n": row["n"],
         "n_runs": row["n_seeds"]})]


def aliases(numbers: list[dict], old: str, new: str) -> list[dict]:
    """The numbers whose key holds the condition `old` again under `new` (e.g. width=256 -> wmax)."""
    return [{**n, "key": n["key"].replace(f".{old}", f".{new}")} for n in numbers
            if f".{old}." in n["key"] or n["key"].endswith(f".{old}")]


def run_counts(experiment: str, runs: pd.DataFrame) -> list[dict]:
    """How many runs an experiment has, completed, diverged, shared with an earlier experiment, interpolating,
    with a linear window, leaving the LPLR, with a negative LQCR q_t at some probe."""
    completed = runs[runs["status"] == "completed"]

    def count(column, test):
        return int(test(completed[column]).sum()) if column in completed and len(completed) else 0

    larger = "sharpness_larger_max" if "sharpness_larger_max" in completed else "sharpness_tracked_max"

    counts = {"runs": len(runs), "completed": len(completed), "diverged": int((runs["status"] == "diverged").sum()),
              "seeds": runs["seed"].nunique(),
              "shared": int(runs["source"].fillna("").astype(str).str.len().gt(0).sum()) if "source" in runs else 0,
              "interpolating": count("interpolates", lambda c: c.astype(bool)),
              "with_window": count("has_window", lambda c: c.astype(bool)),
              "leaving_lplr": count("lplr_exit_step", lambda c: c.notna()),
              "lqcr_negative_runs": count("lqcr_negative", lambda c: c > 0),
              # the step-size regime from the larger of the Gauss-Newton and Hessian sharpness (lplr.analysis.REGIMES)
              "regime_theorem": count(larger, lambda c: c <= 1.0),
              "regime_stable": count(larger, lambda c: (c > 1.0) & (c <= 2.0)),
              "regime_eos": count(larger, lambda c: c > 2.0),
              "regime_theorem_gauss_newton": count("sharpness_tracked_max", lambda c: c <= 1.0),
              "short_of_three_decades": count("decades", lambda c: c < 3.0)}
    if "n_train" in runs and len(runs):
        counts["n_train"] = int(runs["n_train"].max())
    numbers = [{"key": f"{experiment}.{name}", "value": float(value)} for name, value in counts.items()]
    if "lqcr_min" in completed and len(completed):
        numbers.append({"key": f"{experiment}.lqcr_min_all", "value": float(completed["lqcr_min"].min())})
    if "audit_max_rel_error" in completed and len(completed):
        numbers.append({"key": f"{experiment}.audit_max_rel_error", "value": float(completed["audit_max_rel_error"].max())})
    return numbers


def condition_table(summary: pd.DataFrame, columns: list[str], statistics: list[str]) -> str:
    """LaTeX table rows (one per condition): the condition, then each statistic's estimate [interval] (n/runs)."""
    rows = []
    wide = summary[summary["statistic"].isin(statistics)]
    for _, group in wide.groupby(columns, sort=True):
        cells = [format_value(group.iloc[0][c]) for c in columns]
        for statistic in statistics:
            row = group[group["statistic"] == statistic]
            if row.empty:
                cells.append("--")
                continue
            r = row.iloc[0]
            cells.append(format_interval(r["estimate"], r["ci_low"], r["ci_high"], r["n"], r["n_runs"], latex=True))
        rows.append(" & ".join(cell.replace("_", r"\_") for cell in cells) + r" \\")
    return "\n".join(rows)


def sensitivity_table(sensitivity: pd.DataFrame) -> str:
    """LaTeX rows: L* estimator, window (R^2 threshold, or the fixed [T/4, T]), runs with a window, rate (geometric
    mean), PL slope (mean)."""
    def window(r):
        return r"fixed [T/4, T]" if r.get("window") == "fixed [T/4, T]" else f"$R^2\\ge$ {format_number(r['r2_min'])}"
    return "\n".join(
        f"{r['lstar_method']} & {window(r)} & {int(r['runs_with_window'])}/{int(r['runs'])} & "
        f"{format_number(r['rate'])} & {format_number(r['pl_slope'])} \\\\" for _, r in sensitivity.iterrows())


def shared_sentence(experiment: str, runs: dict[str, pd.DataFrame]) -> str:
    """'1 of its 2 runs is shared with width (trained once).' or 'None of its 2 runs is shared with another
    experiment.': the runs of `experiment` read from another experiment's folder and those another experiment
    reads from its folder (each runs table's `source` column, '<experiment>/<run id>'), whichever owns them."""
    def sources(frame):
        return frame["source"].fillna("").astype(str) if "source" in frame else pd.Series([], dtype=str)

    own = runs[experiment]
    shared, names = set(), []
    for run, source in zip(own["run"] if "run" in own else [], sources(own)):
        if source:
            shared.add(run)
            names.append(source.split("/")[0])
    for other, frame in runs.items():
        for run, source in zip(frame["run"] if "run" in frame else [], sources(frame)):
            if other != experiment and source.startswith(f"{experiment}/"):
                shared.add(source.split("/", 1)[1])
                names.append(other)
    total = len(own)
    if not shared:
        return f"None of its runs ({total}) is shared with another experiment."
    names = list(dict.fromkeys(names))
    listed = " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
    verb = "is" if len(shared) == 1 else "are"
    return f"{len(shared)} of its {total} runs {verb} shared with {listed} (trained once)."


def setup_numbers(setup: dict[str, dict]) -> list[dict]:
    """`setup.<experiment>`: the paragraph that says what the experiment is (lplr.setup.describe), and the facts
    the text quotes one by one (depth, widths, steps, seeds)."""
    from lplr.setup import describe

    numbers = []
    for name, facts in setup.items():
        numbers.append({"key": f"setup.{name}", "text": describe(facts, latex=True)})
        numbers.append({"key": f"setup.{name}.seeds", "value": float(len(facts["seeds"]))})
        for key, value in facts["shared"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers.append({"key": f"setup.{name}.{key}", "value": float(value)})
    return numbers


def paper_numbers(tables: dict[str, dict[str, str]], conditions: dict[str, list[str]], fit_settings: dict,
                  setup: dict[str, dict] | None = None) -> tuple[list[dict], dict[str, str]]:
    """Every number the paper quotes, and per experiment a LaTeX table of its conditions.

    `tables` maps experiment -> {"summary", "runs", "sensitivity", "trends"} file paths; `setup` maps
    experiment -> lplr.setup.experiment_facts (the config's facts the text states).
    """
    numbers = [{"key": "confidence", "value": 100 * fit_settings["confidence"]}] + setup_numbers(setup or {})
    numbers += [{"key": f"fit.{k}", "value": float(fit_settings[k])} for k in ("min_offset", "lplr_exit_fraction")]
    numbers += [{"key": f"fit.{k}", "value": float(v)} for k, v in fit_settings["window"].items()]
    numbers += [{"key": f"fit.interpolation.{k}", "value": float(v)} for k, v in fit_settings["interpolation"].items()]
    numbers += [{"key": "fit.rates.span", "value": float(fit_settings["rates"]["span"])},
                {"key": "fit.rates.top_k", "value": float(fit_settings["rates"]["top_k"])}]
    for segment in ("early", "late"):
        numbers += [{"key": f"fit.rates.{segment}.{side}", "value": 100 * float(v)}
                    for side, v in zip(("start", "end"), fit_settings["rates"][segment])]
    latex, audit, trained = {}, [], 0
    all_runs = {experiment: pd.read_csv(tables[experiment]["runs"]) for experiment in conditions}
    for experiment, columns in conditions.items():
        files = tables[experiment]
        summary, runs = pd.read_csv(files["summary"]), all_runs[experiment]
        per_condition = numbers_from_summary(experiment, summary, columns or ["condition"])
        numbers += per_condition + run_counts(experiment, runs)
        numbers.append({"key": f"{experiment}.shared_sentence", "text": latex_escape(shared_sentence(experiment, all_runs))})
        numbers += numbers_from_trends(experiment, pd.read_csv(files["trends"]))
        if not columns or len(summary[columns].drop_duplicates()) == 1:  # one condition: `<experiment>.<statistic>`
            numbers += numbers_from_summary(experiment, summary, columns, label=lambda row: "")
        if columns == ["width"]:
            widths = sorted(runs["width"].unique())
            numbers += [{"key": f"{experiment}.wmin.value", "value": float(widths[0])},
                        {"key": f"{experiment}.wmax.value", "value": float(widths[-1])}]
            numbers += aliases(per_condition, f"width={format_value(widths[0])}", "wmin")
            numbers += aliases(per_condition, f"width={format_value(widths[-1])}", "wmax")
        if "depth" in columns:  # depth x init: `depth.mu_0.dmax,init=he`, whatever the config's depths
            ends = (("dmin", sorted(runs["depth"].unique())[0]), ("dmax", sorted(runs["depth"].unique())[-1]))
            numbers += [{"key": f"{experiment}.{name}.value", "value": float(d)} for name, d in ends]
            numbers += [{**n, "key": n["key"].replace(f".depth={format_value(d)},", f".{name},")} for name, d in ends
                        for n in per_condition if f".depth={format_value(d)}," in n["key"]]
        if columns == ["batch_size"]:  # `<experiment>.<statistic>.bmin` / `.bmax`, whatever the sizes (full = n_train)
            sizes = sorted(summary["batch_size"].unique())
            numbers += [{"key": f"{experiment}.bmin.value", "value": float(sizes[0])}]
            numbers += aliases(per_condition, f"batch_size={format_value(sizes[0])}", "bmin")
            numbers += aliases(per_condition, f"batch_size={format_value(sizes[-1])}", "bmax")
        if "audit_max_rel_error" in runs:
            audit.append(runs["audit_max_rel_error"].max())
        trained += int((runs["source"].fillna("").astype(str) == "").sum()) if "source" in runs else len(runs)
        latex[experiment] = condition_table(summary, columns or ["condition"], TABLE_STATISTICS)
        latex[f"{experiment}-header"] = " & ".join(latex_escape(c) for c in [*(columns or ["condition"]), *TABLE_HEADERS]) + r" \\"
        latex[f"{experiment}-sensitivity"] = sensitivity_table(pd.read_csv(files["sensitivity"]))
    numbers.append({"key": "audit_max_rel_error", "value": float(np.nanmax(audit)) if audit else np.nan})
    numbers.append({"key": "runs_trained", "value": float(trained)})
    return numbers, latex


def write_numbers(numbers: list[dict], tex_path: str | Path, csv_path: str | Path, tables: dict[str, str] | None = None) -> pd.DataFrame:
    """Write numbers.tex (\\val{key} macros, \\ifexperiment flags, \\conditiontable{experiment} rows) and the
    same numbers as a CSV table. An experiment is enabled when it has a table."""
    import re

    frame = pd.DataFrame(numbers).drop_duplicates("key", keep="last")
    # a number is written by format_number; a text entry (an interval's sentence, a setup paragraph) as given
    texts = frame["text"] if "text" in frame else pd.Series([None] * len(frame), index=frame.index)
    values = frame["value"] if "value" in frame else pd.Series([np.nan] * len(frame), index=frame.index)
    frame["text"] = [t if isinstance(t, str) else format_number(v) for t, v in zip(texts, values)]
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


# ------------------------------------------------------------------------------------------------
# the claims ledger in the paper (lplr.claims): a table and one generated sentence per row
# ------------------------------------------------------------------------------------------------

def latex_escape(text) -> str:
    """Plain text (config statements, labels) safe inside LaTeX."""
    return escape.tex(text)


def breakable(text) -> str:
    """latex_escape, with a line break allowed after "=", "/" and "," (run ids and conditions do not hyphenate)."""
    out = latex_escape(text)
    for mark in ("=", "/", ","):
        out = out.replace(mark, mark + r"\allowbreak{}")
    return out


def _interval(row) -> str:
    if not np.isfinite(row["estimate"]):
        return "no value"
    if "upper bound" in str(row.get("estimator", "")):  # a property: violating runs and the bound on their rate
        return f"{int(round(row['estimate'] * row['n']))} of {int(row['n'])} runs violate; rate <= {format_number(row['high'])}"
    bounds = (f" [{format_number(row['low'])}, {format_number(row['high'])}]"
              if np.isfinite(row["low"]) and np.isfinite(row["high"]) else " (no interval)")
    return f"{format_number(row['estimate'])}{bounds}; n={int(row['n'])}/{int(row['n_runs'])}"


def _where(row) -> str:
    return f"{row['experiment']}" + (f" ({row['condition']})" if row["condition"] and row["condition"] != "all runs" else "")


def _measure(row) -> str:
    measure = row.get("measure")
    return measure if isinstance(measure, str) and measure else row["statistic"]


def claim_sentence(row) -> str:
    """One sentence per ledger row, every word of which follows from the row: the verdict, the statistic with
    its interval, the regime and the rule. No direction is stated that the rule did not decide."""
    where = _where(row)
    kind = "primary" if bool(row.get("primary")) else "exploratory"
    if row["verdict"] == "not tested at this scale" and not (isinstance(row.get("estimate"), float) and np.isfinite(row["estimate"])):
        return f"Claim {row['paper_claim']} ({row['claim']}) on {where} [{kind}]: not tested at this scale ({row['note']})."
    level = (f" at {format_number(100 * row['confidence'])}%" if isinstance(row.get("confidence"), float)
             and np.isfinite(row["confidence"]) else "")
    text = (f"Claim {row['paper_claim']} ({row['claim']}) on {where} [{kind}], regime {row['regime']} "
            f"[observed: {row['regime_observed']}], {row['scale']}: {_measure(row)} = {_interval(row)} "
            f"({row['estimator']}{level}); rule: {row['rule']}; verdict: {row['verdict'].upper()}")
    registered = row.get("as_registered")
    if isinstance(registered, str) and registered and registered != row["verdict"]:
        text += f" (as first registered: {registered})"
    if isinstance(row.get("paper_value"), str) and row["paper_value"]:
        text += f"; the paper's value: {row['paper_value']}"
    if isinstance(row.get("note"), str) and row["note"]:
        text += f" ({row['note']})"
    return text + "." + _seeds_clause(row)


def _seeds_clause(row) -> str:
    """For an inconclusive row: how many seeds the pilot's spread says would decide it (lplr.claim_rules.seeds_to_decide)."""
    seeds = row.get("seeds_to_decide")
    if row["verdict"] != "inconclusive" or not isinstance(seeds, float) or np.isnan(seeds):
        return ""
    if np.isinf(seeds):
        return " The estimate sits on the rule's boundary (or within noise of it): no feasible number of seeds decides it."
    return (f" If the estimate and the per-seed spread held, about {int(seeds)} seeds (here {int(row['n'])}) would "
            "decide it.")


# claim | experiment (condition) | estimate [interval; n] | verdict | as registered: 15.3 cm + 10 x 3pt < 16.5 cm
CLAIMS_COLUMNS = r"@{}p{0.4cm}p{3.1cm}p{3.2cm}p{3.6cm}p{2.4cm}p{2.6cm}@{}"
CLAIMS_HEADER = r"\toprule & claim & experiment (condition) & estimate [interval; n] & verdict & as registered \\ \midrule"
CLAIMS_CAPTIONS = {"claimstable": ("the primary row of each claim (its statistic, estimator and rule in the key below)",
                                   "tab:claims"),
                   "claimsexploratory": (r"the exploratory rows (95\% each, no multiplicity correction; B: a check beyond "
                                         r"the paper)", "tab:exploratory")}


def _table(rows: pd.DataFrame, name: str) -> list[str]:
    """A longtable with fixed column widths (inside the margins), short claim names, the estimator in the key."""
    caption, label = CLAIMS_CAPTIONS[name]
    lines = [r"\newcommand{\%s}{%%" % name, r"\begin{footnotesize}\setlength{\tabcolsep}{3pt}",
             r"\begin{longtable}{%s}" % CLAIMS_COLUMNS, r"\caption{Claims ledger: %s.}\label{%s}\\" % (caption, label),
             CLAIMS_HEADER + r" \endfirsthead", CLAIMS_HEADER + r" \endhead"]
    for _, row in rows.iterrows():
        estimate = _interval(row) if isinstance(row.get("estimate"), float) else "--"
        registered = row.get("as_registered") if isinstance(row.get("as_registered"), str) else ""
        number = "B" if row["paper_claim"] == "beyond" else row["paper_claim"]  # the column fits a claim number
        cells = (number, row["claim"].replace("_", " "), _where(row), estimate, row["verdict"], registered)
        lines.append(" & ".join(breakable(c) for c in cells) + r" \\")
    return lines + [r"\bottomrule\end{longtable}\end{footnotesize}}"]


def _key(ledger: pd.DataFrame) -> list[str]:
    """Per claim id, once: the statistic (or trend) it is judged on, its estimator and its rule."""
    lines = [r"\newcommand{\claimskey}{%", r"\begin{footnotesize}\begin{description}"]
    for claim, rows in ledger.groupby("claim", sort=False):
        row = rows.iloc[0]
        parts = [_measure(row)] + [row[c] for c in ("estimator", "rule") if isinstance(row.get(c), str) and row[c]]
        lines.append(r"\item[%s] %s" % (latex_escape(claim.replace("_", " ")), breakable("; ".join(parts))))
    return lines + [r"\end{description}\end{footnotesize}}"]


def claims_abstract(ledger: pd.DataFrame) -> str:
    """One verdict per claim, from its primary row: 'claim 1 (linear decay) as the kernel predicts; ...'."""
    from lplr.claims import primary_rows

    return "; ".join(f"claim {row['paper_claim']} ({row['claim'].replace('_', ' ')}) {row['verdict']}"
                     for _, row in primary_rows(ledger).iterrows())


def claims_latex(ledger: pd.DataFrame) -> str:
    """claims.tex: macros (counts and confidence of the primary rows, each claim's verdict), the primary and
    exploratory tables, the key of statistics, the sentences and the abstract's one verdict per claim."""
    from lplr.claims import NOT_TESTED as NOT_TESTED_VERDICT, primary_rows, verdict_counts

    primary = primary_rows(ledger)
    exploratory = ledger[~ledger["primary"].astype(bool)]
    levels = primary["confidence"].dropna()
    lines = ["% Generated by lplr.paper.claims_latex from results/tables/claims.csv; do not edit."]

    def define(name, value):
        lines.append(rf"\expandafter\def\csname lplr@claims.{name}\endcsname{{{value}}}")

    for verdict, count in verdict_counts(primary).items():
        define(verdict.replace(" ", ""), count)
    define("rows", len(ledger))
    define("claims", len(primary))
    define("primary_tested", int(((primary["verdict"] != NOT_TESTED_VERDICT) & primary["confidence"].notna()).sum()))
    define("confidence", format_number(100 * levels.max()) if len(levels) else "--")
    explore = exploratory["confidence"].dropna()
    define("exploratory_confidence", format_number(100 * explore.max()) if len(explore) else "--")
    for _, row in primary.iterrows():
        define(f"verdict.{row['paper_claim']}", latex_escape(row["verdict"]))
    untested = int((ledger["verdict"] == NOT_TESTED_VERDICT).sum())
    note = (f"The paper's scale has not been run in this build: {untested} of the {len(ledger)} claim rows need a scale "
            "it does not have." if untested else "")
    lines.append(r"\newcommand{\claimsscalenote}{" + latex_escape(note) + "}")
    lines.append(r"\newcommand{\claimsabstract}{" + latex_escape(claims_abstract(ledger)) + "}")
    lines += _table(primary, "claimstable") + _table(exploratory, "claimsexploratory") + _key(ledger)
    for name, rows in (("claimsprose", primary), ("claimsexploratoryprose", exploratory)):
        lines += [r"\newcommand{\%s}{%%" % name, r"\begin{itemize}"]
        lines += [r"\item " + breakable(claim_sentence(row)) for _, row in rows.iterrows()]
        lines += [r"\end{itemize}}"]
    return "\n".join(lines) + "\n"
