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
# # DDPM versus LDM
#
# The paper prunes pixel-space DDPMs and, as its model-type axis, a latent diffusion model (LDM)
# on ImageNet. Does Diff-Pruning behave the same when the UNet denoises an autoencoder's latents
# instead of pixels? This chapter puts a small LDM beside the pixel-space teacher of the same data
# set and runs RQ1's rows on both: the same methods, ratio and metrics, and finetunes of the same
# share of each teacher's training ({glue:text}`finetune_DDPM` steps on the DDPM,
# {glue:text}`finetune_LDM` on the LDM).
#
# **Before this chapter**: {doc}`rq1` (the rows and columns) and the $L_t$ curve of {doc}`rq2`.
#
# **Answers at our scale** (on {glue:text}`ldm_dataset`, seeds {glue:text}`seeds`; each computed below):
#
# - **Do the methods compare the same way on latents?** The Diff-Pruning row against every other
#   row, on each kind, paired by seed:
#
# ```{glue:} ldm_verdicts
# ```
#
# - **What pruning the UNet saves of a whole sample**: the pruned rows keep ×{glue:text}`cost_DDPM_sample`
#   of the DDPM teacher's sample and ×{glue:text}`cost_LDM_sample` of the LDM teacher's, whose
#   decode (not pruned) is {glue:text}`cost_LDM_decode` of it ({ref}`table <tab-ldm-both>`).
# - **Does pruning cost the LDM more?** After the same share of finetune, the reference Diff-Pruning
#   row's (T = the profile's reference threshold, fixed before the results) Fréchet distance is
#   {glue:text}`gap_DDPM`× its teacher's on the DDPM and {glue:text}`gap_LDM`×
#   on the LDM (ratios of means over seeds; the intervals are in the {ref}`tables <tab-ldm-both>`).
#   {glue:text}`teachers_trained` (Learning curves: {doc}`teachers`, and below.)
# - **Does the threshold stop elsewhere on latents?** The stop $t$ moves by more than the curves'
#   stride at {glue:text}`stops_moved` of {glue:text}`n_thresholds` thresholds ({ref}`table <tab-ldm-stops>`).
# - **Is the LDM faster?** A whole sample of its teacher takes {glue:text}`LDM_ms` ms against the
#   DDPM teacher's {glue:text}`DDPM_ms` ms ({glue:text}`ldm_faster`× faster); what pruning adds is
#   in the {ref}`speed table <tab-ldm-speed>`.
#
# ```{glue:figure} both_figure
# :name: fig-ldm-both
# Quality against the cost of a whole sample, both kinds, 95% intervals.
# ```
#
# As in the official `ldm_exp/`, only the LDM's UNet is pruned and finetuned; its autoencoder (a
# diffusers `VQModel`, so that `LDMPipeline(vqvae, unet, scheduler)` samples from every directory)
# is carried byte for byte, the importance pass walks latents of real images, and every metric is
# measured on decoded images: both kinds' Fréchet distances have one reference set.
#
# ````{dropdown} The parameters this page ran with
# ```{glue:} ldm_parameters
# ```
# ````

# %% tags=["parameters"]
profile = "cpu"  # a profile in notebooks/params/: smoke, cpu or paper
overrides = {}   # profile values to change, e.g. {"ldm_seeds": [0]}

# %% tags=["hide-input"]
import json

from IPython.display import Image, Markdown
from myst_nb import glue

from diffprune import evaluation, pipeline, plots, verdicts
from diffprune.artifacts import device_words
from diffprune.chapters import ldm, rq1
from diffprune.threshold import stop_times

p = ldm.CHAPTER.load(profile, overrides)
kinds = ldm.kinds(p)
for kind, q in kinds.items():
    glue(f"finetune_{kind}", f"{q.finetune_steps:,}", display=False)
glue("ldm_parameters", ldm.parameter_table(p), display=False)

# %% [markdown]
# ## The two teachers

