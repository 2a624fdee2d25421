# Rule prepare_data: one call of lplr.data.prepare.
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

from lplr.data import prepare  # noqa: E402

prepare(snakemake.params.settings, Path(snakemake.output.data).parent)  # noqa: F821
