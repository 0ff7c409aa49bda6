"""RQ2 — which timesteps matter. The chapter's spec: its parameters and its work, gathered from its
three sub-studies, one module each:

- `timestep_map`: the L_t curve and each threshold's stop t, and what each window of timesteps
  would prune (the importance map);
- `content_detail`: what the early and the late timesteps protect (content versus detail), along
  a short finetune;
- `ablations`: the threshold and the score form after finetuning, as RQ1's rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..chapter import Chapter, Parameters
from ..importance import SCORES
from ..profiles import integer, is_number, list_of, one_of, parameter
from .ablations import ablation_work
from .content_detail import content_stages, content_work
from .timestep_map import map_work

SWEEPS = ("content", "ablations")  # the sweeps that sweeps_on_more_teachers may repeat on other teachers

@dataclass(frozen=True)
class Own:
    """The parameters only this chapter reads (see `profiles.Profile`)."""
    window_size: int = parameter(
        "an integer >= 1 that divides the teacher's number of timesteps: the importance "
        "map's windows", integer(1))
    content_k: list[int] = parameter(
        "a list of stages k up to the teacher's number of timesteps, multiples of timestep_stride: "
        "prunes from [0, k) and from k to the last timestep", list_of(integer(1)))
    content_seeds: list[int] = parameter(
        "a list of seeds >= 0 of the content-vs-detail prunes", list_of(integer(0)))
    content_samples: int = parameter(
        "an integer >= 2: samples compared with the teacher's per model and seed",
        integer(2))
    content_repair_steps: list[int] = parameter(
        "an increasing list of finetune steps >= 0: the checkpoints of one short "
        "finetune per prune (0: right after pruning) at which they are compared",
        lambda v: list_of(integer(0))(v) and v == sorted(set(v)))
    content_ssim_band: list[float] = parameter(
        "[low, high] in [0, 1]: the division of labour is read where both windows' SSIM "
        "to the teacher lies in this band",
        lambda v: list_of(lambda x: is_number(x) and 0 <= x <= 1)(v) and len(v) == 2
        and v[0] < v[1])
    content_candidates: list[float] = parameter(
        "a list of channel ratios in (0, 1): the unfinetuned prunes (magnitude and "
        "Diff-Pruning) that show why the comparison runs along the repair axis",
        list_of(lambda v: is_number(v) and 0 < v < 1))
    sweeps_on_more_teachers: list[str] = parameter(
        f"a list out of {', '.join(SWEEPS)} (may be empty): the costly sweeps "
        "repeated on more_teachers", list_of(one_of(SWEEPS), non_empty=False))
    ablation_thresholds: list[float] = parameter(
        "a list of thresholds in [0, 1): Diff-Pruning finetuned at each",
        list_of(lambda t: is_number(t) and 0 <= t < 1))
    score_forms: list[str] = parameter(
        f"a list of score forms out of {', '.join(SCORES)}", list_of(one_of(SCORES)))
    ablation_seeds: list[int] = parameter(
        "a list of seeds >= 0 of the threshold and score-form ablations", list_of(integer(0)))


def work(p: Parameters) -> list:
    return map_work(p) + content_work(p) + ablation_work(p)


CHAPTER = Chapter("rq2", parameters=(
    "teacher", "dataset", "more_teachers", "ratio", "timestep_stride", "importance_batch", "seeds", "methods",
    "thresholds",
    "finetune_batch", "finetune_lr", "finetune_warmup", "finetune_steps", "sampler", "ddim_steps", "spacing",
    "classifier_epochs", "teacher_steps", "n_samples", "features", "n_reference", "n_boot", "lt_batches", "lt_stride",
    "curve_thresholds", "reference_threshold", "equivalence_margins"), own=Own, work=work, checks=(content_stages,))
