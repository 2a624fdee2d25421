"""Integration: the real Snakemake DAG on a tiny config in a temporary copy of the repository."""

import html
import json
import os
import re
import shutil
import stat
import subprocess

from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import BIN, ROOT
from tiny import EXPLORED, tiny_config
from lplr.formatting import format_number
from lplr.plots import FIGURES

pytestmark = pytest.mark.integration
COPIED = ["Snakefile", "config.yaml", "environment.yml", "workflow", "paper", "src"]


def copy_repo(dest, config: dict):
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dest / name)
    (dest / "tiny.yaml").write_text(yaml.safe_dump(config))
    return dest


GIT_IDENTITY = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org"}


def commit_all(workdir, message: str) -> str:
    """Make `workdir` a git checkout of its files (provenance names this commit); return the commit."""
    env = {**os.environ, **GIT_IDENTITY}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", message]):
        subprocess.run(command, cwd=workdir, env=env, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True).stdout.strip()


def snakemake(cwd, *args, timeout=900, configfile="tiny.yaml"):
    """Snakemake of the test's environment, called by its path with that environment NOT on PATH and not
    activated, as a user who runs `.venv/bin/snakemake` would: no rule may depend on an activated venv."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p).resolve() != BIN.resolve())
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path}
    return subprocess.run([str(BIN / "snakemake"), "--configfile", configfile, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, request):
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    workdir = copy_repo(tmp_path_factory.mktemp("workflow"), tiny_config(default))
    commit_all(workdir, "the tiny run")
    result = snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_target_is_built(tiny_run):
    for name in FIGURES:
        assert (tiny_run / f"results/figures/{name}.pdf").stat().st_size > 1000
        assert (tiny_run / f"results/figures/{name}.png").stat().st_size > 1000
    assert (tiny_run / "results/paper/main.pdf").read_bytes().startswith(b"%PDF")


EXPERIMENT_NAMES = sorted(name for name, block in tiny_config(yaml.safe_load((ROOT / "config.yaml").read_text()))[
    "experiments"].items() if block.get("enabled", True))


def executed(path) -> dict:
    """An executed notebook, checked to have no error output."""
    notebook = json.loads(path.read_text())
    assert not any(o.get("output_type") == "error" for c in notebook["cells"] for o in c.get("outputs", [])), path
    return notebook


@pytest.mark.parametrize("name", EXPERIMENT_NAMES)
def test_an_experiment_notebook_shows_its_figures_tables_and_reading_text(tiny_run, name):
    notebook = executed(tiny_run / f"results/notebooks/experiments/{name}.ipynb")
    parameters = notebook["metadata"]["papermill"]["parameters"]
    assert parameters["experiment"] == name and parameters["tables"]["runs"] == f"results/fits/{name}/runs.csv"
    assert parameters["reading_md"] == f"workflow/notebooks/reading/{name}.md"
    page = (tiny_run / f"results/notebooks/experiments/{name}.html").read_text()
    figures = [figure for figure in FIGURES if FIGURES[figure].experiment == name]
    assert page.count("<img") == len(figures) >= 1  # each figure of the registry, drawn inline as a PNG
    for figure in figures:
        assert f"{figure}</code>: {html.escape(FIGURES[figure].description, quote=False)}" in page
    runs = pd.read_csv(tiny_run / f"results/fits/{name}/runs.csv")
    assert all(run in page for run in runs["run"])  # the per-run table
    first_line = (ROOT / f"workflow/notebooks/reading/{name}.md").read_text().split("**")[1]
    assert first_line in page  # the reading text, rendered
    claims = tiny_run / "results/tables/claims.csv"
    if claims.exists():  # a rule builds the ledger: the notebook shows this experiment's rows
        assert parameters["claims_csv"] == "results/tables/claims.csv"
        ledger = pd.read_csv(claims)
        assert all(claim in page for claim in ledger.loc[ledger["experiment"] == name, "claim"])
    else:
        assert parameters["claims_csv"] == "" and "claims ledger not available in this build" in page


def test_the_run_explorer_shows_the_run(tiny_run):
    notebook = executed(tiny_run / f"results/notebooks/runs/step/{EXPLORED}.ipynb")
    parameters = notebook["metadata"]["papermill"]["parameters"]
    assert parameters["run"] == EXPLORED
    # E3's run is E1's width=8 run (and E2's He run at lr 0.01), trained by E1 (lplr.plan.OWNER_ORDER): read from there
    assert parameters["manifest_json"] == "results/train/width/width=8+seed=0/manifest.json"
    page = (tiny_run / f"results/notebooks/runs/step/{EXPLORED}.html").read_text()
    assert f"Run <code>{EXPLORED}</code> of experiment <code>step</code>" in page
    assert page.count("<img") == 7  # loss, G vs gap, rates, kernel, spectra, shares, drift and accuracy
    assert '"lambda_max_0"' in page or "lambda_max_0" in page  # the manifest
    assert not list((tiny_run / "results/notebooks/runs").glob("*/*.failed.ipynb"))
    # only the selected run explorer is built by default
    assert [p.name for p in (tiny_run / "results/notebooks/runs").rglob("*.html")] == [f"{EXPLORED}.html"]


def test_the_index_links_every_notebook(tiny_run):
    index = tiny_run / "results/notebooks/index.html"
    links = re.findall(r'<a href="([^"]+)">', index.read_text())
    htmls = {p for p in (tiny_run / "results/notebooks").rglob("*.html") if p != index}
    assert {(index.parent / unquote(link)).resolve() for link in links} == {p.resolve() for p in htmls}
    assert len(htmls) == len(EXPERIMENT_NAMES) + 1


def test_paper_text_holds_the_fitted_numbers(tiny_run):
    text = subprocess.run(["pdftotext", "-layout", str(tiny_run / "results/paper/main.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "??" not in text  # every \val{...} the text uses was generated
    summary = pd.read_csv(tiny_run / "results/tables/width_summary.csv")
    largest = summary["width"].max()
    for statistic in ("rate", "pl_slope", "final_loss", "rate_late", "rate_slowdown", "share_top_k_0"):
        row = summary[(summary["width"] == largest) & (summary["statistic"] == statistic)].iloc[0]
        for value in row[["estimate", "ci_low", "ci_high"]]:
            assert format_number(value) in text, f"{statistic} = {format_number(value)} is not in the PDF text"
        assert f"n = {row['n']}/{row['n_runs']}" in text
    runs = pd.read_csv(tiny_run / "results/fits/width/runs.csv")
    assert f"of {len(runs)} E1 runs" in text


def test_no_interval_of_a_positive_quantity_has_a_negative_bound(tiny_run):
    for summary in (tiny_run / "results/tables").glob("*_summary.csv"):
        frame = pd.read_csv(summary)
        positive = frame[frame["scale"].isin(["log", "logit"])]
        assert (positive["ci_low"].dropna() > 0).all(), summary.name
        assert (frame["n"] <= frame["n_runs"]).all()
        runs = pd.read_csv(tiny_run / "results/fits" / summary.name.replace("_summary.csv", "") / "runs.csv")
        for statistic, rows in frame[frame["scale"] != "linear"].groupby("statistic"):
            # a quantity that cannot be negative (every scale but `linear`, which is for signed ones) never gets
            # a negative bound, even where some runs sit at 0 (order: [min, max])
            values = pd.to_numeric(runs[statistic], errors="coerce").dropna()
            if len(values) and (values >= 0).all():
                assert (rows["ci_low"].dropna() >= 0).all(), f"{summary.name}: {statistic}"


def test_shared_runs_are_trained_once(tiny_run):
    # in the tiny config E3 at lr 0.01 is E1's width=8 run (and E5 at batch 8 is E4): read, not retrained
    step = pd.read_csv(tiny_run / "results/fits/step/runs.csv")
    shared = step[step["source"].fillna("") != ""]
    assert len(shared) >= 1
    for source in shared["source"]:
        assert (tiny_run / "results/train" / source / "metrics.csv").is_file()
    assert not (tiny_run / "results/train/step" / shared["run"].iloc[0]).exists()


def test_probe_audit_passed_for_every_checkpoint(tiny_run):
    for spectrum in (tiny_run / "results/ntk/width").glob("*/spectrum.csv"):
        frame = pd.read_csv(spectrum)
        assert frame["audit_ok"].all() and (frame["step"].iloc[0] == 0)
        assert (frame["probe_grad_norm_sq"] >= 2 * frame["mu"] * frame["probe_loss"] * (1 - 1e-9)).all()


def test_a_second_run_has_nothing_to_do(tiny_run):
    result = snakemake(tiny_run, "--cores", "2", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def dry_run_counts(tmp_path, config, *targets) -> dict:
    """The job counts of `snakemake --dry-run targets` on `config`, with the checkout's Snakefile (no copy)."""
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory",
                             str(tmp_path), "--configfile", str(tmp_path / "tiny.yaml"), "--dry-run", *targets],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return job_counts(result.stdout + result.stderr)


