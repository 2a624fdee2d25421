# `snakemake bundle`: the results that rebuild tables, figures, notebooks and the paper, in one
# checked archive (lplr.bundle); `python -m lplr.bundle restore FILE` unpacks it on another machine.
rule bundle:
    localrule: True  # packs results/ where Snakemake runs, never in the queue
    input:
        files=bundle_inputs(),
        manifests=[f for f in bundle_inputs() if f.startswith("results/train/") and f.endswith("manifest.json")],
    output:
        bundle_name(PROVENANCE),
    params:
        config=config,
        provenance=PROVENANCE,
    log:
        "logs/bundle.log",
    conda:
        ENV
    script:
        "../scripts/bundle.py"
