"""Every chapter (and the template) executes in the smoke profile, the book builds strictly, and
each page shows its figures in headless Chromium. One smoke build serves all tests; the study it
renders from is computed on two Dask workers (tests/conftest.py), and tests/test_study_on_dask.py
checks that study against the same computed in one process."""
import json
import shutil

import nbformat
import pytest

import diffprune.study
from diffprune.book import chapters, render
from diffprune.chapter import spec
from diffprune.chapters import exercises
from diffprune.cli import main
from diffprune.profiles import read

CHROMIUM = shutil.which("chromium")
TEMPLATE = "_template"
SOLUTIONS = "solutions"  # built only on request (book --solutions), like the template


@pytest.fixture(scope="module")
def study(smoke_study):
    mp = pytest.MonkeyPatch()
    mp.setenv("DIFFPRUNE_STUDY", str(smoke_study))
    yield smoke_study
    mp.undo()


def _computed() -> set:
    return {(r["step"], r["key"]) for r in diffprune.study.records()}


@pytest.fixture(scope="module")
def rendered(study, tmp_path_factory):
    """The smoke book, rendered from the study the cluster computed; and the steps its rendering computed."""
    out = tmp_path_factory.mktemp("book")
    before = _computed()
    index = render("smoke", out=out, extra=(TEMPLATE, SOLUTIONS), progress=False)
    return out, index, _computed() - before


@pytest.fixture(scope="module")
def book(rendered):
    return rendered[:2]


def test_the_book_renders_from_the_study_s_cache_computing_nothing(rendered):
    *_, computed = rendered
    assert not computed, f"rendering computed {len(computed)} steps the study did not, e.g. {sorted(computed)[:3]}"


def test_every_chapter_and_the_template_execute_without_errors(book):
    out, _ = book
    assert chapters(out) == [*chapters(), TEMPLATE, SOLUTIONS]  # the staged toc lists them too
    assert SOLUTIONS not in chapters()  # the published book has no solutions
    for name in chapters(out):
        nb = nbformat.read(out / "chapters" / f"{name}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert outputs and not [o for o in outputs if o.output_type == "error"], name
        hidden = [c for c in nb.cells if {"injected-parameters", "parameters"} & set(c.metadata.get("tags", []))]
        assert len(hidden) == 2 and all("remove-cell" in c.metadata["tags"] for c in hidden), name
        injected = next(c for c in hidden if "injected-parameters" in c.metadata["tags"])
        assert 'profile = "smoke"' in injected.source


def test_teachers_chapter_shows_every_teacher(book):
    out, _ = book
    nb = nbformat.read(out / "chapters" / "teachers.ipynb", as_version=4)
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    more = read("smoke")["more_teachers"]
    assert more, "the smoke profile must exercise more_teachers"
    for path in more:
        assert f"<th>{path.rstrip('/').split('/')[-1]}</th>" in html, path


def test_book_builds_strictly(book):
    _, index = book
    assert index.is_file()
    html = index.parent
    pages = ["intro.html", "reproducing.html", "working_with_chapters.html", "glossary.html",
             *(f"chapters/{name}.html" for name in chapters()), f"chapters/{TEMPLATE}.html"]
    for page in pages:
        assert (html / page).is_file(), page
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()


# In the page's visible text outside code: what a rendering failure leaves behind.
VISIBLE_PROSE = """(() => {
  const main = document.querySelector('article') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, .highlight, script, style, mjx-container, .MathJax').forEach(e => e.remove());
  return copy.innerText;
})()"""
# Elements wider than the content column (scrolling wrappers do not count as fitting).
TOO_WIDE = """(() => {
  const column = (document.querySelector('article') || document.body).getBoundingClientRect();
  return Array.from(document.querySelectorAll('article table, article figure, article img, article .cell_output'))
    .filter(e => e.getBoundingClientRect().right > column.right + 2 || e.scrollWidth > e.clientWidth + 2)
    .map(e => e.tagName + (e.className ? '.' + String(e.className).split(' ')[0] : ''));
})()"""


def html_pages(html) -> list[str]:
    """Every page of a built book (not Sphinx's search and index pages, nor its static files)."""
    skip = ("genindex.html", "search.html")
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith("_") and p.name not in skip
                  and 'http-equiv="Refresh"' not in p.read_text()[:500])  # the root's redirect to the intro


