"""RQ2 — which timesteps matter: the L_t curve and the threshold's stop t, what each window of
timesteps would prune (the importance map), and what the early and the late timesteps protect
(content versus detail).

What is RQ2's own: its windows, the stop-t table beside the official repository's curves, the
comparisons between windows, and the content-vs-detail rows. The gradients, scores, prunes and
evaluations come from the library (`pipeline.loss_curve`, `pipeline.channel_scores`,
`pipeline.pruned(window=...)`, `pipeline.gradient_stages`, `evaluation.agreement`).
"""
from __future__ import annotations

import numpy as np

from .. import evaluation, pipeline, verdicts
from ..artifacts import DiffpruneError
from ..chapter import Chapter
from ..importance import DEFAULT_SCORE, SCORES
from ..profiles import Parameter, integer, is_number, list_of, one_of
from ..published import repository_curves
from ..threshold import stop_times

SWEEPS = ("content", "ablations")  # the sweeps that sweeps_on_more_teachers may repeat on other teachers

OWN = {
    "window_size": Parameter("an integer in [1, 1000] that divides 1000: the importance map's windows",
                             lambda v: integer(1, 1000)(v) and 1000 % v == 0),
    "content_k": Parameter("a list of stages k in (0, 1000], multiples of timestep_stride: prunes from [0, k) "
                           "and [k, 1000)", list_of(integer(1, 1000))),
    "content_seeds": Parameter("a list of seeds >= 0 of the content-vs-detail prunes", list_of(integer(0))),
    "content_samples": Parameter("an integer >= 2: samples compared with the teacher's per model and seed",
                                 integer(2)),
    "content_repair_steps": Parameter("an increasing list of finetune steps >= 0: the checkpoints of one short "
                                      "finetune per prune (0: right after pruning) at which they are compared",
                                      lambda v: list_of(integer(0))(v) and v == sorted(set(v))),
    "content_ssim_band": Parameter("[low, high] in [0, 1]: the division of labour is read where both windows' SSIM "
                                   "to the teacher lies in this band",
                                   lambda v: list_of(lambda x: is_number(x) and 0 <= x <= 1)(v) and len(v) == 2
                                   and v[0] < v[1]),
    "content_candidates": Parameter("a list of channel ratios in (0, 1): the unfinetuned prunes (magnitude and "
                                    "Diff-Pruning) that show why the comparison runs along the repair axis",
                                    list_of(lambda v: is_number(v) and 0 < v < 1)),
    "sweeps_on_more_teachers": Parameter(f"a list out of {', '.join(SWEEPS)} (may be empty): the costly sweeps "
                                         "repeated on more_teachers", list_of(one_of(SWEEPS), non_empty=False)),
    "ablation_thresholds": Parameter("a list of thresholds in [0, 1): Diff-Pruning finetuned at each",
                                     list_of(lambda t: is_number(t) and 0 <= t < 1)),
    "score_forms": Parameter(f"a list of score forms out of {', '.join(SCORES)}", list_of(one_of(SCORES))),
    "ablation_seeds": Parameter("a list of seeds >= 0 of the threshold and score-form ablations", list_of(integer(0))),
}


def windows(p: dict) -> list[tuple[int, int]]:
    return [(a, a + p["window_size"]) for a in range(0, 1000, p["window_size"])]


def _window_prune(p: dict, window) -> pipeline.Artifact:
    return pipeline.pruned(pipeline.teacher(p["teacher"]), method="diff-pruning", ratio=p["ratio"],
                           seed=p["seeds"][0], timestep_stride=p["timestep_stride"], batch_size=p["importance_batch"],
                           dataset=p["dataset"], window=window)


def reference_prune(p: dict) -> pipeline.Artifact:
    """Diff-Pruning at the reference threshold, as RQ1 prunes it (the same cached artifact)."""
    return pipeline.pruned(pipeline.teacher(p["teacher"]), method="diff-pruning", ratio=p["ratio"],
                           seed=p["seeds"][0], threshold=p["reference_threshold"],
                           timestep_stride=p["timestep_stride"], batch_size=p["importance_batch"],
                           dataset=p["dataset"])


