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
# Can structural pruning find the redundancy of a pretrained diffusion model, so that a short
# finetuning recovers its quality? The paper's Table 1 compares, at one pruned size, training the
# small network from scratch, random, magnitude and Taylor pruning, and Diff-Pruning at thresholds
# $T$: its importance is the Taylor score $\sum |w \cdot \partial L_t / \partial w|$ accumulated
# over $t = 0, k, 2k, \dots$ until the first $t$ with $L_t < T \cdot \max_{s \le t} L_s$.
# Every pruned model is then finetuned for the same number of steps.

# %% tags=["parameters"]
profile = "cpu"
teacher = "data/teachers/fashion-mnist"
teacher_steps = None
dataset = "fashion-mnist"
ratio = 0.25
thresholds = [0.0, 0.02, 0.05]
timestep_stride = 10
importance_batch = 128
finetune_steps = 400
finetune_batch = 64
finetune_lr = 0.0005
finetune_warmup = 50
n_samples = 1000
ddim_steps = 25
spacing = "uniform"
features = "effnet-l0@128"
n_reference = None
n_boot = 200
seeds = [0]
classifier_epochs = 5
more_teachers = []

# %%
from IPython.display import Markdown
from myst_nb import glue

from diffprune import plots, profiles, rq1, teachers

p = profiles.check(dict(
    profile=profile, teacher=teacher, teacher_steps=teacher_steps, dataset=dataset, ratio=ratio,
    thresholds=thresholds, timestep_stride=timestep_stride, importance_batch=importance_batch,
    finetune_steps=finetune_steps, finetune_batch=finetune_batch, finetune_lr=finetune_lr,
    finetune_warmup=finetune_warmup, n_samples=n_samples, ddim_steps=ddim_steps, spacing=spacing,
    features=features, n_reference=n_reference, n_boot=n_boot, seeds=seeds,
    classifier_epochs=classifier_epochs, more_teachers=more_teachers))
profiles.table(p)

# %% [markdown]
# ## Our table
#
# Each row is computed (or read from the study cache in `data/study/`, keyed by these
# parameters) by `diffprune.rq1.run`.

# %%
rows = rq1.run(p, progress=False)
summary = rq1.summarize(rows)
metric = summary["fd_metric"].iloc[0]
glue("metric", metric, display=False)
glue("macs_fraction", float(summary["macs_fraction"].iloc[-1]), display=False)
glue("n_samples", n_samples, display=False)
glue("reading", rq1.reading(summary), display=False)
glue("rq1_table", rq1.display_table(summary), display=False)
glue("rq1_figure", plots.rq1_tradeoff(summary, rq1.paper_table("cifar10"), metric), display=False)

# %% [markdown]
# ```{glue:figure} rq1_table
# :name: tab-rq1
# Table 1 on our data. Fréchet distance of the samples to the test split, with a 95% bootstrap
# interval; SSIM and class agreement between teacher and pruned samples drawn from the same noise;
# finetuning steps as a share of the teacher's training steps.
# ```
#
# Every pruned row keeps about {glue:text}`macs_fraction:.2f` of the teacher's MACs.
# {glue:text}`reading`
#
# **Deviations from the paper, beside these numbers.** The metric is {glue:text}`metric` on
# {glue:text}`n_samples` samples, not Inception FID on 50,000: its values are not FID values and
# are not comparable with the paper's column; only the ordering of rows is. The data set and
# teacher are ours (see *The teachers*), the sampler takes fewer DDIM steps, and the importance
# pass visits every `timestep_stride`-th timestep instead of all of them (see the parameters above).
#
# ```{glue:figure} rq1_figure
# :name: fig-rq1
# Quality against MACs. Left: this study, with 95% intervals. Right: the paper's CIFAR-10
# Table 1 as published (Inception FID, 50k samples, no intervals).
# ```
#
# ## Consistency, seen
#
# The same noise through each model: the paper's claim is that a pruned model stays *consistent*
# with its teacher, drawing the same image from the same noise.

# %%
glue("rq1_pairs", plots.paired_samples(rq1.paired_images(rows, seeds[0])), display=False)

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

# %%
for path in teachers.others(p):
    q = teachers.profile_for(p, path)
    other_rows = rq1.run(q, progress=False)
    other = rq1.summarize(other_rows)
    display(Markdown(f"**{q['dataset']}** (teacher `{path}`)"))
    display(rq1.display_table(other))
    display(Markdown(rq1.reading(other)))
    display(plots.paired_samples(rq1.paired_images(other_rows, seeds[0])))

# %% [markdown]
# ## The paper's table
#
# The paper's Table 1 (CIFAR-10, `google/ddpm-cifar10-32`), as published; these are **the paper's
# numbers**, not ours.

# %%
rq1.paper_display("cifar10")
