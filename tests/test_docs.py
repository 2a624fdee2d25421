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


DOCS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")), "benchmarks/README.md"]


def test_every_path_the_readme_names_exists():
    paths = named_paths((ROOT / "README.md").read_text())
    assert {"config.yaml", "configs/quick.yaml", "tools/system-deps.sh"} <= paths  # it does find them
    assert missing(paths) == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_and_link_a_doc_names_exists(doc):
    text = (ROOT / doc).read_text()
    assert missing(named_paths(text)) == []
    links = re.findall(r"\]\(([^)#:]+)\)", text)  # markdown links, relative to the document
    assert [link for link in links if not ((ROOT / doc).parent / link).exists()] == []


def doc_commands(text: str) -> set[str]:
    """The commands a document shows: lines of fenced blocks and `code` spans that start with make,
    snakemake or python (as `.venv/bin/...` or bare), comments cut."""
    code = [line for block in re.findall(r"```.*?\n(.*?)```", text, flags=re.S) for line in block.splitlines()]
    code += re.findall(r"`([^`\n]+)`", text)
    starts = ("make", "snakemake", ".venv/bin/snakemake", "python", ".venv/bin/python")
    return {re.sub(r"^\.venv/bin/", "", line.split(" #")[0].strip()) for line in code
            if line.strip().split(" ")[0] in starts}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


def test_the_command_finder_sees_commands():
    found = doc_commands("```bash\nmake test   # the tests\n.venv/bin/snakemake --cores 1\n```\nor `python -m lplr x`")
    assert found == {"make test", "snakemake --cores 1", "python -m lplr x"}


@pytest.mark.parametrize("doc", DOCS)
def test_every_make_and_python_command_a_doc_shows_exists(doc):
    import importlib.util

    from lplr.__main__ import COMMANDS

    wrong = []
    for command in doc_commands((ROOT / doc).read_text()):
        words = command.split()
        if words[0] == "make":
            wrong += [command for target in words[1:] if "=" not in target and target not in make_targets()]
        elif words[0] == "python" and words[1] == "-m":
            module = words[2]
            if importlib.util.find_spec(module) is None or (module == "lplr" and words[3] not in COMMANDS):
                wrong.append(command)
        elif words[0] == "python" and not (ROOT / words[1]).is_file():
            wrong.append(command)
    assert wrong == []


def snakemake_dry_run(*args):
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--dry-run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_every_snakemake_command_the_docs_show_plans_a_dag():
    """Each documented `snakemake ...` command (placeholders and restore-mode ones aside) passes a dry run:
    its options, config files, profiles and targets exist."""
    commands = {re.sub(r" (-n|--dry-run)\b", "", c) for doc in DOCS for c in doc_commands((ROOT / doc).read_text())
                if c.startswith("snakemake")}
    # not planned: placeholders, restore mode, and options that do not plan (or need conda, or a job)
    skipped = ("--report", "--unlock", "--lint", "--rulegraph", "--rerun-incomplete", "--sdm", "--target-jobs")
    planned = sorted(c for c in commands if "<" not in c and "results/restored" not in c and len(c.split()) > 1
                     and not any(o in c for o in skipped) and c != "snakemake --verbose")
    assert "snakemake --cores all --configfile configs/quick.yaml" in planned
    failed = {}
    for command in planned:
        result = snakemake_dry_run(*command.split()[1:])
        if result.returncode != 0:
            failed[command] = (result.stdout + result.stderr)[-1500:]
    assert failed == {}


@pytest.mark.integration
def test_the_rule_graph_picture_is_the_workflows():
    import subprocess
    import sys
    from pathlib import Path

    graph = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--rulegraph"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300).stdout
    def rules_and_edges(dot: str):  # Snakemake numbers the rules in no fixed order: compare by name
        names = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, flags=re.M))
        return set(names.values()), {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)}

    rules, edges = rules_and_edges(graph)
    assert len(rules) > 10 and len(edges) > 10
    assert (rules, edges) == rules_and_edges((ROOT / "docs/rulegraph.dot").read_text()), "make rulegraph redraws it"
    assert (ROOT / "docs/rulegraph.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.integration
def test_the_slurm_request_figures_are_the_dry_runs():
    """docs/slurm.md's width-4096 requests are what the profile's dry run of configs/paper.yaml asks for."""
    text = " ".join((ROOT / "docs/slurm.md").read_text().split())
    result = snakemake_dry_run("--profile", "profiles/slurm", "--configfile", "configs/paper.yaml", "--",
                               "results/ntk/width/width=4096+seed=0/spectrum.csv")
    assert result.returncode == 0, result.stderr[-2000:]
    for rule in ("train_width", "probe_width"):
        block = result.stdout.split(f"rule {rule}:")[1]
        resources = dict(item.split("=", 1) for item in
                         re.search(r"resources: (.*)", block).group(1).split(", ") if "=" in item)
        quoted = re.search(rf"`{rule}` 1 GPU, ([0-9.]+) GB(?: host memory)?, ([0-9]+) min", text)
        assert quoted, rule
        assert (float(quoted.group(1)), int(quoted.group(2))) == (round(int(resources["mem_mb"]) / 1000, 1),
                                                                  int(resources["runtime"])), (rule, resources)
        assert resources["gpu"] == "1"


@pytest.mark.integration
def test_the_paper_cpu_config_plans_e1_at_the_papers_widths_only():
    """configs/paper-cpu.yaml (docs/paper-scale.md): its dry run trains E1 and its calibrated arm at widths 512
    and 1024, one batched job per condition, and nothing else."""
    result = snakemake_dry_run("--cores", "2", "--configfile", "configs/paper-cpu.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout.split("Job stats:")[1], flags=re.M))
    trained = {rule: int(count) for rule, count in jobs.items() if rule.startswith("train")}
    assert trained == {"train_width": 2, "train_width_calibrated": 2}, jobs
    outputs = " ".join(re.findall(r"^\s+output: (.*)$", result.stdout, flags=re.M))  # not the reasons, which
    for width in (512, 1024):                                                           # name earlier runs here
        assert f"results/train/width/width={width}+seed=0/metrics.csv" in outputs
    assert "width=256" not in outputs and "results/train/init/" not in outputs


@pytest.mark.parametrize("config", ["config.yaml", "configs/paper.yaml", "configs/paper-cpu.yaml", "environment.yml",
                                    "requirements.in",
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