def _scores(p: dict, window) -> pipeline.Artifact:
    return pipeline.channel_scores(pipeline.teacher(p["teacher"]), method="diff-pruning", window=window,
                                   stride=p["timestep_stride"], dataset=p["dataset"],
                                   batch_size=p["importance_batch"], seed=p["seeds"][0])


def window_result(p: dict, window) -> dict:
    """Channel scores (no pruning) and the channels a prune from this window alone removes."""
    return {"window": list(window), "scores": _scores(p, window).result("channel_scores.json")["scores"],
            "removed": pipeline.removed(_window_prune(p, window))}


def reference_removed(p: dict) -> dict[str, list[int]]:
    return pipeline.removed(reference_prune(p))


def map_work(p: dict) -> list:
    return [job for q in evaluation.every_teacher(p)
            for job in [(evaluation.lt_curve, (q,)), (reference_removed, (q,)),
                        *((window_result, (q, w)) for w in windows(q))]]


# --- the L_t curve and the stop t -----------------------------------------------------------------

def stop_table(c: dict, thresholds: list[float]):
    """T → stop t: ours on the mean curve and the range over the fixed batches, beside the
    official repository's CIFAR-10 and CelebA-HQ curves."""
    import pandas as pd
    ours = stop_times(c["t"], evaluation.mean_lt(c), thresholds)
    per_batch = [stop_times(c["t"], batch, thresholds) for batch in c["loss"]]
    repo = repository_curves()

    def fmt(v):
        return "never" if v is None else f"{v}"

    def spread(T):
        values = [b[T] for b in per_batch]
        if any(v is None for v in values):
            return "never" if all(v is None for v in values) else "some batches never"
        return f"{min(values)}–{max(values)}"

    return pd.DataFrame({
        "T": [f"{T:g}" for T in thresholds],
        "stop t (mean curve)": [fmt(ours[T]) for T in thresholds],
        f"over {len(c['loss'])} batches": [spread(T) for T in thresholds],
        "repository CIFAR-10": [repo["cifar10"]["stop_t_for_threshold"].get(f"{T:g}", "–") for T in thresholds],
        "repository CelebA-HQ": [repo["celeba-hq"]["stop_t_for_threshold"].get(f"{T:g}", "–") for T in thresholds],
    }).set_index("T")


POSITIONS = ("earlier than on both of", "between", "later than on both of")  # ours against the repository's


def curve_stop(c: dict, T: float) -> dict:
    """Where T stops the walk on our mean curve (`stop`, None: never within t < 1000), the stop t on
    the repository's recorded curves, and ours against them (one of POSITIONS, None where either
    side has none)."""
    ours = stop_times(c["t"], evaluation.mean_lt(c), [T])[T]
    repo = {name: int(r["stop_t_for_threshold"][f"{T:g}"]) for name, r in repository_curves().items()
            if r["stop_t_for_threshold"].get(f"{T:g}", "").isdigit()}
    position = None
    if ours is not None and repo:
        lo, hi = min(repo.values()), max(repo.values())
        position = POSITIONS[0] if ours < lo else POSITIONS[2] if ours > hi else POSITIONS[1]
    return {"T": T, "stop": ours, "repository": repo, "position": position}


def curve_section(p: dict) -> dict:
    """Figure, table and reading of the L_t curve of the profile's teacher."""
    from .. import plots
    c = evaluation.lt_curve(p)
    repo = {name: r["relative_loss_at_t"] for name, r in repository_curves().items()}
    stops = stop_times(c["t"], evaluation.mean_lt(c), p["curve_thresholds"])
    return {"curve": c, "figure": plots.loss_curves(c["t"], c["loss"], stops, repo, p["dataset"]),
            "table": stop_table(c, p["curve_thresholds"]),
            "stop": curve_stop(c, p["reference_threshold"])}


# --- the importance map ---------------------------------------------------------------------------

def _flat(scores: dict) -> np.ndarray:
    return np.concatenate([np.asarray(scores[k]) for k in sorted(scores)])


def spearman_matrix(results: list[dict]) -> np.ndarray:
    """Rank correlation between the channel scores of every two windows."""
    from scipy.stats import rankdata
    ranks = rankdata(np.stack([_flat(r["scores"]) for r in results]), axis=1)
    return np.atleast_2d(np.corrcoef(ranks))  # Spearman's ρ: Pearson's r of the ranks


