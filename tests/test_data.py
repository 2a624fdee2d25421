"""The data stage: downloads (against a local HTTP server the test starts), preparation, validation.

The downloaded data sets are tiny stand-ins written here in the real file formats (MNIST's gzipped
IDX files, CIFAR-10's pickled batches in cifar-10-python.tar.gz); their md5s replace the official
ones in torchvision's dataset classes (where lplr.download reads them), so the real download code
and torchvision's real readers run on them.
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import http.server
import io
import pickle
import re
import socket
import struct
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torchvision.datasets import CIFAR10, MNIST

from lplr import download
from lplr.config import ConfigError, data_key, load_schema, validate_config
from lplr.data import (CIFAR10_CLASSES, balanced_split, check_data_settings, downsample, load_prepared, normalize,
                       prepare, standardization)
from lplr.io import sha256_file

REPO = Path(__file__).resolve().parents[1]
N_MNIST = {"train": 50, "t10k": 50}  # images per split, labels 0..9 (5 of each)
N_CIFAR = {"data_batch": 20, "test_batch": 30}  # per batch file


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def settings(**overrides) -> dict:
    base = {"dataset": "mnist5k", "classes": [0, 1], "n_train": 20, "n_test": 10,
            "normalization": "unit_norm", "seed": 0, "root": "data"}
    return {**base, **overrides}


# --- a local HTTP server and the tiny data sets it serves -------------------------------------

class Server:
    """http.server in a thread on 127.0.0.1 (ephemeral port), serving a folder; counts requests."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(folder: Path) -> Server:
        servers.append(Server(folder))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def mnist_files(seed: int = 0) -> dict[str, bytes]:
    """MNIST's four gzipped IDX files, N_MNIST images per split, random pixels, labels 0..9."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in N_MNIST.items():
        images = rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        idx_images = struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        idx_labels = struct.pack(">II", 0x801, n) + labels.tobytes()
        files[f"{split}-images-idx3-ubyte.gz"] = gzip.compress(idx_images, mtime=0)
        files[f"{split}-labels-idx1-ubyte.gz"] = gzip.compress(idx_labels, mtime=0)
    return files


@pytest.fixture
def tiny_mnist(tmp_path, serve, monkeypatch):
    """Serve tiny MNIST files and make them the ones torchvision (and so lplr.download) expects."""
    folder = tmp_path / "server"
    folder.mkdir()
    files = mnist_files()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    monkeypatch.setattr(MNIST, "resources", [(name, md5(data)) for name, data in files.items()])
    server = serve(folder)
    monkeypatch.setenv(download.MIRROR_ENV, server.url)
    return server, files


def cifar_archive(seed: int = 0) -> tuple[bytes, dict[str, str], dict[str, np.ndarray]]:
    """cifar-10-python.tar.gz as the real one is laid out, with N_CIFAR images per batch."""
    rng = np.random.default_rng(seed)
    members, md5s, arrays = {}, {}, {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = N_CIFAR["test_batch" if name == "test_batch" else "data_batch"]
        data = rng.integers(1, 256, size=(n, 3072), dtype=np.uint8)  # rows: R plane, G plane, B plane
        members[name] = pickle.dumps({"batch_label": name, "data": data, "labels": [int(i) for i in np.arange(n) % 10],
                                      "filenames": [f"{name}_{i}.png" for i in range(n)]})
        arrays[name] = data
    members["batches.meta"] = pickle.dumps({"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": 20})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    md5s = {name: md5(data) for name, data in members.items()}
    return gzip.compress(buffer.getvalue(), mtime=0), md5s, arrays


@pytest.fixture
def tiny_cifar(tmp_path, serve, monkeypatch):
    folder = tmp_path / "server"
    folder.mkdir()
    archive, md5s, arrays = cifar_archive()
    (folder / CIFAR10.filename).write_bytes(archive)
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5s[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5s["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5s["batches.meta"]})
    server = serve(folder)
    monkeypatch.setenv(download.MIRROR_ENV, server.url)
    return server, arrays


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leftovers(folder: Path) -> list[Path]:
    """Temporary files or folders a download or extraction left behind."""
    return [p for p in folder.rglob(".*") if p.name.endswith(".tmp") or ".tar.gz." in p.name]


# --- downloads ---------------------------------------------------------------------------------

def test_mnist_downloads_from_the_mirror_and_prepares(tmp_path, tiny_mnist):
    server, files = tiny_mnist
    root = tmp_path / "data"
    manifest = prepare(settings(dataset="mnist", classes=[3, "7"], n_train=6, n_test=4, root=str(root),
                                normalization="pixels"), tmp_path / "out")
    raw = root / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted([*files, *(name[:-3] for name in files)])
    assert not leftovers(root)
    assert sorted(server.requests) == sorted(f"/{name}" for name in files)

    record = {r["file"]: r for r in manifest["download"]["files"]}
    assert set(record) == {f"MNIST/raw/{name}" for name in files}
    for name, data in files.items():
        entry = record[f"MNIST/raw/{name}"]
        assert entry["url"] == server.url + name
        assert entry["md5"] == md5(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["classes"] == {"-1": "3", "+1": "7"} and manifest["shape"] == [1, 28, 28]
    assert manifest["test_split"] == "official test split"

    # train images come from the training split, test images from the test split, pixels / 255
    data = load_prepared(tmp_path / "out" / "data.pt", dtype=torch.float64)
    splits = {split: np.frombuffer(gzip.decompress(files[f"{split}-images-idx3-ubyte.gz"]), np.uint8, offset=16)
              .reshape(-1, 1, 28, 28) / 255.0 for split in N_MNIST}
    for part, split in (("train", "train"), ("test", "t10k")):
        x, y = data[f"x_{part}"].numpy(), data[f"y_{part}"].numpy()
        rows = [np.flatnonzero((splits[split] == image).all(axis=(1, 2, 3))) for image in x]
        assert all(len(r) == 1 for r in rows), f"a {part} image is not from MNIST's {split} split"
        labels = np.array([int(r[0]) % 10 for r in rows])
        assert set(labels) == {3, 7} and np.array_equal(y, np.where(labels == 7, 1.0, -1.0))
        assert (y == 1).sum() == (y == -1).sum()

    # a second preparation verifies the files in the data root and downloads nothing
    server.requests.clear()
    again = prepare(settings(dataset="mnist", classes=[3, 7], n_train=6, n_test=4, root=str(root),
                             normalization="pixels"), tmp_path / "out2")
    assert server.requests == []
    assert all(r["url"] is None for r in again["download"]["files"])
    assert again["sha256"] == manifest["sha256"]


def test_cifar10_archive_is_read_by_torchvision(tmp_path, tiny_cifar):
    server, arrays = tiny_cifar
    root = tmp_path / "data"
    manifest = prepare(settings(dataset="cifar10", classes=["airplane", "automobile"], n_train=10, n_test=6,
                                root=str(root), normalization="pixels"), tmp_path / "out")
    assert (root / CIFAR10.filename).exists() and (root / "cifar-10-batches-py" / "data_batch_5").exists()
    assert not leftovers(root)
    assert server.requests == [f"/{CIFAR10.filename}"]
    assert manifest["classes"] == {"-1": "airplane", "+1": "automobile"} and manifest["shape"] == [3, 32, 32]
    assert manifest["download"]["files"][0]["url"] == server.url + CIFAR10.filename

    data = load_prepared(tmp_path / "out" / "data.pt", dtype=torch.float64)
    train = np.concatenate([arrays[f"data_batch_{i}"] for i in range(1, 6)]).reshape(-1, 3, 32, 32) / 255.0
    test = arrays["test_batch"].reshape(-1, 3, 32, 32) / 255.0
    for part, pool in (("train", train), ("test", test)):
        x, y = data[f"x_{part}"].numpy(), data[f"y_{part}"].numpy()
        rows = [np.flatnonzero((pool == image).all(axis=(1, 2, 3))) for image in x]  # CHW, channel planes intact
        assert all(len(r) == 1 for r in rows)
        labels = np.array([int(r[0]) % 10 for r in rows])  # every batch holds labels 0..9 in turn
        assert set(labels) == {0, 1} and np.array_equal(y, np.where(labels == 1, 1.0, -1.0))
    # indices work as well as names: 0 vs 1 is airplane vs automobile
    same = prepare(settings(dataset="cifar10", classes=[0, 1], n_train=10, n_test=6, root=str(root),
                            normalization="pixels"), tmp_path / "out2")
    assert same["sha256"] == manifest["sha256"]


def test_truncated_download_is_refused_and_not_kept(tmp_path, serve, monkeypatch):
    files = mnist_files()
    folder = tmp_path / "server"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data[: len(data) // 2] if name.startswith("train-images") else data)
    monkeypatch.setattr(MNIST, "resources", [(name, md5(data)) for name, data in files.items()])
    server = serve(folder)
    root = tmp_path / "data"
    with pytest.raises(download.ChecksumError, match=r"train-images-idx3-ubyte\.gz.*md5") as error:
        download.fetch("mnist", root, mirrors=[server.url])
    assert server.url in str(error.value)
    assert not (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()
    assert not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
    assert not leftovers(root)


def test_corrupt_file_in_the_data_root_is_named(tmp_path, tiny_mnist):
    server, files = tiny_mnist
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(files["t10k-labels-idx1-ubyte.gz"][:-5])
    with pytest.raises(download.ChecksumError) as error:
        download.fetch("mnist", tmp_path / "data")
    message = str(error.value)
    assert str(raw / "t10k-labels-idx1-ubyte.gz") in message and "Delete it" in message


def test_unreachable_server_fails_fast_with_instructions(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setenv(download.MIRROR_ENV, url)
    root = tmp_path / "data"
    start = time.monotonic()
    with pytest.raises(download.DownloadError) as error:
        prepare(settings(dataset="mnist", root=str(root)), tmp_path / "out")
    elapsed = time.monotonic() - start
    assert elapsed < 30
    message = str(error.value)
    assert "'mnist'" in message
    assert url + "train-images-idx3-ubyte.gz" in message  # the URL tried
    assert str((root / "MNIST" / "raw").resolve()) in message  # where to put the files by hand
    assert "mnist5k" in message and "digits" in message  # the embedded alternatives
    assert download.MIRROR_ENV in message
    assert not (tmp_path / "out" / "data.pt").exists() and not leftovers(root)


def test_unreachable_cifar10_names_the_root(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(download.DownloadError) as error:
        download.fetch("cifar10", tmp_path / "data", mirrors=[url])
    message = str(error.value)
    assert "'cifar10'" in message and f"{url}/cifar-10-python.tar.gz" in message
    assert str((tmp_path / "data").resolve()) in message and "cifar-10-python.tar.gz (md5" in message


def test_silent_server_is_given_up_on(tmp_path, monkeypatch):
    """A server that accepts connections but never answers: bounded by the timeouts, not a hang."""
    monkeypatch.setattr(download, "TIMEOUT", 0.5)
    monkeypatch.setattr(download, "GIVE_UP_AFTER", 2.0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # never accepted: the kernel completes the handshake, then silence
        start = time.monotonic()
        with pytest.raises(download.DownloadError, match="no answer|timed out"):
            download.fetch("mnist", tmp_path / "data", mirrors=[f"http://127.0.0.1:{sock.getsockname()[1]}/"])
        assert time.monotonic() - start < 5


def test_mirror_argument_beats_environment(monkeypatch):
    src = download.source("mnist")
    assert download.mirrors_for(src) == list(MNIST.mirrors)
    monkeypatch.setenv(download.MIRROR_ENV, "http://a.example/x, http://b.example/")
    assert download.mirrors_for(src) == ["http://a.example/x/", "http://b.example/"]
    assert download.mirrors_for(src, ["http://c.example"]) == ["http://c.example/"]


# --- preparation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset, shape", [("mnist5k", [1, 28, 28]), ("digits", [1, 8, 8])])
def test_embedded_sets_prepare(tmp_path, dataset, shape):
    manifest = prepare(settings(dataset=dataset, classes=[2, "5"], n_train=40, n_test=30), tmp_path)
    data = load_prepared(tmp_path / "data.pt", dtype=torch.float64)
    assert manifest["shape"] == shape and manifest["classes"] == {"-1": "2", "+1": "5"}
    assert manifest["sha256"] == sha256_file(tmp_path / "data.pt") and "download" not in manifest
    assert {"torch", "torchvision", "numpy"} <= set(manifest["versions"])
    assert data["x_train"].shape == (40, *shape) and data["x_test"].shape == (30, *shape)
    for part, n in (("train", 40), ("test", 30)):
        x, y = data[f"x_{part}"], data[f"y_{part}"]
        assert set(y.tolist()) == {-1.0, 1.0} and (y == 1).sum() == n // 2  # labels +-1, balanced
        assert torch.allclose(x.flatten(1).norm(dim=1), torch.ones(n, dtype=torch.float64))  # unit norms
    if dataset == "mnist5k":  # no image is in both train and test
        train, test = data["x_train"].flatten(1), data["x_test"].flatten(1)
        assert not (train[:, None, :] == test[None, :, :]).all(dim=2).any()


def test_balanced_split_is_disjoint_and_balanced():
    labels = np.repeat(np.arange(10), 30)
    train, test = balanced_split(labels, positive=7, negative=2, n_train=21, n_test=9, seed=3)
    assert not set(train) & set(test)
    assert sorted(np.bincount(labels[train], minlength=10)[[2, 7]]) == [10, 11]
    assert sorted(np.bincount(labels[test], minlength=10)[[2, 7]]) == [4, 5]
    with pytest.raises(ValueError, match=r"class \d has 30 examples, fewer than the 35 requested"):
        balanced_split(labels, 7, 2, n_train=50, n_test=20, seed=0)


@pytest.mark.parametrize("dataset", ["mnist5k", "mnist"])
def test_same_seed_gives_identical_bytes(tmp_path, request, dataset):
    root = tmp_path / "data"
    if dataset == "mnist":
        request.getfixturevalue("tiny_mnist")
    make = functools.partial(settings, dataset=dataset, classes=[1, 8], n_train=6, n_test=4, root=str(root))
    digests = [prepare(make(seed=seed), tmp_path / name)["sha256"]
               for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert sha256_file(tmp_path / "a" / "data.pt") == sha256_file(tmp_path / "b" / "data.pt") == digests[0]
    assert digests[1] == digests[0] and digests[2] != digests[0]


def test_load_prepared_refuses_a_changed_file(tmp_path):
    prepare(settings(dataset="digits"), tmp_path)
    with open(tmp_path / "data.pt", "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ValueError, match="sha256 differs"):
        load_prepared(tmp_path / "data.pt")


@pytest.mark.parametrize("factor, side", [(1, 28), (2, 14), (4, 7), (3, 9)])
def test_downsample_average_pools_blocks_and_is_recorded(tmp_path, factor, side):
    manifest = prepare(settings(normalization="pixels", downsample=factor), tmp_path / "small")
    prepare(settings(normalization="pixels"), tmp_path / "full")
    small = load_prepared(tmp_path / "small" / "data.pt", dtype=torch.float64)
    full = load_prepared(tmp_path / "full" / "data.pt", dtype=torch.float64)
    assert manifest["shape"] == [1, side, side] and manifest["downsample"] == factor
    for part in ("train", "test"):  # the same images, average-pooled (floor mode: 28 -> 9 at factor 3)
        torch.testing.assert_close(small[f"x_{part}"], torch.nn.functional.avg_pool2d(full[f"x_{part}"], factor))
        assert torch.equal(small[f"y_{part}"], full[f"y_{part}"])
    assert (data_key(settings(downsample=2)) != data_key(settings())) and data_key(settings(downsample=2)) != data_key(
        settings(downsample=4))


def test_downsample_factor_is_checked():
    with pytest.raises(ValueError, match="data.downsample"):
        downsample(np.zeros((2, 1, 8, 8)), 0)
    with pytest.raises(ValueError, match="data.downsample"):
        downsample(np.zeros((2, 1, 8, 8)), 9)


@pytest.mark.parametrize("factor", [1, 4])
def test_standardize_uses_training_statistics_only(tmp_path, factor):
    manifest = prepare(settings(normalization="standardize", n_train=40, n_test=30, downsample=factor), tmp_path / "std")
    prepare(settings(normalization="pixels", n_train=40, n_test=30, downsample=factor), tmp_path / "pix")
    std = load_prepared(tmp_path / "std" / "data.pt", dtype=torch.float64)
    pix = load_prepared(tmp_path / "pix" / "data.pt", dtype=torch.float64)
    assert manifest["normalization"] == "standardize"
    x = std["x_train"]
    # training pixels: mean 0 at every position, mean square 1 over the channel (one std per channel)
    torch.testing.assert_close(x.mean(dim=0), torch.zeros_like(x[0]), atol=1e-12, rtol=0)
    assert float(x.pow(2).mean()) == pytest.approx(1.0, rel=1e-12)
    # test images are mapped with the TRAINING mean and std, not their own
    mean = pix["x_train"].mean(dim=0)
    scale = (pix["x_train"] - mean).pow(2).mean().sqrt()
    torch.testing.assert_close(std["x_test"], (pix["x_test"] - mean) / scale)
    assert float(std["x_test"].mean(dim=0).abs().max()) > 1e-6  # the test split is not re-centred on itself
    torch.testing.assert_close(std["x_train"], (pix["x_train"] - mean) / scale)


def test_standardize_has_one_std_per_channel_and_survives_constant_pixels():
    images = np.random.default_rng(0).uniform(size=(10, 3, 4, 4))
    images[:, 1] *= 5.0
    images[:, :, 0, 0] = 0.5  # a pixel that is the same in every image: std 0 there, but not per channel
    out = normalize(images, "standardize", standardization(images))
    assert np.isfinite(out).all() and np.allclose(out[:, :, 0, 0], 0.0)
    assert np.allclose((out ** 2).mean(axis=(0, 2, 3)), 1.0)
    with pytest.raises(ValueError, match="statistics"):
        normalize(images, "standardize")


def test_schema_accepts_the_new_data_options(config):
    cfg, schema = config
    cfg["data"].update(normalization="standardize", downsample=4)
    validate_config(copy.deepcopy(cfg), schema)
    cfg["data"]["downsample"] = 0
    with pytest.raises(ConfigError, match=r"data\.downsample"):
        validate_config(copy.deepcopy(cfg), schema)
    cfg["data"].update(downsample=2, normalization="whiten")
    with pytest.raises(ConfigError, match=r"data\.normalization"):
        validate_config(cfg, schema)


# --- validation ----------------------------------------------------------------------------------

@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config.yaml").read_text()), load_schema(REPO / "workflow/schemas/config.schema.yaml")


@pytest.mark.parametrize("dataset, classes, bad", [
    ("mnist", [0, 10], "data.classes[1]"),
    ("mnist", ["airplane", 1], "data.classes[0]"),
    ("cifar10", ["airplane", "seven"], "data.classes[1]"),
    ("cifar10", [0, 10], "data.classes[1]"),
    ("mnist5k", [0, -1], "data.classes[1]"),
])
def test_missing_class_is_refused_at_validation(config, tmp_path, monkeypatch, dataset, classes, bad):
    monkeypatch.setenv(download.MIRROR_ENV, f"http://127.0.0.1:{closed_port()}/")
    cfg, schema = config
    cfg["data"].update(dataset=dataset, classes=classes, root=str(tmp_path / "data"))
    with pytest.raises(ConfigError, match=re.escape(f"'{bad}'")) as error:
        validate_config(cfg, schema)
    assert dataset in str(error.value)
    assert not (tmp_path / "data").exists()  # nothing was downloaded to find the class list


def test_cifar10_class_names_validate_without_download(config, tmp_path):
    cfg, schema = config
    cfg["data"].update(dataset="cifar10", classes=["airplane", "automobile"], root=str(tmp_path / "data"))
    experiment = next(iter(cfg["experiments"]))
    cfg["experiments"][experiment]["data"] = {"dataset": "mnist", "classes": [3, "horse"]}
    with pytest.raises(ConfigError, match=rf"experiments\.{experiment}\.data\.classes\[1\]"):
        validate_config(copy.deepcopy(cfg), schema)
    cfg["experiments"][experiment]["data"] = {"dataset": "mnist", "classes": ["3", 8]}
    validate_config(cfg, schema)
    assert not (tmp_path / "data").exists()


def test_equal_classes_are_refused():
    with pytest.raises(ConfigError, match=r"data\.classes.*must differ"):
        check_data_settings(settings(dataset="cifar10", classes=["airplane", 0]), "data")


@pytest.mark.parametrize("dataset", ["mnist5k", "digits"])
def test_class_counts_of_the_embedded_sets_are_the_loaded_ones(dataset):
    from lplr.data import CLASS_COUNTS, _embedded

    _, labels = _embedded(dataset)
    assert tuple(np.bincount(labels, minlength=10)) == CLASS_COUNTS[dataset]["pool"]
