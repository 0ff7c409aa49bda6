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
# # RQ3 — The trade-offs
#
# **Question.** The paper's headline is a trade: *about 50% fewer MACs at 10–20% of the teacher's
# training cost, with quality close to the teacher's*. Does it hold here? And the trade around that
# point: how much quality each pruning ratio costs, how fast finetuning buys it back, whether a
# smaller model samples faster in seconds, and whether pruning beats taking fewer sampler steps.
#
# **Answer at our scale, for Diff-Pruning at the paper's point: {glue:text}`headline_finding`.** The
# methods {glue:text}`p_headline_methods` (Diff-Pruning decides the claim; the others are context), pruned at ratio
# {glue:text}`p_headline_ratio` (MACs ×{glue:text}`headline_macs:.2f`; **the paper's** CIFAR-10 prune:
# ×{glue:text}`headline_paper_macs:.2f`, its claim "about 50 % fewer") are finetuned once per seed through
# checkpoints inside the paper's window, and each checkpoint is compared with the teacher paired by
# seed ({glue:text}`headline_seeds` seeds). "Close to the teacher" is the paper's own gap: its CIFAR-10
# Diff-Pruning FID is {glue:text}`headline_within:.1f`% above its teacher's, so a checkpoint whose whole
# interval lies within ±{glue:text}`headline_within:.1f`% of the teacher's distance reads *equivalent*
# (the claim holds there): a relative gap carried over from Inception FID to our distance, an
# assumption of this reading, not a measurement. It is the looser of the paper's two gaps: on CelebA-HQ the same row is
# {glue:text}`headline_within_celeba:+.1f`% from its teacher (**the paper's numbers**); the margin
# was fixed at CIFAR-10's before the results. The claim is judged at one checkpoint fixed before the
# results, the paper's own point ({glue:text}`p_headline_point` steps: its CIFAR-10 finetune took 100K of 800K steps,
# 12.5 %); the other checkpoints are shown as context, not as more chances. There it is *contradicted*
# where the whole interval lies beyond the paper's gap, *inconclusive* where the interval reaches into
# it. *Worse* in the table says only that a checkpoint is worse than the teacher beyond the noise.
#
# **Against a teacher trained longer** ({doc}`teachers`): {glue:text}`teacher_converged` If the teacher
# improves with more training, "X % of the teacher's training" is a share of a teacher that is not
# yet as good as its recipe allows, and the checkpoints above are measured against a lower bar.
#
# **Against the control**, the teacher itself finetuned through the same window (what the same
# compute does without pruning): {glue:text}`headline_control`

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change, e.g. {"tradeoff_ratios": [0.25, 0.5]}

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from diffprune import evaluation, plan, profiles, verdicts
from diffprune.artifacts import device_words, listed
from diffprune.chapters import (
    findings,
    frontier,
    headline,
    lever_samples,
    recovery,
    rounding,
    rq3,
    speed,
    teachers,
    training_step,
)

p = rq3.CHAPTER.load(profile, overrides)
for name in ("headline_methods", "headline_ratio", "tradeoff_ratios", "tradeoff_threshold", "recovery_steps",
             "speed_repeats", "speed_rounds", "frontier_ratios", "frontier_ddim_steps", "frontier_dpm_steps",
             "headline_point"):
    # the prose names the values this page ran with, not the profile's keys
    value = getattr(p, name)
    glue(f"p_{name}", ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
         if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value), display=False)
head = headline.headline_section(p)
glue("headline_grid", head["table"], display=False)
glue("headline_finding", findings.at_point(headline.at_point(p, head["verdicts"])).value, display=False)
control = headline.at_point(p, head["verdicts"], against=evaluation.CONTROL_LABEL)
glue("headline_control", verdicts.sentence(control) if control else "not run in this profile: the pruned checkpoints "
     "are read against the plain teacher only.", display=False)
