"""Downloading the paper-scale data sets (MNIST, CIFAR-10) into the data root, robustly.

torchvision's own download helper retries for minutes when offline and writes straight to the
final name, so a killed job can leave a half file that looks complete. Here every file:
    - is fetched with short socket timeouts and a bounded number of retries per URL, and the whole
      attempt to get one file gives up after GIVE_UP_AFTER seconds of failures (so offline, or with
      the server unreachable, the error comes within 30 s instead of a hang);
    - streams into a temporary file beside its destination (tqdm progress bar on stderr), is checked
      against the md5 that torchvision's dataset classes carry, and only then is renamed into place;
    - is laid out exactly as torchvision expects, so torchvision.datasets.MNIST / CIFAR10 then read
      it with download=False.
The file names, md5s and default servers are read from torchvision's dataset classes (one source
of truth). Other servers: the `mirrors` argument, or the environment variable LPLR_DATA_MIRROR (a
base URL, or several separated by commas, serving the files under their usual names, e.g.
LPLR_DATA_MIRROR=http://127.0.0.1:8000/ serving train-images-idx3-ubyte.gz, cifar-10-python.tar.gz).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lplr.io import atomic_path

TIMEOUT = 10.0       # seconds: connecting, and the longest silence while streaming a file
RETRIES = 3          # attempts per URL (network errors and 5xx only; a 404 moves on to the next mirror)
BACKOFF = 0.5        # seconds before the 2nd attempt, doubling after that
GIVE_UP_AFTER = 25.0 # seconds of failed attempts for one file before giving up (a download that is
                     # making progress is never cut short; only waiting for a dead server is bounded)
CHUNK = 1 << 16
MIRROR_ENV = "LPLR_DATA_MIRROR"


class DownloadError(RuntimeError):
    """A data set could not be fetched; the message names the URLs tried and the manual fix."""


class ChecksumError(RuntimeError):
    """A file's checksum differs from the expected one; the message names the file."""


@dataclass(frozen=True)
class Source:
    """Where a downloadable data set's files come from and where they go under the data root."""

    name: str
    folder: str                        # under the data root: torchvision's layout
    files: tuple[tuple[str, str], ...]  # (file name, md5)
    mirrors: tuple[str, ...]           # base URLs; a file's URL is mirror + file name


def source(name: str) -> Source:
    """The files of `name` as torchvision's dataset class lists them (read at call time, not import)."""
    from torchvision.datasets import CIFAR10, MNIST

    if name == "mnist":
        return Source(name, "MNIST/raw", tuple((f, md5) for f, md5 in MNIST.resources), tuple(MNIST.mirrors))
    if name == "cifar10":
        base = CIFAR10.url.rsplit("/", 1)[0]
        return Source(name, ".", ((CIFAR10.filename, CIFAR10.tgz_md5),), (base + "/",))
    raise KeyError(f"no download source for data set {name!r}; downloadable: mnist, cifar10")


