# Plotting is separate from computing: restyling a figure never retrains, re-probes or refits.
# One rule per figure of the registry (lplr.plots.registry.FIGURES): figure_<name> reads that figure's
# analysis tables and nothing else.
for _name in FIGURES:
    if FIGURES[_name].experiment not in EXPERIMENTS:
        continue

    rule:
        name:
            f"figure_{_name}"
        localrule: True
        input:
            **figure_inputs(_name),
        output:
            pdf=report(
                f"results/figures/{_name}.pdf",
                caption=os.path.join(workflow.basedir, FIGURES[_name].caption),
                category="Figures",
            ),
            png=f"results/figures/{_name}.png",
        params:
            figure=_name,
            confidence=config["fit"]["confidence"],
            exit_fraction=config["fit"]["lplr_exit_fraction"],
        log:
            f"logs/figures/{_name}.log",
        conda:
            ENV
        script:
            "../scripts/figure.py"
