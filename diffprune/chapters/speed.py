"""RQ3's measured speed: seconds per denoising step of the teacher, its prunes and the timed
architectures (`pipeline.timing`, several rounds), the speed-up against the MACs ideal per device,
batch and thread count, and the levers benchmark's record; the chapter is `rq3`.
"""
from __future__ import annotations

from .. import evaluation, pipeline, verdicts
from ..artifacts import DiffpruneError, device_words, listed
from ..chapter import Parameters
from .recovery import model


def speed_models(p: Parameters) -> list[tuple[str, float, pipeline.Artifact, str]]:
    """(label, ratio, model, the label of its unpruned model): the teacher and the sweep's
    Diff-Pruning prunes (speed depends on the structure only, which a uniform ratio fixes for every
    method), then each of `speed_architectures` with random weights and its magnitude prune at the
    study ratio (no data needed: the same structure), so the speed-up shows where a model is big."""
    t = pipeline.teacher(p.teacher)
    out = [("teacher", 0.0, t, "teacher")] + [(f"r={r:g}", r, model(p, "diff-pruning", r, p.tradeoff_seeds[0], 0),
                                               "teacher") for r in p.tradeoff_ratios]
    r = study_ratio(p)
    for name in p.speed_architectures:
        dense = pipeline.architecture(name, channels=3, size=32, seed=0)  # CIFAR-10's images
        out += [(name, 0.0, dense, name),
                (f"{name} r={r:g}", r, pipeline.pruned(dense, method="magnitude", ratio=r, seed=0), name)]
    return out


def speed_rows(p: Parameters, device: str, rounds: list[int] | None = None, specs: list | None = None) -> list[dict]:
    """Seconds per denoising step (one UNet forward) of every speed model, per batch size and (on
    the CPU) thread count, with the speed-up beside the MACs ideal: medians over `speed_rounds`
    rounds (or the given ones), the speed-up paired by round with its range. Its timings are steps
    to compute alone (`study.Step.alone`): `study` runs them with nothing beside them."""
    import statistics
    specs = speed_models(p) if specs is None else specs
    models, ratios = {label: m for label, _, m, _ in specs}, {label: r for label, r, _, _ in specs}
    base_of = {label: base for label, _, _, base in specs}
    sizes = {label: pipeline.size(m) for label, m in models.items()}
    settings = [(b, th) for b in p.speed_batches for th in (p.speed_threads if device == "cpu" else [1])]
    timed = evaluation.timing_rounds(models, settings, rounds=list(range(p.speed_rounds)) if rounds is None
                                     else rounds, repeats=p.speed_repeats, device=device)
    rows = []
    for (label, b, th), runs in timed.items():
        own = [r["seconds_per_batch"] for r in runs]
        base_label = base_of[label]
        base = [r["seconds_per_batch"] for r in timed[(base_label, b, th)]]
        r = {"model": label, "base": base_label, "ratio": ratios[label], "batch": b, "threads": th, "device": device,
             **sizes[label], "timing_key": runs[0]["key"], "seconds_per_batch": statistics.median(own),
             **evaluation.paired_speedup(base, own)}
        r["ideal"] = sizes[base_label]["macs"] / r["macs"]
        r["macs_fraction"] = r["macs"] / sizes[base_label]["macs"]
        r["of_ideal"] = r["speedup"] / r["ideal"]
        rows.append(r)
    return rows


def speed_table(rows: list[dict]):
    """Milliseconds per denoising step and the speed-up against the MACs ideal, per model and setting
    (MACs and speed-ups relative to each model's unpruned one)."""
    import pandas as pd
    table = {}
    for r in rows:
        # GPUs differ more than CPUs: a GPU column names its model ("cuda:NVIDIA H200" -> "H200")
        where = (f"{r['device']}, batch {r['batch']}, {r['threads']} thr." if r["device"] == "cpu"
                 else f"{r['device_name'].split(':', 1)[-1].removeprefix('NVIDIA ')}, batch {r['batch']}")
        cell = f"{1e3 * r['seconds_per_batch']:.1f} ms"
        if r["model"] != r["base"]:
            cell += f" ({r['speedup']:.2f}× of {r['ideal']:.2f}×)"
        table.setdefault(where, {})[(r["model"], f"{r['macs_fraction']:.2f}")] = cell
    out = pd.DataFrame(table).fillna("–")  # a model not timed on that device (a GPU run made before it was added)
    out.index.names = ["model", "MACs ×"]
    return out


