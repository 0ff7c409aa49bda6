"""The evidence log: every verdict the book shows, one line each, and the check that one comparison
has one verdict wherever it is shown.

A comparison is identified by what it compares, not by its labels: the metric and, per seed, the
two sample sets (`Verdict.pairs`: cache keys). Two pages that show the same two rows on the same
metric share a pair, so they must show the same difference, interval and seed set; a verdict that
reads only some of the seeds another page pairs over is caught too. The labels ("diff-pruning",
"Taylor, T=0.05", ...) differ between pages and are kept for the message only.

While `DIFFPRUNE_EVIDENCE` names a file, `verdicts.table` and `verdicts.sentence` (the only places a
verdict becomes text) append what they render to it; `DIFFPRUNE_PAGE` names the page (set by
`book.execute_chapter`, and inherited by its kernel). Nothing is written without the variable.
*Findings* reads the research pages' entries (`so_far`) to say how many verdicts the book shows and
how many chance alone would put beyond the noise (`tally`).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

LOG, PAGE = "DIFFPRUNE_EVIDENCE", "DIFFPRUNE_PAGE"
BOOK_LOG = "DIFFPRUNE_BOOK_EVIDENCE"  # the book's log from earlier builds (pages this run does not execute)
SAME = 1e-9  # two renderings of one computation agree to the bit; this only absorbs JSON round-trips


def entry(v) -> dict:
    """One verdict as the log keeps it."""
    return {"page": os.environ.get(PAGE, ""), "a": v.a, "b": v.b, "metric": v.metric, "where": v.where,
            "difference": v.difference, "low": v.low, "high": v.high, "n": v.n, "interval": v.interval,
            "kind": v.kind.value, "margin": v.margin, "resolution": v.resolution, "seeds": list(v.seeds),
            "pairs": [list(p) for p in v.pairs]}


def shown(found) -> None:
    """Log verdicts that are being rendered (a no-op unless `DIFFPRUNE_EVIDENCE` is set)."""
    path = os.environ.get(LOG)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        for v in found:
            f.write(json.dumps(entry(v), allow_nan=True) + "\n")


def opened(page: str) -> None:
    """Log that `page` is being executed: a page whose verdicts are none is still a page built (the
    tally needs to tell it from one never built). A no-op unless `DIFFPRUNE_EVIDENCE` is set."""
    path = os.environ.get(LOG)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"page": page, "opened": True}) + "\n")


def read(path: Path, markers: bool = False) -> list[dict]:
    """The log's verdicts (and, with `markers`, the lines saying which pages were executed)."""
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines if markers else [e for e in lines if not e.get("opened")]


def _oriented(e: dict, flip: bool) -> tuple:
    """(difference, low, high, pairs) read as a − b (flip: the entry compares b with a)."""
    pairs = {(s, x, y) for s, x, y in e["pairs"]}
    if not flip:
        return e["difference"], e["low"], e["high"], pairs
    return -e["difference"], -e["high"], -e["low"], {(s, y, x) for s, x, y in pairs}


def _close(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= SAME * max(1.0, abs(x), abs(y))


def _label(e: dict) -> str:
    return f"{e['page'] or '?'}: {e['a']} vs {e['b']} ({e['metric']}, {e['where']}, seeds {e['seeds']})"


def conflicts(entries: list[dict]) -> list[str]:
    """Every pair of entries that compare the same two sample sets on one metric but show a different
    difference, interval, interval kind or set of paired seeds; and every entry without an identity."""
    out = [f"{_label(e)}: no sample sets to identify it" for e in entries
           if not e["pairs"] or not all(x and y for _, x, y in e["pairs"])]
    first: dict[tuple, int] = {}  # (metric, seed, a, b) → the first entry that pairs them
    told: set[tuple[int, int]] = set()
    for i, e in enumerate(entries):
        for s, x, y in e["pairs"]:
            for key, flip in (((e["metric"], s, x, y), False), ((e["metric"], s, y, x), True)):
                j = first.get(key)
                if j is None or (j, i) in told:
                    continue
                told.add((j, i))
                other = entries[j]
                mine, theirs = _oriented(e, flip), _oriented(other, False)
                if mine[3] != theirs[3]:
                    out.append(f"{_label(e)} and {_label(other)}: the same comparison over different seed sets")
                elif e["interval"] != other["interval"] or not all(map(_close, mine[:3], theirs[:3])):
                    out.append(f"{_label(e)} and {_label(other)}: the same comparison with different values "
                               f"({mine[0]:+.4g} vs {theirs[0]:+.4g})")
            first.setdefault((e["metric"], s, x, y), i)
    return out


def undetectable(entries: list[dict]) -> list[str]:
    """Inconclusive entries that do not carry the difference their data could resolve (one seed has
    no interval over seeds at all, and says so instead)."""
    return [_label(e) for e in entries if e["kind"] == "inconclusive" and not math.isfinite(e["resolution"])
            and e["n"] >= 2]


def so_far(pages: list[str]) -> list[dict] | None:
    """The verdicts `pages` show in the book being built: this run's (the log) over the book's earlier
    ones (`BOOK_LOG`, set by `book.render`); None where a page has none in either (not built, or read
    outside a book build)."""
    log = os.environ.get(LOG)
    current = read(Path(log), markers=True) if log and Path(log).is_file() else []
    ran = {e["page"] for e in current}
    book = os.environ.get(BOOK_LOG)
    earlier = ([e for e in read(Path(book), markers=True) if e["page"] not in ran]
               if book and Path(book).is_file() else [])
    entries = [e for e in earlier + current if e["page"] in pages]
    built = {e["page"] for e in entries}
    return [e for e in entries if not e.get("opened")] if built == set(pages) else None


def tally(entries: list[dict], alpha: float = 0.05) -> dict:
    """How many distinct comparisons the entries show (one per metric and set of sample-set pairs),
    how many of them exclude 0 at 95 % each (better, worse, or equivalent and different), how many
    chance alone would give if no difference anywhere were real (alpha of them), and the binomial
    probability of at least as many (comparisons sharing rows are not independent: a rough scale)."""
    from scipy import stats
    distinct = {(e["metric"], tuple(sorted(map(tuple, e["pairs"])))): e for e in entries}
    n = len(distinct)
    beyond = sum(1 for e in distinct.values() if e["low"] > 0 or e["high"] < 0)
    return {"n": n, "beyond": beyond, "expected": alpha * n,
            "p_at_least": float(stats.binom.sf(beyond - 1, n, alpha)) if n else float("nan")}
