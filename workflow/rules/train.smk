rule train:
    input:
        data=prepared_data,
    output:
        metrics="results/train/{experiment}/{run}/metrics.csv",
        manifest="results/train/{experiment}/{run}/manifest.json",
        checkpoints=directory("results/train/{experiment}/{run}/checkpoints"),
    params:
        settings=run_settings,
        device=config["device"],
    log:
        "logs/train/{experiment}/{run}.log",
    threads: 1
    resources:
        gpu=train_gpus(),
        mem_mb=4000,
        runtime=120,
    conda:
        ENV
    script:
        "../scripts/train.py"
