"""Integration: a bundle of a config whose runs are shared across experiments restores elsewhere and rebuilds
the paper with the README's commands; a hostile sender's bundle runs none of its code."""

import io
import json
import os
import re
import subprocess
import tarfile

import pytest
import yaml

from conftest import BIN, ROOT
from lplr.bundle import SCHEMA
from lplr.config import load_schema, validate_config
from lplr.plan import run_sources
from lplr.provenance import config_hash
from test_bundle import repack
from test_workflow import commit_all, copy_repo, pdf_text, snakemake
from tiny import tiny_config

pytestmark = pytest.mark.integration
ATTACK = "@pd.io.common.os.system('touch MARKER') == 0"  # what DataFrame.eval used to run
TEX = r"\input{/etc/hostname} \immediate\write18{touch MARKER}"


def config_in_its_order() -> dict:
    """The tiny config written in config order, not sorted, with runs shared across experiments (E1's width-8 run
    is E2's He run and E3's first; E4's batch-8 run is E5's): the restored config must give them the same owners."""
    config = tiny_config(yaml.safe_load((ROOT / "config.yaml").read_text()))
    for name in ("width_calibrated", "width_eos"):
        config["experiments"][name]["enabled"] = False
    config["notebooks"] = {"runs": []}
    return config


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """A tiny run in config order and its bundle."""
    workdir = copy_repo(tmp_path_factory.mktemp("source"), {})
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config_in_its_order(), sort_keys=False))
    commit_all(workdir, "the tiny run")
    for args in (("--cores", "2"), ("--cores", "1", "bundle")):
        result = snakemake(workdir, *args)
        assert result.returncode == 0, result.stderr[-4000:]
    (bundle,) = (workdir / "results").glob("bundle-*.tar.gz")
    return workdir, bundle


def fresh_checkout(tmp_path_factory):
    fresh = copy_repo(tmp_path_factory.mktemp("fresh"), {})
    (fresh / "tiny.yaml").unlink()
    commit_all(fresh, "a fresh checkout")
    return fresh