def block_of(layer: str) -> str:
    parts = layer.split(".")
    return ".".join(parts[:2]) if parts[0] in ("down_blocks", "up_blocks") else parts[0]


def removed_share(results: list[dict]):
    """Blocks × windows: the share of each block's ranked channels a prune from the window removes."""
    import pandas as pd
    sizes = {}
    for layer, s in results[0]["scores"].items():
        sizes[block_of(layer)] = sizes.get(block_of(layer), 0) + len(s)
    table = {}
    for r in results:
        removed = {}
        for layer, idxs in r["removed"].items():
            removed[block_of(layer)] = removed.get(block_of(layer), 0) + len(idxs)
        table[f"{r['window'][0]}–{r['window'][1]}"] = {b: removed.get(b, 0) / n for b, n in sizes.items()}
    return pd.DataFrame(table).loc[sorted(sizes, key=_block_order)]


def _block_order(block: str):
    order = {"conv_in": 0, "time_embedding": 1, "down_blocks": 2, "mid_block": 3, "up_blocks": 4}
    head, _, index = block.partition(".")
    return order.get(head, 5), int(index or 0)


def kept_jaccard(results: list[dict], reference: dict[str, list[int]], block: str | None = None) -> list[float]:
    """Jaccard overlap of each window's kept channels with the reference prune's kept channels
    (in one block only, if given)."""
    sizes = {layer: len(s) for layer, s in results[0]["scores"].items() if block in (None, block_of(layer))}

    def kept(removed):
        return {(layer, i) for layer, n in sizes.items() for i in range(n) if i not in set(removed.get(layer, ()))}

    ref = kept(reference)
    return [len(kept(r["removed"]) & ref) / len(kept(r["removed"]) | ref) for r in results]


def jaccard_by_block(results: list[dict], reference: dict[str, list[int]]):
    """Blocks (and the whole UNet) × windows: overlap of the kept channels with the reference prune."""
    import pandas as pd
    blocks = sorted({block_of(layer) for layer in results[0]["scores"]}, key=_block_order)
    rows = {b: kept_jaccard(results, reference, b) for b in blocks}
    rows["whole UNet"] = kept_jaccard(results, reference)
    return pd.DataFrame(rows, index=[f"{r['window'][0]}–{r['window'][1]}" for r in results]).T


def map_numbers(results: list[dict], rho: np.ndarray, jaccard: list[float], share) -> dict:
    """What the importance map says, as numbers: the mean Spearman ρ of neighbouring windows (None
    with two or fewer), ρ of the first and last window, the window whose kept channels are closest
    to Diff-Pruning's (its Jaccard index) and the last window's, and the most by which the windows
    differ in the share of a block they remove (0: the same widths everywhere)."""
    label = [f"[{r['window'][0]}, {r['window'][1]})" for r in results]
    best = int(np.argmax(jaccard))
    return {"neighbour_rho": float(np.mean(np.diag(rho, 1))) if len(results) > 2 else None,
            "first_last_rho": float(rho[0, -1]), "closest": label[best], "closest_jaccard": float(jaccard[best]),
            "last": label[-1], "last_jaccard": float(jaccard[-1]),
            "share_spread": float((share.max(axis=1) - share.min(axis=1)).max())}


def map_table(numbers: dict[str, dict], T: float):
    """`map_numbers` per teacher (rows), as the book shows them."""
    import pandas as pd

    def f(x):
        return "–" if x is None else f"{x:.2f}"
    table = pd.DataFrame.from_dict({name: {
        "ρ, neighbouring windows (mean)": f(n["neighbour_rho"]), "ρ, first vs last window": f(n["first_last_rho"]),
        f"closest to Diff-Pruning T = {T:g} (Jaccard)": f"{n['closest']} ({n['closest_jaccard']:.2f})",
        "last window (Jaccard)": f"{n['last']} ({n['last_jaccard']:.2f})",
        "largest difference in a block's removed share": f(n["share_spread"]),
    } for name, n in numbers.items()}, orient="index")
    table.index.name = "teacher"
    return table