glue("headline_macs", head["macs_fraction"], display=False)
glue("headline_paper_macs", headline.paper_macs(), display=False)
glue("headline_seeds", head["seeds"], display=False)
glue("headline_within", 100 * head["within"], display=False)
glue("headline_within_celeba", 100 * headline.paper_gap("celeba-hq"), display=False)
taught = teachers.CHAPTER.load(profile, overrides)
converged = teachers.curve_verdicts(taught) if teachers.recipe(taught) else []
glue("teacher_converged", " ".join(verdicts.sentence(v) for v in converged) or "not measured in this profile.",
     display=False)

# %% [markdown]
# ```{glue:figure} headline_grid
# :name: tab-rq3-window
# Each method (rows) at each checkpoint (columns: finetune steps and their share of the teacher's
# training steps) against the teacher (and, where the control ran, against the control at the same
# checkpoint): the reading, then FD(method) − FD(teacher) with its 95% t interval over the paired
# seeds, and as a percentage of the teacher's distance.
# ```
#
# ````{dropdown} The parameters this page ran with
# ```{glue:} rq3_parameters
# ```
# ````
#
# **Before this chapter**: {doc}`teachers`, {doc}`rq1` (the methods and the finetune recipe, shared
# here: RQ1's rows are this chapter's ratio-{glue:text}`rq1_ratio` rows after {glue:text}`rq1_steps`
# steps) and {doc}`rq2` (the threshold).

# %% tags=["remove-cell"]
glue("rq3_parameters", profiles.table(p), display=False)
glue("rq1_ratio", f"{p.ratio:g}", display=False)
glue("rq1_steps", f"{p.finetune_steps:,}", display=False)

# %% [markdown]
# ## Ratio × recovery
#
# Every method prunes the teacher at every ratio of {glue:text}`p_tradeoff_ratios` (uniform per layer, as the
# paper's CIFAR-10 runs; Diff-Pruning with $T$ = {glue:text}`p_tradeoff_threshold`), and each pruned model is
# finetuned **once**, for the longest budget of {glue:text}`p_recovery_steps` steps. The shorter budgets are that
# run's checkpoints: a run of $k$ steps is exactly the first $k$ steps of a longer one here (the
# data order, the noise and the dropout of step $s$ are drawn from the seed and $s$, and the
# learning rate is constant after warm-up; tested), so each checkpoint is evaluated as its own
# model. Budget 0 is the pruned model before any finetuning.
#
# A ratio is torch-pruning's channel ratio; the real MACs fractions (attention included) are
# {glue:text}`sweep_span`: channels are removed in whole GroupNorm groups and the first and last
# convolutions keep the image's channels, so a fraction need not equal $(1 - r)^2$.

# %% tags=["hide-input"]
sweep = recovery.sweep_section(p)
glue("pareto", sweep["pareto"], display=False)
glue("recovery", sweep["recovery"], display=False)
glue("headline", sweep["headline"], display=False)
glue("longest_share", sweep["longest_share"], display=False)
glue("sweep_span", sweep["span"], display=False)
glue("paper_points", recovery.paper_points(), display=False)
glue("sweep_n", p.recovery_samples, display=False)
glue("sweep_metric", sweep["metric"], display=False)
glue("sweep_ddim", p.ddim_steps, display=False)
glue("sweep_seeds", len(p.tradeoff_seeds), display=False)