def restore(bundle, cwd):
    """The README's restore command."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(BIN / "python"), "-m", "lplr.bundle", "restore", str(bundle)], cwd=cwd, env=env,
                          capture_output=True, text=True)


def outside_results(checkout) -> set:
    return {p for p in checkout.rglob("*") if not str(p.relative_to(checkout)).startswith(
        ("results", "logs", ".snakemake", ".git"))}


def hostile(bundle, tmp_path, change=None, extra=()):
    """A copy of `bundle` changed by its sender, with a self-consistent manifest and config hash."""
    copy = tmp_path / bundle.name
    copy.write_bytes(bundle.read_bytes())

    def edit(name, data):
        if name != "config.yaml" or change is None:
            return data
        config = yaml.safe_load(data)
        change(config)
        return yaml.safe_dump(config, sort_keys=False).encode()

    repack(copy, edit, extra)
    with tarfile.open(copy, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]
    manifest = json.loads(members[0][1])
    manifest["config_hash"] = config_hash(manifest["config"])
    members[0] = (members[0][0], json.dumps(manifest).encode())
    with tarfile.open(copy, "w:gz") as tar:
        for member, data in members:
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return copy


def test_the_readme_restore_rebuilds_the_paper_with_shared_runs_where_they_were(bundled, tmp_path_factory):
    source, bundle = bundled
    sources = run_sources(validate_config(config_in_its_order(), load_schema(ROOT / SCHEMA)))
    shared = {(name, run): owner for name, runs in sources.items() for run, owner in runs.items() if owner[0] != name}
    assert {name for name, _ in shared} >= {"init", "step", "batch"}  # E1's runs read by E2, E3; E4's by E5
    for owner in shared.values():
        assert (source / "results/train" / owner[0] / owner[1] / "metrics.csv").is_file()
    fresh = fresh_checkout(tmp_path_factory)
    restored = restore(bundle, fresh)
    assert restored.returncode == 0, restored.stderr
    assert list(yaml.safe_load((fresh / "results/restored/config.yaml").read_text())["experiments"])[:2] == ["width", "width_calibrated"]
    build = snakemake(fresh, "--cores", "2", configfile="results/restored/config.yaml")
    assert build.returncode == 0, build.stderr[-3000:]
    assert not (fresh / "logs/train").exists()  # nothing trained: every run was where the bundle put it
    # every character, footers and page numbers aside (the restored footer names two commits, which moves the
    # -layout spacing and where page numbers land)
    text = [re.sub(r"\s", "", "\n".join(line for line in pdf_text(d / "results/paper/main.pdf").splitlines()
                                         if "LPLR results" not in line and not line.strip().isdigit()))
            for d in (source, fresh)]
    assert len(text[0]) > 5000 and text[0] == text[1]


def test_a_code_carrying_condition_never_runs(bundled, tmp_path_factory, tmp_path):
    source, bundle = bundled

    def attack(config):
        config["claims"]["list"][3]["rule"] = {"test": "proportion", "violation": ATTACK, "max_fraction": 0.05}

    fresh = fresh_checkout(tmp_path_factory)
    refused = restore(hostile(bundle, tmp_path, attack), fresh)
    assert refused.returncode != 0 and "claims.list[3].rule.violation" in refused.stderr
    assert not (fresh / "results").exists() and not (fresh / "MARKER").exists()

    # the workflow refuses it too: an honest restore whose config is then replaced
    assert restore(bundle, fresh).returncode == 0
    config = yaml.safe_load((fresh / "results/restored/config.yaml").read_text())
    attack(config)
    (fresh / "results/restored/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    marker = json.loads((fresh / "results/restored/bundle.json").read_text())
    (fresh / "results/restored/bundle.json").write_text(json.dumps({**marker, "config_hash": config_hash(config)}))
    run = snakemake(fresh, "--cores", "2", configfile="results/restored/config.yaml")
    assert run.returncode != 0 and "claims.list[3].rule.violation" in run.stdout + run.stderr
    assert not (fresh / "MARKER").exists() and not (fresh / "logs").exists()  # refused before any job


def test_a_pickle_or_an_oversized_member_is_refused_naming_the_file(bundled, tmp_path_factory, tmp_path):
    _, bundle = bundled
    resume = "results/train/width/width=8+seed=0/resume.pt"
    fresh = fresh_checkout(tmp_path_factory)
    refused = restore(hostile(bundle, tmp_path, extra=[(resume, b"\x80\x04\x95cos\nsystem\n")]), fresh)
    assert refused.returncode != 0 and f"member '{resume}' is none of the kinds a bundle holds" in refused.stderr

    big = tmp_path / "big" / bundle.name
    big.parent.mkdir()
    name = "results/fits/width/runs.csv"
    with tarfile.open(bundle, "r:gz") as src, tarfile.open(big, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read() + (bytes(32 << 20) if member.name == name else b"")
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    refused = restore(big, fresh)
    assert refused.returncode != 0 and f"{name} is " in refused.stderr and "its manifest says" in refused.stderr
    assert not (fresh / "results").exists()


def test_a_tex_command_in_a_claim_statement_is_printed_literally(bundled, tmp_path_factory, tmp_path):
    _, bundle = bundled

    def statement(config):  # both reach TeX: the statement in the table, paper_value in the sentence
        config["claims"]["list"][0].update(statement=TEX, paper_value=TEX)

    fresh = fresh_checkout(tmp_path_factory)
    before = outside_results(fresh)
    assert restore(hostile(bundle, tmp_path, statement), fresh).returncode == 0  # valid data, so restored
    build = snakemake(fresh, "--cores", "2", "results/paper/main.pdf", configfile="results/restored/config.yaml")
    assert build.returncode == 0, build.stderr[-3000:]
    text = " ".join(pdf_text(fresh / "results/paper/main.pdf").split())
    assert r"\input{/etc/hostname}" in text and r"\immediate\write18{touch MARKER}" in text
    assert outside_results(fresh) == before and not (fresh / "MARKER").exists()