# %% tags=["hide-input"]
latent_dir = pipeline.teacher(kinds["LDM"].teacher).path
unet_cost = json.loads((latent_dir / "cost.json").read_text())
ae_cost = json.loads((latent_dir / "vqvae" / "cost.json").read_text())
ae_test = ae_cost["reconstruction_test"]
glue("ldm_dataset", kinds["LDM"].dataset, display=False)
glue("ldm_teacher", str(kinds["LDM"].teacher), display=False)
glue("pixel_teacher", str(kinds["DDPM"].teacher), display=False)
ae_note = f"; {ae_cost['note']}" if ae_cost.get("note") else ""  # what the record says of its own numbers
glue("ae_record", f"{ae_cost['steps']:,} steps in {ae_cost['wall_time_s']:,.0f} s on "
     f"{device_words(ae_cost['device'])} (code {ae_cost['code_version']}{ae_note}); latents "
     f"{'×'.join(map(str, ae_cost['latent_shape']))}; test reconstruction "
     f"PSNR {ae_test['psnr_db']:.1f} dB (MSE {ae_test['mse']:.3f} on pixels in [-1, 1], {ae_test['n']} images)",
     display=False)
glue("unet_record", f"{unet_cost['steps']:,} steps in {unet_cost['wall_time_s']:,.0f} s on "
     f"{device_words(unet_cost['device'])} (code {unet_cost['code_version']})", display=False)
Image(filename=str(latent_dir / "vqvae" / "reconstructions.png"), width=520)

# %% [markdown]
# The LDM of {glue:text}`ldm_dataset` ({glue:text}`ldm_teacher`): its autoencoder trained
# {glue:text}`ae_record`; above, each test image followed by its reconstruction (columns in
# pairs). Its UNet,
# trained on the autoencoder's latents: {glue:text}`unet_record`. The pixel-space teacher is
# {glue:text}`pixel_teacher` (see {doc}`teachers`).
#
# ## An LDM worth pruning?
#
# A UNet too small for its task has nothing to spare, and pruning it says little about latents. So
# the LDM's recipe (`ldm_recipe`, on the same autoencoder) is trained once through `ldm_curve_steps`,
# each length evaluated as the LDM teacher is, until the Fréchet distance stops improving (the
# stopping rule of `diffprune/plateau.py`: the last two lengths within 3 %, the earlier at least half
# the later); below the curve lies the floor no model on these latents can beat: the
# distance of real training images after the autoencoder's encode and decode.

# %% tags=["hide-input"]
glue("plateau_rule", f"{100 * ldm.PLATEAU:.0f} %", display=False)
if p.ldm_curve_steps:
    learning = ldm.learning_section(p)
    display(learning["figure"], ldm.learning_table(learning))
    last, bottom, found = learning["rows"][-1], learning["floor"], learning["plateau"]
    glue("plateau_state", "–" if found is None else "stopped improving" if found["reached"] else "still improving",
         display=False)
    glue("plateau_change", "–" if found is None else f"{100 * found['change']:+.1f} % from {found['from']:,} to "
         f"{found['to']:,} steps", display=False)
    glue("floor_ratio", f"{last['fd'] / bottom['value']:.2f}", display=False)
    glue("floor_limits", "does not yet limit it (their intervals are disjoint)" if last["fd_low"] > bottom["ci_high"]
         else "may limit it (their intervals overlap)", display=False)
else:
    display(Markdown("Not run in this profile: `ldm_curve_steps` is empty."))
    for name in ("plateau_state", "plateau_change", "floor_ratio", "floor_limits"):
        glue(name, "–", display=False)

# %% [markdown]
# **Reading.** The recipe has {glue:text}`plateau_state` ({glue:text}`plateau_change`; the rule:
# within {glue:text}`plateau_rule`). Its longest run's distance is {glue:text}`floor_ratio`× the
# floor's, so the autoencoder {glue:text}`floor_limits`.

# %% [markdown]
# ## RQ1's table for the LDM

# %% tags=["hide-input"]
result = ldm.run(p)
latent = result["LDM"]["summary"]
metric = latent["fd_metric"].iloc[0]
glue("metric", metric, display=False)
glue("interval", latent["interval"].iloc[0], display=False)
glue("seeds", f"{', '.join(map(str, kinds['DDPM'].seeds))} for the pixel model (RQ1's rows) and "
     f"{', '.join(map(str, kinds['LDM'].seeds))} for the LDM", display=False)
