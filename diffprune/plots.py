"""Figures of the book. Each takes data (arrays, tables) and returns a matplotlib Figure.

Figures are closed before they are returned, so that a notebook shows them only where it glues
or displays them (a closed figure still renders).
"""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

# How the book shows a figure: saved at DPI and scaled down to the content column's COLUMN_PX (the
# article's figure width in a 1280-px window) when wider. No text may show smaller than MIN_TEXT_PX.
DPI, COLUMN_PX, MIN_TEXT_PX = 100, 672, 9.0
MAX_WIDTH_IN = COLUMN_PX / DPI  # wider figures are only scaled down by the browser, with their text
MAX_STACKED = 4  # panels side by side restacked one per row; a larger grid is tiles, scaled instead


def _texts(fig) -> list:
    return [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
            if t.get_visible() and t.get_text().strip()]


def displayed_px(fig, points: float) -> float:
    """How tall text of `points` shows in the book: pt → px at DPI, times the column's scaling."""
    return points * min(DPI, COLUMN_PX / fig.get_size_inches()[0]) / 72


def smallest_text_px(fig) -> float:
    return min((displayed_px(fig, t.get_fontsize()) for t in _texts(fig)), default=float("inf"))


def _one_column(fig) -> bool:
    """Panels side by side (one `subplots` grid, nothing else in the figure) restacked one under the
    other at the column's width, each keeping its height: side by side they would be scaled down
    with their text. False where the figure is not such a grid (it is then scaled as a whole)."""
    specs = [ax.get_subplotspec() for ax in fig.axes]
    if len(specs) < 2 or any(s is None for s in specs) or len({id(s.get_gridspec()) for s in specs}) != 1:
        return False
    rows, cols = specs[0].get_gridspec().get_geometry()
    if cols < 2:
        return False
    height = fig.get_size_inches()[1] / rows
    panels = [ax for ax in fig.axes if ax.axison or ax.get_images()]
    if len(panels) > MAX_STACKED:  # a grid of tiles (sample images): scaled as a whole
        return False
    def own_height(ax) -> float:  # an image keeps its aspect at the column's width, up to the panel's height
        if not ax.get_images():
            return height
        rows_px, cols_px = ax.get_images()[0].get_array().shape[:2]
        return min(height, MAX_WIDTH_IN * rows_px / cols_px + 0.4)  # + its title
    heights = [own_height(ax) for ax in panels]
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    for i, ax in enumerate(panels):
        ax.set_subplotspec(grid[i])
        ax.tick_params(labelleft=True, labelbottom=True)  # a shared axis hid them beside or below another
    for ax in fig.axes:
        if ax not in panels:
            fig.delaxes(ax)  # an empty slot of the grid
    fig.set_size_inches(MAX_WIDTH_IN, sum(heights))
    return True


def _done(fig):
    """Every figure ends here: at most the column's width (side-by-side panels restacked, anything
    else scaled to it, aspect kept, since the browser would shrink it and its text anyway), then
    every text raised to show at least MIN_TEXT_PX, then laid out."""
    width, height = fig.get_size_inches()
    if width > MAX_WIDTH_IN and not _one_column(fig):
        fig.set_size_inches(MAX_WIDTH_IN, height * MAX_WIDTH_IN / width)
    least = MIN_TEXT_PX * 72 / min(DPI, COLUMN_PX / fig.get_size_inches()[0])
    for t in _texts(fig):
        if t.get_fontsize() < least:
            t.set_fontsize(least)
    fig.set_dpi(DPI)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _tiles(images: np.ndarray, ncol: int) -> np.ndarray:
    import torch
    from torchvision.utils import make_grid
    tiles = make_grid(torch.from_numpy(images).permute(0, 3, 1, 2), nrow=ncol, padding=2, pad_value=255)
    return tiles.permute(1, 2, 0).numpy()


def _show_tiles(ax, tiles: np.ndarray, title: str | None) -> None:
    ax.imshow(tiles, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)


