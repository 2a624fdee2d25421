# Rules probe_<experiment>: the NTK probe of every seed of one condition in one process.
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.probe import probe_runs  # noqa: E402
from lplr.devices import configure_torch, resolve_device  # noqa: E402

device = resolve_device(snakemake.params.device)  # noqa: F821
configure_torch(device, snakemake.threads)  # noqa: F821
frames = probe_runs(
    {Path(m).parent.name: Path(m).parent for m in snakemake.input.manifests},  # noqa: F821
    snakemake.params.data,  # noqa: F821
    {Path(s).parent.name: Path(s) for s in snakemake.output.spectra},  # noqa: F821
    {Path(e).parent.name: Path(e) for e in snakemake.output.eigen},  # noqa: F821
    probe_size=snakemake.params.probe_size,  # noqa: F821
    probe_seed=snakemake.params.probe_seed,  # noqa: F821
    audit_eps=snakemake.params.audit_eps,  # noqa: F821
    device=device,
)
for run, frame in frames.items():
    print(run, frame.to_string(), sep="\n")
