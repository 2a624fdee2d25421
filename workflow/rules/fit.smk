# The analysis stage: every statistic of an experiment, computed once (lplr.analysis; lplr.fit is its curve
# maths). The file and rule keep the name "fit" because results/fits/ and the bundles carry it. Figures,
# notebooks and the paper read only what this rule writes.
rule fit_experiment:
    localrule: True
    input:
        metrics=experiment_files("results/train/{experiment}/{run}/metrics.csv"),
        manifests=experiment_files("results/train/{experiment}/{run}/manifest.json"),
        spectra=experiment_files("results/ntk/{experiment}/{run}/spectrum.csv"),
        eigen=experiment_files("results/ntk/{experiment}/{run}/eigenvalues.npz"),
    output:
        runs="results/fits/{experiment}/runs.csv",
        curves="results/fits/{experiment}/curves.csv",
        probes="results/fits/{experiment}/probes.csv",
        summary="results/tables/{experiment}_summary.csv",
        sensitivity="results/tables/{experiment}_sensitivity.csv",
        trends="results/tables/{experiment}_trends.csv",
    params:
        vary=condition_columns,
        runs=experiment_run_settings,
        sources=shared_run_sources,
        fit=experiment_fit_settings,
    log:
        "logs/fit/{experiment}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        "../scripts/fit_experiment.py"