def image_grid(images: np.ndarray, title: str | None = None, ncol: int = 16, scale: float = 0.45):
    """uint8 (N, H, W, C) images as one figure."""
    tiles = _tiles(images, ncol)
    fig, ax = plt.subplots(figsize=(ncol * scale, tiles.shape[0] / tiles.shape[1] * ncol * scale + 0.4))
    _show_tiles(ax, tiles, title)
    return _done(fig)


def _loss_curve(ax, log_csv: str | Path, title: str) -> None:
    with open(log_csv) as f:
        rows = list(csv.DictReader(f))
    ax.plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("noise-prediction MSE")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)


def teacher_overview(data: np.ndarray, samples: np.ndarray, log_csv: str | Path, name: str, ncol: int = 8):
    """One teacher at a glance: training images, its samples, its loss curve."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1, 1.3]})
    _show_tiles(axes[0], _tiles(data, ncol), f"{name}: training images")
    _show_tiles(axes[1], _tiles(samples, ncol), f"{name}: teacher samples")
    _loss_curve(axes[2], log_csv, f"{name}: training loss")
    return _done(fig)


def training_curve(log_csv: str | Path, title: str = "training loss"):
    fig, ax = plt.subplots(figsize=(6, 3.2))
    _loss_curve(ax, log_csv, title)
    return _done(fig)


def learning_curve(rows: list[dict], trained: int | None, teacher_fd: float, title: str,
                   floor: float | None = None):
    """Fréchet distance (95% bootstrap interval) of the teacher's recipe retrained to each length;
    the committed teacher's own distance and length marked, and a floor no model can beat (a latent
    model's autoencoder's reconstructions) where given."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    steps = [r["steps"] for r in rows]
    fd = np.array([r["fd"] for r in rows])
    err = np.vstack([fd - [r["fd_low"] for r in rows], [r["fd_high"] for r in rows] - fd])
    ax.errorbar(steps, fd, yerr=err, marker="o", ms=4, capsize=3, label="the recipe, retrained (one run)")
    ax.axhline(teacher_fd, ls=":", color="grey", label=f"the committed teacher ({trained:,} steps)" if trained
               else "the committed teacher")
    if floor is not None:
        ax.axhline(floor, ls="--", color="black", label="the autoencoder's reconstructions (the floor)")
    ax.set_xlabel("training steps")
    ax.set_ylabel(f"{rows[0]['fd_metric']}, lower is better" if rows else "")
    ax.set_title(f"{title}: is the teacher converged?", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _done(fig)


def rq1_tradeoff(ours, paper, metric: str):
    """Quality vs MACs: our rows with 95% CIs (left), the paper's CIFAR-10 Table 1 (right)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for _, r in ours.iterrows():
        a.errorbar(r["macs_fraction"], r["fd"], yerr=[[r["fd"] - r["fd_low"]], [r["fd_high"] - r["fd"]]],
                   fmt="o", capsize=3, label=r["row"])
    a.set_xlabel("MACs / teacher's MACs")
    a.set_ylabel(f"{metric} (lower is better)")
    a.set_title(f"this study ({ours['interval'].iloc[0]})", fontsize=10)
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    base = paper[paper["method"] == "pretrained"]["macs_G"].iloc[0]
    for _, r in paper.iterrows():
        label = r["method"] + (f" T={r['threshold_T']:g}" if r["method"] == "diff-pruning" else "")
        label += f" ({int(r['train_steps'] / 1000)}k steps)" if r["method"] == "scratch" else ""
        b.plot(r["macs_G"] / base, r["fid"], "o", label=label)
    b.set_xlabel("MACs / pretrained MACs")
    b.set_ylabel("FID (Inception, 50k samples)")
    b.set_title("the paper: CIFAR-10, Table 1 (no CIs published)", fontsize=10)
    b.legend(fontsize=6)
    b.grid(alpha=0.3)
    return _done(fig)


def seed_spread(rows, summary, metric: str):
    """Each row's value per seed with that seed's bootstrap interval (thin, coloured by seed), and
    the mean over seeds with its t interval (black): is the spread between seeds wider than one
    seed's sampling noise?"""
    labels = list(summary["row"])
    seeds = sorted({r["seed"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.2))
    for j, seed in enumerate(seeds):
        mine = {r["row"]: r for r in rows if r["seed"] == seed}
        y = [i + 0.12 * (j - (len(seeds) - 1) / 2) for i in range(len(labels))]
        v = np.array([mine[k]["fd"] for k in labels])
        err = [v - [mine[k]["fd_low"] for k in labels], [mine[k]["fd_high"] for k in labels] - v]
        ax.errorbar(v, y, xerr=err, fmt="o", ms=3, lw=0.8, capsize=2, label=f"seed {seed} (bootstrap 95%)")
    mean = summary["fd"].to_numpy()
    ax.errorbar(mean, np.arange(len(labels)) + 0.35,
                xerr=[mean - summary["fd_low"].to_numpy(), summary["fd_high"].to_numpy() - mean],
                fmt="s", color="black", ms=4, capsize=3, label=f"mean ({summary['interval'].iloc[0]})")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} (lower is better)")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3, axis="x")
    return _done(fig)


def paired_samples(named: dict[str, np.ndarray], n: int = 12, scale: float = 0.55):
    """One row per model, one column per noise index: the same noise through each model."""
    names = list(named)
    first = named[names[0]]
    h, w, c = first.shape[1:]
    fig, axes = plt.subplots(len(names), n, figsize=(n * scale + 1.6, len(names) * scale * h / w + 0.3),
                             squeeze=False)
    for r, name in enumerate(names):
        for i in range(n):
            ax = axes[r][i]
            img = named[name][i]
            ax.imshow(img[..., 0] if c == 1 else img, cmap="gray" if c == 1 else None, vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return _done(fig)


def loss_curves(t, losses, stops: dict, repository: dict, title: str):
    """L_t (mean and min–max band over fixed batches) and L_t / max L with each threshold's stop t;
    the official repository's relative curves as points, labelled as its numbers."""
    losses = np.asarray(losses)
    mean = losses.mean(axis=0)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    a.fill_between(t, losses.min(axis=0), losses.max(axis=0), alpha=0.3, label=f"min–max over {len(losses)} batches")
    a.plot(t, mean, lw=1.2, label="mean")
    a.set_yscale("log")
    a.set_xlabel("timestep t")
    a.set_ylabel("L_t (noise-prediction MSE)")
    a.set_title(f"{title}: L_t", fontsize=10)
    a.legend(fontsize=7)
    b.plot(t, mean / mean.max(), lw=1.2, color="black", label="this study (mean curve)")
    for name, curve in repository.items():
        xs = sorted(curve, key=float)
        b.plot([float(x) for x in xs], [float(curve[x]) for x in xs], "o", ms=4,
               label=f"official repository, {name} (its numbers)")
    for T, stop in stops.items():
        if stop is not None:
            line = b.axvline(stop, ls="--", lw=0.8, color=plt.cm.viridis(min(T * 5, 1.0)))
            b.text(stop, 0.95, f"T={T:g}", rotation=90, fontsize=6, va="top", color=line.get_color())
    b.set_yscale("log")
    b.set_xlabel("timestep t")
    b.set_ylabel("L_t / max L")
    b.set_title("relative L_t; dashed: the stop t of each threshold T", fontsize=10)
    b.legend(fontsize=6, loc="lower left")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    return _done(fig)


def heatmap(matrix, rows: list[str], cols: list[str], title: str, label: str, vmin=None, vmax=None,
            fmt: str = "{:.2f}"):
    """A matrix with its values written in the cells."""
    matrix = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(0.6 * len(cols) + 2.5, 0.4 * len(rows) + 1.6))
    im = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", fontsize=6,
                    color="white" if matrix[i, j] < np.nanmean(matrix) else "black")
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(title, fontsize=10)
    return _done(fig)


