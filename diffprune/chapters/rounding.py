"""RQ3's channel rounding: what keeping every pruned width a multiple of `rounding_multiple` (the
widths GPU kernels favour; `benchmarks/speed_levers.py` times what it buys) costs in quality.

Per ratio of `rounding_ratios`, RQ1's reference Diff-Pruning row (its threshold, finetune, samples
and seeds) is pruned at that ratio twice, with `round_to` 1 (the paper's uniform ratio) and with the
multiple. Where the two prunes of the first seed keep the same channels, they are one model and
rounding costs nothing there by construction (the widths are set by the ratio and the groups, not by
the importance, so this holds for every seed). Elsewhere the rounded rows are read against the
unrounded ones paired by seed, on FD and on SSIM to the teacher, with the margins every comparison of
this book uses. The rule, fixed before the numbers: rounding costs quality at a ratio where either
reading is *worse* after Holm's adjustment over every ratio's two readings; it is free where both are
*equivalent* (or *better*); otherwise what it costs is not resolved by these seeds.
"""
from __future__ import annotations

from .. import evaluation, pipeline, study, verdicts
from ..artifacts import listed
from ..chapter import Parameters
from .rq1 import reference_row

METRICS = ("fd", "ssim")


def at_ratio(p: Parameters, ratio: float) -> Parameters:
    return p.replace(ratio=ratio)


def label(p: Parameters, round_to: int) -> str:
    return f"{reference_row(p)}, round-to {round_to}"


def model(p: Parameters, ratio: float, seed: int, round_to: int):
    """RQ1's reference row pruned at `ratio` with every width a multiple of `round_to`, finetuned."""
    return evaluation.finetuned_model(at_ratio(p, ratio), "diff-pruning", seed, p.reference_threshold,
                                      round_to=round_to)


def prune_reports(p: Parameters, ratio: float) -> tuple[dict, dict]:
    """The first seed's prune reports at `ratio`, unrounded and rounded."""
    q = at_ratio(p, ratio)
    return tuple(evaluation.pruned_model(q, "diff-pruning", p.seeds[0], p.reference_threshold, round_to=k)
                 .result("prune_report.json") for k in (1, p.rounding_multiple))


def same_model(p: Parameters, ratio: float) -> bool:
    """Whether rounding keeps exactly the channels the unrounded prune keeps at `ratio`."""
    one, rounded = prune_reports(p, ratio)
    if isinstance(one, study.Unknown) or isinstance(rounded, study.Unknown):
        # a plan: decided once both prunes are computed (a later round lists the rows), so that no step
        # is listed that the job may not reach (the Dask engine fails a task its job does not reach)
        return True
    return one["widths_after"] == rounded["widths_after"] and one["removed"] == rounded["removed"]


def rounding_rows(p: Parameters, ratio: float, seed: int) -> list[dict]:
    """The unrounded and the rounded row of one seed at `ratio`; none where rounding changes nothing."""
    if same_model(p, ratio):
        return []
    q, t = at_ratio(p, ratio), pipeline.teacher(p.teacher)
    return [{"row": label(p, k), "ratio": ratio, "round_to": k,
             **evaluation.evaluate(model(p, ratio, seed, k), q, seed, teacher=t)}
            for k in (1, p.rounding_multiple)]


def rounding_verdicts(p: Parameters, ratio: float) -> list[verdicts.Verdict]:
    """The rounded rows against the unrounded ones at `ratio`, FD and SSIM, paired by seed (with one
    seed, FD by a paired bootstrap over its samples: a cached step); none where they are one model."""
    if same_model(p, ratio):
        return []
    q, k = at_ratio(p, ratio), p.rounding_multiple
    rows = [r for s in p.seeds for r in rounding_rows(p, ratio, s)]

    def models(seed: int) -> tuple:
        return model(p, ratio, seed, k), model(p, ratio, seed, 1)
    return [evaluation.compare(q, [r for r in rows if r["round_to"] == k], [r for r in rows if r["round_to"] == 1],
                               metric, a=f"{label(p, k)} (r={ratio:g})", b=f"{label(p, 1)} (r={ratio:g})",
                               where=p.dataset, models=models)
            for metric in METRICS]