glue("latent_seeds", ", ".join(map(str, kinds["LDM"].seeds)), display=False)
glue("ldm_table", rq1.display_table(latent, evaluation.content_judged(kinds["LDM"])), display=False)
judge = evaluation.judge_of(kinds["LDM"])
glue("ldm_judge", f"{100 * judge['test_accuracy']:.1f}%" if judge else "–", display=False)
glue("judge_min", f"{100 * evaluation.JUDGE_MIN_ACCURACY:.0f}%", display=False)
glue("ldm_pairs", plots.paired_samples(evaluation.previews(result["LDM"]["rows"], p.ldm_seeds[0])), display=False)

# %% [markdown]
# ```{glue:figure} ldm_table
# :name: tab-ldm
# RQ1's rows on the LDM: FD is {glue:text}`metric` of the decoded samples to the test split; SSIM
# compares each pruned model's decoded samples with the LDM teacher's from the same noise; each with
# its {glue:text}`interval` (seeds {glue:text}`latent_seeds`). "Same class" is shown only where the data
# set's classifier reaches {glue:text}`judge_min` on its test split (here: {glue:text}`ldm_judge`).
# Params and MACs are the UNet's (one forward); the autoencoder is not pruned.
# ```
#
# ```{glue:figure} ldm_pairs
# :name: fig-ldm-pairs
# The same 12 noise draws through the LDM teacher and each finetuned pruned LDM (decoded).
# ```
#
# ## Both kinds, side by side

# %% tags=["hide-input"]
glue("both_table", ldm.side_by_side(result), display=False)
glue("both_figure", plots.kinds_tradeoff({k: v["summary"] for k, v in result.items()}, metric), display=False)
glue("ldm_verdicts", verdicts.table(ldm.comparisons(result)), display=False)
for kind, c in ldm.cost_fractions(result).items():
    glue(f"cost_{kind}_unet", f"{c['unet']:.2f}", display=False)
    glue(f"cost_{kind}_sample", f"{c['sample']:.2f}", display=False)
    glue(f"cost_{kind}_decode", f"{100 * c['decode']:.1f}%", display=False)
gap = ldm.gap(result) or {}
for kind in ldm.KINDS:
    glue(f"gap_{kind}", f"{gap[kind]:.2f}" if kind in gap else "–", display=False)
glue("ratio", f"{p.ratio:g}", display=False)
glue("ddim_steps", p.ddim_steps, display=False)
glue("teachers_trained", ldm.teachers_trained(p, overrides), display=False)

# %% [markdown]
# ```{glue:figure} both_table
# :name: tab-ldm-both
# Each row on both kinds: FD and SSIM (intervals as in the table above) and the MACs of a whole
# sample — the UNet's MACs times the sampler's steps, plus one decode for the LDM — with its
# fraction of the teacher's.
# ```
#
# Pruning at ratio {glue:text}`ratio` keeps ×{glue:text}`cost_DDPM_unet` of the UNet's MACs on the
# DDPM and ×{glue:text}`cost_LDM_unet` on the LDM (means over the pruned rows); over a whole sample
# of {glue:text}`ddim_steps` sampler steps that is ×{glue:text}`cost_DDPM_sample` and
# ×{glue:text}`cost_LDM_sample`, the LDM's decode being {glue:text}`cost_LDM_decode` of its
# teacher's sample: the share that pruning the UNet alone cannot remove.
#
# The verdicts at the top of the page compare, on each kind (columns), the Diff-Pruning row at the
# reference threshold with every other row (rows), paired by seed: the reading and the mean
# per-seed difference a − b with its 95% t interval over the seeds (equivalent: the whole interval
# within the profile's margin).
#
# ## Which timesteps matter, on latents

