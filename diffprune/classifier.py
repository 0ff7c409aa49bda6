"""A small classifier of a data set's labels, for *content* consistency: does the pruned model,
given the teacher's noise, still draw the same kind of thing (a coat stays a coat)?

Trained once per data set and kept as a study artifact (safetensors + JSON with its test
accuracy), so every chapter judges content with the same network.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import safetensors.torch
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import seeds
from .artifacts import DiffpruneError, atomic_dir, code_version, device_description
from .data import load_dataset
from .images import to_model_range
from .models import default_device
from .progress import Bar


class SmallCNN(nn.Module):
    def __init__(self, channels: int, num_classes: int, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 3, padding=1)
        self.fc = nn.Linear(4 * width * 4, num_classes)
        self.config = {"channels": channels, "num_classes": num_classes, "width": width}

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.adaptive_avg_pool2d(F.relu(self.conv3(x)), 2)  # keeps coarse layout, any input size
        return self.fc(x.flatten(1))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Class indices of uint8 (N, C, H, W) images."""
        self.eval()
        return torch.cat([self(to_model_range(images[i:i + batch_size])).argmax(1)
                          for i in range(0, len(images), batch_size)])


def train_classifier(dataset: str, *, epochs: int = 5, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0, out: Path, progress: bool = True) -> dict:
    train_set, test_set = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    if (train_set.labels < 0).all():
        raise DiffpruneError(f"dataset {dataset} has no labels to train a classifier on")
    torch.manual_seed(seed)
    device = default_device()
    model = SmallCNN(train_set.shape[0], len(train_set.classes)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    steps = epochs * (len(train_set) // batch_size)
    for step in Bar(range(steps), desc=f"classifier {dataset}", disable=not progress):
        epoch, pos = divmod(step, len(train_set) // batch_size)
        perm = torch.randperm(len(train_set), generator=seeds.generator(seed, seeds.EPOCH, epoch))
        idx = perm[pos * batch_size:(pos + 1) * batch_size]
        x = to_model_range(train_set.images[idx])
        x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x, x.flip(3))  # mirror: generated images vary
        loss = F.cross_entropy(model(x.to(device)), train_set.labels[idx].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.cpu()
    accuracy = float((model.predict(test_set.images) == test_set.labels).float().mean())
    meta = {"dataset": dataset, "classes": train_set.classes, "config": model.config,
            "test_accuracy": accuracy, "n_test": len(test_set), "epochs": epochs, "batch_size": batch_size,
            "lr": lr, "seed": seed, "wall_time_s": round(time.perf_counter() - start, 1),
            "device": device_description(), "code_version": code_version()}
    with atomic_dir(out) as tmp:
        safetensors.torch.save_file(model.state_dict(), tmp / "model.safetensors")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def load_classifier(folder: str | Path) -> tuple[SmallCNN, dict]:
    d = Path(folder)
    if not (d / "meta.json").is_file():
        raise DiffpruneError(f"no classifier in {d}: train one with "
                             f"python -m diffprune classifier --dataset NAME --out DIR")
    meta = json.loads((d / "meta.json").read_text())
    model = SmallCNN(**meta["config"])
    model.load_state_dict(safetensors.torch.load_file(d / "model.safetensors"))
    return model.eval(), meta
