"""Template of a chapter's spec module (copy to `diffprune/chapters/NAME.py`; see `notebooks/_template.py`).

A spec holds the chapter's CHAPTER and what is truly its own — its rows, its table — and nothing
two chapters need: that goes to the library (`evaluation`, `pipeline`, `plots`).
"""
from __future__ import annotations

from .. import evaluation, pipeline
from ..chapter import Chapter, Parameters


def run_row(p: Parameters, seed: int) -> dict:
    """One row: the teacher, evaluated by the shared layer (computed only if the cache lacks it)."""
    return {"row": "teacher", **evaluation.evaluate(pipeline.teacher(p.teacher), p, seed)}


def work(p: Parameters) -> list:
    """The cached jobs `python -m diffprune study --chapter NAME` runs in parallel."""
    return [(run_row, (p, seed)) for seed in p.seeds]


CHAPTER = Chapter(
    "_template",
    # fields of profiles.Profile this chapter reads; their values come from the profiles only
    parameters=("teacher", "dataset", "features", "n_reference", "n_boot", "n_samples", "sampler",
                "ddim_steps", "spacing", "seeds"),
    # a parameter no other chapter reads is defined and checked here, its default in every profile:
    # own=Own, with `@dataclass(frozen=True) class Own: windows: list = profiles.parameter("...", check)`
    work=work)
