from lplr.setup import experiment_facts


rule numbers:
    localrule: True
    input:
        summaries=expand("results/tables/{experiment}_summary.csv", experiment=EXPERIMENTS),
        runs=expand("results/fits/{experiment}/runs.csv", experiment=EXPERIMENTS),
        sensitivities=expand("results/tables/{experiment}_sensitivity.csv", experiment=EXPERIMENTS),
        trends=expand("results/tables/{experiment}_trends.csv", experiment=EXPERIMENTS),
    output:
        tex="results/paper/numbers.tex",
        csv="results/tables/numbers.csv",
    params:
        conditions={name: condition_keys(config, name) for name in EXPERIMENTS},
        fit=config["fit"],
        setup={name: experiment_facts(config, name) for name in EXPERIMENTS},  # the config's facts the text states
    log:
        "logs/paper/numbers.log",
    conda:
        ENV
    script:
        "../scripts/numbers.py"


rule paper:
    localrule: True
    input:
        tex="paper/main.tex",
        bib="paper/refs.bib",
        numbers="results/paper/numbers.tex",
        claims="results/paper/claims.tex",
        figures=expand("results/figures/{figure}.pdf", figure=ENABLED_FIGURES),
    output:
        pdf="results/paper/main.pdf",
        provenance="results/paper/provenance.tex",
    params:
        python=sys.executable,  # the interpreter that runs the workflow, not whatever `python` is on PATH
    log:
        "logs/paper/main.log",
    conda:
        ENV
    shell:
        "{params.python:q} -m lplr.provenance tex {output.provenance} && "
        "TEXINPUTS=paper:results/paper:results/figures: BIBINPUTS=paper: "
        "latexmk -pdf -latexoption=-no-shell-escape -interaction=nonstopmode -halt-on-error -outdir=results/paper {input.tex} "
        "> {log} 2>&1"
