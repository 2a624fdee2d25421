# Rules probe_ntk and probe_<experiment>: the NTK probe of every run of one job (one run, or the seeds of one
# condition) in one process, each from and to its declared paths.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.devices import configure_torch, resolve_device  # noqa: E402
from lplr.probe import probe_runs  # noqa: E402

device = resolve_device(snakemake.params.device)  # noqa: F821
configure_torch(device, snakemake.threads)  # noqa: F821
frames = probe_runs(
    snakemake.params.folders,  # noqa: F821
    snakemake.params.data,  # noqa: F821
    snakemake.params.spectra,  # noqa: F821
    snakemake.params.eigen,  # noqa: F821
    probe_size=snakemake.params.probe_size,  # noqa: F821
    probe_seed=snakemake.params.probe_seed,  # noqa: F821
    audit_eps=snakemake.params.audit_eps,  # noqa: F821
    hessian=snakemake.params.hessian,  # noqa: F821
    device=device,
)
for run, frame in frames.items():
    print(run, frame.to_string(), sep="\n")