# One dry run per DAG shape shows that the rules follow the plan (lplr.plan; its own tests cover the cases).
def test_the_batched_dag_trains_each_condition_once_with_a_rule_per_seed_group(tmp_path, default_config):
    """A figure pulls only its experiment's jobs; E3 with seeds [0, 2] has a condition whose seed 0 is E1's
    width=8 run, so its two conditions get rules with different outputs (train_step, train_step_1)."""
    config = tiny_config(default_config)
    config["experiments"]["step"]["seeds"] = [0, 2]
    config["data"]["seed"] = 0  # one training subset (the default per_run prepares one per seed)
    counts = dry_run_counts(tmp_path, config, "results/figures/width_ablation.pdf", "results/tables/step_summary.csv")
    assert counts == {"prepare_data": 1, "train_width": 2, "probe_width": 2, "train_step": 1, "train_step_1": 1,
                      "probe_step": 1, "probe_step_1": 1, "fit_experiment": 2, "figure_width_ablation": 1, "total": 12}


def test_the_per_seed_dag_has_a_job_per_run_and_per_run_data(tmp_path, default_config):
    config = tiny_config(default_config)
    config["training"]["seed_batching"] = "per_seed"
    config["data"]["seed"] = "per_run"
    counts = dry_run_counts(tmp_path, config, "results/figures/width_ablation.pdf")
    assert counts == {"prepare_data": 2, "train": 4, "probe_ntk": 4, "fit_experiment": 1, "figure_width_ablation": 1,
                      "total": 12}