def map_section(p: dict) -> dict:
    """The heat maps and the numbers (`map_numbers`) of the importance map of the profile's teacher."""
    from .. import plots
    results = [window_result(p, w) for w in windows(p)]
    labels = [f"{a}–{b}" for a, b in windows(p)]
    rho = spearman_matrix(results)
    reference = reference_removed(p)
    overlap = jaccard_by_block(results, reference)
    name = p["dataset"]
    return {
        "rho": plots.heatmap(rho, labels, labels, f"{name}: Spearman ρ between windows' channel scores",
                             "Spearman ρ", vmin=-1, vmax=1),
        "jaccard": plots.heatmap(overlap.to_numpy(), list(overlap.index), labels,
                                 f"{name}: kept channels shared with Diff-Pruning at T = {p['reference_threshold']:g}",
                                 "Jaccard", vmin=0, vmax=1),
        "numbers": map_numbers(results, rho, kept_jaccard(results, reference), removed_share(results))}


# --- content versus detail ------------------------------------------------------------------------
# Prunes with the gradients of the early timesteps [0, k) only, or of the late ones [k, 1000) only,
# compared with the teacher on the same noise: SSIM (pixels), edge SSIM (detail), class agreement
# (content). All windows of one seed come from one walk (`pipeline.gradient_stages`).

def content_stages(p: dict) -> list[int]:
    bad = [k for k in p["content_k"] if k % p["timestep_stride"]]
    if bad:
        raise DiffpruneError(f"content_k {bad} are not multiples of timestep_stride {p['timestep_stride']}")
    return sorted(set(p["content_k"]) | {1000})


def content_windows(p: dict) -> list[tuple[str, tuple[int, int]]]:
    """(side, window): [0, k) for every k, [k, 1000) for every k < 1000."""
    ks = sorted(set(p["content_k"]))
    return [("early", (0, k)) for k in ks] + [("late", (k, 1000)) for k in ks if k < 1000]


def _stages(p: dict, seed: int) -> pipeline.Artifact:
    return pipeline.gradient_stages(pipeline.teacher(p["teacher"]), dataset=p["dataset"],
                                    batch_size=p["importance_batch"], stride=p["timestep_stride"], seed=seed,
                                    stages=content_stages(p))


def stages_record(p: dict, seed: int) -> dict:
    """The walk of one seed (visited t and L_t; its gradients are bulk)."""
    return _stages(p, seed).result("stages.json")


def _content_models(p: dict, seed: int, window) -> list[tuple[int, pipeline.Artifact]]:
    """(finetune steps, model) along the repair axis: the window's prune at each checkpoint of one
    short finetune (0: the prune itself)."""
    t = pipeline.teacher(p["teacher"])
    model = pipeline.pruned_in_window(t, _stages(p, seed), window, method="diff-pruning", ratio=p["ratio"])
    checkpoints = p["content_repair_steps"]
    # warm-up scaled with the finetune's length, as the profile's finetune_warmup is for finetune_steps;
    # one warm-up for every checkpoint, so that each is a prefix of the longest run
    warmup = round(p["finetune_warmup"] * checkpoints[-1] / p["finetune_steps"])
    return [(steps, pipeline.finetuned(model, dataset=p["dataset"], steps=steps, batch_size=p["finetune_batch"],
                                       lr=p["finetune_lr"], warmup_steps=warmup, seed=seed,
                                       passing=tuple(c for c in checkpoints if c < steps)))
            for steps in checkpoints]


def content_row(p: dict, seed: int, side: str, window) -> list[dict]:
    """The window's prune compared with the teacher at each checkpoint of its short finetune."""
    t = pipeline.teacher(p["teacher"])
    k = window[1] if side == "early" else window[0]
    return [{"row": f"{side} k={k} finetune={steps}", "side": side, "k": k, "window": list(window),
             "finetune_steps": steps, **evaluation.agreement(model, t, p, seed, p["content_samples"])}
            for steps, model in _content_models(p, seed, window)]


def sweep_teachers(p: dict, sweep: str) -> list[dict]:
    """The teachers of one costly sweep (content vs detail, or the ablations): the study's, or every one."""
    return evaluation.every_teacher(p) if sweep in p["sweeps_on_more_teachers"] else [p]


