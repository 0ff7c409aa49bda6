"""RQ3's inference levers against fp32 on the same noise: `benchmarks/speed_levers.py` times what a
lever (bf16 autocast, channels-last, ...) saves; this asks whether it changes what the model draws.

Per setting of `lever_checks` and per model — the teacher and RQ1's reference Diff-Pruning row at
the first seed — the sample set drawn with the lever from the fp32 set's own noise, read against
that fp32 set: the Fréchet distance's difference by a paired bootstrap over sample indices (one
seed is enough here: the noise is the same, only the arithmetic differs), judged against the fd
margin every comparison of this book uses, and how alike the two draws of each sample are (SSIM,
and the class the content classifier gives both, where there is one).
"""
from __future__ import annotations

from .. import evaluation, evidence, pipeline, verdicts
from ..chapter import Parameters
from ..levers import Levers
from .rq1 import reference_row

TEACHER = "teacher"


def lever_models(p: Parameters) -> dict[str, pipeline.Artifact]:
    """The models checked, by label: the teacher and RQ1's reference row at the first seed."""
    return {TEACHER: pipeline.teacher(p.teacher),
            reference_row(p): evaluation.row_model(p, "diff-pruning", p.reference_threshold, p.seeds[0])}


def lever_row(p: Parameters, label: str, setting: dict) -> dict:
    """One model's draw under one lever setting against its fp32 draw from the same noise."""
    model, seed, levers = lever_models(p)[label], p.seeds[0], Levers(**setting)
    fp32, drawn = evaluation.samples_of(model, p, seed), evaluation.samples_of(model, p, seed, levers=levers)
    fd = pipeline.fd(fp32, dataset=p.dataset, split="test", features=p.features,
                     n_reference=p.n_reference, n_boot=p.n_boot).result("fd.json")
    difference = pipeline.paired_fd(drawn, fp32, dataset=p.dataset, split="test", features=p.features,
                                    n_reference=p.n_reference, n_boot=p.n_boot).result("paired_fd.json")
    alike = pipeline.consistency(fp32, drawn, evaluation.classifier_of(p)).result("consistency.json")
    return {"model": label, "levers": levers.describe(), "seed": seed, "fd_fp32": fd["value"],
            "difference": difference, "ssim": alike["ssim"], "same_class": (alike.get("content") or {}).get("value"),
            "samples": drawn.key, "fp32_samples": fp32.key}


def lever_jobs(p: Parameters) -> list:
    return [(lever_row, (p, label, setting)) for setting in p.lever_checks for label in lever_models(p)]


def lever_section(p: Parameters) -> dict | None:
    """The table (per model and setting: FD under fp32, the difference with its interval and reading,
    SSIM of the two draws, the share drawn as the same class) and one sentence per setting; None when
    the profile checks no lever."""
    import pandas as pd
    if not p.lever_checks:
        return None
    rows = [fn(*args) for fn, args in lever_jobs(p)]
    found = [verdicts.from_bootstrap(r["difference"], "fd", p.equivalence_margins, a=f"{r['model']}, {r['levers']}",
                                     b=f"{r['model']}, fp32", reference=r["fd_fp32"], seed=r["seed"],
                                     where=p.dataset) for r in rows]
    evidence.shown(found)
    table = pd.DataFrame([{
        "model": r["model"], "lever": r["levers"], "FD, fp32": evaluation.number_text(r["fd_fp32"], 1),
        "FD difference (95 % paired bootstrap)": f"{verdicts.kind_text(v, 1)}: {verdicts.difference_text(v, 1)}",
        "SSIM to the fp32 draw": f"{r['ssim']['value']:.3f}",
        "same class": "–" if r["same_class"] is None else f"{r['same_class']:.1%}",
    } for r, v in zip(rows, found, strict=True)]).set_index(["model", "lever"])
    return {"rows": rows, "verdicts": found, "table": table, "reading": reading(rows, found)}


def reading(rows: list[dict], found: list[verdicts.Verdict]) -> str:
    """Per setting, which models it leaves equivalent to fp32, which it changes beyond the margin (FD
    lower or higher than fp32's draws) and which the samples cannot tell, from the verdicts."""
    out = []
    for setting in dict.fromkeys(r["levers"] for r in rows):
        here = [(r, v) for r, v in zip(rows, found, strict=True) if r["levers"] == setting]
        same = [r["model"] for r, v in here if v.kind is verdicts.Kind.EQUIVALENT]
        moved = [f"{r['model']} (FD {'lower' if v.kind is verdicts.Kind.BETTER else 'higher'} than fp32's: "
                 f"{verdicts.difference_text(v, 1)})" for r, v in here
                 if v.kind in (verdicts.Kind.BETTER, verdicts.Kind.WORSE)]
        unsure = [f"{r['model']} ({verdicts.kind_text(v, 1)}: {verdicts.difference_text(v, 1)})" for r, v in here
                  if v.kind is verdicts.Kind.INCONCLUSIVE]
        out.append(f"{setting}: " + "; ".join(
            ([f"equivalent to fp32 for {', '.join(same)}"] if same else [])
            + ([f"changes the draws of {', '.join(moved)}"] if moved else [])
            + ([f"not shown equivalent for {', '.join(unsure)}"] if unsure else [])) + ".")
    return " ".join(out)
