"""The evaluation layer every chapter shares, written once: evaluate a model artifact, summarise
rows over seeds, write a value with its interval, compare two rows honestly, and repeat a
chapter on every committed teacher.

A chapter's spec module says *which* models to evaluate (its rows); this module says *how*.
"""
from __future__ import annotations

import math
from pathlib import Path

from . import pipeline, verdicts
from .artifacts import DiffpruneError
from .chapter import Parameters

METRICS = ("fd", "ssim", "detail", "content", "kappa")   # the metrics a row may carry, each with _low and _high
RANGE = {"fd": (0.0, math.inf), "ssim": (-1.0, 1.0), "detail": (-1.0, 1.0), "content": (0.0, 1.0),
         "kappa": (-1.0, 1.0)}


# --- every teacher -------------------------------------------------------------------------------

def other_teachers(p: Parameters) -> list[Parameters]:
    """The profile once for each of its `more_teachers` (not the study's own teacher), with that
    teacher's data set, read from its cost.json."""
    own = Path(p.teacher) if isinstance(p.teacher, str) else None
    out = []
    for path in getattr(p, "more_teachers", []):  # a chapter that names no more_teachers has its own only
        if Path(path) == own:
            continue
        t = pipeline.teacher(path)
        out.append(p.replace(teacher=path, dataset=t.result("cost.json")["dataset"], teacher_steps=None))
    return out


def every_teacher(p: Parameters) -> list[Parameters]:
    return [p, *other_teachers(p)]


def trained_steps(p: Parameters) -> int | None:
    """The teacher's training steps: the profile's, its training parameters', or its record's (None
    for a model from the hub)."""
    if p.teacher_steps:
        return p.teacher_steps
    return p.teacher["steps"] if isinstance(p.teacher, dict) else pipeline.teacher_steps(pipeline.teacher(p.teacher))


def sweep_teachers(p: Parameters, sweep: str) -> list[Parameters]:
    """The teachers of one costly sweep (e.g. RQ2's content vs detail, or its ablations): the
    study's, or every one where the profile's `sweeps_on_more_teachers` names the sweep."""
    return every_teacher(p) if sweep in p.sweeps_on_more_teachers else [p]


# --- evaluating a model --------------------------------------------------------------------------

def samples_of(model: pipeline.Artifact, p: Parameters, seed: int, n: int | None = None,
               levers=None) -> pipeline.Artifact:
    """The profile's sample set of a model for one seed (the noise of sample i is (seed, i)), of
    `n_samples` images unless `n` is given, drawn in fp32 unless `levers` (`levers.Levers`) say otherwise."""
    return pipeline.samples(model, n=n or p.n_samples, seed=seed, steps=p.ddim_steps, spacing=p.spacing,
                            sampler=p.sampler, levers=levers)


def classifier_of(p: Parameters) -> pipeline.Artifact | None:
    """The content classifier of the profile's data set (None when `classifier_epochs` is 0)."""
    return pipeline.classifier(p.dataset, epochs=p.classifier_epochs) if p.classifier_epochs else None


def judge_of(p: Parameters) -> dict | None:
    """The content classifier's record (classes, test accuracy), or None without one."""
    clf = classifier_of(p)
    return clf.result("meta.json") if clf else None


JUDGE_MIN_ACCURACY = 0.7  # below it a classifier's label does not say what a sample shows: content is not shown


def content_judged(p: Parameters) -> bool:
    """Whether the profile's data set has a content classifier accurate enough to show its verdicts."""
    judge = judge_of(p)
    return judge is not None and judge["test_accuracy"] >= JUDGE_MIN_ACCURACY


def _flat(name: str, result: dict | None) -> dict:
    result = result or {}
    return {name: result.get("value"), f"{name}_low": result.get("ci_low"), f"{name}_high": result.get("ci_high")}


def evaluate(model: pipeline.Artifact, p: Parameters, seed: int, teacher: pipeline.Artifact | None = None) -> dict:
    """One row: size, Fréchet distance of the model's samples to the test split (bootstrap 95% CI)
    and, given its teacher, SSIM and class agreement with the teacher's samples from the same noise."""
    s = samples_of(model, p, seed)
    fd = pipeline.fd(s, dataset=p.dataset, split="test", features=p.features,
                     n_reference=p.n_reference, n_boot=p.n_boot).result("fd.json")
    row = {"dataset": p.dataset, "seed": seed, **pipeline.size(model), **_flat("fd", fd), "fd_metric": fd["metric"],
           "samples": s.key, "samples_dir": str(s.results), "model": model.key, "model_dir": str(model.results)}
    if teacher is not None:
        cons = pipeline.consistency(samples_of(teacher, p, seed), s, classifier_of(p)).result("consistency.json")
        row.update({**_flat("ssim", cons["ssim"]), **_flat("content", cons.get("content"))})
    return row


