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
# # RQ2 — Which timesteps matter
#
# Diff-Pruning's one departure from plain Taylor pruning is *where its gradients come from*: it
# walks the timesteps upward from $t = 0$ and stops at the first $t$ with
# $L_t < T \cdot \max_{s \le t} L_s$, on the argument that the late, noisy timesteps carry little
# information about which weights matter. This chapter looks at that argument from two sides:
# the shape of $L_t$ itself — where each threshold $T$ stops the walk —, what each window of
# timesteps, taken alone, would prune, and what the early and the late timesteps protect in the
# samples: content or detail.
#
# **Before this chapter**: {doc}`teachers` (the models pruned here) and {doc}`rq1` (the pruning itself).
#
# **Answers at our scale** (on {glue:text}`summary_dataset`; each computed below):
#
# - **Where the threshold stops the walk**: T = {glue:text}`curve_T` stops it at {glue:text}`curve_stop`,
#   {glue:text}`curve_position` the official repository's curves ({glue:text}`curve_repo`).
# - **Content versus detail** (early timesteps → detail, late → content): where both windows' SSIM
#   to the teacher lies in {glue:text}`content_band`, the division of labour holds at
#   {glue:text}`content_n_holds` of {glue:text}`content_points_in_band` pairs of windows, is reversed
#   at {glue:text}`content_n_reversed` and both windows are equivalent at
#   {glue:text}`content_n_equivalent` ({ref}`figure <fig-rq2-content>`).
# - **The threshold and the score form after finetuning**: the paired verdicts of
#   {ref}`the threshold table <tab-rq2-threshold-verdicts>`.
#
# ````{dropdown} The parameters this page ran with
# ```{glue:} rq2_parameters
# ```
# ````

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change, e.g. {"window_size": 200}

# %% tags=["hide-input"]
from IPython.display import Markdown
from myst_nb import glue

from diffprune import evaluation, plan, profiles, verdicts
from diffprune.artifacts import device_words
from diffprune.chapters import ablations, content_detail, rq2, timestep_map

p = rq2.CHAPTER.load(profile, overrides)
glue("rq2_parameters", profiles.table(p), display=False)

# %% [markdown]
# ## The L_t curve and the stop t
#
# $L_t$ is the noise-prediction loss at one timestep on one fixed batch with one fixed noise, as
# in the importance pass. Each fixed batch below is the importance batch and noise of one seed,
# so the first is exactly what the RQ1 prunes visit.

# %% tags=["hide-input"]
curve = timestep_map.curve_section(p)
glue("lt_figure", curve["figure"], display=False)
glue("stop_table", curve["table"], display=False)
glue("curve_T", f"{curve['stop']['T']:g}", display=False)
glue("curve_stop", f"never (within t < {curve['timesteps']})" if curve["stop"]["stop"] is None
     else f"t = {curve['stop']['stop']}", display=False)
glue("curve_position", curve["stop"]["position"] or "–", display=False)
glue("curve_repo", ", ".join(f"{k} {v}" for k, v in curve["stop"]["repository"].items()) or "none recorded",
     display=False)
glue("lt_batches", len(curve["curve"]["loss"]), display=False)
glue("lt_stride", p.lt_stride, display=False)
glue("lt_batch", p.importance_batch, display=False)

# %% [markdown]
# ```{glue:figure} lt_figure
# :name: fig-rq2-lt
# Top: $L_t$ of the teacher, mean over {glue:text}`lt_batches` fixed batches of
# {glue:text}`lt_batch` images (band: their minimum and maximum), one timestep in
# {glue:text}`lt_stride`. Bottom: the same curve relative to its maximum, the stop $t$ of each threshold, and
# the official repository's recorded CIFAR-10 and CelebA-HQ curves (**the repository's numbers**:
# its loss is summed over pixels, so only relative curves compare).
# ```
#
# ```{glue:figure} stop_table
# :name: tab-rq2-stop
# The first $t$ with $L_t < T \cdot \max_{s \le t} L_s$, on our mean curve and on each fixed batch,
# beside the stop $t$ on the official repository's recorded curves (its numbers).
# ```
#
# On {glue:text}`summary_dataset`, T = {glue:text}`curve_T` stops the walk at {glue:text}`curve_stop`:
# {glue:text}`curve_position` the official repository's curves ({glue:text}`curve_repo`).
#
# **Deviations.** The paper's curves come from CIFAR-10 and CelebA-HQ teachers with 35–79 M
# parameters; ours is a 1.1 M-parameter teacher on other data, and the curve visits one
# timestep in {glue:text}`lt_stride` instead of all of them, so a stop $t$ is known to within that
# stride.
#
# ## What each window of timesteps would prune
#
# For each window $[a, b)$ of timesteps, the gradients of $L_t$ for $t$ in that window only (at
# the profile's `timestep_stride`) give Diff-Pruning's score $\sum |w \cdot g|$ for every channel:
# how similarly do the windows rank the channels, which blocks would each window thin out, and how
# close is each window's choice to Diff-Pruning's own?

