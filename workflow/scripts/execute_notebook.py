# Notebook rules: one jupytext source executed by papermill (parameters from the rule), rendered to HTML.
import logging
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
logging.basicConfig(stream=sys.stdout, level=logging.INFO)  # papermill logs each cell's output here

from lplr.notebooks import execute_notebook  # noqa: E402

execute_notebook(snakemake.input.notebook, snakemake.output.ipynb, snakemake.output.html,  # noqa: F821
                 dict(snakemake.params.parameters))  # noqa: F821
