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
import contextlib
import copy
import hashlib
import io
import json
import os
import re
import tarfile
import time
import zlib
from importlib import metadata
from pathlib import Path, PurePosixPath

import yaml

from lplr.io import atomic_path, read_json, sha256_file, write_json, write_text

# 2: restore writes the bundle's config.yaml as written (format 1 restored the manifest's key-sorted copy, and
# which experiment owns a shared run follows config order), and members are of the kinds in MEMBER_KINDS only.
FORMAT = 2
MANIFEST, CONFIG = "manifest.json", "config.yaml"
RESTORED_DIR = "results/restored"  # relative to the workflow's working directory
RESTORED_MANIFEST, RESTORED_CONFIG = f"{RESTORED_DIR}/bundle.json", f"{RESTORED_DIR}/config.yaml"
SCHEMA = "workflow/schemas/config.schema.yaml"  # relative to the checkout that restores
MAX_BYTES = 16 << 30  # a bundle's files together; more is refused before anything is read (--max-bytes)
MAX_HEADER_BYTES = 64 << 20  # manifest.json and config.yaml each
BLOCK = 1 << 20  # members are hashed and written in blocks, never read whole
DAMAGED = (tarfile.TarError, OSError, EOFError, zlib.error, UnicodeDecodeError)  # what a damaged archive raises
MEMBER_KINDS = {  # what the workflow puts in a bundle (workflow/rules/common.smk, bundle_inputs); nothing else
    "data manifest": re.compile(r"results/data/[^/]+/manifest\.json"),
    "training metrics or manifest": re.compile(r"results/train/[a-z][a-z0-9_]*/[^/]+/(?:metrics\.csv|manifest\.json)"),
    "checkpoint": re.compile(r"results/train/[a-z][a-z0-9_]*/[^/]+/checkpoints/step_[0-9]+\.pt"),
    "NTK spectrum": re.compile(r"results/ntk/[a-z][a-z0-9_]*/[^/]+/(?:spectrum\.csv|eigenvalues\.npz)"),
    "fit table": re.compile(r"results/fits/[a-z][a-z0-9_]*/(?:runs|curves|probes)\.csv"),
    "summary table": re.compile(r"results/tables/[a-z][a-z0-9_]*_(?:summary|sensitivity|trends)\.csv"),
}


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
        _add_bytes(tar, CONFIG, yaml.safe_dump(config, sort_keys=False).encode())  # in config order
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
    if not any(kind.fullmatch(name) for kind in MEMBER_KINDS.values()):
        raise BundleError(f"{bundle}: member {name!r} is none of the kinds a bundle holds ({', '.join(MEMBER_KINDS)}: "
                          f"lplr.bundle.MEMBER_KINDS); resume files and other files are never bundled. Do not "
                          f"restore it.")


def read_manifest(bundle: str | Path) -> dict:
    """The manifest of `bundle` (its first member)."""
    with _open(bundle) as tar:
        return _manifest(tar, bundle)


def _open(bundle: str | Path) -> tarfile.TarFile:
    if not Path(bundle).is_file():
        raise BundleError(f"bundle {bundle} does not exist; give the path of a results/bundle-*.tar.gz file.")
    try:
        return tarfile.open(bundle, "r:gz")
    except DAMAGED as error:
        raise BundleError(f"bundle {bundle} is damaged (not a readable tar.gz: {error}); copy it again.") from None


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo, bundle) -> bytes:
    if not member.isfile() or member.size > MAX_HEADER_BYTES:
        raise BundleError(f"bundle {bundle}: {member.name} is {member.size} bytes, more than the {MAX_HEADER_BYTES} "
                          f"a bundle's {member.name} may have (or not a file); do not restore it.")
    return tar.extractfile(member).read()


