"""The plan before compute: which steps a chapter's work would compute, and about how long they
would take on this machine.

Every job of a chapter's `work` runs with the study cache in planning mode: a cached step that is
not recorded is listed instead of computed, together with every input its computation would read
(an input whose record is kept but whose bulk is not is listed to be regenerated), and its results
read as `study.Unknown`, so the job goes on and lists the steps after it. A job that cannot go on
without a listed step's files (e.g. a model's size counted on its weights) stops there; the plan
says how many did.

The estimate prices each listed step at the median seconds per unit of work of the recorded steps
of its kind (finetune and training steps, sampled image-steps, image-timesteps of an importance
walk; one for the rest), preferring those recorded on this device, then on this kind of device.
The gap it fills: a changed parameter can start hours of computing, and nothing said so before.
"""
from __future__ import annotations

import json
import math
import shlex
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import evaluation, study
from .artifacts import DiffpruneError, device_description, device_words
from .chapter import spec
from .profiles import CHAPTER_VALUES, for_chapter, read
from .progress import listening

ASK_ABOVE_S = 600  # a longer plan is confirmed first (or run with --yes)


@dataclass(frozen=True)
class Planned:
    step: str
    key: str
    params: dict
    regenerate: bool  # recorded, but its bulk is not kept: recomputed for a computation that reads it
    after: tuple[tuple[str, str], ...] = ()  # the listed steps its computation reads
    resumes_at: int = 0  # a training step passing through a shorter run resumes from its checkpoint

    @property
    def work(self) -> float:
        """Its units (`units`) less those of the shorter run it resumes from."""
        return max(units(self.step, self.params) - self.resumes_at, 1.0)

    @property
    def certain(self) -> bool:
        """Whether its parameters are known: not built from a result the plan could only list."""
        def known(v) -> bool:
            if isinstance(v, study.Unknown):
                return False
            if isinstance(v, dict):
                return all(known(x) for x in v.values())
            return all(known(x) for x in v) if isinstance(v, (list, tuple)) else True
        return known(self.params)

    @property
    def provisional(self) -> bool:
        """Whether its key is a stand-in (an untrained teacher's: the real one hashes its weights), so
        the steps after it have other keys once it is computed."""
        return self.key != study.step_key(self.step, self.params)

    @property
    def kind(self) -> str:
        return "prune (importance walk)" if self.step == "prune" and units(self.step, self.params) > 1 else self.step


@dataclass
class Plan:
    steps: dict[tuple[str, str], Planned] = field(default_factory=dict)
    jobs: int = 0
    stopped: list[str] = field(default_factory=list)  # jobs that could not be followed to their end
    needs: list[set[tuple[str, str]]] = field(default_factory=list)  # per job: the listed steps it needs
    seen: dict[tuple[str, str], object] = field(default_factory=dict)  # every cached step met: its Artifact

    def listed(self, a, bulk: bool) -> bool:
        """The planner: whether the artifact `a` is missing (then it is listed, with its inputs)."""
        self.seen.setdefault((a.step, a.key), a)
        d = study.step_dir(a.step, a.params)
        recorded = study.done(d)  # not under --recompute's run
        if recorded and not (bulk and study.missing_bulk(a.step, d)):
            return False
        if self.needs:
            self.needs[-1].add((a.step, a.key))
        if (a.step, a.key) not in self.steps:  # its inputs first: the plan's order is an order to compute in
            after = tuple((i.step, i.key) for i in a.inputs
                          if i.params is not None and self.listed(i, True))  # computing reads its inputs' bulk
            def same_run(i) -> bool:  # the same run, shorter (not, say, a finetune of a finetuned model)
                return i.step == a.step and i.params is not None and \
                    {k: v for k, v in i.params.items() if k != "steps"} == {k: v for k, v in a.params.items()
                                                                            if k != "steps"}
            resumes = max((i.params.get("steps", 0) for i in a.inputs if same_run(i)), default=0)
            self.steps[(a.step, a.key)] = Planned(a.step, a.key, a.params, regenerate=recorded, after=after,
                                                  resumes_at=resumes if a.step in TRAINING else 0)
        return True

    def seconds(self) -> tuple[float, list[str]]:
        """The estimated seconds of every listed step, and the kinds no recorded step prices."""
        rates, total, unpriced = recorded_rates(), 0.0, []
        for s in self.steps.values():
            rate = rates.get(s.kind)
            if rate is None:
                unpriced.append(s.kind)
            else:
                total += rate * s.work
        return total, sorted(set(unpriced))

    def table(self) -> str:
        """The plan as the terminal shows it: steps by kind, each with its estimated time."""
        if not self.steps:
            return "nothing to compute: every step is recorded"
        rates = recorded_rates()
        lines = []
        for kind, n in Counter(s.kind for s in self.steps.values()).items():
            regen = sum(s.regenerate for s in self.steps.values() if s.kind == kind)
            rate = rates.get(kind)
            cost = ("no recorded step to price it" if rate is None else
                    duration(sum(rate * s.work for s in self.steps.values() if s.kind == kind)))
            lines.append(f"  {kind:<24} {n:>5}{f' ({regen} to regenerate)' if regen else '':<20} ~ {cost}")
        total, unpriced = self.seconds()
        if len(unpriced) == len({s.kind for s in self.steps.values()}):
            lines.append(f"  time unknown: no recorded step of these kinds prices them on "
                         f"{device_words(device_description())} (an empty study cache, or a new device)")
        else:
            lines.append(f"  about {duration(total)} on {device_words(device_description())}"
                         + (f" for the priced steps; no recorded step prices the {', '.join(unpriced)}"
                            if unpriced else "") + "; with study --jobs N, N jobs run side by side")
        if self.stopped:
            lines.append(f"  {len(self.stopped)} of {self.jobs} jobs could only be followed to their first "
                         "missing model's files: the plan lists at least this")
        return "\n".join(lines)