def repair_axis(summary, compared: list, metrics: dict[str, str], band: list[float], title: str, t_end: int):
    """Content versus detail along the finetune: left, each window's SSIM to the teacher at each
    checkpoint (the band where windows are read shaded); then, per judged metric, the paired
    difference [0, k) − [k, t_end) (the teacher's timesteps) with its interval over seeds, one line
    per k, the equivalence margin shaded; hollow points lie outside the band. `compared`: (k, steps,
    in band, Verdict)."""
    judged = list(dict.fromkeys(v.metric for *_, v in compared))
    fig, axes = plt.subplots(1, 1 + len(judged), figsize=(4.3 * (1 + len(judged)), 3.9), squeeze=False)
    ks = sorted(summary["k"].unique())
    shade = dict(zip(ks, np.linspace(0.45, 0.95, len(ks)), strict=True))
    ax = axes[0][0]
    ax.axhspan(*band, color="green", alpha=0.07, label=f"read where both windows lie in {band[0]:g}–{band[1]:g}")
    for (side, k), g in summary.groupby(["side", "k"], sort=True):
        g = g.sort_values("finetune_steps")
        colour = (plt.cm.Blues if side == "early" else plt.cm.Oranges)(shade[k])
        label = f"[0, {k})" if side == "early" else f"[{k}, {t_end})"
        ax.plot(g["finetune_steps"], g["ssim"], "-" if side == "early" else "--", marker="o", ms=3, color=colour,
                label=label)
    ax.set_xlabel("finetune steps")
    ax.set_ylabel(metrics["ssim"])
    ax.set_title(f"{title}: SSIM to the teacher", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    for ax, metric in zip(axes[0][1:], judged, strict=True):
        points = [(k, s, inside, v) for k, s, inside, v in compared if v.metric == metric]
        margin = max(v.margin for *_, v in points)
        dodge = 0.012 * max(s for _, s, _, _ in points)  # the k's intervals side by side, not on top
        ax.axhspan(-margin, margin, color="grey", alpha=0.15, label=f"equivalence margin ±{margin:g}")
        ax.axhline(0, color="black", lw=0.8)
        for k in ks:
            mine = sorted((s, inside, v) for kk, s, inside, v in points if kk == k)
            if not mine:
                continue
            colour = plt.cm.viridis(ks.index(k) / max(len(ks) - 1, 1))
            x = np.array([s for s, _, _ in mine], dtype=float) + dodge * (ks.index(k) - (len(ks) - 1) / 2)
            ax.plot(x, [v.difference for *_, v in mine], "-", color=colour, lw=1, label=f"k = {k}")
            for xi, (_, inside, v) in zip(x, mine, strict=True):
                ax.errorbar(xi, v.difference, yerr=[[v.difference - v.low], [v.high - v.difference]], marker="o", ms=4,
                            capsize=2, color=colour, mfc=colour if inside else "white")
        predicted = "> 0" if metric == "detail" else "< 0"
        ax.set_xlabel("finetune steps")
        ax.set_ylabel(f"[0, k) − [k, {t_end}), {metrics[metric]}", fontsize=8)
        ax.set_title(f"{metrics[metric]}: the paper predicts {predicted}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    return _done(fig)


def threshold_ablation(summary, title: str):
    """Fréchet distance, SSIM and class agreement against the threshold T after finetuning, with
    their intervals; each tick names T and the stop t it gave (a second axis in words)."""
    rows = summary.sort_values("threshold")
    x = np.arange(len(rows))
    stops = rows["stop_t"].astype(float)
    ticks = [f"{T:g}\n{'never' if np.isnan(t) else int(t)}" for T, t in zip(rows["threshold"], stops, strict=True)]
    panels = [("fd", f"FD ({rows['fd_metric'].iloc[0]}), lower is better"), ("ssim", "SSIM to the teacher"),
              ("content", "class agreement with the teacher")]
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6))
    for ax, (m, name) in zip(axes, panels, strict=True):
        if rows[m].notna().all():
            err = np.vstack([rows[m] - rows[f"{m}_low"], rows[f"{m}_high"] - rows[m]])
            ax.errorbar(x, rows[m], yerr=err, marker="o", ms=4, capsize=3, lw=1.2)
        ax.set_xticks(x, ticks, fontsize=7)
        ax.set_xlabel("threshold T / stop t")
        ax.set_ylabel(name, fontsize=8)
        ax.set_title(f"{title}: {name.split(',')[0]}", fontsize=10)
        ax.grid(alpha=0.3)
    return _done(fig)


