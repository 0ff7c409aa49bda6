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
# # Solutions (instructors)
#
# Expected outcomes of the exercises. Where an exercise reads recorded results, the answer below
# is computed from them for this profile; nothing here is computed anew. A solution criterion for
# exercise 2 is `exercises/solutions/fisher_criterion.py`.

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change (as the exercises were run)

# %%
from IPython.display import Markdown
from myst_nb import glue

from diffprune.chapters import solutions

p = solutions.CHAPTER.load(profile, overrides)
for i, n in enumerate(solutions.notes(p.profile, overrides), 1):  # headings below: the exercises' titles
    glue(f"solution_{i}", Markdown(n["note"] + (f"\n\n**From the results:** {n['answer']}" if n["answer"] else "")),
         display=False)

# %% [markdown]
# ## 1. Read an $L_t$ curve
#
# ```{glue:md} solution_1
# :format: myst
# ```

# %% [markdown]
# ## 2. Write an importance criterion
#
# ```{glue:md} solution_2
# :format: myst
# ```

# %% [markdown]
# ## 3. Buy the quality back
#
# ```{glue:md} solution_3
# :format: myst
# ```

# %% [markdown]
# ## 4. Measure the speed-up on your machine
#
# ```{glue:md} solution_4
# :format: myst
# ```

# %% [markdown]
# ## 5. Your own images
#
# ```{glue:md} solution_5
# :format: myst
# ```

# %% [markdown]
# ## 6. Fewer steps or a smaller model
#
# ```{glue:md} solution_6
# :format: myst
# ```
