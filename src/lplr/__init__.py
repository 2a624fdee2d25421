"""lplr: the logic behind the LPLR paper artefact (arXiv 2507.21429).

One module per concept, read top to bottom (tests/test_package.py checks this map against the package):
    config      config validation; experiment blocks -> runs
    validation  a config checked whole before any job: schema, semantics, then the claims block
    configfiles  config files read by our code first, so a YAML error names the file and line
    plan        the run plan: runs -> shared runs, jobs, seed groups, job sizes, targets, bundle contents
    errors      ConfigError, PlanError (a leaf: every module may raise them)
    data        prepared binary tasks (embedded or downloaded) with manifests
    download    robust downloads (timeouts, retries, checksums, atomic renames)
    models      the 5-layer ReLU MLP (standard or NTK parametrisation) and the ResNet-style CNN
    train       one training job of S >= 1 seeds: the driver (diagnostics, divergence, resume) over a stepper
    per_seed    the per-seed stepper: each seed's own model and autograd kernels (the reference)
    batched     the batched stepper: seeds stacked as rows of one [S, P] tensor, one batched step
    columns     input columns zero at every training point: the mask, skipped by the MLP's training and kernel
    schedule    step size, optimiser settings, SGD batch order, checkpoint and sharpness schedules
    runfolder   a run folder's lifecycle: staging, metrics.csv, manifest.json, the resume file
    devices     which device a job computes on, and its numerics (TF32 off, threads)
    resources   threads, memory and runtime a job requests, from its size
    ntk         the empirical NTK (structured MLP path, torch.func path), its spectrum, the PL audit
    probe       the NTK at every checkpoint of a run, with the audit, the LQCR check, the noise scale, the Hessian
    noise       the gradient noise scale from the kernel (per-example gradients at no extra cost)
    hessian     the Hessian's top eigenvalue by Lanczos on Hessian-vector products
    preflight   what each condition of a config will do, from Theta_0 alone, before training
    fit         curve maths: L* estimators, linear-regime windows, rates, PL slopes
    rates       rates along training against what the kernel predicts
    analysis    the analysis stage: every statistic of an experiment into tables (rule fit_experiment)
    beyond      per-run statistics of the checks the paper leaves open: noise, Hessian, LPLR lifetime
    depth       depth x initialisation: each run against the He run of its depth and seed
    stats       across-seed summaries; the registry of statistics and their scales
    claims      the claims ledger: each claim tested by a rule fixed before the runs
    claim_rules  the rules that turn a statistic into a verdict, each able to return each of its verdicts
    claim_config  the claims block checked before any job, and the rules as first registered
    expressions  claim conditions in config: a small grammar, parsed and walked, never executed
    plots       the paper's figures, drawn from the analysis tables only (plots.registry)
    setup       the config's settings in words (paper and notebooks): true for any config
    paper       numbers.tex, every number the paper quotes
    notebooks   executing the notebooks; which runs get an explorer
    provenance  the commit and config hash stamped on figures, HTML and the paper
    bundle      results bundles: pack, verify, restore (restore mode: no training)
    formatting  how numbers are written (run ids, tables, the paper)
    escape      config text into TeX, Markdown and HTML: printed, never interpreted
    io          atomic writes (outputs follow the umask), hashes, package versions
"""

__version__ = "0.1.0"
