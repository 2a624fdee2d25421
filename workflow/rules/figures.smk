# Plotting is separate from computing: restyling a figure never retrains or re-probes.
# One rule per figure (figure_<name>), each reading the tables of the experiment it shows.
for _figure, _experiment in FIGURE_EXPERIMENTS.items():
    if _experiment not in EXPERIMENTS:
        continue

    rule:
        name:
            f"figure_{_figure}"
        input:
            runs=f"results/fits/{_experiment}/runs.csv",
            summary=f"results/tables/{_experiment}_summary.csv",
            metrics=run_files(_experiment, "results/train/{experiment}/{run}/metrics.csv"),
            spectra=run_files(_experiment, "results/ntk/{experiment}/{run}/spectrum.csv"),
            eigen=run_files(_experiment, "results/ntk/{experiment}/{run}/eigenvalues.npz"),
        output:
            pdf=report(
                f"results/figures/{_figure}.pdf",
                caption=f"../report/{_figure}.rst",
                category="Figures",
            ),
            png=f"results/figures/{_figure}.png",
        params:
            figure=_figure,
            confidence=config["fit"]["confidence"],
            exit_fraction=config["fit"]["lplr_exit_fraction"],
        log:
            f"logs/figures/{_figure}.log",
        conda:
            ENV
        script:
            "../scripts/figure.py"
