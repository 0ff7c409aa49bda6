"""RQ3's first sub-study, ratio × recovery: each method pruned at each ratio, finetuned once and
evaluated at every checkpoint (`pipeline.finetuned(..., passing=...)`), the steps each needs to
come within a share of the teacher's distance, and the rows the other sub-studies share (the
teacher's, the sweep's models); the chapter is `rq3`.
"""
from __future__ import annotations

from .. import evaluation, pipeline
from ..chapter import Parameters

LABELS = {"reinit": "scratch"}


def profile_at(p: Parameters, ratio: float, steps: int, n: int) -> Parameters:
    """The profile with one ratio, one finetune length and n samples: what the shared layer reads."""
    return p.replace(ratio=ratio, finetune_steps=steps, n_samples=n)


def threshold_of(p: Parameters, method: str) -> float | None:
    return p.tradeoff_threshold if method == "diff-pruning" else None


def model(p: Parameters, method: str, ratio: float, seed: int, steps: int) -> pipeline.Artifact:
    """The teacher pruned with `method` at `ratio`, finetuned for `steps` (0: not finetuned) in one run
    that passes through every shorter checkpoint."""
    q = profile_at(p, ratio, steps, p.recovery_samples)
    return evaluation.finetuned_model(q, method, seed, threshold_of(p, method),
                                      passing=tuple(s for s in p.recovery_steps if s < steps))


def recovery_rows(p: Parameters, method: str, ratio: float, seed: int) -> list[dict]:
    """One pruned model's rows, one per checkpoint, in finetune order."""
    trained = p.teacher_steps or pipeline.teacher_steps(pipeline.teacher(p.teacher))
    rows = []
    for steps in p.recovery_steps:
        m = model(p, method, ratio, seed, steps)
        rows.append({"row": f"{LABELS.get(method, method)} r={ratio:g} @{steps}", "method": LABELS.get(method, method),
                     "ratio": ratio, "steps": steps, "share": steps / trained,
                     **evaluation.evaluate(m, profile_at(p, ratio, steps, p.recovery_samples), seed)})
    return rows


def sampled_by(p: Parameters, sampler: str, steps: int) -> Parameters:
    """The profile with one sampler of the frontier: DDIM keeps the profile's spacing (the paper's
    quad); DPM-Solver++ takes diffusers' own timesteps, which have none."""
    return p.replace(sampler=sampler, ddim_steps=steps, spacing=p.spacing if sampler == "ddim" else "uniform")


def teacher_row(p: Parameters, seed: int, n: int | None = None, by: tuple[str, int] | None = None) -> dict:
    """The teacher's row, of n samples (recovery_samples by default), drawn `by` (sampler, steps)."""
    q = p.replace(n_samples=n or p.recovery_samples)
    if by:
        q = sampled_by(q, *by)
    return {"row": "teacher", "method": "teacher", "ratio": 0.0, "steps": 0, "share": 0.0,
            **evaluation.evaluate(pipeline.teacher(p.teacher), q, seed)}


def sweep_jobs(p: Parameters) -> list:
    return [(teacher_row, (p, s)) for s in p.tradeoff_seeds] + [
        (recovery_rows, (p, m, r, s))
        for s in p.tradeoff_seeds for r in p.tradeoff_ratios for m in p.tradeoff_methods]


def sweep(p: Parameters) -> list[dict]:
    """Every row of the sweep (the teacher's first), computing only what the cache lacks."""
    out = []
    for fn, args in sweep_jobs(p):
        got = fn(*args)
        out += got if isinstance(got, list) else [got]
    return out


def sweep_summary(rows: list[dict]):
    """One line per row label (mean over seeds), with MACs as a fraction of the teacher's."""
    return evaluation.summarize(rows, baseline="teacher")


def steps_to_reach(summary, within: float) -> dict[tuple[str, float], int | None]:
    """(method, ratio) → the first checkpoint whose Fréchet distance is within `within` (0.1 = 10 %)
    of the teacher's, or None; point estimates (the intervals are in the figures)."""
    target = summary.loc[summary["row"] == "teacher", "fd"].iloc[0] * (1 + within)
    out = {}
    for r in summary[summary["row"] != "teacher"].sort_values("steps").itertuples():
        key = (r.method, r.ratio)
        out.setdefault(key, None)
        if out[key] is None and r.fd <= target:
            out[key] = int(r.steps)
    return out


def headline_table(summary, trained: int, levels=(0.10, 0.25)):
    """Per ratio (and its MACs fraction) and method: the share of the teacher's training steps
    needed to come within 10 % and 25 % of the teacher's Fréchet distance."""
    import pandas as pd
    never = "–"  # not within the level by the longest finetune (the caption says how long that is)
    reached = {lv: steps_to_reach(summary, lv) for lv in levels}
    pruned = summary[summary["row"] != "teacher"]
    macs = pruned.groupby("ratio")["macs_fraction"].first()
    names = list(dict.fromkeys(pruned["method"]))
    table = {}
    for lv in levels:
        for m in names:
            col = {}
            for r in sorted(macs.index):
                s = reached[lv].get((m, r))
                col[f"{r:g} (×{macs[r]:.2f})"] = never if s is None else f"{100 * s / trained:.0f}%"
            table[(f"within {100 * lv:.0f}%", m)] = col
    out = pd.DataFrame(table)
    out.index.name = "ratio"
    return out


def paper_points() -> str:
    """The paper's one point of this surface per data set (Diff-Pruning against its teacher), from
    its Table 1 as recorded in data/paper/."""
    from ..published import paper_table
    parts = []
    for dataset, name in (("cifar10", "CIFAR-10"), ("celeba-hq", "CelebA-HQ")):
        t = paper_table(dataset)
        dense = t[t["method"] == "pretrained"].iloc[0]
        dp = t[t["method"] == "diff-pruning"]
        fids = ", ".join(f"{r.fid:g} at T = {r.threshold_T:g}" for r in dp.itertuples())
        first = dp.iloc[0]
        parts.append(f"{name} at MACs ×{first['macs_G'] / dense['macs_G']:.2f} after {first['train_steps']:,.0f} "
                     f"of the teacher's {dense['train_steps']:,.0f} steps "
                     f"({100 * first['train_steps'] / dense['train_steps']:.1f}%): FID {dense['fid']:g} → {fids}")
    return "; ".join(parts)


def sweep_section(p: Parameters) -> dict:
    from .. import plots
    summary = sweep_summary(sweep(p))
    metric = summary["fd_metric"].iloc[0]
    teacher_fd = float(summary.loc[summary["row"] == "teacher", "fd"].iloc[0])
    trained = evaluation.trained_steps(p)
    pruned = summary[summary["row"] != "teacher"].groupby("ratio")["macs_fraction"].first()
    span = ", ".join(f"{r:g} → ×{f:.2f}" for r, f in pruned.items())
    return {"summary": summary, "metric": metric, "span": span,
            "pareto": plots.pareto(summary, metric, teacher_fd),
            "recovery": plots.recovery_curves(summary, metric, teacher_fd, trained),
            "headline": headline_table(summary, trained),
            "longest_share": f"{100 * summary['steps'].max() / trained:.0f}%"}
