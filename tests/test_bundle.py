"""Results bundles: every file checked against the manifest, a changed byte refused naming the file."""

import gzip
import hashlib
import io
import json
import os
import re
import tarfile

import shutil

import pytest
import yaml

from conftest import ROOT
from lplr.bundle import (SCHEMA, BundleError, bundle_name, check_restored_config, main, restore,
                         restored_manifest, verify, write_bundle)
from lplr.io import sha256_file

PROVENANCE = {"results_commit": "a" * 40, "drawn_commit": "a" * 40, "config_hash": "0123456789"}
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())  # in config order, not sorted


def checkout(path):
    """A directory restore can run in: it validates the bundle's config with the checkout's schema."""
    (path / SCHEMA).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / SCHEMA, path / SCHEMA)
    return path


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A small results/ tree in a working directory, and a bundle of it."""
    monkeypatch.chdir(tmp_path)
    files = {"results/train/width/width=8,seed=0/metrics.csv": "step,loss\n0,1.0\n1,0.5\n",
             "results/train/width/width=8,seed=0/manifest.json": json.dumps({"git_commit": "a" * 40}),
             "results/ntk/width/width=8,seed=0/spectrum.csv": "step,lambda_min\n0,0.25\n",
             "results/fits/width/runs.csv": "run,rate\nwidth=8,0.1\n"}
    for name, text in files.items():
        os.makedirs(os.path.dirname(name), exist_ok=True)
        with open(name, "w") as handle:
            handle.write(text)
    old = 1_600_000_000
    os.utime("results/train/width/width=8,seed=0/metrics.csv", (old, old))
    manifests = ["results/train/width/width=8,seed=0/manifest.json"]
    manifest = write_bundle(["results/train", "results/ntk", "results/fits"], "out/bundle.tar.gz", CONFIG,
                            PROVENANCE, run_manifests=manifests)
    return tmp_path, files, manifest


def test_the_manifest_lists_every_file_with_its_sha256(results):
    _, files, manifest = results
    assert set(manifest["files"]) == set(files)
    assert manifest["git_commit"] == "a" * 40 and manifest["config_hash"] == "0123456789"
    assert manifest["config"] == CONFIG and manifest["run_commits"] == ["a" * 40]
    assert "torch" in manifest["versions"] and "snakemake" in manifest["versions"]
    assert verify("out/bundle.tar.gz")["files"] == manifest["files"]


def test_restore_writes_the_files_their_times_and_the_marker(results, tmp_path_factory, monkeypatch):
    source, files, manifest = results
    fresh = checkout(tmp_path_factory.mktemp("fresh"))
    restore(source / "out/bundle.tar.gz", fresh)
    for name, text in files.items():
        assert (fresh / name).read_text() == text
    assert (fresh / "results/train/width/width=8,seed=0/metrics.csv").stat().st_mtime == 1_600_000_000
    assert restored_manifest(fresh)["bundle"] == "bundle.tar.gz"
    # the config as written, in its key order (which experiment owns a shared run follows that order)
    restored = (fresh / "results/restored/config.yaml").read_text()
    assert list(yaml.safe_load(restored)["experiments"]) == list(CONFIG["experiments"])
    assert list(yaml.safe_load(restored)) == list(CONFIG)
    restore(source / "out/bundle.tar.gz", fresh)  # the same files again: allowed


def rewrite(bundle, change):
    """A copy of `bundle` with change(name, data) -> data applied to every member (a tampered bundle)."""
    out = io.BytesIO()
    with tarfile.open(bundle, "r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src:
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with open(bundle, "wb") as handle:
        handle.write(out.getvalue())


def test_one_changed_byte_is_refused_naming_the_file(results, tmp_path_factory):
    source, _, _ = results
    target = "results/ntk/width/width=8,seed=0/spectrum.csv"
    rewrite("out/bundle.tar.gz", lambda name, data: data.replace(b"0.25", b"0.26") if name == target else data)
    fresh = checkout(tmp_path_factory.mktemp("fresh"))
    with pytest.raises(BundleError, match=rf"{target} has sha256 .* its manifest says"):
        restore(source / "out/bundle.tar.gz", fresh)
    assert not (fresh / "results").exists()  # nothing is written before everything is checked
    with pytest.raises(SystemExit, match=rf"error: bundle .*bundle.tar.gz: {target} has sha256"):
        main(["verify", str(source / "out/bundle.tar.gz")])


def test_an_added_or_missing_file_is_refused(results):
    with open("out/bundle.tar.gz", "rb") as handle:
        raw = gzip.decompress(handle.read())
    with tarfile.open(fileobj=io.BytesIO(raw)) as src:
        members = [(m, src.extractfile(m).read()) for m in src]
    for drop, extra, message in ((True, False, "missing"), (False, True, "not in its manifest")):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as dst:
            for member, data in members[:-1] if drop else members:
                dst.addfile(member, io.BytesIO(data))
            if extra:
                info = tarfile.TarInfo("results/fits/width/probes.csv")
                info.size = 1
                dst.addfile(info, io.BytesIO(b"x"))
        with open("out/changed.tar.gz", "wb") as handle:
            handle.write(out.getvalue())
        with pytest.raises(BundleError, match=message):
            verify("out/changed.tar.gz")


def test_a_damaged_archive_is_refused_naming_the_bundle(results):
    """A byte flipped anywhere in the compressed stream is refused. Where it lands (a member's data, the manifest's
    text, a deflate block header, the trailer) decides which check catches it, and that moves with the gzip
    timestamp; so several positions are tried and any refusal naming the bundle counts. The gzip header's name
    field is outside the CRC and is not tried."""
    intact = open("out/bundle.tar.gz", "rb").read()
    for fraction in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99):
        data = bytearray(intact)
        data[int(len(data) * fraction)] ^= 0xFF
        with open("out/damaged.tar.gz", "wb") as handle:
            handle.write(bytes(data))
        with pytest.raises(BundleError, match=r"^bundle out/damaged\.tar\.gz( is damaged|: )"):
            verify("out/damaged.tar.gz")


def test_a_path_outside_results_is_refused(results):
    with open("evil.txt", "w") as handle:
        handle.write("x")
    with pytest.raises(BundleError, match="not a path under results/"):
        write_bundle(["evil.txt"], "out/evil.tar.gz", CONFIG, PROVENANCE)


def test_restore_mode_needs_the_bundles_config():
    check_restored_config({"config_hash": "0123456789", "bundle": "b.tar.gz"}, "0123456789")
    with pytest.raises(BundleError, match=r"config hash 0123456789, but this config hashes to 9999999999.*"
                                          r"--configfile results/restored/config.yaml"):
        check_restored_config({"config_hash": "0123456789", "bundle": "b.tar.gz"}, "9999999999")


def test_bundle_names_carry_commit_and_config_hash():
    assert bundle_name(PROVENANCE) == "results/bundle-aaaaaaaaaaaa-0123456789.tar.gz"
    dirty = {**PROVENANCE, "results_commit": "b" * 40 + "-dirty"}
    assert bundle_name(dirty) == "results/bundle-bbbbbbbbbbbb-dirty-0123456789.tar.gz"


# ------------------------------------------------------------------------------------------------
# a hostile sender: the manifest is self-consistent, so only what restore refuses protects the reviewer
# ------------------------------------------------------------------------------------------------

def repack(bundle, change=lambda name, data: data, extra=()):
    """Rewrite `bundle` as its sender could: change(name, data) on every member, `extra` (name, data) members
    added, and the manifest's sha256 and size entries and config recomputed to match."""
    with tarfile.open(bundle, "r:gz") as src:
        members = [(m, change(m.name, src.extractfile(m).read())) for m in src]
    members += [(tarfile.TarInfo(name), data) for name, data in extra]
    manifest = json.loads(members[0][1])
    config = yaml.safe_load(members[1][1])
    for member, data in members[2:]:
        manifest["files"][member.name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest["config"] = config
    members[0] = (members[0][0], json.dumps(manifest).encode())
    with tarfile.open(bundle, "w:gz") as dst:
        for member, data in members:
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


def test_a_code_carrying_condition_is_refused_naming_the_key(results, tmp_path_factory):
    source, _, _ = results
    attack = "@pd.io.common.os.system('touch MARKER') == 0"

    def hostile(name, data):
        if name != "config.yaml":
            return data
        config = yaml.safe_load(data)
        config["claims"]["list"][2]["rule"] = {"test": "proportion", "violation": attack, "max_fraction": 0.05}
        return yaml.safe_dump(config, sort_keys=False).encode()

    repack("out/bundle.tar.gz", hostile)
    assert verify("out/bundle.tar.gz")  # intact as far as its manifest can tell
    fresh = checkout(tmp_path_factory.mktemp("fresh"))
    with pytest.raises(BundleError, match=r"config key 'claims\.list\[2\]\.rule\.violation': '@pd.io.commo' at "
                                          r"character 0 is not part of a condition"):
        restore(source / "out/bundle.tar.gz", fresh)
    assert not (fresh / "results").exists() and not (fresh / "MARKER").exists()


@pytest.mark.parametrize("name", ["results/train/width/width=8,seed=0/resume.pt", "results/evil.sh",
                                  "results/train/width/width=8,seed=0/checkpoints.partial/step_0000001.pt"])
def test_members_of_no_bundled_kind_are_refused_naming_them(results, name, tmp_path_factory):
    source, _, _ = results
    repack("out/bundle.tar.gz", extra=[(name, b"\x80\x04\x95cos\nsystem\n")])  # a pickle payload
    fresh = checkout(tmp_path_factory.mktemp("fresh"))
    with pytest.raises(BundleError, match=rf"member '{re.escape(name)}' is none of the kinds a bundle holds"):
        restore(source / "out/bundle.tar.gz", fresh)
    assert not (fresh / "results").exists()


def test_a_member_larger_than_its_manifest_entry_is_refused_unread(results, monkeypatch):
    target = "results/fits/width/runs.csv"
    with tarfile.open("out/bundle.tar.gz", "r:gz") as src:
        members = [(m, src.extractfile(m).read()) for m in src]
    with tarfile.open("out/bundle.tar.gz", "w:gz") as dst:  # 64 MiB of zeros, a few kB packed
        for member, data in members:
            if member.name == target:
                data = bytes(64 << 20)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    read = []
    original = tarfile.ExFileObject.read
    monkeypatch.setattr(tarfile.ExFileObject, "read", lambda self, *a: read.append(len(data := original(self, *a))) or data)
    with pytest.raises(BundleError, match=rf"{target} is {64 << 20} bytes, its manifest says 21; "):
        verify("out/bundle.tar.gz")
    assert sum(read) < 1 << 20  # the manifest and config.yaml only: the oversized member is never read


def test_a_bundle_over_the_size_limit_is_refused_before_reading(results):
    with pytest.raises(BundleError, match=r"add up to \d+ bytes, more than the limit of 100 \(--max-bytes\)"):
        verify("out/bundle.tar.gz", max_bytes=100)


def test_the_published_digest_is_checked(results, capsys):
    digest = sha256_file("out/bundle.tar.gz")
    with pytest.raises(SystemExit, match=rf"has sha256 {digest}, not the {'0' * 64} you gave"):
        main(["verify", "--sha256", "0" * 64, "out/bundle.tar.gz"])
    main(["verify", "--sha256", digest, "out/bundle.tar.gz"])
    assert f"bundle sha256: {digest}" in capsys.readouterr().out
    main(["verify", "out/bundle.tar.gz"])
    assert "compare this digest with the one the bundle's author published" in capsys.readouterr().out


def test_a_format_1_bundle_is_refused_with_what_to_do(results):
    def old(name, data):
        return json.dumps({**json.loads(data), "format": 1}).encode() if name == "manifest.json" else data

    repack("out/bundle.tar.gz", old)
    with pytest.raises(BundleError, match=r"format 1, this checkout reads format 2. Format 1 restored a key-sorted"):
        verify("out/bundle.tar.gz")


def test_a_config_yaml_other_than_the_manifests_is_refused(results):
    def other(name, data):
        return data.replace(b"n_train: 256", b"n_train: 255") if name == "config.yaml" else data

    with tarfile.open("out/bundle.tar.gz", "r:gz") as src:
        members = [(m, other(m.name, src.extractfile(m).read())) for m in src]
    with tarfile.open("out/bundle.tar.gz", "w:gz") as dst:
        for member, data in members:
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(BundleError, match="its config.yaml is missing or differs from the config in its manifest"):
        verify("out/bundle.tar.gz")


def test_every_file_the_plan_bundles_is_of_a_bundled_kind(default_config, schema):
    """lplr.bundle.MEMBER_KINDS (what restore accepts) covers lplr.plan's bundle contents (what the workflow packs)."""
    from lplr.bundle import _check_member_path
    from lplr.config import validate_config
    from lplr.plan import Plan

    config = validate_config({**default_config, "bundle_checkpoints": True}, schema)
    files = Plan(config).bundle_inputs()
    assert any(f.endswith("/checkpoints") for f in files) and any(f.endswith(".npz") for f in files)
    for name in files:
        _check_member_path(name + "/step_0000010.pt" if name.endswith("/checkpoints") else name, "plan")
    with pytest.raises(BundleError, match="none of the kinds"):
        _check_member_path("results/train/width/width=64+seed=0/resume.pt", "plan")
