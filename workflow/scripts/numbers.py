# Rule numbers: numbers.tex (one macro per quoted number) and the same numbers as a table.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.paper import paper_numbers, write_numbers  # noqa: E402

experiments = list(snakemake.params.conditions)  # noqa: F821
inputs = snakemake.input  # noqa: F821
tables = {name: {"summary": summary, "runs": runs, "sensitivity": sensitivity, "trends": trends}
          for name, summary, runs, sensitivity, trends in zip(experiments, inputs.summaries, inputs.runs,
                                                              inputs.sensitivities, inputs.trends)}
numbers, latex = paper_numbers(tables, snakemake.params.conditions, snakemake.params.fit,  # noqa: F821
                               snakemake.params.setup)  # noqa: F821
print(write_numbers(numbers, snakemake.output.tex, snakemake.output.csv, latex).to_string())  # noqa: F821
