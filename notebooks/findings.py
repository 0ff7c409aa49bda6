# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Findings
#
# The paper's claims, one by one, with a finding on each committed teacher, computed from the
# recorded results of the chapter that tests it — {doc}`rq1`, {doc}`rq2`, {doc}`rq3` or {doc}`ldm`
# — by a rule in `diffprune/chapters/findings.py`. This page computes nothing itself: a chapter
# whose results are not recorded for the profile gives *not yet tested*. Two rows begin *Implied,
# not reported*: what the paper's MACs imply (seconds saved) rather than what it measures, since it
# reports no timings.
#
# **How to read a finding.** Each rests on a paired comparison (the difference between two rows at
# the same seed, or over the same sample indices), read in the direction the paper claims:
# **reproduced** — the paper's direction, beyond the noise; **contradicted** — the opposite, beyond
# the noise; **equivalent** — the whole interval of the difference lies within the profile's margin,
# so the difference the paper claims is too small to be seen here; **inconclusive** — the interval
# spans both; **too few seeds** — fewer than three paired seeds (one seed's bootstrap covers sampling
# noise only, not the spread between runs), so no finding is read; **not tested here** — with the
# reason below.
#
# **How a finding is decided.** Each claim has a rule fixed in the profile before the results
# (`decision_rules`, {numref}`tab-findings-rules`): the comparisons that decide it, where, against
# which margin, and how they combine. A claim's comparisons form one family, read with Holm's
# adjustment so that the family as a whole errs at most 5 % of the time: a claim tested on two
# teachers, or at several points, is not reproduced by whichever comparison happened to clear the noise.

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change (the same as the chapters were run with)

# %% tags=["hide-input"]
import pandas as pd
from myst_nb import glue

from diffprune import profiles, verdicts
from diffprune.chapters import findings

p = findings.CHAPTER.load(profile, overrides)
rows = findings.verdicts_of(p.profile, overrides)
glue("findings_table", findings.table(rows), display=False)
glue("rules_table", findings.rules_table(rows), display=False)
glue("tally", findings.tally_sentence(), display=False)
for kind, n in findings.counts(rows).items():
    glue(f"n_{kind.replace(' ', '_')}", n, display=False)
evidence = list(dict.fromkeys(v for r in rows if r.evidence for v in r.evidence.verdicts))
glue("evidence_table", verdicts.table(evidence) if evidence else pd.DataFrame(), display=False)
speed = next((r.evidence.numbers for r in rows if r.claim.test is findings.faster and r.evidence), {})
speed_rows = [{"teacher and device": d, "pruned against the teacher": t} for d, t in speed.items()]
glue("speed_numbers", pd.DataFrame(speed_rows).set_index("teacher and device") if speed else pd.DataFrame(),
     display=False)
glue("paper_numbers", pd.DataFrame([{"claim": r.claim.text, "the paper": r.evidence.paper} for r in rows
                                    if r.evidence and r.evidence.paper]).set_index("claim"), display=False)
glue("not_tested", pd.DataFrame([{"claim": r.claim.text, "why not": r.claim.why_not} for r in rows
                                 if r.claim.test is None]).set_index("claim"), display=False)
spread = findings.spread()
glue("spread_cifar", 100 * spread["cifar10"], display=False)
glue("spread_celeba", 100 * spread["celeba-hq"], display=False)
margins = profiles.read(p.profile, overrides)["equivalence_margins"]
glue("fd_margin", 100 * margins["fd"], display=False)
head = next((r.evidence.numbers for r in rows if r.claim.test is findings.headline and r.evidence), None)
glue("headline_seeds", head["seeds"] if head else 0, display=False)
glue("headline_macs", head["macs_fraction"] if head else float("nan"), display=False)
glue("headline_within", 100 * head["within"] if head else float("nan"), display=False)
glue("headline_control", head["control"] if head and head["control"] else "not run in this profile.", display=False)

# %% [markdown]
# ```{glue:figure} findings_table
# :name: tab-findings
# The paper's claims (rows) and what each teacher's results say (columns, each named with its
# teacher's training steps; "–" where a claim is not tested on that teacher's chapter).
# ```
#
# Of the (claim, teacher) cells: {glue:text}`n_reproduced` reproduced, {glue:text}`n_contradicted`
# contradicted, {glue:text}`n_equivalent` equivalent, {glue:text}`n_inconclusive` inconclusive,
# {glue:text}`n_too_few_seeds` with too few seeds, {glue:text}`n_not_tested_here` not tested here and
# {glue:text}`n_not_yet_tested` not yet tested.
#
# {glue:text}`tally`
#
# ```{glue:figure} rules_table
# :name: tab-findings-rules
# Each claim's rule, as the profile fixes it before any result is read (its values filled in).
# ```
#
# **The margin.** A difference in Fréchet distance within ±{glue:text}`fd_margin:.0f`% of the
# compared row's value reads as *equivalent*. The paper's own run-to-run spread sets the scale: in
# the code behind its Table 1, "Taylor" and "Diff-Pruning, T = 0" are the same computation, and
# their FIDs differ by {glue:text}`spread_cifar:.1f`% on CIFAR-10 and {glue:text}`spread_celeba:.1f`%
# on CelebA-HQ: the margin lies above the first and below the second, so where CelebA-HQ's spread is
# the scale it is the stricter reading. With few seeds the margin may be out of reach: an
# *inconclusive* verdict on the chapters' pages says what its seeds resolve (its interval's
# half-width) beside the margin, so "these seeds cannot tell" is not read as "no difference".
#
# **The headline** is read from {doc}`rq3`'s finetune checkpoints inside the paper's window (10–20%
# of the teacher's steps), each paired with the teacher by seed ({glue:text}`headline_seeds` seeds),
# at MACs ×{glue:text}`headline_macs:.2f`. Its margin is the paper's own gap ({glue:text}`headline_within:.1f`%
# of the teacher's distance), and the claim is judged at one checkpoint fixed in the profile before the
# results (`headline_point`: the paper's own 12.5 %): *reproduced* where its whole interval lies within
# the gap, *contradicted* where it lies wholly beyond it, *inconclusive* otherwise. The window's
# other checkpoints are shown as context and decide nothing. Against the control, the teacher
# finetuned through the same window (what the same compute does without pruning), at the same
# point: {glue:text}`headline_control`
#
# ## The evidence
#
# ```{glue:figure} evidence_table
# :name: tab-findings-evidence
# Every paired comparison behind the findings ("a vs b": Diff-Pruning T = 0.05 is the reference row
# of {doc}`rq1`; the headline's rows are checkpoints of {doc}`rq3`): the reading of each at 95 %
# before any adjustment (better or worse for a) and a − b with its 95% interval, paired over the
# seeds in the column's header ("3/5 seeds": some comparisons over 3 seeds, others over 5, as each
# chapter's profile keys set them; "1000 samples": one seed's samples, paired by sample index, which
# decides no finding).
# ```
#
# ```{glue:figure} speed_numbers
# :name: tab-findings-speed
# The speed claim's evidence, from {doc}`rq3`'s recorded timings: the prune's speed-up over the
# teacher (median, and its range over the timing rounds) beside what its MACs would allow. The claim
# is judged on the study's teacher; RQ3's speed table also times the paper's architecture and its
# prune on the same devices, which decides nothing here.
# ```
#
# ```{glue:figure} paper_numbers
# :name: tab-findings-paper
# The paper's numbers for each claim, as published (not ours).
# ```
#
# ```{glue:figure} not_tested
# :name: tab-findings-not-tested
# Claims not tested here, and why.
# ```
