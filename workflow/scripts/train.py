# Rules train and train_<experiment>: one call of lplr.train.train_job for the runs of one job (one run, or
# the seeds of one condition), each written to its declared folder.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "a", buffering=1)  # noqa: F821 (append: a resumed job keeps its log)

from lplr.train import train_job  # noqa: E402

manifests = train_job(
    snakemake.params.runs,  # noqa: F821
    snakemake.params.data,  # noqa: F821
    snakemake.params.folders,  # noqa: F821
    snakemake.params.resume,  # noqa: F821
    stepper=snakemake.params.stepper,  # noqa: F821
    device=snakemake.params.device,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    probe=snakemake.params.probe,  # noqa: F821 (the probe set S where training.lambda_min_every tracks lambda_min; None)
)
for run, manifest in manifests.items():
    print(f"{run}: {manifest['status']}, eta = {manifest['lr']:.4g}, eta*lambda_max/n = {manifest['sharpness_0']:.3g}")
