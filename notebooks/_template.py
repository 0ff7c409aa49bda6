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
# # A chapter template
#
# Copy this file to `notebooks/NAME.py` and `diffprune/chapters/_template.py` to
# `diffprune/chapters/NAME.py`, add the new keys to every profile in `notebooks/params/`, and list
# `chapters/NAME` in `book/_toc.yml`. Open with an overview: the question, what the reader needs
# first (prerequisites), and what the chapter measures.

# %% tags=["parameters"]
# Only these two names: every default lives in the profiles. papermill and `python -m diffprune
# book` set them; opened in Jupyter, the chapter runs the cpu profile.
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change, e.g. {"n_samples": 200}

# %%
from myst_nb import glue

from diffprune import evaluation, profiles
from diffprune.chapters import _template as chapter

p = chapter.CHAPTER.load(profile, overrides)  # checks every value; a bad one stops here, in one line
profiles.table(p)                              # the reader sees the values this page ran with

# %% [markdown]
# ## A measurement
#
# Library calls only: the chapter does not re-wire steps that the library has.

# %%
rows = [chapter.run_row(p, seed) for seed in p.seeds]
summary = evaluation.summarize(rows)
r = summary.iloc[0]
glue("fd", evaluation.ci_text(r.fd, r.fd_low, r.fd_high, 1), display=False)
glue("metric", r.fd_metric, display=False)
glue("interval", r.interval, display=False)

# %% [markdown]
# The teacher's distance to the test split is {glue:text}`fd` ({glue:text}`metric`,
# {glue:text}`interval`).
#
# ```{admonition} Deviations from the paper
# :class: note
# State each deviation beside the number it affects: here the metric is {glue:text}`metric`, not
# Inception FID on 50,000 samples, so only orderings compare with the paper's numbers.
# ```
#
# ## Summary
#
# End with a reading computed from the data (`verdicts.across_seeds` / `verdicts.from_bootstrap`
# compare two rows paired, `verdicts.table` shows them), never with a sentence written to fit.