# %% tags=["hide-input"]
maps = {q.dataset: timestep_map.map_section(q) for q in evaluation.every_teacher(p)}
importance_map = maps[p.dataset]
for key in ("rho", "jaccard"):
    glue(f"{key}_figure", importance_map[key], display=False)
glue("map_table", timestep_map.map_table({name: m["numbers"] for name, m in maps.items()}, p.reference_threshold),
     display=False)
glue("map_closest", importance_map["numbers"]["closest"], display=False)
glue("map_closest_jaccard", f"{importance_map['numbers']['closest_jaccard']:.2f}", display=False)
glue("map_last", importance_map["numbers"]["last"], display=False)
glue("map_last_jaccard", f"{importance_map['numbers']['last_jaccard']:.2f}", display=False)
glue("ratio", p.ratio, display=False)
glue("window_stride", p.timestep_stride, display=False)

# %% [markdown]
# ```{glue:figure} rho_figure
# :name: fig-rq2-rho
# Spearman rank correlation between the channel scores from every two windows (all ranked
# channels of the UNet, one fixed batch and noise: seed 0, n = 1).
# ```
#
# ```{glue:figure} jaccard_figure
# :name: fig-rq2-jaccard
# For each window, a prune at ratio {glue:text}`ratio` with gradients from that window alone
# (one timestep in {glue:text}`window_stride` of it): the overlap (Jaccard index) of its kept
# channels with those of Diff-Pruning at the reference threshold — the same prune as in RQ1 — in
# each block and in the whole UNet (seed 0, n = 1).
# ```
#
# ```{glue:figure} map_table
# :name: tab-rq2-map
# The importance map in numbers, on every teacher: how alike neighbouring windows and the first and
# last window rank the channels (Spearman ρ), the window whose prune keeps the channels closest to
# Diff-Pruning's and the last window's (Jaccard index of the kept channels, whole UNet), and the most
# by which two windows differ in the share of one block they remove. Where that is 0, every window
# removes the same share of each block: at one local ratio the pruned widths are fixed, and the
# windows differ only in which channels they remove.
# ```
#
# ## Content versus detail
#
# The paper's Figure 1 argues that the early, nearly clean timesteps shape the *details* of a
# sample and the later, noisy ones its *content*. Here that is measured: each model is pruned
# with the gradients of the early timesteps $[0, k)$ only or — which the paper did not run — of
# the late ones $[k, 1000)$ only, and its samples are compared with the teacher's from the same
# noise: SSIM on Sobel edge maps (detail: do the edges sit where the teacher's do?) and Cohen's
# $\kappa$ between a classifier's labels of the two (content: is it the same kind of garment,
# beyond the agreement that unequal class frequencies give by chance).

# %% tags=["hide-input"]
content = content_detail.content_section(p)
for key in ("figure", "ssim_table", "candidates", "samples", "verdicts"):
    glue(f"content_{key}", content[key], display=False)
band = content["in_band"]
for reading in ("holds", "reversed", "equivalent", "mixed"):
    glue(f"content_{reading}", "; ".join(band[reading]) or "none", display=False)
    glue(f"content_n_{reading}", len(band[reading]), display=False)
glue("content_points_in_band", content["points_in_band"], display=False)
glue("content_points", content["points"], display=False)
glue("content_band", "{:g}–{:g}".format(*p.content_ssim_band), display=False)
glue("content_best_unfinetuned", f"{content['best_unfinetuned_ssim']:.2f}", display=False)
glue("content_accuracy", f"{100 * content['classifier_accuracy']:.1f}%" if content["classifier_accuracy"] else "–",
     display=False)
