# Rule claims: results/tables/claims.csv and its LaTeX table and prose for the paper.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

import pandas as pd  # noqa: E402

from lplr.claims import build_ledger  # noqa: E402
from lplr.io import write_csv, write_text  # noqa: E402
from lplr.paper import claims_latex  # noqa: E402

params = snakemake.params  # noqa: F821
runs = {name: pd.read_csv(path) for name, path in zip(params.experiments, snakemake.input.runs)}  # noqa: F821
ledger = build_ledger(params.claims, runs, params.data, params.regimes, params.config_hash, params.shared)
write_csv(ledger, snakemake.output.csv)  # noqa: F821
write_text(snakemake.output.tex, claims_latex(ledger))  # noqa: F821
print(ledger[["claim", "experiment", "condition", "estimate", "low", "high", "n", "verdict"]].to_string())
