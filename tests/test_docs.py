"""The documents a reviewer reads are true: every repository path they name exists; licence and citation."""

import re

import pytest
import yaml

from conftest import ROOT

# Generated or local folders: paths under them are produced by the workflow or set-up, not shipped.
GENERATED = ("results/", "logs/", "data/", ".venv/", ".snakemake/", "report.zip", "checkpoints/", "numbers.tex",
             "provenance.tex", "claims.tex")


def named_paths(text: str) -> set[str]:
    """Repository paths named in `text`: words of `code` spans and fenced blocks that look like paths
    (a '/' between names, or a top-level file name with an extension)."""
    code = re.findall(r"```.*?```", text, flags=re.S) + re.findall(r"`([^`\n]+)`", text)
    words = {w.strip(",;:()'\"") for chunk in code for w in chunk.split()}
    return {w for w in words if _looks_like_path(w)}


def comment_paths(text: str) -> set[str]:
    words = {w.strip(",;:()'\"`.") for line in text.splitlines() if "#" in line for w in line.split("#", 1)[1].split()}
    return {w for w in words if _looks_like_path(w)}


def _looks_like_path(word: str) -> bool:
    if "://" in word or word.startswith(("-", "$", "<")) or "=" in word or "{" in word:
        return False
    if "/" in word:  # folder/name: both sides plain names (not math such as lambda_min/n)
        return bool(re.fullmatch(r"\.{0,2}[A-Za-z0-9_.*<>\-]+(/[A-Za-z0-9_.*<>\-]+)*/?", word)) and (
            re.search(r"\.[a-z]{1,4}$|/$|\*\.[a-z]", word) is not None or (ROOT / word.split("/")[0]).is_dir())
    return bool(re.fullmatch(r"[A-Za-z0-9_\-]+\.(yaml|yml|md|txt|in|cff|toml|tex|bib|smk|sh)", word)) or word in (
        "Makefile", "Snakefile", "LICENSE")


def missing(paths: set[str]) -> list[str]:
    out = []
    for path in sorted(paths):
        if path.startswith(GENERATED) or "<" in path or path.endswith((".pdf", ".png", ".csv", ".json", ".pt",
                                                                          ".npz", ".ipynb", ".html", ".log")):
            continue
        name = path.rstrip("/")
        found = list(ROOT.glob(name)) if "/" in name else tracked_named(name)  # a bare name: anywhere
        if not found:
            out.append(path)
    return out


def tracked_named(name: str) -> list:
    return [p for p in ROOT.rglob(name) if not p.relative_to(ROOT).parts[0].startswith((".", "results", "data"))]


def test_the_path_finder_sees_a_wrong_path():
    found = named_paths("see `profiles/paper/config.yaml` and `eta*lambda_max/n`\n```\nsnakemake --configfile configs/x.yaml\n```")
    assert found == {"profiles/paper/config.yaml", "configs/x.yaml"}
    assert missing(found) == ["configs/x.yaml", "profiles/paper/config.yaml"]


def test_every_path_the_readme_names_exists():
    paths = named_paths((ROOT / "README.md").read_text())
    assert {"config.yaml", "configs/paper.yaml", "tools/system-deps.sh"} <= paths  # it does find them
    assert missing(paths) == []


@pytest.mark.parametrize("config", ["config.yaml", "configs/paper.yaml", "environment.yml", "requirements.in",
                                    "workflow/schemas/config.schema.yaml"])
def test_every_path_a_config_comment_names_exists(config):
    assert missing(comment_paths((ROOT / config).read_text())) == []


def test_licence_and_citation():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "The LPLR artefact authors" in (ROOT / "LICENSE").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    (paper,) = citation["references"]
    assert paper["title"].startswith("From Sublinear to Linear: Fast Convergence in Deep Networks")
    assert paper["identifiers"][0]["value"] == "arXiv:2507.21429"


def test_every_path_the_definitions_name_exists():
    paths = named_paths((ROOT / "docs/definitions.md").read_text())
    assert {"src/lplr/probe.py", "src/lplr/rates.py"} <= paths
    assert missing(paths) == []


def test_nothing_points_outside_the_repository():
    """Definitions live in docs/definitions.md: no file names the project's private spec folder."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    outside = re.compile(r"\.\./shared/|/work/shared|shared/spec|\bexperiments\.md\b")
    found = [name for name in tracked if (ROOT / name).is_file() and name != "tests/test_docs.py"
             and (ROOT / name).suffix in (".py", ".md", ".yaml", ".yml", ".smk", ".tex", ".rst", ".txt", "")
             and outside.search((ROOT / name).read_text(errors="replace"))]
    assert found == []