def check_pages(html, pages: list[str]) -> dict[str, list[str]]:
    """Each page in real Chromium: what is wrong with it, by page (empty lists when nothing is)."""
    import re

    from playwright.sync_api import sync_playwright
    problems = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name in pages:
            page.goto((html / name).as_uri())
            page.wait_for_load_state("load")
            page.evaluate("window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
            found = []
            images = page.evaluate("Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])")
            found += [f"image not loaded: {src[:80]}" for src, ok in images if not ok]
            prose = page.evaluate(VISIBLE_PROSE)
            found += [f"raw {token!r}" for token in ("{glue", "{doc}", "{ref}", "`") if token in prose]
            found += [f"unrendered math: {m[:40]!r}" for m in re.findall(r"\$[^$\n]+\$", prose)]
            found += ["traceback or warning in the page" for t in ("Traceback (most recent call last)", "Warning:")
                      if t in prose]
            found += [f"wider than the column: {e}" for e in page.evaluate(TOO_WIDE)]
            cells = page.evaluate("Array.from(document.querySelectorAll('td, th')).map(c => c.textContent.trim())")
            found += [f"table cell cut short: {c[-40:]!r}" for c in cells if c.endswith("...")]
            problems[name] = found
        page.goto((html / "chapters" / "exercises.html").as_uri())
        toc = page.evaluate("Array.from(document.querySelectorAll('.bd-sidebar-secondary a.nav-link'))"
                            ".map(a => a.textContent.trim())")
        listed = sum(bool(re.match(r"\d\. ", t)) for t in toc)
        if listed != len(exercises.EXERCISES):
            problems["chapters/exercises.html"].append(f"its contents list {toc}, not every exercise")
        browser.close()
    return problems


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make test installs it as root)")
def test_every_page_renders_cleanly_in_chromium(request):
    """On the smoke build, or on the build DIFFPRUNE_BOOK_HTML names (the cpu book, the paper dry run;
    then no smoke build is made): no raw glue or role, no literal backtick or unrendered math in the
    prose, every image loaded, nothing wider than the column, no table cell cut short, and the
    exercises in the contents."""
    import os
    from pathlib import Path
    given = os.environ.get("DIFFPRUNE_BOOK_HTML")
    html = Path(given) if given else request.getfixturevalue("book")[1].parent
    problems = check_pages(html, html_pages(html))
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_verdict_the_book_shows_has_one_value_and_one_seed_set(request):
    """On the smoke build, or on the build DIFFPRUNE_BOOK_HTML names (the cpu book: `make book`): the
    evidence log beside the HTML holds every verdict the pages rendered; one comparison (the same
    sample sets, one metric) has one difference, interval and seed set on every page, and every
    inconclusive one carries what its data could resolve."""
    import os
    from pathlib import Path

    from diffprune import evidence
    given = os.environ.get("DIFFPRUNE_BOOK_HTML")
    html = Path(given) if given else request.getfixturevalue("book")[1].parent
    entries = evidence.read(html.parent / "evidence.jsonl")
    assert {"rq1", "rq2", "rq3", "ldm", "findings"} <= {e["page"] for e in entries}
    assert evidence.conflicts(entries) == [] and evidence.undetectable(entries) == []


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make test installs it as root)")
def test_pages_show_their_figures_in_chromium(book):
    from playwright.sync_api import sync_playwright
    html = book[1].parent
    expected_images = {"chapters/teachers.html": 3 + len(read("smoke")["more_teachers"]),
                       "chapters/rq1.html": 2, "chapters/rq2.html": 3, "chapters/ldm.html": 4}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, n_images in expected_images.items():
            page.goto((html / name).as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate("Array.from(document.images).map(i => i.src)")
            assert len([src for src in images if "_images" in src or src.startswith("data:image")]) >= n_images, name
        page.goto((html / "intro.html").as_uri())
        page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=10000)
        browser.close()


