"""The lock (requirements.txt) holds every top-level pin of requirements.in at the same version, with
hashes for every package; environment.yml pins the same top-level versions."""

import re

import yaml

from conftest import ROOT

REGENERATE = "Regenerate the lock with `make lock` (pip-tools, on Linux x86_64 with Python 3.11) and commit it."


def pins(lines) -> dict[str, str]:
    """{normalised name: version} of `name==version` requirement lines."""
    out = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            out[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return out


def lock_entries(text: str) -> dict[str, list[str]]:
    """{requirement line: its --hash values} of a pip-compile --generate-hashes file."""
    entries, current = {}, None
    for line in text.splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            current = line.rstrip(" \\")
            entries[current] = []
        entries[current] += re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)
    return entries


def test_every_pin_is_locked_at_its_version():
    wanted = pins((ROOT / "requirements.in").read_text().splitlines())
    locked = pins(lock_entries((ROOT / "requirements.txt").read_text()))
    assert len(wanted) >= 20
    differ = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert differ == {}, f"requirements.in and the lock disagree ((pin, lock) per package): {differ}. {REGENERATE}"


def test_the_lock_is_whole_and_hashed():
    entries = lock_entries((ROOT / "requirements.txt").read_text())
    assert len(entries) > 100  # the whole resolved set, not the top level
    unhashed = [line for line, hashes in entries.items() if not hashes]
    assert unhashed == [], f"lock lines without hashes: {unhashed}. {REGENERATE}"
    unpinned = [line for line in entries if "==" not in line]
    assert unpinned == [], f"lock lines without an exact version: {unpinned}. {REGENERATE}"
    assert "make lock" in (ROOT / "requirements.txt").read_text()


def test_the_lock_holds_the_transitive_dependencies():
    locked = pins(lock_entries((ROOT / "requirements.txt").read_text()))
    for name in ("pillow", "attrs", "referencing", "networkx", "nbformat"):  # pulled in, not pinned at the top
        assert name in locked, f"{name} is not in the lock. {REGENERATE}"


def test_environment_yml_pins_the_same_versions():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    wanted = pins((ROOT / "requirements.in").read_text().splitlines())
    assert pins(pip_section) == wanted, "environment.yml and requirements.in pin different versions; make them equal"
    assert "python=3.11" in spec["dependencies"]
