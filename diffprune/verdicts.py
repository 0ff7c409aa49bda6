"""Verdicts: how one row stands against another on one metric, as a value, never as a sentence.

Two rows at the same seed share the importance batch and its noise, the finetune's data order and
noise, and the starting noise of every sample index, so they are compared *paired*:

- over seeds, by the per-seed difference of the metric (its mean and Student-t interval, n = seeds);
- within one seed, by a paired bootstrap over sample indices (`pipeline.paired_fd`): each replicate
  resamples the indices once and takes both sets at them, so the interval is of the difference.

A `Verdict` carries the difference a − b, its 95% interval and its kind, and one of four readings:
*better* / *worse* (the interval excludes 0 on that side), *equivalent* (the whole interval lies
within ±margin: a difference too small to matter, whichever its sign), *inconclusive* (neither).
The margins are the profile's `equivalence_margins`, with their reasons written beside them there.
`table` and `sentence` are the only places a verdict becomes text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from . import evidence
from .uncertainty import mean_ci


class Kind(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    EQUIVALENT = "equivalent"
    INCONCLUSIVE = "inconclusive"


SEEDS = "95% t over seeds, paired"           # the interval kinds a verdict can carry
BOOTSTRAP = "95% paired bootstrap over samples"
LOWER_IS_BETTER = {"fd": True, "ssim": False, "detail": False, "content": False, "kappa": False}
RELATIVE = {"fd"}  # margins given as a fraction of the reference row's value; the others are absolute
DIGITS = {"fd": 1}  # decimals shown; 3 for the metrics on [0, 1]


@dataclass(frozen=True)
class Verdict:
    a: str                 # the row judged
    b: str                 # the row it is judged against
    metric: str
    difference: float      # a − b
    low: float             # its 95% interval
    high: float
    n: int                 # seeds (over seeds) or sample pairs (bootstrap)
    interval: str          # SEEDS or BOOTSTRAP
    margin: float          # ±margin, in the metric's units
    kind: Kind
    where: str = ""        # e.g. the teacher's data set
    reference: float = math.nan  # b's value (mean over the paired seeds): what a relative margin is of
    pairs: tuple[tuple[int, str, str], ...] = ()  # (seed, a's sample set, b's): what is compared (`evidence`)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(sorted({s for s, _, _ in self.pairs}))

    @property
    def relative(self) -> float:
        """The difference as a fraction of b's value."""
        return self.difference / self.reference if self.reference else math.nan

    @property
    def resolution(self) -> float:
        """The interval's half-width: differences much smaller than it cannot be told from 0 with
        these seeds (or samples), and equivalence within the margin is out of reach unless it is
        below the margin."""
        return (self.high - self.low) / 2

    @property
    def different(self) -> bool:
        """Whether the interval excludes 0 (also where it lies within the margin: both readings hold)."""
        return self.low > 0 or self.high < 0

    def p_value(self, margin: float | None = None) -> float:
        """Two-sided p of a − b = 0; with `margin`, the equivalence test's p (both one-sided tests of
        a − b beyond ±margin, the larger: equivalent at level alpha where it is below alpha / 2, as
        the 95 % interval reads it). From the interval: each side's distance from the difference over
        the 97.5 % quantile of Student's t with n − 1 degrees of freedom (over seeds) or of the normal
        (bootstrap) is that side's standard error."""
        from scipy import stats
        if math.isnan(self.low) or math.isnan(self.high) or self.n < 2:
            return math.nan
        dist = stats.t(self.n - 1) if self.interval == SEEDS else stats.norm()
        q, d = dist.ppf(0.975), self.difference
        # each side's own standard error: a bootstrap's percentile interval need not be symmetric
        below, above = (d - self.low) / q, (self.high - d) / q

        def sf(distance: float, se: float) -> float:  # P(beyond `distance` standard errors on one side)
            return float(dist.sf(distance / se)) if se > 0 else (0.0 if distance > 0 else 1.0)
        if margin is None:
            return min(1.0, 2 * (sf(d, below) if d > 0 else sf(-d, above)))
        return max(sf(d + margin, below), sf(margin - d, above))


