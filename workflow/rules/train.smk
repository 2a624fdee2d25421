# Per-seed experiments: one job per run (lplr.train).
rule train:
    input:
        data=prepared_data,
    output:
        metrics="results/train/{experiment}/{run}/metrics.csv",
        manifest="results/train/{experiment}/{run}/manifest.json",
        checkpoints=probe_checkpoints("results/train/{experiment}/{run}/checkpoints"),
    params:
        settings=run_settings,
        device=config["device"],
    log:
        "logs/train/{experiment}/{run}.log",
    wildcard_constraints:
        experiment=PER_SEED,
    benchmark:
        "results/benchmarks/train/{experiment}/{run}.tsv"
    priority: train_priority
    threads: job_threads
    resources:
        gpu=train_gpus(),
        cpus_per_task=job_threads,
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    conda:
        ENV
    script:
        "../scripts/train.py"


# Batched experiments: one job per condition trains all its seeds together (lplr.batched); the files
# per run are the same as above.
for experiment, suffix, seeds, constraints in batch_groups():

    rule:
        name:
            f"train_{experiment}{suffix}"
        input:
            data=job_data_files,
        output:
            metrics=batched_paths(experiment, seeds, "results/train/{run}/metrics.csv"),
            manifests=batched_paths(experiment, seeds, "results/train/{run}/manifest.json"),
            checkpoints=[probe_checkpoints(p) for p in batched_paths(experiment, seeds, "results/train/{run}/checkpoints")],
        params:
            runs=job_runs,
            data=job_data,
            resume=job_resume_file,
            device=config["device"],
        log:
            batched_log(experiment, "train"),
        benchmark:
            batched_benchmark(experiment, "train")
        wildcard_constraints:
            **constraints,
        priority: train_priority
        threads: 1
        resources:
            gpu=train_gpus(),
            cpus_per_task=1,
            mem_mb=train_mem_mb,
            runtime=train_runtime,
        conda:
            ENV
        script:
            "../scripts/train_batch.py"