def rounding_jobs(p: Parameters) -> list:
    return ([(rounding_rows, (p, r, s)) for r in p.rounding_ratios for s in p.seeds]
            + [(rounding_verdicts, (p, r)) for r in p.rounding_ratios])


def _widths(report: dict) -> str:
    return ", ".join(map(str, sorted(set(report["widths_after"].values()))))


def rounding_section(p: Parameters) -> dict | None:
    """Per ratio: the widths and MACs with and without rounding, and the two paired readings (Holm's
    adjustment over the whole family); one sentence per ratio. None when the profile checks no ratio."""
    import pandas as pd
    if not p.rounding_ratios:
        return None
    table, read = [], {}
    for ratio in p.rounding_ratios:
        one, rounded = prune_reports(p, ratio)
        table.append({"ratio": f"{ratio:g}", "widths, round-to 1": _widths(one),
                      f"widths, round-to {p.rounding_multiple}": _widths(rounded),
                      "MACs, round-to 1": f"×{one['macs_fraction']:.2f}",
                      f"MACs, round-to {p.rounding_multiple}": f"×{rounded['macs_fraction']:.2f}"})
        read[ratio] = rounding_verdicts(p, ratio)
    family = [v for found in read.values() for v in found]
    adjusted = iter(verdicts.adjusted(family))
    read = {r: [next(adjusted) for _ in found] for r, found in read.items()}
    for entry, ratio in zip(table, p.rounding_ratios, strict=True):
        found = {v.metric: v for v in read[ratio]}
        for metric in METRICS:
            v = found.get(metric)
            entry[f"{metric.upper()}: round-to {p.rounding_multiple} − round-to 1"] = (
                f"{verdicts.kind_text(v)}: {verdicts.difference_text(v)}" if v else "the same model: no difference")
    untested = sorted(set(timed_rounding_ratios()) - set(p.rounding_ratios))
    return {"table": pd.DataFrame(table).set_index("ratio"), "reading": reading(p, read) + (
        f" Not measured in quality: rounding at ratio{'s' if len(untested) > 1 else ''} "
        f"{listed(f'{r:g}' for r in untested)}, where the levers table times rounded prunes for speed and the "
        "widths do change (not among the ratios this check lists)."
        if untested else "")}


def timed_rounding_ratios() -> list[float]:
    """The ratios of the rounded prunes in the recorded runs of benchmarks/speed_levers.py."""
    import json

    from .speed import levers_records
    return sorted({row["prune"]["ratio"] for path in levers_records() for row in json.loads(path.read_text())["rows"]
                   if row.get("prune", {}).get("round_to", 1) > 1})


def reading(p: Parameters, read: dict[float, list[verdicts.Verdict]]) -> str:
    """One sentence per ratio, by the rule in this module's docstring."""
    k, out = p.rounding_multiple, []
    for ratio, found in read.items():
        if not found:
            out.append(f"At ratio {ratio:g} every pruned width is already a multiple of {k}: the rounded prune "
                       "keeps the same channels, so rounding costs nothing there.")
            continue
        kinds = {v.kind for v in found}
        said = " ".join(verdicts.sentence(v) for v in found)
        if verdicts.Kind.WORSE in kinds:
            verdict = f"rounding to {k} costs quality at this ratio"
        elif kinds <= {verdicts.Kind.EQUIVALENT, verdicts.Kind.BETTER}:
            verdict = f"rounding to {k} is free at this ratio"
        else:
            paired = ", ".join(map(str, sorted({s for v in found for s in v.seeds})))
            verdict = f"what rounding to {k} costs at this ratio is not resolved by seeds {paired}"
        out.append(f"At ratio {ratio:g} (Holm-adjusted over {sum(map(len, read.values()))} readings): {said} "
                   f"By the rule fixed before the numbers, {verdict}.")
    return " ".join(out)
