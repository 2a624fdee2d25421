"""lplr: the logic behind the LPLR paper artefact (arXiv 2507.21429).

One module per concept, read top to bottom:
    data    prepared binary tasks (embedded or downloaded) with manifests
    models  the 5-layer ReLU MLP and its initialisations
    train   full-batch GD with per-step diagnostics, checkpoints and resume
    ntk     the empirical NTK, its spectrum and the PL audit
    fit     L* estimators, linear-regime windows, rates, PL slopes, seed intervals
    plots   the paper's figures
    paper   numbers.tex, every number the paper quotes
"""

__version__ = "0.1.0"
