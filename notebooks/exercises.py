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
overrides = {}   # the profile's changed values (each exercise names its own: see its command)

# %%
from IPython.display import Markdown
from myst_nb import glue

from diffprune.chapters import exercises

p = exercises.CHAPTER.load(profile, overrides)
for i, e in enumerate(exercises.EXERCISES, 1):  # the headings below are the titles (a test keeps them equal)
    questions = "\n".join(f"{j}. {q}" for j, q in enumerate(e.questions, 1))
    glue(f"exercise_{i}", Markdown(f"**Goal.** {e.goal}\n\n**Run** ({e.minutes}):\n\n```sh\n{e.command}\n```\n\n"
                                   f"**Questions.**\n\n{questions}"), display=False)

# %% [markdown]
# ## 1. Read an $L_t$ curve
#
# ```{glue:md} exercise_1
# :format: myst
# ```

# %% [markdown]
# ## 2. Write an importance criterion
#
# ```{glue:md} exercise_2
# :format: myst
# ```

# %% [markdown]
# ## 3. Buy the quality back
#
# ```{glue:md} exercise_3
# :format: myst
# ```

# %% [markdown]
# ## 4. Measure the speed-up on your machine
#
# ```{glue:md} exercise_4
# :format: myst
# ```

# %% [markdown]
# ## 5. Your own images
#
# ```{glue:md} exercise_5
# :format: myst
# ```

# %% [markdown]
# ## 6. Fewer steps or a smaller model
#
# ```{glue:md} exercise_6
# :format: myst
# ```

# %% [markdown]
# ## What a change costs
#
# Before computing, `book` and `study` print the plan of what a change leaves to compute and ask
# above 10 minutes (`--plan` prints it only). For the `cpu` profile, changing one parameter at a
# time (one more seed or threshold, a larger number) plans to this, priced from the recorded wall
# times (`benchmarks/parameter_costs.py`, recorded {glue:text}`costs_created` on
# {glue:text}`costs_device`). A changed distance parameter recomputes the sample sets behind it,
# since the repository keeps results, not sample sets.

# %% tags=["remove-cell"]
import json

import pandas as pd
from IPython.display import Pretty
from myst_nb import glue

from diffprune import plan
from diffprune.artifacts import device_words
from diffprune.book import chapters
from diffprune.paths import RESULTS_DIR

costs = json.loads((RESULTS_DIR / "parameter_costs.json").read_text())
with pd.option_context("display.max_rows", None):  # every row, not pandas' shortened view
    glue("parameter_costs", plan.cost_table(costs), display=False)
glue("costs_created", costs["created"][:10], display=False)
glue("costs_device", device_words(costs["device"]), display=False)
glue("costs_stale", plan.stale_costs_text(costs), display=False)
# the sweeps being computed (the profile's `computing`), for Reproducing
sweeps = plan.in_progress(profile, overrides, p.computing, chapters())
glue("in_progress", plan.progress_table(sweeps), display=False)
glue("in_progress_reading", plan.progress_reading(sweeps), display=False)
# Pretty: plain text, which a page's {glue:} shows as a code block (a glued Markdown object shows its repr there)
glue("in_progress_commands", Pretty(plan.progress_commands(sweeps)), display=False)

# %% [markdown]
# ```{glue:figure} parameter_costs
# :name: tab-parameter-costs
# Per chapter and profile key: the value changed from and to, the steps the chapter would then
# compute, and their estimated time on one process. {glue:text}`costs_stale`
# ```
#
# ## Summary
#
# The exercises use the library the chapters use, through its documented entry points: the
# profiles' parameters (`-p NAME VALUE`), the extension point `diffprune.importance.register`, the
# command line, and the benchmarks. The tests run each exercise's parameter set in the `smoke`
# profile, and a criterion written as `exercises/l1_criterion.py` shows plugs into the RQ1 table.
