"""RQ2 — which timesteps matter: the L_t curve and the threshold's stop t, and what each window of
timesteps would prune (the importance map).

What is RQ2's own: its windows, the stop-t table beside the official repository's curves, and the
comparisons between windows. The gradients, scores and prunes come from the library
(`pipeline.loss_curve`, `pipeline.channel_scores`, `pipeline.pruned(window=...)`).
"""
from __future__ import annotations

import numpy as np

from .. import evaluation, pipeline
from ..chapter import Chapter
from ..paths import PAPER_DIR
from ..profiles import Parameter, integer, is_number, list_of
from ..threshold import stop_index

OWN = {
    "lt_batches": Parameter("an integer >= 1: fixed batches of the L_t curve", integer(1)),
    "lt_stride": Parameter("an integer in [1, 1000]: the L_t curve visits every k-th timestep", integer(1, 1000)),
    "curve_thresholds": Parameter("a list of thresholds in (0, 1) marked on the L_t curve",
                                  list_of(lambda t: is_number(t) and 0 < t < 1)),
    "window_size": Parameter("an integer in [1, 1000] that divides 1000: the importance map's windows",
                             lambda v: integer(1, 1000)(v) and 1000 % v == 0),
    "reference_threshold": Parameter("a threshold in [0, 1): the Diff-Pruning prune the windows are compared with",
                                     lambda v: is_number(v) and 0 <= v < 1),
}


def windows(p: dict) -> list[tuple[int, int]]:
    return [(a, a + p["window_size"]) for a in range(0, 1000, p["window_size"])]


def _curve(p: dict) -> pipeline.Artifact:
    return pipeline.loss_curve(pipeline.teacher(p["teacher"]), dataset=p["dataset"], n_batches=p["lt_batches"],
                               batch_size=p["importance_batch"], stride=p["lt_stride"], seed=p["seeds"][0])


def curve(p: dict) -> dict:
    """{t, loss: one row per fixed batch} of the teacher's L_t."""
    return _curve(p).read_json("loss_curve.json")


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
    return {"window": list(window), "scores": _scores(p, window).read_json("channel_scores.json")["scores"],
            "removed": pipeline.removed(_window_prune(p, window))}


def compute(p: dict) -> dict:
    """CPU (or GPU) time of the artifacts this chapter made for one teacher, and the devices."""
    arts = [_curve(p), *(a for w in windows(p) for a in (_scores(p, w), _window_prune(p, w)))]
    records = [a.compute() for a in arts]
    return {"hours": sum(r["wall_time_s"] for r in records) / 3600,
            "devices": sorted({r["device"] for r in records}), "artifacts": len(records)}


def reference_removed(p: dict) -> dict[str, list[int]]:
    return pipeline.removed(reference_prune(p))


def work(p: dict) -> list:
    return [job for q in evaluation.every_teacher(p)
            for job in [(curve, (q,)), (reference_removed, (q,)), *((window_result, (q, w)) for w in windows(q))]]


CHAPTER = Chapter("rq2", parameters=(
    "teacher", "dataset", "more_teachers", "ratio", "timestep_stride", "importance_batch", "seeds"),
    own=OWN, work=work)


# --- the L_t curve and the stop t -----------------------------------------------------------------

def stop_times(t: list[int], losses: list[float], thresholds: list[float]) -> dict[float, int | None]:
    """The stop t of each threshold on one curve (None: the rule never fires within it)."""
    out = {}
    for T in thresholds:
        i = stop_index(losses, T)
        out[T] = None if i is None else t[i]
    return out


def repository_curves() -> dict:
    """The official repository's recorded curves and stop t, by data set (its numbers, not ours)."""
    import pandas as pd
    df = pd.read_csv(PAPER_DIR / "timestep_experiment.csv", comment="#", dtype=str)
    out = {}
    for (dataset, kind), g in df.groupby(["dataset", "kind"]):
        out.setdefault(dataset, {})[kind] = dict(zip(g["key"], g["value"], strict=True))
    return out


