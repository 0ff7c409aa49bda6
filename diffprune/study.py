"""The study cache and the pipeline of the RQ1 experiment (the paper's Table 1).

Every expensive step (teacher, prune, finetune, sample, classifier, metrics) stores its artifact
under `data/study/<step>/<key>/`, where the key hashes the step's parameters, the keys of the
steps it depends on, and the step's *semantic* version in `STEP_VERSIONS`. Re-executing a chapter
with unchanged parameters reuses every artifact; a changed parameter changes the keys of exactly
the steps that depend on it. The git commit that produced an artifact is recorded in its
`params.json`, but is not part of the key: a commit that does not change what a step computes
must not invalidate hours of CPU results. Bump a step's version when its meaning changes.

`DIFFPRUNE_RECOMPUTE=<run id>` (set by `--recompute`) recomputes every step once per run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .artifacts import DiffpruneError, code_version, device_description, write_json_atomic
from .data import DATA_DIR

STEP_VERSIONS = {"teacher": 1, "prune": 1, "finetune": 1, "sample": 1, "classifier": 1,
                 "fd": 2, "consistency": 1}


def study_dir() -> Path:
    return Path(os.environ.get("DIFFPRUNE_STUDY", DATA_DIR / "study"))


def step_key(step: str, params: dict) -> str:
    blob = json.dumps({"step": step, "version": STEP_VERSIONS[step], "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached(step: str, params: dict, compute: Callable[[Path], None]) -> Path:
    """The directory of a step's artifact, computing it if it is missing.

    `compute` writes into `<key>.partial/`, which survives an interruption (training resumes from
    its checkpoint there); only a finished artifact is renamed to `<key>/`.
    """
    key = step_key(step, params)
    d = study_dir() / step / key
    run_id = os.environ.get("DIFFPRUNE_RECOMPUTE")
    record = d / "params.json"
    if record.is_file():
        if not run_id or json.loads(record.read_text()).get("run_id") == run_id:
            return d
    work = d.with_name(key + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    compute(work)
    shutil.rmtree(work / "checkpoint", ignore_errors=True)  # resumable state is not part of the artifact
    write_json_atomic(work / "params.json", {
        "step": step, "key": key, "version": STEP_VERSIONS[step], "params": params,
        "code_version": code_version(), "device": device_description(),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run_id": run_id})
    if d.exists():
        shutil.rmtree(d)
    os.replace(work, d)
    return d


def read_json(d: Path, name: str):
    return json.loads((d / name).read_text())
