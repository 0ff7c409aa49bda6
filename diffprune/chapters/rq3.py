"""RQ3 — the trade-offs: pruning ratio × recovery effort × quality, measured speed, and the
sampler frontier.

What is RQ3's own: the grid (ratios × methods × finetune checkpoints), the steps-to-recover table
that tests the paper's headline, the speed table and the sampler grid. Models, samples, distances
and timings come from the library (`evaluation`, `pipeline.finetuned(..., passing=...)`, which
finetunes each pruned model once and keeps every checkpoint as its own artifact, and
`pipeline.timing`).
"""
from __future__ import annotations

from .. import evaluation, pipeline, plan, verdicts
from ..artifacts import DiffpruneError
from ..chapter import Chapter
from ..importance import METHODS
from ..profiles import Parameter, integer, is_number, list_of, one_of
from ..unet import PRESETS

LABELS = {"reinit": "scratch"}

OWN = {
    "tradeoff_ratios": Parameter("a list of channel ratios in (0, 1)", list_of(lambda v: is_number(v) and 0 < v < 1)),
    "tradeoff_methods": Parameter(f"a list of methods out of {', '.join(METHODS)}", list_of(one_of(METHODS))),
    "tradeoff_seeds": Parameter("a non-empty list of seeds >= 0 of the sweep and the frontier (each seed repeats "
                                "every finetune)", list_of(integer(0))),
    "tradeoff_threshold": Parameter("a threshold in [0, 1): Diff-Pruning's T in the sweep",
                                    lambda v: is_number(v) and 0 <= v < 1),
    "recovery_steps": Parameter("an increasing list of finetune steps >= 0: the checkpoints evaluated",
                                lambda v: list_of(integer(0))(v) and v == sorted(set(v))),
    "recovery_samples": Parameter("an integer >= 2: samples per evaluated checkpoint", integer(2)),
    "frontier_ratios": Parameter("a list of channel ratios in (0, 1): Diff-Pruning models on the sampler frontier",
                                 list_of(lambda v: is_number(v) and 0 < v < 1)),
    "frontier_ddim_steps": Parameter("a list of DDIM step counts >= 1", list_of(integer(1))),
    "frontier_dpm_steps": Parameter("a list of DPM-Solver++ step counts >= 2", list_of(integer(2))),
    "frontier_samples": Parameter("an integer >= 2: samples per model and sampler", integer(2)),
    "headline_ratio": Parameter("a channel ratio in (0, 1): the headline's prune (about half the MACs)",
                                lambda v: is_number(v) and 0 < v < 1),
    "headline_methods": Parameter(f"a list of methods out of {', '.join(METHODS)}: pruned at headline_ratio",
                                  list_of(one_of(METHODS))),
    "headline_steps": Parameter("an increasing list of finetune steps >= 1: the checkpoints in the paper's "
                                "10-20% window, one run per method and seed",
                                lambda v: list_of(integer(1))(v) and v == sorted(set(v))),
    "headline_seeds": Parameter("a non-empty list of seeds >= 0, each paired with the teacher's", list_of(integer(0))),
    "headline_point": Parameter("one of headline_steps: the checkpoint the headline claim is judged at, fixed "
                                "before the results (the others are context, not more chances)", integer(1)),
    "speed_architectures": Parameter(f"a list (may be empty) of UNet presets out of {', '.join(PRESETS)}: timed with "
                                     "random weights beside the teacher, with their prune at the study ratio",
                                     list_of(one_of(PRESETS), non_empty=False)),
}


def _headline_point(p: dict) -> None:
    if p["headline_point"] not in p["headline_steps"]:
        raise DiffpruneError(f"headline_point {p['headline_point']} is not one of headline_steps {p['headline_steps']}")


