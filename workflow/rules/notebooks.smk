# Notebooks are jupytext percent-format sources, executed by papermill with parameters.
rule notebook_width_analysis:
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
    conda:
        ENV
    shell:
        "(jupytext --to ipynb --output {output.ipynb}.src.ipynb {input.notebook}"
        " && papermill --kernel python3 {output.ipynb}.src.ipynb {output.ipynb}"
        " -p runs_csv {input.runs:q} -p summary_csv {input.summary:q} -p sensitivity_csv {input.sensitivity:q}"
        " && rm {output.ipynb}.src.ipynb"
        " && jupyter nbconvert --to html --output-dir $(dirname {output.html}) {output.ipynb}) > {log} 2>&1"
