"""Findings — the paper's claims, one by one, with a finding per committed teacher, computed from
the recorded results of the chapter that tests it (never typed, never computed here: a chapter
whose results are not recorded gives *not yet tested*).

A finding reads a paired verdict (`verdicts.Verdict`) in the direction the paper claims:
*reproduced* (the paper's direction beyond the noise), *contradicted* (the opposite beyond the
noise), *equivalent* (the difference the paper claims is inside the profile's margin),
*inconclusive* (the interval spans both), *too few seeds* (fewer than `MIN_SEEDS` paired seeds: one
seed's bootstrap covers sampling noise only), or *not tested here* (with the reason).

Each claim's rule is fixed in the profile (`decision_rules`, read before any row): the comparisons
that decide it (its family) and how they combine. A family is read with Holm's adjustment to a
family-wise 5 % (`verdicts.adjusted`): a claim tested on two teachers, or at several points, is not
reproduced by whichever of its comparisons happened to clear the noise.

What is this chapter's own: the claims and how each reads its chapter's verdicts. The evidence
comes from the other chapters' spec modules, read under `study.recorded_only()`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .. import evaluation, evidence, profiles, verdicts
from ..artifacts import DiffpruneError, listed
from ..chapter import Chapter, spec
from ..published import paper_table
from ..study import NotRecorded, recorded_only
from ..verdicts import Kind


class Finding(StrEnum):
    REPRODUCED = "reproduced"
    CONTRADICTED = "contradicted"
    EQUIVALENT = "equivalent"
    INCONCLUSIVE = "inconclusive"
    FEW_SEEDS = "too few seeds"
    NOT_TESTED = "not tested here"
    NOT_YET = "not yet tested"


FROM_KIND = {Kind.BETTER: Finding.REPRODUCED, Kind.WORSE: Finding.CONTRADICTED, Kind.EQUIVALENT: Finding.EQUIVALENT,
             Kind.INCONCLUSIVE: Finding.INCONCLUSIVE}


MIN_SEEDS = 3  # a finding rests on comparisons paired over at least this many seeds


def judged(v: verdicts.Verdict) -> bool:
    """Whether a verdict may decide a finding: paired over seeds, at least `MIN_SEEDS` of them."""
    return v.interval == verdicts.SEEDS and v.n >= MIN_SEEDS


def per_teacher(found: list[verdicts.Verdict]) -> dict[str, Finding]:
    """One comparison per teacher (the family: the claim on every teacher), Holm-adjusted, read in the
    paper's direction; a teacher with too few seeds is not judged and stays out of the family."""
    family = verdicts.adjusted([v for v in found if judged(v)])
    out = {v.where: Finding.FEW_SEEDS for v in found}
    out.update({v.where: FROM_KIND[v.kind] for v in family})
    return out


@dataclass(frozen=True)
class Evidence:
    """What one claim found: a finding per teacher, the verdicts behind them, and the paper's numbers."""
    findings: dict[str, Finding]
    verdicts: list[verdicts.Verdict] = field(default_factory=list)
    where: str = ""
    paper: str = ""
    numbers: dict = field(default_factory=dict)  # for claims read from something other than a verdict
    teachers: dict[str, int | None] = field(default_factory=dict)  # each finding's teacher: its training steps


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
    return Evidence(per_teacher(found), found, "rq1",
                    f"CIFAR-10 {column.upper()}: Diff-Pruning T = 0.05 {c['diff-pruning T=0.05'][column]}, "
                    f"{baseline} {c[baseline][column]}" + (" (100K steps)" if baseline == "scratch" else "")
                    + (" (the paper's Taylor is its squared score without a threshold: Diff-Pruning T = 0 run again; "
                       "ours is |Σ w·g|, the diffusers scripts')" if baseline == "taylor" else ""))


def beats(baseline: str, metric: str = "fd") -> Callable[[str, dict], Evidence]:
    def test(profile: str, overrides: dict) -> Evidence:
        return _against(profile, overrides, baseline, metric)
    return test


