# Per-seed experiments: one job per run (lplr.train.train_job, the per-seed stepper).
rule train:
    input:
        data=prepared_data,
    output:
        metrics="results/train/{experiment}/{run}/metrics.csv",
        manifest="results/train/{experiment}/{run}/manifest.json",
        checkpoints=probe_checkpoints("results/train/{experiment}/{run}/checkpoints"),
    params:
        runs=job_runs,
        data=job_data,
        folders=job_paths("results/train/{experiment}/{run}"),
        resume=job_resume_file,
        stepper=job_stepper,
        probe=job_probe_set,
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
        gpu=TRAIN_GPUS,
        cpus_per_task=job_threads,
        mem_mb=sized(PLAN.train_memory_mb),
        runtime=sized(PLAN.train_runtime_min),
    conda:
        ENV
    script:
        "../scripts/train.py"


# Batched experiments: one job per condition trains all its seeds together (the batched stepper); the files
# per run and the script are the same as above.
for group in PLAN.batch_groups():

    rule:
        name:
            f"train_{group.experiment}{group.suffix}"
        input:
            data=job_data_files,
        output:
            metrics=batched_paths(group.experiment, group.seeds, "results/train/{run}/metrics.csv"),
            manifests=batched_paths(group.experiment, group.seeds, "results/train/{run}/manifest.json"),
            checkpoints=[probe_checkpoints(p) for p in batched_paths(group.experiment, group.seeds, "results/train/{run}/checkpoints")],
        params:
            runs=job_runs,
            data=job_data,
            folders=job_paths("results/train/{experiment}/{run}"),
            resume=job_resume_file,
            stepper=job_stepper,
            probe=job_probe_set,
            device=config["device"],
        log:
            batched_job_path(group.experiment, "logs/train/{experiment}/{job}.log"),
        benchmark:
            batched_job_path(group.experiment, "results/benchmarks/train/{experiment}/{job}.tsv")
        wildcard_constraints:
            **group.constraints,
        priority: train_priority
        threads: job_threads
        resources:
            gpu=TRAIN_GPUS,
            cpus_per_task=job_threads,
            mem_mb=sized(PLAN.train_memory_mb),
            runtime=sized(PLAN.train_runtime_min),
        conda:
            ENV
        script:
            "../scripts/train.py"