def candidate_row(p: dict, method: str, ratio: float) -> dict:
    """One unfinetuned prune of the whole range at a candidate ratio (first content seed) against the
    teacher: why the repair axis — at this teacher size no prune stays near its teacher unfinetuned."""
    seed = p["content_seeds"][0]
    t = pipeline.teacher(p["teacher"])
    if method == "diff-pruning":  # from the seed's walk: the channels of a full prune at T = 0, no new walk
        model = pipeline.pruned_in_window(t, _stages(p, seed), (0, 1000), method=method, ratio=ratio)
    else:
        model = evaluation.pruned_model({**p, "ratio": ratio}, method, seed)
    return {"row": f"{method} r={ratio:g}", "method": method, "ratio": ratio, **pipeline.size(model),
            "macs_teacher": pipeline.size(t)["macs"],
            **evaluation.agreement(model, t, p, seed, p["content_samples"])}


def content_work(p: dict) -> list:
    # the walks first, so that parallel jobs do not wait on one another's walk
    return ([(stages_record, (q, s)) for q in sweep_teachers(p, "content") for s in p["content_seeds"]]
            + [(content_row, (q, s, side, w)) for q in sweep_teachers(p, "content") for s in p["content_seeds"]
               for side, w in content_windows(p)]
            + [(candidate_row, (p, m, r)) for m in CANDIDATE_METHODS for r in p["content_candidates"]])


CANDIDATE_METHODS = ("magnitude", "diff-pruning")


def candidate_table(p: dict):
    """Ratio × method: MACs of the teacher's, SSIM and Cohen's kappa to the teacher, unfinetuned."""
    import pandas as pd
    rows = [candidate_row(p, m, r) for m in CANDIDATE_METHODS for r in p["content_candidates"]]
    out = pd.DataFrame({(r["method"], r["ratio"]): {
        "MACs": f"x{r['macs'] / r['macs_teacher']:.2f}",
        "SSIM": evaluation.ci_text(r["ssim"], r["ssim_low"], r["ssim_high"], 2),
        "Cohen's κ": "–" if r["kappa"] is None else evaluation.ci_text(r["kappa"], r["kappa_low"], r["kappa_high"], 2)}
        for r in rows}).T
    out.index.names = ["method", "ratio"]
    return out, max(r["ssim"] for r in rows)


def content_raw(p: dict) -> list[dict]:
    """Every content-vs-detail row of the profile's teacher, one per window, checkpoint and seed."""
    return [r for s in p["content_seeds"] for side, w in content_windows(p) for r in content_row(p, s, side, w)]


def content_rows(p: dict):
    """The content-vs-detail rows summarised over the seeds."""
    return evaluation.summarize(content_raw(p))


def repository_ssim() -> dict[str, dict[int, float]]:
    """The official repository's SSIM against stage k (its numbers: [0, k), no finetuning)."""
    return {name: {int(k): float(v) for k, v in r["ssim_vs_stage"].items()}
            for name, r in repository_curves().items() if "ssim_vs_stage" in r}


CONTENT_METRICS = {"ssim": "SSIM", "detail": "edge SSIM (detail)", "kappa": "Cohen's κ (content)"}
JUDGED = ("detail", "kappa")  # the division of labour: [0, k) better on detail, worse on content


def ssim_table(summary):
    """k × checkpoint: the two windows' mean SSIM to the teacher, `[0, k) / [k, 1000)`."""
    import pandas as pd
    part = summary.set_index(["side", "k", "finetune_steps"])["ssim"]
    ks = sorted(summary["k"].unique())
    steps = sorted(summary["finetune_steps"].unique())
    out = pd.DataFrame({after(n): {k: " / ".join("–" if (side, k, n) not in part.index else f"{part[(side, k, n)]:.2f}"
                                                 for side in ("early", "late")) for k in ks} for n in steps})
    out.index.name = "k"
    return out


def after(steps: int) -> str:
    return "no finetune" if steps == 0 else f"after {steps} steps"


def _side(rows: list[dict], side: str, k: int, steps: int) -> list[dict]:
    return [r for r in rows if r["side"] == side and r["k"] == k and r["finetune_steps"] == steps]


def in_band(p: dict, rows: list[dict], k: int, steps: int) -> bool:
    """Whether both windows' mean SSIM to the teacher lies in `content_ssim_band`: where models are
    neither noise nor copies of the teacher, so windows can differ."""
    low, high = p["content_ssim_band"]
    means = [np.mean([r["ssim"] for r in _side(rows, side, k, steps)] or [np.nan]) for side in ("early", "late")]
    return all(low <= m <= high for m in means)