# %% [markdown]
# ```{glue:figure} pareto
# :name: fig-rq3-pareto
# {glue:text}`sweep_metric` against the MACs fraction, one panel per finetune budget, one line per
# method; each point from {glue:text}`sweep_n` samples with its 95% bootstrap interval over those
# samples ({glue:text}`sweep_seeds` seed(s): the interval covers sampling noise only, not another
# prune or finetune); the teacher dashed (star), the band within 10% of it. Log scale: unfinetuned
# prunes are far off.
# ```
#
# ```{glue:figure} recovery
# :name: fig-rq3-recovery
# Recovery curves: the same rows against the finetune steps, as a share of the teacher's
# training steps, one panel per ratio.
# ```
#
# ```{glue:figure} headline
# :name: tab-rq3-headline
# The whole sweep against a cutoff: for each ratio (and its MACs fraction) and method, the share of
# the teacher's training steps after which the Fréchet distance (point estimate,
# {glue:text}`sweep_seeds` seed(s), no interval) is within 10% (and 25%) of the teacher's, at the
# evaluated checkpoints only; –: not within it by the longest finetune ({glue:text}`longest_share` of
# the teacher's steps). The headline's verdict above rests on the paired checkpoints, not on this table.
# ```
#
# **Beside the paper.** The paper reports one point of this surface per data set (**its numbers**,
# Table 1, Inception FID on 50,000 samples): {glue:text}`paper_points`. **Deviations**: our teacher is the
# small model of *The teachers*, our distance is {glue:text}`sweep_metric` on {glue:text}`sweep_n`
# samples (not comparable in value to FID), DDIM {glue:text}`sweep_ddim` steps instead of 100,
# {glue:text}`sweep_seeds` seed(s).
#
# ## Measured speed
#
# Seconds per denoising step (one forward pass of the UNet; every sampler step costs one), the
# median of {glue:text}`p_speed_repeats` timed passes after two warm-up passes, for the teacher and
# Diff-Pruning's prune at each ratio (speed depends on the structure only, which the ratio fixes
# for every method). Every one of {glue:text}`p_speed_rounds` rounds times all of them in every setting, so a
# slow spell of the machine spreads across rounds instead of landing on one model: a cell is the
# median over rounds, and its speed-up over the teacher is paired by round (the reading gives the
# range). Each cell gives the measured speed-up over the teacher and the MACs ideal.
#
# Our teacher is small, and a small model's step has costs that pruning channels does not shrink
# (the section after the tables measures them). So the table also
# times the model the paper prunes — `speed_architectures`, e.g. `google/ddpm-cifar10-32`'s
# architecture (35.7 M parameters) on CIFAR-10-sized images, with random weights since only its
# structure sets the time — and its magnitude prune at the study's ratio, each against its own
# unpruned model in the same rounds.

# %% tags=["hide-input"]
timed = speed.speed_section(p)
glue("speed_table", timed["table"], display=False)
glue("speed_goal", timed["goal_table"], display=False)
glue("speed_goal_kinds", ", ".join(f"{f['kind'].value} for {f['model']} on {f['device']}"
                                   for f in timed["goal"]) or "–", display=False)
glue("speed_faster_kinds", ", ".join(f"{speed.faster_than_unpruned(f).value} for {f['model']} on {f['device']}"
                                     for f in timed["goal"]) or "–", display=False)
glue("goal", f"{speed.GOAL:.2f}", display=False)
glue("speed_above_ideal", speed.above_ideal(timed["goal"]), display=False)
glue("speed_growth", speed.batch_growth_text(timed["growth"]), display=False)

