"""Profiles and parameters: every chapter default lives in a profile, `notebooks/params/NAME.yaml`;
every parameter's type, meaning and check lives here, in `Profile`, one field each.

- `smoke`: every chapter in at most ~2 minutes on 2 CPU cores (tests; numbers mean nothing);
- `cpu`: the default study on 2 CPU cores;
- `paper`: CIFAR-10 and `google/ddpm-cifar10-32`, the paper's protocol; needs a GPU and a network.

A chapter reads the parameters it names (`chapter.Chapter.parameters`); a chapter's own parameter,
one no other chapter uses, may be defined in its spec module instead (`Chapter.own`, a dataclass of
`parameter` fields like `Profile`). `Chapter.load` returns them as one frozen object read by
attribute (`p.ratio`), holding exactly the fields the chapter names.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

import yaml

from .artifacts import DiffpruneError
from .data import NAMES as DATASET_NAMES
from .data import is_dataset_name
from .fid import FEATURES
from .importance import METHODS
from .paths import PROFILE_DIR, in_repo
from .sample import SAMPLERS, SPACINGS
from .verdicts import LOWER_IS_BETTER

DEVICES = ("cpu", "cuda")

# Building blocks of checks, for `Profile` and for a chapter's own parameters.

@dataclass(frozen=True)
class Parameter:
    doc: str                         # what it is and what a valid value is (also the one-line error's "expected")
    valid: Callable[[object], bool]


def parameter(doc: str, valid: Callable[[object], bool]):
    """A field of `Profile` (or of a chapter's own parameters): no default, since defaults live in
    the profiles only; its docstring `doc` and its check travel in the field's metadata."""
    return field(metadata={"parameter": Parameter(doc, valid)})


def definitions(cls) -> dict[str, Parameter]:
    """Each field of a dataclass of `parameter` fields, by name: its doc and its check."""
    return {f.name: f.metadata["parameter"] for f in fields(cls)}


def integer(lo=None, hi=None) -> Callable[[object], bool]:
    return lambda v: (isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo)
                      and (hi is None or v <= hi))


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def list_of(ok: Callable[[object], bool], non_empty: bool = True) -> Callable[[object], bool]:
    return lambda v: isinstance(v, list) and (len(v) > 0 or not non_empty) and all(ok(x) for x in v)


def increasing(ok: Callable[[object], bool]) -> Callable[[object], bool]:
    """A strictly increasing list (may be empty) whose every item passes `ok`, e.g. training lengths."""
    return lambda v: isinstance(v, list) and all(ok(x) for x in v) and v == sorted(set(v))


def one_of(names) -> Callable[[object], bool]:
    return lambda v: v in names


def is_python_file(path) -> bool:
    return isinstance(path, str) and path.endswith(".py") and in_repo(path).is_file()


def load_extensions(paths: list[str]) -> None:
    """Import each file as a module (so that what it registers can be hashed from its source)."""
    import importlib.util
    import sys
    for path in paths:
        file = in_repo(path)
        name = "diffprune_extension_" + "".join(c if c.isalnum() else "_" for c in str(file))
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise DiffpruneError(f"extension {path} failed: {type(e).__name__}: {e}".splitlines()[0]) from None


def is_teacher_dir(path) -> bool:
    """A committed teacher: a diffprune model directory that records its data set in cost.json."""
    d = in_repo(path) if isinstance(path, str) else None
    return d is not None and (d / "unet" / "diffprune.json").is_file() and (d / "cost.json").is_file()


def is_teacher(v) -> bool:
    if isinstance(v, dict):
        needed = ("preset", "steps", "batch_size", "lr", "seed")
        return is_dataset_name(v.get("dataset")) and all(k in v for k in needed)
    # a local directory, or a hub id such as google/ddpm-cifar10-32
    return isinstance(v, str) and (in_repo(v).is_dir() or (v.count("/") == 1 and not v.startswith((".", "/"))))


