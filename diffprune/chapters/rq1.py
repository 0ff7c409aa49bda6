"""RQ1 — the paper's Table 1: can structural pruning find redundancy without retraining?

Rows: the pretrained teacher; with `control_row`, the teacher finetuned as the pruned rows are (what
the finetune's compute does without pruning); then each of the profile's `methods` at one ratio, each finetuned
for the same steps — "scratch" (`reinit`: the pruned structure re-initialised), random, magnitude
and Taylor pruning, and Diff-Pruning once per threshold T. Columns come from the shared
evaluation layer; what is RQ1's own is the row list, the finetune share and the reading.
"""
from __future__ import annotations

from tqdm import tqdm

from .. import evaluation, evidence, pipeline, verdicts
from ..artifacts import DiffpruneError
from ..chapter import Chapter, Parameters
from ..published import paper_table

LABELS = {"reinit": "scratch"}  # the paper's name for the pruned structure trained from scratch
CONTROL_LABEL = evaluation.CONTROL_LABEL


def row_specs(p: Parameters) -> list[tuple[str, str | None, float | None]]:
    """(label, method, threshold) of every row; the teacher first."""
    rows = [("pretrained", None, None)] + ([(CONTROL_LABEL, evaluation.CONTROL, None)] if p.control_row else [])
    for m in p.methods:
        if m == "diff-pruning":
            rows += [(f"diff-pruning T={t:g}", m, t) for t in p.thresholds]
        else:
            rows.append((LABELS.get(m, m), m, None))
    return rows


def run_row(p: Parameters, label: str, method: str | None, threshold: float | None, seed: int) -> dict:
    return evaluation.method_row(p, label, method, threshold, seed)


def run(p: Parameters, progress: bool = True) -> list[dict]:
    """Every row for every seed, computing only what the study cache lacks."""
    jobs = [(label, m, t, seed) for seed in p.seeds for label, m, t in row_specs(p)]
    return [run_row(p, *job) for job in tqdm(jobs, desc="RQ1 rows", disable=not progress)]


def teacher_verdicts(p: Parameters) -> list[verdicts.Verdict]:
    """One teacher's rows and their comparisons (with one seed these compute paired bootstraps)."""
    return comparisons(p, run(p, progress=False))


def work(p: Parameters) -> list:
    teachers = evaluation.every_teacher(p)
    return [(run_row, (q, *spec, seed)) for q in teachers for seed in q.seeds
            for spec in row_specs(q)] + [(teacher_verdicts, (q,)) for q in teachers]


def reference_row(p: Parameters) -> str:
    """The Diff-Pruning row every other row is compared with: fixed by the profile before any result,
    not the best row found afterwards (which would favour Diff-Pruning by selection)."""
    return f"diff-pruning T={p.reference_threshold:g}"


def _reference_is_a_row(p: Parameters) -> None:
    if "diff-pruning" in p.methods and p.reference_threshold not in p.thresholds:
        raise DiffpruneError(f"reference_threshold {p.reference_threshold:g} is not one of thresholds "
                             f"{p.thresholds}: RQ1 compares the other rows with that Diff-Pruning row")


CHAPTER = Chapter("rq1", parameters=(
    "teacher", "dataset", "more_teachers", "teacher_steps", "methods", "extensions", "ratio", "thresholds",
    "timestep_stride",
    "importance_batch", "finetune_steps", "finetune_batch", "finetune_lr", "finetune_warmup", "n_samples",
    "sampler", "ddim_steps", "spacing", "features", "n_reference", "n_boot", "seeds", "classifier_epochs",
    "reference_threshold", "equivalence_margins", "control_row"),
    work=work, checks=(_reference_is_a_row,))