glue("content_seeds", content["seeds"], display=False)
glue("content_n", content["n"], display=False)
glue("content_steps", ", ".join(map(str, p.content_repair_steps)), display=False)
repo = [v for curve in content_detail.repository_ssim().values() for v in curve.values()]
glue("repo_ssim", f"{min(repo):.2f}–{max(repo):.2f}", display=False)
glue("other_judges", ", ".join(f"{100 * c['test_accuracy']:.1f}% on {q.dataset} ({len(c['classes'])} classes)"
                               for q in evaluation.other_teachers(p) if (c := evaluation.judge_of(q))) or "–",
     display=False)

# %% [markdown]
# **Answer.** Of the {glue:text}`content_points` pairs of windows (each $k$ at each finetune
# checkpoint), {glue:text}`content_points_in_band` have both windows' SSIM to the teacher in
# {glue:text}`content_band`, where the models are neither noise nor copies of the teacher. There, the
# paper's division of labour — $[0, k)$ keeps more detail *and* $[k, 1000)$ more content, both beyond
# the 95 % interval of the per-seed difference — **holds at {glue:text}`content_n_holds`**
# ({glue:text}`content_holds`), **is reversed at {glue:text}`content_n_reversed`**
# ({glue:text}`content_reversed`), both windows are equivalent on both at
# {glue:text}`content_n_equivalent` ({glue:text}`content_equivalent`), and the two measures disagree
# or are inconclusive at {glue:text}`content_n_mixed`.
#
# **Why along the finetune.** The official `prune_ssim.py` compares the windows right after
# pruning, on 35–79 M-parameter models whose unfinetuned prunes keep SSIM {glue:text}`repo_ssim`
# (**the repository's numbers**). Our 1.1 M-parameter
# teacher has no such prune: at any ratio, with either method, the unfinetuned model is near noise
# (best SSIM {glue:text}`content_best_unfinetuned`, table below; with 8 GroupNorm groups a 32-channel
# layer has 4 channels per group, so every ratio removes one channel in four there). Pruning whole
# GroupNorm groups instead, so that no group is left partial, does not compose with the UNet's skip
# connections and is not among the candidates: an up block's first GroupNorm groups the
# concatenation of its input and a skip, whose widths its groups do not divide alike, so a whole
# group there is parts of groups of the two producers' own GroupNorms. So each window's
# prune is finetuned briefly — RQ1's batch and learning rate, the warm-up scaled to the length — and
# compared at the checkpoints {glue:text}`content_steps` of that one run, {glue:text}`content_seeds`
# seeds (the seed sets the importance batch and noise, the finetune order and the sampling noise),
# {glue:text}`content_n` samples per model and seed.
#
# ```{glue:figure} content_candidates
# :name: tab-rq2-candidates
# Unfinetuned prunes of the whole range $[0, 1000)$ at small ratios (first seed): MACs of the
# teacher's, and SSIM and Cohen's $\kappa$ to the teacher from the same noise (95 % bootstrap
# interval over the {glue:text}`content_n` sample pairs).
# ```
#
# ```{glue:figure} content_figure
# :name: fig-rq2-content
# Top: each window's SSIM to the teacher along the short finetune (mean over
# {glue:text}`content_seeds` seeds; $[0, k)$ blue, $[k, 1000)$ orange dashed, darker for larger
# $k$), the band where windows are compared shaded. Second and third panels: the difference
# $[0, k) - [k, 1000)$ at the same seed, mean and 95 % t interval over the paired seeds, on detail
# (edge SSIM; the paper predicts $> 0$) and content (Cohen's $\kappa$; the paper predicts $< 0$);
# hollow points lie outside the band, grey the equivalence margin.
# ```
#
# ```{glue:figure} content_ssim_table
# :name: tab-rq2-content-ssim
# Mean SSIM to the teacher of $[0, k)$ / $[k, 1000)$ at each checkpoint (the band decides which
# pairs are read).
# ```
#
# ```{glue:figure} content_verdicts
# :name: tab-rq2-content-verdicts
# $[0, k)$ against $[k, 1000)$ at each $k$ (rows) on detail (edge SSIM) and content (Cohen's
# $\kappa$) at each checkpoint (columns): the reading for $[0, k)$ and the difference with its 95 %
# t interval over the paired seeds. The classifier that judges content reaches
# {glue:text}`content_accuracy` on the test split.
# ```
#
# ```{glue:figure} content_samples
# :name: fig-rq2-content-samples
# The teacher's samples and those of the shortest and longest early and late windows, right
# after pruning and at the last checkpoint (`+` its steps), from the same noise (first seed).
# ```
#
# **Deviations.** The paper shows this claim with a figure of samples, not a measurement; edge
# SSIM and $\kappa$ are this book's measures of detail and content, and it reads them after a
# short finetune because its unfinetuned prunes are noise. The repository's numbers come from
# larger models on other data, pruned at other ratios with another score. Where content is judged
# on the study's teacher only (`sweeps_on_more_teachers`), the reason is the other judges: their test
# accuracy is {glue:text}`other_judges` — too low for a label to say what a sample shows.
#
# ## The threshold, after finetuning
#
# Does the stop $t$ matter once the pruned model is finetuned? Diff-Pruning at each threshold,
# pruned and finetuned exactly as the RQ1 rows (the rows RQ1 also has are the same runs), then
# evaluated like them: Fréchet distance to the test split, SSIM and class agreement with the
# teacher.