def judge(low: float, high: float, margin: float, lower_is_better: bool) -> Kind:
    """The reading an interval of a − b supports (margin ≥ 0; NaN bounds: inconclusive)."""
    if math.isnan(low) or math.isnan(high):
        return Kind.INCONCLUSIVE
    if -margin <= low and high <= margin:
        return Kind.EQUIVALENT
    if high < 0:
        return Kind.BETTER if lower_is_better else Kind.WORSE
    if low > 0:
        return Kind.WORSE if lower_is_better else Kind.BETTER
    return Kind.INCONCLUSIVE


def holm(p_values: list[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down rule: which of a family's hypotheses are rejected at family-wise level
    `alpha` (the smallest p against alpha / m, the next against alpha / (m − 1), ... until one
    fails; NaN never rejects)."""
    order = sorted(range(len(p_values)), key=lambda i: (math.isnan(p_values[i]), p_values[i]))
    rejected, m = [False] * len(p_values), len(p_values)
    for rank, i in enumerate(order):
        if math.isnan(p_values[i]) or p_values[i] > alpha / (m - rank):
            break
        rejected[i] = True
    return rejected


def adjusted(family: list[Verdict], alpha: float = 0.05) -> list[Verdict]:
    """The family's verdicts read with Holm's adjustment: *better*/*worse* where the difference
    from 0 survives it, *equivalent* where the equivalence test within the margin does (both
    families of tests adjusted over the family's size), else *inconclusive*."""
    from dataclasses import replace
    differs = holm([v.p_value() for v in family], alpha)
    # the equivalence test at alpha / 2, as `judge` reads it: the 95 % interval within the margin
    within = holm([v.p_value(v.margin) if v.margin > 0 else math.nan for v in family], alpha / 2)
    out = []
    for v, d, e in zip(family, differs, within, strict=True):
        lower_is_better = LOWER_IS_BETTER[v.metric]
        kind = (Kind.EQUIVALENT if e else (Kind.BETTER if (v.difference < 0) == lower_is_better else Kind.WORSE)
                if d else Kind.INCONCLUSIVE)
        out.append(replace(v, kind=kind))
    return out


def margin_of(metric: str, margins: dict, reference: float) -> float:
    m = margins.get(metric, 0.0)
    return abs(m * reference) if metric in RELATIVE else m


def across_seeds(rows_a: list[dict], rows_b: list[dict], metric: str, margins: dict, *, a: str = "",
                 b: str = "", where: str = "") -> Verdict:
    """`a` against `b` from rows that carry `seed` and `metric`: the per-seed difference over the
    seeds both have a value for (with one such seed the interval is undefined: inconclusive)."""
    va = {r["seed"]: r[metric] for r in rows_a if _number(r.get(metric))}
    vb = {r["seed"]: r[metric] for r in rows_b if _number(r.get(metric))}
    seeds = sorted(set(va) & set(vb))
    ida, idb = ({r["seed"]: _identity(r) for r in rows} for rows in (rows_a, rows_b))
    diffs = [va[s] - vb[s] for s in seeds]
    ref = sum(vb[s] for s in seeds) / len(seeds) if seeds else math.nan
    ci = mean_ci(diffs) if diffs else {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    m = margin_of(metric, margins, ref)
    return Verdict(a or _label(rows_a), b or _label(rows_b), metric, ci["mean"], ci["ci_low"], ci["ci_high"],
                   len(seeds), SEEDS, m, judge(ci["ci_low"], ci["ci_high"], m, LOWER_IS_BETTER[metric]), where, ref,
                   tuple((s, ida[s], idb[s]) for s in seeds))


def from_bootstrap(result: dict, metric: str, margins: dict, *, a: str, b: str, reference: float, seed: int,
                   where: str = "") -> Verdict:
    """A verdict from a paired bootstrap's result (`pipeline.paired_fd`'s: `value`, `ci_low`, `ci_high`,
    `n`, and the sample sets `a`, `b` of `seed`)."""
    m = margin_of(metric, margins, reference)
    return Verdict(a, b, metric, result["value"], result["ci_low"], result["ci_high"], result["n"], BOOTSTRAP, m,
                   judge(result["ci_low"], result["ci_high"], m, LOWER_IS_BETTER[metric]), where, reference,
                   ((seed, result["a"], result["b"]),))


def _number(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _identity(row: dict) -> str:
    """What a row's metrics were measured on: its sample set (or its model, for rows without one)."""
    return row.get("samples") or row.get("model") or ""


def _label(rows: list[dict]) -> str:
    return rows[0].get("row", "") if rows else ""


# --- the one renderer ------------------------------------------------------------------------------

def _num(x: float, digits: int) -> str:
    return "–" if math.isnan(x) else f"{x:+.{digits}f}"


def difference_text(v: Verdict, digits: int | None = None) -> str:
    """`+12.3 (+4.1 to +20.5)`, and for a relative margin the difference in % of b's value."""
    digits = DIGITS.get(v.metric, 3) if digits is None else digits
    # an interval that excludes 0 is printed so that it visibly does: "+0.0 to +2.1" reads as touching it
    near = v.low if v.low > 0 else v.high if v.high < 0 else None
    while near is not None and digits < 6 and round(abs(near), digits) == 0:
        digits += 1
    text = f"{_num(v.difference, digits)} ({_num(v.low, digits)} to {_num(v.high, digits)})"
    if v.metric in RELATIVE and not math.isnan(v.relative):
        text += f", {100 * v.relative:+.1f}%"
    return text


def kind_text(v: Verdict, digits: int | None = None) -> str:
    """The reading; an equivalence that also excludes 0 says so, and an inconclusive one says what
    its data could resolve against the margin (whether equivalence was in reach)."""
    digits = DIGITS.get(v.metric, 3) if digits is None else digits
    if v.kind is Kind.INCONCLUSIVE and not math.isnan(v.resolution):
        return f"inconclusive (resolves ±{v.resolution:.{digits}f}; margin ±{v.margin:.{digits}f})"
    if v.kind is Kind.INCONCLUSIVE and v.n < 2:
        return f"inconclusive (one {'seed' if v.interval == SEEDS else 'sample'}: no interval)"
    if v.kind is not Kind.EQUIVALENT:
        return v.kind.value
    if v.metric in RELATIVE and v.reference:
        text = f"equivalent within ±{100 * v.margin / abs(v.reference):.0f}% (±{v.margin:.{digits}f})"
    else:
        text = f"equivalent within ±{v.margin:.{digits}f}"
    if v.different:
        text += f" and {(Kind.BETTER if (v.difference < 0) == LOWER_IS_BETTER[v.metric] else Kind.WORSE).value}"
    return text


def _paired_over(vs: list[Verdict]) -> str:
    """'3/5 seeds', '1000 samples', or both where a column pairs some comparisons by seed and others by
    sample index (one seed's bootstrap): each count named with its own unit."""
    parts = []
    for unit, kind in (("seeds", True), ("samples", False)):
        ns = sorted({v.n for v in vs if (v.interval == SEEDS) == kind})
        if ns:
            parts.append(f"{'/'.join(map(str, ns))} {unit}")
    return ", ".join(parts)


def table(verdicts: list[Verdict], digits: int | None = None):
    """The comparisons as the book shows them (a pandas DataFrame): one row per comparison (b and the
    metric; a too where the rows do not all share it or there is one row, else it is named in the
    caption: a lone "vs b" reads as a label with its subject missing), one column
    per place (`where`, e.g. the teacher) with what it is paired over, each cell the reading and the
    difference a − b with its 95% interval."""
    import pandas as pd
    evidence.shown(verdicts)
    places = list(dict.fromkeys(v.where for v in verdicts))
    one_a = len(verdicts) > 1 and len({v.a for v in verdicts}) == 1
    def header_of(w: str) -> str:  # a place that ends in its own brackets takes the count inside them
        over = _paired_over([v for v in verdicts if v.where == w])
        return f"{w[:-1]}; {over})" if w.endswith(")") else f"{w} ({over})"
    header = {w: header_of(w) for w in places}
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for v in verdicts:
        cells.setdefault((f"vs {v.b}" if one_a else f"{v.a} vs {v.b}", v.metric), {})[
            header[v.where]] = f"{kind_text(v, digits)}: {difference_text(v, digits)}"
    out = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=list(header.values())).fillna("–")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["comparison", "metric"])
    return out


def sentence(v: Verdict, digits: int | None = None) -> str:
    """One short sentence, where a sentence reads better than a table row."""
    evidence.shown([v])
    return (f"{v.a} against {v.b} ({v.metric}, {v.where + ', ' if v.where else ''}{v.interval}, n = {v.n}): "
            f"{difference_text(v, digits)} — {kind_text(v, digits)}.")
