"""lplr: the logic behind the LPLR paper artefact (arXiv 2507.21429).

One module per concept, read top to bottom:
    config    config validation; experiment blocks -> runs
    data      prepared binary tasks (embedded or downloaded) with manifests
    download  robust downloads (timeouts, retries, checksums, atomic renames)
    models    the 5-layer ReLU MLP (standard or NTK parametrisation) and the ResNet-style CNN
    train     GD / mini-batch SGD with per-step diagnostics, checkpoints and resume
    ntk       the empirical NTK (structured MLP path, torch.func path), its spectrum, the PL audit
    probe     the NTK at every checkpoint of a run, with the audit and the LQCR check
    fit       L* estimators, linear-regime windows, rates, PL slopes, seed intervals
    plots     the paper's figures
    paper     numbers.tex, every number the paper quotes
    workflow  readers that turn the DAG's files back into tables for fit and plots
    provenance  the commit and config hash stamped on figures, HTML and the paper
    bundle    results bundles: pack, verify, restore (restore mode: no training)
    io        atomic writes (outputs follow the umask), hashes, package versions
"""

__version__ = "0.1.0"
