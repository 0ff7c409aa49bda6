import itertools

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from diffprune import DiffpruneError, seeds
from diffprune.models import DiffusionModel
from diffprune.sample import ddim_timesteps, sample, sample_batch
from diffprune.unet import build_unet


@pytest.fixture(scope="module")
def model():
    return build_unet("tiny", 1, 16, seed=0).eval()


def test_uniform_ddim_matches_diffusers(model, scheduler):
    gens = [seeds.generator(0, seeds.SAMPLE, i) for i in range(2)]
    ours = sample_batch(model, scheduler, gens, steps=10, spacing="uniform")
    ref = DDIMScheduler.from_config(scheduler.config, clip_sample=False, set_alpha_to_one=True)
    ref.set_timesteps(10)
    x = torch.stack([torch.randn(1, 16, 16, generator=seeds.generator(0, seeds.SAMPLE, i)) for i in range(2)])
    with torch.no_grad():
        for t in ref.timesteps:
            x = ref.step(model(x, t).sample, t, x, eta=0.0).prev_sample
    assert torch.allclose(ours, x, atol=1e-5)


def test_quad_spacing_follows_the_ddim_repository():
    seq = ddim_timesteps(1000, 100, "quad")
    assert len(seq) == 100 and seq[0] == 0 and seq[-1] == 800
    assert all(b >= a for a, b in itertools.pairwise(seq))
    assert ddim_timesteps(1000, 100, "uniform") == list(range(0, 1000, 10))


@pytest.mark.parametrize("sampler, kw", [("ddim", dict(eta=0.0)), ("ddim", dict(eta=1.0, spacing="quad")),
                                         ("ddpm", {}), ("dpm-solver++", {})])
def test_noise_is_paired_by_seed_and_index_not_by_batch(model, scheduler, sampler, kw):
    steps = dict(steps=5) if sampler != "ddpm" else {}
    sched = scheduler
    if sampler == "ddpm":
        from diffusers import DDPMScheduler
        sched = DDPMScheduler.from_config(scheduler.config, num_train_timesteps=20)
    a = sample(DiffusionModel(model, sched), 5, seed=7, sampler=sampler, batch_size=5, progress=False, **steps, **kw)
    b = sample(DiffusionModel(model, sched), 5, seed=7, sampler=sampler, batch_size=2, progress=False, **steps, **kw)
    c = sample(DiffusionModel(model, sched), 2, seed=7, sampler=sampler, start=3, progress=False, **steps, **kw)
    assert a.dtype == np.uint8 and a.shape == (5, 16, 16, 1)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # batched matmuls may round differently
    assert np.abs(a[3:].astype(int) - c.astype(int)).max() <= 1
    d = sample(DiffusionModel(model, sched), 5, seed=8, sampler=sampler, batch_size=5, progress=False, **steps, **kw)
    assert np.abs(a.astype(int) - d.astype(int)).mean() > 5


def test_dpm_solver_solves_the_same_ode_as_ddim(model, scheduler):
    """Both integrate the probability-flow ODE from the same x_T: a few DPM-Solver++ steps land
    closer to a fine DDIM solution than as many DDIM steps do."""
    gens = lambda: [seeds.generator(0, seeds.SAMPLE, i) for i in range(4)]  # noqa: E731
    fine = sample_batch(model, scheduler, gens(), steps=500)
    dpm = sample_batch(model, scheduler, gens(), sampler="dpm-solver++", steps=10)
    coarse = sample_batch(model, scheduler, gens(), steps=10)
    assert (dpm - fine).abs().mean() < (coarse - fine).abs().mean()
    with pytest.raises(DiffpruneError, match="neither a spacing nor eta"):
        sample(DiffusionModel(model, scheduler), 2, sampler="dpm-solver++", spacing="quad", progress=False)


def test_bad_sampler_arguments(model, scheduler):
    with pytest.raises(DiffpruneError, match="sampler"):
        sample(DiffusionModel(model, scheduler), 2, sampler="euler", progress=False)
    with pytest.raises(DiffpruneError, match="spacing"):
        sample(DiffusionModel(model, scheduler), 2, spacing="cosine", progress=False)
    with pytest.raises(DiffpruneError, match="steps"):
        sample(DiffusionModel(model, scheduler), 2, steps=0, progress=False)
