# Rule fit_experiment: per-run fits, the across-seed summary and the sensitivity table of one experiment.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.fit import fit_experiment  # noqa: E402
from lplr.io import write_csv  # noqa: E402
from lplr.workflow import load_runs  # noqa: E402

runs = load_runs(snakemake.params.runs, snakemake.input)  # noqa: F821
per_run, summary, sensitivity = fit_experiment(runs, snakemake.params.vary, snakemake.params.fit)  # noqa: F821
write_csv(per_run, snakemake.output.runs)  # noqa: F821
write_csv(summary, snakemake.output.summary)  # noqa: F821
write_csv(sensitivity, snakemake.output.sensitivity)  # noqa: F821
print(per_run.to_string())
