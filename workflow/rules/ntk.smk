rule probe_ntk:
    input:
        data=prepared_data,
        metrics="results/train/{experiment}/{run}/metrics.csv",
        manifest="results/train/{experiment}/{run}/manifest.json",
        checkpoints="results/train/{experiment}/{run}/checkpoints",
    output:
        spectrum="results/ntk/{experiment}/{run}/spectrum.csv",
        eigen="results/ntk/{experiment}/{run}/eigenvalues.npz",
    params:
        probe_size=config["ntk"]["probe_size"],
        probe_seed=config["ntk"]["probe_seed"],
        audit_eps=config["ntk"]["audit_eps"],
        device=config["device"],
    log:
        "logs/ntk/{experiment}/{run}.log",
    threads: 1
    resources:
        gpu=train_gpus(),
        mem_mb=8000,
        runtime=60,
    conda:
        ENV
    script:
        "../scripts/probe_ntk.py"
