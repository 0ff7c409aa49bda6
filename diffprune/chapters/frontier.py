"""RQ3's sampler frontier: the teacher and the sweep's Diff-Pruning models under several samplers and
step counts, each point's distance against its measured time to draw 1,000 images, and each
pruned point against the best teacher point that costs no more time; the chapter is `rq3`.
"""
from __future__ import annotations

from .. import evaluation, pipeline, verdicts
from ..chapter import Parameters
from .recovery import model, profile_at, sampled_by, teacher_row
from .speed import speed_section


def samplers(p: Parameters) -> list[tuple[str, int]]:
    return [("ddim", s) for s in p.frontier_ddim_steps] + [("dpm-solver++", s) for s in p.frontier_dpm_steps]


def _frontier_point(p: Parameters, ratio: float | None, sampler: str, steps: int, seed: int):
    """(model, profile) of one frontier point: the teacher (ratio None) or the sweep's Diff-Pruning
    model at `ratio` after the longest finetune, and the profile that samples it `sampler`-`steps`."""
    if ratio is None:
        return pipeline.teacher(p.teacher), sampled_by(p.replace(n_samples=p.frontier_samples), sampler, steps)
    return (model(p, "diff-pruning", ratio, seed, p.recovery_steps[-1]),
            sampled_by(profile_at(p, ratio, p.recovery_steps[-1], p.frontier_samples), sampler, steps))


def frontier_rows(p: Parameters, ratio: float | None, seed: int) -> list[dict]:
    """The teacher (ratio None) or the sweep's Diff-Pruning model at `ratio` after the longest
    finetune, sampled by every sampler of the frontier."""
    rows = []
    for name, steps in samplers(p):
        if ratio is None:
            row = teacher_row(p, seed, p.frontier_samples, (name, steps))
        else:
            m, q = _frontier_point(p, ratio, name, steps, seed)
            row = {"row": f"diff-pruning r={ratio:g}", "method": "diff-pruning", "ratio": ratio,
                   **evaluation.evaluate(m, q, seed)}
        rows.append({**row, "sampler": name, "sampler_steps": steps})
    return rows


def frontier_pairs(p: Parameters, speed: list[dict]) -> list[tuple[tuple, tuple]]:
    """((ratio, sampler, steps), (None, sampler, steps)): each pruned point and the teacher point of
    lowest Fréchet distance among those that cost no more time (CPU timing), from the recorded rows."""
    seed = p.tradeoff_seeds[0]
    dense = [(r, seconds_per_1000(speed, "teacher", r["sampler_steps"])) for r in frontier_rows(p, None, seed)]
    out = []
    for ratio in p.frontier_ratios:
        for r in frontier_rows(p, ratio, seed):
            time = seconds_per_1000(speed, f"r={ratio:g}", r["sampler_steps"])
            cheaper = [t for t, s in dense if s <= time]
            if cheaper:
                t = min(cheaper, key=lambda x: x["fd"])
                out.append(((ratio, r["sampler"], r["sampler_steps"]), (None, t["sampler"], t["sampler_steps"])))
    return out


def _point_label(ratio: float | None, sampler: str, steps: int) -> str:
    return f"{'teacher' if ratio is None else f'r={ratio:g}'} {sampler}-{steps}"


def _comparisons(p: Parameters) -> list[tuple[tuple, tuple, dict, float, float]]:
    """(a, b, the paired bootstrap's result, FD(a) and FD(b) as the table reads them) of each pruned
    point against the best teacher point that costs no more time."""
    seed = p.tradeoff_seeds[0]
    out = []
    for a, b in frontier_pairs(p, speed_section(p)["rows"]):
        (ma, qa), (mb, qb) = _frontier_point(p, *a, seed), _frontier_point(p, *b, seed)
        sa, sb = evaluation.samples_of(ma, qa, seed), evaluation.samples_of(mb, qb, seed)
        result = pipeline.paired_fd(sa, sb, dataset=p.dataset, split="test", features=p.features,
                                    n_reference=p.n_reference, n_boot=p.n_boot).result("paired_fd.json")
        fa, fb = (pipeline.fd(x, dataset=p.dataset, split="test", features=p.features, n_reference=p.n_reference,
                              n_boot=p.n_boot).result("fd.json")["value"] for x in (sa, sb))
        out.append((a, b, result, fa, fb))
    return out