def _frontier_in_sweep(p: dict) -> None:
    if not set(p["frontier_ratios"]) <= set(p["tradeoff_ratios"]):
        raise DiffpruneError("frontier_ratios must be among tradeoff_ratios: the frontier's models are the "
                             "sweep's Diff-Pruning models after the longest finetune")
    if "diff-pruning" not in p["tradeoff_methods"]:
        raise DiffpruneError("tradeoff_methods must include diff-pruning: the frontier and the speed table use it")


# --- the ratio × recovery sweep ----------------------------------------------------------------------

def _at(p: dict, ratio: float, steps: int, n: int) -> dict:
    """The profile with one ratio, one finetune length and n samples: what the shared layer reads."""
    return {**p, "ratio": ratio, "finetune_steps": steps, "n_samples": n}


def _threshold(p: dict, method: str) -> float | None:
    return p["tradeoff_threshold"] if method == "diff-pruning" else None


def model(p: dict, method: str, ratio: float, seed: int, steps: int) -> pipeline.Artifact:
    """The teacher pruned with `method` at `ratio`, finetuned for `steps` (0: not finetuned) in one run
    that passes through every shorter checkpoint."""
    q = _at(p, ratio, steps, p["recovery_samples"])
    return evaluation.finetuned_model(q, method, seed, _threshold(p, method),
                                      passing=tuple(s for s in p["recovery_steps"] if s < steps))


def recovery_rows(p: dict, method: str, ratio: float, seed: int) -> list[dict]:
    """One pruned model's rows, one per checkpoint, in finetune order."""
    trained = p["teacher_steps"] or pipeline.teacher_steps(pipeline.teacher(p["teacher"]))
    rows = []
    for steps in p["recovery_steps"]:
        m = model(p, method, ratio, seed, steps)
        rows.append({"row": f"{LABELS.get(method, method)} r={ratio:g} @{steps}", "method": LABELS.get(method, method),
                     "ratio": ratio, "steps": steps, "share": steps / trained,
                     **evaluation.evaluate(m, _at(p, ratio, steps, p["recovery_samples"]), seed)})
    return rows


def sampled_by(p: dict, sampler: str, steps: int) -> dict:
    """The profile with one sampler of the frontier: DDIM keeps the profile's spacing (the paper's
    quad); DPM-Solver++ takes diffusers' own timesteps, which have none."""
    return {**p, "sampler": sampler, "ddim_steps": steps, "spacing": p["spacing"] if sampler == "ddim" else "uniform"}


def teacher_row(p: dict, seed: int, n: int | None = None, by: tuple[str, int] | None = None) -> dict:
    """The teacher's row, of n samples (recovery_samples by default), drawn `by` (sampler, steps)."""
    q = {**p, "n_samples": n or p["recovery_samples"]}
    if by:
        q = sampled_by(q, *by)
    return {"row": "teacher", "method": "teacher", "ratio": 0.0, "steps": 0, "share": 0.0,
            **evaluation.evaluate(pipeline.teacher(p["teacher"]), q, seed)}


def sweep_jobs(p: dict) -> list:
    return [(teacher_row, (p, s)) for s in p["tradeoff_seeds"]] + [
        (recovery_rows, (p, m, r, s))
        for s in p["tradeoff_seeds"] for r in p["tradeoff_ratios"] for m in p["tradeoff_methods"]]


def sweep(p: dict) -> list[dict]:
    """Every row of the sweep (the teacher's first), computing only what the cache lacks."""
    out = []
    for fn, args in sweep_jobs(p):
        got = fn(*args)
        out += got if isinstance(got, list) else [got]
    return out


def sweep_summary(rows: list[dict]):
    """One line per row label (mean over seeds), with MACs as a fraction of the teacher's."""
    return evaluation.summarize(rows, baseline="teacher")


def steps_to_reach(summary, within: float) -> dict[tuple[str, float], int | None]:
    """(method, ratio) → the first checkpoint whose Fréchet distance is within `within` (0.1 = 10 %)
    of the teacher's, or None; point estimates (the intervals are in the figures)."""
    target = summary.loc[summary["row"] == "teacher", "fd"].iloc[0] * (1 + within)
    out = {}
    for r in summary[summary["row"] != "teacher"].sort_values("steps").itertuples():
        key = (r.method, r.ratio)
        out.setdefault(key, None)
        if out[key] is None and r.fd <= target:
            out[key] = int(r.steps)
    return out