def _manifest(tar: tarfile.TarFile, bundle) -> dict:
    try:
        member = tar.next()
        if member is None or member.name != MANIFEST:
            raise BundleError(f"bundle {bundle}: its first member is not {MANIFEST}; it is not a bundle "
                              f"lplr.bundle wrote.")
        manifest = json.loads(_read_small(tar, member, bundle))
    except (*DAMAGED, json.JSONDecodeError) as error:
        raise BundleError(f"bundle {bundle} is damaged ({error}); copy it again.") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"bundle {bundle}: {MANIFEST} is not a bundle manifest; do not restore it.")
    if manifest.get("format") != FORMAT:
        old = manifest.get("format") == 1
        raise BundleError(f"bundle {bundle}: format {manifest.get('format')!r}, this checkout reads format {FORMAT}. "
                          + ("Format 1 restored a key-sorted config, which can move shared runs to another experiment; "
                             "make the bundle again with this checkout (`make bundle` where the results are), or "
                             "restore it with a checkout of commit b457519." if old else
                             "Use the checkout of the commit that wrote it (its manifest's git_commit)."))
    return manifest


def _stream(tar: tarfile.TarFile, member: tarfile.TarInfo, sink=None) -> str:
    """The sha256 of a member, read in blocks (and written to `sink` as it goes)."""
    digest, handle = hashlib.sha256(), tar.extractfile(member)
    while block := handle.read(BLOCK):
        digest.update(block)
        if sink is not None:
            sink.write(block)
    return digest.hexdigest()


def _walk(bundle: str | Path, manifest_check=None, write=None) -> tuple[dict, str]:
    """Read the archive once, member by member: every results/ file checked against the manifest (kind, size
    before it is read, sha256 in blocks) and, with `write(member)` -> a file handle or None, written as read.
    Returns (manifest, config.yaml as written)."""
    tar = _open(bundle)
    with tar:
        manifest = _manifest(tar, bundle)
        if manifest_check:
            manifest_check(manifest)
        config_text, seen = None, set()
        try:
            for member in tar:  # iteration starts again at the first member, the manifest read above
                if member.offset == 0:
                    continue
                if member.name == CONFIG and config_text is None:
                    config_text = _read_small(tar, member, bundle).decode()
                    continue
                _check_member_path(member.name, bundle)
                expected = manifest["files"].get(member.name)
                if expected is None or member.name in seen:
                    raise BundleError(f"bundle {bundle}: {member.name} is not in its manifest (or is there twice); the "
                                      f"bundle was changed after it was written. Do not restore it.")
                if not member.isfile():
                    raise BundleError(f"bundle {bundle}: {member.name} is not a regular file; do not restore it.")
                if member.size != expected["size"]:  # before reading: a bomb is refused unread
                    raise BundleError(f"bundle {bundle}: {member.name} is {member.size} bytes, its manifest says "
                                      f"{expected['size']}; the file was changed after bundling. Do not restore it.")
                with (write(member) if write else contextlib.nullcontext()) as sink:
                    digest = _stream(tar, member, sink)
                    if digest != expected["sha256"]:
                        raise BundleError(f"bundle {bundle}: {member.name} has sha256 {digest}, its manifest says "
                                          f"{expected['sha256']}; the file was changed or damaged after bundling. "
                                          f"Do not restore it; ask for an intact copy.")
                seen.add(member.name)
            while tar.fileobj.read(BLOCK):  # to the end of the gzip stream, so its CRC is checked too
                pass
        except DAMAGED as error:
            raise BundleError(f"bundle {bundle} is damaged ({error}); copy it again.") from None
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise BundleError(f"bundle {bundle}: {missing[0]} (and {len(missing) - 1} more) listed in its manifest "
                          f"is missing; copy the bundle again.")
    if config_text is None or yaml.safe_load(config_text) != manifest["config"]:
        raise BundleError(f"bundle {bundle}: its {CONFIG} is missing or differs from the config in its {MANIFEST}; "
                          f"do not restore it.")
    return manifest, config_text


