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
# # The teachers
#
# Diff-Pruning prunes a *pretrained* diffusion model. No model hub is reachable from the
# machines this study is built on, so it trains its own small teachers on data that installs
# from package registries, with the same code path (`diffprune train`) a reader can re-run.

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change, e.g. {"n_samples": 200}

# %%
from IPython.display import Markdown
from myst_nb import glue

from diffprune import evaluation, plots, profiles
from diffprune.artifacts import device_words
from diffprune.chapters import teachers
from diffprune.data import load_dataset

p = teachers.CHAPTER.load(profile, overrides)
glue("teachers_parameters", profiles.table(p), display=False)
glue("teachers_answer", teachers.answer(p), display=False)

# %% [markdown]
# **Answer.** {glue:text}`teachers_answer`
#
# ````{dropdown} The parameters this page ran with
# ```{glue:} teachers_parameters
# ```
# ````
#
# ## The data

# %%
data = load_dataset(p.dataset, "train")
glue("n_train", f"{len(data):,}", display=False)
glue("data_grid", plots.image_grid(data.images[:64].permute(0, 2, 3, 1).numpy(),
                                   f"{p.dataset}: 64 training images"), display=False)
profiles.attribution(p.dataset)

# %% [markdown]
# The training split has {glue:text}`n_train` images.
#
# ```{glue:figure} data_grid
# :name: fig-data
# The first 64 training images of the data set.
# ```
#
# ## Training

# %%
main = teachers.summary(p)
glue("teacher_params_M", main["params"] / 1e6, display=False)
glue("teacher_macs_M", main["macs"] / 1e6, display=False)
glue("teacher_steps", f"{main['steps']:,}", display=False)
glue("teacher_hours", main["hours"], display=False)
glue("teacher_device", device_words(main["device"]), display=False)
glue("teacher_curve", plots.training_curve(main["log"], "teacher: training loss"), display=False)

# %% [markdown]
# The teacher has {glue:text}`teacher_params_M:.2f` M parameters and costs
# {glue:text}`teacher_macs_M:.0f` M MACs per denoising step (attention matmuls included). It was
# trained for {glue:text}`teacher_steps` steps in {glue:text}`teacher_hours:.2f` hours on
# {glue:text}`teacher_device`; the paper's CIFAR-10 teacher (35.7 M parameters, 6.1 G MACs) was
# trained for 800,000 steps on GPUs.

# %% tags=["hide-input"]
if main["note"]:  # what the training record itself says about its numbers (e.g. a shared machine)
    display(Markdown(f"*The training record notes:* {main['note']}"))

# %% [markdown]
# ```{glue:figure} teacher_curve
# :name: fig-teacher-curve
# Training loss of the teacher (DDPM noise-prediction MSE, mean over each logging interval).
# ```
#
# ## Is the teacher converged?
#
# The paper prunes a teacher trained for 800,000 steps and finetunes for 10–20 % of that. While a
# teacher is still improving, "X % of the teacher's training" means something else here: the same
# teacher trained longer would be a higher bar. So its recipe is run again, once, through
# `teacher_curve_steps` (past its own length), and each length is evaluated as the teacher is; each
# length beyond the teacher's is compared with the retrained teacher at its own length, paired over
# sample indices (one run and one seed: the interval covers sampling noise only). The stopping rule,
# written before the curves (`diffprune/plateau.py`): a recipe has reached its plateau when its last
# doubling of the steps, or its last quarter, changed the distance by less than 3 %; 40,000 steps at most.
# The run a curve settles at is measured again on more sampling seeds (`plateau_seeds`): one run, so
# the spread is what sampling alone does to its distance.

# %% tags=["hide-input"]
curved = [q for q in evaluation.every_teacher(p) if teachers.recipe(q) and teachers.curve_steps(q)]
for q in curved:
    learning = teachers.curve_section(q)
    found = learning["plateau"]
    state = ("one length only: the rule needs two" if found is None else
             f"{100 * found['change']:+.1f} % from {found['from']:,} to {found['to']:,} steps: "
             + ("the plateau is reached" if found["reached"] else "capped without reaching the plateau"
                if found["capped"] else "still improving" if found["readable"] else
                "the two lengths are too far apart to read the rule"))
    settled = f" The run it settles at: {learning['settled']}." if learning["settled"] else ""
    display(Markdown(f"**{q.dataset}** ({q.curve_precision}): {state}.{settled}"), learning["figure"],
            learning["verdicts"], Markdown(learning["redrawn"]))
