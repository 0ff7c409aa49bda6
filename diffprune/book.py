"""The book: execute the chapters (papermill, parameters from a profile) and build the HTML
(jupyter-book 1; version 2 cannot build offline).

`book/_toc.yml` is the one list of chapters: an entry `chapters/NAME` is the notebook
`notebooks/NAME.py` (jupytext percent format: readable diffs, no stored outputs), executed into
`<book>/chapters/NAME.ipynb`, written atomically, with papermill's injected cell and the
parameters cell hidden (each chapter shows the values it ran with as a table).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from . import evidence, plan, study
from .artifacts import DiffpruneError, write_bytes_atomic
from .paths import BOOK, NOTEBOOKS, ROOT

EXECUTED = "chapters/"  # toc entries under this folder are executed notebooks
EVIDENCE = "_build/evidence.jsonl"  # every verdict the executed pages show (`evidence`), kept beside the HTML


def toc(book_dir: Path = BOOK) -> dict:
    return yaml.safe_load((book_dir / "_toc.yml").read_text())


def chapters(book_dir: Path = BOOK) -> list[str]:
    """The executed chapters, in the book's order."""
    return [entry["file"][len(EXECUTED):] for part in toc(book_dir)["parts"] for entry in part["chapters"]
            if entry["file"].startswith(EXECUTED)]


def jupyter_env() -> None:
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


def _ipc_kernel_manager():
    """The kernel talks to papermill over Unix sockets: over TCP, reachable by any local user,
    ipykernel warns that it runs unencrypted."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(transport="ipc", **kwargs)
    return IPCKernelManager


def check_parameters(profile: str, overrides: dict, names: list[str]) -> None:
    """Every chapter's parameters, checked before any chapter runs (one clear error)."""
    from .chapter import spec
    for name in names:
        spec(name).load(profile, overrides)


def execute_chapter(name: str, profile: str, overrides: dict, book_dir: Path = BOOK) -> Path:
    import jupytext
    import nbformat
    import papermill

    if not (NOTEBOOKS / f"{name}.py").is_file():
        raise DiffpruneError(f"chapter {name!r} has no notebook notebooks/{name}.py")
    jupyter_env()
    out = book_dir / "chapters" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{name}.") as tmp:
        source = Path(tmp) / f"{name}.ipynb"
        nbformat.write(jupytext.read(NOTEBOOKS / f"{name}.py"), source)
        executed = Path(tmp) / "executed.ipynb"
        evidence.opened(name)  # a page without verdicts is still a page built (the tally waits for every page)
        # the kernel inherits the page's name: the page its rendered verdicts are logged under (`evidence`)
        with study.environment(**{evidence.PAGE: name}):
            try:
                papermill.execute_notebook(str(source), str(executed), cwd=str(ROOT), kernel_name="python3",
                                           parameters={"profile": profile, "overrides": overrides},
                                           progress_bar=False, log_output=False,
                                           kernel_manager_class=_ipc_kernel_manager())
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
    jupyter_env()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(book_dir), "-W", "-n", "--keep-going", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise DiffpruneError(f"jupyter-book build of {book_dir} failed (exit {done.returncode}); log above")
    return book_dir / "_build" / "html" / "index.html"


def stage(out: Path, extra: tuple[str, ...] = (), pages: dict[str, str] | None = None) -> Path:
    """Copy the book's sources to `out` (builds outside the repository, e.g. tests); `extra`
    chapters (e.g. the template) are added to that copy's table of contents only, and `pages`
    (name -> Markdown, e.g. the dry run's) are written there as its first part."""
    if out.resolve() == BOOK.resolve():
        if extra or pages:
            raise DiffpruneError("extra chapters and pages go into a copy of the book (--out), not book/")
        return BOOK
    shutil.copytree(BOOK, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_build", "*.ipynb", ".*"))
    if extra or pages:
        t = toc(out)
        if extra:
            t["parts"].append({"caption": "Not in the published book", "chapters": [
                {"file": EXECUTED + name} for name in extra]})
        for name, text in (pages or {}).items():
            write_bytes_atomic(out / f"{name}.md", text.encode())
        if pages:
            t["parts"].insert(0, {"caption": "This build", "chapters": [{"file": name} for name in pages]})
        write_bytes_atomic(out / "_toc.yml", yaml.safe_dump(t, sort_keys=False).encode())
    return out


def check_evidence(book_dir: Path, names: list[str], log: Path) -> Path:
    """The verdicts the pages just executed rendered (`log`), merged into the book's evidence log
    with the other pages' (`EVIDENCE`), which must show one verdict per comparison: else one error
    naming the first conflict."""
    path = book_dir / EVIDENCE
    kept = [e for e in evidence.read(path, markers=True) if e["page"] not in names] if path.is_file() else []
    lines = kept + (evidence.read(log, markers=True) if log.is_file() else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, "".join(json.dumps(e) + "\n" for e in lines).encode())
    entries = [e for e in lines if not e.get("opened")]
    found = evidence.conflicts(entries) + [f"{e}: inconclusive without its detectable difference"
                                           for e in evidence.undetectable(entries)]
    if found:
        raise DiffpruneError(f"{len(found)} verdict(s) disagree with the book's evidence ({path}); "
                             f"the first: {found[0]}")
    return path


def render(profile: str, overrides: dict | None = None, chapters_to_run: list[str] | None = None,
           out: Path | None = None, extra: tuple[str, ...] = (), recompute: bool = False, build: bool = True,
           progress: bool = True, pages: dict[str, str] | None = None, plan_only: bool = False,
           yes: bool = False) -> Path | None:
    """Execute the chapters (their declared work first, here, after its plan: `plan.run`) and build
    the HTML. `plan_only`: print the plan and stop."""
    overrides = overrides or {}
    every = chapters(BOOK) + [n for n in extra if n not in chapters(BOOK)]  # the staged copy's, before staging
    names = chapters_to_run or every
    unknown = [n for n in names if n not in every]
    if unknown:
        raise DiffpruneError(f"unknown chapter(s) {', '.join(unknown)}; the book has {', '.join(every)}")
    check_parameters(profile, overrides, names)
    # --recompute: every step once in this run (its id in each record), and only in this call
    with study.environment(DIFFPRUNE_RECOMPUTE=uuid.uuid4().hex[:12] if recompute
                           else os.environ.get("DIFFPRUNE_RECOMPUTE")):
        if not plan.run(names, profile, overrides, only_plan=plan_only, yes=yes):
            return None  # a plan writes nothing: the copy of the book is staged only for a run
        book_dir = stage(out, extra, pages) if out else BOOK
        with tempfile.TemporaryDirectory() as tmp, study.environment(**{
                evidence.LOG: str(Path(tmp) / "log"), evidence.BOOK_LOG: str(book_dir / EVIDENCE)}):
            for name in names:
                start = time.perf_counter()
                execute_chapter(name, profile, overrides, book_dir)
                if progress:
                    print(f"chapter {name}: executed in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            check_evidence(book_dir, names, Path(tmp) / "log")
    missing = [c for c in every if not (book_dir / "chapters" / f"{c}.ipynb").is_file()]
    if build and missing:
        raise DiffpruneError(f"cannot build: chapter(s) {', '.join(missing)} never executed; run without --chapter")
    return build_html(book_dir) if build else None
