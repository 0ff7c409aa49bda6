"""The study cache: every expensive step stores its artifact under `data/study/<step>/<key>/`.

The key hashes the step's parameters, the keys of the steps it depends on, and the step's
*semantic* version in `STEPS`. Re-executing a chapter with unchanged parameters reuses every
artifact; a changed parameter changes the keys of exactly the steps that depend on it. The git
commit that produced an artifact is recorded in its `params.json`, but is not part of the key: a
commit that does not change what a step computes must not invalidate hours of CPU results. Bump a
step's version when its meaning changes.

An artifact is its *results* (`params.json`, reports, logs, metrics, small previews: committed)
and its *bulk* (`STEPS[step].bulk`: model weights, full sample sets: regenerable, ignored by git).
A step whose results are recorded counts as done: a chapter that needs only results reads them,
and bulk is recomputed only when a computation that needs it asks (`cached(..., bulk=True)`).

`DIFFPRUNE_RECOMPUTE=<run id>` (set by `--recompute`) recomputes every step once per run.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no locking, so run `study` with one job there
    fcntl = None

from .artifacts import DiffpruneError, code_version, device_description, write_json_atomic
from .paths import study_dir


@dataclass(frozen=True)
class Step:
    version: int
    bulk: tuple[str, ...] = ()  # entries of an artifact directory that git does not keep
    spare: tuple[str, ...] = ()  # bulk kept when produced but never required: it only saves time
    optional: tuple[str, ...] = ()  # bulk that only some artifacts have; brought back with the rest


MODEL_BULK = ("unet", "scheduler")
LATENT = ("vqvae",)  # a latent model's autoencoder, carried into every model derived from it
RESUME_STATE = ("checkpoint", "vqvae-checkpoint")  # resumable training state: not part of an artifact

STEPS = {
    "teacher": Step(1, MODEL_BULK, optional=LATENT),
    "prune": Step(1, MODEL_BULK, optional=LATENT),
    "finetune": Step(1, MODEL_BULK, spare=("checkpoint",), optional=LATENT),  # a longer finetune resumes from it
    "sample": Step(1, ("samples.npz",)),
    "classifier": Step(1, ("model.safetensors",)),
    "fd": Step(2),
    "consistency": Step(1),
    "loss_curve": Step(1),
    "channel_scores": Step(1),
    "gradient_stages": Step(1, ("gradients.safetensors",)),
    "timing": Step(1),
}
RECORD = "params.json"
_recorded_only = False


class NotRecorded(DiffpruneError):
    """A step's results are not in the cache, and computing was not allowed (`recorded_only`)."""


@contextlib.contextmanager
def recorded_only():
    """Within it, a step that would compute (results or bulk) raises NotRecorded instead: for pages
    that report on other chapters' results without running them."""
    global _recorded_only
    before, _recorded_only = _recorded_only, True
    try:
        yield
    finally:
        _recorded_only = before
REGENERATED = "regenerated.json"


def step_key(step: str, params: dict) -> str:
    blob = json.dumps({"step": step, "version": STEPS[step].version, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def step_dir(step: str, params: dict) -> Path:
    return study_dir() / step / step_key(step, params)


def cached(step: str, params: dict, compute: Callable[[Path], None], *, bulk: bool = True) -> Path:
    """The directory of a step's artifact, computing what is missing.

    `compute` writes into `<key>.partial/`, which survives an interruption (training resumes from
    its checkpoint there); only a finished artifact is renamed to `<key>/`. With `bulk=True` the
    bulk files are guaranteed present: where only the results were kept, they are recomputed and
    moved in beside them, and `regenerated.json` notes when and where.
    """
    d = step_dir(step, params)
    if _done(d) and not (bulk and _missing_bulk(step, d)):
        return d
    if _recorded_only:
        raise NotRecorded(f"{step} {d.name} is not recorded{' with its bulk' if _done(d) else ''}")
    with _lock(d):  # parallel jobs (`study --jobs`) that need the same artifact compute it once
        if _done(d):
            missing = _missing_bulk(step, d) if bulk else []
            if missing:
                _regenerate(d, missing, compute)
            return d
        _compute(step, params, compute, d)
    return d


def _done(d: Path) -> bool:
    run_id = os.environ.get("DIFFPRUNE_RECOMPUTE")
    record = d / RECORD
    return record.is_file() and (not run_id or json.loads(record.read_text()).get("run_id") == run_id)


def _missing_bulk(step: str, d: Path) -> list[str]:
    return [name for name in STEPS[step].bulk if not (d / name).exists()]


@contextlib.contextmanager
def _lock(d: Path):
    d.parent.mkdir(parents=True, exist_ok=True)
    with open(d.with_name(d.name + ".lock"), "w") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _compute(step: str, params: dict, compute: Callable[[Path], None], d: Path) -> None:
    run_id = os.environ.get("DIFFPRUNE_RECOMPUTE")
    work = d.with_name(d.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        compute(work)
    except BaseException:
        if not any(work.iterdir()):  # refused before writing anything: leave no trace (a partial run stays)
            work.rmdir()
        raise
    for name in RESUME_STATE:
        if name not in STEPS[step].spare:
            shutil.rmtree(work / name, ignore_errors=True)
    write_json_atomic(work / RECORD, {
        "step": step, "key": d.name, "version": STEPS[step].version, "params": params,
        "code_version": code_version(), "device": device_description(),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run_id": run_id})
    if d.exists():
        shutil.rmtree(d)
    os.replace(work, d)


def _regenerate(d: Path, missing: list[str], compute: Callable[[Path], None]) -> None:
    s = STEPS[d.parent.name]
    spare = [n for n in s.spare + s.optional if not (d / n).exists()]
    work = d.with_name(d.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    compute(work)
    for name in missing + [n for n in spare if (work / n).exists()]:
        os.replace(work / name, d / name)
    shutil.rmtree(work)
    # beside the bulk, like it ignored by git: the committed record stays the original run's
    write_json_atomic(d / REGENERATED, {
        "bulk": missing, "code_version": code_version(), "device": device_description(),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def read_json(d: Path, name: str):
    return json.loads((d / name).read_text())
