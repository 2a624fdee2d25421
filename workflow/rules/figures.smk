# Plotting is separate from computing: restyling a figure never retrains or re-probes.

rule figure_loss_decay:
    input:
        runs="results/fits/width/runs.csv",
        metrics=expand("results/train/width/{run}/metrics.csv", run=RUNS.get("width", {})),
        eigen=expand("results/ntk/width/{run}/eigenvalues.npz", run=RUNS.get("width", {})),
    output:
        pdf=report("results/figures/loss_decay.pdf", caption="../report/loss_decay.rst", category="Figures"),
        png="results/figures/loss_decay.png",
    log:
        "logs/figures/loss_decay.log",
    conda:
        ENV
    script:
        "../scripts/figure_loss_decay.py"


rule figure_pl_scaling:
    input:
        runs="results/fits/width/runs.csv",
        metrics=expand("results/train/width/{run}/metrics.csv", run=RUNS.get("width", {})),
    output:
        pdf=report("results/figures/pl_scaling.pdf", caption="../report/pl_scaling.rst", category="Figures"),
        png="results/figures/pl_scaling.png",
    log:
        "logs/figures/pl_scaling.log",
    conda:
        ENV
    script:
        "../scripts/figure_pl_scaling.py"


rule figure_width_ablation:
    input:
        runs="results/fits/width/runs.csv",
        summary="results/tables/width_summary.csv",
    output:
        pdf=report("results/figures/width_ablation.pdf", caption="../report/width_ablation.rst", category="Figures"),
        png="results/figures/width_ablation.png",
    params:
        confidence=config["fit"]["confidence"],
    log:
        "logs/figures/width_ablation.log",
    conda:
        ENV
    script:
        "../scripts/figure_width_ablation.py"
