"""Results bundles: every file checked against the manifest, a changed byte refused naming the file."""

import gzip
import io
import json
import os
import tarfile

import pytest

from lplr.bundle import BundleError, bundle_name, check_restored_config, main, restore, restored_manifest, verify, write_bundle

PROVENANCE = {"results_commit": "a" * 40, "drawn_commit": "a" * 40, "config_hash": "0123456789"}
CONFIG = {"data": {"n_train": 40}, "device": "cpu"}


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
    fresh = tmp_path_factory.mktemp("fresh")
    restore(source / "out/bundle.tar.gz", fresh)
    for name, text in files.items():
        assert (fresh / name).read_text() == text
    assert (fresh / "results/train/width/width=8,seed=0/metrics.csv").stat().st_mtime == 1_600_000_000
    assert restored_manifest(fresh)["bundle"] == "bundle.tar.gz"
    assert (fresh / "results/restored/config.yaml").read_text().startswith("data:")
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
    fresh = tmp_path_factory.mktemp("fresh")
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
                info = tarfile.TarInfo("results/fits/width/extra.csv")
                info.size = 1
                dst.addfile(info, io.BytesIO(b"x"))
        with open("out/changed.tar.gz", "wb") as handle:
            handle.write(out.getvalue())
        with pytest.raises(BundleError, match=message):
            verify("out/changed.tar.gz")


def test_a_damaged_archive_is_refused_naming_the_bundle(results):
    data = bytearray(open("out/bundle.tar.gz", "rb").read())
    data[len(data) // 2] ^= 0xFF
    with open("out/bundle.tar.gz", "wb") as handle:
        handle.write(bytes(data))
    with pytest.raises(BundleError, match=r"bundle out/bundle.tar.gz (is damaged|: .* has sha256)"):
        verify("out/bundle.tar.gz")


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
