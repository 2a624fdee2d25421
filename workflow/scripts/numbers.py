# Rule numbers: numbers.tex (one macro per quoted number) and the same numbers as a table.
import sys

import pandas as pd

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.paper import paper_numbers, write_numbers  # noqa: E402

numbers = paper_numbers(
    pd.read_csv(snakemake.input.summary), pd.read_csv(snakemake.input.runs), snakemake.params.confidence  # noqa: F821
)
print(write_numbers(numbers, snakemake.output.tex, snakemake.output.csv).to_string())  # noqa: F821
