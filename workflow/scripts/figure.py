# Rules figure_<name>: one figure of lplr.plots from one experiment's tables.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.workflow import draw_figure  # noqa: E402

draw_figure(
    snakemake.params.figure,  # noqa: F821
    snakemake.input,  # noqa: F821
    snakemake.output.pdf,  # noqa: F821
    confidence=snakemake.params.confidence,  # noqa: F821
    exit_fraction=snakemake.params.exit_fraction,  # noqa: F821
)
