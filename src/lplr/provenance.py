"""Provenance: which commit and which config produced an output, stamped on figures, HTML and the paper.

Three values, computed once per Snakemake invocation by `describe` (workflow/rules/common.smk) and
handed to every job through the environment variable LPLR_PROVENANCE:

    results_commit  the git commit that produced the results (training, probes): "<sha>[-dirty]", the
                    commit the workflow runs at; after a restore (lplr.bundle) the commit recorded in
                    the bundle. (Snakemake does not retrain when only src/ changes: each run's own
                    commit is in its manifest.json, and a bundle lists them as run_commits.)
    drawn_commit    the commit that drew the output; differs from results_commit after a restore
    config_hash     a short hash of the resolved config without the keys that say how it ran
                    (HOW_IT_RAN: device, where data are kept, seed batching, bundling, notebooks), so the same experiment
                    run on a laptop and on a GPU node has the same hash

Outside git the commits are "unknown"; outside Snakemake (`current()` with no environment variable)
the config hash is "unknown" too.
"""

from __future__ import annotations

import copy
import html
import json
import os
import sys
from pathlib import Path

from lplr.io import git_commit, settings_hash, write_text

ENVIRONMENT_VARIABLE = "LPLR_PROVENANCE"
UNKNOWN = "unknown"
# Config keys that say how a run was executed, not what it computed (dotted; "*" matches any experiment).
HOW_IT_RAN = ("device", "gpus", "data.root", "experiments.*.data.root", "bundle_checkpoints", "training.seed_batching",
              # seeds batched or not, like the device: the same arithmetic up to float rounding per step, which
              # chaotic runs (the CNN's SGD at eta lambda_max/n = 1) amplify over a run (docs/analysis.md, "Seeds in one job")
              "experiments.*.training.seed_batching",
              # zero input columns skipped or not: the same numbers up to float rounding (lplr.columns)
              "training.skip_zero_columns", "experiments.*.training.skip_zero_columns",
              # W_1 in the training inputs' row space or not: the same numbers up to float rounding (lplr.columns)
              "training.train_in_row_space", "experiments.*.training.train_in_row_space",
              "notebooks")  # which run explorers are built: the same results



def what_it_is(config: dict) -> dict:
    """The config without the HOW_IT_RAN keys."""
    config = copy.deepcopy(dict(config))
    for dotted in HOW_IT_RAN:
        _drop(config, dotted.split("."))
    return config


def _drop(node, parts: list[str]) -> None:
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    for key in (list(node) if head == "*" else [head]):
        if key in node:
            if rest:
                _drop(node[key], rest)
            else:
                del node[key]


def config_hash(config: dict) -> str:
    """A short hash of what the resolved config computes (canonical JSON of `what_it_is`)."""
    return settings_hash(what_it_is(config))


def describe(config: dict, restored: dict | None = None, repository: str | Path | None = None) -> dict:
    """The provenance of outputs built now from `config`; `restored`: the manifest of a restored bundle."""
    drawn = git_commit(repository) or UNKNOWN
    results = restored["git_commit"] if restored else drawn
    return {"results_commit": results or UNKNOWN, "drawn_commit": drawn, "config_hash": config_hash(config)}


def current() -> dict:
    """The provenance handed down by the workflow, or (outside it) this checkout's commit."""
    if ENVIRONMENT_VARIABLE in os.environ:
        return json.loads(os.environ[ENVIRONMENT_VARIABLE])
    commit = git_commit(Path(__file__).parent) or UNKNOWN
    return {"results_commit": commit, "drawn_commit": commit, "config_hash": UNKNOWN}


def export(provenance: dict) -> None:
    """Hand `provenance` to every job started from this process (and its children)."""
    os.environ[ENVIRONMENT_VARIABLE] = json.dumps(provenance, sort_keys=True)


def summary(provenance: dict) -> str:
    """One line for people: 'results <commit>, config <hash>[, drawn at <commit>]'."""
    line = f"LPLR results {provenance['results_commit']}, config {provenance['config_hash']}"
    if provenance["drawn_commit"] != provenance["results_commit"]:
        line += f", drawn at {provenance['drawn_commit']}"
    return line


def figure_metadata(fmt: str, provenance: dict | None = None) -> dict:
    """`metadata=` for matplotlib's savefig: the PDF info dictionary, or PNG text chunks."""
    provenance = provenance or current()
    if fmt == "pdf":  # only the standard info keys (matplotlib warns on others)
        return {"Subject": summary(provenance),
                "Keywords": "; ".join(f"lplr:{key}={value}" for key, value in sorted(provenance.items()))}
    if fmt == "png":
        return {"Description": summary(provenance), **{f"lplr:{key}": value for key, value in provenance.items()}}
    return {}


def stamp_html(page: str, provenance: dict | None = None) -> str:
    """An HTML page with the provenance added: <meta> tags in <head> and a visible footer line."""
    provenance = provenance or current()
    if "</head>" not in page or "</body>" not in page:
        raise ValueError("the page has no </head> or </body>; is it an nbconvert HTML page?")
    meta = "".join(f'<meta name="lplr:{key}" content="{html.escape(value)}">\n' for key, value in sorted(provenance.items()))
    footer = f'<footer class="lplr-provenance"><small>{html.escape(summary(provenance))}</small></footer>\n'
    head, tail = page.replace("</head>", meta + "</head>", 1).rsplit("</body>", 1)
    return head + footer + "</body>" + tail


def write_tex(path: str | Path, provenance: dict | None = None) -> None:
    """provenance.tex: the macro \\lplrprovenance and a page footer carrying it (paper/main.tex inputs it)."""
    provenance = provenance or current()
    text = summary(provenance).replace("_", r"\_")
    write_text(path, "\n".join([
        "% Generated by lplr.provenance.write_tex; do not edit.",
        rf"\newcommand{{\lplrprovenance}}{{{text}}}",
        r"\makeatletter",  # the plain page style with the provenance under the page number
        r"\def\ps@plain{\let\@mkboth\@gobbletwo\let\@oddhead\@empty\let\@evenhead\@empty"
        r"\def\@oddfoot{\parbox[t]{\textwidth}{\centering\thepage\\[1pt]\tiny\lplrprovenance}}"
        r"\let\@evenfoot\@oddfoot}",
        r"\makeatother",
        r"\pagestyle{plain}",
        "",
    ]))


def main(argv: list[str] | None = None) -> None:
    """python -m lplr.provenance tex OUT.tex: the paper's footer, with the workflow's provenance."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "tex":
        raise SystemExit("usage: python -m lplr.provenance tex OUT.tex")
    write_tex(argv[1])


if __name__ == "__main__":
    main()