# %% tags=["hide-input"]
curves = ldm.curves(p)
stops = {k: stop_times(c["t"], evaluation.mean_lt(c), p.curve_thresholds) for k, c in curves.items()}
glue("curves_figure", plots.kinds_loss_curves(curves, stops), display=False)
stop_table = ldm.stop_table(curves, p.curve_thresholds, p.lt_stride, ldm.pruned_stops(result))
glue("stop_table", stop_table, display=False)
glue("stops_moved", int((stop_table["from pixels to latents"] != "within the stride").sum()), display=False)
glue("n_thresholds", len(stop_table), display=False)
glue("lt_stride", p.lt_stride, display=False)
glue("timestep_stride", p.timestep_stride, display=False)
glue("lt_batches", p.lt_batches, display=False)

# %% [markdown]
# ```{glue:figure} curves_figure
# :name: fig-ldm-curves
# $L_t$ relative to its maximum, on pixels (DDPM) and on latents (LDM): mean and min–max band over
# {glue:text}`lt_batches` fixed batches of real images (latents for the LDM) and noise.
# ```
#
# ```{glue:figure} stop_table
# :name: tab-ldm-stops
# The stop $t$ of each threshold T on each kind's mean curve, and how it moves from pixels to
# latents; the curves visit one timestep in {glue:text}`lt_stride`, so a move within that stride
# is not counted. The last columns are where the pruned models above stopped (the range over their
# seeds): each prune's importance pass runs on its own seed's batch of images and noise, so its stop
# $t$ can lie strides away from the mean curve's; those passes visit one timestep in
# {glue:text}`timestep_stride`, the curves one in {glue:text}`lt_stride`.
# ```
#
# ## Measured speed

# %% tags=["hide-input"]
speed = ldm.speed_rows(p)
bounds = ldm.macs_bounds(speed, result)
glue("speed_table", ldm.speed_table(speed, bounds), display=False)
glue("speed_above_bound", ldm.above_bound(speed, bounds), display=False)
teachers_speed = ldm.teachers_speed(speed)
glue("LDM_ms", f"{teachers_speed['LDM_ms']:.2f}", display=False)
glue("DDPM_ms", f"{teachers_speed['DDPM_ms']:.2f}", display=False)
glue("ldm_faster", f"{teachers_speed['ldm_faster']:.1f}", display=False)
glue("speed_rounds", teachers_speed["rounds"], display=False)
glue("speed_machine", device_words(teachers_speed["machine"]), display=False)
glue("speed_batch", teachers_speed["batch"], display=False)
glue("speed_load", "–" if teachers_speed["max_load"] is None else f"{teachers_speed['max_load']:.2f}", display=False)

# %% [markdown]
# ```{glue:figure} speed_table
# :name: tab-ldm-speed
# Milliseconds per sample: the sampler's steps through the UNet, the decode (LDM only), and the
# whole sample (each round's sum of the two), each model timed alone (`pipeline.timing`, median of
# repeats); each column is its own median over {glue:text}`speed_rounds` rounds, so the whole
# sample's is not exactly the sum of the other two columns. Timed on {glue:text}`speed_machine` at
# batch {glue:text}`speed_batch`, each round timing all four models once; the speed-up is over the
# teacher of the same round, and it reads *better* where the model is faster in every round,
# *worse* where slower in every round, *inconclusive* where the rounds fall on both sides of 1×
# (the machine's 1-minute load average before each timing, the previous timings' own threads
# included: at most {glue:text}`speed_load`). The MACs bound is the speed-up were time proportional
# to a whole sample's MACs (the teacher's over the model's). {glue:text}`speed_above_bound`
# ```
#
# ## Beside the paper
#
# The paper's LDM result is a class-conditional LDM-4 on ImageNet 256 × 256, pruned once with
# T = 0.1 and finetuned for 4 epochs. The repository's tables we carry (`data/paper/`) do not hold
# its numbers, so none are quoted here. Our deviations, beside the numbers above: an unconditional
# LDM on 32 × 32 images with 4 × 8 × 8 latents, trained here; a far smaller UNet; the study's
# Fréchet distance ({glue:text}`metric`), not Inception FID.
#
# ## Summary
#
# Diff-Pruning runs unchanged on a latent model: the same pruners, the same finetune, and metrics on
# decoded images. What the numbers above say is computed from them; the decode's share of a whole
# sample bounds what pruning the UNet alone can save.
