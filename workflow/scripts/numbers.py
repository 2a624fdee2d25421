# Rule numbers: numbers.tex (one macro per quoted number) and the same numbers as a table.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.paper import paper_numbers, write_numbers  # noqa: E402

numbers, tables = paper_numbers(
    dict(zip(snakemake.params.conditions, snakemake.input.summaries)),  # noqa: F821
    dict(zip(snakemake.params.conditions, snakemake.input.runs)),  # noqa: F821
    snakemake.params.conditions,  # noqa: F821
    snakemake.params.confidence,  # noqa: F821
    dict(zip(snakemake.params.conditions, snakemake.input.sensitivities)),  # noqa: F821
    snakemake.params.fit,  # noqa: F821
)
print(write_numbers(numbers, snakemake.output.tex, snakemake.output.csv, tables).to_string())  # noqa: F821