def threshold_helps(profile: str, overrides: dict) -> Evidence:
    """RQ2's ablation after finetuning: the reference threshold against T = 0, paired by seed."""
    from . import ablations, rq2
    p = rq2.CHAPTER.load(profile, overrides)
    T, found = p.reference_threshold, []
    for q in evaluation.sweep_teachers(p, "ablations"):  # the comparison RQ1 and RQ2 show, on every seed both rows have
        found.append(ablations.threshold_comparison(q, T, 0.0, "fd"))
    c, h = _paper("cifar10"), _paper("celeba-hq")
    return Evidence(per_teacher(found), found, "rq2",
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
    from .headline import at_point as point_of
    from .headline import headline_section
    p = rq3.CHAPTER.load(profile, overrides)
    c = _paper("cifar10")
    section = headline_section(p)
    found = [replace(v, a=f"{v.a} {v.where}", where=p.dataset) for v in section["verdicts"]
             if v.a == "diff-pruning"]
    point = point_of(p, section["verdicts"])  # one comparison: a family of one
    control = point_of(p, section["verdicts"], against=evaluation.CONTROL_LABEL)  # read beside it, deciding nothing
    return Evidence({p.dataset: at_point(point) if judged(point) else Finding.FEW_SEEDS}, found, "rq3",
                    f"CIFAR-10: MACs ×{c['diff-pruning T=0.05']['macs_G'] / c['pretrained']['macs_G']:.2f} after "
                    f"{100 * c['diff-pruning T=0.05']['train_steps'] / c['pretrained']['train_steps']:.1f}% of the "
                    f"teacher's steps, FID {c['pretrained']['fid']} → {c['diff-pruning T=0.05']['fid']}",
                    {"macs_fraction": section["macs_fraction"], "within": section["within"],
                     "seeds": section["seeds"], "control": verdicts.sentence(control) if control else None})


def content_early(profile: str, overrides: dict) -> Evidence:
    """RQ2's content vs detail. The family: every (k, checkpoint) of the repair axis where both
    windows' SSIM lies in the profile's band (the band is read from the same rows' SSIM, not from
    the detail or content verdicts), each with its detail and content verdicts, Holm-adjusted
    together. Reproduced where after the adjustment some point has [0, k) keeping more detail *and*
    [k, 1000) more content and none the reverse; contradicted the other way round."""
    from . import content_detail, rq2
    p = rq2.CHAPTER.load(profile, overrides)
    findings = {}
    evidence = []
    for q in evaluation.sweep_teachers(p, "content"):
        raw = content_detail.content_raw(q)
        found = [v for _, _, inside, v in content_detail.content_comparisons(q, raw) if inside]
        if not found or not all(judged(v) for v in found):
            findings[q.dataset] = Finding.FEW_SEEDS if found else Finding.INCONCLUSIVE
            continue
        reading = content_detail.division_of_labour(verdicts.adjusted(found))
        holds, reverse = reading["holds"], reading["reversed"]
        findings[q.dataset] = (Finding.REPRODUCED if holds and not reverse else
                                  Finding.CONTRADICTED if reverse and not holds else Finding.INCONCLUSIVE)
        evidence += [replace(v, a=f"{v.a} ({v.where})", where=q.dataset) for v in found]
    return Evidence(findings, evidence, "rq2", "small t carry details, large t content; the official repository's "
                    "SSIM-vs-stage curves (CIFAR-10 flat after k ≈ 300, CelebA-HQ rising to k = 1000)")


def faster(profile: str, overrides: dict) -> Evidence:
    """RQ3's measured speed: the teacher's prune at the sweep's ratio against the teacher, per device,
    at the largest batch and thread count timed; the rounds are its replicates (speed depends on the
    structure, not on a seed). Reproduced where every round is faster, contradicted where every
    round is slower."""
    from . import rq3, speed
    p = rq3.CHAPTER.load(profile, overrides)
    found = [g for g in speed.speed_section(p)["goal"] if g["model"] == "teacher"]

    def column(g: dict) -> str:  # a device column, named with the teacher whose prune was timed there
        return f"{p.dataset} on {g['device']}"
    kinds = {verdicts.Kind.BETTER: Finding.REPRODUCED, verdicts.Kind.WORSE: Finding.CONTRADICTED}
    reading = {column(g): kinds.get(speed.faster_than_unpruned(g), Finding.INCONCLUSIVE) for g in found}
    return Evidence(reading, [], "rq3", "MACs ×0.56 on CIFAR-10 (Table 1); no wall-clock speed-up reported",
                    {column(g): f"{g['speedup']:.2f}× ({g['speedup_low']:.2f}–{g['speedup_high']:.2f}× over "
                                f"{g['rounds']} rounds; MACs ideal {g['ideal']:.2f}×)" for g in found},
                    teachers={column(g): evaluation.trained_steps(p) for g in found})


def frontier(profile: str, overrides: dict) -> Evidence:
    """RQ3's sampler frontier: each pruned point against the best teacher point that costs no more
    time. Its verdicts are one seed's paired bootstrap, so they decide no finding (`judged`)."""
    from . import rq3
    from .frontier import frontier_verdicts
    p = rq3.CHAPTER.load(profile, overrides)
    found = [replace(v, where=p.dataset) for v in frontier_verdicts(p)]
    return Evidence(per_teacher(found), found, "rq3", "Table 1's samplers are the paper's fixed choice; "
                    "the paper compares no sampler-time frontier")


def ldm_beats(baseline: str) -> Callable[[str, dict], Evidence]:
    def test(profile: str, overrides: dict) -> Evidence:
        from . import ldm
        p = ldm.CHAPTER.load(profile, overrides)
        found = [v for v in ldm.comparisons(ldm.run(p)) if v.where == "LDM" and v.b == baseline and v.metric == "fd"]
        latent = ldm.kinds(p)["LDM"]
        where = f"LDM ({latent.dataset})"
        found = [replace(v, where=where) for v in found]
        return Evidence(per_teacher(found), found, "ldm", "the paper's ImageNet LDM numbers are not in our anchors",
                        teachers={where: evaluation.trained_steps(latent)})
    return test


@dataclass(frozen=True)
class Claim:
    id: str    # its key in the profile's `decision_rules`
    text: str
    test: Callable[[str, dict], Evidence] | None  # None: not testable here
    why_not: str = ""


CLAIMS = (
    Claim("headline", "About 50% fewer MACs at 10–20% of the teacher's training cost, with quality close to the "
          "teacher's", headline),
    Claim("ssim_vs_scratch", "Pruned models stay more consistent with their teacher (SSIM) than the small model "
          "trained from scratch", beats("scratch", "ssim")),
    Claim("beats_random", "Diff-Pruning beats random pruning", beats("random")),
    Claim("beats_magnitude", "Diff-Pruning beats magnitude pruning", beats("magnitude")),
    Claim("beats_taylor", "Diff-Pruning beats Taylor pruning over all timesteps", beats("taylor")),
    Claim("threshold_helps", "The thresholded partial Taylor (T = 0.05) beats the full one (T = 0)", threshold_helps),
    Claim("content_early", "Content is not produced only at the end of sampling: the large timesteps (the start "
          "of sampling) carry content, the small ones detail", content_early),
    Claim("beats_scratch", "Pruning beats training the small model from scratch for the same steps", beats("scratch")),
    Claim("faster", "Implied, not reported: a pruned model samples faster than its teacher (the MACs it removes "
          "become seconds)", faster),
    Claim("frontier", "Implied, not reported: at equal sampling time, a pruned model beats its teacher (it can "
          "afford more sampler steps)", frontier),
    Claim("ldm_beats_scratch", "On a latent diffusion model too, pruning beats training the small model from scratch",
          ldm_beats("scratch")),
    Claim("fid_values", "The FID values themselves (CIFAR-10, CelebA-HQ, LSUN; Inception FID on 50,000 samples)", None,
          "no network here for the hub teachers, the data sets or the Inception weights; our distance "
          "(FD on EfficientNet-Lite0 features) is not comparable in value"),
)
TESTED = tuple(c.id for c in CLAIMS if c.test is not None)


@dataclass(frozen=True)
class Row:
    claim: Claim
    evidence: Evidence | None   # None: not tested here, or not yet
    finding: Finding            # for the whole claim when no teacher has evidence
    rule: str = ""              # the profile's decision rule, as it read before any row


def rule_text(claim_id: str, profile: str, overrides: dict) -> str:
    """A claim's rule as the profile fixed it, its `{key}`s replaced by the profile's values."""
    # a band (a key ending in `_band`: [low, high]) keeps its brackets
    values = {k: listed(v) if isinstance(v, list) and v and not k.endswith("_band") else v
              for k, v in profiles.read(profile, overrides).items()}
    try:
        return CHAPTER.load(profile, overrides).decision_rules[claim_id].format_map(values)
    except (KeyError, IndexError, ValueError) as e:
        raise DiffpruneError(f"decision_rules.{claim_id} of profile {profile} names no profile value: {e}") from None


def teachers_behind(chapter: str, profile: str, overrides: dict) -> dict[str, int | None]:
    """The training steps of each teacher behind a chapter's results, by data set: while chapters
    stand on different teachers (a re-based study switches them one by one), a finding says which
    teacher judged it."""
    p = spec(chapter).load(profile, overrides)
    return {q.dataset: evaluation.trained_steps(q) for q in evaluation.every_teacher(p)}


def verdict(claim: Claim, profile: str, overrides: dict) -> Row:
    """One claim's findings, from recorded results only, by the rule the profile fixed for it: read
    here, before the claim's rows, so nothing in them can choose it."""
    if claim.test is None:
        return Row(claim, None, Finding.NOT_TESTED)
    rule = rule_text(claim.id, profile, overrides)
    try:
        with recorded_only():
            found = claim.test(profile, overrides)
            # a claim that names its findings otherwise (the LDM's) gives its teachers itself
            found = replace(found, teachers={**teachers_behind(found.where, profile, overrides), **found.teachers})
            return Row(claim, found, Finding.INCONCLUSIVE, rule)
    except NotRecorded:
        return Row(claim, None, Finding.NOT_YET, rule)


def verdicts_of(profile: str, overrides: dict) -> list[Row]:
    return [verdict(c, profile, overrides) for c in CLAIMS]


def table(rows: list[Row]):
    """Claim × teacher: the finding in each cell ("–" where the claim is not tested on that teacher),
    and the chapter that tests it. A teacher's column names its training steps; where chapters stand
    on teachers of different steps, each gets its own column."""
    import pandas as pd

    def header(r: Row, t: str) -> str:
        steps = r.evidence.teachers.get(t)
        return f"{t}, {steps:,}-step teacher" if steps else t  # t may end in its own brackets
    columns = list(dict.fromkeys(header(r, t) for r in rows if r.evidence for t in r.evidence.findings))
    out = []
    for r in rows:
        cells = ({c: "–" for c in columns} | {header(r, t): f.value for t, f in r.evidence.findings.items()}
                 if r.evidence else {c: r.finding.value for c in columns})
        out.append({"claim": r.claim.text, **cells, "where": r.evidence.where if r.evidence else "–"})
    return pd.DataFrame(out).set_index("claim")


def rules_table(rows: list[Row]):
    """Each tested claim's rule, as the profile fixed it before the results."""
    import pandas as pd
    return pd.DataFrame([{"claim": r.claim.text, "rule (fixed in the profile before the results)": r.rule}
                         for r in rows if r.rule]).set_index("claim")


RESEARCH_PAGES = ["teachers", "rq1", "rq2", "rq3", "ldm"]  # the pages whose verdicts the book's tally counts


def tally() -> dict | None:
    """How many distinct comparisons the research pages show and how many clear the noise, against
    what chance alone would give (`evidence.tally`); None outside a book build."""
    entries = evidence.so_far(RESEARCH_PAGES)
    return None if entries is None else evidence.tally(entries)


def tally_sentence() -> str:
    t = tally()
    if t is None:
        return ("The count of the book's comparisons is made when the whole book is built "
                "(`python -m diffprune book`).")
    p = "< 0.001" if t["p_at_least"] < 0.001 else f"{t['p_at_least']:.2g}"
    return (f"The research chapters show {t['n']} distinct paired comparisons; {t['beyond']} of them exclude 0 "
            f"at 95 % each. If no difference anywhere were real, chance alone would put about {t['expected']:.1f} "
            f"there (the chance of {t['beyond']} or more: {p}, counting them as independent, which comparisons "
            "sharing a row are not). Those comparisons are read at 95 % each on their pages; the findings above "
            "are read with each claim's adjustment.")


def counts(rows: list[Row]) -> dict[str, int]:
    """How many (claim, teacher) cells each finding has."""
    cells = table(rows).drop(columns="where").to_numpy().ravel()
    return {f.value: int(sum(c == f.value for c in cells)) for f in Finding}


def _rules(v) -> bool:
    return isinstance(v, dict) and set(v) == set(TESTED) and all(isinstance(r, str) and r.strip() for r in v.values())


@dataclass(frozen=True)
class Own:
    """The parameters only this chapter reads (see `profiles.Profile`)."""
    decision_rules: dict[str, str] = profiles.parameter(
        f"a mapping of every testable claim ({', '.join(TESTED)}) to its rule in words: the comparisons that "
        "decide it, at which checkpoint, against which margin, and how they combine (Holm-adjusted)", _rules)


CHAPTER = Chapter("findings", parameters=(), own=Own)
