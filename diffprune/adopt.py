"""A training run of the study cache made a committed teacher (`python -m diffprune adopt`).

The teachers' learning curves train each recipe in the cache (`pipeline.training_run`); the run
that meets the plateau rule (`plateau`) becomes the study's teacher: its weights copied unchanged
into `data/teachers/NAME` with its training log, its cost (naming the run's key, so the teacher's
page traces it to its curve) and a grid of samples. Written whole or not at all.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from . import study
from .artifacts import DiffpruneError, atomic_dir, code_version, write_bytes_atomic, write_json_atomic

STEP = "training_run"


def run_dir(key: str) -> Path:
    """The recorded training run of the study cache with this key (one line if there is none, or it
    lacks its weights, as a fresh clone's records do)."""
    d = study.study_dir() / STEP / key
    if not study.is_recorded(d):
        known = sorted(r["key"] for r in study.records(STEP))
        raise DiffpruneError(f"no recorded training run {key!r} in {study.study_dir()}"
                             + (f"; recorded: {', '.join(known)}" if known else ""))
    missing = study.missing_bulk(STEP, d)
    if missing:
        raise DiffpruneError(f"training run {key} has its record but not its {', '.join(missing)}: "
                             "adopt it where it was trained (or recompute it with `study`)")
    return d


def adopt(key: str, out: str | Path, *, replace: bool = False, grid: int = 64, seed: int = 0,
          command: str | None = None) -> Path:
    """Copy training run `key` into the teacher directory `out`: its model (UNet, scheduler and a
    latent model's autoencoder), `train_log.csv`, `cost.json` with the run's key and record, and
    `samples.png` (`grid` samples, 0: none). An existing `out` is replaced only with `replace`."""
    d = run_dir(key)
    out = Path(out)
    if out.exists() and not replace:
        raise DiffpruneError(f"{out} already exists (replace=True, or --replace, to put the run in its place)")
    record = study.record(d)
    cost = {**study.result(d, "cost.json"), "training_run": key, "training_run_code_version": record["code_version"],
            "adopted_at_code_version": code_version(), "adopted_by": command}
    with atomic_dir(out) as tmp:
        for name in study.STEPS[STEP].bulk + study.STEPS[STEP].optional:
            if (d / name).exists():
                shutil.copytree(d / name, tmp / name)
        write_bytes_atomic(tmp / "train_log.csv", study.result(d, "train_log.csv").encode())
        write_json_atomic(tmp / "cost.json", cost)
        if grid > 0:
            from .images import save_grid
            from .models import DiffusionModel
            from .sample import sample
            save_grid(sample(DiffusionModel.load(tmp), grid, seed=seed, steps=100, progress=False), tmp / "samples.png")
    return out
