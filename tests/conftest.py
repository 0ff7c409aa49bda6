import fcntl
import os
import shutil
from pathlib import Path

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


def _smoke_study_on_dask(d) -> None:
    """The smoke profile's whole study, computed as a cluster would: `study --dask local:2` (two
    one-thread worker processes); then a copy of its records as computed (`records/`), which the
    tests that compute more into the study leave as it is."""
    from diffprune.cli import main
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIFFPRUNE_STUDY", str(d / "study"))
        assert main(["study", "--profile", "smoke", "--dask", "local:2", "--yes"]) == 0

    def files_but_records(where, names):  # a timing's whole directory: it is copied as it stands
        if "timing" in Path(where).relative_to(d / "study").parts:
            return []
        return [n for n in names if (Path(where) / n).is_file() and n not in ("records.jsonl", "record.json")]
    shutil.copytree(d / "study", d / "records", ignore=files_but_records)


@pytest.fixture(scope="session")
def smoke_dask(tmp_path_factory, worker_id):
    """The smoke study on Dask (`_smoke_study_on_dask`), made once per test run: pytest-xdist's workers
    share it (the first to ask computes it under a lock, the other waits), so the file that renders the
    book from it (tests/test_book.py) and the one that recomputes it in one process
    (tests/test_study_on_dask.py) run side by side on `make test`'s two workers."""
    if worker_id == "master":  # no xdist: this process's own
        d = tmp_path_factory.mktemp("smoke")
        _smoke_study_on_dask(d)
        return d
    root = tmp_path_factory.getbasetemp().parent  # shared by this run's workers
    d = root / "smoke"
    with open(root / "smoke.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "smoke.done").exists():
            shutil.rmtree(d, ignore_errors=True)  # a worker that failed partway
            d.mkdir()
            _smoke_study_on_dask(d)
            (root / "smoke.done").touch()
    return d


@pytest.fixture(scope="session")
def smoke_study(smoke_dask):
    """The smoke study's cache: the smoke book renders from it (tests/test_book.py)."""
    return smoke_dask / "study"


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

