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
profile = "cpu"
teacher = "data/teachers/fashion-mnist"
dataset = "fashion-mnist"
n_samples = 1000
ddim_steps = 25
spacing = "uniform"
seeds = [0]

# %%
from myst_nb import glue

from diffprune import pipeline, plots, profiles
from diffprune.cost import count_macs, count_params
from diffprune.data import load_dataset
from diffprune.models import load_unet
from diffprune.sample import load_samples

p = profiles.check(dict(profile=profile, teacher=teacher, dataset=dataset, n_samples=n_samples,
                        ddim_steps=ddim_steps, spacing=spacing, seeds=seeds))
profiles.table(p)

# %% [markdown]
# ## The data

# %%
data = load_dataset(dataset, "train")
glue("n_train", len(data), display=False)
glue("data_grid", plots.image_grid(data.images[:64].permute(0, 2, 3, 1).numpy(),
                                   f"{dataset}: 64 training images"), display=False)
profiles.attribution(dataset)

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
t = pipeline.teacher(teacher)
cost = pipeline.read_json(t.path, "cost.json")
unet = load_unet(t.path)
glue("teacher_params_M", count_params(unet) / 1e6, display=False)
glue("teacher_macs_M", count_macs(unet) / 1e6, display=False)
glue("teacher_steps", cost["steps"], display=False)
glue("teacher_hours", cost["wall_time_s"] / 3600, display=False)
glue("teacher_device", cost["device"], display=False)
glue("teacher_curve", plots.training_curve(t.path / "train_log.csv", "teacher: training loss"), display=False)

# %% [markdown]
# The teacher has {glue:text}`teacher_params_M:.2f` M parameters and costs
# {glue:text}`teacher_macs_M:.0f` M MACs per denoising step (attention matmuls included). It was
# trained for {glue:text}`teacher_steps` steps in {glue:text}`teacher_hours:.2f` hours on
# {glue:text}`teacher_device`; the paper's CIFAR-10 teacher (35.7 M parameters, 6.1 G MACs) was
# trained for 800,000 steps on GPUs.
#
# ```{glue:figure} teacher_curve
# :name: fig-teacher-curve
# Training loss of the teacher (DDPM noise-prediction MSE, mean over each logging interval).
# ```
#
# ## Samples

# %%
s = pipeline.samples(t, n=n_samples, seed=seeds[0], steps=ddim_steps, spacing=spacing)
images, _, meta = load_samples(s.path / "samples.npz")
glue("teacher_grid", plots.image_grid(images[:64], f"teacher: DDIM-{ddim_steps} samples, seed {seeds[0]}"),
     display=False)

# %% [markdown]
# ```{glue:figure} teacher_grid
# :name: fig-teacher-samples
# The first 64 teacher samples used by every chapter (DDIM, eta 0; the paper uses 100 DDIM steps).
# ```
