# Rule fit_experiment: lplr.analysis over one experiment's runs, each table written atomically.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.analysis import analyse_experiment, load_runs  # noqa: E402
from lplr.io import write_csv  # noqa: E402

runs = load_runs(snakemake.params.runs, snakemake.input)  # noqa: F821
tables = analyse_experiment(runs, snakemake.params.vary, snakemake.params.fit, snakemake.params.sources)  # noqa: F821
for name, table in tables.items():
    write_csv(table, getattr(snakemake.output, name))  # noqa: F821
print(tables["runs"].to_string())