def content_comparisons(p: dict, rows: list[dict]) -> list[tuple[int, int, bool, verdicts.Verdict]]:
    """(k, checkpoint, `in_band`, verdict): at each k and checkpoint, [0, k) against [k, 1000) on detail
    and content (kappa), paired by seed. The paper's division of labour predicts [0, k) *better* on
    detail and *worse* on content."""
    out = []
    for steps in sorted({r["finetune_steps"] for r in rows}):
        for k in sorted({r["k"] for r in rows}):
            early, late = _side(rows, "early", k, steps), _side(rows, "late", k, steps)
            band = in_band(p, rows, k, steps)
            for metric in JUDGED:
                if early and late and all(r.get(metric) is not None for r in early + late):
                    out.append((k, steps, band, verdicts.across_seeds(
                        early, late, metric, p["equivalence_margins"], a=f"[0, {k})", b=f"[{k}, 1000)",
                        where=after(steps))))
    return out


def division_of_labour(found: list[verdicts.Verdict]) -> dict[str, list[str]]:
    """Each (k, checkpoint) by what its two verdicts say of the paper's division of labour — [0, k)
    keeps more detail *and* [k, 1000) more content, both beyond the paired interval: `holds`,
    `reversed` (both the other way), `equivalent` (both within their margins), `mixed` (the rest)."""
    kinds: dict[tuple[str, str], dict[str, verdicts.Kind]] = {}
    for v in found:
        kinds.setdefault((v.a, v.where), {})[v.metric] = v.kind
    B, W, E = verdicts.Kind.BETTER, verdicts.Kind.WORSE, verdicts.Kind.EQUIVALENT
    out: dict[str, list[str]] = {"holds": [], "reversed": [], "equivalent": [], "mixed": []}
    for (a, where), k in kinds.items():
        detail, content = k.get("detail"), k.get("kappa")
        reading = ("holds" if (detail, content) == (B, W) else "reversed" if (detail, content) == (W, B)
                   else "equivalent" if detail is E and content is E else "mixed")
        out[reading].append(f"{a}, {where}")
    return out


def content_previews(p: dict, summary) -> dict:
    """First samples of the teacher and of the prunes from the shortest and the longest early and
    late windows, right after pruning and at the last checkpoint (`+steps`), same noise (the first seed)."""
    seed = p["content_seeds"][0]
    named = {"teacher": evaluation.samples_of(pipeline.teacher(p["teacher"]), p, seed,
                                              p["content_samples"]).preview()}
    for side in ("early", "late"):
        ks = sorted(int(k) for k in summary[summary["side"] == side]["k"].unique())
        for k in dict.fromkeys([ks[0], ks[-1]]) if ks else ():
            window = (0, k) if side == "early" else (k, 1000)
            models = _content_models(p, seed, window)
            for n, model in dict.fromkeys([models[0], models[-1]]):
                label = f"[{window[0]}, {window[1]})" + (f" +{n}" if n else "")
                named[label] = evaluation.samples_of(model, p, seed, p["content_samples"]).preview()
    return named


def content_section(p: dict) -> dict:
    """Figure, tables and the answer of the content-vs-detail sweep of the profile's teacher."""
    from .. import plots
    raw = content_raw(p)
    summary = evaluation.summarize(raw)
    compared = content_comparisons(p, raw)
    found = [v for *_, v in compared]
    band = [v for _, _, inside, v in compared if inside]
    candidates, best = candidate_table(p)
    accuracy = [r["classifier_accuracy"] for r in raw if r.get("classifier_accuracy") is not None]
    return {"summary": summary,
            "figure": plots.repair_axis(summary, compared, CONTENT_METRICS, p["content_ssim_band"], p["dataset"]),
            "ssim_table": ssim_table(summary), "candidates": candidates, "best_unfinetuned_ssim": best,
            "samples": plots.paired_samples(content_previews(p, summary), n=min(12, p["content_samples"])),
            "verdicts": verdicts.table(found), "in_band": division_of_labour(band),
            "points_in_band": len({(v.a, v.where) for v in band}), "points": len({(v.a, v.where) for v in found}),
            "classifier_accuracy": accuracy[0] if accuracy else None,
            "seeds": len(p["content_seeds"]), "n": p["content_samples"]}