def headline_table(summary, trained: int, levels=(0.10, 0.25)):
    """Per ratio (and its MACs fraction) and method: the share of the teacher's training steps
    needed to come within 10 % and 25 % of the teacher's Fréchet distance."""
    import pandas as pd
    never = "–"  # not within the level by the longest finetune (the caption says how long that is)
    reached = {lv: steps_to_reach(summary, lv) for lv in levels}
    pruned = summary[summary["row"] != "teacher"]
    macs = pruned.groupby("ratio")["macs_fraction"].first()
    names = list(dict.fromkeys(pruned["method"]))
    table = {}
    for lv in levels:
        for m in names:
            col = {}
            for r in sorted(macs.index):
                s = reached[lv].get((m, r))
                col[f"{r:g} (×{macs[r]:.2f})"] = never if s is None else f"{100 * s / trained:.0f}%"
            table[(f"within {100 * lv:.0f}%", m)] = col
    out = pd.DataFrame(table)
    out.index.name = "ratio"
    return out


def paper_points() -> str:
    """The paper's one point of this surface per data set (Diff-Pruning against its teacher), from
    its Table 1 as recorded in data/paper/."""
    from ..published import paper_table
    parts = []
    for dataset, name in (("cifar10", "CIFAR-10"), ("celeba-hq", "CelebA-HQ")):
        t = paper_table(dataset)
        dense = t[t["method"] == "pretrained"].iloc[0]
        dp = t[t["method"] == "diff-pruning"]
        fids = ", ".join(f"{r.fid:g} at T = {r.threshold_T:g}" for r in dp.itertuples())
        first = dp.iloc[0]
        parts.append(f"{name} at MACs ×{first['macs_G'] / dense['macs_G']:.2f} after {first['train_steps']:,.0f} "
                     f"of the teacher's {dense['train_steps']:,.0f} steps "
                     f"({100 * first['train_steps'] / dense['train_steps']:.1f}%): FID {dense['fid']:g} → {fids}")
    return "; ".join(parts)


# --- the sampler frontier --------------------------------------------------------------------------

def samplers(p: dict) -> list[tuple[str, int]]:
    return [("ddim", s) for s in p["frontier_ddim_steps"]] + [("dpm-solver++", s) for s in p["frontier_dpm_steps"]]


def _frontier_point(p: dict, ratio: float | None, sampler: str, steps: int, seed: int):
    """(model, profile) of one frontier point: the teacher (ratio None) or the sweep's Diff-Pruning
    model at `ratio` after the longest finetune, and the profile that samples it `sampler`-`steps`."""
    if ratio is None:
        return pipeline.teacher(p["teacher"]), sampled_by({**p, "n_samples": p["frontier_samples"]}, sampler, steps)
    return (model(p, "diff-pruning", ratio, seed, p["recovery_steps"][-1]),
            sampled_by(_at(p, ratio, p["recovery_steps"][-1], p["frontier_samples"]), sampler, steps))


def frontier_rows(p: dict, ratio: float | None, seed: int) -> list[dict]:
    """The teacher (ratio None) or the sweep's Diff-Pruning model at `ratio` after the longest
    finetune, sampled by every sampler of the frontier."""
    rows = []
    for name, steps in samplers(p):
        if ratio is None:
            row = teacher_row(p, seed, p["frontier_samples"], (name, steps))
        else:
            m, q = _frontier_point(p, ratio, name, steps, seed)
            row = {"row": f"diff-pruning r={ratio:g}", "method": "diff-pruning", "ratio": ratio,
                   **evaluation.evaluate(m, q, seed)}
        rows.append({**row, "sampler": name, "sampler_steps": steps})
    return rows


