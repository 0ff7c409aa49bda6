"""RQ2's second sub-study, content versus detail: prunes from the gradients of the early timesteps
[0, k) only, or of the late ones [k, 1000) only, compared with the teacher on the same noise along
one short finetune (the repair axis). All windows of one seed come from one walk
(`pipeline.gradient_stages`); the chapter is `rq2`.
"""
from __future__ import annotations

import numpy as np

from .. import evaluation, pipeline, verdicts
from ..artifacts import DiffpruneError
from ..chapter import Parameters
from ..published import repository_curves

# Prunes with the gradients of the early timesteps [0, k) only, or of the late ones [k, 1000) only,
# compared with the teacher on the same noise: SSIM (pixels), edge SSIM (detail), class agreement
# (content). All windows of one seed come from one walk (`pipeline.gradient_stages`).

def content_stages(p: Parameters) -> list[int]:
    bad = [k for k in p.content_k if k % p.timestep_stride]
    if bad:
        raise DiffpruneError(f"content_k {bad} are not multiples of timestep_stride {p.timestep_stride}")
    t_end = pipeline.timesteps(p.teacher)
    if max(p.content_k) > t_end:
        raise DiffpruneError(f"content_k {max(p.content_k)} lies beyond the teacher's {t_end} timesteps")
    return sorted(set(p.content_k) | {t_end})


def content_windows(p: Parameters) -> list[tuple[str, tuple[int, int]]]:
    """(side, window): [0, k) for every k, [k, end) for every k < end, the teacher's timesteps."""
    ks, t_end = sorted(set(p.content_k)), pipeline.timesteps(p.teacher)
    return [("early", (0, k)) for k in ks] + [("late", (k, t_end)) for k in ks if k < t_end]


def _stages(p: Parameters, seed: int) -> pipeline.Artifact:
    return pipeline.gradient_stages(pipeline.teacher(p.teacher), dataset=p.dataset,
                                    batch_size=p.importance_batch, stride=p.timestep_stride, seed=seed,
                                    stages=content_stages(p))


def stages_record(p: Parameters, seed: int) -> dict:
    """The walk of one seed (visited t and L_t; its gradients are bulk)."""
    return _stages(p, seed).result("stages.json")


def _content_models(p: Parameters, seed: int, window) -> list[tuple[int, pipeline.Artifact]]:
    """(finetune steps, model) along the repair axis: the window's prune at each checkpoint of one
    short finetune (0: the prune itself)."""
    t = pipeline.teacher(p.teacher)
    model = pipeline.pruned_in_window(t, _stages(p, seed), window, method="diff-pruning", ratio=p.ratio)
    checkpoints = p.content_repair_steps
    # warm-up scaled with the finetune's length, as the profile's finetune_warmup is for finetune_steps;
    # one warm-up for every checkpoint, so that each is a prefix of the longest run
    warmup = round(p.finetune_warmup * checkpoints[-1] / p.finetune_steps)
    return [(steps, pipeline.finetuned(model, dataset=p.dataset, steps=steps, batch_size=p.finetune_batch,
                                       lr=p.finetune_lr, warmup_steps=warmup, seed=seed,
                                       passing=tuple(c for c in checkpoints if c < steps)))
            for steps in checkpoints]


def content_row(p: Parameters, seed: int, side: str, window) -> list[dict]:
    """The window's prune compared with the teacher at each checkpoint of its short finetune."""
    t = pipeline.teacher(p.teacher)
    k = window[1] if side == "early" else window[0]
    return [{"row": f"{side} k={k} finetune={steps}", "side": side, "k": k, "window": list(window),
             "finetune_steps": steps, **evaluation.agreement(model, t, p, seed, p.content_samples)}
            for steps, model in _content_models(p, seed, window)]



def candidate_row(p: Parameters, method: str, ratio: float) -> dict:
    """One unfinetuned prune of the whole range at a candidate ratio (first content seed) against the
    teacher: why the repair axis — at this teacher size no prune stays near its teacher unfinetuned."""
    seed = p.content_seeds[0]
    t = pipeline.teacher(p.teacher)
    if method == "diff-pruning":  # from the seed's walk: the channels of a full prune at T = 0, no new walk
        model = pipeline.pruned_in_window(t, _stages(p, seed), (0, 1000), method=method, ratio=ratio)
    else:
        model = evaluation.pruned_model(p.replace(ratio=ratio), method, seed)
    return {"row": f"{method} r={ratio:g}", "method": method, "ratio": ratio, **pipeline.size(model),
            "macs_teacher": pipeline.size(t)["macs"],
            **evaluation.agreement(model, t, p, seed, p.content_samples)}