# --- the threshold and the score form, after finetuning --------------------------------------------
# Rows pruned and finetuned exactly as RQ1's (`evaluation.method_row`): rows RQ1 also has are the
# same cached artifacts.

def threshold_row(p: dict, T: float, seed: int) -> dict:
    return evaluation.method_row(p, f"T={T:g}", "diff-pruning", T, seed)


def score_specs(p: dict) -> list[tuple[str, str, float, str | None]]:
    """(label, method, threshold, score) of each score form with and without the reference
    threshold. |sum w*g| without a threshold is RQ1's Taylor row: the same computation (tested), so
    the same artifact; Diff-Pruning's own score is RQ1's Diff-Pruning."""
    T = p["reference_threshold"]
    out = []
    for form in p["score_forms"]:
        for t in (T, 0.0):
            label = f"{form}, T={t:g}"
            if form == "sum" and t == 0:
                out.append((label, "taylor", None, None))
            else:
                out.append((label, "diff-pruning", t, None if form == DEFAULT_SCORE["diff-pruning"] else form))
    return out


def score_row(p: dict, label: str, method: str, threshold: float | None, score: str | None, seed: int) -> dict:
    form, _, t = label.partition(", T=")
    return {**evaluation.method_row(p, label, method, threshold, seed, score), "form": form, "T": float(t)}


def ablation_work(p: dict) -> list:
    return [job for q in sweep_teachers(p, "ablations") for s in q["ablation_seeds"]
            for job in [*((threshold_row, (q, T, s)) for T in q["ablation_thresholds"]),
                        *((score_row, (q, *spec, s)) for spec in score_specs(q))]] + [
        (threshold_verdicts, (q,)) for q in sweep_teachers(p, "ablations")]  # RQ1's seeds of the rows it shares


def threshold_table(summary):
    """T → stop t, Fréchet distance, SSIM and class agreement (with intervals), and the paper's
    FID at the same T on CIFAR-10 and CelebA-HQ (its numbers)."""
    import pandas as pd

    from ..published import paper_table
    paper = {name: {r.threshold_T: r.fid for r in paper_table(name).itertuples() if r.method == "diff-pruning"}
             for name in ("cifar10", "celeba-hq")}
    ci = evaluation.ci_text
    return pd.DataFrame({
        "T": [f"{T:g}" for T in summary["threshold"]],
        "stop t": ["never" if pd.isna(v) else f"{int(v)}" for v in summary["stop_t"]],
        f"FD ({summary['fd_metric'].iloc[0]})": [ci(r.fd, r.fd_low, r.fd_high) for r in summary.itertuples()],
        "SSIM": [ci(r.ssim, r.ssim_low, r.ssim_high, 3) for r in summary.itertuples()],
        "same class": [ci(r.content, r.content_low, r.content_high, 3) for r in summary.itertuples()],
        "paper CIFAR-10 FID": [paper["cifar10"].get(T, "–") for T in summary["threshold"]],
        "paper CelebA-HQ FID": [paper["celeba-hq"].get(T, "–") for T in summary["threshold"]],
    }).set_index("T")


def threshold_seeds(p: dict, a: float, b: float) -> list[int]:
    """The seeds a comparison of thresholds a and b is paired over, fixed by the profile: the
    ablation's seeds, and RQ1's too where RQ1 has both rows (the same artifacts), so that one
    comparison has one answer on every page."""
    paired = set(p["ablation_seeds"])
    if "diff-pruning" in p["methods"] and a in p["thresholds"] and b in p["thresholds"]:
        paired |= set(p["seeds"])
    return sorted(paired)


def threshold_comparison(p: dict, a: float, b: float, metric: str) -> verdicts.Verdict:
    """Diff-Pruning at threshold a against threshold b, paired over `threshold_seeds`."""
    paired = threshold_seeds(p, a, b)
    return verdicts.across_seeds([threshold_row(p, a, s) for s in paired], [threshold_row(p, b, s) for s in paired],
                                 metric, p["equivalence_margins"], a=f"T={a:g}", b=f"T={b:g}", where=p["dataset"])