def batch_growth(rows: list[dict]) -> list[dict]:
    """Per device and unpruned model, how much longer its step takes at the largest batch than at
    the smallest (at the most threads): a step that barely grows with many times the images is
    limited by something other than the arithmetic that pruning removes."""
    out = []
    for device, base in dict.fromkeys((r["device"], r["base"]) for r in rows):
        own = [r for r in rows if r["device"] == device and r["model"] == base]
        th = max(r["threads"] for r in own)
        by_batch = {r["batch"]: r for r in own if r["threads"] == th}
        small, large = min(by_batch), max(by_batch)
        if large > small:
            big, one = by_batch[large], by_batch[small]
            out.append({"device": device_words(big["device_name"]), "model": base, "small": small, "large": large,
                        "growth": big["seconds_per_batch"] / one["seconds_per_batch"]})
    return out


def batch_growth_text(growth: list[dict]) -> str:
    return "; ".join(f"{g['model']} on {g['device']}, batch {g['large']} against {g['small']}: {g['growth']:.1f}×"
                     for g in growth) or "–"


# the share of the MACs ideal a pruned model's measured speed-up should reach: this study's bar, not the
# paper's (it reports MACs, not seconds), fixed before the timings: most removed MACs should show as seconds
GOAL = 0.75


def faster_than_unpruned(g: dict) -> verdicts.Kind:
    """A `speed_goal` row read as "the prune is faster than its unpruned model": better where every
    round is faster, worse where every round is slower, else inconclusive (the reading *Findings*
    gives the claim)."""
    return verdicts.judge(g["speedup_low"] - 1, g["speedup_high"] - 1, 0.0, lower_is_better=False)


def speed_goal(rows: list[dict], ratio: float, goal: float = GOAL) -> list[dict]:
    """Per device and unpruned model (the teacher, each timed architecture), the prune at the study's
    ratio at the largest batch and thread count against the goal: the share of the MACs ideal its
    speed-up reaches (median and range over rounds) and the reading — better (met in every round),
    worse (missed in every round) or inconclusive —, and the best speed-up of that model's prunes in
    any setting."""
    out = []
    for device, base in dict.fromkeys((r["device"], r["base"]) for r in rows):
        here = [r for r in rows if r["device"] == device and r["base"] == base]
        b, th = max(r["batch"] for r in here), max(r["threads"] for r in here)
        at = [r for r in here if r["batch"] == b and r["threads"] == th and r["ratio"] == ratio]
        if at:
            r = at[0]
            lo, hi = r["speedup_lo"] / r["ideal"], r["speedup_hi"] / r["ideal"]
            out.append({"device": device_words(r["device_name"]), "model": base,
                        "params": next(x["params"] for x in here if x["model"] == base),
                        "batch": b, "threads": th if device == "cpu" else None,
                        "speedup": r["speedup"], "ideal": r["ideal"], "of_ideal": r["of_ideal"], "low": lo,
                        "high": hi, "rounds": r["rounds"], "speedup_low": r["speedup_lo"],
                        "speedup_high": r["speedup_hi"],
                        "kind": verdicts.judge(lo - goal, hi - goal, 0.0, lower_is_better=False),
                        "best_anywhere": max(x["speedup"] for x in here if x["model"] != base)})
    return out


