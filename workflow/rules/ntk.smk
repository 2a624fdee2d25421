# Per-seed experiments: one probe job per run.
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
        data=job_data,
        folders=job_paths("results/train/{experiment}/{run}"),
        spectra=job_paths("results/ntk/{experiment}/{run}/spectrum.csv"),
        eigen=job_paths("results/ntk/{experiment}/{run}/eigenvalues.npz"),
        probe_size=config["ntk"]["probe_size"],
        probe_seed=config["ntk"]["probe_seed"],
        audit_eps=config["ntk"]["audit_eps"],
        hessian=config["ntk"]["hessian"],
        device=config["device"],
    log:
        "logs/ntk/{experiment}/{run}.log",
    wildcard_constraints:
        experiment=PER_SEED,
    benchmark:
        "results/benchmarks/probe/{experiment}/{run}.tsv"
    threads: job_threads
    resources:
        gpu=TRAIN_GPUS,
        cpus_per_task=job_threads,
        mem_mb=sized(PLAN.probe_memory_mb),
        runtime=sized(PLAN.probe_runtime_min),
    conda:
        ENV
    script:
        "../scripts/probe.py"


# Batched experiments: one probe job per condition, every seed on its own data set (lplr.probe.probe_runs).
for group in PLAN.batch_groups():

    rule:
        name:
            f"probe_{group.experiment}{group.suffix}"
        input:
            data=job_data_files,
            metrics=batched_paths(group.experiment, group.seeds, "results/train/{run}/metrics.csv"),
            manifests=batched_paths(group.experiment, group.seeds, "results/train/{run}/manifest.json"),
            checkpoints=batched_paths(group.experiment, group.seeds, "results/train/{run}/checkpoints"),
        output:
            spectra=batched_paths(group.experiment, group.seeds, "results/ntk/{run}/spectrum.csv"),
            eigen=batched_paths(group.experiment, group.seeds, "results/ntk/{run}/eigenvalues.npz"),
        params:
            data=job_data,
            folders=job_paths("results/train/{experiment}/{run}"),
            spectra=job_paths("results/ntk/{experiment}/{run}/spectrum.csv"),
            eigen=job_paths("results/ntk/{experiment}/{run}/eigenvalues.npz"),
            probe_size=config["ntk"]["probe_size"],
            probe_seed=config["ntk"]["probe_seed"],
            audit_eps=config["ntk"]["audit_eps"],
            hessian=config["ntk"]["hessian"],
            device=config["device"],
        log:
            batched_job_path(group.experiment, "logs/ntk/{experiment}/{job}.log"),
        benchmark:
            batched_job_path(group.experiment, "results/benchmarks/probe/{experiment}/{job}.tsv")
        wildcard_constraints:
            **group.constraints,
        threads: job_threads
        resources:
            gpu=TRAIN_GPUS,
            cpus_per_task=job_threads,
            mem_mb=sized(PLAN.probe_memory_mb),
            runtime=sized(PLAN.probe_runtime_min),
        conda:
            ENV
        script:
            "../scripts/probe.py"
