"""RQ3's headline: Diff-Pruning and magnitude pruning finetuned through the paper's window (10–20 %
of the teacher's steps), each checkpoint against the teacher paired by seed, with the paper's own
gap as the margin, judged at the one point the profile fixes (`headline_point`); the chapter is `rq3`.
"""
from __future__ import annotations

from .. import evaluation, pipeline, verdicts
from ..chapter import Parameters
from .recovery import LABELS, profile_at, teacher_row, threshold_of, trained_steps


def headline_model(p: Parameters, method: str, seed: int, steps: int) -> pipeline.Artifact:
    """The teacher pruned with `method` at `headline_ratio`, finetuned for `steps` in the one run per
    method and seed that passes through every shorter headline checkpoint."""
    q = profile_at(p, p.headline_ratio, steps, p.recovery_samples)
    return evaluation.finetuned_model(q, method, seed, threshold_of(p, method),
                                      passing=tuple(s for s in p.headline_steps if s < steps))


def headline_rows(p: Parameters, method: str, seed: int) -> list[dict]:
    """One method's rows at every headline checkpoint for one seed, in finetune order."""
    trained = trained_steps(p)
    return [{"row": f"{LABELS.get(method, method)} @{steps}", "method": LABELS.get(method, method),
             "ratio": p.headline_ratio, "steps": steps, "share": steps / trained,
             **evaluation.evaluate(headline_model(p, method, seed, steps),
                                   profile_at(p, p.headline_ratio, steps, p.recovery_samples), seed)}
            for steps in p.headline_steps]


def headline_jobs(p: Parameters) -> list:
    """Diff-Pruning's runs first: the headline's verdict rests on them."""
    order = sorted(p.headline_methods, key=lambda m: m != "diff-pruning")
    return [(teacher_row, (p, s)) for s in p.headline_seeds] + [
        (headline_rows, (p, m, s)) for m in order for s in p.headline_seeds]


def paper_gap() -> float:
    """The paper's own "close to the teacher", as a fraction of the teacher's FID: its CIFAR-10
    Diff-Pruning row (T = 0.05, MACs ×0.56 after 12.5% of the teacher's steps) against the teacher."""
    from ..published import paper_table
    t = paper_table("cifar10")
    dense = t.loc[t["method"] == "pretrained", "fid"].iloc[0]
    dp = t.loc[(t["method"] == "diff-pruning") & (t["threshold_T"] == 0.05), "fid"].iloc[0]
    return float(dp / dense - 1)


def headline_verdicts(p: Parameters, within: float) -> list[verdicts.Verdict]:
    """Each method at each headline checkpoint against the teacher, paired by seed, with `within` (a
    fraction of the teacher's FD; the paper's own gap) as the margin: *equivalent* or *better* is
    "close to the teacher" as the paper means it. `where` names the checkpoint."""
    dense = [teacher_row(p, s) for s in p.headline_seeds]
    out = []
    for method in p.headline_methods:
        rows = [r for s in p.headline_seeds for r in headline_rows(p, method, s)]
        for steps in p.headline_steps:
            mine = [r for r in rows if r["steps"] == steps]
            out.append(verdicts.across_seeds(mine, dense, "fd", {"fd": within}, a=mine[0]["method"], b="teacher",
                                             where=f"@{steps:,} ({100 * mine[0]['share']:.3g}%)"))
    return out


def at_point(p: Parameters, found: list[verdicts.Verdict], method: str = "diff-pruning") -> verdicts.Verdict:
    """`method`'s verdict at `headline_point` (the verdicts as `headline_verdicts` orders them)."""
    mine = [v for v in found if v.a == method]
    return mine[p.headline_steps.index(p.headline_point)]


def headline_section(p: Parameters) -> dict:
    """The verdict grid of the paper's window and the MACs of its prune."""
    t = pipeline.size(pipeline.teacher(p.teacher))["macs"]
    m = pipeline.size(headline_model(p, p.headline_methods[0], p.headline_seeds[0], p.headline_steps[0]))
    within = paper_gap()
    found = headline_verdicts(p, within)
    return {"verdicts": found, "table": verdicts.table(found), "within": within, "macs_fraction": m["macs"] / t,
            "seeds": len(p.headline_seeds)}