def above_ideal(found: list[dict]) -> str:
    """A sentence on `speed_goal` rows measured faster than their MACs ideal, in the median or in
    some round: MACs are not a step's only cost, and a round can be skewed by a busy machine."""
    over = [f"{f['model']} on {f['device']}: {'median' if f['speedup'] > f['ideal'] else 'up to'} "
            f"{f['speedup'] if f['speedup'] > f['ideal'] else f['speedup_high']:.2f}× against {f['ideal']:.2f}×"
            for f in found if f["speedup_high"] > f["ideal"]]
    if not over:
        return "No round is faster than its MACs ideal."
    return (f"Faster than the MACs ideal ({'; '.join(over)}): MACs are not a step's only cost. Likely causes, "
            "not tested here: a smaller model's activations fit the caches better, and a round in which the "
            "unpruned model's timing ran slow (a busy machine) widens the range upward. The median over rounds, "
            "paired by round, is the reading, and the findings ask only whether every round is faster.")


def speed_goal_table(found: list[dict]):
    import pandas as pd
    table = pd.DataFrame([{
        "device": f["device"], "unpruned model": f"{f['model']} ({f['params'] / 1e6:.2g} M params)",
        "setting": f"batch {f['batch']}" + (f", {f['threads']} threads" if f["threads"] else ""),
        "speed-up": f"{f['speedup']:.2f}×", "MACs ideal": f"{f['ideal']:.2f}×",
        "share of the ideal (rounds)": f"{f['of_ideal']:.2f}" + (f" ({f['low']:.2f}–{f['high']:.2f})"
                                                                 if f["high"] > f["low"] else ""),
        f"against {GOAL:.2f}": f["kind"].value, "best speed-up, any setting": f"{f['best_anywhere']:.2f}×",
    } for f in found])
    return table.set_index(["device", "unpruned model", "setting"]) if len(table) else table


def speed_section(p: Parameters) -> dict:
    rows = [r for d in p.speed_devices for r in _recorded_speed(p, d)]
    goal = speed_goal(rows, study_ratio(p))
    return {"rows": rows, "table": speed_table(rows), "goal": goal, "goal_table": speed_goal_table(goal),
            "growth": batch_growth(rows)}


def study_ratio(p: Parameters) -> float:
    """The sweep's ratio nearest RQ1's (`ratio`)."""
    return min(p.tradeoff_ratios, key=lambda r: abs(r - p.ratio))


def _recorded_speed(p: Parameters, device: str) -> list[dict]:
    """Speed rows of a device, each with the machine its record names; cuda rows only from the
    rounds that were recorded, since they cannot be measured without a GPU."""
    import torch
    rounds, specs = None, speed_models(p)
    if device == "cuda" and not torch.cuda.is_available():
        def recorded(m: pipeline.Artifact, rnd: int) -> bool:
            try:
                for b in p.speed_batches:
                    t = pipeline.timing(m, batch_size=b, threads=1, repeats=p.speed_repeats, device=device,
                                        round=rnd)
                    _ = pipeline.recorded("timing", t.key).results
            except DiffpruneError:
                return False
            return True
        rounds = [rnd for rnd in range(p.speed_rounds)
                  if all(recorded(m, rnd) for _, _, m, base in specs if base == "teacher")]
        if not rounds:
            return []
        specs = [s for s in specs if all(recorded(s[2], rnd) for rnd in rounds)]
        specs = [s for s in specs if s[3] in {label for label, *_ in specs}]  # a speed-up needs its base
    rows = speed_rows(p, device, rounds, specs)
    for r in rows:
        r["device_name"] = pipeline.recorded("timing", r["timing_key"]).provenance()["device"]
    return rows


def levers_records() -> list:
    """The recorded runs of benchmarks/speed_levers.py, one per device kind (CPU, then a GPU's)."""
    from ..paths import RESULTS_DIR
    return sorted(RESULTS_DIR.glob("speed_levers*.json"))


IDEAL_TOLERANCE = 0.005  # a MACs ideal that moved by more: another structure than the one timed
TIE = 0.01  # settings whose pruned step times lie within 1 % of the fastest are read as tied with it


def unpruned_models(p: Parameters) -> dict[str, pipeline.Artifact]:
    """The unpruned speed models by label: the teacher and each of `speed_architectures`."""
    return {label: m for label, _, m, base in speed_models(p) if label == base}