def threshold_verdicts(p: dict) -> list[verdicts.Verdict]:
    """The reference threshold against every other threshold, paired by seed (a threshold chosen
    before the results, so no best row is picked by its value and then compared)."""
    T = p["reference_threshold"]
    if T not in p["ablation_thresholds"]:
        return []
    return [threshold_comparison(p, T, t, metric) for metric in ("fd", "ssim") for t in p["ablation_thresholds"]
            if t != T]


def threshold_section(p: dict) -> dict:
    from .. import plots
    rows = [threshold_row(p, T, s) for s in p["ablation_seeds"] for T in p["ablation_thresholds"]]
    summary = evaluation.summarize(rows)
    return {"summary": summary, "table": threshold_table(summary),
            "figure": plots.threshold_ablation(summary, p["dataset"]),
            "verdicts": threshold_verdicts(p)}


SCORE_NAMES = {"abs": "Σ|w·g|", "sum": "|Σ w·g|", "square": "Σ(w·g)²"}


def score_table(summary, reference: float):
    """Score form × (with the reference threshold, without): Fréchet distance and SSIM with intervals."""
    import pandas as pd
    ci = evaluation.ci_text
    table = {}
    for r in summary.itertuples():
        col = f"T = {r.T:g}" if r.T else "no threshold"
        table.setdefault((col, "FD"), {})[SCORE_NAMES[r.form]] = ci(r.fd, r.fd_low, r.fd_high)
        table.setdefault((col, "SSIM"), {})[SCORE_NAMES[r.form]] = ci(r.ssim, r.ssim_low, r.ssim_high, 3)
    out = pd.DataFrame(table)
    out.index.name = "score"
    return out


def score_verdicts(p: dict, rows: list[dict]) -> list[verdicts.Verdict]:
    """Paired by seed: each score form with the reference threshold against itself without one, and
    Diff-Pruning's own form (abs) against each other form at both."""
    T, m = p["reference_threshold"], p["equivalence_margins"]

    def at(form, t):
        return [r for r in rows if r["form"] == form and r["T"] == t]
    forms = list(dict.fromkeys(r["form"] for r in rows))
    out = [verdicts.across_seeds(at(f, T), at(f, 0.0), "fd", m, a=f"{SCORE_NAMES[f]}, T={T:g}",
                                 b=f"{SCORE_NAMES[f]}, T=0", where=p["dataset"])
           for f in forms if at(f, T) and at(f, 0.0) and T != 0.0]
    own = DEFAULT_SCORE["diff-pruning"]
    out += [verdicts.across_seeds(at(own, t), at(f, t), "fd", m, a=f"{SCORE_NAMES[own]}, T={t:g}",
                                  b=f"{SCORE_NAMES[f]}, T={t:g}", where=p["dataset"])
            for t in dict.fromkeys((T, 0.0)) for f in forms if f != own and at(f, t) and at(own, t)]
    return out


def score_section(p: dict) -> dict:
    rows = [score_row(p, *spec, s) for s in p["ablation_seeds"] for spec in score_specs(p)]
    summary = evaluation.summarize(rows)
    # Diff-Pruning's own form with and without the threshold is the threshold ablation's comparison:
    # paired over the same seeds (`threshold_seeds`), so that it has one answer on every page
    own, T = DEFAULT_SCORE["diff-pruning"], p["reference_threshold"]
    more = [score_row(p, *spec, s) for spec in score_specs(p) if spec[0].startswith(f"{own}, ")
            for s in threshold_seeds(p, T, 0.0) if s not in p["ablation_seeds"]]
    return {"summary": summary, "table": score_table(summary, p["reference_threshold"]),
            "verdicts": score_verdicts(p, rows + more)}


def work(p: dict) -> list:
    return map_work(p) + content_work(p) + ablation_work(p)


CHAPTER = Chapter("rq2", parameters=(
    "teacher", "dataset", "more_teachers", "ratio", "timestep_stride", "importance_batch", "seeds", "methods",
    "thresholds",
    "finetune_batch", "finetune_lr", "finetune_warmup", "finetune_steps", "sampler", "ddim_steps", "spacing",
    "classifier_epochs", "teacher_steps", "n_samples", "features", "n_reference", "n_boot", "lt_batches", "lt_stride",
    "curve_thresholds", "reference_threshold", "equivalence_margins"), own=OWN, work=work, checks=(content_stages,))
