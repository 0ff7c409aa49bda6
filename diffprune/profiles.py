"""Profiles: named parameter sets for the chapters (`notebooks/params/*.yaml`), and the checks
that make a bad value fail in a chapter's first cell with one clear message.

- `smoke`: every chapter in at most ~2 minutes on 2 CPU cores (tests);
- `cpu`: the default study on 2 CPU cores;
- `paper`: CIFAR-10 and `google/ddpm-cifar10-32`, the paper's protocol; needs a GPU and a network.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from .artifacts import DiffpruneError
from .data import ROOT

PROFILE_DIR = ROOT / "notebooks" / "params"


def load_profile(name: str, overrides: dict | None = None) -> dict:
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise DiffpruneError(f"unknown profile {name!r}; choose one of {', '.join(names)}")
    p = yaml.safe_load(path.read_text()) or {}
    unknown = set(overrides or {}) - set(p)
    if unknown:
        raise DiffpruneError(f"unknown parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(p))}")
    return {**p, **(overrides or {}), "profile": name}


def parse_override(text: str):
    """A command-line value, read as YAML (papermill's -y style): 0.5, [0, 0.05], null, cpu."""
    return yaml.safe_load(text)


def _int(v, lo=None, hi=None):
    return isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


CHECKS = {
    "dataset": (lambda v: isinstance(v, str) and bool(v), "a data set name"),
    "ratio": (lambda v: _num(v) and 0 < v < 1, "a channel ratio in (0, 1)"),
    "thresholds": (lambda v: isinstance(v, list) and all(_num(t) and 0 <= t < 1 for t in v),
                   "a list of thresholds in [0, 1)"),
    "timestep_stride": (lambda v: _int(v, 1), "an integer >= 1"),
    "importance_batch": (lambda v: _int(v, 1), "an integer >= 1"),
    "finetune_steps": (lambda v: _int(v, 1), "an integer >= 1"),
    "finetune_batch": (lambda v: _int(v, 1), "an integer >= 1"),
    "finetune_lr": (lambda v: _num(v) and v > 0, "a number > 0"),
    "finetune_warmup": (lambda v: _int(v, 0), "an integer >= 0"),
    "n_samples": (lambda v: _int(v, 2), "an integer >= 2"),
    "ddim_steps": (lambda v: _int(v, 1, 1000), "an integer in [1, 1000]"),
    "spacing": (lambda v: v in ("uniform", "quad"), "'uniform' or 'quad'"),
    "features": (lambda v: v in ("effnet-l0@128", "inception"), "'effnet-l0@128' or 'inception'"),
    "n_reference": (lambda v: v is None or _int(v, 2), "null (all) or an integer >= 2"),
    "n_boot": (lambda v: _int(v, 0), "an integer >= 0"),
    "seeds": (lambda v: isinstance(v, list) and len(v) > 0 and all(_int(s, 0) for s in v),
              "a non-empty list of integers >= 0"),
    "classifier_epochs": (lambda v: _int(v, 0), "an integer >= 0 (0: no content consistency)"),
    "teacher_steps": (lambda v: v is None or _int(v, 1), "null or the teacher's training steps"),
    "teacher": (lambda v: isinstance(v, (str, dict)), "a model directory or a dict of training parameters"),
    "more_teachers": (lambda v: isinstance(v, list) and all(isinstance(t, str) and _model_dir(t) for t in v),
                      "a list of committed teacher directories"),
}


def _model_dir(path: str) -> bool:
    # a committed teacher records its data set in cost.json, which the chapters read
    return any((base / path / "unet" / "diffprune.json").is_file() and (base / path / "cost.json").is_file()
               for base in (ROOT, Path.cwd()))


def check(p: dict) -> dict:
    """Validate a chapter's parameters; raise one DiffpruneError naming the first bad one."""
    for name, value in p.items():
        if name in CHECKS:
            ok, wanted = CHECKS[name]
            if not ok(value):
                raise DiffpruneError(f"parameter {name} = {value!r} is invalid: expected {wanted}")
    t = p.get("teacher")
    if isinstance(t, str) and t.count("/") != 1 and not ((ROOT / t).is_dir() or Path(t).is_dir()):
        raise DiffpruneError(f"parameter teacher = {t!r} is not a model directory or hub id")
    return p


def table(p: dict):
    """The parameters as a small two-column table for the page."""
    import pandas as pd
    return pd.DataFrame({"value": [str(v) for v in p.values()]}, index=pd.Index(list(p), name="parameter"))


def attribution(dataset: str):
    """The credit line a data set's licence asks for, as Markdown (None if it asks for none)."""
    if dataset == "openmoji-32":
        from IPython.display import Markdown

        from .openmoji import ATTRIBUTION
        return Markdown(f"*{ATTRIBUTION}* ([openmoji.org](https://openmoji.org))")
    return None
