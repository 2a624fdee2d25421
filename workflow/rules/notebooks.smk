# Notebooks are jupytext percent-format sources, executed by papermill with parameters.
rule notebook_width_analysis:
    localrule: True
    input:
        notebook="workflow/notebooks/width_analysis.py",
        runs="results/fits/width/runs.csv",
        summary="results/tables/width_summary.csv",
        sensitivity="results/tables/width_sensitivity.csv",
    output:
        ipynb="results/notebooks/width_analysis.ipynb",
        html=report("results/notebooks/width_analysis.html", caption="../report/notebook.rst", category="Notebooks"),
    log:
        "logs/notebooks/width_analysis.log",
    params:
        parameters=notebook_parameters,
    conda:
        ENV
    script:
        "../scripts/execute_notebook.py"
