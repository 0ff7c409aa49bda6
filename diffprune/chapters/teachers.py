"""The teachers: the pretrained models the study prunes — what each is, what it cost, how good it is.

A profile's `teacher` is the one the study prunes; `more_teachers` lists other committed teachers
the book shows beside it (`evaluation.every_teacher`).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .. import evaluation, pipeline, verdicts
from ..artifacts import device_words
from ..chapter import Chapter, Parameters
from ..data import short_name
from ..fid import fd_infinity_applies, fd_infinity_at
from ..plateau import plateau
from ..profiles import increasing, integer, is_dataset_name, list_of, one_of, parameter
from ..train import PRECISIONS


def _curves(v) -> bool:
    return isinstance(v, dict) and all(is_dataset_name(k) and increasing(integer(1))(s) for k, s in v.items())


@dataclass(frozen=True)
class Own:
    """The parameters only this chapter reads (see `profiles.Profile`)."""
    teacher_curve_steps: dict[str, list[int]] = parameter(

"a mapping of data sets to increasing lists of training steps >= 1: the recipe of each teacher (the "
"study's and more_teachers) of that data set trained once through these lengths, each evaluated as the "
"teacher is (a data set not named: no curve)", _curves)
    curve_precision: str = parameter(

f"one of {', '.join(PRECISIONS)}: the training precision of the teachers' curves (the teachers' own "
"recipes were fp32)", one_of(PRECISIONS))
    plateau_seeds: list[int] = parameter(
        "a list of at least two distinct sampling seeds >= 0: the run a curve settles at (its plateau, or "
        "the cap) is sampled and measured once per seed, for an interval over them",
        lambda v: list_of(integer(0))(v) and len(set(v)) == len(v) >= 2)


def _final_loss(log_csv: Path, last: int = 5) -> float | None:
    """Mean of the last `last` logged losses (each already a mean over its logging interval)."""
    if not log_csv.is_file():
        return None
    with open(log_csv) as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    tail = losses[-last:]
    return sum(tail) / len(tail) if tail else None


def summary(p: Parameters) -> dict:
    """Size, training cost and quality of the profile's teacher; its samples and Fréchet distance
    use the profile's sampling and metric parameters (the same cached artifacts RQ1 uses)."""
    from ..unet import image_shape, load_unet

    t = pipeline.teacher(p.teacher)
    cost = t.result("cost.json") if t.has("cost.json") else {}
    row = evaluation.evaluate(t, p, p.seeds[0])
    log = t.results / "train_log.csv"
    return {**row, "teacher": Path(p.teacher).name if isinstance(p.teacher, str) else f"recipe {t.key[:8]}",
            "dataset": p.dataset, "image": "×".join(map(str, image_shape(load_unet(t.path)))),
            "steps": cost.get("steps"), "images_seen": cost.get("images_seen"),
            "hours": cost.get("wall_time_s", 0) / 3600 or None, "device": cost.get("device"), "note": cost.get("note"),
            "final_loss": _final_loss(log), "log": log, "n_reference": reference_count(p)}


def reference_count(p: Parameters) -> int:
    """How many test images the Fréchet distance's reference statistics come from."""
    from ..data import load_dataset
    n_test = len(load_dataset(p.dataset, "test"))
    return min(p.n_reference or n_test, n_test)


# --- the teacher's learning curve ----------------------------------------------------------------
# Is the teacher trained to convergence? Its recipe, run again to past its length (one seed, the
# study's sampling and metric): "X % of the teacher's training" means the same as in the paper only
# if more training would not make a better teacher.

def recipe(p: Parameters) -> dict | None:
    """The study teacher's training recipe: its spec, or its cost.json (None: a teacher this study
    did not train, or a latent one)."""
    if isinstance(p.teacher, dict):
        spec = {k: v for k, v in p.teacher.items() if k != "steps"}
        return None if "autoencoder" in spec else {"warmup_steps": 0, **spec}
    t = pipeline.teacher(p.teacher)
    if not t.has("cost.json"):
        return None
    cost = t.result("cost.json")
    if cost.get("autoencoder"):
        return None
    cfg = cost["config"]
    # the curve's precision where it is not the recipe's fp32 (so fp32 curves keep their keys)
    precision = {} if p.curve_precision == "fp32" else {"precision": p.curve_precision}
    return {"dataset": cost["dataset"], "preset": cost["preset"], "batch_size": cfg["batch_size"], "lr": cfg["lr"],
            "warmup_steps": cfg["warmup_steps"], "seed": cfg["seed"], **precision}


