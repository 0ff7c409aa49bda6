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

from diffprune.chapters import solutions

p = solutions.CHAPTER.load(profile, overrides)
for i, n in enumerate(solutions.notes(p["profile"], overrides), 1):
    display(Markdown(f"## {i}. {n['title']}\n\n{n['note']}" + (f"\n\n**From the results:** {n['answer']}"
                                                               if n["answer"] else "")))