if not curved:
    display(Markdown("Not run in this profile: its teachers were not trained by this study, or "
                     "`teacher_curve_steps` names none of their data sets."))

# %% [markdown]
# ## Samples

# %%
title = f"teacher: DDIM-{p.ddim_steps} samples, seed {p.seeds[0]}"
teacher_samples = evaluation.preview(main)
glue("teacher_grid", plots.image_grid(teacher_samples, title), display=False)
glue("teacher_grid_n", len(teacher_samples), display=False)
glue("teacher_ddim_steps", p.ddim_steps, display=False)

# %% [markdown]
# ```{glue:figure} teacher_grid
# :name: fig-teacher-samples
# The first {glue:text}`teacher_grid_n` teacher samples used by every chapter (DDIM, eta 0,
# {glue:text}`teacher_ddim_steps` steps; the paper uses 100 DDIM steps).
# ```

# %% [markdown]
# ## Every teacher
#
# The study prunes the profile's `teacher`; the others (`more_teachers`) are committed beside it
# so that a reader can run every chapter on another data set (`-p teacher DIR -p dataset NAME`).
# Each teacher's Fréchet distance ({glue:text}`teacher_metric`) is computed as in the RQ1 chapter: its
# {glue:text}`n_samples_used` DDIM samples against the data set's held-out test split.

# %%
glue("n_samples_used", p.n_samples, display=False)
glue("teacher_metric", main["fd_metric"], display=False)
others = [teachers.summary(q) for q in evaluation.other_teachers(p)]
teachers.display_table([main, *others])

# %%
for row in others:
    display(teachers.overview(row))
    display(profiles.attribution(row["dataset"]))

# %% [markdown]
# A teacher can be pruned and read against once its samples are recognisably drawn from its data
# set; whether its recipe has stopped improving is a separate question, answered by the curves
# above (the plateau rule), and the study's verdicts name the teacher behind them. The Fréchet
# distances of different data sets are not comparable with each other (different reference images,
# different feature statistics; the OpenMoji test split has only a few hundred images, which biases
# its FD upward).

# %% [markdown]
# ## How to read the distance
#
# Every chapter compares models by the Fréchet distance of their samples to the test split, with a
# bootstrap interval over the samples. Two things about it are worth knowing before reading the
# numbers. The distance of n samples is biased upward, by an amount that falls with n (as 1/n once n is
# well above the features' dimension) and differs
# from model to model; the interval is re-centred on the estimate (it removes the resampling's
# extra bias, shown as *bootstrap bias*, not the estimator's own). And where the reference split has
# fewer images than the features have dimensions (OpenMoji), its covariance is singular. Beside the
# distance, each teacher's samples under two other distances: the Fréchet distance extrapolated to
# infinitely many samples (FD∞: the distance of subsets of 20–100 % of the samples fitted as
# a + b/n, its spread over redrawn subsets) — shown only where every subset has more samples than the
# features have dimensions, since below that the bias does not fall as 1/n and the fit removes only
# part of it — and the kernel distance (KID: an unbiased MMD² on the same features that needs no
# covariance). The verdicts of the chapters use the plain distance, paired: two rows with the same
# number of samples carry nearly the same bias, and the paired difference removes what they share.

# %% tags=["hide-input"]
distances = [teachers.distance_row(q) for q in evaluation.every_teacher(p)]
glue("distance_table", teachers.distance_table(distances), display=False)
glue("residual_bias", teachers.residual_bias(distances), display=False)

# %% [markdown]
# ```{glue:figure} distance_table
# :name: tab-teachers-distances
# Each teacher's samples (first seed) against its data set's test split: the Fréchet distance with
# its 95% bootstrap interval and the bootstrap's bias, FD∞ (where n > d) and KID (× 1000) on the same features.
# ```
#
# Of the bias itself: {glue:text}`residual_bias`
