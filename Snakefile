# The LPLR paper artefact: one DAG from data to figures, notebooks and the paper PDF.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/configfiles.smk"  # read by our code first: a YAML error names file and line


configfile: "config.yaml"


include: "workflow/rules/common.smk"
if not RESTORED:  # restore mode (lplr.bundle): these stages' outputs come from a bundle

    include: "workflow/rules/data.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/ntk.smk"


include: "workflow/rules/fit.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/notebooks.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/bundle.smk"


rule all:
    input:
        all_targets(),
    default_target: True