def test_a_failing_notebook_cell_fails_its_rule_naming_notebook_and_cell(tiny_run, tmp_path):
    """A broken copy of the run explorer in a copy of the tiny run: its rule fails, and its log names the notebook,
    the cell and the error (papermill's), not a bare exit status."""
    workdir = tmp_path / "broken"
    shutil.copytree(tiny_run, workdir, symlinks=True, ignore=shutil.ignore_patterns("report.zip", "bundle-*"))
    source = workdir / "workflow/notebooks/run.py"
    cells = source.read_text().count("\n# %%\n")
    source.write_text(source.read_text() + '\n# %%\nraise RuntimeError("deliberately broken cell")\n')
    target = f"results/notebooks/runs/step/{EXPLORED}.html"
    result = snakemake(workdir, "--cores", "1", target)
    assert result.returncode != 0
    assert f"logs/notebooks/runs/step/{EXPLORED}.log" in result.stdout + result.stderr
    log = (workdir / f"logs/notebooks/runs/step/{EXPLORED}.log").read_text()
    assert f"notebook workflow/notebooks/run.py: code cell {cells + 2} of the source" in log  # + parameters cell
    assert "RuntimeError: deliberately broken cell" in log
    assert 'raise RuntimeError("deliberately broken cell")' in log  # the cell itself
    assert not (workdir / target).exists()
    assert (workdir / f"results/notebooks/runs/step/{EXPLORED}.failed.ipynb").is_file()


def job_counts(output: str) -> dict:
    """The 'Job stats' table of a dry run: {rule: count}."""
    table = output.split("Job stats:")[1].split("\n\n")[0].splitlines()
    return {line.split()[0]: int(line.split()[1]) for line in table[3:] if len(line.split()) == 2}


