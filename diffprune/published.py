"""Published numbers the book sets beside its own, read from `data/paper/` (each file says where
its numbers come from): the paper's tables and the official repository's timestep experiments."""
from __future__ import annotations

from .paths import PAPER_DIR


def paper_table(paper_dataset: str = "cifar10"):
    """The paper's Table 1 rows for one data set, from data/paper/paper_tables.csv."""
    import pandas as pd
    df = pd.read_csv(PAPER_DIR / "paper_tables.csv", comment="#")
    return df[df["dataset"] == paper_dataset].reset_index(drop=True)


def repository_curves() -> dict:
    """The official repository's recorded curves and stop t, by data set and kind (its numbers, not ours)."""
    import pandas as pd
    df = pd.read_csv(PAPER_DIR / "timestep_experiment.csv", comment="#", dtype=str)
    out = {}
    for (dataset, kind), g in df.groupby(["dataset", "kind"]):
        out.setdefault(dataset, {})[kind] = dict(zip(g["key"], g["value"], strict=True))
    return out


def sampler_steps():
    """Published CIFAR-10 FID against sampler steps (the DDIM and DPM-Solver papers' numbers)."""
    import pandas as pd
    return pd.read_csv(PAPER_DIR / "sampler_steps.csv", comment="#")