TRAINING = ("finetune", "teacher", "training_run")  # priced per optimizer step


@cache
def _default_timesteps() -> int:
    from .unet import default_scheduler
    return default_scheduler().config.num_train_timesteps


def _walked(params: dict) -> int:
    """Timesteps a walk covers: its window, else all of the default schedule's (an estimate: the
    step's parameters name the teacher by its key only)."""
    a, b = params.get("window") or (0, _default_timesteps())
    return b - a


def units(step: str, params: dict) -> float:
    """The work of one step in the unit its time scales with."""
    if step in TRAINING:
        return float(params.get("steps", 1))
    if step == "sample":
        return float(params["n"] * params["steps"])
    if step == "prune" and "timestep_stride" in params:  # a gradient method walks the timesteps
        return params["batch_size"] * math.ceil(_walked(params) / params["timestep_stride"])
    if step == "gradient_stages":
        return params["batch_size"] * math.ceil(_walked(params) / params["stride"])
    if step == "loss_curve":
        return params["n_batches"] * params["batch_size"] * math.ceil(_walked(params) / params["stride"])
    if step == "classifier":
        return float(params["epochs"])
    return 1.0


def recorded_rates() -> dict[str, float]:
    """Median seconds per unit of every step kind, from the records of the study cache (this
    device's first, then this kind of device's, then any)."""
    return rates_in(study.study_dir())


@cache  # per study cache: a process that plans against two (the tests) must not price one by the other's
def rates_in(root: Path) -> dict[str, float]:
    """`recorded_rates` of the study cache at `root` (the one `study.records` reads now; the cache's key)."""
    here = device_description()
    found: dict[str, list[tuple[int, float]]] = {}
    for r in study.records():
        try:
            s = Planned(r["step"], r["key"], r["params"], False)
            rate = _training_rate(r) if s.step in TRAINING else r["wall_time_s"] / units(s.step, s.params)
        except (KeyError, ValueError, TypeError, ZeroDivisionError, OSError):  # (JSONDecodeError is a ValueError)
            continue
        if s.step in TRAINING and not rate:  # a training record whose own steps are not known
            continue
        closeness = 0 if r["device"] == here else 1 if r["device"].split(":")[0] == here.split(":")[0] else 2
        found.setdefault(s.kind, []).append((closeness, rate))
    out = {}
    for kind, rated in found.items():
        best = min(c for c, _ in rated)
        out[kind] = statistics.median(rate for c, rate in rated if c == best)
    return out


