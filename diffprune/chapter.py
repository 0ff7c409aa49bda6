"""What a chapter is: three files.

1. its notebook, `notebooks/NAME.py` (jupytext percent format): a parameters cell that names only
   `profile` and `overrides`, a first line `p = CHAPTER.load(profile, overrides)`, library calls,
   `glue`, and a reading computed from the data;
2. its spec module, `diffprune/chapters/NAME.py`: a `CHAPTER` (the profile keys it reads, its own
   parameters if any, the cached work `python -m diffprune study` can precompute) and what is truly
   the chapter's own (its rows, its table);
3. its keys in the profiles, `notebooks/params/*.yaml`: the only place defaults live.

The book's `_toc.yml` lists the chapters (`book.chapters()`); `notebooks/_template.py` is a chapter
to copy.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from . import profiles
from .artifacts import DiffpruneError

# A unit of cached work: a module-level function and its arguments, so that worker processes can
# receive it. A chapter's work is a flat list of jobs; jobs that share a step compute it once (the
# cache's locks), and listing the shared ones first keeps parallel jobs from waiting on each other.
Job = tuple[Callable, tuple]


@dataclass(frozen=True)
class Chapter:
    name: str
    parameters: tuple[str, ...]                       # keys of profiles.PARAMETERS it reads
    own: dict[str, profiles.Parameter] = field(default_factory=dict)  # parameters only it reads
    work: Callable[[dict], list[Job]] | None = None
    checks: tuple[Callable[[dict], object], ...] = ()  # checks across parameters: raise DiffpruneError

    def definitions(self) -> dict[str, profiles.Parameter]:
        return {**{n: profiles.PARAMETERS[n] for n in self.parameters}, **self.own}

    def load(self, profile: str = "cpu", overrides: dict | None = None) -> dict:
        """The chapter's parameters from a profile and overrides, checked; one clear error if not."""
        values = profiles.read(profile, overrides)
        wanted = self.definitions()
        missing = [n for n in wanted if n not in values]
        if missing:
            raise DiffpruneError(f"profile {profile} lacks {', '.join(missing)}, read by chapter {self.name}")
        if "extensions" in wanted and profiles.PARAMETERS["extensions"].valid(values["extensions"]):
            profiles.load_extensions(values["extensions"])  # before the checks: they may add methods
        p = {"profile": profile, **profiles.check({n: values[n] for n in wanted}, wanted)}
        for check in self.checks:
            check(p)
        return p


def spec(name: str) -> Chapter:
    """The CHAPTER of `diffprune/chapters/NAME.py`."""
    try:
        module = importlib.import_module(f"diffprune.chapters.{name}")
    except ModuleNotFoundError:
        raise DiffpruneError(f"chapter {name!r} has no spec module diffprune/chapters/{name}.py") from None
    return module.CHAPTER
