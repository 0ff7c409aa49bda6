"""RQ2's third sub-study, the threshold and the score form after finetuning: Diff-Pruning at each
threshold, and each score form with and without the reference threshold, pruned and finetuned as
RQ1's rows (the same cached artifacts where RQ1 has them); the chapter is `rq2`.
"""
from __future__ import annotations

from dataclasses import replace

from .. import evaluation, verdicts
from ..chapter import Parameters
from ..importance import DEFAULT_SCORE

# Rows pruned and finetuned exactly as RQ1's (`evaluation.method_row`): rows RQ1 also has are the
# same cached artifacts.

def threshold_row(p: Parameters, T: float, seed: int) -> dict:
    return evaluation.method_row(p, f"T={T:g}", "diff-pruning", T, seed)


def score_specs(p: Parameters) -> list[tuple[str, str, float, str | None]]:
    """(label, method, threshold, score) of each score form with and without the reference
    threshold. |sum w*g| without a threshold is RQ1's Taylor row: the same computation (tested), so
    the same artifact; Diff-Pruning's own score is RQ1's Diff-Pruning."""
    T = p.reference_threshold
    out = []
    for form in p.score_forms:
        for t in (T, 0.0):
            label = f"{form}, T={t:g}"
            if form == "sum" and t == 0:
                out.append((label, "taylor", None, None))
            else:
                out.append((label, "diff-pruning", t, None if form == DEFAULT_SCORE["diff-pruning"] else form))
    return out


def score_row(p: Parameters, label: str, method: str, threshold: float | None, score: str | None, seed: int) -> dict:
    form, _, t = label.partition(", T=")
    return {**evaluation.method_row(p, label, method, threshold, seed, score), "form": form, "T": float(t)}


def ablation_work(p: Parameters) -> list:
    return [job for q in evaluation.sweep_teachers(p, "ablations") for s in q.ablation_seeds
            for job in [*((threshold_row, (q, T, s)) for T in q.ablation_thresholds),
                        *((score_row, (q, *spec, s)) for spec in score_specs(q))]] + [
        (threshold_verdicts, (q,)) for q in evaluation.sweep_teachers(p, "ablations")]  # RQ1's seeds of shared rows


def threshold_table(summary):
    """T → stop t, Fréchet distance, SSIM and class agreement (with intervals), and the paper's
    FID at the same T on CIFAR-10 and CelebA-HQ (its numbers)."""
    import pandas as pd

    from ..published import paper_table
    paper = {name: {r.threshold_T: r.fid for r in paper_table(name).itertuples() if r.method == "diff-pruning"}
             for name in ("cifar10", "celeba-hq")}
    ci = evaluation.ci_text
    return pd.DataFrame({
        "T": [f"{T:g}" for T in summary["threshold"]],
        ("stop t" if summary["seeds"].max() == 1 else "stop t, over seeds"):
            [evaluation.stops_text(v, "never") for v in summary["stop_ts"]],
        f"FD ({summary['fd_metric'].iloc[0]})": [ci(r.fd, r.fd_low, r.fd_high) for r in summary.itertuples()],
        "SSIM": [ci(r.ssim, r.ssim_low, r.ssim_high, 3) for r in summary.itertuples()],
        "same class": [ci(r.content, r.content_low, r.content_high, 3) for r in summary.itertuples()],
        "paper CIFAR-10 FID": [paper["cifar10"].get(T, "–") for T in summary["threshold"]],
        "paper CelebA-HQ FID": [paper["celeba-hq"].get(T, "–") for T in summary["threshold"]],
    }).set_index("T")


def threshold_seeds(p: Parameters, a: float, b: float) -> list[int]:
    """The seeds a comparison of thresholds a and b is paired over, fixed by the profile: the
    ablation's seeds, and RQ1's too where RQ1 has both rows (the same artifacts), so that one
    comparison has one answer on every page."""
    paired = set(p.ablation_seeds)
    if "diff-pruning" in p.methods and a in p.thresholds and b in p.thresholds:
        paired |= set(p.seeds)
    return sorted(paired)


def seeds_note(p: Parameters) -> str:
    """Which seeds the verdicts pair over against those the table averages: more, for thresholds RQ1
    also has, which the sentence names."""
    shared = [T for T in p.ablation_thresholds if threshold_seeds(p, T, T) != sorted(p.ablation_seeds)]
    averaged = ", ".join(map(str, sorted(p.ablation_seeds)))
    if len(shared) < 2:
        return f"Every comparison is paired over the seeds the table averages ({averaged})."
    return (f"The table and figure average every threshold over the ablation's seeds ({averaged}), so that their "
            f"rows are comparable; T = {', '.join(f'{T:g}' for T in shared)} are also RQ1's rows (the same runs), "
            f"so a comparison of two of them is paired over every seed both have "
            f"({', '.join(map(str, threshold_seeds(p, shared[0], shared[1])))}), as RQ1 shows it: its a − b can "
            "differ from the difference of the table's means, and the order of those means decides nothing.")


