"""What the study re-based on longer teachers would cost here (issue: teachers trained until they
stop improving, part 5 — budget first).

For each candidate teacher length L: `study --plan`'s estimate of each chapter that re-bases, with
every finetune length the same share of L as today's is of 5,000 steps (RQ1 8 %; the headline 10,
12.5, 15 and 20 %; the recovery checkpoints 2, 8 and 32 %; the repair axis up to 2 %), RQ1's
control row on and RQ3's rounding check also at ratio 0.35; per chapter for the Fashion-MNIST
teacher alone and with the profile's other teachers. Each step is priced from this cache's recorded
rates. The plan runs against the committed
teacher — a plan counts steps, and a step's cost does not depend on the weights — so what a new
teacher adds besides (its prunes' importance walks and its own sample sets, minutes against the
finetunes' hours) is listed only where the committed teacher lacks it too. Writes
data/results/rebase_budget.json.

    .venv/bin/python benchmarks/rebase_budget.py [--lengths 20000 40000]
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

from diffprune import plan
from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.paths import RESULTS_DIR
from diffprune.profiles import read

NOW = 5000  # the committed Fashion-MNIST teacher's steps: today's lengths are shares of it
CHAPTERS = (["rq1"], ["rq2"], ["rq3"], ["rq1", "rq2", "rq3"])  # the last: all three, shared steps once


def overrides(length: int, profile: dict, more_teachers: bool) -> dict:
    """The cpu profile's finetune lengths scaled from `NOW` to `length` steps of the teacher."""
    def scaled(steps):
        return [round(s * length / NOW) for s in steps]
    out = {"teacher_steps": length, "control_row": True, "finetune_steps": scaled([profile["finetune_steps"]])[0],
           "headline_steps": scaled(profile["headline_steps"]),
           "headline_point": scaled([profile["headline_point"]])[0],
           "recovery_steps": scaled(profile["recovery_steps"]),
           "content_repair_steps": scaled(profile["content_repair_steps"]),
           # RQ3's rounding check where rounding changes the widths (at 0.25 every width is a multiple of 8)
           "rounding_ratios": sorted({*profile["rounding_ratios"], 0.35})}
    return out if more_teachers else {**out, "more_teachers": [], "sweeps_on_more_teachers": []}


def estimate(chapters: list[str], changed: dict) -> dict:
    """Hours (of one process at the recorded rates) by step kind of the chapters' plan, and the kinds
    nothing recorded prices."""
    planned, _ = plan.of_chapters(chapters, "cpu", changed)
    rates, hours = plan.recorded_rates(), defaultdict(float)
    for s in planned.steps.values():
        if s.kind in rates:
            hours[s.kind] += rates[s.kind] * s.work / 3600
    total, unpriced = planned.seconds()
    return {"steps": len(planned.steps), "hours": total / 3600, "by_kind": dict(hours), "unpriced": unpriced,
            "unfollowed_jobs": len(planned.stopped)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", nargs="+", type=int, default=[20000, 40000],
                    help="candidate teacher lengths (training steps)")
    a = ap.parse_args()
    if min(a.lengths) < 1:
        raise SystemExit("--lengths must be >= 1")
    profile = read("cpu")
    rows = []
    for length in a.lengths:
        for more in (False, True):
            changed = overrides(length, profile, more)
            for chapters in CHAPTERS:
                rows.append({"length": length, "chapters": chapters, "teachers": "all" if more else "fashion-mnist",
                             "overrides": changed, **estimate(chapters, changed)})
                print(f"L={length:6d} {'+'.join(chapters)} ({rows[-1]['teachers']}): {rows[-1]['hours']:.1f} h "
                      f"({rows[-1]['steps']} steps)", flush=True)
    write_json_atomic(RESULTS_DIR / "rebase_budget.json", {
        "rows": rows, "rates_from": "this cache's recorded steps (plan.recorded_rates)", "base_steps": NOW,
        "code_version": code_version(), "device": device_description(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


if __name__ == "__main__":
    main()