def comparisons(p: Parameters, rows: list[dict], metrics: tuple[str, ...] = ("fd", "ssim"),
                where: str | None = None) -> list[verdicts.Verdict]:
    """The reference Diff-Pruning row against every other row of one teacher: on the Fréchet distance
    against each row (the teacher included), on SSIM to the teacher against the other pruned rows.
    Paired by seed over several seeds; with one seed, the Fréchet distance by a paired bootstrap over
    sample indices (a cached step that needs the two sample sets) and SSIM not at all (inconclusive, n = 1)."""
    ref = reference_row(p)
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["row"], []).append(r)
    if ref not in by:
        return []
    specs = {label: (m, t) for label, m, t in row_specs(p)}
    out, where = [], where or p.dataset
    for metric in metrics:
        for label, other in by.items():
            if label == ref or (metric != "fd" and label == "pretrained"):
                continue
            def models(seed: int, x: str = label) -> tuple:
                return evaluation.row_model(p, *specs[ref], seed), evaluation.row_model(p, *specs[x], seed)
            out.append(evaluation.compare(p, by[ref], other, metric, a=ref, b=label, where=where, models=models))
    return out


def answer(every: list[tuple[Parameters, list[dict]]]) -> str:
    """The chapter's answer in words, per teacher, from its FD verdicts: which rows the reference
    row beats, which beat it, and what the inconclusive ones could resolve."""
    parts = []
    for q, rows in every:
        found = comparisons(q, rows, metrics=("fd",))
        if not found:
            continue
        evidence.shown(found)
        by = {kind: [v for v in found if v.kind is kind] for kind in verdicts.Kind}
        said = []
        for kind, verb in ((verdicts.Kind.BETTER, "beats"), (verdicts.Kind.WORSE, "is worse than"),
                           (verdicts.Kind.EQUIVALENT, "is equivalent to")):
            if by[kind]:
                said.append(f"{verb} " + ", ".join(f"{v.b} ({v.difference:+.1f})" for v in by[kind]))
        if by[verdicts.Kind.INCONCLUSIVE]:
            said.append("cannot be told from " + ", ".join(
                f"{v.b} (these seeds resolve ±{v.resolution:.1f}, the margin is ±{v.margin:.1f})"
                for v in by[verdicts.Kind.INCONCLUSIVE]))
        parts.append(f"On {q.dataset} ({found[0].n} {'seeds' if found[0].interval == verdicts.SEEDS else 'samples'}"
                     f", FD), {found[0].a} " + "; it ".join(said) + ".")
    return " ".join(parts) + (" (Each comparison at 95 %, not adjusted for the number made.)" if parts else "")


def control_reading(every: list[tuple[Parameters, list[dict]]]) -> str:
    """Per teacher, the control against the teacher it starts from (FD paired over seeds): what the
    finetune's compute does to a model that is not pruned. Where it reads worse, the likely reason."""
    from ..train import ema_span
    parts = []
    for q, rows in every:
        control = [r for r in rows if r["row"] == CONTROL_LABEL]
        if not control:
            continue
        v = verdicts.across_seeds(control, [r for r in rows if r["row"] == "pretrained"], "fd",
                                  q.equivalence_margins, a=CONTROL_LABEL, b="pretrained", where=q.dataset)
        parts.append(verdicts.sentence(v))
        steps = evaluation.trained_steps(q)
        if v.kind is verdicts.Kind.WORSE and steps:
            # a hypothesis from the recipe, not a measurement: said as one
            parts.append(f"A finetune restarts Adam's moments and the weights' moving average: after its "
                         f"{q.finetune_steps:,} steps that average spans about its last "
                         f"{ema_span(q.finetune_steps):.0f} steps, the teacher's about its last "
                         f"{ema_span(steps):.0f} of {steps:,} (diffusers' EMA warm-up) — a likely reason, "
                         "not tested here, why a finetune can read worse than the model it starts from.")
    return " ".join(parts) or "not run in this profile."


def summarize(rows: list[dict]):
    """The table's numbers: mean over seeds, fractions of the teacher's size, finetune share."""
    s = evaluation.summarize(rows, baseline="pretrained")
    s["finetune_pct"] = [100 * f / t if t else None
                         for f, t in zip(s["finetune_steps"], s["teacher_steps"], strict=True)]
    return s


def seed_devices(rows: list[dict]) -> dict[int, list[str]]:
    """The devices each seed's samples were drawn on, from their records."""
    out: dict[int, set[str]] = {}
    for r in rows:
        out.setdefault(r["seed"], set()).add(pipeline.recorded("sample", r["samples"]).provenance()["device"])
    return {s: sorted(d) for s, d in sorted(out.items())}