def _training_rate(r: dict) -> float:
    """Seconds per optimizer step of a training record (its own time, loading and saving included,
    as every kind's rate is), by the steps its own run trained: one resumed from a shorter run's
    checkpoint trained only the rest (its cost.json says from where). A record from before cost.json
    said so counts only where its own time covers the run's whole training time (it did not resume);
    else 0: not a rate."""
    cost = study.result(study.study_dir() / r["step"] / r["key"], "cost.json")
    resumed = cost.get("resumed_at_step")
    if resumed is None:
        if r["wall_time_s"] < 0.9 * cost["wall_time_s"]:
            return 0.0
        resumed = 0
    return r["wall_time_s"] / (cost["steps"] - resumed)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def of(jobs: list, into: Plan | None = None) -> Plan:
    """The plan of a chapter's jobs (module-level functions and their arguments): what they would
    compute, computing nothing."""
    plan = into or Plan()
    with study.planning_with(plan.listed):
        for fn, args in jobs:
            plan.jobs += 1
            plan.needs.append(set())
            try:
                fn(*args)
            except (OSError, DiffpruneError, TypeError, ValueError, KeyError, AttributeError, RuntimeError) as e:
                if not plan.steps:
                    raise
                plan.stopped.append(f"{fn.__name__}: {type(e).__name__}: {e}")
    return plan


def behind(jobs: list) -> list:
    """Every artifact the jobs read, with the inputs behind them, from records only (`NotRecorded`
    where one is missing): what a chapter's results rest on, from the one declaration of its work."""
    seen: dict[tuple[str, str], object] = {}

    def trace(a, bulk: bool) -> bool:
        if (a.step, a.key) not in seen:
            seen[(a.step, a.key)] = a
            for i in a.inputs:
                if i.params is not None:
                    trace(i, True)
        return False  # never listed: read as recorded
    with study.recorded_only(), study.planning_with(trace):
        for fn, args in jobs:
            fn(*args)
    return list(seen.values())


def spent(jobs: list) -> dict:
    """Hours and devices of every artifact behind the jobs (`behind`), from their records."""
    return evaluation.spent(behind(jobs))


def confirm(plan: Plan, *, yes: bool, what: str) -> None:
    """Ask before a long computation (a terminal), or refuse it without `--yes` (no terminal)."""
    total, _ = plan.seconds()
    if yes or total <= ASK_ABOVE_S:
        return
    question = f"{what} would compute for about {duration(total)} (the plan above)"
    if not sys.stdin.isatty():
        raise DiffpruneError(f"{question}; pass --yes to start it, or --plan to print the plan only")
    if input(f"{question}. Start it? [y/N] ").strip().lower() not in ("y", "yes"):
        raise DiffpruneError("not started")