def content_work(p: Parameters) -> list:
    # the walks first, so that parallel jobs do not wait on one another's walk
    teachers = evaluation.sweep_teachers(p, "content")
    return ([(stages_record, (q, s)) for q in teachers for s in p.content_seeds]
            + [(content_row, (q, s, side, w)) for q in teachers for s in p.content_seeds
               for side, w in content_windows(p)]
            + [(candidate_row, (p, m, r)) for m in CANDIDATE_METHODS for r in p.content_candidates])


CANDIDATE_METHODS = ("magnitude", "diff-pruning")


def candidate_table(p: Parameters):
    """Ratio × method: MACs of the teacher's, SSIM and Cohen's kappa to the teacher, unfinetuned."""
    import pandas as pd
    rows = [candidate_row(p, m, r) for m in CANDIDATE_METHODS for r in p.content_candidates]
    out = pd.DataFrame({(r["method"], r["ratio"]): {
        "MACs": f"×{r['macs'] / r['macs_teacher']:.2f}",
        "SSIM": evaluation.ci_text(r["ssim"], r["ssim_low"], r["ssim_high"], 2),
        "Cohen's κ": "–" if r["kappa"] is None else evaluation.ci_text(r["kappa"], r["kappa_low"], r["kappa_high"], 2)}
        for r in rows}).T
    out.index.names = ["method", "ratio"]
    return out, max(r["ssim"] for r in rows)


def content_raw(p: Parameters) -> list[dict]:
    """Every content-vs-detail row of the profile's teacher, one per window, checkpoint and seed."""
    return [r for s in p.content_seeds for side, w in content_windows(p) for r in content_row(p, s, side, w)]


def content_rows(p: Parameters):
    """The content-vs-detail rows summarised over the seeds."""
    return evaluation.summarize(content_raw(p))


def repository_ssim() -> dict[str, dict[int, float]]:
    """The official repository's SSIM against stage k (its numbers: [0, k), no finetuning)."""
    return {name: {int(k): float(v) for k, v in r["ssim_vs_stage"].items()}
            for name, r in repository_curves().items() if "ssim_vs_stage" in r}


CONTENT_METRICS = {"ssim": "SSIM", "detail": "edge SSIM (detail)", "kappa": "Cohen's κ (content)"}
JUDGED = ("detail", "kappa")  # the division of labour: [0, k) better on detail, worse on content


def ssim_table(summary):
    """k × checkpoint: the two windows' mean SSIM to the teacher, `[0, k) / [k, 1000)`."""
    import pandas as pd
    part = summary.set_index(["side", "k", "finetune_steps"])["ssim"]
    ks = sorted(summary["k"].unique())
    steps = sorted(summary["finetune_steps"].unique())
    out = pd.DataFrame({after(n): {k: " / ".join("–" if (side, k, n) not in part.index else f"{part[(side, k, n)]:.2f}"
                                                 for side in ("early", "late")) for k in ks} for n in steps})
    out.index.name = "k"
    return out


def after(steps: int) -> str:
    return "no finetune" if steps == 0 else f"after {steps} steps"


def _side(rows: list[dict], side: str, k: int, steps: int) -> list[dict]:
    return [r for r in rows if r["side"] == side and r["k"] == k and r["finetune_steps"] == steps]


def in_band(p: Parameters, rows: list[dict], k: int, steps: int) -> bool:
    """Whether both windows' mean SSIM to the teacher lies in `content_ssim_band`: where models are
    neither noise nor copies of the teacher, so windows can differ."""
    low, high = p.content_ssim_band
    means = [np.mean([r["ssim"] for r in _side(rows, side, k, steps)] or [np.nan]) for side in ("early", "late")]
    return all(low <= m <= high for m in means)