def curve_steps(p: Parameters) -> list[int]:
    """The lengths of the curve of the profile's teacher (by its data set)."""
    return p.teacher_curve_steps.get(p.dataset, [])


def curve_model(p: Parameters, steps: int) -> pipeline.Artifact:
    return pipeline.training_run(recipe(p), steps=steps, passing=tuple(s for s in curve_steps(p) if s < steps))


def curve_row(p: Parameters, steps: int) -> dict:
    """The recipe after `steps`, evaluated as the teacher is (first seed)."""
    return {"steps": steps, **evaluation.evaluate(curve_model(p, steps), p, p.seeds[0])}


def curve_verdicts(p: Parameters) -> list[verdicts.Verdict]:
    """Each later length against the study teacher's own length, paired over sample indices (one
    run, one seed: the interval covers sampling noise only)."""
    trained = pipeline.teacher_steps(pipeline.teacher(p.teacher))
    seed = p.seeds[0]
    if trained not in curve_steps(p):
        return []
    base = curve_model(p, trained)
    reference = curve_row(p, trained)["fd"]
    return [verdicts.from_bootstrap(evaluation.paired_fd(p, curve_model(p, s), base, seed), "fd",
                                    p.equivalence_margins, a=f"{s:,} steps", b=f"{trained:,} steps",
                                    reference=reference, seed=seed, where="the recipe retrained")
            for s in curve_steps(p) if s > trained]


def convergence(p: Parameters) -> dict | None:
    """The plateau rule read on the learning curve of the profile's teacher (`plateau`); None where
    its recipe has no curve (a teacher this study did not train, or no lengths for its data set)."""
    return curve_section(p)["plateau"] if recipe(p) and curve_steps(p) else None


def convergence_text(found: dict | None) -> str:
    """A curve's plateau rule (`convergence`, `plateau`) in words: 'still improving (-20.8 % from 4,000
    to 8,000 steps)', 'at its plateau (...)', 'capped without its plateau (...)', or 'not measured (no
    learning curve)'."""
    if found is None:
        return "not measured (no learning curve)"
    state = ("at its plateau" if found["reached"] else "capped without its plateau" if found["capped"] else
             "still improving" if found["readable"] else "not readable (two lengths too far apart)")
    return f"{state} ({100 * found['change']:+.1f} % from {found['from']:,} to {found['to']:,} steps)"


def settled_at(p: Parameters) -> int | None:
    """The length the stopping rule settles the curve at (its plateau, or the cap); None while it
    trains on."""
    found = plateau([curve_row(p, s) for s in curve_steps(p)])
    return found["to"] if found and (found["reached"] or found["capped"]) else None


def settled_rows(p: Parameters) -> list[dict]:
    """The settled run evaluated on each of `plateau_seeds` (sampling seeds: one run, so the spread
    is the sampling noise of its FD); none while the curve trains on."""
    steps = settled_at(p)
    return [] if steps is None else [{"steps": steps, **evaluation.evaluate(curve_model(p, steps), p, s)}
                                     for s in p.plateau_seeds]


def settled_text(rows: list[dict]) -> str:
    """`FD 99.7 (98.1–101.2) at 20,000 steps (mean and 95 % t interval over sampling seeds 0, 1, 2)`, or
    '' while the curve trains on."""
    from ..uncertainty import mean_ci
    if not rows:
        return ""
    ci = mean_ci([r["fd"] for r in rows])
    return (f"FD {evaluation.ci_text(ci['mean'], ci['ci_low'], ci['ci_high'], 1)} at {rows[0]['steps']:,} steps "
            f"(mean and 95 % t interval over sampling seeds {', '.join(str(r['seed']) for r in rows)})")


