# Rule bundle: one call of lplr.bundle.write_bundle.
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from lplr.bundle import write_bundle  # noqa: E402

manifest = write_bundle(
    snakemake.input.files,  # noqa: F821
    snakemake.output[0],  # noqa: F821
    snakemake.params.config,  # noqa: F821
    snakemake.params.provenance,  # noqa: F821
    run_manifests=snakemake.input.manifests,  # noqa: F821
)
print(f"{snakemake.output[0]}: {len(manifest['files'])} files")  # noqa: F821
