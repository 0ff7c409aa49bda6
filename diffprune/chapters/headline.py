"""RQ3's headline: Diff-Pruning and magnitude pruning finetuned through the paper's window (10–20 %
of the teacher's steps), each checkpoint against the teacher paired by seed, with the paper's own
gap as the margin, judged at the one point the profile fixes (`headline_point`); the chapter is `rq3`.

With `control_row`, the teacher itself is finetuned through the same window (the control: what the
same compute does without pruning), and each pruned checkpoint is also read against the control's
at the same steps, so that the cost of pruning is not hidden by the training the finetune adds.
"""
from __future__ import annotations

from .. import evaluation, pipeline, verdicts
from ..chapter import Parameters
from .recovery import LABELS, profile_at, teacher_row, threshold_of


def headline_model(p: Parameters, method: str, seed: int, steps: int) -> pipeline.Artifact:
    """The teacher pruned with `method` at `headline_ratio` (not pruned for `evaluation.CONTROL`),
    finetuned for `steps` in the one run per method and seed that passes through every shorter
    headline checkpoint."""
    q = profile_at(p, p.headline_ratio, steps, p.recovery_samples)
    passing = tuple(s for s in p.headline_steps if s < steps)
    if method == evaluation.CONTROL:
        return evaluation.finetune_of(q, pipeline.teacher(p.teacher), seed, passing)
    return evaluation.finetuned_model(q, method, seed, threshold_of(p, method), passing=passing)


def methods(p: Parameters) -> list[str]:
    """The window's runs: Diff-Pruning's first (the headline's verdict rests on them), then the other
    methods, then the control (with `control_row`)."""
    return (sorted(p.headline_methods, key=lambda m: m != "diff-pruning")
            + ([evaluation.CONTROL] if p.control_row else []))


def label(method: str) -> str:
    return evaluation.CONTROL_LABEL if method == evaluation.CONTROL else LABELS.get(method, method)


def headline_rows(p: Parameters, method: str, seed: int) -> list[dict]:
    """One method's rows at every headline checkpoint for one seed, in finetune order."""
    trained = evaluation.trained_steps(p)
    return [{"row": f"{label(method)} @{steps}", "method": label(method),
             "ratio": p.headline_ratio, "steps": steps, "share": steps / trained,
             **evaluation.evaluate(headline_model(p, method, seed, steps),
                                   profile_at(p, p.headline_ratio, steps, p.recovery_samples), seed)}
            for steps in p.headline_steps]


def headline_jobs(p: Parameters) -> list:
    return [(teacher_row, (p, s)) for s in p.headline_seeds] + [
        (headline_rows, (p, m, s)) for m in methods(p) for s in p.headline_seeds]


def paper_gap(paper_dataset: str = "cifar10") -> float:
    """The paper's own "close to the teacher", as a fraction of the teacher's FID: its Diff-Pruning
    row at T = 0.05 against the teacher. The headline's margin is CIFAR-10's (MACs ×0.56 after 12.5%
    of the teacher's steps); CelebA-HQ's, much narrower, is shown beside it."""
    from ..published import paper_table
    t = paper_table(paper_dataset)
    dense = t.loc[t["method"] == "pretrained", "fid"].iloc[0]
    dp = t.loc[(t["method"] == "diff-pruning") & (t["threshold_T"] == 0.05), "fid"].iloc[0]
    return float(dp / dense - 1)


def paper_macs(paper_dataset: str = "cifar10") -> float:
    """The MACs fraction of the paper's Diff-Pruning row (T = 0.05) against its teacher, where the
    headline's "about 50 % fewer" was measured."""
    from ..published import paper_table
    t = paper_table(paper_dataset)
    dense = t.loc[t["method"] == "pretrained", "macs_G"].iloc[0]
    return float(t.loc[(t["method"] == "diff-pruning") & (t["threshold_T"] == 0.05), "macs_G"].iloc[0] / dense)


def headline_verdicts(p: Parameters, within: float) -> list[verdicts.Verdict]:
    """Each run (the control too) at each headline checkpoint against the teacher, paired by seed,
    with `within` (a fraction of the teacher's FD; the paper's own gap) as the margin: *equivalent* or
    *better* is "close to the teacher" as the paper means it; then, with the control, each pruned run
    against the control at the same checkpoint, with the same margin of the control's FD. `where`
    names the checkpoint."""
    dense = [teacher_row(p, s) for s in p.headline_seeds]
    rows = {m: [r for s in p.headline_seeds for r in headline_rows(p, m, s)] for m in methods(p)}

    def at(m: str, steps: int) -> list[dict]:
        return [r for r in rows[m] if r["steps"] == steps]

    def where(steps: int) -> str:
        return f"@{steps:,} ({100 * steps / evaluation.trained_steps(p):.3g}%)"

    out = [verdicts.across_seeds(at(m, steps), dense, "fd", {"fd": within}, a=label(m), b="teacher",
                                 where=where(steps)) for m in methods(p) for steps in p.headline_steps]
    if p.control_row:
        out += [verdicts.across_seeds(at(m, steps), at(evaluation.CONTROL, steps), "fd", {"fd": within},
                                      a=label(m), b=evaluation.CONTROL_LABEL, where=where(steps))
                for m in p.headline_methods for steps in p.headline_steps]
    return out


def at_point(p: Parameters, found: list[verdicts.Verdict], method: str = "diff-pruning",
             against: str = "teacher") -> verdicts.Verdict | None:
    """`method`'s verdict against `against` (the teacher, or the control) at `headline_point`; None
    where the verdicts hold no such comparison (no control run)."""
    mine = [v for v in found if v.a == method and v.b == against]
    return mine[p.headline_steps.index(p.headline_point)] if mine else None


def headline_section(p: Parameters) -> dict:
    """The verdict grid of the paper's window and the MACs of its prune."""
    t = pipeline.size(pipeline.teacher(p.teacher))["macs"]
    m = pipeline.size(headline_model(p, p.headline_methods[0], p.headline_seeds[0], p.headline_steps[0]))
    within = paper_gap()
    found = headline_verdicts(p, within)
    return {"verdicts": found, "table": verdicts.table(found), "within": within, "macs_fraction": m["macs"] / t,
            "seeds": len(p.headline_seeds)}