def frontier_verdicts(p: Parameters) -> list[verdicts.Verdict]:
    """Each pruned point against the best teacher point that costs no more time: the paired
    bootstrap of FD(pruned) − FD(teacher) over sample indices (one seed: sampling noise only)."""
    return [verdicts.from_bootstrap(result, "fd", p.equivalence_margins, a=_point_label(*a), b=_point_label(*b),
                                    reference=fb, seed=p.tradeoff_seeds[0], where="equal time or less")
            for a, b, result, _, fb in _comparisons(p)]


def redrawn(p: Parameters) -> str:
    """Whether the frontier's paired differences come from the very samples of the table's distances."""
    return evaluation.redrawn([(result, fa, fb) for _, _, result, fa, fb in _comparisons(p)])


def frontier_jobs(p: Parameters) -> list:
    return ([(frontier_rows, (p, r, s)) for s in p.tradeoff_seeds for r in [None, *p.frontier_ratios]]
            + [(frontier_verdicts, (p,))])


def seconds_per_1000(speed: list[dict], model_label: str, steps: int) -> float:
    """Seconds to draw 1,000 images with `steps` sampler steps, from the CPU timing at the largest
    batch and thread count (one UNet forward per step for DDIM and DPM-Solver++)."""
    cpu = [r for r in speed if r["device"] == "cpu" and r["model"] == model_label]
    r = max(cpu, key=lambda x: (x["batch"], x["threads"]))
    return steps * r["seconds_per_batch"] * 1000 / r["batch"]


def pareto_front(rows):
    """The rows no other row beats on both time and distance."""
    ordered = rows.sort_values(["seconds_per_1000", "fd"])
    keep, best = [], float("inf")
    for i, r in ordered.iterrows():
        if r["fd"] < best:
            keep.append(i)
            best = r["fd"]
    return rows.loc[keep]


def frontier_section(p: Parameters, speed: list[dict]) -> dict:
    import pandas as pd

    from .. import plots
    from ..published import sampler_steps
    rows = []
    for s in p.tradeoff_seeds[:1]:
        for ratio in [None, *p.frontier_ratios]:
            label = "teacher" if ratio is None else f"r={ratio:g}"
            for r in frontier_rows(p, ratio, s):
                rows.append({**r, "model": label if ratio is None else f"diff-pruning r={ratio:g}",
                             "seconds_per_1000": seconds_per_1000(speed, label, r["sampler_steps"])})
    df = pd.DataFrame(rows)
    front = pareto_front(df)
    cpu = max((r for r in speed if r["device"] == "cpu"), key=lambda x: (x["batch"], x["threads"]))
    timing = f"CPU, batch {cpu['batch']}, {cpu['threads']} threads"
    metric = df["fd_metric"].iloc[0]
    table = df.assign(FD=[evaluation.ci_text(r.fd, r.fd_low, r.fd_high, 1) for r in df.itertuples()],
                      seconds=df["seconds_per_1000"].map("{:.0f}".format),
                      frontier=["●" if i in front.index else "" for i in df.index])
    table = table[["model", "sampler", "sampler_steps", "seconds", "FD", "frontier"]].rename(
        columns={"sampler_steps": "steps", "seconds": "s / 1,000 images", "FD": metric}).set_index(["model", "sampler"])
    found = frontier_verdicts(p)
    kinds = {k.value: sum(v.kind is k for v in found) for k in verdicts.Kind}
    best = min(found, key=lambda v: v.difference, default=None)
    return {"rows": df, "table": table, "figure": plots.sampler_frontier(df, front, metric, timing, sampler_steps()),
            "verdicts": verdicts.table(found), "kinds": kinds, "compared": len(found),
            "best": verdicts.sentence(best) if best else "–", "front": len(front),
            "pruned_on_front": int((front["model"] != "teacher").sum()), "n": p.frontier_samples, "timing": timing,
            "redrawn": redrawn(p)}