def levers_prune(unpruned: dict[str, pipeline.Artifact], prune: dict) -> pipeline.Artifact:
    """The prune a levers row names (`prune`: its unpruned model's label `of`, method, ratio, seed,
    round_to): what speed_levers.py times and records, and what the page checks the record against."""
    return pipeline.pruned(unpruned[prune["of"]], **{k: v for k, v in prune.items() if k != "of"})


def ideal_now(p: Parameters, prune: dict) -> float | None:
    """The MACs ideal of the prune a levers row names as the prune step makes it now, from the
    records (None where a record is missing: the row cannot be checked)."""
    from .. import study
    try:
        with study.recorded_only():
            unpruned = unpruned_models(p)
            return pipeline.size(unpruned[prune["of"]])["macs"] / pipeline.size(levers_prune(unpruned, prune))["macs"]
    except (study.NotRecorded, KeyError):
        return None


def levers_section(path, p: Parameters) -> dict:
    """A recorded run of benchmarks/speed_levers.py: per model pair and batch, what each lever does to
    the step time and to the speed-up in that same setting; which operators shrink less than the
    MACs; and the fastest setting for each pruned model. Each row's prune is checked against the one
    the prune step makes now (`ideal_now`): a row timed on a prune an earlier rule made is left out of
    the tables and read nowhere, and said so; one that cannot be checked is named."""
    import json

    import pandas as pd
    r = json.loads(path.read_text())
    own_time = "self CUDA time" if r.get("on") == "cuda" else "self CPU time"
    for row in r["rows"]:  # a record of one thread count names it once, not per row
        row.setdefault("threads", r["threads"])
    most = max(row["threads"] for row in r["rows"])
    now = {row["model"]: ideal_now(p, row["prune"]) for row in r["rows"] if "prune" in row}
    ideals = {row["model"]: row["ideal_speedup"] for row in r["rows"]}
    stale = {m: x for m, x in now.items() if x is not None and abs(x / ideals[m] - 1) > IDEAL_TOLERANCE}

    def shown(model: str) -> str:  # a row is an unpruned model against its prune: name the prune's ratio
        return model if "r=" in model else f"{model} r={r['ratio']:g}"
    unchecked = sorted(shown(m) for m in ideals if now.get(m) is None)  # no spec (an older record) or no record
    levers = pd.DataFrame([{
        "model": shown(row["model"]),
        "batch": row["batch"], "threads": row["threads"], "lever": lever,
        "unpruned (ms)": f"{1e3 * v['unpruned_s']:.1f}", "pruned (ms)": f"{1e3 * v['pruned_s']:.1f}",
        "speed-up": f"{v['speedup']:.2f}×", "of the MACs ideal": f"{v['of_ideal']:.2f}",
        "pruned vs its baseline": f"{v['pruned_vs_baseline']:.2f}×"}
        for row in r["rows"] if row["model"] not in stale
        for lever, v in row["levers"].items()]).set_index(["model", "batch", "threads", "lever"])
    ops = pd.DataFrame([{
        "model": shown(model), f"operator ({own_time})": k, "unpruned (ms)": f"{1e3 * v['unpruned_s']:.1f}",
        "pruned (ms)": "–" if v["pruned_s"] is None else f"{1e3 * v['pruned_s']:.1f}",
        "shrinks": "–" if v["shrink"] is None else f"{v['shrink']:.2f}×"}
        for model, found in r["operators"].items() if model not in stale for k, v in found.items()]).set_index(
        ["model", f"operator ({own_time})"])
    readings = []
    for row in (x for x in r["rows"] if x["batch"] == r["operators_batch"] and x["threads"] == most
                and x["model"] not in stale):
        base, ideal = row["levers"]["no_grad (baseline)"], row["ideal_speedup"]
        best = max(row["levers"].items(), key=lambda kv: kv[1]["pruned_vs_baseline"])
        tied = [k for k, v in row["levers"].items()
                if k != best[0] and v["pruned_vs_baseline"] >= best[1]["pruned_vs_baseline"] * (1 - TIE)]
        slow = [f"`{k}`" for k, v in r["operators"][row["model"]].items()  # code: aten::_x_ is not emphasis
                if v["shrink"] is not None and v["shrink"] < ideal * GOAL]
        readings.append(
            f"{shown(row['model'])} at batch {row['batch']}, {row['threads']} threads: the baseline speed-up is "
            f"{base['speedup']:.2f}× of an ideal {ideal:.2f}× ({base['of_ideal']:.2f} of it); the fastest setting "
            f"for the pruned model is {best[0]}"
            + (f" (tied within {100 * TIE:g} % with {listed(tied)})" if tied else "")
            + f" ({best[1]['pruned_vs_baseline']:.2f}× its baseline; {best[1]['speedup']:.2f}× the unpruned model in "
            f"the same setting, {best[1]['of_ideal']:.2f} of the ideal"
            + ("; what bf16 does to the samples: the draws against fp32 below" if "bf16" in best[0] else "")
            + "). Operators shrinking by less than "
            f"{GOAL:g} of the ideal: {', '.join(slow) if slow else 'none'}.")
    readings += rounding([x for x in r["rows"] if x["model"] not in stale], r["operators_batch"], most)
    if unchecked:
        readings.append(f"Not checked against the prune step as it is now (no prune recorded for them): "
                        f"{', '.join(unchecked)}.")
    readings += [f"{model}: this run timed a prune of MACs ideal {ideals[model]:.2f}×, and the prune step now makes "
                 f"one of {now:.2f}× (its rule changed after the run of {r.get('created', '?')[:10]}, code "
                 f"{r.get('code_version', '?')}): its rows are left out of the tables and read nowhere until "
                 "benchmarks/speed_levers.py runs again." for model, now in stale.items()]
    ratios = sorted({row["prune"]["ratio"] for row in r["rows"] if "prune" in row and row["model"] not in stale}
                    or {r["ratio"]})
    where = (f"{device_words(r['device'])} on {r.get('created', '?')[:10]}, "
             f"ratio{'s' if len(ratios) > 1 else ''} {listed(f'{x:g}' for x in ratios)}, "
             f"medians of {r['repeats']} timed forwards"
             + ("" if r["compiled"] else "; torch.compile not timed"))
    return {"levers": levers, "operators": ops, "reading": f"Measured on {where}. " + " ".join(readings)}