@dataclass(frozen=True)
class Profile:
    """Every parameter two or more chapters read: its type, and its doc and check (`parameter`).

    Never instantiated whole: `Chapter.load` makes each chapter a frozen class of the fields it names
    (plus its own), so a chapter reading a parameter it did not name fails at once."""

    # the teacher and the rows
    teacher: str | dict = parameter(
        "the teacher every row is pruned from: a model directory, a hub id, or a dict of training parameters "
        "(dataset, preset, steps, batch_size, lr, seed)", is_teacher)
    dataset: str = parameter(f"the teacher's data set: {', '.join(DATASET_NAMES)}", is_dataset_name)
    more_teachers: list[str] = parameter(
        "a list of committed teacher directories (each with a cost.json), shown beside the study's teacher",
        list_of(is_teacher_dir, non_empty=False))
    teacher_steps: int | None = parameter(
        "the teacher's training steps, or null (read from the teacher's cost.json)",
        lambda v: v is None or integer(1)(v))
    methods: list[str] = parameter(
        f"a list of pruning methods out of {', '.join(METHODS)} (or registered by extensions): RQ1's rows",
        list_of(one_of(METHODS)))
    extensions: list[str] = parameter(
        "a list of Python files to import first, e.g. one that registers an importance criterion "
        "(importance.register)", list_of(is_python_file, non_empty=False))
    ratio: float = parameter("the channel ratio pruned away, in (0, 1)", lambda v: is_number(v) and 0 < v < 1)
    thresholds: list[float] = parameter(
        "Diff-Pruning's thresholds T of RQ1's rows: a list in [0, 1)", list_of(lambda t: is_number(t) and 0 <= t < 1))
    timestep_stride: int = parameter(
        "an integer >= 1: Diff-Pruning's importance visits every k-th timestep (paper: 1)", integer(1))
    importance_batch: int = parameter("an integer >= 1: images per timestep of the importance walk", integer(1))
    # the finetune after pruning
    finetune_steps: int = parameter("an integer >= 1: RQ1's finetune steps after pruning", integer(1))
    finetune_batch: int = parameter("an integer >= 1: the finetune's batch size", integer(1))
    finetune_lr: float = parameter("a number > 0: the finetune's learning rate", lambda v: is_number(v) and v > 0)
    finetune_warmup: int = parameter("an integer >= 0: the finetune's warm-up steps", integer(0))
    # sampling and metrics
    n_samples: int = parameter("an integer >= 2: samples drawn per row and seed", integer(2))
    sampler: str = parameter(f"the sampler, one of {', '.join(SAMPLERS)}", one_of(SAMPLERS))
    ddim_steps: int = parameter(
        "an integer >= 1: the sampler's steps (at most the teacher's timesteps: checked when sampling)", integer(1))
    spacing: str = parameter(f"the sampler's timestep spacing, one of {', '.join(SPACINGS)}", one_of(SPACINGS))
    features: str = parameter(f"the Fréchet distance's feature network, one of {', '.join(FEATURES)}",
                              one_of(FEATURES))
    n_reference: int | None = parameter(
        "reference images of the Fréchet distance: null (the whole test split) or an integer >= 2",
        lambda v: v is None or integer(2)(v))
    n_boot: int = parameter("an integer >= 0: bootstrap resamples of a paired interval", integer(0))
    seeds: list[int] = parameter("RQ1's seeds: a non-empty list of integers >= 0", list_of(integer(0)))
    classifier_epochs: int = parameter(
        "an integer >= 0: epochs of the content classifier (0: no content consistency)", integer(0))
    control_row: bool = parameter(
        "true or false: RQ1 adds the teacher finetuned exactly as the pruned rows are (steps, recipe, seed), the "
        "teacher the same compute does without pruning", lambda v: isinstance(v, bool))
    # comparisons (RQ1, RQ2, Findings)
    reference_threshold: float = parameter(
        "a threshold in [0, 1): the Diff-Pruning row the others are compared with",
        lambda v: is_number(v) and 0 <= v < 1)
    equivalence_margins: dict[str, float] = parameter(
        "a mapping of metrics (fd, ssim, detail, content, kappa) to margins >= 0: fd's a fraction of the "
        "compared-against row's value, the others absolute",
        lambda v: isinstance(v, dict) and all(k in LOWER_IS_BETTER and is_number(m) and m >= 0 for k, m in v.items()))
    # the L_t curve (RQ2, DDPM versus LDM)
    lt_batches: int = parameter("an integer >= 1: fixed batches of the L_t curve", integer(1))
    lt_stride: int = parameter("an integer >= 1: the L_t curve visits every k-th timestep", integer(1))
    curve_thresholds: list[float] = parameter(
        "a list of thresholds in (0, 1) marked on the L_t curve", list_of(lambda t: is_number(t) and 0 < t < 1))
    # measured speed (RQ3, DDPM versus LDM)
    speed_batches: list[int] = parameter("a list of batch sizes >= 1 for the speed table", list_of(integer(1)))
    speed_threads: list[int] = parameter("a list of CPU thread counts >= 1 for the speed table", list_of(integer(1)))
    speed_repeats: int = parameter("an integer >= 5: timed repeats after warm-up (the median is kept)", integer(5))
    speed_rounds: int = parameter(
        "an integer >= 1: rounds of timings, every model once per round (the speed-up's spread across rounds is "
        "reported)", integer(1))
    speed_devices: list[str] = parameter(
        f"a list of devices out of {', '.join(DEVICES)} whose timings the chapter shows", list_of(one_of(DEVICES)))