def curve_section(p: Parameters) -> dict:
    from ..plots import learning_curve
    rows = [curve_row(p, s) for s in curve_steps(p)]
    trained = pipeline.teacher_steps(pipeline.teacher(p.teacher))
    found = curve_verdicts(p)
    fd = {r["steps"]: r["fd"] for r in rows}
    paired = [(evaluation.paired_fd(p, curve_model(p, s), curve_model(p, trained), p.seeds[0]), fd[s], fd[trained])
              for s in curve_steps(p) if trained in fd and s > trained]
    return {"rows": rows, "figure": learning_curve(rows, trained, summary(p)["fd"], p.dataset),
            "verdicts": verdicts.table(found), "found": found, "trained": trained, "plateau": plateau(rows),
            "settled": settled_text(settled_rows(p)), "redrawn": evaluation.redrawn(paired) if paired else ""}


def answer(p: Parameters) -> str:
    """The page's answer in words, computed from the records: each teacher's size, training and
    distance, and whether its recipe's learning curve met the plateau rule."""
    from ..plateau import PLATEAU
    parts = []
    for q in evaluation.every_teacher(p):
        row = summary(q)
        text = (f"The {q.dataset} teacher has {row['params'] / 1e6:.2f} M parameters, trained for "
                f"{row['steps']:,} steps (FD {row['fd']:.1f})" if row["steps"] else
                f"The {q.dataset} teacher has {row['params'] / 1e6:.2f} M parameters (FD {row['fd']:.1f})")
        found = convergence(q)
        if found is None:
            text += "; its recipe has no learning curve yet, so whether it is converged is not measured."
        elif found["reached"] or found["capped"]:
            text += (f"; its recipe has reached the plateau ({100 * found['change']:+.1f} % from {found['from']:,} "
                     f"to {found['to']:,} steps, within {100 * PLATEAU:.0f} %)" if found["reached"] else
                     f"; its recipe reached the cap of {found['to']:,} steps without meeting the "
                     f"{100 * PLATEAU:.0f} % plateau rule ({100 * found['change']:+.1f} % from {found['from']:,})")
            run = curve_model(q, found["to"]).key
            text += f"; {settled_text(settled_rows(q))}"
            text += ("." if row["steps"] == found["to"] else
                     f": that run ({run}) is the teacher to adopt (`python -m diffprune adopt {run}`).")
        else:
            text += (f"; it is not converged: its recipe's FD still changed {100 * found['change']:+.1f} % from "
                     f"{found['from']:,} to {found['to']:,} steps, beyond the {100 * PLATEAU:.0f} % plateau rule, so "
                     "a finetune's share of its training is read against a teacher still learning.")
        parts.append(text)
    return " ".join(parts)


# --- how to read the distance ----------------------------------------------------------------------
# The Fréchet distance of n samples is biased upward by an amount that falls as 1/n and differs
# between models; with fewer reference images than feature dimensions its reference covariance is
# singular. Beside it: the distance extrapolated to infinitely many samples, and the kernel distance.

def distance_row(p: Parameters) -> dict:
    """The teacher's sample set under every distance the study has (first seed)."""
    t = pipeline.teacher(p.teacher)
    s = evaluation.samples_of(t, p, p.seeds[0])
    fd = pipeline.fd(s, dataset=p.dataset, split="test", features=p.features, n_reference=p.n_reference,
                     n_boot=p.n_boot).result("fd.json")
    more = pipeline.distances(s, dataset=p.dataset, split="test", features=p.features,
                              n_reference=p.n_reference).result("distances.json")
    return {"dataset": p.dataset, "fd": fd, "reference_images": reference_count(p), **more}


def distance_table(rows: list[dict]):
    import pandas as pd
    ci = evaluation.ci_text
    table = pd.DataFrame([{
        "teacher": short_name(r["dataset"]), "samples": f"{r['fd']['n']:,}",
        "reference images": f"{r['reference_images']:,}",
        "feature dimensions": f"{r['dimensions']:,}",
        f"{r['metric']}, first seed (95% bootstrap)": ci(r["fd"]["value"], r["fd"]["ci_low"], r["fd"]["ci_high"], 1),
        "bootstrap bias": f"{r['fd']['bootstrap_bias']:.1f}",
        "FD∞ (spread over subset draws)": ci(r["fd_infinity"]["value"], r["fd_infinity"]["spread_low"],
                                              r["fd_infinity"]["spread_high"], 1)
        if fd_infinity_applies(r["fd_infinity"], r["dimensions"]) else "not shown: n ≤ d",
        "KID × 1000 (± SD over subsets)": (f"{evaluation.number_text(1e3 * r['kid']['value'])} ± "
                                           f"{evaluation.number_text(1e3 * r['kid']['std'])}"),
    } for r in rows])
    return table.set_index("teacher")


