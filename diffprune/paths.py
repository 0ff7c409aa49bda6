"""Where things live in the repository: one place, so no module derives a path from another's."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DIFFPRUNE_DATA", ROOT / "data"))
CACHE_DIR = Path(os.environ.get("DIFFPRUNE_CACHE", DATA_DIR / "cache"))  # regenerable, ignored by git
PAPER_DIR = DATA_DIR / "paper"          # the paper's published numbers
RESULTS_DIR = DATA_DIR / "results"      # benchmark records
NOTEBOOKS = ROOT / "notebooks"          # the chapters' sources
PROFILE_DIR = NOTEBOOKS / "params"      # the profiles: every chapter default lives here
BOOK = ROOT / "book"


def study_dir() -> Path:
    """The study cache; `DIFFPRUNE_STUDY` moves it (the tests use a temporary one); set but empty,
    it is the default, not the working directory."""
    return Path(os.environ.get("DIFFPRUNE_STUDY") or DATA_DIR / "study")


def in_repo(path: str | os.PathLike) -> Path:
    """A path as given, or relative to the repository when it does not exist as given."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or p.exists() else ROOT / p
