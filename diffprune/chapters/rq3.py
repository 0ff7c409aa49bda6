"""RQ3 — the trade-offs. The chapter's spec: its parameters, their checks and its work, gathered from
its five sub-studies, one module each:

- `recovery`: pruning ratio × recovery effort × quality (each prune finetuned once, evaluated at
  every checkpoint), and the steps-to-recover table;
- `headline`: the paper's headline in its window, judged at the profile's one point;
- `speed`: the measured speed against the MACs ideal, per device;
- `frontier`: the sampler frontier at equal sampling time;
- `lever_samples`: whether the inference levers change what the models draw;
- `rounding`: what rounding every pruned width to a multiple of 8 costs in quality.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .. import plan
from ..artifacts import DiffpruneError
from ..chapter import Chapter, Parameters
from ..importance import METHODS
from ..levers import PRECISIONS, Levers
from ..profiles import integer, is_number, list_of, one_of, parameter
from ..unet import PRESETS
from .frontier import frontier_jobs
from .headline import headline_jobs
from .lever_samples import lever_jobs
from .recovery import sweep_jobs
from .rounding import rounding_jobs


def _lever_setting(v) -> bool:
    """A mapping of some `Levers` fields that sets at least one away from fp32's plain forward."""
    return (isinstance(v, dict) and set(v) <= {f.name for f in fields(Levers)} and Levers(**v) != Levers()
            and v.get("precision", "fp32") in PRECISIONS)


@dataclass(frozen=True)
class Own:
    """The parameters only this chapter reads (see `profiles.Profile`)."""
    tradeoff_ratios: list[float] = parameter(
        "a list of channel ratios in (0, 1)", list_of(lambda v: is_number(v) and 0 < v < 1))
    tradeoff_methods: list[str] = parameter(
        f"a list of methods out of {', '.join(METHODS)}", list_of(one_of(METHODS)))
    tradeoff_seeds: list[int] = parameter(
        "a non-empty list of seeds >= 0 of the sweep and the frontier (each seed repeats "
        "every finetune)", list_of(integer(0)))
    tradeoff_threshold: float = parameter(
        "a threshold in [0, 1): Diff-Pruning's T in the sweep",
        lambda v: is_number(v) and 0 <= v < 1)
    recovery_steps: list[int] = parameter(
        "an increasing list of finetune steps >= 0: the checkpoints evaluated",
        lambda v: list_of(integer(0))(v) and v == sorted(set(v)))
    recovery_samples: int = parameter(
        "an integer >= 2: samples per evaluated checkpoint", integer(2))
    frontier_ratios: list[float] = parameter(
        "a list of channel ratios in (0, 1): Diff-Pruning models on the sampler frontier",
        list_of(lambda v: is_number(v) and 0 < v < 1))
    frontier_ddim_steps: list[int] = parameter(
        "a list of DDIM step counts >= 1", list_of(integer(1)))
    frontier_dpm_steps: list[int] = parameter(
        "a list of DPM-Solver++ step counts >= 2", list_of(integer(2)))
    frontier_samples: int = parameter(
        "an integer >= 2: samples per model and sampler", integer(2))
    headline_ratio: float = parameter(
        "a channel ratio in (0, 1): the headline's prune (about half the MACs)",
        lambda v: is_number(v) and 0 < v < 1)
    headline_methods: list[str] = parameter(
        f"a list of methods out of {', '.join(METHODS)}: pruned at headline_ratio",
        list_of(one_of(METHODS)))
    headline_steps: list[int] = parameter(
        "an increasing list of finetune steps >= 1: the checkpoints in the paper's "
        "10-20% window, one run per method and seed",
        lambda v: list_of(integer(1))(v) and v == sorted(set(v)))
    headline_seeds: list[int] = parameter(
        "a non-empty list of seeds >= 0, each paired with the teacher's", list_of(integer(0)))
    headline_point: int = parameter(
        "one of headline_steps: the checkpoint the headline claim is judged at, fixed "
        "before the results (the others are context, not more chances)", integer(1))
    lever_checks: list[dict] = parameter(
        "a list (may be empty) of inference-lever settings, each a mapping of levers.Levers "
        "fields (precision, channels_last, compile, cudnn_benchmark) to values: each drawn "
        "from the fp32 draws' noise and compared with them", list_of(_lever_setting, False))
    rounding_ratios: list[float] = parameter(
        "an increasing list (may be empty) of channel ratios in (0, 1): RQ1's reference row pruned at each with "
        "and without rounding, paired by seed",
        lambda v: list_of(lambda x: is_number(x) and 0 < x < 1, False)(v) and v == sorted(set(v)))
    rounding_multiple: int = parameter(
        "an integer >= 2: every rounded width a multiple of it", integer(2))
    speed_architectures: list[str] = parameter(
        f"a list (may be empty) of UNet presets out of {', '.join(PRESETS)}: timed with "
        "random weights beside the teacher, with their prune at the study ratio",
        list_of(one_of(PRESETS), non_empty=False))