def frontier_pairs(p: dict, speed: list[dict]) -> list[tuple[tuple, tuple]]:
    """((ratio, sampler, steps), (None, sampler, steps)): each pruned point and the teacher point of
    lowest Fréchet distance among those that cost no more time (CPU timing), from the recorded rows."""
    seed = p["tradeoff_seeds"][0]
    dense = [(r, seconds_per_1000(speed, "teacher", r["sampler_steps"])) for r in frontier_rows(p, None, seed)]
    out = []
    for ratio in p["frontier_ratios"]:
        for r in frontier_rows(p, ratio, seed):
            time = seconds_per_1000(speed, f"r={ratio:g}", r["sampler_steps"])
            cheaper = [t for t, s in dense if s <= time]
            if cheaper:
                t = min(cheaper, key=lambda x: x["fd"])
                out.append(((ratio, r["sampler"], r["sampler_steps"]), (None, t["sampler"], t["sampler_steps"])))
    return out


def _point_label(ratio: float | None, sampler: str, steps: int) -> str:
    return f"{'teacher' if ratio is None else f'r={ratio:g}'} {sampler}-{steps}"


def frontier_verdicts(p: dict) -> list[verdicts.Verdict]:
    """Each pruned point against the best teacher point that costs no more time: the paired
    bootstrap of FD(pruned) − FD(teacher) over sample indices (one seed: sampling noise only)."""
    seed = p["tradeoff_seeds"][0]
    out = []
    for a, b in frontier_pairs(p, speed_section(p)["rows"]):
        (ma, qa), (mb, qb) = _frontier_point(p, *a, seed), _frontier_point(p, *b, seed)
        sa, sb = evaluation.samples_of(ma, qa, seed), evaluation.samples_of(mb, qb, seed)
        result = pipeline.paired_fd(sa, sb, dataset=p["dataset"], split="test", features=p["features"],
                                    n_reference=p["n_reference"], n_boot=p["n_boot"])
        reference = pipeline.fd(sb, dataset=p["dataset"], split="test", features=p["features"],
                                n_reference=p["n_reference"], n_boot=p["n_boot"])["value"]
        out.append(verdicts.from_bootstrap(result, "fd", p["equivalence_margins"], a=_point_label(*a),
                                           b=_point_label(*b), reference=reference, seed=seed,
                                           where="equal time or less"))
    return out


def frontier_jobs(p: dict) -> list:
    return ([(frontier_rows, (p, r, s)) for s in p["tradeoff_seeds"] for r in [None, *p["frontier_ratios"]]]
            + [(frontier_verdicts, (p,))])


# --- measured speed --------------------------------------------------------------------------------

def speed_models(p: dict) -> list[tuple[str, float, pipeline.Artifact, str]]:
    """(label, ratio, model, the label of its unpruned model): the teacher and the sweep's
    Diff-Pruning prunes (speed depends on the structure only, which a uniform ratio fixes for every
    method), then each of `speed_architectures` with random weights and its magnitude prune at the
    study ratio (no data needed: the same structure), so the speed-up shows where a model is big."""
    t = pipeline.teacher(p["teacher"])
    out = [("teacher", 0.0, t, "teacher")] + [(f"r={r:g}", r, model(p, "diff-pruning", r, p["tradeoff_seeds"][0], 0),
                                               "teacher") for r in p["tradeoff_ratios"]]
    r = _study_ratio(p)
    for name in p["speed_architectures"]:
        dense = pipeline.architecture(name, channels=3, size=32, seed=0)  # CIFAR-10's images
        out += [(name, 0.0, dense, name),
                (f"{name} r={r:g}", r, pipeline.pruned(dense, method="magnitude", ratio=r, seed=0), name)]
    return out


