"""Solutions — the instructor's page of the Exercises chapter: the expected outcome of each
exercise, with the numbers computed from the recorded `cpu` results where the exercise reads them
(`study.recorded_only`: "not recorded" where they are missing). Built only on request:
`python -m diffprune book --solutions` adds it to a copy of the book (`--out`, default
build/instructor-book), never to the published one.
"""
from __future__ import annotations

from ..chapter import Chapter
from ..study import NotRecorded, recorded_only
from .exercises import EXERCISES


def _stops(profile: str, overrides: dict) -> str:
    from .. import evaluation
    from ..threshold import stop_times
    from . import rq2
    p = rq2.CHAPTER.load(profile, {**overrides, **EXERCISES[0].overrides})
    c = evaluation.lt_curve(p)
    stops = stop_times(c["t"], evaluation.mean_lt(c), p.curve_thresholds)
    return "; ".join(f"T = {T:g} stops at t = {t}" if t is not None else f"T = {T:g} never stops"
                     for T, t in stops.items()) + " (mean curve)."


def _recovery(profile: str, overrides: dict) -> str:
    from .. import evaluation
    from . import recovery, rq3
    p = rq3.CHAPTER.load(profile, overrides)
    summary = recovery.sweep_summary(recovery.sweep(p))
    reached = recovery.steps_to_reach(summary, 0.20)
    trained = evaluation.trained_steps(p)
    return "; ".join(f"ratio {r:g}: " + (f"{s:,} steps ({100 * s / trained:.0f}%)" if s is not None else "not within "
                                         f"{int(summary['steps'].max()):,} steps")
                     for (m, r), s in sorted(reached.items()) if m == "diff-pruning") + " (Diff-Pruning, within 20%)."


def _frontier(profile: str, overrides: dict, budget: float = 30.0) -> str:
    from . import frontier, rq3, speed
    p = rq3.CHAPTER.load(profile, overrides)
    timed = speed.speed_section(p)["rows"]
    rows = frontier.frontier_section(p, timed)["rows"]
    within = rows[rows["seconds_per_1000"] <= budget]
    if within.empty:
        return f"No model and sampler fits {budget:g} s per 1,000 images."
    best = within.loc[within["fd"].idxmin()]
    front = frontier.pareto_front(rows)
    return (f"Within {budget:g} s per 1,000 images the lowest distance is {best['model']} with {best['sampler']}-"
            f"{best['sampler_steps']} ({best['fd']:.1f}). {int((front['model'] != 'teacher').sum())} of the "
            f"{len(front)} frontier points are pruned models.")


def _levers(profile: str, overrides: dict) -> str:
    from . import rq3, speed
    p = rq3.CHAPTER.load(profile, overrides)
    return " ".join(speed.levers_section(record, p)["reading"] for record in speed.levers_records())


NOTES = (
    ("The stop t falls as T falls: a small T lets the walk run until L_t is tiny, late in t. The curve is "
     "flat for large t, so a large T's stop t moves most with the batch.", _stops),
    ("The Fisher criterion plugs in like the L1 one (tests/test_exercises.py runs both); at one seed and "
     "1,000 samples it is rarely distinguishable from magnitude: more seeds, or the recovery curve, would be "
     "needed.", None),
    ("A harder prune needs more finetuning; at the hardest ratios it may not come within 20% at all within "
     "32% of the teacher's training.", _recovery),
    ("Measured well short of the MACs ideal, and less at batch 1 than at batch 64; attention (scaled "
     "dot-product) time does not shrink, because pruning keeps the heads and the sequence length and only "
     "narrows each head. The recorded run of benchmarks/speed_levers.py on the study's machine:", _levers),
    ("stop_t depends on the data's L_t curve. 300 steps are far fewer than the committed teachers' 5,000: "
     "expect rough samples, and train longer before pruning.", None),
    ("At this model size the sampler is the cheaper lever: the answer comes from the frontier.", _frontier),
)


def notes(profile: str, overrides: dict) -> list[dict]:
    out = []
    for exercise, (text, computed) in zip(EXERCISES, NOTES, strict=True):
        answer = ""
        if computed is not None:
            try:
                with recorded_only():
                    answer = computed(profile, overrides)
            except NotRecorded:
                answer = "(not recorded for this profile: run the exercise's chapter first)"
        out.append({"title": exercise.title, "note": text, "answer": answer})
    return out


CHAPTER = Chapter("solutions", parameters=())