def content_comparisons(p: Parameters, rows: list[dict]) -> list[tuple[int, int, bool, verdicts.Verdict]]:
    """(k, checkpoint, `in_band`, verdict): at each k and checkpoint, [0, k) against [k, 1000) on detail
    and content (kappa), paired by seed. The paper's division of labour predicts [0, k) *better* on
    detail and *worse* on content."""
    out = []
    for steps in sorted({r["finetune_steps"] for r in rows}):
        for k in sorted({r["k"] for r in rows}):
            early, late = _side(rows, "early", k, steps), _side(rows, "late", k, steps)
            band = in_band(p, rows, k, steps)
            for metric in JUDGED if early and late else ():
                v = verdicts.across_seeds(early, late, metric, p.equivalence_margins, a=f"[0, {k})",
                                          b=f"[{k}, 1000)", where=after(steps))
                if v.n:  # no seed with both values (kappa is undefined where every sample gets one class)
                    out.append((k, steps, band, v))
    return out


def division_of_labour(found: list[verdicts.Verdict]) -> dict[str, list[str]]:
    """Each (k, checkpoint) by what its two verdicts say of the paper's division of labour — [0, k)
    keeps more detail *and* [k, 1000) more content, both beyond the paired interval: `holds`,
    `reversed` (both the other way), `equivalent` (both within their margins), `mixed` (the rest)."""
    kinds: dict[tuple[str, str], dict[str, verdicts.Kind]] = {}
    for v in found:
        kinds.setdefault((v.a, v.where), {})[v.metric] = v.kind
    B, W, E = verdicts.Kind.BETTER, verdicts.Kind.WORSE, verdicts.Kind.EQUIVALENT
    out: dict[str, list[str]] = {"holds": [], "reversed": [], "equivalent": [], "mixed": []}
    for (a, where), k in kinds.items():
        detail, content = k.get("detail"), k.get("kappa")
        reading = ("holds" if (detail, content) == (B, W) else "reversed" if (detail, content) == (W, B)
                   else "equivalent" if detail is E and content is E else "mixed")
        out[reading].append(f"{a}, {where}")
    return out


def content_previews(p: Parameters, summary) -> dict:
    """First samples of the teacher and of the prunes from the shortest and the longest early and
    late windows, right after pruning and at the last checkpoint (`+steps`), same noise (the first seed)."""
    seed = p.content_seeds[0]
    named = {"teacher": evaluation.samples_of(pipeline.teacher(p.teacher), p, seed,
                                              p.content_samples).preview()}
    for side in ("early", "late"):
        ks = sorted(int(k) for k in summary[summary["side"] == side]["k"].unique())
        for k in dict.fromkeys([ks[0], ks[-1]]) if ks else ():
            window = (0, k) if side == "early" else (k, 1000)
            models = _content_models(p, seed, window)
            for n, model in dict.fromkeys([models[0], models[-1]]):
                label = f"[{window[0]}, {window[1]})" + (f" +{n}" if n else "")
                named[label] = evaluation.samples_of(model, p, seed, p.content_samples).preview()
    return named


def content_section(p: Parameters) -> dict:
    """Figure, tables and the answer of the content-vs-detail sweep of the profile's teacher."""
    from .. import plots
    raw = content_raw(p)
    summary = evaluation.summarize(raw)
    compared = content_comparisons(p, raw)
    found = [v for *_, v in compared]
    band = [v for _, _, inside, v in compared if inside]
    candidates, best = candidate_table(p)
    accuracy = [r["classifier_accuracy"] for r in raw if r.get("classifier_accuracy") is not None]
    return {"summary": summary,
            "figure": plots.repair_axis(summary, compared, CONTENT_METRICS, p.content_ssim_band, p.dataset,
                                        pipeline.timesteps(p.teacher)),
            "ssim_table": ssim_table(summary), "candidates": candidates, "best_unfinetuned_ssim": best,
            "samples": plots.paired_samples(content_previews(p, summary), n=min(12, p.content_samples)),
            "verdicts": verdicts.table(found), "in_band": division_of_labour(band),
            "points_in_band": len({(v.a, v.where) for v in band}), "points": len({(v.a, v.where) for v in found}),
            "classifier_accuracy": accuracy[0] if accuracy else None,
            "seeds": len(p.content_seeds), "n": p.content_samples}