def _fd_errorbar(ax, x, rows, **kw):
    err = np.vstack([rows["fd"] - rows["fd_low"], rows["fd_high"] - rows["fd"]])
    return ax.errorbar(x, rows["fd"], yerr=err, capsize=2, ms=4, lw=1.2, **kw)


def _teacher_line(ax, fd: float, within: float | None = 0.10) -> None:
    ax.axhline(fd, color="black", ls="--", lw=1, label="teacher")
    if within:
        ax.axhspan(fd, fd * (1 + within), color="black", alpha=0.08, label=f"within {within:.0%} of the teacher")


def _method_panels(summary, by: str, x, metric: str, teacher_fd: float, width: float):
    """One panel per value of `by`, one line per method of the Fréchet distance against x(rows) with
    its 95% intervals, the teacher dashed; returns the figure and (axis, value, rows) per panel."""
    pruned = summary[summary["row"] != "teacher"]
    values = sorted(pruned[by].unique())
    cols = min(len(values), 3)  # at most three panels in a row: the book's column is narrow
    rows = -(-len(values) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 3.4 * rows), sharey=True, squeeze=False)
    for ax in axes.flat[len(values):]:
        ax.set_visible(False)
    panels = []
    for ax, v in zip(axes.flat, values, strict=False):
        here = pruned[pruned[by] == v]
        for method, g in here.groupby("method", sort=False):
            g = g.assign(_x=x(g)).sort_values("_x")
            _fd_errorbar(ax, g["_x"], g, marker="o", label=method)
        _teacher_line(ax, teacher_fd)
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        panels.append((ax, v, here))
    for row in axes:
        row[0].set_ylabel(f"{metric} (log; lower is better)")
    panels[-1][0].legend(fontsize=7)
    return fig, panels