# %% [markdown]
# ```{glue:figure} speed_table
# :name: tab-rq3-speed
# Milliseconds per denoising step (in brackets: measured speed-up of the pruned model over its
# unpruned one, then the MACs ideal), per device, batch and CPU thread count, medians over rounds.
# Each column was measured on the machine its records name (`data/study/timing/`); GPU columns
# come from the run made when one was lent, in the rounds recorded then (–: a model that run did
# not time).
# ```
#
# ```{glue:figure} speed_goal
# :name: tab-rq3-speed-goal
# The study's ratio at the largest batch (and thread count) of each device against the goal of
# reaching {glue:text}`goal` of the MACs ideal (this study's bar, not the paper's, which reports MACs
# and no seconds; fixed before the timings: most of the MACs a prune removes should show as
# seconds): its measured speed-up over its unpruned model, the share of
# the ideal (median over rounds; in brackets the range over rounds), the reading — *better*: the goal
# met in every round, *worse*: missed in every round, *inconclusive*: rounds on both sides —, and the
# best speed-up of that model's prunes in any setting of the table above. One row per device and
# unpruned model: our teacher, and each timed architecture.
# ```
#
# {glue:text}`speed_above_ideal`
#
# How much longer an unpruned model's step takes for many times the images (the time at the largest
# batch over the time at the smallest): {glue:text}`speed_growth`. Pruning removes
# arithmetic; a step that takes little longer for many times the images is paying mostly for
# something else (launching and scheduling the layers' kernels, moving activations), which a
# narrower layer still pays, so there the measured speed-up stays far from the MACs ideal.
#
# ### Where the gap comes from, and what closes it
#
# `benchmarks/speed_levers.py` (run alone; its record is `data/results/speed_levers.json`) times
# the teacher and the paper's architecture, each against its prune at the study's ratio, at each
# batch size under the levers a user would try — the speed-up always against the unpruned model
# *in the same setting* — and profiles one forward pass by operator. It is a run of its own, on the
# machine and day its reading names: where it times a setting the table above also has, it measures
# the same speed-up again, and the two differ by what another machine or day does to timings.

# %% tags=["hide-input"]
for record in speed.levers_records():  # one per device kind timed
    levers = speed.levers_section(record, p)
    with pd.option_context("display.max_rows", None):  # every row, not pandas' shortened view
        display(levers["levers"], levers["operators"], Markdown(levers["reading"]))
if not speed.levers_records():
    display(Markdown("No recorded run of `benchmarks/speed_levers.py` yet."))

# %% [markdown]
# Whether a lever changes what the model draws: each setting below draws the first seed's samples
# again, from the same noise as the fp32 draws, for the teacher and RQ1's reference row; the
# Fréchet distance's difference to the fp32 draws is a paired bootstrap over the samples, judged
# against the same margin as every comparison of this book; SSIM and the content classifier's class
# say how alike the two draws of each sample are.

# %% tags=["hide-input"]
drawn = lever_samples.lever_section(p)
if drawn is None:
    display(Markdown("The profile checks no lever (`lever_checks` is empty)."))
else:
    display(drawn["table"], Markdown(drawn["reading"]))

# %% [markdown]
# ### What rounding the widths costs
#
# GPU kernels favour channel counts that are multiples of 8, and a uniform ratio can leave widths that
# are not. `prune --round-to 8` keeps every pruned width a
# multiple of 8, as near the ratio as that allows. What it costs in quality: at each ratio below,
# RQ1's reference row is pruned with and without rounding and finetuned the same way, and the two are
# read paired by seed (FD, and SSIM to the teacher), Holm-adjusted over all the readings of the table.
# The rule was fixed before the numbers: rounding costs quality where either reading is *worse*, is
# free where both are *equivalent* (or *better*), and is unresolved otherwise. Where the rounded prune
# keeps the very channels of the unrounded one (every width already a multiple of 8), the two are one
# model and nothing needs measuring; a ratio where the widths do change (as at the rounded prunes the
# levers table times for speed) is measured only where the profile lists it in `rounding_ratios`.

# %% tags=["hide-input"]
rounded = rounding.rounding_section(p)
if rounded is None:
    display(Markdown("The profile checks no ratio (`rounding_ratios` is empty)."))
else:
    display(rounded["table"], Markdown(rounded["reading"]))

# %% [markdown]
# ### The training step
#
# The study's binding constraint is its own compute: a teacher or finetune step takes about a second
# on one CPU thread. `benchmarks/train_levers.py` (run alone; `data/results/train_levers.json`) times
# the teacher's training step under the levers a user would try, the levers in alternation round by
# round; `benchmarks/train_precision.py` finetunes RQ1's Diff-Pruning row again at the fastest
# precision on every seed and reads it against the fp32 row, paired by seed. The rule, fixed before
# the numbers: a lever is adopted only if that finetune is equivalent to fp32's on FD and on SSIM to the
# teacher, within the margins every comparison of this book uses.

