"""RQ1 — the paper's Table 1: can structural pruning find redundancy without retraining?

Rows: the pretrained teacher; "scratch" (the pruned structure re-initialised and trained for
the same finetuning steps); random, magnitude and Taylor pruning; Diff-Pruning at each threshold
T. Every pruned row is finetuned for the same steps. Columns: params, MACs, Fréchet distance
with its bootstrap CI, SSIM consistency with the teacher (same noise), content consistency, and
finetuning steps as a percentage of the teacher's training steps.
"""
from __future__ import annotations

from tqdm import tqdm

from . import pipeline

ROWS = [("pretrained", None, None), ("scratch", "reinit", None), ("random", "random", None),
        ("magnitude", "magnitude", None), ("taylor", "taylor", None)]


def row_specs(p: dict) -> list[tuple[str, str | None, float | None]]:
    return ROWS + [(f"diff-pruning T={t:g}", "diff-pruning", t) for t in p["thresholds"]]


def shared(p: dict):
    """The artifacts every row uses: teacher, its samples, the classifier."""
    t = pipeline.teacher(p["teacher"])
    s = _samples(t, p, p["seeds"][0])
    clf = pipeline.classifier(p["dataset"], epochs=p["classifier_epochs"]) if p["classifier_epochs"] else None
    return t, s, clf


def _samples(model, p, seed):
    return pipeline.samples(model, n=p["n_samples"], seed=seed, steps=p["ddim_steps"], spacing=p["spacing"])


def run_row(p: dict, label: str, method: str | None, threshold: float | None, seed: int) -> dict:
    t, _, clf = shared(p)
    teacher_samples = _samples(t, p, seed)
    if method is None:
        model, steps = t, 0
        report = None
    else:
        pr = pipeline.pruned(t, method=method, ratio=p["ratio"], seed=seed, threshold=threshold or 0.0,
                             timestep_stride=p["timestep_stride"], batch_size=p["importance_batch"],
                             dataset=p["dataset"])
        model = pipeline.finetuned(pr, dataset=p["dataset"], steps=p["finetune_steps"],
                                   batch_size=p["finetune_batch"], lr=p["finetune_lr"],
                                   warmup_steps=p["finetune_warmup"], seed=seed)
        steps = p["finetune_steps"]
        report = pipeline.read_json(pr.path, "prune_report.json")
    s = teacher_samples if method is None else _samples(model, p, seed)
    fd = pipeline.fd(s, dataset=p["dataset"], split="test", features=p["features"],
                     n_reference=p["n_reference"], n_boot=p["n_boot"])
    cons = pipeline.consistency(teacher_samples, s, clf)
    from .cost import count_macs, count_params
    from .models import load_unet
    unet = load_unet(model.path)
    return {"row": label, "method": method or "pretrained", "threshold": threshold, "seed": seed,
            "params": count_params(unet), "macs": count_macs(unet),
            "fd": fd["value"], "fd_low": fd["ci_low"], "fd_high": fd["ci_high"], "fd_metric": fd["metric"],
            "ssim": cons["ssim"]["value"], "ssim_low": cons["ssim"]["ci_low"], "ssim_high": cons["ssim"]["ci_high"],
            "content": cons.get("content", {}).get("value"), "content_low": cons.get("content", {}).get("ci_low"),
            "content_high": cons.get("content", {}).get("ci_high"),
            "finetune_steps": steps, "teacher_steps": p.get("teacher_steps") or pipeline.teacher_steps(t),
            "stop_t": report["stop_t"] if report else None,
            "grad_timesteps": report["grad_timesteps"] if report else None,
            "samples": s.path.name, "model": model.path.name}


def run(p: dict, progress: bool = True) -> list[dict]:
    """Every row for every seed, computing what the cache lacks."""
    shared(p)
    jobs = [(label, m, t, seed) for seed in p["seeds"] for label, m, t in row_specs(p)]
    return [run_row(p, *job) for job in tqdm(jobs, desc="RQ1 rows", disable=not progress)]


def paired_images(rows: list[dict], seed: int, n: int = 12) -> dict:
    """The first n samples of each row for one seed: same noise index, one model per row."""
    from .sample import load_samples
    from .study import study_dir
    return {r["row"]: load_samples(study_dir() / "sample" / r["samples"] / "samples.npz")[0][:n]
            for r in rows if r["seed"] == seed}


