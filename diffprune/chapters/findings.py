"""Findings — the paper's claims, one by one, with a finding per committed teacher, computed from
the recorded results of the chapter that tests it (never typed, never computed here: a chapter
whose results are not recorded gives *not yet tested*).

A finding reads a paired verdict (`verdicts.Verdict`) in the direction the paper claims:
*reproduced* (the paper's direction beyond the noise), *contradicted* (the opposite beyond the
noise), *equivalent* (the difference the paper claims is inside the profile's margin),
*inconclusive* (the interval spans both), or *not tested here* (with the reason).

What is this chapter's own: the claims and how each reads its chapter's verdicts. The evidence
comes from the other chapters' spec modules, read under `study.recorded_only()`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .. import evaluation, verdicts
from ..chapter import Chapter
from ..published import paper_table
from ..study import NotRecorded, recorded_only
from ..verdicts import Kind


class Finding(StrEnum):
    REPRODUCED = "reproduced"
    CONTRADICTED = "contradicted"
    EQUIVALENT = "equivalent"
    INCONCLUSIVE = "inconclusive"
    NOT_TESTED = "not tested here"
    NOT_YET = "not yet tested"


FROM_KIND = {Kind.BETTER: Finding.REPRODUCED, Kind.WORSE: Finding.CONTRADICTED, Kind.EQUIVALENT: Finding.EQUIVALENT,
             Kind.INCONCLUSIVE: Finding.INCONCLUSIVE}


@dataclass(frozen=True)
class Evidence:
    """What one claim found: a finding per teacher, the verdicts behind them, and the paper's numbers."""
    findings: dict[str, Finding]
    verdicts: list[verdicts.Verdict] = field(default_factory=list)
    where: str = ""
    paper: str = ""
    numbers: dict = field(default_factory=dict)  # for claims read from something other than a verdict


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


# --- the claims ---------------------------------------------------------------------------------------

def _rq1_verdicts(profile: str, overrides: dict) -> list[verdicts.Verdict]:
    """RQ1's paired comparisons on every teacher."""
    from . import rq1
    p = rq1.CHAPTER.load(profile, overrides)
    return [v for q in evaluation.every_teacher(p) for v in rq1.comparisons(q, rq1.run(q, progress=False))]


def _against(profile: str, overrides: dict, baseline: str, metric: str = "fd") -> Evidence:
    """The reference Diff-Pruning row against one baseline row of RQ1, per teacher."""
    found = [v for v in _rq1_verdicts(profile, overrides) if v.b == baseline and v.metric == metric]
    c = _paper("cifar10")
    column = "fid" if metric == "fd" else metric
    return Evidence({v.where: FROM_KIND[v.kind] for v in found}, found, "rq1",
                    f"CIFAR-10 {column.upper()}: Diff-Pruning T = 0.05 {c['diff-pruning T=0.05'][column]}, "
                    f"{baseline} {c[baseline][column]}" + (" (100K steps)" if baseline == "scratch" else ""))


def beats(baseline: str, metric: str = "fd") -> Callable[[str, dict], Evidence]:
    def test(profile: str, overrides: dict) -> Evidence:
        return _against(profile, overrides, baseline, metric)
    return test


def threshold_helps(profile: str, overrides: dict) -> Evidence:
    """RQ2's ablation after finetuning: the reference threshold against T = 0, paired by seed."""
    from . import rq2
    p = rq2.CHAPTER.load(profile, overrides)
    T, found = p["reference_threshold"], []
    for q in rq2.sweep_teachers(p, "ablations"):  # the one comparison RQ1 and RQ2 show, on every seed both rows have
        found.append(rq2.threshold_comparison(q, T, 0.0, "fd"))
    c, h = _paper("cifar10"), _paper("celeba-hq")
    return Evidence({v.where: FROM_KIND[v.kind] for v in found}, found, "rq2",
                    f"FID at T = {T:g} / T = 0: CIFAR-10 {c.get(f'diff-pruning T={T:g}', {}).get('fid')} / "
                    f"{c['diff-pruning T=0']['fid']}, CelebA-HQ {h.get(f'diff-pruning T={T:g}', {}).get('fid')} / "
                    f"{h['diff-pruning T=0']['fid']} (the paper's two data sets disagree)")


def at_point(v: verdicts.Verdict | None) -> Finding:
    """A "close to the teacher" claim judged at one point fixed before the results (the profile's
    `headline_point`; never the best of several): reproduced where it is equivalent (or better) within
    the claim's margin; contradicted where its whole interval lies beyond the margin on the worse side;
    else inconclusive."""
    if v is None:
        return Finding.INCONCLUSIVE
    if v.kind in (Kind.EQUIVALENT, Kind.BETTER):
        return Finding.REPRODUCED
    beyond = v.low > v.margin if verdicts.LOWER_IS_BETTER[v.metric] else v.high < -v.margin
    return Finding.CONTRADICTED if beyond else Finding.INCONCLUSIVE


def headline(profile: str, overrides: dict) -> Evidence:
    """RQ3's headline: Diff-Pruning at `headline_point` against the teacher, paired by seed, with the
    paper's own gap as the margin (`at_point`); the window's other checkpoints are its evidence."""
    from . import rq3
    p = rq3.CHAPTER.load(profile, overrides)
    c = _paper("cifar10")
    section = rq3.headline_section(p)
    found = [replace(v, a=f"{v.a} {v.where}", where=p["dataset"]) for v in section["verdicts"]
             if v.a == "diff-pruning"]
    return Evidence({p["dataset"]: at_point(rq3.at_point(p, section["verdicts"]))}, found, "rq3",
                    f"CIFAR-10: MACs ×{c['diff-pruning T=0.05']['macs_G'] / c['pretrained']['macs_G']:.2f} after "
                    f"{100 * c['diff-pruning T=0.05']['train_steps'] / c['pretrained']['train_steps']:.1f}% of the "
                    f"teacher's steps, FID {c['pretrained']['fid']} → {c['diff-pruning T=0.05']['fid']}",
                    {"macs_fraction": section["macs_fraction"], "within": section["within"],
                     "seeds": section["seeds"]})


