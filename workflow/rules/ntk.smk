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
        probe_size=config["ntk"]["probe_size"],
        probe_seed=config["ntk"]["probe_seed"],
        audit_eps=config["ntk"]["audit_eps"],
        device=config["device"],
    log:
        "logs/ntk/{experiment}/{run}.log",
    wildcard_constraints:
        experiment=PER_SEED,
    benchmark:
        "results/benchmarks/probe/{experiment}/{run}.tsv"
    threads: job_threads
    resources:
        gpu=train_gpus(),
        cpus_per_task=job_threads,
        mem_mb=probe_mem_mb,
        runtime=probe_runtime,
    conda:
        ENV
    script:
        "../scripts/probe_ntk.py"


# Batched experiments: one probe job per condition, every seed on its own data set (lplr.probe.probe_runs).
for experiment, suffix, seeds, constraints in batch_groups():

    rule:
        name:
            f"probe_{experiment}{suffix}"
        input:
            data=job_data_files,
            metrics=batched_paths(experiment, seeds, "results/train/{run}/metrics.csv"),
            manifests=batched_paths(experiment, seeds, "results/train/{run}/manifest.json"),
            checkpoints=batched_paths(experiment, seeds, "results/train/{run}/checkpoints"),
        output:
            spectra=batched_paths(experiment, seeds, "results/ntk/{run}/spectrum.csv"),
            eigen=batched_paths(experiment, seeds, "results/ntk/{run}/eigenvalues.npz"),
        params:
            data=job_data,
            probe_size=config["ntk"]["probe_size"],
            probe_seed=config["ntk"]["probe_seed"],
            audit_eps=config["ntk"]["audit_eps"],
            device=config["device"],
        log:
            batched_log(experiment, "ntk"),
        benchmark:
            batched_benchmark(experiment, "probe")
        wildcard_constraints:
            **constraints,
        threads: 1
        resources:
            gpu=train_gpus(),
            cpus_per_task=1,
            mem_mb=probe_mem_mb,
            runtime=probe_runtime,
        conda:
            ENV
        script:
            "../scripts/probe_batch.py"
