"""The teachers: the pretrained models the study prunes — what each is, what it cost, how good it is.

A profile's `teacher` is the one the study prunes; `more_teachers` lists other committed teachers
the book shows beside it, each with the data set recorded in its `cost.json`.
"""
from __future__ import annotations

import csv
from pathlib import Path

from . import pipeline


def others(p: dict) -> list[str]:
    """The profile's `more_teachers`, without the study's own teacher."""
    own = Path(p["teacher"]) if isinstance(p["teacher"], str) else None
    return [path for path in p.get("more_teachers", []) if Path(path) != own]


def profile_for(p: dict, path: str) -> dict:
    """The profile with another committed teacher and its data set (from its cost.json)."""
    t = pipeline.teacher(path)
    return {**p, "teacher": path, "dataset": pipeline.read_json(t.path, "cost.json")["dataset"],
            "teacher_steps": None}


def _final_loss(log_csv: Path, last: int = 5) -> float | None:
    """Mean of the last `last` logged losses (each already a mean over its logging interval)."""
    if not log_csv.is_file():
        return None
    with open(log_csv) as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    tail = losses[-last:]
    return sum(tail) / len(tail) if tail else None


def summary(t: pipeline.Artifact, p: dict, dataset: str | None = None) -> dict:
    """Size, training cost and quality of one teacher; its samples and FD use the profile's
    sampling and metric parameters (cached, so the RQ1 chapter reuses them)."""
    from .cost import count_macs, count_params
    from .data import load_dataset
    from .models import image_shape, load_unet

    cost = pipeline.read_json(t.path, "cost.json") if (t.path / "cost.json").is_file() else {}
    dataset = dataset or cost.get("dataset") or p["dataset"]
    unet = load_unet(t.path)
    s = pipeline.samples(t, n=p["n_samples"], seed=p["seeds"][0], steps=p["ddim_steps"], spacing=p["spacing"])
    fd = pipeline.fd(s, dataset=dataset, split="test", features=p["features"], n_reference=p["n_reference"],
                     n_boot=p["n_boot"])
    n_test = len(load_dataset(dataset, "test"))
    return {"teacher": t.path.name if t.path.parent.name == "teachers" else t.key, "path": t.path,
            "dataset": dataset, "image": "×".join(map(str, image_shape(unet))),
            "params": count_params(unet), "macs": count_macs(unet), "steps": cost.get("steps"),
            "images_seen": cost.get("images_seen"), "hours": cost.get("wall_time_s", 0) / 3600 or None,
            "device": cost.get("device"), "final_loss": _final_loss(t.path / "train_log.csv"),
            "fd": fd["value"], "fd_low": fd["ci_low"], "fd_high": fd["ci_high"], "fd_metric": fd["metric"],
            "n_reference": min(p["n_reference"] or n_test, n_test), "samples": s.path}


def display_table(rows: list[dict]):
    """The teachers side by side, as the book shows them."""
    import pandas as pd

    def opt(v, fmt):
        return "–" if v is None else fmt.format(v)

    metric = rows[0]["fd_metric"]
    return pd.DataFrame({
        "teacher": [r["teacher"] for r in rows],
        "data set": [r["dataset"] for r in rows],
        "image": [r["image"] for r in rows],
        "params (M)": [f"{r['params'] / 1e6:.2f}" for r in rows],
        "MACs (M)": [f"{r['macs'] / 1e6:.0f}" for r in rows],
        "steps × batch": [opt(r["steps"], "{:,}") + (f" × {r['images_seen'] // r['steps']}" if r["steps"] else "")
                          for r in rows],
        "hours": [opt(r["hours"], "{:.2f}") for r in rows],
        "device": [r["device"] or "–" for r in rows],
        "final loss": [opt(r["final_loss"], "{:.4f}") for r in rows],
        f"{metric} vs test split [95% CI]": [f"{r['fd']:.1f} [{r['fd_low']:.1f}, {r['fd_high']:.1f}]" for r in rows],
        "reference images": [f"{r['n_reference']:,}" for r in rows],
    }).set_index("teacher")


def overview(row: dict, n: int = 32):
    """Training images, samples and loss curve of one teacher, as one figure."""
    from .data import load_dataset
    from .plots import teacher_overview
    from .sample import load_samples

    data = load_dataset(row["dataset"], "train").images[:n].permute(0, 2, 3, 1).numpy()
    samples = load_samples(row["samples"] / "samples.npz")[0][:n]
    return teacher_overview(data, samples, row["path"] / "train_log.csv", row["dataset"])
