# Rules figure_<name>: one figure of the registry (lplr.plots.registry), drawn from its analysis tables.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.plots import draw_figure  # noqa: E402

draw_figure(snakemake.params.figure, dict(snakemake.input), snakemake.output.pdf,  # noqa: F821
            {"confidence": snakemake.params.confidence, "exit_fraction": snakemake.params.exit_fraction})  # noqa: F821