def threshold_comparison(p: Parameters, a: float, b: float, metric: str) -> verdicts.Verdict:
    """Diff-Pruning at threshold a against threshold b, paired over `threshold_seeds`."""
    paired = threshold_seeds(p, a, b)
    return evaluation.compare(p, [threshold_row(p, a, s) for s in paired], [threshold_row(p, b, s) for s in paired],
                              metric, a=f"T={a:g}", b=f"T={b:g}", where=p.dataset, models=lambda s: (
                                  evaluation.row_model(p, "diff-pruning", a, s),
                                  evaluation.row_model(p, "diff-pruning", b, s)))


def threshold_verdicts(p: Parameters) -> list[verdicts.Verdict]:
    """The reference threshold against every other threshold, paired by seed (a threshold chosen
    before the results, so no best row is picked by its value and then compared)."""
    T = p.reference_threshold
    if T not in p.ablation_thresholds:
        return []
    return [threshold_comparison(p, T, t, metric) for metric in ("fd", "ssim") for t in p.ablation_thresholds
            if t != T]


def threshold_section(p: Parameters) -> dict:
    from .. import plots
    rows = [threshold_row(p, T, s) for s in p.ablation_seeds for T in p.ablation_thresholds]
    summary = evaluation.summarize(rows)
    return {"summary": summary, "table": threshold_table(summary),
            "figure": plots.threshold_ablation(summary, p.dataset),
            "verdicts": threshold_verdicts(p)}


SCORE_NAMES = {"abs": "Σ|w·g|", "sum": "|Σ w·g|", "square": "Σ(w·g)²"}


def score_table(summary, reference: float):
    """Score form × (with the reference threshold, without): Fréchet distance and SSIM with intervals."""
    import pandas as pd
    ci = evaluation.ci_text
    table = {}
    for r in summary.itertuples():
        col = f"T = {r.T:g}" if r.T else "no threshold"
        table.setdefault((col, "FD"), {})[SCORE_NAMES[r.form]] = ci(r.fd, r.fd_low, r.fd_high)
        table.setdefault((col, "SSIM"), {})[SCORE_NAMES[r.form]] = ci(r.ssim, r.ssim_low, r.ssim_high, 3)
    out = pd.DataFrame(table)
    out.index.name = "score"
    return out


def score_verdicts(p: Parameters, rows: list[dict]) -> list[verdicts.Verdict]:
    """Paired by seed: each score form with the reference threshold against itself without one, and
    Diff-Pruning's own form (abs) against each other form at both."""
    T, m = p.reference_threshold, p.equivalence_margins

    def at(form, t):
        return [r for r in rows if r["form"] == form and r["T"] == t]
    forms = list(dict.fromkeys(r["form"] for r in rows))
    out = [verdicts.across_seeds(at(f, T), at(f, 0.0), "fd", m, a=f"{SCORE_NAMES[f]}, T={T:g}",
                                 b=f"{SCORE_NAMES[f]}, T=0", where=p.dataset)
           for f in forms if at(f, T) and at(f, 0.0) and T != 0.0]
    own = DEFAULT_SCORE["diff-pruning"]
    out += [verdicts.across_seeds(at(own, t), at(f, t), "fd", m, a=f"{SCORE_NAMES[own]}, T={t:g}",
                                  b=f"{SCORE_NAMES[f]}, T={t:g}", where=p.dataset)
            for t in dict.fromkeys((T, 0.0)) for f in forms if f != own and at(f, t) and at(own, t)]
    return out


def score_section(p: Parameters) -> dict:
    rows = [score_row(p, *spec, s) for s in p.ablation_seeds for spec in score_specs(p)]
    summary = evaluation.summarize(rows)
    # Diff-Pruning's own form with and without the threshold is the threshold ablation's comparison:
    # shown as that one (its seeds, `threshold_seeds`), so that it has one answer on every page
    own, T = SCORE_NAMES[DEFAULT_SCORE["diff-pruning"]], p.reference_threshold
    found = [replace(threshold_comparison(p, T, 0.0, "fd"), a=v.a, b=v.b)
             if (v.a, v.b) == (f"{own}, T={T:g}", f"{own}, T=0") else v for v in score_verdicts(p, rows)]
    return {"summary": summary, "table": score_table(summary, p.reference_threshold), "verdicts": found}

