rule fit_experiment:
    input:
        metrics=experiment_files("results/train/{experiment}/{run}/metrics.csv"),
        manifests=experiment_files("results/train/{experiment}/{run}/manifest.json"),
        spectra=experiment_files("results/ntk/{experiment}/{run}/spectrum.csv"),
        eigen=experiment_files("results/ntk/{experiment}/{run}/eigenvalues.npz"),
    output:
        runs="results/fits/{experiment}/runs.csv",
        summary="results/tables/{experiment}_summary.csv",
        sensitivity="results/tables/{experiment}_sensitivity.csv",
    params:
        vary=condition_columns,
        runs=experiment_run_settings,
        fit=experiment_fit_settings,
    log:
        "logs/fit/{experiment}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        ENV
    script:
        "../scripts/fit_experiment.py"
