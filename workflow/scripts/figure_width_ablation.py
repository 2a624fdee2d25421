import sys

import pandas as pd

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr import plots  # noqa: E402
from lplr.fit import loglog_slope_by_seed  # noqa: E402
from lplr.workflow import read_fits  # noqa: E402

confidence = snakemake.params.confidence  # noqa: F821
drift = loglog_slope_by_seed(read_fits(snakemake.input.runs), "width", "final_rel_drift", confidence)  # noqa: F821
plots.width_ablation(pd.read_csv(snakemake.input.summary), snakemake.output.pdf, confidence, drift)  # noqa: F821