# %% tags=["hide-input"]
ablation = ablations.threshold_section(p)
glue("threshold_figure", ablation["figure"], display=False)
glue("threshold_table", ablation["table"], display=False)
glue("threshold_verdicts", verdicts.table([v for q in evaluation.sweep_teachers(p, "ablations")
                                          for v in ablations.threshold_section(q)["verdicts"]]), display=False)
glue("reference_threshold", p.reference_threshold, display=False)
glue("threshold_seeds_note", ablations.seeds_note(p), display=False)
glue("ablation_seeds", len(p.ablation_seeds), display=False)
glue("ablation_n", p.n_samples, display=False)
glue("ablation_interval", ablation["summary"]["interval"].iloc[0], display=False)

# %% [markdown]
# ```{glue:figure} threshold_figure
# :name: fig-rq2-threshold
# Diff-Pruning at ratio {glue:text}`ratio` and threshold $T$ (tick: $T$ and the stop $t$ it gave),
# after the profile's finetune: {glue:text}`ablation_n` samples per model,
# {glue:text}`ablation_seeds` seed(s); bars: {glue:text}`ablation_interval`.
# ```
#
# ```{glue:figure} threshold_table
# :name: tab-rq2-threshold
# The same numbers, beside **the paper's** FID of Diff-Pruning at the thresholds it reports
# (Table 1; Inception FID on 50,000 samples, larger models, other data: compare the ordering, not
# the values).
# ```
#
# ```{glue:figure} threshold_verdicts
# :name: tab-rq2-threshold-verdicts
# The reference threshold $T$ = {glue:text}`reference_threshold` against each other threshold, on
# every teacher of the ablations (columns), paired by seed: the reading, then a − b with its 95% t
# interval over the seeds (equivalent: the whole interval within the profile's margin).
# {glue:text}`threshold_seeds_note`
# ```
#
# ## Which ingredient matters: the score or the threshold
#
# With $g$ the gradient summed over the visited timesteps, three score forms rank the channels of
# a group: $\sum_i |w_i g_i|$ (Diff-Pruning in the official diffusers scripts and in RQ1),
# $|\sum_i w_i g_i|$ (their Taylor baseline) and $\sum_i (w_i g_i)^2$ (the importance of the
# official `ddpm_exp/` code that produced the paper's Table 1). Each is run with the reference
# threshold and without one. In `ddpm_exp/` the Taylor baseline and Diff-Pruning share the squared
# score and differ only by the threshold: the paper's "Taylor" row is "Diff-Pruning, $T = 0$" run
# again, and their gap — **the paper's numbers**: CIFAR-10 5.56 against 5.49, CelebA-HQ 6.64
# against 6.24 — measures its run-to-run spread. $|\sum w g|$ without a threshold is RQ1's Taylor
# row itself (the same computation, tested), and the $\sum |w g|$ rows are RQ1's Diff-Pruning rows.

