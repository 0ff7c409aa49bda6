"""Findings — the paper's claims, one by one, each marked *reproduced*, *not reproduced*, *not
testable here* or *not yet tested*, with the evidence, computed from the recorded results of the
chapter that tests it (never typed, never computed here: a chapter whose results are not recorded
gives *not yet tested*).

What is this chapter's own: the claims, the paper's margins and the verdict rules. The evidence
comes from the other chapters' spec modules, read under `study.recorded_only()`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import evaluation
from ..chapter import Chapter
from ..published import paper_table
from ..study import NotRecorded, recorded_only

REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE, NOT_YET = ("reproduced", "not reproduced", "not testable here",
                                                     "not yet tested")


def _paper(dataset: str) -> dict:
    """The paper's Table 1 rows of a data set by label (diff-pruning by T; scratch at its shortest training)."""
    out = {}
    for r in paper_table(dataset).itertuples():
        label = f"diff-pruning T={r.threshold_T:g}" if r.method == "diff-pruning" else r.method
        out.setdefault(label, r._asdict())
    return out


def spread() -> dict[str, float]:
    """The paper's own run-to-run spread per data set: in the code behind its Table 1, "Taylor" and
    "Diff-Pruning, T = 0" are the same computation, so their relative FID gap is noise."""
    out = {}
    for dataset in ("cifar10", "celeba-hq"):
        rows = _paper(dataset)
        out[dataset] = abs(rows["taylor"]["fid"] - rows["diff-pruning T=0"]["fid"]) / rows["diff-pruning T=0"]["fid"]
    return out


def _margin(a: float, b: float) -> str:
    return f"{100 * (b - a) / a:+.1f}%"


def _context(margins: dict[str, float], ours: dict) -> str:
    """Each claimed margin against the paper's run-to-run spread and against the relative half-width
    of our interval for the row the claim is about (over seeds where there are several)."""
    s = spread()
    half = (ours["fd_high"] - ours["fd_low"]) / 2 / ours["fd"]
    parts = [f"{name} {100 * m:.1f}% ({'within' if abs(m) <= max(s.values()) else 'beyond'} the paper's larger "
             f"spread, {'within' if abs(m) <= half else 'beyond'} our ±{100 * half:.1f}%)"
             for name, m in margins.items()]
    return (f"The paper's own run-to-run spread (Taylor vs Diff-Pruning T = 0, the same computation): "
            f"CIFAR-10 {100 * s['cifar10']:.1f}%, CelebA-HQ {100 * s['celeba-hq']:.1f}%. Our {ours['interval']} "
            f"for {ours['row']}: ±{100 * half:.1f}% of its value. Claimed margins: " + "; ".join(parts) + ".")


# --- the claims ---------------------------------------------------------------------------------------

def headline(profile: str, overrides: dict) -> dict:
    from . import rq3
    p = rq3.CHAPTER.load(profile, overrides)
    c = _paper("cifar10")
    close = c["diff-pruning T=0.05"]["fid"] / c["pretrained"]["fid"] - 1  # the paper's own gap: "close"
    summary = rq3.sweep_summary(rq3.sweep(p))
    trained = rq3.trained_steps(p)
    dp = summary[summary["method"] == "diff-pruning"]
    half = min(dp["ratio"].unique(), key=lambda r: abs(dp.loc[dp["ratio"] == r, "macs_fraction"].iloc[0] - 0.5))
    frac = dp.loc[dp["ratio"] == half, "macs_fraction"].iloc[0]
    reached = rq3.steps_to_reach(summary, close).get(("diff-pruning", half))
    share = None if reached is None else reached / trained
    verdict = REPRODUCED if share is not None and share <= 0.20 else NOT_REPRODUCED
    ours = (f"At ratio {half:g} (MACs ×{frac:.2f}) Diff-Pruning comes within {100 * close:.0f}% of the teacher's "
            "Fréchet distance " + (f"after {100 * share:.0f}% of the teacher's training steps" if share is not None
                                   else f"at no checkpoint up to {100 * summary['steps'].max() / trained:.0f}%")
            + " (RQ3, recovery curves).")
    paper = (f"CIFAR-10: MACs ×{c['diff-pruning T=0.05']['macs_G'] / c['pretrained']['macs_G']:.2f} after "
             f"{100 * c['diff-pruning T=0.05']['train_steps'] / c['pretrained']['train_steps']:.1f}% of the "
             f"teacher's steps, FID {c['pretrained']['fid']} → {c['diff-pruning T=0.05']['fid']} "
             f"({_margin(c['pretrained']['fid'], c['diff-pruning T=0.05']['fid'])}: what 'close' means here).")
    return {"verdict": verdict, "ours": ours, "paper": paper, "where": "RQ3"}


def _rq1(profile: str, overrides: dict):
    from . import rq1
    p = rq1.CHAPTER.load(profile, overrides)
    s = rq1.summarize(rq1.run(p, progress=False))
    by = {r["row"]: r for r in s.to_dict("records")}
    best = min((r for k, r in by.items() if k.startswith("diff-pruning")), key=lambda r: r["fd"])
    return by, best


