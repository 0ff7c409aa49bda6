"""RQ2's first sub-study, which timesteps matter: the L_t curve and each threshold's stop t beside
the official repository's curves, and what each window of timesteps would prune (the importance
map: channel scores per window, their rank correlations, the channels each window's prune removes).
The gradients, scores and prunes come from the library (`pipeline.loss_curve`,
`pipeline.channel_scores`, `pipeline.pruned(window=...)`); the chapter is `rq2`.
"""
from __future__ import annotations

import numpy as np

from .. import evaluation, pipeline
from ..artifacts import DiffpruneError
from ..chapter import Parameters
from ..published import repository_curves
from ..threshold import stop_times


def windows(p: Parameters) -> list[tuple[int, int]]:
    """The importance map's windows: [0, T) cut into `window_size` pieces, T the teacher's timesteps."""
    t_end = pipeline.timesteps(p.teacher)
    if t_end % p.window_size:
        raise DiffpruneError(f"window_size {p.window_size} does not divide the teacher's {t_end} timesteps")
    return [(a, a + p.window_size) for a in range(0, t_end, p.window_size)]


def _window_prune(p: Parameters, window) -> pipeline.Artifact:
    return pipeline.pruned(pipeline.teacher(p.teacher), method="diff-pruning", ratio=p.ratio,
                           seed=p.seeds[0], timestep_stride=p.timestep_stride, batch_size=p.importance_batch,
                           dataset=p.dataset, window=window)


def reference_prune(p: Parameters) -> pipeline.Artifact:
    """Diff-Pruning at the reference threshold, as RQ1 prunes it (the same cached artifact)."""
    return pipeline.pruned(pipeline.teacher(p.teacher), method="diff-pruning", ratio=p.ratio,
                           seed=p.seeds[0], threshold=p.reference_threshold,
                           timestep_stride=p.timestep_stride, batch_size=p.importance_batch,
                           dataset=p.dataset)


def _scores(p: Parameters, window) -> pipeline.Artifact:
    return pipeline.channel_scores(pipeline.teacher(p.teacher), method="diff-pruning", window=window,
                                   stride=p.timestep_stride, dataset=p.dataset,
                                   batch_size=p.importance_batch, seed=p.seeds[0])


def window_result(p: Parameters, window) -> dict:
    """Channel scores (no pruning) and the channels a prune from this window alone removes."""
    return {"window": list(window), "scores": _scores(p, window).result("channel_scores.json")["scores"],
            "removed": pipeline.removed(_window_prune(p, window))}


def reference_removed(p: Parameters) -> dict[str, list[int]]:
    return pipeline.removed(reference_prune(p))


def map_work(p: Parameters) -> list:
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
    """Where T stops the walk on our mean curve (`stop`, None: never within the teacher's timesteps), the stop t on
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


def curve_section(p: Parameters) -> dict:
    """Figure, table and reading of the L_t curve of the profile's teacher."""
    from .. import plots
    c = evaluation.lt_curve(p)
    repo = {name: r["relative_loss_at_t"] for name, r in repository_curves().items()}
    stops = stop_times(c["t"], evaluation.mean_lt(c), p.curve_thresholds)
    return {"curve": c, "figure": plots.loss_curves(c["t"], c["loss"], stops, repo, p.dataset),
            "table": stop_table(c, p.curve_thresholds),
            "stop": curve_stop(c, p.reference_threshold), "timesteps": pipeline.timesteps(p.teacher)}


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


def map_section(p: Parameters) -> dict:
    """The heat maps and the numbers (`map_numbers`) of the importance map of the profile's teacher."""
    from .. import plots
    results = [window_result(p, w) for w in windows(p)]
    labels = [f"{a}–{b}" for a, b in windows(p)]
    rho = spearman_matrix(results)
    reference = reference_removed(p)
    overlap = jaccard_by_block(results, reference)
    name = p.dataset
    return {
        "rho": plots.heatmap(rho, labels, labels, f"{name}: Spearman ρ between windows' channel scores",
                             "Spearman ρ", vmin=-1, vmax=1),
        "jaccard": plots.heatmap(overlap.to_numpy(), list(overlap.index), labels,
                                 f"{name}: kept channels shared with Diff-Pruning at T = {p.reference_threshold:g}",
                                 "Jaccard", vmin=0, vmax=1),
        "numbers": map_numbers(results, rho, kept_jaccard(results, reference), removed_share(results))}