def speed_rows(p: dict, device: str, rounds: list[int] | None = None, specs: list | None = None) -> list[dict]:
    """Seconds per denoising step (one UNet forward) of every speed model, per batch size and (on
    the CPU) thread count, with the speed-up beside the MACs ideal: medians over `speed_rounds`
    rounds (or the given ones), the speed-up paired by round with its range. Not part of `work`: a
    timing runs alone, never beside `study`'s parallel jobs."""
    import statistics
    specs = speed_models(p) if specs is None else specs
    models, ratios = {label: m for label, _, m, _ in specs}, {label: r for label, r, _, _ in specs}
    base_of = {label: base for label, _, _, base in specs}
    sizes = {label: pipeline.size(m) for label, m in models.items()}
    settings = [(b, th) for b in p["speed_batches"] for th in (p["speed_threads"] if device == "cpu" else [1])]
    timed = evaluation.timing_rounds(models, settings, rounds=list(range(p["speed_rounds"])) if rounds is None
                                     else rounds, repeats=p["speed_repeats"], device=device)
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


# --- the headline in the paper's window -------------------------------------------------------------

def headline_model(p: dict, method: str, seed: int, steps: int) -> pipeline.Artifact:
    """The teacher pruned with `method` at `headline_ratio`, finetuned for `steps` in the one run per
    method and seed that passes through every shorter headline checkpoint."""
    q = _at(p, p["headline_ratio"], steps, p["recovery_samples"])
    return evaluation.finetuned_model(q, method, seed, _threshold(p, method),
                                      passing=tuple(s for s in p["headline_steps"] if s < steps))


def headline_rows(p: dict, method: str, seed: int) -> list[dict]:
    """One method's rows at every headline checkpoint for one seed, in finetune order."""
    trained = trained_steps(p)
    return [{"row": f"{LABELS.get(method, method)} @{steps}", "method": LABELS.get(method, method),
             "ratio": p["headline_ratio"], "steps": steps, "share": steps / trained,
             **evaluation.evaluate(headline_model(p, method, seed, steps),
                                   _at(p, p["headline_ratio"], steps, p["recovery_samples"]), seed)}
            for steps in p["headline_steps"]]


def headline_jobs(p: dict) -> list:
    """Diff-Pruning's runs first: the headline's verdict rests on them."""
    order = sorted(p["headline_methods"], key=lambda m: m != "diff-pruning")
    return [(teacher_row, (p, s)) for s in p["headline_seeds"]] + [
        (headline_rows, (p, m, s)) for m in order for s in p["headline_seeds"]]


def paper_gap() -> float:
    """The paper's own "close to the teacher", as a fraction of the teacher's FID: its CIFAR-10
    Diff-Pruning row (T = 0.05, MACs ×0.56 after 12.5% of the teacher's steps) against the teacher."""
    from ..published import paper_table
    t = paper_table("cifar10")
    dense = t.loc[t["method"] == "pretrained", "fid"].iloc[0]
    dp = t.loc[(t["method"] == "diff-pruning") & (t["threshold_T"] == 0.05), "fid"].iloc[0]
    return float(dp / dense - 1)


def headline_verdicts(p: dict, within: float) -> list[verdicts.Verdict]:
    """Each method at each headline checkpoint against the teacher, paired by seed, with `within` (a
    fraction of the teacher's FD; the paper's own gap) as the margin: *equivalent* or *better* is
    "close to the teacher" as the paper means it. `where` names the checkpoint."""
    dense = [teacher_row(p, s) for s in p["headline_seeds"]]
    out = []
    for method in p["headline_methods"]:
        rows = [r for s in p["headline_seeds"] for r in headline_rows(p, method, s)]
        for steps in p["headline_steps"]:
            mine = [r for r in rows if r["steps"] == steps]
            out.append(verdicts.across_seeds(mine, dense, "fd", {"fd": within}, a=mine[0]["method"], b="teacher",
                                             where=f"@{steps:,} ({100 * mine[0]['share']:.3g}%)"))
    return out