class Progress:
    """Steps done of the plan's N, the step now running, the time elapsed and the estimate of what is
    left, on stderr: the terminal's sign of life while a plan is computed in this process. A step
    that needs another one's files computes that one inside it, so the running steps nest. A step
    the plan could not see is found on the way. Where the plan listed steps after a model it could
    not follow (under a stand-in key: `schedulable` leaves them out), those are placeholders: a found
    step of the same kind takes one's place; past them, a found step joins the total when it starts.
    So the count and the bar measure what is known, without counting a step twice, and end at 100 %.
    The bar also moves inside a step, by the share its first loop has done (a 10-hour training run
    shows its estimate after minutes, not hours); the part of a loop done before this process (a run
    resumed from its checkpoint) leaves the total instead, so the rate measures this run's work."""

    def __init__(self, plan: Plan):
        from collections import Counter

        from tqdm import tqdm
        self.plan, self.rates, self.done, self.found, self.running = plan, recorded_rates(), 0, 0, []
        self.loop, self.shown_at = None, 0.0  # the running step's own bar (`progress.Bar`), and when last shown
        known = set(sure(plan))
        self.placeholders = Counter(s.kind for name, s in plan.steps.items() if name not in known)
        self.known = len(plan.steps)
        total, unpriced = plan.seconds()
        self.by_time = not unpriced  # else the bar counts steps
        self.bar = tqdm(total=max(round(total), 1) if self.by_time else len(plan.steps), file=sys.stderr,
                        dynamic_ncols=True, bar_format="{desc} {percentage:3.0f}% | {elapsed} elapsed, ~{remaining} "
                                                       "left" + (" (estimate)" if self.by_time else ""))

    def _weight(self, s: Planned) -> int:
        """What one step adds to the bar: its estimated seconds, or one step when the bar counts steps."""
        if not self.by_time:
            return 1
        rate = self.rates.get(s.kind)
        return round(rate * s.work) if rate is not None else 0

    def __call__(self, event: str, step: str, key: str, params: dict | None = None) -> None:
        s = self.plan.steps.get((step, key))
        self.loop = None
        if event == "start":
            planned = s or Planned(step, key, params or {}, False)
            weight = self._weight(planned)
            # what the bar has of it: credited by its first loop's share past where its weight begins
            # (`resumes_at`: a shorter run's end), skipped where the loop began later (its own checkpoint)
            self.running.append({"label": f"{step} {key[:8]}", "weight": weight, "base": planned.resumes_at,
                                 "loop": None, "credited": 0, "skipped": 0})
            if s is None:  # found on the way: in a placeholder's place, or now part of the total
                self.found += 1
                kind = Planned(step, "", params or {}, False).kind
                if self.placeholders[kind]:
                    self.placeholders[kind] -= 1
                else:
                    self.known += 1
                    self.bar.total += weight
        else:
            r = self.running.pop()
            self.done += 1
            self.bar.update(max(r["weight"] - r["skipped"] - r["credited"], 0))
        self._describe()

    def _credit(self, bar) -> None:
        """Move the bar by the running step's share done in its first loop."""
        r = self.running[-1] if self.running else None
        if r is None or not self.by_time or not bar.total or bar.total <= r["base"]:
            return
        span = bar.total - r["base"]
        if r["loop"] is None:
            r["loop"] = bar
            r["skipped"] = min(round(r["weight"] * max(bar.start - r["base"], 0) / span), r["weight"])
            self.bar.total = max(self.bar.total - r["skipped"], self.bar.n)
        if bar is r["loop"]:
            share = round(r["weight"] * max(min(bar.done, bar.total) - r["base"], 0) / span) - r["skipped"]
            if share > r["credited"]:
                self.bar.update(share - r["credited"])
                r["credited"] = share

    def looped(self, bar) -> None:
        """A loop inside the running step moved (`progress.listening`): shown beside the step, the
        first loop the step started until it is through (a loop over shards keeps the line, not the
        loop in each shard), at most twice a second."""
        self._credit(bar)
        if self.loop is None or (self.loop is not bar and self.loop.total and self.loop.done >= self.loop.total):
            self.loop = bar
        now = time.monotonic()
        if bar is self.loop and (now - self.shown_at >= 0.5 or (bar.total and bar.done >= bar.total)):
            self.shown_at = now
            self._describe()

    def _describe(self) -> None:
        loop = self.loop
        inner = "" if loop is None else f": {loop.what} {loop.done:,}" + (f"/{loop.total:,}" if loop.total else "")
        now = f", computing {self.running[-1]['label']}{inner}" if self.running else ""
        more = f", {self.found} of them found on the way" if self.found else ""
        self.bar.set_description_str(f"[{self.done}/{self.known} steps done{more}{now}]")

    def close(self, finished: bool = True) -> None:
        if finished:  # what the plan listed but no job reached is not left to do
            self.known = self.done
            self.bar.total = self.bar.n
            self._describe()
            self.bar.refresh()
        self.bar.close()


def compute(jobs: list, plan: Plan) -> list:
    """Run the jobs in this process, with `Progress` for the plan's steps."""
    progress = Progress(plan)
    finished = False
    try:
        with study.watching(progress), listening(progress.looped):
            out = [fn(*args) for fn, args in jobs]
        finished = True
        return out
    finally:
        progress.close(finished)


def work_of(names: list[str], profile: str, overrides: dict) -> list:
    """The chapters' declared work (`Chapter.work`): their jobs."""
    jobs = []
    for name in names:
        c = spec(name)
        jobs += c.work(c.load(profile, overrides)) if c.work else []
    return jobs


def of_chapters(names: list[str], profile: str, overrides: dict) -> tuple[Plan, list]:
    """The plan of the chapters' declared work, and those jobs."""
    jobs = work_of(names, profile, overrides)
    return of(jobs), jobs


