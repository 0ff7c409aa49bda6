"""The smoke study on Dask (`study --dask local:2`, made once per test run by tests/conftest.py, the
study the smoke book renders from) equals the same study computed in one process. Its own file,
collected near the end: under `make test` the other worker renders the book meanwhile, and the
study on Dask is made by then."""
import csv
import io
import json
import shutil

from diffprune.cli import main


def _without_clock(value):
    """A result without what a clock measured: the wall times written beside results, and the
    training log's wall-time column (everything else must not depend on how the study was run)."""
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if "wall_time" not in k}
    if isinstance(value, str) and value.startswith("step,"):  # a training log
        rows = list(csv.DictReader(io.StringIO(value)))
        return [{k: v for k, v in r.items() if "wall_time" not in k} for r in rows]
    return value


def results(study_dir) -> dict:
    """Every record's results in a study cache, packed and loose, by (step, key); timings (a
    measurement of the machine) by their parameters only."""
    lines = [line for pack in study_dir.glob("*/records.jsonl") for line in pack.read_text().splitlines()]
    lines += [p.read_text() for p in study_dir.glob("*/*/record.json")]
    out = {}
    for r in map(json.loads, lines):
        out[(r["step"], r["key"])] = r["params"] if r["step"] == "timing" else _without_clock(r["results"])
    return out


def test_the_smoke_study_on_two_dask_workers_equals_one_process_at_one_thread(smoke_dask, tmp_path, monkeypatch):
    """The whole smoke plan on `--dask local:2` (tests/conftest.py: its records as computed, before
    tests/test_book.py renders the book from it and computes more) against the same study in one
    process, one thread as each worker: the same steps, and the same results but for wall times. The
    one process starts from the cluster's timings: RQ3's frontier pairs each pruned point with a
    teacher point by measured time, so fresh timings under another load can pair (and compute) other
    points."""
    import torch
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path))
    shutil.copytree(smoke_dask / "records" / "timing", tmp_path / "timing")
    threads = torch.get_num_threads()
    try:
        assert main(["study", "--profile", "smoke", "--yes"]) == 0
    finally:
        torch.set_num_threads(threads)
    on_dask, in_one = results(smoke_dask / "records"), results(tmp_path)
    assert in_one.keys() == on_dask.keys()
    differ = [k for k in in_one if on_dask[k] != in_one[k]]
    assert not differ, f"{len(differ)} results differ, e.g. {differ[:3]}"