def _rq3_wins(profile: str, overrides: dict, against: tuple[str, ...]) -> str:
    """In RQ3 after the longest finetune: at how many ratios Diff-Pruning's distance is lower than
    every method of `against` beyond the intervals ("" where RQ3 is not recorded)."""
    from . import rq3
    p = rq3.CHAPTER.load(profile, overrides)
    try:
        summary = rq3.sweep_summary(rq3.sweep(p))
    except NotRecorded:
        return ""
    last = summary[summary["steps"] == summary["steps"].max()]
    wins, ratios = 0, sorted(last.loc[last["method"] == "diff-pruning", "ratio"])
    for r in ratios:
        here = {row["method"]: row for row in last[last["ratio"] == r].to_dict("records")}
        others = [here[m] for m in against if m in here]
        wins += bool(others) and all(evaluation.compare(here["diff-pruning"], o).startswith("better") for o in others)
    return (f" In RQ3, after {int(last['steps'].iloc[0]):,} finetune steps, it is lower than "
            f"{' and '.join(against)} beyond the intervals at {wins} of {len(ratios)} ratios.")


def consistent(profile: str, overrides: dict) -> dict:
    by, best = _rq1(profile, overrides)
    c = _paper("cifar10")
    if "scratch" not in by:
        return {"verdict": NOT_YET, "ours": "RQ1 has no scratch row in this profile.", "where": "RQ1", "paper": ""}
    verdict = evaluation.compare(best, by["scratch"], "ssim")
    return {"verdict": REPRODUCED if verdict.startswith("better") else NOT_REPRODUCED,
            "ours": (f"SSIM to the teacher: {best['row']} {best['ssim']:.3f} against scratch "
                     f"{by['scratch']['ssim']:.3f}: {verdict} (RQ1 table)."),
            "paper": (f"CIFAR-10 SSIM: Diff-Pruning {c['diff-pruning T=0.05']['ssim']} against scratch "
                      f"{c['scratch']['ssim']} (100K steps)."),
            "where": "RQ1"}


def beats_baselines(profile: str, overrides: dict) -> dict:
    by, best = _rq1(profile, overrides)
    others = [by[k] for k in ("random", "magnitude", "taylor") if k in by]
    verdicts = {o["row"]: evaluation.compare(best, o) for o in others}
    better = all(v.startswith("better") for v in verdicts.values())
    c = _paper("cifar10")
    margins = {f"vs {k}": (c[k]["fid"] - c["diff-pruning T=0.05"]["fid"]) / c[k]["fid"]
               for k in ("random", "magnitude", "taylor")}
    ours = (f"{best['row']} ({best['fd']:.1f}): " + "; ".join(f"vs {k} ({by[k]['fd']:.1f}) {v}"
                                                               for k, v in verdicts.items()) + " (RQ1 table)."
            + _rq3_wins(profile, overrides, ("random", "magnitude")))
    return {"verdict": REPRODUCED if others and better else NOT_REPRODUCED, "ours": ours,
            "paper": ("CIFAR-10 FID: Diff-Pruning T = 0.05 " + str(c["diff-pruning T=0.05"]["fid"]) + " against "
                      + ", ".join(f"{k} {c[k]['fid']}" for k in ("random", "magnitude", "taylor")) + ". "
                      + _context(margins, best)),
            "where": "RQ1, RQ3"}


def threshold_helps(profile: str, overrides: dict) -> dict:
    from . import rq2
    p = rq2.CHAPTER.load(profile, overrides)
    T = p["reference_threshold"]
    summary = rq2.threshold_section(p)["summary"]
    by = {r["threshold"]: r for r in summary.to_dict("records")}
    if T not in by or 0.0 not in by:
        return {"verdict": NOT_YET, "ours": f"The threshold ablation has no T = {T:g} or T = 0 row.", "paper": "",
                "where": "RQ2"}
    verdict = evaluation.compare(by[T], by[0.0])
    c, h = _paper("cifar10"), _paper("celeba-hq")
    margins = {f"{name} T = {T:g} vs T = 0": (rows["diff-pruning T=0"]["fid"] - rows[f"diff-pruning T={T:g}"]["fid"])
               / rows["diff-pruning T=0"]["fid"] for name, rows in (("CIFAR-10", c), ("CelebA-HQ", h))
               if f"diff-pruning T={T:g}" in rows}
    return {"verdict": REPRODUCED if verdict.startswith("better") else NOT_REPRODUCED,
            "ours": (f"T = {T:g} ({by[T]['fd']:.1f}) against T = 0 ({by[0.0]['fd']:.1f}): {verdict} "
                     f"({by[T]['interval']}; RQ2, the threshold after finetuning)."),
            "paper": (f"FID at T = {T:g} / T = 0: CIFAR-10 {c.get(f'diff-pruning T={T:g}', {}).get('fid')} / "
                      f"{c['diff-pruning T=0']['fid']}, CelebA-HQ {h.get(f'diff-pruning T={T:g}', {}).get('fid')} / "
                      f"{h['diff-pruning T=0']['fid']} (the paper's two data sets disagree). "
                      + _context(margins, {**by[T], "row": f"T = {T:g}"})),
            "where": "RQ2"}