def in_progress(profile: str, overrides: dict, sweeps: list[dict], names: list[str]) -> list[dict]:
    """Each sweep of the exercises chapter's `computing` (values whose rows are being computed, e.g. a
    control row on every seed, more than one session's work), on top of the profile with `overrides`,
    whose own artifacts must all be recorded: the chapters it adds artifacts to, the keys of those
    recorded so far, the new steps left and the recorded ones to regenerate (their bulk is not
    committed) by kind, with an estimate of both and the command that continues it. The gap it
    fills: a sweep of tens of CPU-hours lands over several sessions, and its finished records must be
    kept, and seen, before the book shows them."""
    out = []
    for values in sweeps:
        touched, new, steps, stopped = [], [], {}, False
        for name in (n for n in names if set(values) & set(spec(n).definitions())
                     or n in values.get(CHAPTER_VALUES, {})):
            # the profile's own artifacts: every one behind its rows, not only those its plan meets (a
            # plan does not follow a recorded step to its inputs, e.g. the classifier behind a consistency)
            try:
                base = {(a.step, a.key) for a in behind(work_of([name], profile, overrides))}
            except study.NotRecorded as e:
                raise DiffpruneError(f"the {name} chapter's own rows are not all recorded, so no sweep can be "
                                     f"told from them ({e}): compute them first (study --profile {profile})") from None
            sweep = of_chapters([name], profile, {**overrides, **values})[0]
            added = [k for k in sweep.seen if k not in base and k not in new]
            if added:  # a chapter that names the values but ignores them (ldm's pixel rows) adds none
                touched.append(name)
                new += added
                steps.update(sweep.steps)
                stopped = stopped or bool(sweep.stopped)
        left = Plan(steps=steps)
        seconds, unpriced = left.seconds()
        changed = "".join(f" -p {k} {shlex.quote(json.dumps(v))}" for k, v in {**overrides, **values}.items())
        out.append({"values": values, "chapters": touched,
                    "recorded": [k for k in new if k not in steps or steps[k].regenerate],
                    "left": Counter(s.kind for s in steps.values() if not s.regenerate),
                    "regenerate": Counter(s.kind for s in steps.values() if s.regenerate),
                    "seconds": seconds, "unpriced": unpriced, "partial": stopped,
                    "command": f"python -m diffprune study --profile {profile}"
                               + "".join(f" --chapter {n}" for n in touched) + changed})
    return out


def read_records(profile: str, overrides: dict, names: list[str]) -> set[tuple[str, str]]:
    """(step, key) of every record the chapters read at the profile — their declared work and every
    input behind it (`behind`) — and of every artifact a sweep of the profile's `computing` has met so
    far, with the inputs behind those: what `study --retire` keeps."""
    try:
        keys = {(a.step, a.key) for a in behind(work_of(names, profile, overrides))}
    except study.NotRecorded as e:
        raise DiffpruneError(f"the chapters' own rows are not all recorded ({e}): compute them first "
                             f"(study --profile {profile}), then retire what they do not read") from None
    for values in spec("exercises").load(profile, overrides).computing:
        met = list(of_chapters(names, profile, {**overrides, **values})[0].seen.values())
        while met:
            a = met.pop()
            if (a.step, a.key) not in keys:
                keys.add((a.step, a.key))
                met += [i for i in a.inputs if i.params is not None]
    return keys


def estimate(steps: int, seconds: float, unpriced: list[str], partial: bool) -> str:
    """A planned computation's estimate as the book's tables give it."""
    if not steps:
        return "–"
    priced = duration(seconds) + (" + unpriced" if unpriced else "") if seconds or not unpriced else "unpriced"
    return priced + (" (at least)" if partial else "")


def progress_table(sweeps: list[dict]):
    """The sweeps being computed (`in_progress`) as Reproducing shows them."""
    import pandas as pd

    def kinds(counted: Counter) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in counted.items())
    rows = [{"sweep": ", ".join(f"{k}: {json.dumps(v)}" for k, v in s["values"].items()),
             "chapters": ", ".join(s["chapters"]), "steps recorded": len(s["recorded"]),
             "steps left": kinds(s["left"]) or "none: move it into the profile",
             "to regenerate first": kinds(s["regenerate"]) or "–",
             "estimate left": estimate(sum(s["left"].values()) + sum(s["regenerate"].values()), s["seconds"],
                                       s["unpriced"], s["partial"])} for s in sweeps]
    # a page's glue cannot be left out when there is nothing to show: one row says so, not bare headers
    rows = rows or [{"sweep": "none is being computed", "chapters": "–", "steps recorded": "–", "steps left": "–",
                     "to regenerate first": "–", "estimate left": "–"}]
    return pd.DataFrame(rows, columns=["sweep", "chapters", "steps recorded", "steps left", "to regenerate first",
                                       "estimate left"]).set_index("sweep")


