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
# # Exercises
#
# Six assignments for a course on pruning diffusion models. Each has a learning goal, one command
# to run from the repository root (after `make book` has built the book once), what it costs on a laptop, and
# questions that the run answers. Most read the committed results of the `cpu` profile and take
# seconds; the ones that compute say so.
#
# **Prerequisites**: {doc}`rq1`, {doc}`rq2` and {doc}`rq3`; the command line in the README. To run a
# chapter cell by cell instead, open `notebooks/NAME.py` in JupyterLab (jupytext opens it as a
# notebook) and set `overrides` in its parameters cell to the exercise's parameter set.
#
# **For instructors**: the expected outcomes, with the numbers computed from the committed
# results, are a separate page that the published book leaves out:
# `python -m diffprune book --solutions` builds a copy of the book with it (in
# `build/instructor-book/`).

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # unused here: each exercise names its own parameters

# %%
from IPython.display import Markdown

from diffprune.chapters import exercises

p = exercises.CHAPTER.load(profile, overrides)
for i, e in enumerate(exercises.EXERCISES, 1):
    questions = "\n".join(f"{j}. {q}" for j, q in enumerate(e.questions, 1))
    display(Markdown(f"## {i}. {e.title}\n\n**Goal.** {e.goal}\n\n**Run** ({e.minutes}):\n\n"
                     f"```sh\n{e.command}\n```\n\n**Questions.**\n\n{questions}"))

# %% [markdown]
# ## Summary
#
# The exercises use the library the chapters use, through its documented entry points: the
# profiles' parameters (`-p NAME VALUE`), the extension point `diffprune.importance.register`, the
# command line, and the benchmarks. The tests run each exercise's parameter set in the `smoke`
# profile, and a criterion written as `exercises/l1_criterion.py` shows plugs into the RQ1 table.