def mean_curve(c: dict) -> list[float]:
    return np.mean(c["loss"], axis=0).tolist()


def stop_table(c: dict, thresholds: list[float]):
    """T → stop t: ours on the mean curve and the range over the fixed batches, beside the
    official repository's CIFAR-10 and CelebA-HQ curves."""
    import pandas as pd
    ours = stop_times(c["t"], mean_curve(c), thresholds)
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


def curve_reading(c: dict, dataset: str, T: float) -> str:
    """Where our stop t for T falls against the repository's two curves."""
    ours = stop_times(c["t"], mean_curve(c), [T])[T]
    repo = {name: int(r["stop_t_for_threshold"][f"{T:g}"]) for name, r in repository_curves().items()
            if r["stop_t_for_threshold"].get(f"{T:g}", "").isdigit()}
    if ours is None:
        return f"On {dataset}, T = {T:g} never stops the walk within t < 1000."
    if not repo:
        return f"On {dataset}, T = {T:g} stops the walk at t = {ours} (the repository records no curve stop for it)."
    lo, hi = min(repo.values()), max(repo.values())
    where = ("earlier than on both of the repository's curves" if ours < lo else
             "later than on both of the repository's curves" if ours > hi else
             "between the repository's two curves")
    names = ", ".join(f"{k} {v}" for k, v in repo.items())
    return f"On {dataset}, T = {T:g} stops the walk at t = {ours}: {where} ({names})."


def curve_section(p: dict) -> dict:
    """Figure, table and reading of the L_t curve of the profile's teacher."""
    from .. import plots
    c = curve(p)
    repo = {name: r["relative_loss_at_t"] for name, r in repository_curves().items()}
    stops = stop_times(c["t"], mean_curve(c), p["curve_thresholds"])
    return {"curve": c, "figure": plots.loss_curves(c["t"], c["loss"], stops, repo, p["dataset"]),
            "table": stop_table(c, p["curve_thresholds"]),
            "reading": curve_reading(c, p["dataset"], p["reference_threshold"])}


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


def share_reading(share) -> str:
    """Whether the windows differ in how much of each block they remove, computed."""
    spread = (share.max(axis=1) - share.min(axis=1)).max()
    if spread < 1e-9:
        return (f"Every window removes the same share of each block ({share.min().min():.2f}–{share.max().max():.2f} "
                "by block): at one local ratio the pruned widths are fixed, and the windows differ only in which "
                "channels they remove.")
    return f"The windows differ in how much of a block they remove by up to {spread:.2f} of its channels."


def map_reading(results: list[dict], rho: np.ndarray, jaccard: list[float], T: float) -> str:
    """What the map says, computed: neighbour agreement, first against last, the window closest to T."""
    n = len(results)
    label = [f"[{r['window'][0]}, {r['window'][1]})" for r in results]
    best = int(np.argmax(jaccard))
    text = []
    if n > 2:
        neighbours = float(np.mean(np.diag(rho, 1)))
        text.append(f"Neighbouring windows rank channels with mean Spearman ρ {neighbours:.2f}; the first and last "
                    f"window {'less alike' if rho[0, -1] < neighbours else 'as alike or more'} (ρ {rho[0, -1]:.2f}).")
    elif n == 2:
        text.append(f"The two windows' rankings correlate with Spearman ρ {rho[0, 1]:.2f}.")
    text.append(f"The window whose choice of channels is closest to Diff-Pruning's at T = {T:g} is {label[best]} "
                f"(Jaccard {jaccard[best]:.2f} of kept channels; {label[-1]}: {jaccard[-1]:.2f}).")
    return " ".join(text)


def map_section(p: dict) -> dict:
    """The three heat maps and the reading of the importance map of the profile's teacher."""
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
        "reading": " ".join([map_reading(results, rho, kept_jaccard(results, reference), p["reference_threshold"]),
                             share_reading(removed_share(results))])}
