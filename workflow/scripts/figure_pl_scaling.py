import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr import plots  # noqa: E402
from lplr.workflow import read_curves, read_fits  # noqa: E402

fits = read_fits(snakemake.input.runs)  # noqa: F821
plots.pl_scaling(fits, read_curves(fits, snakemake.input.metrics), snakemake.output.pdf)  # noqa: F821