def at_point(p: dict, found: list[verdicts.Verdict], method: str = "diff-pruning") -> verdicts.Verdict:
    """`method`'s verdict at `headline_point` (the verdicts as `headline_verdicts` orders them)."""
    mine = [v for v in found if v.a == method]
    return mine[p["headline_steps"].index(p["headline_point"])]


def headline_section(p: dict) -> dict:
    """The verdict grid of the paper's window and the MACs of its prune."""
    t = pipeline.size(pipeline.teacher(p["teacher"]))["macs"]
    m = pipeline.size(headline_model(p, p["headline_methods"][0], p["headline_seeds"][0], p["headline_steps"][0]))
    within = paper_gap()
    found = headline_verdicts(p, within)
    return {"verdicts": found, "table": verdicts.table(found), "within": within, "macs_fraction": m["macs"] / t,
            "seeds": len(p["headline_seeds"])}


def work(p: dict) -> list:
    return sweep_jobs(p) + frontier_jobs(p) + headline_jobs(p)


CHAPTER = Chapter("rq3", parameters=(
    "teacher", "dataset", "teacher_steps", "timestep_stride", "importance_batch", "finetune_batch",
    "finetune_lr", "finetune_warmup", "sampler", "ddim_steps", "spacing", "features", "n_reference", "n_boot",
    "classifier_epochs", "speed_batches", "speed_threads", "speed_repeats", "speed_rounds", "speed_devices",
    "equivalence_margins", "ratio", "finetune_steps"), own=OWN, work=work, checks=(_frontier_in_sweep, _headline_point))


def cpu_estimate(p: dict) -> dict:
    """Thread-hours the sweep and the frontier would take on one CPU thread: their finetune steps and
    sampled image-steps, times the seconds per step of those of their artifacts that were computed
    on a CPU (the rows shared with RQ1). Fréchet distances (seconds each since `fid._Replicates`)
    and prunes are left out."""
    import statistics
    arts = [a for a in plan.behind(sweep_jobs(p) + frontier_jobs(p)) if a.step in ("sample", "finetune")]
    total_steps = (len(p["tradeoff_seeds"]) * len(p["tradeoff_ratios"]) * len(p["tradeoff_methods"])
                   * p["recovery_steps"][-1])
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


# --- the sections the notebook shows -----------------------------------------------------------------

def trained_steps(p: dict) -> int:
    """The teacher's training steps (the profile's, or its cost.json's)."""
    return p["teacher_steps"] or pipeline.teacher_steps(pipeline.teacher(p["teacher"]))


def sweep_section(p: dict) -> dict:
    from .. import plots
    summary = sweep_summary(sweep(p))
    metric = summary["fd_metric"].iloc[0]
    teacher_fd = float(summary.loc[summary["row"] == "teacher", "fd"].iloc[0])
    trained = trained_steps(p)
    pruned = summary[summary["row"] != "teacher"].groupby("ratio")["macs_fraction"].first()
    span = ", ".join(f"{r:g} → ×{f:.2f}" for r, f in pruned.items())
    return {"summary": summary, "metric": metric, "span": span,
            "pareto": plots.pareto(summary, metric, teacher_fd),
            "recovery": plots.recovery_curves(summary, metric, teacher_fd, trained),
            "headline": headline_table(summary, trained),
            "longest_share": f"{100 * summary['steps'].max() / trained:.0f}%"}


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
            out.append({"device": by_batch[large]["device_name"], "model": base, "small": small, "large": large,
                        "growth": by_batch[large]["seconds_per_batch"] / by_batch[small]["seconds_per_batch"]})
    return out


def batch_growth_text(growth: list[dict]) -> str:
    return "; ".join(f"{g['model']} on {g['device']}, batch {g['large']} against {g['small']}: {g['growth']:.1f}×"
                     for g in growth) or "–"


