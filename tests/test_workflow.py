"""Integration: the real Snakemake DAG on a tiny config in a temporary copy of the repository."""

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from conftest import BIN, ROOT
from lplr.paper import format_number

pytestmark = pytest.mark.integration
COPIED = ["Snakefile", "config.yaml", "environment.yml", "workflow", "paper", "src"]


def tiny_config(default: dict) -> dict:
    config = json.loads(json.dumps(default))
    config["data"].update(n_train=40, n_test=40)
    config["training"].update(steps=150, checkpoints=5, metrics_block=64, resume_every=100)
    config["experiments"]["width"].update(vary={"width": [8, 16]}, seeds=[0, 1])
    for name in ("init", "step"):  # every experiment once, at one seed
        config["experiments"][name].update(seeds=[0], training={"width": 8})
    for name in ("cnn", "batch"):
        config["experiments"][name]["training"].update(width=2, depth=1)
        config["experiments"][name].update(seeds=[0])
    config["experiments"]["cnn"]["vary"] = {"batch_size": [8]}
    config["experiments"]["batch"]["vary"] = {"batch_size": [40, 8]}
    return config


def copy_repo(dest, config: dict):
    for name in COPIED:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    (dest / "tiny.yaml").write_text(yaml.safe_dump(config))
    return dest


def snakemake(cwd, *args, timeout=900):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(BIN / "snakemake"), "--configfile", "tiny.yaml", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, request):
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    workdir = copy_repo(tmp_path_factory.mktemp("workflow"), tiny_config(default))
    result = snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_target_is_built(tiny_run):
    for name in ("loss_decay", "pl_scaling", "width_ablation"):
        assert (tiny_run / f"results/figures/{name}.pdf").stat().st_size > 1000
        assert (tiny_run / f"results/figures/{name}.png").stat().st_size > 1000
    notebook = json.loads((tiny_run / "results/notebooks/width_analysis.ipynb").read_text())
    assert notebook["metadata"]["papermill"]["parameters"]["runs_csv"] == "results/fits/width/runs.csv"
    assert not any(o.get("output_type") == "error" for c in notebook["cells"] for o in c.get("outputs", []))
    assert "Per-run fits" in (tiny_run / "results/notebooks/width_analysis.html").read_text()
    assert (tiny_run / "results/paper/main.pdf").read_bytes().startswith(b"%PDF")


def test_paper_text_holds_the_fitted_numbers(tiny_run):
    text = subprocess.run(["pdftotext", "-layout", str(tiny_run / "results/paper/main.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "??" not in text  # every \val{...} the text uses was generated
    summary = pd.read_csv(tiny_run / "results/tables/width_summary.csv")
    largest = summary["width"].max()
    for statistic, quoted in (("rate", ("mean", "ci_low", "ci_high")), ("pl_slope", ("mean", "ci_low", "ci_high")),
                              ("final_loss", ("mean",))):
        row = summary[(summary["width"] == largest) & (summary["statistic"] == statistic)].iloc[0]
        for value in row[list(quoted)]:
            assert format_number(value) in text, f"{statistic} = {format_number(value)} is not in the PDF text"
    runs = pd.read_csv(tiny_run / "results/fits/width/runs.csv")
    assert f"{len(runs)} runs" in text


def test_probe_audit_passed_for_every_checkpoint(tiny_run):
    for spectrum in (tiny_run / "results/ntk/width").glob("*/spectrum.csv"):
        frame = pd.read_csv(spectrum)
        assert frame["audit_ok"].all() and (frame["step"].iloc[0] == 0)
        assert (frame["probe_grad_norm_sq"] >= 2 * frame["mu"] * frame["probe_loss"] * (1 - 1e-9)).all()


def test_a_second_run_has_nothing_to_do(tiny_run):
    result = snakemake(tiny_run, "--cores", "2", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_single_figure_builds_only_what_it_needs(tmp_path, default_config):
    workdir = copy_repo(tmp_path, tiny_config(default_config))
    result = snakemake(workdir, "--dry-run", "results/figures/width_ablation.pdf")
    assert result.returncode == 0, result.stderr[-2000:]
    assert job_counts(result.stdout + result.stderr) == {
        "prepare_data": 1, "train": 4, "probe_ntk": 4, "fit_experiment": 1, "figure_width_ablation": 1, "total": 11}


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
    assert not (workdir / "results").exists()


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
    for figure in ("loss_decay", "pl_scaling", "width_ablation", "ntk_stability", "pl_ratio", "init_comparison",
                   "step_size", "cnn_sgd", "batch_size"):
        assert any(name.endswith(f"/{figure}.pdf") for name in names), f"{figure}.pdf is not in the report"
    assert any(name.endswith("/width_analysis.html") for name in names)
