# results/notebooks/index.html: a link to every notebook of the build, with its commit and config hash.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.notebooks import write_index  # noqa: E402

write_index(snakemake.output.html, dict(snakemake.params.experiments), dict(snakemake.params.runs))  # noqa: F821