def seed_spread(rows: list[dict]) -> dict | None:
    """Does the seed move the Fréchet distance more than resampling one seed's samples does? Per
    row, the standard deviation over seeds divided by the bootstrap standard error (interval width /
    3.92, mean over seeds): its median, minimum and maximum over the rows (None with one seed)."""
    import pandas as pd
    df = pd.DataFrame(rows)
    g = df.groupby("row", sort=False)
    if g["seed"].nunique().min() < 2:
        return None
    spread = g["fd"].std() / g.apply(lambda x: ((x["fd_high"] - x["fd_low"]) / 3.92).mean(), include_groups=False)
    return {"seeds": int(g["seed"].nunique().min()), "rows": len(spread), "median": float(spread.median()),
            "min": float(spread.min()), "max": float(spread.max())}


def seed_spread_table(every: list[tuple[Parameters, list[dict]]]):
    """`seed_spread` per teacher (the data set names it), as the book shows it."""
    import pandas as pd
    out = {}
    for q, rows in every:
        s = seed_spread(rows)
        if s:
            out[q.dataset] = {"seeds": s["seeds"], "rows": s["rows"],
                                 "SD over seeds / bootstrap SE (median)": f"{s['median']:.1f}",
                                 "range over rows": f"{s['min']:.1f}–{s['max']:.1f}"}
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "teacher"
    return table


def _steps(r) -> str:
    if r.method == "pretrained":
        return f"teacher: {int(r.teacher_steps):,}" if r.teacher_steps else "teacher"
    share = f" ({r.finetune_pct:.1f}%)" if r.finetune_pct is not None else ""
    return f"{int(r.finetune_steps):,}{share}"


def display_table(summary, content: bool = True):
    """The table as the book shows it (the metric and the interval kind are named in its caption);
    without `content` (no classifier accurate enough: `evaluation.content_judged`), no "same class"."""
    import pandas as pd
    ci = evaluation.ci_text
    return pd.DataFrame({
        "method": summary["row"],
        "params (M)": (summary["params"] / 1e6).map("{:.3f}".format),
        "MACs (M)": (summary["macs"] / 1e6).map("{:.1f}".format),
        "MACs ×": summary["macs_fraction"].map("{:.2f}".format),
        # labelled: the teachers page shows one seed's distance of the same teacher
        (f"FD, mean of {summary['seeds'].max()} seeds" if summary["seeds"].max() > 1 else "FD, one seed"):
            [ci(r.fd, r.fd_low, r.fd_high, 1) for r in summary.itertuples()],
        **({"FD, a seed's bootstrap (mean bounds)": [f"{r.fd_boot_low:.1f}–{r.fd_boot_high:.1f}"
                                                     for r in summary.itertuples()]}
           if summary["seeds"].min() > 1 else {}),
        "SSIM": [ci(r.ssim, r.ssim_low, r.ssim_high, 3) for r in summary.itertuples()],
        **({"same class": [ci(r.content, r.content_low, r.content_high, 3) for r in summary.itertuples()]}
           if content else {}),
        "finetune steps": [_steps(r) for r in summary.itertuples()],
        ("stop t" if summary["seeds"].max() == 1 else "stop t, over seeds"):
            [evaluation.stops_text(r.stop_ts, "never" if r.method == "diff-pruning" else "–")
             for r in summary.itertuples()],
    }).set_index("method")


def paper_display(paper_dataset: str = "cifar10"):
    """The paper's rows as the book shows them (blank where the paper reports nothing), its columns
    named in words."""
    names = {"dataset": "data set", "resolution": "resolution", "method": "method", "threshold_T": "T",
             "params_M": "params (M)", "macs_G": "MACs (G)", "fid": "FID", "ssim": "SSIM",
             "train_steps": "training steps"}
    table = paper_table(paper_dataset)
    table["train_steps"] = table["train_steps"].map(lambda v: "" if v != v else f"{v:,.0f}")  # NaN: not reported
    return table.rename(columns=names).astype(object).fillna("").set_index("method")
