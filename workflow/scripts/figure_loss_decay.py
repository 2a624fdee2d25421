import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr import plots  # noqa: E402
from lplr.workflow import read_curves, read_fits, read_linearised  # noqa: E402

fits = read_fits(snakemake.input.runs)  # noqa: F821
curves = read_curves(fits, snakemake.input.metrics)  # noqa: F821
linearised = read_linearised(fits, snakemake.input.eigen, curves)  # noqa: F821
plots.loss_decay(fits, curves, linearised, snakemake.output.pdf)  # noqa: F821