def verify(bundle: str | Path, sha256: str | None = None, max_bytes: int = MAX_BYTES) -> dict:
    """Check `bundle`: its own sha256 against `sha256` (the digest its author published) when given, the total
    size against `max_bytes`, then every file against its manifest (kind, size, sha256; none missing, none
    extra) and config.yaml against the manifest's config. Return the manifest with "config_text" (config.yaml
    as written) and "sha256" (the bundle's own digest); raise BundleError naming the first file that differs."""
    digest = sha256_file(bundle) if Path(bundle).is_file() else None
    if sha256 is not None and digest is not None and digest != sha256.strip().lower():
        raise BundleError(f"bundle {bundle} has sha256 {digest}, not the {sha256} you gave: it is not the bundle "
                          f"its author published. Do not restore it.")

    def within_limit(manifest):
        total = sum(int(entry.get("size", 0)) for entry in manifest["files"].values())
        if total > max_bytes:
            raise BundleError(f"bundle {bundle}: its files add up to {total} bytes, more than the limit of "
                              f"{max_bytes} (--max-bytes); raise the limit only for a bundle you trust to be that "
                              f"large.")

    manifest, config_text = _walk(bundle, within_limit)
    return {**manifest, "config_text": config_text, "sha256": digest}


def check_config(config_text: str, bundle, root: str | Path = ".") -> None:
    """A bundle's config is someone else's: validate it like any other (schema, conditions) before restoring."""
    from lplr.config import ConfigError, load_schema
    from lplr.validation import validate

    schema = Path(root) / SCHEMA
    if not schema.is_file():
        raise BundleError(f"{schema} is missing: run restore in the root of a checkout of this repository.")
    try:
        validate(copy.deepcopy(yaml.safe_load(config_text)), load_schema(schema),
                        source=f"the {CONFIG} of bundle {bundle}")
    except ConfigError as error:
        raise BundleError(f"bundle {bundle}: {error} Do not restore it, or ask its author for a valid one.") from None


def restore(bundle: str | Path, root: str | Path = ".", sha256: str | None = None,
            max_bytes: int = MAX_BYTES) -> dict:
    """Verify `bundle` and validate its config, then write its files under `root` (the workflow's working
    directory) with their recorded modification times, its config.yaml as written, and the restore-mode
    marker results/restored/bundle.json."""
    root = Path(root)
    manifest = verify(bundle, sha256, max_bytes)
    check_config(manifest["config_text"], bundle, root)
    for name, expected in manifest["files"].items():
        target = root / name
        if target.exists() and sha256_file(target) != expected["sha256"]:
            raise BundleError(f"{target} exists and differs from the copy in bundle {bundle}; restore into a "
                              f"fresh checkout, or remove {root / 'results'} first.")
    written = []

    @contextlib.contextmanager
    def write(member):  # each file through the atomic writer (umask modes), kept only if its hash matches
        target = root / member.name
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            yield handle
        os.utime(target, (member.mtime, member.mtime))  # the original order of outputs and inputs
        written.append(member.name)

    _walk(bundle, write=write)  # the bundle could change between the two reads: checked again as written
    write_text(root / RESTORED_CONFIG, manifest["config_text"])
    write_json(root / RESTORED_MANIFEST, {**{k: v for k, v in manifest.items() if k != "config_text"},
                                          "bundle": Path(bundle).name})
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
        command.add_argument("--sha256", metavar="DIGEST", help="the bundle's sha256 as its author published it: "
                             "refuse any other file")
        command.add_argument("--max-bytes", type=int, default=MAX_BYTES, metavar="N",
                             help=f"refuse a bundle whose files add up to more (default {MAX_BYTES})")
    args = parser.parse_args(argv)
    try:
        run = verify if args.command == "verify" else restore
        manifest = run(args.bundle, sha256=args.sha256, max_bytes=args.max_bytes)
    except BundleError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"{args.command}: {len(manifest['files'])} files of commit {manifest['git_commit']}, config "
          f"{manifest['config_hash']} are intact.")
    print(f"bundle sha256: {manifest['sha256']}" + ("" if args.sha256 else
          " (the manifest proves the files were not damaged, not who wrote them: compare this digest with the one "
          "the bundle's author published, or pass it with --sha256)"))
    if args.command == "restore":
        print(f"Now rebuild the figures, notebooks and paper: snakemake --cores all --configfile {RESTORED_CONFIG}")


if __name__ == "__main__":
    main()