GOAL = 0.75  # the share of the MACs ideal a pruned model's measured speed-up should reach


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
            out.append({"device": r["device_name"], "model": base, "params": next(x["params"] for x in here
                                                                                   if x["model"] == base),
                        "batch": b, "threads": th if device == "cpu" else None,
                        "speedup": r["speedup"], "ideal": r["ideal"], "of_ideal": r["of_ideal"], "low": lo,
                        "high": hi, "rounds": r["rounds"], "speedup_low": r["speedup_lo"],
                        "speedup_high": r["speedup_hi"],
                        "kind": verdicts.judge(lo - goal, hi - goal, 0.0, lower_is_better=False),
                        "best_anywhere": max(x["speedup"] for x in here if x["model"] != base)})
    return out


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


def speed_section(p: dict) -> dict:
    rows = [r for d in p["speed_devices"] for r in _recorded_speed(p, d)]
    goal = speed_goal(rows, _study_ratio(p))
    return {"rows": rows, "table": speed_table(rows), "goal": goal, "goal_table": speed_goal_table(goal),
            "growth": batch_growth(rows)}


def _study_ratio(p: dict) -> float:
    """The sweep's ratio nearest RQ1's (`ratio`)."""
    return min(p["tradeoff_ratios"], key=lambda r: abs(r - p["ratio"]))


def _recorded_speed(p: dict, device: str) -> list[dict]:
    """Speed rows of a device, each with the machine its record names; cuda rows only from the
    rounds that were recorded, since they cannot be measured without a GPU."""
    import torch
    rounds, specs = None, speed_models(p)
    if device == "cuda" and not torch.cuda.is_available():
        def recorded(m: pipeline.Artifact, rnd: int) -> bool:
            try:
                for b in p["speed_batches"]:
                    t = pipeline.timing(m, batch_size=b, threads=1, repeats=p["speed_repeats"], device=device,
                                        round=rnd)
                    _ = pipeline.recorded("timing", t.key).results
            except DiffpruneError:
                return False
            return True
        rounds = [rnd for rnd in range(p["speed_rounds"])
                  if all(recorded(m, rnd) for _, _, m, base in specs if base == "teacher")]
        if not rounds:
            return []
        specs = [s for s in specs if all(recorded(s[2], rnd) for rnd in rounds)]
        specs = [s for s in specs if s[3] in {label for label, *_ in specs}]  # a speed-up needs its base
    rows = speed_rows(p, device, rounds, specs)
    for r in rows:
        r["device_name"] = pipeline.recorded("timing", r["timing_key"]).compute()["device"]
    return rows


def seconds_per_1000(speed: list[dict], model_label: str, steps: int) -> float:
    """Seconds to draw 1,000 images with `steps` sampler steps, from the CPU timing at the largest
    batch and thread count (one UNet forward per step for DDIM and DPM-Solver++)."""
    cpu = [r for r in speed if r["device"] == "cpu" and r["model"] == model_label]
    r = max(cpu, key=lambda x: (x["batch"], x["threads"]))
    return steps * r["seconds_per_batch"] * 1000 / r["batch"]


def pareto_front(rows):
    """The rows no other row beats on both time and distance."""
    ordered = rows.sort_values(["seconds_per_1000", "fd"])
    keep, best = [], float("inf")
    for i, r in ordered.iterrows():
        if r["fd"] < best:
            keep.append(i)
            best = r["fd"]
    return rows.loc[keep]


