# Rule train: one call of lplr.train.train_run for one (experiment, run).
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "a", buffering=1)  # noqa: F821 (append: a resumed run keeps its log)

from lplr.train import train_run  # noqa: E402

manifest = train_run(
    snakemake.params.settings,  # noqa: F821
    snakemake.input.data,  # noqa: F821
    Path(snakemake.output.metrics).parent,  # noqa: F821
    device=snakemake.params.device,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)
print(f"{manifest['status']}: eta = {manifest['lr']:.4g}, eta*lambda_max/n = {manifest['sharpness_0']:.3g}")