PARAMETERS = definitions(Profile)

# Read by `Chapter.load` itself, for every chapter, rather than by a chapter: the gap it fills is a
# study moving its chapters to a new teacher one at a time (each once its rows are complete), so that
# the book stays whole while some chapters stand on the old teacher and some on the new.
CHAPTER_VALUES = "chapter_values"
CHAPTER_VALUES_DOC = ("a mapping of chapter names to mappings of parameters that chapter reads in place of the "
                      "profile's (e.g. the chapters already moved to a teacher trained longer, with their finetune "
                      "lengths); a command line's -p NAME VALUE still wins over both")


def chapter_values(values: dict) -> dict[str, dict]:
    """The profile's `chapter_values` (after overrides), checked for its shape: {chapter: {name: value}}."""
    own = values.get(CHAPTER_VALUES, {})
    if not (isinstance(own, dict) and all(isinstance(k, str) and isinstance(v, dict) for k, v in own.items())):
        raise DiffpruneError(f"parameter {CHAPTER_VALUES} = {own!r} is invalid: expected {CHAPTER_VALUES_DOC}")
    return own


def for_chapter(values: dict, chapter: str, overrides: dict | None = None) -> dict:
    """A profile's values (`read`, overrides applied) as one chapter reads them: its `chapter_values`
    entry over the profile's, the overrides over both."""
    given = {k: v for k, v in (overrides or {}).items() if k != CHAPTER_VALUES}
    return {**values, **chapter_values(values).get(chapter, {}), **given}


def names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def read(name: str, overrides: dict | None = None) -> dict:
    """A profile's values with `overrides` applied (not yet checked). Unknown names fail."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise DiffpruneError(f"unknown profile {name!r}; choose one of {', '.join(names())}")
    values = yaml.safe_load(path.read_text()) or {}
    unknown = set(overrides or {}) - set(values)
    if unknown:
        raise DiffpruneError(f"unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(values))}")
    return {**values, **(overrides or {})}


def check(values: dict, known: dict[str, Parameter] = PARAMETERS) -> dict:
    """Raise one DiffpruneError naming the first value its definition rejects."""
    for name, value in values.items():
        d = known.get(name)
        if d is None:
            raise DiffpruneError(f"parameter {name} has no definition (profiles.Profile or a chapter's own)")
        if not d.valid(value):
            raise DiffpruneError(f"parameter {name} = {value!r} is invalid: expected {d.doc}")
    return values


def parse_override(text: str):
    """A command-line value, read as YAML (papermill's -y style): 0.5, [0, 0.05], null, cpu."""
    return yaml.safe_load(text)


def as_override(value) -> str:
    """A value as `-p NAME VALUE` takes it back (YAML flow: `null`, `[0, 1]`, `{fd: 0.02}`), so a
    reader can copy it from the page into a command."""
    return yaml.safe_dump(value, default_flow_style=True, width=float("inf"), sort_keys=False).removesuffix(
        "...\n").strip()


def table(p):
    """A chapter's parameters (`chapter.Parameters`) as a small two-column table for the page, each
    value written as an override takes it."""
    import pandas as pd
    values = p.values()
    return pd.DataFrame({"value": [as_override(v) for v in values.values()]},
                        index=pd.Index(list(values), name="parameter"))


def attribution(dataset: str):
    """The credit line a data set's licence asks for, as Markdown (None if it asks for none)."""
    if dataset == "openmoji-32":
        from IPython.display import Markdown

        from .openmoji import ATTRIBUTION
        return Markdown(f"*{ATTRIBUTION}* ([openmoji.org](https://openmoji.org))")
    return None

