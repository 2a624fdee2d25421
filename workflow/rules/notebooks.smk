# Notebooks: jupytext percent-format sources (workflow/notebooks/) executed by papermill with parameters and
# rendered to HTML (lplr.notebooks). They read results/ only: the analysis tables, a run's manifest and its
# probe's eigenvalues; no notebook trains or computes a statistic.
from lplr.plots.registry import TABLES


# One per experiment of the config: its figures through the registry, tables, claims and reading text.
rule notebook_experiment:
    localrule: True
    input:
        notebook="workflow/notebooks/experiment.py",
        reading=reading_text,  # optional: the notebook says when there is none
        claims=claims_ledger,  # optional: only when a rule builds the claims ledger
        **TABLES,
    output:
        ipynb="results/notebooks/experiments/{experiment}.ipynb",
        html=report("results/notebooks/experiments/{experiment}.html", caption="../report/notebook_experiment.rst",
                    category="Notebooks", subcategory="Experiments", labels={"experiment": "{experiment}"}),
    log:
        "logs/notebooks/experiments/{experiment}.log",
    params:
        parameters=experiment_notebook_parameters,
    conda:
        ENV
    script:
        "../scripts/execute_notebook.py"


# The run explorer: one run (any run of the config; `notebooks.runs` picks those of the default target).
rule notebook_run:
    localrule: True
    input:
        notebook="workflow/notebooks/run.py",
        runs="results/fits/{experiment}/runs.csv",
        curves="results/fits/{experiment}/curves.csv",
        probes="results/fits/{experiment}/probes.csv",
        manifest=run_file("results/train/{experiment}/{run}/manifest.json"),
        eigenvalues=run_file("results/ntk/{experiment}/{run}/eigenvalues.npz"),
    output:
        ipynb="results/notebooks/runs/{experiment}/{run}.ipynb",
        html=report("results/notebooks/runs/{experiment}/{run}.html", caption="../report/notebook_run.rst",
                    category="Notebooks", subcategory="Runs", labels={"experiment": "{experiment}", "run": "{run}"}),
    log:
        "logs/notebooks/runs/{experiment}/{run}.log",
    params:
        parameters=run_notebook_parameters,
    conda:
        ENV
    script:
        "../scripts/execute_notebook.py"


rule notebook_index:
    localrule: True
    input:
        experiments=experiment_notebooks(),
        runs=[html for htmls in run_notebooks().values() for html in htmls],
    output:
        html=report("results/notebooks/index.html", caption="../report/notebook_index.rst", category="Notebooks",
                    subcategory="Index"),
    params:
        experiments={name: (html, config["experiments"][name].get("description", ""))
                     for name, html in zip(NOTEBOOK_EXPERIMENTS, experiment_notebooks())},
        runs=run_notebooks(),
    log:
        "logs/notebooks/index.log",
    conda:
        ENV
    script:
        "../scripts/notebook_index.py"
