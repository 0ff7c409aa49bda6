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
# # RQ1 — Table 1: pruning with and without timestep awareness
#
# **Question.** Can structural pruning find the redundancy of a pretrained diffusion model, so that
# a short finetuning recovers its quality — and does Diff-Pruning's timestep-aware importance find
# it better than scratch training, random, magnitude and plain Taylor pruning at the same size?
#
# **Answer at our scale.** {glue:text}`rq1_answer`
#
# How that is read, per teacher: the Diff-Pruning row at the reference threshold against
# every other row, paired (the per-seed difference, or a paired bootstrap over sample indices
# where there is one seed). *Better* / *worse*: the interval of the difference excludes 0 on that
# side; *equivalent*: the whole interval lies within the profile's margin; *inconclusive*: neither.
# Lower is better for FD, higher for SSIM to the teacher.

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change, e.g. {"ratio": 0.5}

# %% tags=["hide-input"]
from IPython.display import Markdown
from myst_nb import glue

from diffprune import evaluation, plots, profiles, published, verdicts
from diffprune.artifacts import device_words
from diffprune.chapters import rq1

p = rq1.CHAPTER.load(profile, overrides)
every = [(q, rq1.run(q, progress=False)) for q in evaluation.every_teacher(p)]
glue("rq1_verdicts", verdicts.table([v for q, rows in every for v in rq1.comparisons(q, rows)]), display=False)
glue("rq1_answer", rq1.answer(every), display=False)
glue("rq1_control", rq1.control_reading(every), display=False)
shares = [(q, evaluation.trained_steps(q)) for q, _ in every]
glue("finetune_shares", " and ".join(f"{100 * q.finetune_steps / t:.3g} % on {q.dataset} "
                                     f"({q.finetune_steps:,} of {t:,})" for q, t in shares if t) or "–", display=False)
rows = every[0][1]
summary = rq1.summarize(rows)
glue("rq1_figure", plots.rq1_tradeoff(summary, published.paper_table("cifar10"), summary["fd_metric"].iloc[0]),
     display=False)
glue("reference_row", rq1.reference_row(p), display=False)
glue("margins", ", ".join(f"{k} ±{v:g}{' of the other row' if k in verdicts.RELATIVE else ''}"
                          for k, v in p.equivalence_margins.items()), display=False)

# %% [markdown]
# ```{glue:figure} rq1_verdicts
# :name: tab-rq1-verdicts
# {glue:text}`reference_row` (a) against every other row (b), per teacher (columns, with what the
# comparison is paired over: seeds, or sample indices for one seed). Each cell: the reading, then
# a − b with its 95% interval (for FD also as a percentage of b). Margins: {glue:text}`margins`.
# ```
#
# ```{glue:figure} rq1_figure
# :name: fig-rq1
# Quality against MACs. Top: this study, with 95% intervals over seeds. Bottom: the paper's
# CIFAR-10 Table 1 as published (Inception FID, 50k samples, no intervals).
# ```
#
# ````{dropdown} The parameters this page ran with
# ```{glue:} rq1_parameters
# ```
# ````

# %% tags=["remove-cell"]
glue("rq1_parameters", profiles.table(p), display=False)

# %% [markdown]
# ## Our table
#
# Each row is computed (or read from the study cache in `data/study/`, keyed by these
# parameters) by `diffprune.chapters.rq1.run`.

# %% tags=["hide-input"]
glue("metric", summary["fd_metric"].iloc[0], display=False)
glue("interval", summary["interval"].iloc[0], display=False)
glue("macs_fraction", float(summary["macs_fraction"].iloc[-1]), display=False)
glue("n_samples", f"{p.n_samples:,}", display=False)
glue("seed_spread", rq1.seed_spread_table(every), display=False)
glue("seed_devices", "; ".join(f"seed {k}: {', '.join(dict.fromkeys(map(device_words, v)))}"
                               for k, v in rq1.seed_devices(rows).items()),
     display=False)
glue("seeds", ", ".join(str(s) for s in p.seeds), display=False)
repeats = evaluation.gpu_repeats()
glue("gpu_repeats", (f"GPU finetunes are not bit-reproducible: {repeats['n']} distances computed twice under the "
                     f"same keys differed by at most {repeats['max_pct']:.2f}% (data/results/gpu_repeats.json)")
     if repeats else "no distance was computed twice on a GPU", display=False)
glue("rq1_seeds", plots.seed_spread(rows, summary, summary["fd_metric"].iloc[0]), display=False)
glue("rq1_table", rq1.display_table(summary, evaluation.content_judged(p)), display=False)