def _headline_point(p: Parameters) -> None:
    if p.headline_point not in p.headline_steps:
        raise DiffpruneError(f"headline_point {p.headline_point} is not one of headline_steps {p.headline_steps}")


def _frontier_in_sweep(p: Parameters) -> None:
    if not set(p.frontier_ratios) <= set(p.tradeoff_ratios):
        raise DiffpruneError("frontier_ratios must be among tradeoff_ratios: the frontier's models are the "
                             "sweep's Diff-Pruning models after the longest finetune")
    if "diff-pruning" not in p.tradeoff_methods:
        raise DiffpruneError("tradeoff_methods must include diff-pruning: the frontier and the speed table use it")


def work(p: Parameters) -> list:
    return sweep_jobs(p) + frontier_jobs(p) + headline_jobs(p) + lever_jobs(p) + rounding_jobs(p)


CHAPTER = Chapter("rq3", parameters=(
    "teacher", "dataset", "teacher_steps", "timestep_stride", "importance_batch", "finetune_batch",
    "finetune_lr", "finetune_warmup", "sampler", "ddim_steps", "spacing", "features", "n_reference", "n_boot",
    "classifier_epochs", "speed_batches", "speed_threads", "speed_repeats", "speed_rounds", "speed_devices",
    "equivalence_margins", "ratio", "finetune_steps", "n_samples", "seeds",
    "reference_threshold", "control_row"), own=Own, work=work, checks=(_frontier_in_sweep, _headline_point))


def cpu_estimate(p: Parameters) -> dict:
    """Thread-hours the sweep and the frontier would take on one CPU thread: their finetune steps and
    sampled image-steps, times the seconds per step of those of their artifacts that were computed
    on a CPU (the rows shared with RQ1). Fréchet distances (seconds each since `fid._Replicates`)
    and prunes are left out."""
    import statistics
    arts = [a for a in plan.behind(sweep_jobs(p) + frontier_jobs(p)) if a.step in ("sample", "finetune")]
    total_steps = (len(p.tradeoff_seeds) * len(p.tradeoff_ratios) * len(p.tradeoff_methods)
                   * p.recovery_steps[-1])
    image_steps, ft_rate, sample_rate = 0, [], []
    for a in arts:
        record = a.record()
        on_cpu = record["device"].startswith("cpu")
        if a.step == "sample":
            work = record["params"]["n"] * record["params"]["steps"]
            image_steps += work
            if on_cpu:
                sample_rate.append(record["wall_time_s"] / work)
        elif on_cpu:
            ft_rate.append(record["wall_time_s"] / record["params"]["steps"])
    if not ft_rate or not sample_rate:
        return {}
    ft, sa = statistics.median(ft_rate), statistics.median(sample_rate)
    return {"finetune_hours": total_steps * ft / 3600, "sample_hours": image_steps * sa / 3600,
            "seconds_per_finetune_step": ft, "finetune_steps": total_steps, "image_steps": image_steps}
