# Rule probe_ntk: the NTK spectrum, PL audit and LQCR check at every checkpoint of one run.
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.probe import probe_run  # noqa: E402
from lplr.devices import configure_torch, resolve_device  # noqa: E402

device = resolve_device(snakemake.params.device)  # noqa: F821
configure_torch(device, snakemake.threads)  # noqa: F821
frame = probe_run(
    Path(snakemake.input.manifest).parent,  # noqa: F821
    snakemake.input.data,  # noqa: F821
    snakemake.output.spectrum,  # noqa: F821
    snakemake.output.eigen,  # noqa: F821
    probe_size=snakemake.params.probe_size,  # noqa: F821
    probe_seed=snakemake.params.probe_seed,  # noqa: F821
    audit_eps=snakemake.params.audit_eps,  # noqa: F821
    device=device,
)
print(frame.to_string())