# %% [markdown]
# ```{glue:figure} rq1_table
# :name: tab-rq1
# Table 1 on our data. FD: {glue:text}`metric` of the samples to the test split; SSIM and "same
# class": agreement between teacher and pruned samples drawn from the same noise; each with its
# {glue:text}`interval` in parentheses (seeds {glue:text}`seeds`; with several seeds, each seed's
# bootstrap interval over its samples, averaged bound by bound, is in its own column). Finetuning
# steps as a share of the teacher's training steps; stop t: the importance pass's stopping timestep,
# its range over the seeds.
# ```
#
# Every pruned row keeps about {glue:text}`macs_fraction:.2f` of the teacher's MACs.
#
# **The control** ({ref}`pretrained + finetune <g-control>`): the teacher finetuned exactly as the
# pruned rows are, so that a pruned row can be read against what the same compute does without
# pruning. {glue:text}`rq1_control`
#
# **Deviations from the paper, beside these numbers.** The metric is {glue:text}`metric` on
# {glue:text}`n_samples` samples, not Inception FID on 50,000: its values are not FID values and
# are not comparable with the paper's column; only the ordering of rows is. The data set and
# teacher are ours (see *The teachers*), the sampler takes fewer DDIM steps, and the importance
# pass visits one timestep in `timestep_stride` instead of all of them (see the parameters above).
# A finetune takes a share of its teacher's training steps, {glue:text}`finetune_shares`, where **the
# paper's** takes 12.5 % (100K of 800K steps; *RQ3*'s headline tests that share). The scores are those of the
# official diffusers scripts — $\sum |w g|$ for Diff-Pruning, $|\sum w g|$ for Taylor —, while the
# code behind the paper's Table 1 (`ddpm_exp/`) squares both, $\sum (w g)^2$, so that its Taylor row
# is Diff-Pruning at $T = 0$ run again; *RQ2* compares the three forms. The paper reports one run per
# row and no intervals.
#
# ## Seeds
#
# A seed fixes the importance batch and its noise, the finetuning order and the sampling noise.
# The table's intervals are over seeds when there are several: is a row's lead larger than what
# another seed would change? Devices, from the records: {glue:text}`seed_devices`
# ({glue:text}`gpu_repeats`).
#
# ```{glue:figure} rq1_seeds
# :name: fig-rq1-seeds
# The Fréchet distance of each row for each seed, with that seed's 95% bootstrap interval over its
# samples (coloured), and the mean over seeds with its interval (black).
# ```
#
# ```{glue:figure} seed_spread
# :name: tab-rq1-seed-spread
# How much the seed moves each row's Fréchet distance, on every teacher: the standard deviation of
# a row's distance over seeds divided by one seed's bootstrap standard error (the width of its 95%
# interval over its samples / 3.92); the median over the rows and its range. Above 1, the seed moves
# the distance more than resampling one seed's samples does, so a single seed's bootstrap interval
# understates a row's uncertainty.
# ```
#
# ## Consistency, seen
#
# The same noise through each model: the paper's claim is that a pruned model stays *consistent*
# with its teacher, drawing the same image from the same noise.

# %% tags=["hide-input"]
glue("rq1_pairs", plots.paired_samples(evaluation.previews(rows, p.seeds[0])), display=False)

# %% [markdown]
# ```{glue:figure} rq1_pairs
# :name: fig-rq1-pairs
# Samples from the same 12 noise draws (columns) through the teacher and each finetuned pruned
# model (rows). SSIM in the table is measured on such pairs, over all samples.
# ```
#
# ## The same table on the other teachers
#
# The same parameters on each of the profile's `more_teachers` (see *The teachers*): does the
# ordering of the rows hold on other data?

# %% tags=["hide-input"]
for q, other_rows in every[1:]:
    other = rq1.summarize(other_rows)
    display(Markdown(f"**{q.dataset}** (teacher `{q.teacher}`)"))
    display(rq1.display_table(other, evaluation.content_judged(q)))
    if not evaluation.content_judged(q) and (judge := evaluation.judge_of(q)):
        display(Markdown(f"*Same class* is not shown for {q.dataset}: its classifier reaches "
                         f"{100 * judge['test_accuracy']:.1f}% on the test split, below "
                         f"{100 * evaluation.JUDGE_MIN_ACCURACY:.0f}%: too low for a label to say what a "
                         "sample shows."))
    display(plots.seed_spread(other_rows, other, other["fd_metric"].iloc[0]))
    display(plots.paired_samples(evaluation.previews(other_rows, q.seeds[0])))
    display(Markdown(f"Samples from the same 12 noise draws through the {q.dataset} teacher and each "
                     "finetuned pruned model. The Fréchet distances of this data set are not comparable "
                     "with the first table's (other reference images; see *The teachers*)."))

# %% [markdown]
# ## The paper's table
#
# The paper's Table 1 (CIFAR-10, `google/ddpm-cifar10-32`), as published; these are **the paper's
# numbers**, not ours.

# %% tags=["hide-input"]
rq1.paper_display("cifar10")
