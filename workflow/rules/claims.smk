# The claims ledger (lplr.claims): every claim of the paper, tested by the rule fixed in config.yaml's
# `claims` block before the runs, on the analysis tables of every experiment that ran.
rule claims:
    localrule: True
    input:
        runs=expand("results/fits/{experiment}/runs.csv", experiment=EXPERIMENTS),
    output:
        csv="results/tables/claims.csv",
        tex="results/paper/claims.tex",
    params:
        claims=config["claims"],
        experiments=EXPERIMENTS,
        data={name: data_settings(config, name) for name in EXPERIMENTS},
        shared={name: shared_settings(config, name) for name in EXPERIMENTS},  # `requires` beyond the columns
        regimes={name: config["experiments"][name].get("regime", "") for name in EXPERIMENTS},
        config_hash=PROVENANCE["config_hash"],
    log:
        "logs/paper/claims.log",
    conda:
        ENV
    script:
        "../scripts/claims.py"
