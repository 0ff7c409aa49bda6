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
# # Findings
#
# The paper's claims, one by one, each marked **reproduced**, **not reproduced**, **not testable
# here** or **not yet tested**. Every verdict is computed from the recorded results of the chapter
# that tests it — {doc}`rq1`, {doc}`rq2` or {doc}`rq3` — by a rule written in
# `diffprune/chapters/findings.py`; this page computes nothing itself, and a chapter whose results
# are not recorded for the profile gives *not yet tested*.
#
# **How to read a verdict.** "Reproduced" means the direction the paper claims shows beyond our 95%
# intervals; "not reproduced" means it does not — which at our scale (a small teacher on
# Fashion-MNIST, 1,000 samples, few seeds) often means *not distinguishable*, not *reversed*; the
# evidence says which. The paper's margins are set against its own run-to-run spread: in the code
# behind its Table 1, "Taylor" and "Diff-Pruning, T = 0" are the same computation, so their FID
# gap is noise.

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change (the same as the chapters were run with)

# %%
from IPython.display import Markdown
from myst_nb import glue

from diffprune.chapters import findings

p = findings.CHAPTER.load(profile, overrides)
rows = findings.verdicts(p["profile"], overrides)
glue("findings_table", findings.table(rows), display=False)
glue("findings_reading", findings.reading(rows), display=False)

# %% [markdown]
# ```{glue:figure} findings_table
# :name: tab-findings
# The paper's claims and their verdicts at our scale.
# ```
#
# {glue:text}`findings_reading`
#
# ## The evidence, claim by claim

# %%
for r in rows:
    display(Markdown(f"### {r['claim']}\n\n**{r['verdict'].capitalize()}.** {r['ours']}"
                     + (f"\n\n*The paper:* {r['paper']}" if r["paper"] else "")))