def rounding(rows: list[dict], batch: int, threads: int) -> list[str]:
    """Per model pruned with round-to 1 and 8 at one ratio (`speed_levers.py --rounding-ratio`): what
    rounding every width to a multiple of 8 does to the MACs and to the plain forward's speed-up."""
    found = {x["model"]: x for x in rows if x["batch"] == batch and x["threads"] == threads}
    out = []
    for label, eight in ((k.removesuffix(", round-to 8"), x) for k, x in found.items() if k.endswith(", round-to 8")):
        one = found.get(label)
        if one is None:
            continue
        a, b = one["levers"]["no_grad (baseline)"], eight["levers"]["no_grad (baseline)"]
        # each prune is read against the unpruned model timed in alternation with it: their two rows
        # were timed minutes apart, and the unpruned model's drift between them is the noise to beat
        ratio, drift = b["speedup"] / a["speedup"], abs(a["unpruned_s"] / b["unpruned_s"] - 1)
        out.append(f"{label} with every width rounded to a multiple of 8: MACs ideal {eight['ideal_speedup']:.2f}× "
                   f"against {one['ideal_speedup']:.2f}× unrounded, measured speed-up {b['speedup']:.2f}× against "
                   f"{a['speedup']:.2f}× (batch {batch}, {threads} threads): the rounded prune "
                   f"{ratio:.2f}× as fast as the unrounded one, each against its own unpruned timing"
                   + (f" — within the {100 * drift:.0f} % that the same unpruned model drifted between the two "
                      "rows, so no difference is shown." if abs(ratio - 1) <= drift else "."))
    return out
