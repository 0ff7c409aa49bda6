"""The study's steps, each cached by `study.cached`: teacher, prune, finetune, sample, classifier,
Fréchet distance and consistency. A step's parameters include the keys of the steps it uses, so
a changed parameter recomputes exactly what depends on it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifacts import DiffpruneError, write_json_atomic
from .data import ROOT
from .study import cached, read_json


@dataclass(frozen=True)
class Artifact:
    step: str
    key: str
    path: Path


def teacher(spec) -> Artifact:
    """A committed model directory (path, keyed by its weights' sha256), or train one from a dict
    of training parameters (dataset, preset, steps, batch_size, lr, seed)."""
    if isinstance(spec, str):
        path = Path(spec) if Path(spec).is_absolute() else ROOT / spec
        if path.is_dir():
            manifest = path / "unet" / "diffprune.json"
            if not manifest.is_file():
                raise DiffpruneError(f"teacher {spec} is not a diffprune model directory (no unet/diffprune.json)")
            return Artifact("teacher", json.loads(manifest.read_text())["weights_sha256"][:16], path)
        return _hub_teacher(spec)
    params = dict(spec)

    def compute(work: Path) -> None:
        from .data import load_dataset
        from .models import build_unet, default_scheduler
        from .train import TrainConfig, train
        ds = load_dataset(params["dataset"], "train")
        model = build_unet(params["preset"], ds.shape[0], ds.shape[1], seed=params["seed"])
        cfg = TrainConfig(steps=params["steps"], batch_size=params["batch_size"], lr=params["lr"],
                          warmup_steps=params.get("warmup_steps", 0), seed=params["seed"],
                          checkpoint_every=max(params["steps"] // 4, 1), log_every=max(params["steps"] // 20, 1))
        train(model, default_scheduler(), ds.images, cfg, work, run_info={"kind": "train", **params},
              progress=False)

    d = cached("teacher", params, compute)
    return Artifact("teacher", json.loads((d / "unet" / "diffprune.json").read_text())["weights_sha256"][:16], d)


def _hub_teacher(name: str) -> Artifact:
    """A pretrained model from the hub (e.g. google/ddpm-cifar10-32), stored once in the cache."""
    def compute(work: Path) -> None:
        from .models import load_scheduler, load_unet, write_unet
        write_unet(load_unet(name), work / "unet")
        load_scheduler(name).save_pretrained(work / "scheduler")

    d = cached("teacher", {"hub": name}, compute)
    return Artifact("teacher", json.loads((d / "unet" / "diffprune.json").read_text())["weights_sha256"][:16], d)


def teacher_steps(t: Artifact) -> int | None:
    """Training steps of a teacher this project trained (None for one from the hub)."""
    cost = t.path / "cost.json"
    return int(json.loads(cost.read_text())["steps"]) if cost.is_file() else None


def pruned(t: Artifact, *, method: str, ratio: float, seed: int, threshold: float = 0.05,
           timestep_stride: int = 1, batch_size: int = 128, dataset: str | None = None) -> Artifact:
    from .importance import GRADIENT_METHODS
    params = {"teacher": t.key, "method": method, "ratio": ratio, "seed": seed}
    if method in GRADIENT_METHODS:
        params.update(timestep_stride=timestep_stride, batch_size=batch_size, dataset=dataset)
    if method == "diff-pruning":
        params["threshold"] = threshold

    def compute(work: Path) -> None:
        from .data import fixed_batch, load_dataset
        from .models import default_device, load_scheduler, load_unet, write_unet
        from .prune import prune
        device = default_device()
        model, scheduler = load_unet(t.path).to(device), load_scheduler(t.path)
        images = fixed_batch(load_dataset(dataset), batch_size, seed).to(device) if method in GRADIENT_METHODS else None
        model, report = prune(model, method, ratio, scheduler=scheduler, images=images, threshold=threshold,
                              timestep_stride=timestep_stride, seed=seed, progress=False)
        write_unet(model.cpu(), work / "unet")
        scheduler.save_pretrained(work / "scheduler")
        write_json_atomic(work / "prune_report.json", {**report, "teacher": t.key, "dataset": params.get("dataset")})

    return Artifact("prune", (d := cached("prune", params, compute)).name, d)


def finetuned(model: Artifact, *, dataset: str, steps: int, batch_size: int, lr: float,
              warmup_steps: int, seed: int) -> Artifact:
    params = {"model": model.key, "dataset": dataset, "steps": steps, "batch_size": batch_size, "lr": lr,
              "warmup_steps": warmup_steps, "seed": seed}

    def compute(work: Path) -> None:
        from .data import load_dataset
        from .models import load_scheduler, load_unet
        from .train import TrainConfig, train
        cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, seed=seed,
                          checkpoint_every=max(min(250, steps // 2), 1), log_every=max(steps // 50, 1))
        train(load_unet(model.path), load_scheduler(model.path), load_dataset(dataset).images, cfg, work,
              run_info={"kind": "finetune", **params}, progress=False)
        (work / "prune_report.json").write_text((model.path / "prune_report.json").read_text())

    return Artifact("finetune", (d := cached("finetune", params, compute)).name, d)


def samples(model: Artifact, *, n: int, seed: int, steps: int, spacing: str = "uniform",
            sampler: str = "ddim", eta: float = 0.0, batch_size: int = 250) -> Artifact:
    params = {"model": model.key, "n": n, "seed": seed, "sampler": sampler, "steps": steps, "eta": eta,
              "spacing": spacing}

    def compute(work: Path) -> None:
        from .models import default_device, load_scheduler, load_unet
        from .sample import sample, save_grid, save_samples
        images = sample(load_unet(model.path).to(default_device()), load_scheduler(model.path), n, seed=seed, sampler=sampler,
                        steps=steps, eta=eta, spacing=spacing, batch_size=batch_size, progress=False)
        save_samples(work / "samples.npz", images, np.arange(n), params)
        save_grid(images[:64], work / "grid.png")

    return Artifact("sample", (d := cached("sample", params, compute)).name, d)


def classifier(dataset: str, *, epochs: int, seed: int = 0) -> Artifact:
    params = {"dataset": dataset, "epochs": epochs, "seed": seed}

    def compute(work: Path) -> None:
        from .classifier import train_classifier
        train_classifier(dataset, epochs=epochs, seed=seed, out=work, progress=False)

    return Artifact("classifier", (d := cached("classifier", params, compute)).name, d)


def fd(s: Artifact, *, dataset: str, split: str, features: str, n_reference: int | None, n_boot: int,
       seed: int = 0) -> dict:
    params = {"samples": s.key, "dataset": dataset, "split": split, "features": features,
              "n_reference": n_reference, "n_boot": n_boot, "seed": seed}

    def compute(work: Path) -> None:
        from .fid import METRIC_NAMES, fd_with_ci, features as extract, reference_statistics
        from .sample import load_samples
        images, _, _ = load_samples(s.path / "samples.npz")
        mu, sigma = reference_statistics(dataset, split, features, n_reference, seed, progress=False)
        result = fd_with_ci(extract(images, features), mu, sigma, n_boot=n_boot, seed=seed)
        write_json_atomic(work / "fd.json", {"metric": METRIC_NAMES[features], **result, **params})

    return read_json(cached("fd", params, compute), "fd.json")


def consistency(a: Artifact, b: Artifact, clf: Artifact | None, *, n_boot: int = 1000, seed: int = 0) -> dict:
    params = {"a": a.key, "b": b.key, "classifier": clf.key if clf else None, "n_boot": n_boot, "seed": seed}

    def compute(work: Path) -> None:
        from .classifier import load_classifier
        from .consistency import content_consistency, paired, ssim_consistency
        from .sample import load_samples
        x, y, _ = paired(*load_samples(a.path / "samples.npz")[:2], *load_samples(b.path / "samples.npz")[:2])
        result = {"ssim": ssim_consistency(x, y, n_boot=n_boot, seed=seed)}
        if clf is not None:
            model, meta = load_classifier(clf.path)
            result["content"] = {**content_consistency(x, y, model), "classifier_test_accuracy": meta["test_accuracy"]}
        write_json_atomic(work / "consistency.json", result)

    return read_json(cached("consistency", params, compute), "consistency.json")