def test_bad_parameter_fails_before_any_chapter_runs_with_one_line(book, capsys):
    out, _ = book
    before = (out / "chapters" / "rq1.ipynb").read_bytes()
    code = main(["book", "--profile", "smoke", "--chapter", "rq1", "-p", "ratio", "1.5",
                 "--out", str(out), "--no-build"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "ratio" in err[0]
    assert (out / "chapters" / "rq1.ipynb").read_bytes() == before  # nothing half-written
    assert main(["book", "--profile", "smoke", "-p", "nonsense", "1", "--no-build"]) == 2
    assert main(["book", "--profile", "smoke", "-p", "features", "clip", "--no-build"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "features" in err[-1] and "effnet-l0@128" in err[-1]  # the library's own list


def test_changed_parameter_recomputes_only_what_depends_on_it(study):
    from diffprune.chapters import rq1

    def keys(step):
        return {r["key"] for r in diffprune.study.records(step)}

    base = spec("rq1").load("smoke")
    rq1.run(base, progress=False)
    before = {s: keys(s) for s in ("teacher", "prune", "finetune", "sample", "fd")}
    rq1.run(base.replace(finetune_steps=base.finetune_steps + 1), progress=False)
    after = {s: keys(s) for s in before}
    assert after["teacher"] == before["teacher"] and after["prune"] == before["prune"]
    n_pruned_rows = len(rq1.row_specs(base)) - 1
    assert len(after["finetune"] - before["finetune"]) == n_pruned_rows
    assert len(after["sample"] - before["sample"]) == n_pruned_rows  # the teacher's samples are reused
    rows = rq1.run(base, progress=False)  # back to the old parameters: everything is cached
    assert {s: keys(s) for s in before} == after
    json.dumps(rows)  # rows are plain data


@pytest.mark.parametrize("exercise", [e for e in exercises.EXERCISES if e.chapter], ids=lambda e: e.title)
def test_every_exercise_runs_its_parameter_set_in_smoke(book, exercise, tmp_path, registry):
    out, _ = book
    shutil.copytree(out, tmp_path / "book", ignore=shutil.ignore_patterns("_build"))
    render("smoke", exercise.overrides, chapters_to_run=[exercise.chapter], out=tmp_path / "book", build=False,
           progress=False)
    nb = nbformat.read(tmp_path / "book" / "chapters" / f"{exercise.chapter}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    assert exercise.command.startswith(f"python -m diffprune book --profile {exercise.profile} --chapter ")


def _glued(nb) -> dict:
    """Every glued value of an executed notebook: name -> its text and HTML forms."""
    out = {}
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = {k: v for k, v in o["data"].items() if k.endswith(("text/plain", "text/html"))}
    return out


def test_the_notebook_run_in_jupyter_gives_the_command_s_numbers(book, tmp_path):
    import jupytext
    import papermill

    from diffprune.paths import NOTEBOOKS, ROOT
    out, _ = book
    shutil.copytree(out, tmp_path / "book", ignore=shutil.ignore_patterns("_build"))
    assert main(["book", "--profile", "smoke", "--chapter", "rq1", "-p", "reference_threshold", "0.0",
                 "--no-build", "--out", str(tmp_path / "book")]) == 0
    command = _glued(nbformat.read(tmp_path / "book" / "chapters" / "rq1.ipynb", as_version=4))
    # as a Jupyter user runs it: the jupytext pairing, the override set in the parameters cell
    nbformat.write(jupytext.read(NOTEBOOKS / "rq1.py"), tmp_path / "rq1.ipynb")
    papermill.execute_notebook(str(tmp_path / "rq1.ipynb"), str(tmp_path / "ran.ipynb"), cwd=str(ROOT),
                               parameters={"profile": "smoke", "overrides": {"reference_threshold": 0.0}},
                               kernel_name="python3", progress_bar=False)
    notebook = _glued(nbformat.read(tmp_path / "ran.ipynb", as_version=4))
    reference = command["reference_row"]["application/papermill.record/text/plain"]
    assert "rq1_verdicts" in command and "diff-pruning T=0'" in reference  # the override took effect
    assert notebook == command


def test_an_exercise_criterion_shows_in_the_rq1_table(book, tmp_path, registry):
    out, _ = book
    shutil.copytree(out, tmp_path / "book", ignore=shutil.ignore_patterns("_build"))
    overrides = {"extensions": ["exercises/solutions/fisher_criterion.py"], "methods": ["magnitude", "fisher"]}
    render("smoke", overrides, chapters_to_run=["rq1"], out=tmp_path / "book", build=False, progress=False)
    nb = nbformat.read(tmp_path / "book" / "chapters" / "rq1.ipynb", as_version=4)
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "<th>fisher</th>" in html and "<th>magnitude</th>" in html


def _threads() -> tuple[int, list[int]]:
    import torch
    from threadpoolctl import threadpool_info
    return torch.get_num_threads(), [p["num_threads"] for p in threadpool_info()]


def test_a_study_job_runs_on_one_thread_for_torch_and_blas():
    import torch

    from diffprune.cli import _run_job
    before = torch.get_num_threads()
    try:
        torch_threads, blas = _run_job((_threads, ()))
    finally:
        torch.set_num_threads(before)  # a pool worker's setting, not the test session's
    assert torch_threads == 1 and blas and set(blas) == {1}
