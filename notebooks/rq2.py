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
# the shape of $L_t$ itself — where each threshold $T$ stops the walk — and what each window of
# timesteps, taken alone, would prune.
#
# **Before this chapter**: *The teachers* (the models pruned here) and *RQ1* (the pruning itself).

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change, e.g. {"window_size": 200}

# %%
from IPython.display import Markdown
from myst_nb import glue

from diffprune import evaluation, profiles
from diffprune.chapters import rq2

p = rq2.CHAPTER.load(profile, overrides)
profiles.table(p)

# %% [markdown]
# ## The L_t curve and the stop t
#
# $L_t$ is the noise-prediction loss at one timestep on one fixed batch with one fixed noise, as
# in the importance pass. Each fixed batch below is the importance batch and noise of one seed,
# so the first is exactly what the RQ1 prunes visit.

# %%
curve = rq2.curve_section(p)
glue("lt_figure", curve["figure"], display=False)
glue("stop_table", curve["table"], display=False)
glue("curve_reading", curve["reading"], display=False)
glue("lt_batches", len(curve["curve"]["loss"]), display=False)
glue("lt_stride", p["lt_stride"], display=False)
glue("lt_batch", p["importance_batch"], display=False)

# %% [markdown]
# ```{glue:figure} lt_figure
# :name: fig-rq2-lt
# Left: $L_t$ of the teacher, mean over {glue:text}`lt_batches` fixed batches of
# {glue:text}`lt_batch` images (band: their minimum and maximum), every {glue:text}`lt_stride`-th
# timestep. Right: the same curve relative to its maximum, the stop $t$ of each threshold, and
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
# {glue:text}`curve_reading`
#
# **Deviations.** The paper's curves come from CIFAR-10 and CelebA-HQ teachers with 35–79 M
# parameters; ours is a 1.1 M-parameter teacher on other data, and the curve visits every
# {glue:text}`lt_stride`-th timestep instead of all of them, so a stop $t$ is known to within that
# stride.
#
# ## What each window of timesteps would prune
#
# For each window $[a, b)$ of timesteps, the gradients of $L_t$ for $t$ in that window only (at
# the profile's `timestep_stride`) give Diff-Pruning's score $\sum |w \cdot g|$ for every channel:
# how similarly do the windows rank the channels, which blocks would each window thin out, and how
# close is each window's choice to Diff-Pruning's own?

# %%
importance_map = rq2.map_section(p)
for key in ("rho", "jaccard"):
    glue(f"{key}_figure", importance_map[key], display=False)
glue("map_reading", importance_map["reading"], display=False)
glue("ratio", p["ratio"], display=False)
glue("window_stride", p["timestep_stride"], display=False)

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
# (every {glue:text}`window_stride`-th timestep of it): the overlap (Jaccard index) of its kept
# channels with those of Diff-Pruning at the reference threshold — the same prune as in RQ1 — in
# each block and in the whole UNet (seed 0, n = 1).
# ```
#
# {glue:text}`map_reading`
#
# ## The same on the other teachers

# %%
for q in evaluation.other_teachers(p):
    display(Markdown(f"**{q['dataset']}** (teacher `{q['teacher']}`)"))
    section = rq2.curve_section(q)
    display(section["figure"], section["table"], Markdown(section["reading"]))
    section = rq2.map_section(q)
    display(section["rho"], section["jaccard"], Markdown(section["reading"]))

# %% [markdown]
# ## Compute
#
# The results of this chapter (L_t curves, window scores and window prunes) took
# {glue:text}`rq2_hours:.2f` hours on {glue:text}`rq2_devices`, summed from their records in
# `data/study/`.

# %%
spent = [rq2.compute(q) for q in evaluation.every_teacher(p)]
glue("rq2_hours", sum(s["hours"] for s in spent), display=False)
glue("rq2_devices", ", ".join(sorted({d for s in spent for d in s["devices"]})), display=False)