# %% tags=["hide-input"]
scores = ablations.score_section(p)
glue("score_table", scores["table"], display=False)
glue("score_verdicts", verdicts.table([v for q in evaluation.sweep_teachers(p, "ablations")
                                      for v in ablations.score_section(q)["verdicts"]]), display=False)
glue("score_interval", scores["summary"]["interval"].iloc[0], display=False)

# %% [markdown]
# ```{glue:figure} score_table
# :name: tab-rq2-score
# Score form × threshold after the profile's finetune: Fréchet distance and SSIM,
# {glue:text}`ablation_n` samples per model, {glue:text}`ablation_seeds` seed(s)
# ({glue:text}`score_interval`).
# ```
#
# ```{glue:figure} score_verdicts
# :name: tab-rq2-score-verdicts
# Paired by seed, on every teacher of the ablations (columns): each score form with the reference
# threshold against itself without one, and Diff-Pruning's $\sum_i |w_i g_i|$ against each other
# form at both; the reading, then the difference in Fréchet distance with its 95% t interval.
# ```
#
# **Deviations.** Our squared score squares the GroupNorm terms too; the vendored one keeps them
# as $|w g|$ (see `importance.SquaredTaylorImportance`).
#
# ## The same on the other teachers

# %% tags=["hide-input"]
for q in evaluation.other_teachers(p):
    display(Markdown(f"**{q.dataset}** (teacher `{q.teacher}`)"))
    section = timestep_map.curve_section(q)
    display(section["figure"], section["table"])
    display(maps[q.dataset]["rho"], maps[q.dataset]["jaccard"])  # in numbers: the map table above
    if "content" in p.sweeps_on_more_teachers:
        section = content_detail.content_section(q)
        display(section["figure"], section["ssim_table"], section["samples"], section["verdicts"])
    if "ablations" in p.sweeps_on_more_teachers:
        section = ablations.threshold_section(q)
        display(section["figure"], section["table"])
        display(ablations.score_section(q)["table"])  # their paired verdicts are in the tables above
left = [name for name in rq2.SWEEPS if name not in p.sweeps_on_more_teachers]
if left:
    display(Markdown(f"Run on the study's teacher only in this profile: {' and '.join(left)} "
                     f"(`sweeps_on_more_teachers: [{', '.join(p.sweeps_on_more_teachers)}]`)."))

# %% [markdown]
# ## Compute
#
# The results of this chapter (L_t curves, window scores, window prunes; the content-vs-detail
# walks, prunes, finetunes and samples; the ablations' prunes, finetunes and samples, rows shared
# with RQ1 included) took {glue:text}`rq2_hours:.2f` hours on {glue:text}`rq2_devices`, summed
# from their records in `data/study/`.

# %% tags=["hide-input"]
spent = plan.spent(rq2.CHAPTER.work(p))
glue("rq2_hours", spent["hours"], display=False)
glue("rq2_devices", ", ".join(dict.fromkeys(map(device_words, spent["devices"]))), display=False)

# %% [markdown]
# ## Summary
#
# On the study's teacher ({glue:text}`summary_dataset`), every number computed from the results
# above:
#
# - **Where the threshold stops**: T = {glue:text}`curve_T` at {glue:text}`curve_stop`,
#   {glue:text}`curve_position` the official repository's curves ({glue:text}`curve_repo`).
# - **What the windows prune**: the window whose prune is closest to Diff-Pruning's is
#   {glue:text}`map_closest` (Jaccard {glue:text}`map_closest_jaccard` of the kept channels; the
#   last window, {glue:text}`map_last`: {glue:text}`map_last_jaccard`).
# - **Content and detail** (where both windows' SSIM lies in {glue:text}`content_band`, after a
#   short finetune): the division of labour holds at {glue:text}`content_n_holds` of
#   {glue:text}`content_points_in_band` pairs of windows, is reversed at
#   {glue:text}`content_n_reversed`, equivalent at {glue:text}`content_n_equivalent`.
# - **The threshold after finetuning** and **score or threshold**: the paired verdict tables above,
#   on every teacher of the ablations.

# %% tags=["remove-cell"]
glue("summary_dataset", p.dataset, display=False)