def content_early(profile: str, overrides: dict) -> Evidence:
    """RQ2's content vs detail: [0, k) keeps more detail and [k, 1000) more content, both paired by
    seed beyond the interval, at some (k, checkpoint) of the repair axis where both windows' SSIM lies
    in the profile's band, and reversed at none."""
    from . import rq2
    p = rq2.CHAPTER.load(profile, overrides)
    findings = {}
    evidence = []
    for q in rq2.sweep_teachers(p, "content"):
        found = [v for _, _, inside, v in rq2.content_comparisons(q, rq2.content_raw(q)) if inside]
        reading = rq2.division_of_labour(found)
        holds, reverse = reading["holds"], reading["reversed"]
        findings[q["dataset"]] = (Finding.REPRODUCED if holds and not reverse else
                                  Finding.CONTRADICTED if reverse and not holds else Finding.INCONCLUSIVE)
        decided = set(holds + reverse)  # the grid of every k is in RQ2; the places that decided, here
        evidence += [replace(v, a=f"{v.a} ({v.where})", where=q["dataset"]) for v in found
                     if f"{v.a}, {v.where}" in decided]
    return Evidence(findings, evidence, "rq2", "small t carry details, large t content; the official repository's "
                    "SSIM-vs-stage curves (CIFAR-10 flat after k ≈ 300, CelebA-HQ rising to k = 1000)")


def ldm_beats(baseline: str) -> Callable[[str, dict], Evidence]:
    def test(profile: str, overrides: dict) -> Evidence:
        from . import ldm
        p = ldm.CHAPTER.load(profile, overrides)
        found = [v for v in ldm.comparisons(ldm.run(p)) if v.where == "LDM" and v.b == baseline and v.metric == "fd"]
        return Evidence({f"LDM ({ldm.ldm_dataset(p)})": FROM_KIND[v.kind] for v in found}, found, "ldm",
                        "the paper's ImageNet LDM numbers are not in our anchors")
    return test


@dataclass(frozen=True)
class Claim:
    text: str
    test: Callable[[str, dict], Evidence] | None  # None: not testable here
    why_not: str = ""


CLAIMS = (
    Claim("About 50% fewer MACs at 10–20% of the teacher's training cost, with quality close to the teacher's",
          headline),
    Claim("Pruned models stay more consistent with their teacher (SSIM) than the small model trained from scratch",
          beats("scratch", "ssim")),
    Claim("Diff-Pruning beats random pruning", beats("random")),
    Claim("Diff-Pruning beats magnitude pruning", beats("magnitude")),
    Claim("Diff-Pruning beats Taylor pruning over all timesteps", beats("taylor")),
    Claim("The thresholded partial Taylor (T = 0.05) beats the full one (T = 0)", threshold_helps),
    Claim("Content is not produced only at the end of sampling: late timesteps carry content, early ones detail",
          content_early),
    Claim("Pruning beats training the small model from scratch for the same steps", beats("scratch")),
    Claim("On a latent diffusion model too, pruning beats training the small model from scratch", ldm_beats("scratch")),
    Claim("The FID values themselves (CIFAR-10, CelebA-HQ, LSUN; Inception FID on 50,000 samples)", None,
          "no network here for the hub teachers, the data sets or the Inception weights; our distance "
          "(FD on EfficientNet-Lite0 features) is not comparable in value"),
)


@dataclass(frozen=True)
class Row:
    claim: Claim
    evidence: Evidence | None   # None: not tested here, or not yet
    finding: Finding            # for the whole claim when no teacher has evidence


def verdict(claim: Claim, profile: str, overrides: dict) -> Row:
    """One claim's findings, from recorded results only."""
    if claim.test is None:
        return Row(claim, None, Finding.NOT_TESTED)
    try:
        with recorded_only():
            return Row(claim, claim.test(profile, overrides), Finding.INCONCLUSIVE)
    except NotRecorded:
        return Row(claim, None, Finding.NOT_YET)


def verdicts_of(profile: str, overrides: dict) -> list[Row]:
    return [verdict(c, profile, overrides) for c in CLAIMS]


def table(rows: list[Row]):
    """Claim × teacher: the finding in each cell ("–" where the claim is not tested on that teacher),
    and the chapter that tests it."""
    import pandas as pd
    teachers = list(dict.fromkeys(t for r in rows if r.evidence for t in r.evidence.findings))
    out = []
    for r in rows:
        cells = {t: (r.evidence.findings[t].value if t in r.evidence.findings else "–") if r.evidence
                 else r.finding.value for t in teachers}
        out.append({"claim": r.claim.text, **cells, "where": r.evidence.where if r.evidence else "–"})
    return pd.DataFrame(out).set_index("claim")


def counts(rows: list[Row]) -> dict[str, int]:
    """How many (claim, teacher) cells each finding has."""
    cells = table(rows).drop(columns="where").to_numpy().ravel()
    return {f.value: int(sum(c == f.value for c in cells)) for f in Finding}


CHAPTER = Chapter("findings", parameters=())
