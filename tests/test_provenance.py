"""Provenance: one config hash that ignores how a run was executed; stamps on figures, HTML and TeX."""

import copy
import subprocess

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from lplr.plots.style import save
from lplr.config import validate_config
from lplr.provenance import (ENVIRONMENT_VARIABLE, config_hash, current, describe, export, figure_metadata, stamp_html,
                             summary, write_tex)

RESTORED = {"results_commit": "a" * 40, "drawn_commit": "b" * 40 + "-dirty", "config_hash": "0123456789"}


@pytest.fixture
def config(default_config, schema):
    return validate_config(default_config, schema)


def test_the_hash_ignores_how_it_ran_but_not_what_it_computes(config):
    reference = config_hash(config)
    elsewhere = copy.deepcopy(config)
    elsewhere.update(device="cuda:1", bundle_checkpoints=True)
    elsewhere["training"]["seed_batching"] = "per_seed"
    elsewhere["data"]["root"] = "/scratch/data"
    elsewhere["experiments"]["cnn"]["data"]["root"] = "/elsewhere"
    assert config_hash(elsewhere) == reference
    for change in (lambda c: c["data"].update(n_train=128), lambda c: c["training"].update(steps=10),
                   lambda c: c["experiments"]["width"].update(seeds=[0])):
        other = copy.deepcopy(config)
        change(other)
        assert config_hash(other) != reference
    assert len(reference) == 10 and int(reference, 16) >= 0


def test_describe_names_the_bundles_commit_after_a_restore(config, tmp_path):
    here = describe(config, None, tmp_path)  # not a git checkout
    assert here == {"results_commit": "unknown", "drawn_commit": "unknown", "config_hash": config_hash(config)}
    restored = describe(config, {"git_commit": "c" * 40}, tmp_path)
    assert restored["results_commit"] == "c" * 40 and restored["drawn_commit"] == "unknown"
    assert summary(restored).endswith(", drawn at unknown")
    assert "drawn at" not in summary(here)


def test_describe_marks_a_dirty_tree(config, tmp_path):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    (tmp_path / "a.txt").write_text("1")
    for command in (["git", "init", "-q"], ["git", "add", "a.txt"], ["git", "commit", "-qm", "x"]):
        subprocess.run(command, cwd=tmp_path, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert describe(config, None, tmp_path)["results_commit"] == sha
    (tmp_path / "a.txt").write_text("2")
    assert describe(config, None, tmp_path)["drawn_commit"] == sha + "-dirty"


def test_jobs_read_what_the_workflow_exported(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "{}")  # so that monkeypatch restores it after export()
    monkeypatch.delenv(ENVIRONMENT_VARIABLE)
    assert current()["config_hash"] == "unknown"
    export(RESTORED)
    assert current() == RESTORED


def test_figures_carry_it_in_pdf_metadata_and_png_text(tmp_path, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "{}")  # so that monkeypatch restores it after export()
    export(RESTORED)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save(fig, tmp_path / "figure.pdf")
    info = subprocess.run(["pdfinfo", str(tmp_path / "figure.pdf")], capture_output=True, text=True, check=True).stdout
    assert f"LPLR results {'a' * 40}, config 0123456789, drawn at {'b' * 40}-dirty" in info
    assert f"lplr:results_commit={'a' * 40}" in info
    text = Image.open(tmp_path / "figure.png").text
    assert text["lplr:results_commit"] == "a" * 40 and text["lplr:config_hash"] == "0123456789"
    assert text["lplr:drawn_commit"] == "b" * 40 + "-dirty"


def test_html_gets_meta_tags_and_a_footer():
    text = stamp_html("<html><head><title>t</title></head><body><p>body</p></body></html>\n", RESTORED)
    assert f'<meta name="lplr:results_commit" content="{"a" * 40}">' in text.split("</head>")[0]
    assert text.index("LPLR results") > text.index("<p>body</p>")
    assert text.endswith("</body></html>\n")
    with pytest.raises(ValueError, match="no </head>"):
        stamp_html("<p>x</p>", RESTORED)


def test_the_tex_footer_defines_the_macro(tmp_path):
    write_tex(tmp_path / "provenance.tex", {**RESTORED, "config_hash": "ab_cd"})
    text = (tmp_path / "provenance.tex").read_text()
    assert r"\newcommand{\lplrprovenance}{LPLR results " + "a" * 40 + r", config ab\_cd, drawn at" in text
    assert r"\pagestyle{plain}" in text


def test_metadata_of_other_formats_is_empty():
    assert figure_metadata("svg", RESTORED) == {}
