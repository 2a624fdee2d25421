"""Results bundles: carry a run's results to another machine and rebuild the paper there without training.

A bundle is results/bundle-<commit>-<config hash>.tar.gz holding

    manifest.json   format, git commit, config hash, the resolved config, the commits recorded by the
                    training runs, every installed package's version, and {path: sha256, size} of each file
    config.yaml     the resolved config (restore writes it to results/restored/config.yaml)
    results/...     data manifests, training metrics and manifests, NTK spectra, the analysis tables
                    (checkpoints only with `--config bundle_checkpoints=True`)

`restore` checks every file against the manifest before writing any (a changed byte is refused,
naming the file), writes them with their recorded modification times, and leaves the manifest at
results/restored/bundle.json. While that file exists, the workflow runs in restore mode
(workflow/rules/common.smk): data preparation, training and probing are not rules, their outputs are
sources, and only fits, tables, figures, notebooks and the paper can be built.

    python -m lplr.bundle restore results/bundle-<commit>-<hash>.tar.gz
    snakemake --cores all --configfile results/restored/config.yaml
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tarfile
import time
from importlib import metadata
from pathlib import Path, PurePosixPath

import yaml

from lplr.io import atomic_path, read_json, sha256_file, write_json, write_text

FORMAT = 1
MANIFEST, CONFIG = "manifest.json", "config.yaml"
RESTORED_DIR = "results/restored"  # relative to the workflow's working directory
RESTORED_MANIFEST, RESTORED_CONFIG = f"{RESTORED_DIR}/bundle.json", f"{RESTORED_DIR}/config.yaml"


class BundleError(ValueError):
    """A bundle is damaged, changed, or does not fit here; the message names the file and what to do."""


def bundle_name(provenance: dict) -> str:
    """results/bundle-<12-char commit>[-dirty]-<config hash>.tar.gz"""
    commit = provenance["results_commit"]
    short = commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")
    return f"results/bundle-{short}-{provenance['config_hash']}.tar.gz"


def installed_versions() -> dict[str, str]:
    return dict(sorted((dist.metadata["Name"], dist.version) for dist in metadata.distributions()))


def write_bundle(files: list[str | Path], out: str | Path, config: dict, provenance: dict,
                 run_manifests: list[str | Path] = ()) -> dict:
    """Pack `files` (paths under results/, relative to the working directory; folders: every file in
    them) into the tar.gz `out` with its manifest; return the manifest."""
    paths = sorted({p for f in map(Path, files) for p in ([f] if f.is_file() else sorted(f.rglob("*"))) if p.is_file()})
    for path in paths:
        _check_member_path(str(PurePosixPath(path)), out)
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": provenance["results_commit"],
        "config_hash": provenance["config_hash"],
        "run_commits": sorted({str(read_json(m).get("git_commit")) for m in run_manifests}),
        "config": config,
        "versions": installed_versions(),
        "files": {str(PurePosixPath(p)): {"sha256": sha256_file(p), "size": p.stat().st_size} for p in paths},
    }
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        _add_bytes(tar, CONFIG, yaml.safe_dump(config, sort_keys=False).encode())
        for path in paths:
            info = tar.gettarinfo(path, arcname=str(PurePosixPath(path)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _check_member_path(name: str, bundle) -> None:
    parts = PurePosixPath(name).parts
    if PurePosixPath(name).is_absolute() or ".." in parts or not parts or parts[0] != "results":
        raise BundleError(f"{bundle}: member {name!r} is not a path under results/; the bundle is not one "
                          f"lplr.bundle wrote. Do not restore it.")


def read_manifest(bundle: str | Path) -> dict:
    """The manifest of `bundle` (its first member)."""
    with _open(bundle) as tar:
        return _manifest(tar, bundle)


def _open(bundle: str | Path) -> tarfile.TarFile:
    if not Path(bundle).is_file():
        raise BundleError(f"bundle {bundle} does not exist; give the path of a results/bundle-*.tar.gz file.")
    try:
        return tarfile.open(bundle, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BundleError(f"bundle {bundle} is damaged (not a readable tar.gz: {error}); copy it again.") from None


def _manifest(tar: tarfile.TarFile, bundle) -> dict:
    try:
        member = tar.next()
        if member is None or member.name != MANIFEST:
            raise BundleError(f"bundle {bundle}: its first member is not {MANIFEST}; it is not a bundle "
                              f"lplr.bundle wrote.")
        manifest = json.loads(tar.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as error:
        raise BundleError(f"bundle {bundle} is damaged ({error}); copy it again.") from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"bundle {bundle}: format {manifest.get('format')!r}, this checkout reads format {FORMAT}.")
    return manifest


def _members(bundle: str | Path):
    """(manifest, iterator of (member, bytes) for each results/ file), reading the archive once."""
    tar = _open(bundle)
    manifest = _manifest(tar, bundle)

    def files():
        try:
            with tar:
                for member in tar:
                    if member.name in (MANIFEST, CONFIG):  # iteration starts again at the first member
                        continue
                    _check_member_path(member.name, bundle)
                    if not member.isfile():
                        raise BundleError(f"bundle {bundle}: {member.name} is not a regular file; do not restore it.")
                    yield member, tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as error:
            raise BundleError(f"bundle {bundle} is damaged ({error}); copy it again.") from None

    return manifest, files()


def verify(bundle: str | Path) -> dict:
    """Check every file of `bundle` against its manifest (sha256 and size, none missing, none extra);
    return the manifest or raise BundleError naming the first file that differs."""
    manifest, files = _members(bundle)
    seen = set()
    for member, data in files:
        expected = manifest["files"].get(member.name)
        if expected is None:
            raise BundleError(f"bundle {bundle}: {member.name} is not in its manifest; the bundle was changed "
                              f"after it was written. Do not restore it.")
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected["sha256"] or len(data) != expected["size"]:
            raise BundleError(f"bundle {bundle}: {member.name} has sha256 {digest}, its manifest says "
                              f"{expected['sha256']}; the file was changed or damaged after bundling. Do not "
                              f"restore it; ask for an intact copy.")
        seen.add(member.name)
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise BundleError(f"bundle {bundle}: {missing[0]} (and {len(missing) - 1} more) listed in its manifest "
                          f"is missing; copy the bundle again.")
    return manifest


def restore(bundle: str | Path, root: str | Path = ".") -> dict:
    """Verify `bundle`, then write its files under `root` (the workflow's working directory) with their
    recorded modification times, and the restore-mode marker results/restored/bundle.json."""
    root = Path(root)
    manifest = verify(bundle)
    for name, expected in manifest["files"].items():
        target = root / name
        if target.exists() and sha256_file(target) != expected["sha256"]:
            raise BundleError(f"{target} exists and differs from the copy in bundle {bundle}; restore into a "
                              f"fresh checkout, or remove {root / 'results'} first.")
    _, files = _members(bundle)
    for member, data in files:  # verified above; written through the atomic writer (umask modes)
        target = root / member.name
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        os.utime(target, (member.mtime, member.mtime))  # the original order of outputs and inputs
    write_text(root / RESTORED_CONFIG, yaml.safe_dump(manifest["config"], sort_keys=False))
    write_json(root / RESTORED_MANIFEST, {**manifest, "bundle": Path(bundle).name})
    return manifest


def restored_manifest(root: str | Path = ".") -> dict | None:
    """The manifest of the bundle restored under `root`, or None (normal mode)."""
    path = Path(root) / RESTORED_MANIFEST
    return read_json(path) if path.exists() else None


def check_restored_config(restored: dict, config_hash: str) -> None:
    """In restore mode the config must be the bundle's: its runs are the only results there are."""
    if restored["config_hash"] != config_hash:
        raise BundleError(
            f"{RESTORED_MANIFEST}: results/ holds the restored bundle {restored.get('bundle')} of config hash "
            f"{restored['config_hash']}, but this config hashes to {config_hash}. Run with "
            f"--configfile {RESTORED_CONFIG} and no --config that changes an experiment setting (device may "
            f"change), or delete {RESTORED_DIR}/ (and results/) to compute results here.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lplr.bundle", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("verify", "check every file against the manifest"),
                       ("restore", "verify, then restore into the working directory's results/")):
        command = commands.add_parser(name, help=text)
        command.add_argument("bundle")
    args = parser.parse_args(argv)
    try:
        manifest = verify(args.bundle) if args.command == "verify" else restore(args.bundle)
    except BundleError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"{args.command}: {len(manifest['files'])} files of commit {manifest['git_commit']}, config "
          f"{manifest['config_hash']} are intact.")
    if args.command == "restore":
        print(f"Now rebuild the figures, notebooks and paper: snakemake --cores all --configfile {RESTORED_CONFIG}")


if __name__ == "__main__":
    main()