def frontier_section(p: dict, speed: list[dict]) -> dict:
    import pandas as pd

    from .. import plots
    from ..published import sampler_steps
    rows = []
    for s in p["tradeoff_seeds"][:1]:
        for ratio in [None, *p["frontier_ratios"]]:
            label = "teacher" if ratio is None else f"r={ratio:g}"
            for r in frontier_rows(p, ratio, s):
                rows.append({**r, "model": label if ratio is None else f"diff-pruning r={ratio:g}",
                             "seconds_per_1000": seconds_per_1000(speed, label, r["sampler_steps"])})
    df = pd.DataFrame(rows)
    front = pareto_front(df)
    cpu = max((r for r in speed if r["device"] == "cpu"), key=lambda x: (x["batch"], x["threads"]))
    timing = f"CPU, batch {cpu['batch']}, {cpu['threads']} threads"
    metric = df["fd_metric"].iloc[0]
    table = df.assign(FD=[evaluation.ci_text(r.fd, r.fd_low, r.fd_high, 1) for r in df.itertuples()],
                      seconds=df["seconds_per_1000"].map("{:.0f}".format),
                      frontier=["●" if i in front.index else "" for i in df.index])
    table = table[["model", "sampler", "sampler_steps", "seconds", "FD", "frontier"]].rename(
        columns={"sampler_steps": "steps", "seconds": "s / 1,000 images", "FD": metric}).set_index(["model", "sampler"])
    found = frontier_verdicts(p)
    kinds = {k.value: sum(v.kind is k for v in found) for k in verdicts.Kind}
    best = min(found, key=lambda v: v.difference, default=None)
    return {"rows": df, "table": table, "figure": plots.sampler_frontier(df, front, metric, timing, sampler_steps()),
            "verdicts": verdicts.table(found), "kinds": kinds, "compared": len(found),
            "best": verdicts.sentence(best) if best else "–", "front": len(front),
            "pruned_on_front": int((front["model"] != "teacher").sum()), "n": p["frontier_samples"], "timing": timing}


def levers_section() -> dict | None:
    """The recorded run of benchmarks/speed_levers.py (None if there is none): what each lever does
    to the step time, and which operators shrink less than the MACs."""
    import json

    import pandas as pd

    from ..paths import RESULTS_DIR
    path = RESULTS_DIR / "speed_levers.json"
    if not path.is_file():
        return None
    r = json.loads(path.read_text())
    levers = pd.DataFrame({
        "teacher (ms)": {k: f"{1e3 * v['teacher_s']:.1f}" for k, v in r["levers"].items()},
        "pruned (ms)": {k: f"{1e3 * v['pruned_s']:.1f}" for k, v in r["levers"].items()},
        "speed-up": {k: f"{v['speedup']:.2f}×" for k, v in r["levers"].items()},
        "of the MACs ideal": {k: f"{v['of_ideal']:.2f}" for k, v in r["levers"].items()},
        "pruned vs baseline": {k: f"{v['pruned_vs_baseline']:.2f}×" for k, v in r["levers"].items()}})
    levers.index.name = "lever"
    ops = pd.DataFrame({
        "teacher (ms)": {k: f"{1e3 * v['teacher_s']:.1f}" for k, v in r["operators"].items()},
        "pruned (ms)": {k: "–" if v["pruned_s"] is None else f"{1e3 * v['pruned_s']:.1f}"
                        for k, v in r["operators"].items()},
        "shrinks": {k: "–" if v["shrink"] is None else f"{v['shrink']:.2f}×" for k, v in r["operators"].items()}})
    ops.index.name = "operator (self CPU time)"
    best = max(r["levers"].items(), key=lambda kv: kv[1]["pruned_vs_baseline"])
    slow = [f"`{k}`" for k, v in r["operators"].items()  # code: markdown would read aten::_x_ as emphasis
            if v["shrink"] is not None and v["shrink"] < r["ideal_speedup"] * GOAL]
    reading = (f"At batch {r['batch']} and {r['threads']} threads on {r['device']}, the baseline speed-up at ratio "
               f"{r['ratio']:g} is {r['levers']['no_grad (baseline)']['speedup']:.2f}× of an ideal "
               f"{r['ideal_speedup']:.2f}×. The fastest setting for the pruned model is {best[0]} "
               f"({best[1]['pruned_vs_baseline']:.2f}× the baseline; speed-up over the teacher in the same setting "
               f"{best[1]['speedup']:.2f}×, {best[1]['of_ideal']:.2f} of the ideal). Operators whose time shrinks "
               f"by less than three quarters of the MACs ideal: {', '.join(slow) if slow else 'none'}.")
    return {"levers": levers, "operators": ops, "reading": reading}
