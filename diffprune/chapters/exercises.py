"""Exercises — six assignments for a course, each a learning goal, one documented command that
runs in at most ~10 minutes on a laptop CPU (most read the committed `cpu` results), questions
the run answers, and the parameter set the tests execute in `smoke`.

The expected outcomes and the instructor's notes are not here: they are the solutions page
(`diffprune/chapters/solutions.py`), built only with `python -m diffprune book --solutions`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..chapter import Chapter
from ..profiles import CHAPTER_VALUES, PARAMETERS, parameter


@dataclass(frozen=True)
class Exercise:
    title: str
    goal: str
    questions: tuple[str, ...]
    minutes: str                       # what the command costs on a laptop CPU
    chapter: str | None = None         # the chapter the command executes ...
    overrides: dict = field(default_factory=dict)  # ... with this parameter set (the tests run it in smoke)
    profile: str = "cpu"
    run: str = ""                      # otherwise: the commands to run

    @property
    def command(self) -> str:
        """What the student runs, from the repository root."""
        if not self.chapter:
            return self.run
        args = "".join(f' -p {k} "{_yaml(v)}"' for k, v in self.overrides.items())
        return f"python -m diffprune book --profile {self.profile} --chapter {self.chapter}{args}"


def _yaml(value) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


EXERCISES = (
    Exercise(
        "Read an $L_t$ curve", "See where Diff-Pruning's stopping rule fires, and predict it.",
        ("Before running: from the relative L_t curve of RQ2, at which t do you expect T = 0.3 and T = 0.03 to "
         "stop the walk?", "Run it: which of your two predictions was closer, and why is the stop t of a large T "
         "more sensitive to the fixed batch?"),
        "about 2 minutes (everything but the curve's table is read from the committed results)",
        "rq2", {"curve_thresholds": [0.03, 0.3]}),
    Exercise(
        "Write an importance criterion", "Add a pruning criterion in a few lines through the documented "
        "extension point, and put it in the RQ1 table.",
        ("Read exercises/l1_criterion.py. Copy it and write a Fisher-style criterion: the squared gradient "
         "times the squared weight, summed per channel (register it with gradients=True), and run it the same "
         "way.", "Is your criterion distinguishable from magnitude? What would you need to tell them apart?"),
        "about 3 minutes in the smoke profile (16 CPU-minutes a row in the cpu profile)", "rq1",
        {"extensions": ["exercises/l1_criterion.py"], "methods": ["random", "magnitude", "l1"]}, profile="smoke"),
    Exercise(
        "Buy the quality back", "Read a recovery curve: how many finetune steps does a harder prune need?",
        ("At ratio 0.45 (MACs ×0.27), after how many finetune steps does Diff-Pruning come within 20% of the "
         "teacher's distance, if at all? And at ratio 0.25?",
         "Add 3200 to recovery_steps (about 2 hours on 2 cores): does the harder prune get there?"),
        "seconds (read from the committed results)", "rq3",
        {"tradeoff_ratios": [0.25, 0.45], "tradeoff_methods": ["random", "diff-pruning"], "frontier_ratios": [0.25]}),
    Exercise(
        "Measure the speed-up on your machine", "Compare measured speed with the MACs ideal, and find the gap.",
        ("What fraction of the MACs ideal does your machine reach at batch 64? At batch 1?",
         "Which operator's time does not shrink with the channels (the profile in speed_levers' output), and why "
         "would pruning whole attention heads change that?"),
        "about 3 minutes",
        run="make demo; python -m diffprune cost --model build/demo/pruned --baseline data/teachers/fashion-mnist; "
            "python benchmarks/speed_levers.py --no-compile"),
    Exercise(
        "Your own images", "Run the study's steps on a folder of your images.",
        ("Where does the stopping rule fire on your data (prune_report.json's stop_t)? Earlier or later than "
         "on Fashion-MNIST (RQ2)?", "What do 300 training steps give you, and what would you change first?"),
        "about 8 minutes for 32×32 images",
        run="python -m diffprune train --dataset folder:PATH --preset tiny --steps 300 --out build/mine; "
            "python -m diffprune prune --model build/mine --method diff-pruning --ratio 0.3 --dataset folder:PATH "
            "--timestep-stride 50 --out build/mine-pruned; python -m diffprune sample --model build/mine-pruned "
            "--n 16 --steps 25 --out build/mine-pruned.npz"),
    Exercise(
        "Fewer steps or a smaller model", "At a fixed time budget, choose between a pruned model and fewer "
        "sampler steps.",
        ("In the sampler frontier, pick a budget of 30 s per 1,000 images: which model and sampler give the "
         "lowest distance within it?", "Is any pruned model on the Pareto frontier? What does that say about "
         "pruning as a way to sample faster, at this model size?"),
        "seconds (read from the committed results)", "rq3"),
)


def _is_setting(k: str, x) -> bool:
    """A shared profile key at a value it accepts, or `chapter_values` of such keys by chapter."""
    if k == CHAPTER_VALUES:
        return isinstance(x, dict) and all(isinstance(c, dict) and all(_is_setting(n, y) for n, y in c.items())
                                           for c in x.values())
    return k in PARAMETERS and PARAMETERS[k].valid(x)


def is_sweep_list(v) -> bool:
    """A list of non-empty mappings of shared profile keys (`profiles.Profile`) to values they accept
    (`chapter_values` too: a chapter being moved to another teacher)."""
    return isinstance(v, list) and all(isinstance(s, dict) and s and all(_is_setting(k, x) for k, x in s.items())
                                       for s in v)


@dataclass(frozen=True)
class Own:
    """The study's own progress, shown on Reproducing (glued from this chapter)."""
    computing: list[dict] = parameter(
        "a list of sweeps being computed, each a mapping of profile keys to the values they are computed at "
        "(e.g. {control_row: true}): their finished records are committed as they come and listed with what is "
        "left on Reproducing; the chapters show them once the values move into the profile (a chapter's own, "
        "under chapter_values, for a chapter moved to another teacher)", is_sweep_list)


CHAPTER = Chapter("exercises", parameters=(), own=Own)
