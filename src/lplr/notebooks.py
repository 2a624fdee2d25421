"""The notebooks: executing a jupytext percent-format notebook with papermill, choosing which run
explorers a build makes, the index page, and the small helpers the notebooks call.

Everything runs through the Python APIs of jupytext, papermill and nbconvert in the interpreter that
runs the rule, so no rule depends on an activated environment (no `jupytext` or `jupyter` on PATH).
The kernel is that same interpreter (ipykernel's `python3` spec resolves to sys.executable).

Two notebooks, both in workflow/notebooks/ (definitions: docs/definitions.md):
    experiment.py   one per experiment of the config: its figures (drawn through lplr.plots.registry),
                    its tables, its rows of the claims ledger, and the reading text
                    workflow/notebooks/reading/<experiment>.md
    run.py          the run explorer, one per selected run (config `notebooks.runs`)
A notebook reads results/ only: it never trains and never computes a statistic (lplr.analysis does).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from lplr import escape
from lplr.config import ConfigError, conditions, experiment_runs, run_id
from lplr.io import write_text
from lplr.provenance import current, stamp_html, summary

RUN_SELECTIONS = ("auto", "first_seed", "all", "none")
MAX_RUNS = 8  # `auto`'s default budget: run explorers take 16-30 s each, so 8 add a few minutes to a build
READING = "workflow/notebooks/reading/{experiment}.md"  # an experiment's reading text, beside the notebook


class NotebookError(RuntimeError):
    """A cell of a notebook failed; the message names the notebook, the cell and the error."""


def execute_notebook(source: str | Path, out_ipynb: str | Path, out_html: str | Path, parameters: dict) -> None:
    """source (.py, percent format) -> executed out_ipynb (papermill, `parameters` injected) -> out_html.

    A failing cell raises NotebookError naming `source`, the cell (its number among the source's code
    cells and its first line) and the error; the executed notebook up to that cell is kept beside
    out_ipynb as `<name>.failed.ipynb` to open in Jupyter.
    """
    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    out_ipynb = Path(out_ipynb)
    out_ipynb.parent.mkdir(parents=True, exist_ok=True)
    # papermill and nbformat want .ipynb names: work in a scratch folder beside the output, then rename
    with tempfile.TemporaryDirectory(dir=out_ipynb.parent, prefix=f".{out_ipynb.stem}.") as scratch:
        src, executed = Path(scratch) / "source.ipynb", Path(scratch) / "executed.ipynb"
        nbformat.write(jupytext.read(source), src)
        try:
            papermill.execute_notebook(str(src), str(executed), parameters=parameters, kernel_name="python3",
                                       language="python", cwd=str(Path.cwd()), progress_bar=False, log_output=True)
        except papermill.PapermillExecutionError as error:
            failed = out_ipynb.with_suffix(".failed.ipynb")
            if executed.exists():
                os.replace(executed, failed)
            raise NotebookError(failure_message(source, error, failed)) from error
        html_page, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        os.replace(executed, out_ipynb)
    write_text(out_html, stamp_html(html_page))  # the commit and config hash in <meta> tags and a footer
    Path(out_ipynb).with_suffix(".failed.ipynb").unlink(missing_ok=True)  # from an earlier, failed attempt


def failure_message(source: str | Path, error, failed: Path) -> str:
    """'notebook NOTEBOOK: code cell K of the source, In [N] in the executed notebook failed: Ename: evalue', the
    cell's first line and text, where the executed notebook is kept, then papermill's traceback.

    K counts the code cells of the source (the .py), so it finds the cell there; In [N] is the execution count
    the .failed.ipynb shows (papermill's injected-parameters cell counts there).
    """
    lines = (error.source or "").strip().splitlines()
    where = f"In [{error.exec_count}]"
    try:
        import nbformat

        # papermill adds error-marker cells to the executed notebook, so find the cell by its execution count
        code = [c for c in nbformat.read(failed, as_version=4).cells
                if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
        number = next(k for k, c in enumerate(code, 1) if c.get("execution_count") == error.exec_count)
        where = f"code cell {number} of the source, {where} in the executed notebook"
    except (OSError, ValueError, StopIteration):  # no executed notebook to count in: papermill's numbers only
        pass
    return (f"notebook {source}: {where} failed: {error.ename}: {error.evalue}\n"
            f"first line of the cell: {lines[0] if lines else ''!r}\n"
            f"The cell:\n{error.source}\n"
            f"The executed notebook up to that cell: {failed}\n{error}")


# ------------------------------------------------------------------------------------------------
# which runs get a run explorer
# ------------------------------------------------------------------------------------------------

def selected_experiments(config: dict, experiments: list[str]) -> list[str]:
    """The enabled experiments whose notebook the default target builds (config `notebooks.experiments`):
    all, none, or a list of experiment names (a switched-off one is skipped; an unknown one raises ConfigError)."""
    choice = config.get("notebooks", {}).get("experiments", "all")
    if choice in ("all", "none"):
        return list(experiments) if choice == "all" else []
    if not isinstance(choice, list):
        raise ConfigError(f"config key 'notebooks.experiments': {choice!r} is not all, none or a list of experiments.")
    for index, name in enumerate(choice):
        if name not in config["experiments"]:
            raise ConfigError(f"config key 'notebooks.experiments[{index}]': {name!r} is not an experiment of the config "
                              f"({', '.join(config['experiments'])}).")
    return [name for name in experiments if name in choice]


def auto_runs(config: dict, experiments: list[str], budget: int) -> dict[str, list[str]]:
    """`auto`: the first seed listed of the first and the last condition of each experiment (a grid's smallest and
    largest value when listed in order), taken in turn (every experiment's first, then every experiment's last)
    up to `budget` explorers, so any config gets explorers that exist and a bounded notebook stage."""
    ends = {}
    for name in experiments:
        points, seed = conditions(config, name), config["experiments"][name]["seeds"][0]
        ends[name] = list(dict.fromkeys(run_id(point, seed) for point in (points[0], points[-1])))
    chosen = {name: [] for name in experiments}
    for end in (0, 1):
        for name in experiments:
            if end < len(ends[name]) and budget > 0:
                chosen[name].append(ends[name][end])
                budget -= 1
    return chosen


def selected_runs(config: dict, experiments: list[str]) -> dict[str, list[str]]:
    """{experiment: run ids} whose run explorer the default target builds (config `notebooks.runs`):
    auto (the default: `auto_runs` within `notebooks.max_runs`); first_seed = one per condition, the first seed
    listed; all; none; or a list of '<experiment>/<run id>'. A listed run of a switched-off experiment is
    skipped; one the config does not have raises ConfigError naming the list entry."""
    choice = config.get("notebooks", {}).get("runs", "auto")
    runs = {name: experiment_runs(config, name) for name in experiments}
    if choice == "auto":
        return auto_runs(config, experiments, config.get("notebooks", {}).get("max_runs", MAX_RUNS))
    if choice == "none":
        return {name: [] for name in experiments}
    if choice == "all":
        return {name: list(runs[name]) for name in experiments}
    if choice == "first_seed":
        return {name: [run for run, s in runs[name].items()
                       if s["seed"] == config["experiments"][name]["seeds"][0]] for name in experiments}
    if not isinstance(choice, list):
        raise ConfigError(f"config key 'notebooks.runs': {choice!r} is not one of {RUN_SELECTIONS} or a list of "
                          "'<experiment>/<run id>'.")
    chosen = {name: [] for name in experiments}
    for index, entry in enumerate(choice):
        name, _, run = str(entry).partition("/")
        if name in config["experiments"] and name not in runs:
            continue  # switched off (`enabled: false`): its runs are not built, so neither are their explorers
        if name not in runs:
            raise ConfigError(f"config key 'notebooks.runs[{index}]': {entry!r} names experiment {name!r}, which is not "
                              f"an enabled experiment ({', '.join(experiments)}).")
        if run not in runs[name]:
            raise ConfigError(f"config key 'notebooks.runs[{index}]': experiment {name!r} has no run {run!r}; its runs: "
                              f"{', '.join(runs[name])}.")
        if run not in chosen[name]:
            chosen[name].append(run)
    return chosen


# ------------------------------------------------------------------------------------------------
# the index page
# ------------------------------------------------------------------------------------------------

def index_page(out_html: str | Path, experiments: Mapping[str, tuple[str, str]], runs: Mapping[str, list[str]],
               provenance: dict | None = None) -> str:
    """The HTML of results/notebooks/index.html: a link to every notebook, relative to the index's folder.

    experiments: {experiment: (its notebook's html, its description)}; runs: {experiment: run notebooks' html}.
    The build's commit and config hash are in the text, in <meta> tags and a footer (lplr.provenance).
    """
    provenance = provenance or current()
    folder = Path(out_html).parent

    def link(path: str, text: str) -> str:
        target = quote(os.path.relpath(path, folder).replace(os.sep, "/"), safe="/=+,-_.")
        return f'<a href="{target}">{escape.html(text)}</a>'

    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             "<title>LPLR notebooks</title>", "</head>", "<body>", "<h1>LPLR notebooks</h1>",
             f"<p>Built from results commit <code>{escape.html(provenance['results_commit'])}</code>, config hash "
             f"<code>{escape.html(provenance['config_hash'])}</code>"
             + (f", drawn at <code>{escape.html(provenance['drawn_commit'])}</code>"
                if provenance["drawn_commit"] != provenance["results_commit"] else "") + ".</p>",
             "<p>Each notebook was executed by papermill from the workflow and reads results/ only. "
             "Definitions: docs/definitions.md in the repository.</p>",
             "<h2>Experiments</h2>", "<ul>"]
    for name, (path, description) in experiments.items():
        lines.append(f"<li>{link(path, name)}" + (f": {escape.html(description)}" if description else "") + "</li>")
    lines += ["</ul>", "<h2>Run explorers</h2>"]
    if not any(runs.values()):
        lines.append("<p>No run explorer in this build (config <code>notebooks.runs</code>).</p>")
    for name, paths in runs.items():
        if paths:
            lines += [f"<h3>{escape.html(name)}</h3>", "<ul>"]
            lines += [f"<li>{link(path, Path(path).stem)}</li>" for path in paths]
            lines.append("</ul>")
    lines += ["</body>", "</html>", ""]
    return stamp_html("\n".join(lines), provenance)


def write_index(out_html: str | Path, experiments: Mapping[str, tuple[str, str]], runs: Mapping[str, list[str]],
                provenance: dict | None = None) -> None:
    write_text(out_html, index_page(out_html, experiments, runs, provenance))


# ------------------------------------------------------------------------------------------------
# helpers the notebooks call (display only: no statistic is computed here)
# ------------------------------------------------------------------------------------------------

def show_figure(fig) -> None:
    """Display a matplotlib figure inline as a static PNG, then close it (lplr.plots selects the Agg
    backend, so the notebook's inline backend would not show it by itself)."""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="png"))


def show_registry_figure(name: str, tables: Mapping[str, str], options: Mapping) -> None:
    """Draw figure `name` of lplr.plots.registry from the experiment's tables ({table: path}) and display it."""
    from IPython.display import Image, display

    from lplr.plots.registry import FIGURES, draw_figure

    figure = FIGURES[name]
    with tempfile.TemporaryDirectory(prefix="lplr-figure-") as folder:
        out = Path(folder) / f"{name}.pdf"
        draw_figure(name, {table: tables[table] for table in figure.tables}, out, options)
        display(Image(data=out.with_suffix(".png").read_bytes(), format="png"))


def experiment_figures(experiment: str) -> list[str]:
    """The registry's figures of `experiment`, in registry order (none for an experiment it does not draw)."""
    from lplr.plots.registry import FIGURES

    return [name for name, figure in FIGURES.items() if figure.experiment == experiment]


def run_row(runs, run: str, path: str | Path):
    """The row of `run` in a runs.csv frame; a clear error when the table has no such run."""
    rows = runs[runs["run"] == run]
    if rows.empty:
        raise KeyError(f"{path} has no run {run!r}; its runs: {', '.join(runs['run'])}. Pick one of those "
                       "(results/notebooks/runs/<experiment>/<run>.html).")
    return rows.iloc[0]


def summary_view(summary, statistics: list[str]):
    """The summary table as people read it: one row per condition, one column per statistic (those of
    `statistics` the table has, in that order), each cell 'estimate [low, high] (n/n_runs)'."""
    import pandas as pd

    from lplr.formatting import format_number

    conditions = list(summary.columns[:list(summary.columns).index("statistic")])
    rows = summary[summary["statistic"].isin(statistics)]
    cells = rows.assign(cell=[f"{format_number(r.estimate)} [{format_number(r.ci_low)}, {format_number(r.ci_high)}] "
                              f"({int(r.n)}/{int(r.n_runs)})" for r in rows.itertuples()])
    if not conditions:  # one condition: a single row
        cells = cells.assign(condition="all")
        conditions = ["condition"]
    view = cells.pivot_table(index=conditions, columns="statistic", values="cell", aggfunc="first", sort=False)
    return view[[s for s in statistics if s in view.columns]].rename_axis(columns=None) if len(view) else pd.DataFrame()


def provenance_line() -> str:
    return summary(current())