def pareto(summary, metric: str, teacher_fd: float):
    """Fréchet distance against MACs fraction, one panel per finetune budget, one line per method."""
    fig, panels = _method_panels(summary, "steps", lambda g: g["macs_fraction"], metric, teacher_fd, 3.2)
    for ax, steps, _ in panels:
        ax.plot([1.0], [teacher_fd], "k*", ms=9)
        ax.set_xlabel("MACs / teacher's MACs")
        ax.set_title(f"after {int(steps):,} finetune steps", fontsize=10)
    return _done(fig)


def recovery_curves(summary, metric: str, teacher_fd: float, teacher_steps: int):
    """Fréchet distance against finetune steps (share of the teacher's steps), one panel per ratio."""
    fig, panels = _method_panels(summary, "ratio", lambda g: 100 * g["steps"] / teacher_steps, metric, teacher_fd,
                                 3.0)
    for ax, ratio, here in panels:
        shares = sorted(100 * here["steps"].unique() / teacher_steps)
        ax.set_xscale("symlog", linthresh=max(min(s for s in shares if s > 0), 1e-3) if len(shares) > 1 else 1)
        ax.set_xticks(shares, [f"{s:.3g}%" for s in shares], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("finetune steps, % of the teacher's")
        ax.set_title(f"ratio {ratio:g} (MACs ×{here['macs_fraction'].iloc[0]:.2f})", fontsize=10)
    return _done(fig)


def sampler_frontier(rows, frontier, metric: str, timing: str, published):
    """Left: Fréchet distance against seconds per 1,000 images for every model and sampler, the
    Pareto frontier drawn. Right: the DDIM and DPM-Solver papers' CIFAR-10 FID against steps."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    for (model, sampler), g in rows.groupby(["model", "sampler"], sort=False):
        g = g.sort_values("seconds_per_1000")
        line = _fd_errorbar(a, g["seconds_per_1000"], g, marker="o" if sampler == "ddim" else "s",
                            ls="-" if sampler == "ddim" else ":", label=f"{model}, {sampler}")
        for r in g.itertuples():
            a.annotate(str(r.sampler_steps), (r.seconds_per_1000, r.fd), fontsize=6, xytext=(3, 3),
                       textcoords="offset points", color=line[0].get_color())
    f = frontier.sort_values("seconds_per_1000")
    a.step(f["seconds_per_1000"], f["fd"], where="post", color="black", lw=2, alpha=0.35, label="Pareto frontier")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel(f"seconds per 1,000 images ({timing})")
    a.set_ylabel(f"{metric} (log; lower is better)")
    a.set_title("this study (numbers: sampler steps; 95% bootstrap CI)", fontsize=10)
    a.legend(fontsize=7)
    a.grid(alpha=0.3, which="both")
    for (source, sampler), g in published.groupby(["source", "sampler"], sort=False):
        b.plot(g["steps"], g["fid"], marker="o", label=f"{sampler} ({source})")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("sampler steps")
    b.set_ylabel("FID (Inception, 50k samples)")
    b.set_title("published: CIFAR-10 (not comparable in value)", fontsize=10)
    b.legend(fontsize=7)
    b.grid(alpha=0.3, which="both")
    return _done(fig)


def kinds_tradeoff(summaries: dict, metric: str):
    """Quality against the MACs of a whole sample (sampler steps through the UNet, plus a decode
    for a latent model), one marker per kind, every row with its 95% interval."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for kind, marker in zip(summaries, "os", strict=False):
        s = summaries[kind]
        for i, (_, r) in enumerate(s.iterrows()):
            ax.errorbar(r["sampling_macs"] / 1e6, r["fd"], yerr=[[r["fd"] - r["fd_low"]], [r["fd_high"] - r["fd"]]],
                        fmt=marker, capsize=3, color=plt.cm.tab10(i), label=f"{kind}: {r['row']}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # the kinds lie decades apart: minor labels collide
    ax.set_xlabel("MMACs per sample (UNet × sampler steps + decode)")
    ax.set_ylabel(f"{metric} (lower is better)")
    ax.set_title("both kinds on one data set and one reference", fontsize=10)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    return _done(fig)


def kinds_loss_curves(curves: dict, stops: dict):
    """L_t / max L of each kind (mean, and min–max band over its fixed batches), with each
    threshold's stop t on its mean curve."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for i, (kind, c) in enumerate(curves.items()):
        losses = np.asarray(c["loss"])
        mean = losses.mean(axis=0)
        colour = plt.cm.tab10(i)
        ax.fill_between(c["t"], losses.min(axis=0) / mean.max(), losses.max(axis=0) / mean.max(), color=colour,
                        alpha=0.2)
        ax.plot(c["t"], mean / mean.max(), lw=1.2, color=colour, label=f"{kind} (mean of {len(losses)} batches)")
        for T, stop in stops[kind].items():
            if stop is not None:
                ax.axvline(stop, ls="--" if i == 0 else ":", lw=0.8, color=colour)
                ax.text(stop, 0.9 if i == 0 else 0.3, f"T={T:g}", rotation=90, fontsize=6, va="top", color=colour)
    ax.set_yscale("log")
    ax.set_xlabel("timestep t")
    ax.set_ylabel("L_t / max L")
    ax.set_title("relative L_t; vertical lines: the stop t of each threshold T", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    return _done(fig)