# %% tags=["hide-input"]
step = training_step.section(p)
if step is None:
    display(Markdown("No recorded run of `benchmarks/train_levers.py` yet."))
else:
    display(step["levers"], step["operators"])
    loop = (f"On {step['device']} at batch {step['batch']}, the library's own training loop takes "
            f"{step['loop_fp32']:.2f} s per step in fp32 and {step['loop_bf16']:.2f} s in bf16 "
            f"({step['loop_speedup']:.2f}×; the goal was 2×). ")
    if step["verdicts"] is None:
        display(Markdown(loop + "Whether bf16 changes what a finetune learns is not measured yet."))
    else:
        display(step["verdicts"], Markdown(
            loop + f"Over seeds {listed(step['seeds'])}: "
            + " ".join(verdicts.sentence(v) for v in step["found"]) + " " + step["decision"]))

# %% [markdown]
# ## The sampler frontier
#
# Pruning is one way to sample faster; taking fewer sampler steps is the other, and it costs no
# training. Here the teacher and Diff-Pruning's models at ratios {glue:text}`p_frontier_ratios` (after the longest
# finetune) are sampled with DDIM at {glue:text}`p_frontier_ddim_steps` steps and DPM-Solver++ (diffusers'
# `DPMSolverMultistepScheduler`, second order) at {glue:text}`p_frontier_dpm_steps` steps. Time is the measured
# step time above times the number of steps.

# %% tags=["hide-input"]
front = frontier.frontier_section(p, timed["rows"])
glue("frontier_figure", front["figure"], display=False)
glue("frontier_table", front["table"], display=False)
glue("frontier_verdicts", front["verdicts"], display=False)
glue("frontier_best", front["best"], display=False)
glue("frontier_redrawn", front["redrawn"], display=False)
for kind, count in front["kinds"].items():
    glue(f"frontier_{kind}", count, display=False)
glue("frontier_compared", front["compared"], display=False)
glue("frontier_front", front["front"], display=False)
glue("frontier_pruned_on_front", front["pruned_on_front"], display=False)
glue("frontier_n", front["n"], display=False)
glue("frontier_timing", front["timing"], display=False)

