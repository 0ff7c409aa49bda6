import gzip

import numpy as np
import pytest
import torch

from diffprune import DiffpruneError
from diffprune.data import fixed_batch, load_dataset
from diffprune.images import to_model_range, to_uint8


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 10, 7)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y)
    monkeypatch.setenv("DIFFPRUNE_FASHION_MNIST", str(tmp_path))
    monkeypatch.setattr("diffprune.data.DEBIAN_FASHION_MNIST", tmp_path / "absent")
    ds = load_dataset("fashion-mnist", "test")
    assert ds.images.shape == (7, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert np.array_equal(ds.images[:, 0].numpy(), x) and np.array_equal(ds.labels.numpy(), y)


def test_mnist_5k_splits():
    train, test = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    assert len(train) == 4500 and len(test) == 500 and train.shape == (1, 28, 28)
    assert set(train.labels.tolist()) == set(range(10))


def test_folder_dataset_resizes_to_square(tmp_path):
    from PIL import Image
    for i in range(3):
        Image.fromarray(np.full((40, 60, 3), 50 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path}", image_size=16)
    assert ds.images.shape == (3, 3, 16, 16) and int(ds.images[2].float().mean()) == 100


def test_folder_dataset_takes_splits_and_classes_from_subfolders(tmp_path):
    from PIL import Image
    for split, n in (("train", 3), ("test", 2)):
        for cls, value in (("cat", 10), ("dog", 200)):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    train, test = load_dataset(f"folder:{tmp_path}", "train", 8), load_dataset(f"folder:{tmp_path}", "test", 8)
    assert len(train) == 6 and len(test) == 4 and train.classes == test.classes == ["cat", "dog"]
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert [int(x) for x in test.images[:, 0, 0, 0]] == [10, 10, 200, 200]  # each label its folder's images
    loose = load_dataset(f"folder:{tmp_path / 'train' / 'cat'}", "train", 8)
    assert loose.classes == [] and (loose.labels == -1).all()


def test_cifar10_without_its_files_or_a_download_is_one_clear_error(tmp_path, monkeypatch):
    import urllib.error

    import torchvision

    import diffprune.data

    def offline(self):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)  # never fetch 170 MB in a test
    monkeypatch.setattr(diffprune.data, "DATA_DIR", tmp_path)
    with pytest.raises(DiffpruneError, match=f"CIFAR-10 is not available.*{tmp_path / 'cifar10'}"):
        load_dataset("cifar10", "test")


def test_pixels_map_to_minus_one_one_and_back():
    x = torch.arange(256, dtype=torch.uint8)
    y = to_model_range(x)
    assert y.min() == -1 and y.max() == 1 and torch.equal(to_uint8(y), x)


def test_fixed_batch_depends_only_on_seed():
    ds = load_dataset("mnist-5k")
    assert torch.equal(fixed_batch(ds, 8, 1), fixed_batch(ds, 8, 1))
    assert not torch.equal(fixed_batch(ds, 8, 1), fixed_batch(ds, 8, 2))


@pytest.mark.parametrize("name", ["imagenet", "folder:/does/not/exist"])
def test_unknown_dataset_is_one_clear_error(name):
    with pytest.raises(DiffpruneError):
        load_dataset(name)


def test_openmoji_is_rgb_32_and_deterministic():
    a = load_dataset("openmoji-32", "test")
    assert a.shape == (3, 32, 32) and len(a) > 400
    assert torch.equal(a.images, load_dataset("openmoji-32", "test").images)
    assert a.images.float().std() > 20  # drawn glyphs, not blank squares


def test_a_folder_is_named_in_a_table_by_its_last_two_parts():
    from diffprune.data import short_name
    zw = "\u200b"  # where a narrow cell may break the line
    assert short_name("folder:/tmp/dr/build/dry-run-paper/standins/images") == f"folder:…/{zw}standins/{zw}images"
    assert short_name("folder:shapes/images") == f"folder:shapes/{zw}images"
    assert short_name("openmoji-32") == "openmoji-32"
