"""The book: execute the chapters (papermill, parameters from a profile) and build the HTML
(jupyter-book 1; version 2 cannot build offline).

Chapters are jupytext `py:percent` notebooks in `notebooks/` (readable diffs, no stored outputs);
each is executed into `<book>/chapters/NAME.ipynb`, written atomically, with papermill's injected
cell and the default-valued parameters cell hidden (the chapter shows the values it ran with as a
table).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .artifacts import DiffpruneError
from .data import ROOT

CHAPTERS = ("teachers", "rq1_table1")
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"


def _kernel_env() -> None:
    # Jupyter, IPython and matplotlib write under $HOME unless told otherwise.
    cache = ROOT / ".cache"
    for var, sub in (("MPLCONFIGDIR", "matplotlib"), ("IPYTHONDIR", "ipython"),
                     ("JUPYTER_CONFIG_DIR", "jupyter/config"), ("JUPYTER_DATA_DIR", "jupyter/data"),
                     ("JUPYTER_RUNTIME_DIR", "jupyter/runtime")):
        os.environ.setdefault(var, str(cache / sub))
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # tqdm.auto (imported by huggingface_hub) warns that ipywidgets is missing; bars are off anyway
    os.environ.setdefault("PYTHONWARNINGS", "ignore:IProgress not found")


def execute_chapter(name: str, params: dict, book_dir: Path = BOOK) -> Path:
    import jupytext
    import nbformat
    import papermill

    if name not in CHAPTERS:
        raise DiffpruneError(f"unknown chapter {name!r}; choose one of {', '.join(CHAPTERS)}")
    _kernel_env()
    out = book_dir / "chapters" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{name}.") as tmp:
        source = Path(tmp) / f"{name}.ipynb"
        nbformat.write(jupytext.read(NOTEBOOKS / f"{name}.py"), source)
        declared = papermill.inspect_notebook(str(source))
        parameters = {k: v for k, v in params.items() if k in declared}
        executed = Path(tmp) / "executed.ipynb"
        try:
            papermill.execute_notebook(str(source), str(executed), parameters=parameters, cwd=str(ROOT),
                                       kernel_name="python3", progress_bar=False, log_output=False)
        except papermill.PapermillExecutionError as e:
            raise DiffpruneError(f"chapter {name}: {e.ename}: {e.evalue}".splitlines()[0]) from None
        nb = nbformat.read(executed, as_version=4)
        for cell in nb.cells:
            tags = cell.metadata.setdefault("tags", [])
            if ("injected-parameters" in tags or "parameters" in tags) and "remove-cell" not in tags:
                tags.append("remove-cell")
        nbformat.write(nb, executed)
        os.replace(executed, out)
    return out


def build_html(book_dir: Path = BOOK) -> Path:
    _kernel_env()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(book_dir), "-W", "-n", "--keep-going", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise DiffpruneError(f"jupyter-book build of {book_dir} failed (exit {done.returncode}); log above")
    return book_dir / "_build" / "html" / "index.html"


def stage(out: Path) -> Path:
    """Copy the book's sources to `out` (for builds outside the repository, e.g. tests)."""
    if out.resolve() == BOOK.resolve():
        return BOOK
    shutil.copytree(BOOK, out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("_build", "*.ipynb", ".*"))
    return out


def render(params: dict, chapters=CHAPTERS, out: Path | None = None, recompute: bool = False,
           build: bool = True, progress: bool = True) -> Path | None:
    book_dir = stage(out) if out else BOOK
    if recompute:
        os.environ["DIFFPRUNE_RECOMPUTE"] = uuid.uuid4().hex[:12]
    for name in chapters:
        start = time.perf_counter()
        execute_chapter(name, params, book_dir)
        if progress:
            print(f"chapter {name}: executed in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    missing = [c for c in CHAPTERS if not (book_dir / "chapters" / f"{c}.ipynb").is_file()]
    if build and missing:
        raise DiffpruneError(f"cannot build: chapter(s) {', '.join(missing)} never executed; run without --chapter")
    return build_html(book_dir) if build else None