def test_a_negative_width_is_refused_before_any_job(tmp_path, default_config):
    config = tiny_config(default_config)
    config["experiments"]["width"]["vary"]["width"] = [16, -8]
    workdir = copy_repo(tmp_path, config)
    result = snakemake(workdir, "--cores", "1")
    assert result.returncode != 0
    assert "config key 'experiments.width.vary.width[1]'" in result.stderr
    assert "Fix it in tiny.yaml;" in result.stderr  # the file the key came from, not config.yaml
    assert not (workdir / "results").exists()


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path, default_config):
    workdir = copy_repo(tmp_path, tiny_config(default_config))
    lines = (workdir / "config.yaml").read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("  steps:"))
    lines[number] = " " + lines[number]  # one space too many: a mapping where none may start
    (workdir / "config.yaml").write_text("\n".join(lines) + "\n")
    result = snakemake(workdir, "--dry-run")
    assert result.returncode != 0
    assert f"config file config.yaml, line {number + 1}," in result.stdout + result.stderr


def test_lint_is_clean(tmp_path, default_config):
    workdir = copy_repo(tmp_path, tiny_config(default_config))
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_report_holds_every_figure(tiny_run):
    import zipfile

    result = snakemake(tiny_run, "--report", "report.zip")
    assert result.returncode == 0, result.stderr[-2000:]
    names = zipfile.ZipFile(tiny_run / "report.zip").namelist()
    for figure in FIGURES:
        assert any(name.endswith(f"/{figure}.pdf") for name in names), f"{figure}.pdf is not in the report"
    for notebook in [*(f"/{name}.html" for name in EXPERIMENT_NAMES), f"/{EXPLORED}.html", "/index.html"]:
        assert any(name.endswith(notebook) for name in names), f"{notebook} is not in the report"


def pdf_text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_every_output_follows_the_umask(tiny_run):
    umask = os.umask(0)
    os.umask(umask)
    modes = {str(p.relative_to(tiny_run)): stat.S_IMODE(p.stat().st_mode) for p in (tiny_run / "results").rglob("*")
             if p.is_file()}
    assert len(modes) > 100
    assert {path: mode for path, mode in modes.items() if mode != 0o666 & ~umask} == {}


def test_figures_notebook_and_paper_name_commit_and_config(tiny_run, schema):
    from PIL import Image

    from lplr.config import validate_config
    from lplr.provenance import config_hash

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tiny_run, capture_output=True, text=True).stdout.strip()
    stamp = f"LPLR results {commit}, config {config_hash(validate_config(tiny_config(DEFAULT), schema))}"
    info = subprocess.run(["pdfinfo", str(tiny_run / "results/figures/loss_decay.pdf")], capture_output=True,
                          text=True, check=True).stdout
    assert stamp in info
    assert Image.open(tiny_run / "results/figures/loss_decay.png").text["Description"] == stamp
    assert stamp in (tiny_run / "results/notebooks/experiments/width.html").read_text()
    assert stamp in (tiny_run / f"results/notebooks/runs/step/{EXPLORED}.html").read_text()
    assert f"<code>{commit}</code>, config hash <code>{stamp.rsplit(' ', 1)[1]}</code>" in (
        tiny_run / "results/notebooks/index.html").read_text()
    assert stamp in pdf_text(tiny_run / "results/paper/main.pdf")


DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_a_bundle_rebuilds_the_paper_elsewhere_without_training(tiny_run, tmp_path):
    from lplr.bundle import read_manifest

    result = snakemake(tiny_run, "--cores", "1", "bundle")
    assert result.returncode == 0, result.stderr[-3000:]
    (bundle,) = (tiny_run / "results").glob("bundle-*.tar.gz")
    manifest = read_manifest(bundle)
    assert bundle.name == f"bundle-{manifest['git_commit'][:12]}-{manifest['config_hash']}.tar.gz"
    packed = ("data/*/manifest.json", "train/*/*/metrics.csv", "train/*/*/manifest.json", "ntk/*/*/spectrum.csv",
              "ntk/*/*/eigenvalues.npz", "fits/*/*.csv", "tables/*_summary.csv", "tables/*_sensitivity.csv",
              "tables/*_trends.csv")
    expected = {f"results/{p.relative_to(tiny_run / 'results')}" for g in packed for p in (tiny_run / "results").glob(g)}
    assert set(manifest["files"]) == expected  # and no checkpoints: off by default

    fresh = copy_repo(tmp_path, tiny_config(DEFAULT))
    drawn = commit_all(fresh, "a fresh checkout")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    restored = subprocess.run([str(BIN / "python"), "-m", "lplr.bundle", "restore", str(bundle)], cwd=fresh, env=env,
                              capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    assert "snakemake --cores all --configfile results/restored/config.yaml" in restored.stdout

    dry = snakemake(fresh, "--cores", "2", "--dry-run", "--config", "device=cpu", configfile="results/restored/config.yaml")
    assert dry.returncode == 0, dry.stderr[-3000:]
    jobs = job_counts(dry.stdout + dry.stderr)
    assert jobs["paper"] == 1 and jobs["figure_loss_decay"] == 1
    assert jobs["notebook_experiment"] == len(EXPERIMENT_NAMES) and jobs["notebook_run"] == 1 and jobs["notebook_index"] == 1
    assert not [job for job in jobs if job.startswith(("prepare", "train", "probe"))]  # train_<experiment> too

    other = snakemake(fresh, "--cores", "1", "--dry-run", "--config", "precision=float64",
                      configfile="results/restored/config.yaml")
    assert other.returncode != 0 and "results/restored/bundle.json" in other.stdout + other.stderr
    assert "--configfile results/restored/config.yaml" in other.stdout + other.stderr

    build = snakemake(fresh, "--cores", "2", configfile="results/restored/config.yaml")
    assert build.returncode == 0, build.stderr[-3000:]
    assert not (fresh / "logs/train").exists() and not (fresh / "logs/ntk").exists()
    original, rebuilt = (pdf_text(d / "results/paper/main.pdf") for d in (tiny_run, fresh))
    # every number and word of the paper, footers aside (words: -layout spacing follows the footer's width)
    # every character of the paper, footers and page numbers aside (-layout spacing and where a page number lands
    # follow the footer's width, which names one commit here and two after a restore)
    words = [re.sub(r"\s", "", "\n".join(line for line in text.splitlines()
                                          if "LPLR results" not in line and not line.strip().isdigit()))
             for text in (original, rebuilt)]
    assert len(words[0]) > 5000 and words[0] == words[1]
    assert (fresh / "results/paper/numbers.tex").read_text() == (tiny_run / "results/paper/numbers.tex").read_text()
    assert f"LPLR results {manifest['git_commit']}, config {manifest['config_hash']}, drawn at {drawn}" in rebuilt


def test_claims_ledger_rows_verdicts_and_paper_section(tiny_run, default_config):
    from lplr.claims import VERDICTS

    ledger = pd.read_csv(tiny_run / "results/tables/claims.csv")
    configured = {c["id"] for c in default_config["claims"]["list"]}
    assert set(ledger["claim"]) == configured  # every pre-registered claim has a row
    assert ledger["verdict"].isin(VERDICTS).all()
    # one primary row per paper claim; Bonferroni over the primary rows with an interval verdict, the rest at 95%
    paper = ledger[ledger["paper_claim"].astype(str) != "beyond"]  # checks beyond the paper are exploratory
    assert (paper.groupby("paper_claim")["primary"].sum() == 1).all() and "as_registered" in ledger
    assert not ledger.loc[ledger["paper_claim"].astype(str) == "beyond", "primary"].astype(bool).any()
    primary = ledger[ledger["primary"] & (ledger["verdict"] != "not tested at this scale") & ledger["confidence"].notna()]
    assert np.allclose(primary["confidence"], 1 - 0.05 / len(primary))
    assert np.allclose(ledger.loc[~ledger["primary"], "confidence"].dropna(), 0.95)
    # width 1024 and CIFAR-10 are not in the tiny config
    for claim in ("width_1024_leaves", "sgd_pl_slope"):
        assert (ledger.loc[ledger["claim"] == claim, "verdict"] == "not tested at this scale").all()
    text = subprocess.run(["pdftotext", str(tiny_run / "results/paper/main.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "The paper’s claims, tested" in text or "The paper's claims, tested" in text
    assert "Limitations" in text and "The paper's scale has not been run in this build" in text.replace("’", "'")


def test_the_paper_prose_follows_the_data_when_a_direction_reverses(tiny_run, tmp_path):
    """Plant E1 final losses that RISE with width (same slope in both seeds) and rebuild the paper with the real
    DAG: the claims rule, numbers and LaTeX rerun, and the generated sentence of claim 3 says contradicted."""
    workdir = tmp_path / "reversed"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    runs_csv = workdir / "results/fits/width/runs.csv"
    runs = pd.read_csv(runs_csv)
    runs["final_loss"] = 1e-4 * runs["width"]
    runs.to_csv(runs_csv, index=False)
    result = snakemake(workdir, "--cores", "1", "results/paper/main.pdf")
    assert result.returncode == 0, result.stderr[-3000:]
    ledger = pd.read_csv(workdir / "results/tables/claims.csv")
    row = ledger[(ledger["claim"] == "final_loss_monotone") & (ledger["experiment"] == "width")].iloc[0]
    assert row["verdict"] == "contradicted" and row["estimate"] == pytest.approx(1.0)
    text = " ".join(subprocess.run(["pdftotext", str(workdir / "results/paper/main.pdf"), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())
    text = text.replace("- ", "")
    assert "(final_loss_monotone) on width [exploratory]" in text  # the fixed-eta arm (primary: width_calibrated)
    sentence = text[text.index("(final_loss_monotone) on width [exploratory]"):][:600]
    assert "CONTRADICTED" in sentence and "SUPPORTED" not in sentence


def test_a_config_of_ones_own_gets_a_paper_whose_setup_sentences_are_its_own(tmp_path, default_config):
    """Depth 3, scikit-learn's digits (3 vs 5, pooled for the CNN), other widths, seeds and step counts: the PDF's
    setup sentences state them, and none of the default config's facts survives."""
    config = tiny_config(default_config)
    config["data"].update(dataset="digits", classes=[3, 5], n_train=30, n_test=30)
    config["training"].update(depth=3, steps=120)
    config["experiments"]["width"].update(vary={"width": [6, 12]}, seeds=[1, 2])
    config["experiments"]["step"].update(seeds=[1], training={"width": 12},
                                         conditions=[{"lr": 0.01, "steps": 120}, {"lr": 0.004, "steps": 240}])
    for name in ("width_calibrated", "width_eos", "init"):
        config["experiments"][name]["enabled"] = False
    for name in ("cnn", "batch"):
        config["experiments"][name]["data"] = {"normalization": "standardize", "downsample": 2}
    config["notebooks"] = {"experiments": "none", "runs": "none"}
    workdir = copy_repo(tmp_path, config)
    commit_all(workdir, "a config of one's own")
    result = snakemake(workdir, "--cores", "2", "results/paper/main.pdf")
    assert result.returncode == 0, result.stderr[-4000:]
    def squashed(text):  # line breaks, hyphenation and LaTeX's minus/times signs do not count
        return re.sub(r"[\s\-−]", "", text.replace("×", "x").replace("’", "'"))

    raw = pdf_text(workdir / "results/paper/main.pdf")
    # a sentence may run across a page break: drop the footers (page number, commit, config hash) between its halves
    text = squashed("\n".join(line for line in raw.splitlines() if "LPLR results" not in line and not line.strip().isdigit()))
    assert "??" not in raw
    for sentence in ("widths m from 6 to 12: A three-layer ReLU MLP (2 hidden layers of width m",
                     "trained by full-batch gradient descent at η = 0.01 for 120 steps, on scikit-learn's 8x8 digits, "
                     "class 3 vs 5 (labels −1 and +1), 30 training images at 8 x 8 pixels, pixel values in [0, 1]",
                     "Seeds: 1, 2 (2 runs per condition)",
                     "Its 2 conditions: η = 0.01, 120 steps; η = 0.004, 240 steps. Seeds: 1 (1 run per condition). "
                     "1 of its 2 runs is shared with width (trained once)",
                     "(a stem convolution, 1 residual block of 2 channels",
                     "30 training images pooled by 2 to 4 x 4 pixels, standardised",
                     "full batch (30); batch size 8", "1 of its 2 runs is shared with cnn (trained once)"):
        assert squashed(sentence) in text, sentence
    for default_fact in ("five-layer", "MNIST digits 0 vs 1", "7 x 7", "proportionally longer", "E1 runs, shared",
                         "on a CPU"):
        assert squashed(default_fact) not in text, default_fact
