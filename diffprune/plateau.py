"""The stopping rule of a teacher's learning curve: train on until more training stops paying.

A recipe has reached its plateau at length L when its Fréchet distance at L is within `PLATEAU`
(3 %) of its distance at the curve's previous length P, and P is at least half of L: the last
doubling of the steps, or the last quarter of them, improved the distance by less than 3 %. A curve
that reaches `CAP` steps without it is *capped*: its last length stands as the teacher, and the
book says the rule was not met. Written before the curves' numbers; the LDM's curve (30,000 ->
40,000 steps, -2.6 %) and the pixel teachers' are read by this one rule.
"""
from __future__ import annotations

PLATEAU = 0.03  # the relative change in FD below which more training no longer pays
CAP = 40_000    # the longest length a curve is trained to on the study's CPUs


def plateau(rows: list[dict], *, cap: int = CAP) -> dict | None:
    """The rule read on a curve's rows (`steps`, `fd`, by increasing steps): the last two lengths'
    relative change, whether the plateau is reached, whether the cap was hit without it, and
    whether the last two lengths are close enough for the rule to be read at all (None with fewer
    than two lengths)."""
    if len(rows) < 2:
        return None
    before, last = rows[-2], rows[-1]
    change = last["fd"] / before["fd"] - 1
    readable = 2 * before["steps"] >= last["steps"]
    reached = readable and abs(change) <= PLATEAU
    return {"from": before["steps"], "to": last["steps"], "change": change, "readable": readable,
            "reached": reached, "capped": not reached and last["steps"] >= cap}


GROWTH = 4 / 3  # each next length: the last one is its first three quarters (the rule's shorter reading)


def next_length(rows: list[dict], *, cap: int = CAP) -> int | None:
    """The length to train to next: None once the rule is met or the cap reached, else the last
    length grown by a third (at most the cap). Looked at every quarter rather than every doubling: a
    look costs a third of the last length's training, not all of it again, and the LDM's plateau was
    read on its last quarter (30,000 -> 40,000), so both kinds of teacher are read alike. (Set on
    2026-12-07, when the Fashion-MNIST curve stood at 10,000 steps and OpenMoji's at 8,000, both still
    improving by more than the rule; the rule itself is unchanged.)"""
    if not rows:
        return None
    found = plateau(rows, cap=cap)
    if found is not None and (found["reached"] or found["capped"]):
        return None
    return min(cap, round(GROWTH * rows[-1]["steps"])) if rows[-1]["steps"] < cap else None