def content_early(profile: str, overrides: dict) -> dict:
    from . import rq2
    p = rq2.CHAPTER.load(profile, overrides)
    summary = rq2.content_rows(p)
    found = {steps: rq2.division_of_labour(summary, steps) for steps in (0, p["content_finetune_steps"])}
    holds = any(h for h, _ in found.values())
    reversed_ = any(r for _, r in found.values())
    ours = "; ".join(f"{'without finetuning' if s == 0 else f'after {s} finetune steps'}: holds at "
                     f"{', '.join(map(str, h)) or 'no k'}, reversed at {', '.join(map(str, r)) or 'no k'}"
                     for s, (h, r) in found.items())
    return {"verdict": REPRODUCED if holds and not reversed_ else NOT_REPRODUCED,
            "ours": ("The division of labour — gradients from [0, k) keep more detail (edge SSIM) and from "
                     f"[k, 1000) more content (class agreement), beyond the intervals over seeds — {ours} "
                     "(RQ2, content vs detail)."),
            "paper": ("Small t carry details, large t content; the official repository's SSIM-vs-stage curves "
                      "(CIFAR-10 flat after k ≈ 300, CelebA-HQ rising to k = 1000)."),
            "where": "RQ2"}


def beats_scratch(profile: str, overrides: dict) -> dict:
    by, best = _rq1(profile, overrides)
    if "scratch" not in by:
        return {"verdict": NOT_YET, "ours": "RQ1 has no scratch row in this profile.", "where": "RQ1", "paper": ""}
    verdict = evaluation.compare(best, by["scratch"])
    c = _paper("cifar10")
    return {"verdict": REPRODUCED if verdict.startswith("better") else NOT_REPRODUCED,
            "ours": (f"{best['row']} ({best['fd']:.1f}) against scratch ({by['scratch']['fd']:.1f}) after the "
                     f"same finetune: {verdict} (RQ1 table)." + _rq3_wins(profile, overrides, ("scratch",))),
            "paper": (f"CIFAR-10 FID after 100K steps: Diff-Pruning {c['diff-pruning T=0.05']['fid']}, scratch "
                      f"{c['scratch']['fid']}."),
            "where": "RQ1, RQ3"}


@dataclass(frozen=True)
class Claim:
    text: str
    test: Callable[[str, dict], dict] | None  # None: not testable here
    why_not: str = ""


CLAIMS = (
    Claim("About 50% fewer MACs at 10–20% of the teacher's training cost, with quality close to the teacher's",
          headline),
    Claim("Pruned models stay consistent with their teacher (SSIM), more than the small model trained from scratch",
          consistent),
    Claim("Diff-Pruning beats random, magnitude and Taylor pruning", beats_baselines),
    Claim("The thresholded partial Taylor (T = 0.05) beats the full one (T = 0)", threshold_helps),
    Claim("Content is not produced only at the end of sampling: late timesteps carry content, early ones detail",
          content_early),
    Claim("Pruning beats training the small model from scratch for the same steps", beats_scratch),
    Claim("The FID values themselves (CIFAR-10, CelebA-HQ, LSUN; Inception FID on 50,000 samples)", None,
          "no network here for the hub teachers, the data sets or the Inception weights; our distance "
          "(FD on EfficientNet-Lite0 features) is not comparable in value"),
    Claim("The same holds for latent diffusion models", None, "the LDM chapter is not written yet"),
)


def verdict(claim: Claim, profile: str, overrides: dict) -> dict:
    """One claim's row: its verdict and evidence from recorded results only."""
    if claim.test is None:
        why = claim.why_not[0].upper() + claim.why_not[1:]
        return {"claim": claim.text, "verdict": NOT_TESTABLE, "ours": why + ".", "paper": "", "where": "–"}
    try:
        with recorded_only():
            return {"claim": claim.text, **claim.test(profile, overrides)}
    except NotRecorded:
        return {"claim": claim.text, "verdict": NOT_YET, "ours": "The results of the chapter that tests it are not "
                "recorded for this profile: run it first.", "paper": "", "where": "–"}


def verdicts(profile: str, overrides: dict) -> list[dict]:
    return [verdict(c, profile, overrides) for c in CLAIMS]


def table(rows: list[dict]):
    import pandas as pd
    return pd.DataFrame([{"claim": r["claim"], "verdict": r["verdict"], "where": r["where"]} for r in rows]).set_index(
        "claim")


def reading(rows: list[dict]) -> str:
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE, NOT_YET)}
    return (f"Of the paper's {len(rows)} claims listed here, {counts[REPRODUCED]} reproduced at our scale, "
            f"{counts[NOT_REPRODUCED]} did not, {counts[NOT_TESTABLE]} cannot be tested here and "
            f"{counts[NOT_YET]} are not yet tested.")


CHAPTER = Chapter("findings", parameters=())
