"""The teachers: the pretrained models the study prunes — what each is, what it cost, how good it is.

A profile's `teacher` is the one the study prunes; `more_teachers` lists other committed teachers
the book shows beside it (`evaluation.every_teacher`).
"""
from __future__ import annotations

import csv
from pathlib import Path

from .. import evaluation, pipeline
from ..chapter import Chapter


def _final_loss(log_csv: Path, last: int = 5) -> float | None:
    """Mean of the last `last` logged losses (each already a mean over its logging interval)."""
    if not log_csv.is_file():
        return None
    with open(log_csv) as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    tail = losses[-last:]
    return sum(tail) / len(tail) if tail else None


def summary(p: dict) -> dict:
    """Size, training cost and quality of the profile's teacher; its samples and Fréchet distance
    use the profile's sampling and metric parameters (the same cached artifacts RQ1 uses)."""
    from ..data import load_dataset
    from ..unet import image_shape, load_unet

    t = pipeline.teacher(p["teacher"])
    cost = t.result("cost.json") if t.has("cost.json") else {}
    row = evaluation.evaluate(t, p, p["seeds"][0])
    n_test = len(load_dataset(p["dataset"], "test"))
    log = t.results / "train_log.csv"
    return {**row, "teacher": Path(p["teacher"]).name if isinstance(p["teacher"], str) else t.key,
            "dataset": p["dataset"], "image": "×".join(map(str, image_shape(load_unet(t.path)))),
            "steps": cost.get("steps"), "images_seen": cost.get("images_seen"),
            "hours": cost.get("wall_time_s", 0) / 3600 or None, "device": cost.get("device"),
            "final_loss": _final_loss(log), "log": log, "n_reference": min(p["n_reference"] or n_test, n_test)}


def work(p: dict) -> list:
    return [(summary, (q,)) for q in evaluation.every_teacher(p)]


CHAPTER = Chapter("teachers", parameters=(
    "teacher", "dataset", "more_teachers", "features", "n_reference", "n_boot", "n_samples", "sampler",
    "ddim_steps", "spacing", "seeds"), work=work)


def _training(r: dict) -> str:
    """`5,000 × 64 in 1.65 h on CPU x1 threads`: steps × batch, time and device of a teacher's training."""
    if not r["steps"]:
        return "–"
    text = f"{r['steps']:,} × {r['images_seen'] // r['steps']}"
    text += f" in {r['hours']:.2f} h" if r["hours"] else ""
    return text + (f" on {r['device'].replace('cpu:x86_64 ', 'CPU ')}" if r["device"] else "")


def display_table(rows: list[dict]):
    """The teachers side by side, as the book shows them."""
    import pandas as pd

    def opt(v, fmt):
        return "–" if v is None else fmt.format(v)

    return pd.DataFrame({
        "teacher": [r["teacher"] for r in rows],
        "data set": [r["dataset"] for r in rows],
        "image": [r["image"] for r in rows],
        "params (M)": [f"{r['params'] / 1e6:.2f}" for r in rows],
        "MACs (M)": [f"{r['macs'] / 1e6:.0f}" for r in rows],
        "training": [_training(r) for r in rows],
        "final loss": [opt(r["final_loss"], "{:.4f}") for r in rows],
        "FD (95% CI)": [evaluation.ci_text(r["fd"], r["fd_low"], r["fd_high"], 1) for r in rows],
        "test images": [f"{r['n_reference']:,}" for r in rows],
    }).set_index("teacher")


def overview(row: dict, n: int = 16):
    """Training images, samples and loss curve of one teacher, as one figure."""
    from ..data import load_dataset
    from ..plots import teacher_overview

    data = load_dataset(row["dataset"], "train").images[:n].permute(0, 2, 3, 1).numpy()
    samples = evaluation.preview(row)[:n]
    return teacher_overview(data, samples, row["log"], row["dataset"])