def residual_bias(rows: list[dict]) -> str:
    """What the page can say of the plain distance's own bias, per teacher: FD∞ where its law holds,
    else how far its fit misses the distance measured at n (why it is not shown)."""
    said = []
    for r in rows:
        inf, n, d = r["fd_infinity"], r["fd"]["n"], r["dimensions"]
        if fd_infinity_applies(inf, d):
            said.append(f"on {r['dataset']} the plain distance {r['fd']['value']:.1f} lies "
                        f"{r['fd']['value'] - inf['value']:.1f} above FD∞ {inf['value']:.1f}")
        else:
            said.append(f"on {r['dataset']} (n = {n:,} samples, fewer than the d = {d:,} dimensions) FD∞ is not "
                        f"shown (its a + b/n fit gives {fd_infinity_at(inf, n):.1f} at n = {n:,} against the measured "
                        f"{r['fd']['value']:.1f})")
    if len(said) > sum(fd_infinity_applies(r["fd_infinity"], r["dimensions"]) for r in rows):
        said.append("below d the bias need not fall as 1/n, and on Gaussians in that regime the extrapolation "
                    "removes only part of it, so the plain distance's own bias is not estimated here")
    return "; ".join(said) + "."


def work(p: Parameters) -> list:
    teachers = evaluation.every_teacher(p)
    curved = [q for q in teachers if curve_steps(q) and recipe(q)]
    return ([(summary, (q,)) for q in teachers] + [(distance_row, (q,)) for q in teachers]
            + [(curve_row, (q, s)) for q in curved for s in curve_steps(q)] + [(curve_verdicts, (q,)) for q in curved]
            + [(settled_rows, (q,)) for q in curved])


CHAPTER = Chapter("teachers", parameters=(
    "teacher", "dataset", "more_teachers", "teacher_steps", "features", "n_reference", "n_boot", "n_samples", "sampler",
    "ddim_steps", "spacing", "seeds", "equivalence_margins"), own=Own, work=work)


def _training(r: dict) -> str:
    """`5,000 × 64 in 1.65 h on 1-thread CPU (x86_64)`: steps × batch, time and device of a teacher's training."""
    if not r["steps"]:
        return "–"
    text = f"{r['steps']:,} × {r['images_seen'] // r['steps']}"
    text += f" in {r['hours']:.2f} h" if r["hours"] else ""
    return text + (f" on {device_words(r['device'])}" if r["device"] else "")


def display_table(rows: list[dict]):
    """The teachers side by side, as the book shows them."""
    import pandas as pd

    def opt(v, fmt):
        return "–" if v is None else fmt.format(v)

    return pd.DataFrame({
        "teacher": [r["teacher"] for r in rows],
        "data set": [short_name(r["dataset"]) for r in rows],
        "image": [r["image"] for r in rows],
        "params (M)": [f"{r['params'] / 1e6:.2f}" for r in rows],
        "MACs (M)": [f"{r['macs'] / 1e6:.0f}" for r in rows],
        "training": [_training(r) for r in rows],
        "final loss": [opt(r["final_loss"], "{:.4f}") for r in rows],
        "FD, first seed (95% CI)": [evaluation.ci_text(r["fd"], r["fd_low"], r["fd_high"], 1) for r in rows],
        "test images": [f"{r['n_reference']:,}" for r in rows],
    }).set_index("teacher")


def overview(row: dict, n: int = 16):
    """Training images, samples and loss curve of one teacher, as one figure."""
    from ..data import load_dataset
    from ..plots import teacher_overview

    data = load_dataset(row["dataset"], "train").images[:n].permute(0, 2, 3, 1).numpy()
    samples = evaluation.preview(row)[:n]
    return teacher_overview(data, samples, row["log"], row["dataset"])