def mirrors_for(src: Source, mirrors: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """The base URLs to try: the `mirrors` argument, else $LPLR_DATA_MIRROR, else torchvision's."""
    if mirrors is None and os.environ.get(MIRROR_ENV, "").strip():
        mirrors = [m.strip() for m in os.environ[MIRROR_ENV].split(",") if m.strip()]
    return [m if m.endswith("/") else m + "/" for m in (mirrors or src.mirrors)]


def fetch(name: str, root: str | Path, mirrors: list[str] | None = None) -> list[dict]:
    """Make sure data set `name`'s files are in `root` (verified, extracted); return their provenance.

    Files already there are verified, not downloaded again. Returns one record per archive:
    {"file": path under root, "md5", "sha256", "url": where it came from in this call (None when it
    was already there), "urls": the URLs it would be fetched from}.
    """
    src = source(name)
    root = Path(root)
    folder = root / src.folder
    bases = mirrors_for(src, mirrors)
    records = []
    for filename, md5 in src.files:
        path = folder / filename
        urls = [base + filename for base in bases]
        fetched_from = None
        if path.exists():
            check_file(path, md5=md5, what=f"the {name} file {filename} found in the data root")
        else:
            fetched_from = _download_any(src, urls, path, md5, root)
        _extract(path)
        records.append({"file": str(path.relative_to(root)), "md5": md5, "sha256": file_digest(path, "sha256"),
                        "url": fetched_from, "urls": urls})
    return records


def file_digest(path: str | Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: str | Path, md5: str | None = None, sha256: str | None = None, what: str | None = None) -> None:
    """Raise ChecksumError naming `path` unless its md5 / sha256 match (each checked when given)."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        actual = file_digest(path, algorithm)
        if actual != expected:
            raise ChecksumError(
                f"{path}: {algorithm} is {actual}, expected {expected} ({what or 'file'}); the file is truncated, "
                f"corrupt or not the official one. Delete it and rerun (it is then downloaded again), "
                f"or place the official file there.")


def _download_any(src: Source, urls: list[str], path: Path, md5: str, root: Path) -> str:
    """Try each URL (with retries) until one gives a file with the right md5; return that URL."""
    deadline = time.monotonic() + GIVE_UP_AFTER
    failures: list[str] = []
    checksum_errors: list[ChecksumError] = []
    for url in urls:
        for attempt in range(RETRIES):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if attempt:
                time.sleep(min(BACKOFF * 2 ** (attempt - 1), remaining))
            try:
                _download(url, path, md5, timeout=min(TIMEOUT, max(deadline - time.monotonic(), 0.1)))
                return url
            except ChecksumError as error:
                checksum_errors.append(error)
                failures.append(f"{url}: {error}")
            except urllib.error.HTTPError as error:
                failures.append(f"{url}: HTTP {error.code} {error.reason}")
                if error.code < 500:
                    break  # not there: no point retrying this server
            except (OSError, http.client.HTTPException) as error:  # refused, reset, DNS, timeouts, cut short
                failures.append(f"{url}: {getattr(error, 'reason', error)}")
    if checksum_errors and len(checksum_errors) == len(failures):
        raise checksum_errors[-1]  # every copy we got was wrong: say so, rather than 'unreachable'
    raise DownloadError(_unreachable_message(src, urls, path, root, failures))


def _unreachable_message(src: Source, urls: list[str], path: Path, root: Path, failures: list[str]) -> str:
    files = ", ".join(f"{f} (md5 {md5})" for f, md5 in src.files)
    tried = "\n".join(f"  - {f}" for f in dict.fromkeys(failures)) or f"  - {', '.join(urls)} (no time left)"
    return (
        f"could not download data set '{src.name}': {path.name} could not be fetched (no network, or the "
        f"server is unreachable; gave up after at most {GIVE_UP_AFTER:.0f} s). Tried:\n{tried}\n"
        f"To fix it, either\n"
        f"  - place the files by hand in {path.parent.resolve()} (in the data root '{root}', config key "
        f"data.root): {files}; they are checked and unpacked on the next run; or\n"
        f"  - point {MIRROR_ENV} at a server with the same files (a base URL; several separated by commas); or\n"
        f"  - use an embedded data set that needs no download: data.dataset: mnist5k (5,000 real MNIST images) "
        f"or digits (scikit-learn's 8x8 digits).")


def _download(url: str, path: Path, md5: str, timeout: float) -> None:
    """Stream `url` into a temporary file beside `path`; rename it onto `path` only if the md5 matches."""
    response = _open(url, timeout)
    with response, atomic_path(path) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                          desc=path.name, file=sys.stderr, mininterval=1.0, leave=True) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                bar.update(len(block))
        if total is not None and tmp.stat().st_size != total:
            raise ChecksumError(f"{path}: received {tmp.stat().st_size} of {total} bytes from {url}; "
                                f"the download was cut short.")
        actual = file_digest(tmp, "md5")
        if actual != md5:
            raise ChecksumError(f"{path.name} downloaded from {url}: md5 is {actual}, expected {md5}; the "
                                f"download is truncated or corrupt and was not kept.")


def _open(url: str, timeout: float):
    """urlopen with a hard deadline. Socket timeouts do not cover the DNS lookup, which can hang for
    tens of seconds on a machine without network, so the request runs in a daemon thread that we
    stop waiting for after `timeout` seconds."""
    request = urllib.request.Request(url, headers={"User-Agent": "lplr (python urllib)"})
    box: dict = {}

    def target():
        try:
            box["response"] = urllib.request.urlopen(request, timeout=timeout)
        except BaseException as error:  # handed to the caller's thread
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:.1f} s")
    if "error" in box:
        raise box["error"]
    return box["response"]


def _extract(path: Path) -> None:
    """Unpack a verified archive the way torchvision expects, atomically; skip what is already there.

    x.gz -> x beside it (MNIST's idx files); x.tar.gz -> its top-level folders beside it (CIFAR-10's
    cifar-10-batches-py), extracted into a temporary folder first and renamed into place.
    """
    if path.name.endswith(".tar.gz") or path.name.endswith(".tgz"):
        with tarfile.open(path, "r:gz") as archive:
            members = archive.getmembers()
            tops = {Path(m.name).parts[0] for m in members if Path(m.name).parts}
            if all((path.parent / top).exists() for top in tops):
                return
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
            try:
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(tmp, filter="data")
                else:  # Python < 3.11.4: refuse paths that leave the folder
                    if any(Path(m.name).is_absolute() or ".." in Path(m.name).parts for m in members):
                        raise ChecksumError(f"{path}: the archive holds paths outside its folder; refusing it.")
                    archive.extractall(tmp)
                for top in tops:
                    if not (path.parent / top).exists():
                        try:
                            os.rename(tmp / top, path.parent / top)
                        except OSError:  # another job put it there first
                            if not (path.parent / top).exists():
                                raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    elif path.suffix == ".gz":
        target = path.with_suffix("")
        if not target.exists():
            with gzip.open(path, "rb") as source_file, atomic_path(target) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(source_file, out)