def progress_commands(sweeps: list[dict]) -> str:
    """The command that continues each sweep being computed, one a line: shown as a code block under
    the table (in a table column the longest cell widened the page past its text column)."""
    return "\n".join(s["command"] for s in sweeps) or "# no sweep is being computed"


def progress_reading(sweeps: list[dict]) -> str:
    """One sentence on the sweeps being computed, for Reproducing."""
    if not sweeps:
        return "No sweep is being computed: every chapter shows every row its profile asks for."
    done = sum(len(s["recorded"]) for s in sweeps)
    total = done + sum(sum(s["left"].values()) for s in sweeps)
    at_least = " at least" if any(s["partial"] for s in sweeps) else ""
    return (f"{len(sweeps)} sweep{'s' if len(sweeps) > 1 else ''} {'are' if len(sweeps) > 1 else 'is'} "
            f"being computed: {done} of{at_least} {total} steps recorded so far. "
            "Their records are committed as they finish; no chapter shows them until the sweep is complete and its "
            "values move into the profile (one commit, checked by the tests), so no verdict rests on part of one.")


def commands(plan: Plan, chapter: str, profile: str, overrides: dict,
             numbers: list[int] | None = None) -> tuple[list[str], int]:
    """One command per listed step, each step after the steps it reads: each computes that one step
    into the study cache (`study --job I --step STEP:KEY`, I a job that needs it), reading its inputs
    from the cache; one whose inputs another command computes waits for them (`--wait`, up to a day).
    Run in order they fill the cache; run side by side (a Slurm array, GNU parallel) they need a file
    system shared by the nodes. Also returns how many steps could not be given a command: those whose
    parameters come from a result still to compute or that read a model whose key is known only once
    it is trained, and those after them (plan again once the commands ran)."""
    changed = "".join(f" -p {k} {shlex.quote(json.dumps(v))}" for k, v in overrides.items())
    numbers = numbers or list(range(len(plan.needs)))  # the chapter's numbers of the planned jobs
    ready = schedulable(plan)
    lines = [f"python -m diffprune study --profile {profile} --chapter {chapter}{changed} --job {numbers[i]} "
             f"--step {step}:{key}{' --wait 86400' if plan.steps[(step, key)].after else ''} --yes"
             for (step, key), i in ready.items()]
    return lines, len(plan.steps) - len(ready)


def schedulable(plan: Plan) -> dict[tuple[str, str], int]:
    """The listed steps that can be computed one by one now, in the plan's order (each after the
    steps it reads), each with the position of a planned job that reaches it; left out: a step whose
    parameters come from a result still to compute, one after a model whose key is known only once
    it is trained (a stand-in key), and the steps after those."""
    return {name: next(i for i, needed in enumerate(plan.needs) if name in needed) for name in sure(plan)}


def sure(plan: Plan) -> list[tuple[str, str]]:
    """The listed steps whose parameters and inputs' keys are known (`schedulable`'s steps)."""
    later: set[tuple[str, str]] = set()
    out = []
    provisional = {name for name, s in plan.steps.items() if s.provisional}
    for name, s in plan.steps.items():
        if not s.certain or later.intersection(s.after) or provisional.intersection(s.after):
            later.add(name)
        else:
            out.append(name)
    return out


def alone(step: str) -> bool:
    """Whether a step measures the machine (`study.Step.alone`): run with nothing beside it."""
    return study.STEPS[step].alone


def jobs_alone(plan: Plan) -> set[int]:
    """The planned jobs that reach a step to compute alone: a pool runs them after the others."""
    return {i for i, needed in enumerate(plan.needs) if any(alone(step) for step, _ in needed)}