def summarize(rows: list[dict]):
    """One line per row label: mean over seeds; the CI is the bootstrap one for a single seed and
    the Student-t one over seeds otherwise."""
    import pandas as pd

    from .uncertainty import mean_ci
    df = pd.DataFrame(rows)
    base = df[df["method"] == "pretrained"].iloc[0]
    out = []
    for label, g in df.groupby("row", sort=False):
        r = g.iloc[0].to_dict()
        for m in ("fd", "ssim", "content"):
            if len(g) > 1 and g[m].notna().all():
                ci = mean_ci(g[m].tolist())
                r[m], r[f"{m}_low"], r[f"{m}_high"] = ci["mean"], ci["ci_low"], ci["ci_high"]
        r["seeds"] = len(g)
        r["params_fraction"] = r["params"] / base["params"]
        r["macs_fraction"] = r["macs"] / base["macs"]
        steps = r["teacher_steps"]
        r["finetune_pct"] = 100 * r["finetune_steps"] / steps if steps else None
        out.append(r)
    return pd.DataFrame(out)


def _steps(r) -> str:
    if r.method == "pretrained":
        return f"teacher: {int(r.teacher_steps)}" if r.teacher_steps else "teacher"
    return f"{int(r.finetune_steps)} ({r.finetune_pct:.1f}%)" if r.finetune_pct is not None else f"{int(r.finetune_steps)}"


def reading(summary) -> str:
    """One honest sentence about the table: does Diff-Pruning beat Taylor and random beyond the CIs?"""
    by = {r["row"]: r for r in summary.to_dict("records")}
    dp = [r for k, r in by.items() if k.startswith("diff-pruning")]
    if not dp or "taylor" not in by:
        return ""
    best = min(dp, key=lambda r: r["fd"])
    parts = []
    for other in ("taylor", "random", "magnitude", "scratch"):
        o = by.get(other)
        if o is None:
            continue
        if best["fd_high"] < o["fd_low"]:
            verdict = "better, with non-overlapping 95% intervals"
        elif o["fd_high"] < best["fd_low"]:
            verdict = "worse, with non-overlapping 95% intervals"
        else:
            verdict = "not distinguishable: the 95% intervals overlap"
        parts.append(f"vs {other} ({o['fd']:.2f}): {verdict}")
    return (f"The best Diff-Pruning row ({best['row']}, {best['fd_metric']} {best['fd']:.2f}) is " +
            "; ".join(parts) + ".")


def display_table(summary):
    """The table as the book shows it."""
    import pandas as pd

    def ci(v, lo, hi, digits):
        if v is None or pd.isna(v):
            return "–"
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    metric = summary["fd_metric"].iloc[0]
    return pd.DataFrame({
        "method": summary["row"],
        "params (M)": (summary["params"] / 1e6).map("{:.3f}".format),
        "MACs (M)": (summary["macs"] / 1e6).map("{:.1f}".format),
        "MACs ×": summary["macs_fraction"].map("{:.2f}".format),
        f"{metric} [95% CI]": [ci(r.fd, r.fd_low, r.fd_high, 2) for r in summary.itertuples()],
        "SSIM [95% CI]": [ci(r.ssim, r.ssim_low, r.ssim_high, 3) for r in summary.itertuples()],
        "same class [95% CI]": [ci(r.content, r.content_low, r.content_high, 3) for r in summary.itertuples()],
        "finetune steps": [_steps(r) for r in summary.itertuples()],
        "stop t": ["–" if pd.isna(r.stop_t) else f"{int(r.stop_t)}" for r in summary.itertuples()],
    }).set_index("method")


def paper_table(dataset: str = "cifar10"):
    """The paper's Table 1 rows for one data set, from data/paper/paper_tables.csv."""
    import pandas as pd

    from .data import DATA_DIR
    df = pd.read_csv(DATA_DIR / "paper" / "paper_tables.csv", comment="#")
    return df[df["dataset"] == dataset].reset_index(drop=True)


def paper_display(dataset: str = "cifar10"):
    """The paper's rows as the book shows them (blank where the paper reports nothing)."""
    return paper_table(dataset).astype(object).fillna("").set_index("method")