def pruned_model(p: Parameters, method: str, seed: int, threshold: float | None = None,
                 score: str | None = None, round_to: int = 1) -> pipeline.Artifact:
    """The teacher pruned with `method` at the profile's ratio (every width a multiple of `round_to`)."""
    return pipeline.pruned(pipeline.teacher(p.teacher), method=method, ratio=p.ratio, seed=seed,
                           threshold=threshold or 0.0, timestep_stride=p.timestep_stride,
                           batch_size=p.importance_batch, dataset=p.dataset, score=score, round_to=round_to)


def finetuned_model(p: Parameters, method: str, seed: int, threshold: float | None = None,
                    score: str | None = None, passing: tuple[int, ...] = (), round_to: int = 1) -> pipeline.Artifact:
    """`pruned_model`, then finetuned as the profile says (see `pipeline.finetuned` for `passing`)."""
    return finetune_of(p, pruned_model(p, method, seed, threshold, score, round_to), seed, passing)


def finetune_of(p: Parameters, model: pipeline.Artifact, seed: int, passing: tuple[int, ...] = ()) -> pipeline.Artifact:
    """`model` finetuned with the profile's recipe and `seed`."""
    return pipeline.finetuned(model, dataset=p.dataset, steps=p.finetune_steps, batch_size=p.finetune_batch,
                              lr=p.finetune_lr, warmup_steps=p.finetune_warmup, seed=seed, passing=passing)


CONTROL = "control"  # the method of the control row: no pruning, the same finetune
CONTROL_LABEL = "pretrained + finetune"  # its row's name on every page (profile `control_row`)


def method_row(p: Parameters, label: str, method: str | None, threshold: float | None, seed: int,
               score: str | None = None) -> dict:
    """One evaluated row of a pruning method after the profile's finetune (the teacher itself for
    method None, the teacher finetuned for CONTROL), with the finetune's share of the teacher's
    training and the importance pass's stop t."""
    t = pipeline.teacher(p.teacher)
    model = row_model(p, method, threshold, seed, score)
    report = model.result("prune_report.json") if method not in (None, CONTROL) else None
    return {"row": label, "method": method or "pretrained", "threshold": threshold, "score": score,
            **evaluate(model, p, seed, teacher=t),
            "finetune_steps": p.finetune_steps if method else 0, "teacher": t.key,
            "teacher_steps": p.teacher_steps or pipeline.teacher_steps(t),
            "stop_t": report["stop_t"] if report else None,
            "grad_timesteps": report["grad_timesteps"] if report else None}


def row_model(p: Parameters, method: str | None, threshold: float | None, seed: int,
              score: str | None = None) -> pipeline.Artifact:
    """The model behind a `method_row` (the teacher for method None; for CONTROL the teacher
    finetuned as the pruned rows are: what the finetune's compute does without pruning)."""
    if method is None:
        return pipeline.teacher(p.teacher)
    if method == CONTROL:
        return finetune_of(p, pipeline.teacher(p.teacher), seed)
    return finetuned_model(p, method, seed, threshold, score)


def paired_fd(p: Parameters, a: pipeline.Artifact, b: pipeline.Artifact, seed: int) -> dict:
    """FD(a) − FD(b) of two models' sample sets of one seed, paired over sample indices (a cached
    step; it needs both sets' bulk and regenerates it where only records are kept)."""
    return pipeline.paired_fd(samples_of(a, p, seed), samples_of(b, p, seed), dataset=p.dataset, split="test",
                              features=p.features, n_reference=p.n_reference,
                              n_boot=p.n_boot).result("paired_fd.json")


def redrawn(pairs: list[tuple[dict, float, float]]) -> str:
    """Whether paired differences (`paired_fd` results, each with FD(a) and FD(b) as a table reads them)
    were computed from the very samples whose distances the table shows: a set whose bulk is not kept
    is drawn again for the paired bootstrap (its model trained again), and a draw on another device is
    not bit-identical; by how much they differ."""
    drift = [100 * abs(result[f"fd_{side}"] / recorded - 1) for result, fa, fb in pairs
             for side, recorded in (("a", fa), ("b", fb))]
    moved = [d for d in drift if d >= 0.005]
    if not moved:
        return "Each paired difference is computed from the very samples the table's distances were."
    return (f"The paired differences are computed from the sample sets drawn again (their bulk is not kept; a "
            f"draw repeats the model's training and sampling, which are not bit-identical across devices and drift "
            f"apart over a run's steps): "
            f"{len(moved)} of their {len(drift)} distances differ from the table's by up to {max(moved):.1f} %, "
            "so a difference read off the table need not equal the verdict's.")