def compute_step(job, step: str, key: str, wait_s: float = 0.0) -> None:
    """Compute the one step `step:key` of a chapter's job (a plan's command). The job is followed as
    a plan follows it up to that step; the step then computes, reading its inputs from the cache and
    waiting up to `wait_s` for those not recorded yet (another command's), else refusing to start."""
    p = of([job])
    a = p.seen.get((step, key))
    if a is None:
        why = f": it stops at {p.stopped[0]}" if p.stopped else " (another job's step, or a plan of other parameters)"
        raise DiffpruneError(f"this job does not reach {step}:{key}{why}")
    with study.computing_only(step, study.step_dir(a.step, a.params).name, wait_s):  # an untrained teacher's
        a.locate(True)                                                           # key is not its directory's


def run(names: list[str], profile: str, overrides: dict, *, only_plan: bool, yes: bool) -> bool:
    """Print the plan of the chapters' work; unless `only_plan`, confirm it (`confirm`) and compute it
    here with progress. False when only the plan was wanted."""
    plan, jobs = of_chapters(names, profile, overrides)
    changed = "".join(f" -p {k} {json.dumps(v)}" for k, v in overrides.items())
    print(f"plan for {', '.join(names)} (profile {profile}{changed}): {len(plan.steps)} steps to compute\n"
          + plan.table(), file=sys.stderr)
    if only_plan:
        return False
    if plan.steps:
        confirm(plan, yes=yes, what=", ".join(names))
        compute(jobs, plan)
    return True


def alternatives(value) -> list:
    """Values a reader might change a parameter to, in order of preference: one more seed or
    threshold in a list of numbers, a larger number. Strings, dicts and lists of names: none."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [value * 2, value + 1]
    if isinstance(value, float):
        return [round(value * 1.2, 6), round(value / 2, 6)] if value else [0.01]
    numbers = isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                        for v in value)
    if numbers:
        top = max(value)
        if all(isinstance(v, int) for v in value):
            return [[*value, top + 1]]
        return [[*value, round((top + sorted(value)[-2]) / 2, 6)]] if len(value) > 1 else [[*value, round(top / 2, 6)]]
    return []


def parameter_costs(profile: str, names: list[str]) -> list[dict]:
    """For each chapter and each profile key it reads: the first alternative value its checks accept,
    and the plan of that chapter's work under it (steps, estimated seconds on this device)."""
    out = []
    for name in names:
        c = spec(name)
        if not c.work:
            continue
        values = for_chapter(read(profile), name)
        for key in c.definitions():
            for alt in alternatives(values.get(key)):
                try:
                    p = c.load(profile, {key: alt})
                except DiffpruneError:
                    continue
                plan = of(c.work(p))
                seconds, unpriced = plan.seconds()
                out.append({"chapter": name, "parameter": key, "value": values[key], "changed_to": alt,
                            "steps": len(plan.steps), "seconds": seconds, "unpriced": unpriced,
                            "partial": bool(plan.stopped)})
                break
    return out


def stale_costs(recorded: dict) -> list[dict]:
    """The recorded parameter costs whose 'from' value is no longer the profile's: a change from
    another value, which says nothing about a change from today's."""
    values = read(recorded["profile"])
    return [r for r in recorded["rows"] if for_chapter(values, r["chapter"]).get(r["parameter"]) != r["value"]]


def cost_table(recorded: dict):
    """The recorded parameter costs (benchmarks/parameter_costs.py) as the book shows them, those
    from a value the profile no longer has (`stale_costs`) left out."""
    import pandas as pd
    stale = stale_costs(recorded)
    rows = [{"chapter": r["chapter"], "parameter": r["parameter"], "from": json.dumps(r["value"]),
             "to": json.dumps(r["changed_to"]), "steps to compute": r["steps"],
             "estimate": estimate(r["steps"], r["seconds"], r["unpriced"], r["partial"])}
            for r in recorded["rows"] if r not in stale]
    return pd.DataFrame(rows).set_index(["chapter", "parameter"])


def stale_costs_text(recorded: dict) -> str:
    """What `cost_table` left out, in a sentence."""
    stale = stale_costs(recorded)
    if not stale:
        return "Every row is a change from the profile's value today."
    names = ", ".join(dict.fromkeys(r["parameter"] for r in stale))  # plain: a glued text shows no Markdown
    return (f"Left out: {len(stale)} rows recorded when the profile had another value of {names} (they price a "
            "change from that value); benchmarks/parameter_costs.py records them again.")
