"""What a chapter is: three files.

1. its notebook, `notebooks/NAME.py` (jupytext percent format): a parameters cell that names only
   `profile` and `overrides`, a first line `p = CHAPTER.load(profile, overrides)`, library calls,
   `glue`, and a reading computed from the data;
2. its spec module, `diffprune/chapters/NAME.py`: a `CHAPTER` (the profile keys it reads, its own
   parameters if any, the cached work `python -m diffprune study` can precompute) and what is truly
   the chapter's own (its rows, its table); its functions take the chapter's `Parameters`;
3. its keys in the profiles, `notebooks/params/*.yaml`: the only place defaults live.

The book's `_toc.yml` lists the chapters (`book.chapters()`); `notebooks/_template.py` is a chapter
to copy.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, make_dataclass
from typing import ClassVar

from . import profiles
from .artifacts import DiffpruneError

# A unit of cached work: a module-level function and its arguments, so that worker processes can
# receive it. A chapter's work is a flat list of jobs; jobs that share a step compute it once (the
# cache's locks), and listing the shared ones first keeps parallel jobs from waiting on each other.
Job = tuple[Callable, tuple]


@dataclass(frozen=True)
class Parameters:
    """A chapter's parameters as `Chapter.load` returns them: frozen, typed, read by attribute
    (`p.ratio`), one field per parameter the chapter names (`Chapter.parameters_type`), so reading one
    it did not name is an AttributeError. `replace` makes a variant, e.g. a sub-study's ratio."""
    profile: str
    chapter: ClassVar[str] = ""

    def replace(self, **changes) -> Parameters:
        return dataclasses.replace(self, **changes)

    def values(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __reduce__(self):
        # the class is made at run time, so pickle (worker processes, Dask) finds it by its chapter
        return _parameters_of, (self.chapter, self.values())


def _parameters_of(chapter: str, values: dict) -> Parameters:
    return spec(chapter).parameters_type()(**values)


@functools.cache
def _parameters_type(name: str, shared: tuple[str, ...], own: type | None) -> type[Parameters]:
    known = {f.name: f for f in fields(profiles.Profile)}
    chosen = [known[n] for n in shared] + list(fields(own) if own else ())
    return make_dataclass(f"{name.title().replace('_', '')}Parameters",
                          [(f.name, f.type, field(metadata=f.metadata)) for f in chosen],
                          bases=(Parameters,), frozen=True, namespace={"chapter": name})


@dataclass(frozen=True)
class Chapter:
    name: str
    parameters: tuple[str, ...]                        # fields of profiles.Profile it reads
    own: type | None = None                            # a frozen dataclass of parameter() fields only it reads
    work: Callable[[Parameters], list[Job]] | None = None
    checks: tuple[Callable[[Parameters], object], ...] = ()  # checks across parameters: raise DiffpruneError

    def definitions(self) -> dict[str, profiles.Parameter]:
        return {**{n: profiles.PARAMETERS[n] for n in self.parameters},
                **(profiles.definitions(self.own) if self.own else {})}

    def parameters_type(self) -> type[Parameters]:
        return _parameters_type(self.name, self.parameters, self.own)

    def load(self, profile: str = "cpu", overrides: dict | None = None) -> Parameters:
        """The chapter's parameters from a profile and overrides, checked; one clear error if not. The
        profile's `chapter_values` for this chapter replace its values, the overrides both."""
        read = profiles.read(profile, overrides)
        wanted = self.definitions()
        own = profiles.chapter_values(read)
        for name, given in own.items():
            unread = sorted(set(given) - set(spec(name).definitions()))  # spec: a chapter the book lacks fails
            if unread:
                raise DiffpruneError(f"{profiles.CHAPTER_VALUES}.{name} of profile {profile} names "
                                     f"{', '.join(unread)}, which chapter {name} does not read")
        values = profiles.for_chapter(read, self.name, overrides)
        missing = [n for n in wanted if n not in values]
        if missing:
            raise DiffpruneError(f"profile {profile} lacks {', '.join(missing)}, read by chapter {self.name}")
        if "extensions" in wanted and profiles.PARAMETERS["extensions"].valid(values["extensions"]):
            profiles.load_extensions(values["extensions"])  # before the checks: they may add methods
        p = self.parameters_type()(profile=profile, **profiles.check({n: values[n] for n in wanted}, wanted))
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