def loss_curve(p: Parameters) -> pipeline.Artifact:
    """The L_t curve of the profile's teacher on `lt_batches` fixed importance batches (batch 0 is
    the one the first seed's prune visits), every `lt_stride`-th timestep."""
    return pipeline.loss_curve(pipeline.teacher(p.teacher), dataset=p.dataset, n_batches=p.lt_batches,
                               batch_size=p.importance_batch, stride=p.lt_stride, seed=p.seeds[0])


def lt_curve(p: Parameters) -> dict:
    """{t, loss: one row per fixed batch} of the teacher's L_t (`loss_curve`'s record)."""
    return loss_curve(p).result("loss_curve.json")


def mean_lt(c: dict) -> list[float]:
    """An L_t curve's mean over its fixed batches, per visited t."""
    import numpy as np
    return np.mean(c["loss"], axis=0).tolist()


def compare(p: Parameters, rows_a: list[dict], rows_b: list[dict], metric: str, *, a: str, b: str, where: str,
            models=None) -> verdicts.Verdict:
    """Row a against row b, paired by seed (`verdicts.across_seeds`); where they share one seed only,
    the Fréchet distance by a paired bootstrap over that seed's sample indices instead (a cached step
    that needs both sample sets; `models(seed)` gives the two models), so that every page shows a
    one-seed comparison the same way."""
    v = verdicts.across_seeds(rows_a, rows_b, metric, p.equivalence_margins, a=a, b=b, where=where)
    if v.n == 1 and metric == "fd" and models is not None:
        seed = v.seeds[0]
        reference = next(r["fd"] for r in rows_b if r["seed"] == seed)
        v = verdicts.from_bootstrap(paired_fd(p, *models(seed), seed), "fd", p.equivalence_margins, a=a, b=b,
                                    reference=reference, seed=seed, where=where)
    return v


def agreement(model: pipeline.Artifact, teacher: pipeline.Artifact, p: Parameters, seed: int, n: int) -> dict:
    """One row without a Fréchet distance: SSIM, edge SSIM (detail) and class agreement (content)
    of n samples of the model with the teacher's from the same noise; the agreement also as Cohen's
    kappa, beside the classifier's test accuracy (the judge's own quality)."""
    s = samples_of(model, p, seed, n)
    cons = pipeline.consistency(samples_of(teacher, p, seed, n), s, classifier_of(p), detail=True,
                                kappa=True).result("consistency.json")
    content = cons.get("content") or {}
    return {"dataset": p.dataset, "seed": seed, "n": n, "samples": s.key, "samples_dir": str(s.results),
            "model": model.key, "model_dir": str(model.results), **_flat("ssim", cons["ssim"]),
            **_flat("detail", cons["detail"]), **_flat("content", content or None),
            **_flat("kappa", content.get("kappa")), "classifier_accuracy": content.get("classifier_test_accuracy")}


def preview(row: dict):
    """The first samples of an evaluated row, from the committed preview."""
    return pipeline.recorded("sample", row["samples"]).preview()


def previews(rows: list[dict], seed: int, by: str = "row") -> dict:
    """The preview of each row for one seed, keyed by the row's label."""
    return {r[by]: preview(r) for r in rows if r["seed"] == seed}


def spent(artifacts: list[pipeline.Artifact]) -> dict:
    """Compute behind some artifacts, from their records: hours (each artifact once), devices."""
    unique = {(a.step, a.key): a for a in artifacts}
    records = [a.provenance() for a in unique.values()]
    return {"hours": sum(r["wall_time_s"] for r in records) / 3600,
            "devices": sorted({r["device"] for r in records}), "artifacts": len(records)}


def gpu_repeats() -> dict | None:
    """The record of distances computed twice on a GPU under the same keys (data/results/), if any:
    GPU finetunes are not bit-for-bit deterministic."""
    import json

    from .paths import RESULTS_DIR
    path = RESULTS_DIR / "gpu_repeats.json"
    if not path.is_file():
        return None
    r = json.loads(path.read_text())
    return {"n": len(r["pairs"]), "max_pct": 100 * r["max_relative_difference"]}


# --- over seeds ----------------------------------------------------------------------------------

def timing_rounds(models: dict, settings: list[tuple[int, int]], *, rounds: list[int], repeats: int,
                  device: str) -> dict[tuple, list[dict]]:
    """Every model in every (batch, threads) setting once per round, round after round, so that a
    slow spell of a shared machine spreads across rounds instead of landing on one model. Keyed by
    (model label, batch, threads): each round's timing.json in round order, with its `key`."""
    out = {}
    for rnd in rounds:
        for label, m in models.items():
            for b, th in settings:
                t = pipeline.timing(m, batch_size=b, threads=th, repeats=repeats, device=device, round=rnd)
                out.setdefault((label, b, th), []).append({**t.result("timing.json"), "key": t.key})
    return out


