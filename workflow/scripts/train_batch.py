# Rules train_<experiment>: one call of lplr.train.train_batch for the seeds of one condition.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "a", buffering=1)  # noqa: F821 (append: a resumed job keeps its log)

from lplr.train import train_batch  # noqa: E402

manifests = train_batch(
    snakemake.params.runs,  # noqa: F821
    snakemake.params.data,  # noqa: F821
    snakemake.params.folders,  # noqa: F821
    snakemake.params.resume,  # noqa: F821
    device=snakemake.params.device,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)
for run, manifest in manifests.items():
    print(f"{run}: {manifest['status']}, eta = {manifest['lr']:.4g}, eta*lambda_max/n = {manifest['sharpness_0']:.3g}")
