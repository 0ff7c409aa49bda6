import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may wait on the network

import pytest
import torch

from diffprune.unet import build_unet, default_scheduler

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each
    torch.set_num_threads(1)


@pytest.fixture(params=[(1, 16), (3, 16)], ids=["gray", "rgb"])
def tiny_unet(request):
    """Tiny UNet with multi-head attention (4 and 8 heads), 1 or 3 channels."""
    channels, size = request.param
    return build_unet("tiny", channels, size, seed=0)


@pytest.fixture(autouse=True)
def _a_study_cache_of_its_own(tmp_path_factory, monkeypatch):
    """A test computes into a cache of its own unless it names one (DIFFPRUNE_STUDY): one that forgot
    wrote the smoke teacher into the repository's data/study, and the record was committed. Tests of
    the committed results copy them into their own cache."""
    if "DIFFPRUNE_STUDY" not in os.environ:
        monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path_factory.mktemp("own-study")))


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """The smoke profile's whole study, computed as a cluster would: `study --dask local:2` (two
    one-thread worker processes). The smoke book renders from it, and it is held to a one-process
    run: both in tests/test_book.py, the one file that uses it (`make test` gives each file to one
    pytest-xdist worker, and a session fixture is made once per worker)."""
    from diffprune.cli import main
    d = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIFFPRUNE_STUDY", str(d))
        assert main(["study", "--profile", "smoke", "--dask", "local:2", "--yes"]) == 0
    return d


@pytest.fixture
def scheduler():
    return default_scheduler()


def images_for(model, n=4, seed=0):
    c = model.config.in_channels
    s = model.config.sample_size
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture
def registry():
    """The importance-criterion registry as it was, after the test: a chapter loaded with
    `extensions` registers criteria in this process."""
    from diffprune import importance
    saved = (list(importance.METHODS), list(importance.GRADIENT_METHODS), dict(importance._REGISTERED))
    yield
    importance.METHODS[:], importance.GRADIENT_METHODS[:] = saved[0], saved[1]
    importance._REGISTERED.clear()
    importance._REGISTERED.update(saved[2])


@pytest.fixture
def params():
    """`params(name=value, ...)`: just the parameters one chapter function reads, frozen and read by
    attribute as a chapter's are (`chapter.Parameters`); reading any other fails."""
    from dataclasses import make_dataclass

    from diffprune.chapter import Parameters

    def make(**values):
        return make_dataclass("SomeParameters", list(values), bases=(Parameters,), frozen=True)(profile="test",
                                                                                               **values)
    return make