def paired_speedup(base: list[float], own: list[float]) -> dict:
    """The speed-up of `own` over `base` (seconds, one per round), paired by round: the median and
    the range over rounds."""
    import statistics
    ratios = [b / o for b, o in zip(base, own, strict=True)]
    return {"speedup": statistics.median(ratios), "speedup_lo": min(ratios), "speedup_hi": max(ratios),
            "rounds": len(ratios)}


def summarize(rows: list[dict], by: str = "row", baseline: str | None = None):
    """One line per label: the mean over seeds, and the interval that n seeds allow — the
    bootstrap interval over samples for one seed, the Student-t interval over seeds otherwise
    (column `interval` says which). Beside it, `<metric>_boot_low/_high`: the seeds' bootstrap
    intervals averaged bound by bound, the sampling noise of one seed, to set against the spread
    between seeds. With a baseline label, sizes are also given as fractions of it."""
    import pandas as pd

    from .uncertainty import mean_ci
    df = pd.DataFrame(rows)
    if {"teacher", "dataset"} <= set(df):  # a table reads rows against one teacher per data set, never two
        mixed = df.groupby("dataset")["teacher"].nunique()
        if (mixed > 1).any():
            raise DiffpruneError(f"the rows of {mixed.idxmax()} come from {mixed.max()} different teachers: a table "
                                 "reads its rows against one teacher (recompute the older rows or keep them apart)")
    out = []
    for _, g in df.groupby(by, sort=False):
        r = g.iloc[0].to_dict()
        incomplete = []
        for m in METRICS:
            if m not in g or g[m].isna().all():
                continue
            have = g[g[m].notna()]
            if len(have) < len(g):  # shown as incomplete, never as an interval over seeds it lacks
                incomplete.append(f"{m} on seed{'s' if len(have) > 1 else ''} {', '.join(map(str, have['seed']))}")
                r[m], r[f"{m}_low"], r[f"{m}_high"] = have[m].mean(), math.nan, math.nan
                continue
            if f"{m}_low" in g and g[f"{m}_low"].notna().all():
                r[f"{m}_boot_low"], r[f"{m}_boot_high"] = g[f"{m}_low"].mean(), g[f"{m}_high"].mean()
            if len(g) > 1:
                ci = mean_ci(g[m].tolist())
                lo, hi = RANGE[m]  # a t interval over few seeds can leave the metric's range: clipped to it
                r[m], r[f"{m}_low"], r[f"{m}_high"] = ci["mean"], max(ci["ci_low"], lo), min(ci["ci_high"], hi)
        r["seeds"] = len(g)
        if "stop_t" in g:  # each seed's importance pass stops on its own batch: every one is kept
            r["stop_ts"] = [None if pd.isna(t) else int(t) for t in g["stop_t"]]
        r["interval"] = "95% bootstrap over samples" if len(g) == 1 else f"95% t over {len(g)} seeds"
        if incomplete:
            r["interval"] += f" (incomplete: {'; '.join(incomplete)}; no interval)"
        out.append(r)
    summary = pd.DataFrame(out)
    if baseline is not None:
        base = summary[summary[by] == baseline].iloc[0]
        summary["params_fraction"] = summary["params"] / base["params"]
        summary["macs_fraction"] = summary["macs"] / base["macs"]
    return summary


# --- writing numbers and claims -------------------------------------------------------------------

def stops_text(stops: list, none: str = "–") -> str:
    """Where a row's importance passes stopped over its seeds: one t, or their range ("never" beside
    it for a seed whose pass never met the threshold); `none` where no seed's pass has a stop t."""
    ts = sorted(int(t) for t in stops if t is not None)
    if not ts:
        return none
    shown = f"{ts[0]}" if ts[0] == ts[-1] else f"{ts[0]}–{ts[-1]}"
    return shown + (", never" if len(ts) < len(stops) else "")


def number_text(x: float, digits: int = 2) -> str:
    """A number for a table cell: `digits` decimals, none from 10,000 up, and three significant
    digits from 10^6 up (a distance on random features reaches 10^9: its digits would widen the page)."""
    if abs(x) >= 1e6:
        return f"{x:.3g}"
    return f"{x:.{0 if abs(x) >= 1e4 else digits}f}"


def ci_text(value, low, high, digits: int = 2) -> str:
    """A value with its interval, compact enough for a table cell: `601.4 (589.2–613.5)`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return number_text(value, digits)
    return f"{number_text(value, digits)} ({number_text(low, digits)}–{number_text(high, digits)})"