# %% [markdown]
# ```{glue:figure} frontier_figure
# :name: fig-rq3-frontier
# Top: Fréchet distance ({glue:text}`frontier_n` samples, 95% bootstrap intervals) against
# seconds per 1,000 images ({glue:text}`frontier_timing`); numbers beside the points are sampler
# steps, the grey staircase is the Pareto frontier. Bottom: **the DDIM and DPM-Solver papers'**
# CIFAR-10 FID against steps (DDIM Table 1, η = 0: 10 steps 13.36, 20 → 6.84, 50 → 4.67,
# 100 → 4.16, 1000 → 4.04; the same table's η = 1 and DDPM σ̂ rows, the stochastic samplers; DPM-Solver:
# 10 evaluations 4.70, 20 → 2.87), for the shape only.
# ```
#
# ```{glue:figure} frontier_table
# :name: tab-rq3-frontier
# The frontier's points (● on the Pareto frontier).
# ```
#
# **Equal time.** Each pruned point is compared with the teacher point of lowest Fréchet distance
# among those that cost no more time, paired over the {glue:text}`frontier_n` sample indices (a
# bootstrap of the difference; one seed, so the interval covers sampling noise only, not another
# prune or finetune): of {glue:text}`frontier_compared` pruned points, {glue:text}`frontier_better`
# are better, {glue:text}`frontier_worse` worse, {glue:text}`frontier_equivalent` equivalent within
# the margin and {glue:text}`frontier_inconclusive` inconclusive; {glue:text}`frontier_pruned_on_front`
# of the {glue:text}`frontier_front` points on the Pareto frontier are pruned models. The best case
# for pruning: {glue:text}`frontier_best`
#
# ```{glue:figure} frontier_verdicts
# :name: tab-rq3-frontier-verdicts
# Each pruned point (rows) against the best teacher point that costs no more time: the reading
# and FD(pruned) − FD(teacher) with its 95 % paired bootstrap interval over sample indices.
# ```
#
# {glue:text}`frontier_redrawn`
#
# DPM-Solver++ keeps DDIM's pairing of sample $i$ with the noise of (seed, $i$): it draws no noise
# after $x_T$, so the same index starts from the same $x_T$ under both samplers. It takes neither
# DDIM's spacing nor $\eta$ (it uses diffusers' own timesteps).
#
# ## Compute
#
# Every result of this chapter — prunes, finetunes, samples and distances, RQ1's shared rows
# included — took {glue:text}`rq3_hours:.2f` hours on {glue:text}`rq3_devices`, summed from their
# records in `data/study/` (each step's own time; the timings run apart, see above).
#
# On a GPU, finetunes are not bit-for-bit deterministic: when the cpu profile's sweep was interrupted
# and resumed on an H100, {glue:text}`gpu_repeat_n` distances were computed twice under the same keys
# and differed by at most {glue:text}`gpu_repeat_pct`% (`data/results/gpu_repeats.json`).
#
# On one CPU thread the sweep's and the frontier's finetunes ({glue:text}`cpu_ft_steps` steps at
# {glue:text}`cpu_ft_rate` s each, the rate of the rows recorded on a CPU) and samples
# ({glue:text}`cpu_image_steps` image-steps) would take about {glue:text}`cpu_hours` hours, half that
# with `--jobs 2` on 2 cores; prunes and distances add minutes each.

# %% tags=["remove-cell"]
spent = plan.spent(rq3.CHAPTER.work(p))
glue("rq3_hours", spent["hours"], display=False)
glue("rq3_devices", ", ".join(dict.fromkeys(map(device_words, spent["devices"]))), display=False)
repeats = evaluation.gpu_repeats() or {}
glue("gpu_repeat_n", str(repeats.get("n", "–")), display=False)
glue("gpu_repeat_pct", f"{repeats['max_pct']:.2f}" if repeats else "–", display=False)
cpu = rq3.cpu_estimate(p)
glue("cpu_ft_steps", f"{cpu['finetune_steps']:,}" if cpu else "–", display=False)
glue("cpu_ft_rate", f"{cpu['seconds_per_finetune_step']:.2f}" if cpu else "–", display=False)
glue("cpu_image_steps", f"{cpu['image_steps']:,}" if cpu else "–", display=False)
glue("cpu_hours", f"{cpu['finetune_hours'] + cpu['sample_hours']:.0f}" if cpu else "–", display=False)

# %% [markdown]
# ## Summary
#
# Every sentence computed from the results above:
#
# - **The headline** (MACs ×{glue:text}`headline_macs:.2f` at 10–20% of the teacher's steps, paired over
#   {glue:text}`headline_seeds` seeds): {glue:text}`headline_finding`.
# - **Speed** (the study's ratio, {ref}`table <tab-rq3-speed-goal>`), read two ways. Faster than its
#   unpruned model in every round, the question {doc}`findings` asks of the teacher (where *better*
#   reads *reproduced*): {glue:text}`speed_faster_kinds`. Against this study's own bar of {glue:text}`goal`
#   of the MACs ideal: {glue:text}`speed_goal_kinds`.
# - **Fewer steps or a smaller model** (each pruned point against the best teacher point of no more
#   time, paired): {glue:text}`frontier_better` of {glue:text}`frontier_compared` better,
#   {glue:text}`frontier_worse` worse, {glue:text}`frontier_equivalent` equivalent,
#   {glue:text}`frontier_inconclusive` inconclusive ({ref}`table <tab-rq3-frontier-verdicts>`).
