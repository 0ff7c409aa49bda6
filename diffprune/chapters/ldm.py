"""DDPM versus LDM — the paper's pruning on a latent diffusion model beside a pixel-space one.

The LDM (an autoencoder and a UNet on its latents) and the pixel-space teacher of the same data
set go through RQ1's rows: the same methods, ratio, finetune and metrics. Only the LDM's UNet is
pruned and finetuned (its autoencoder is carried byte for byte, `pipeline`), and every metric is
taken on decoded images, so the two kinds' Fréchet distances share one reference. What is the
chapter's own: which two teachers, the cost of a whole sample (UNet steps plus, for the LDM, one
decode), the two L_t curves side by side, and the reading.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import evaluation, pipeline, study, verdicts
from ..artifacts import DiffpruneError
from ..chapter import Chapter, Parameters, spec
from ..paths import in_repo
from ..plateau import PLATEAU, plateau  # noqa: F401  (PLATEAU: the chapter's reading glues it)
from ..profiles import increasing, integer, is_number, is_teacher, is_teacher_dir, list_of, parameter
from ..threshold import stop_times
from ..unet import PRESETS
from . import rq1, teachers

TRAINING = ("preset", "steps", "batch_size", "lr", "seed")
KINDS = ("DDPM", "LDM")


def _ldm_teacher(v) -> bool:
    if isinstance(v, dict):
        ae = v.get("autoencoder")
        return is_teacher(v) and isinstance(ae, dict) and all(k in ae for k in TRAINING)
    return is_teacher_dir(v) and (in_repo(v) / "vqvae" / "config.json").is_file()


def _recipe(v) -> bool:
    return (isinstance(v, dict) and set(v) == {"preset", "batch_size", "lr", "warmup_steps", "seed"}
            and v["preset"] in PRESETS and integer(1)(v["batch_size"]) and is_number(v["lr"]) and v["lr"] > 0
            and integer(0)(v["warmup_steps"]) and integer(0)(v["seed"]))


@dataclass(frozen=True)
class Own:
    """The parameters only this chapter reads (see `profiles.Profile`)."""
    ldm_teacher: str | dict = parameter(
        "a latent model directory (vqvae/, unet/ and cost.json: `autoencoder`, then `train "
        "--autoencoder`) or a dict of training parameters (dataset, preset, steps, batch_size, "
        "lr, seed) with `autoencoder`, a dict of the same keys but dataset", _ldm_teacher)
    ldm_thresholds: list[float] = parameter(
        "a list of thresholds in [0, 1): Diff-Pruning's rows of both kinds",
        list_of(lambda t: is_number(t) and 0 <= t < 1))
    ldm_seeds: list[int] = parameter(
        "a non-empty list of seeds >= 0 of both kinds' rows", list_of(integer(0)))
    ldm_recipe: dict = parameter(

"the latent teacher's training recipe for its learning curve: a dict of preset, batch_size, lr, warmup_steps "
"and seed, trained on the LDM teacher's autoencoder and data set", _recipe)
    ldm_curve_steps: list[int] = parameter(

"an increasing list of training steps >= 1 (may be empty): `ldm_recipe` trained once through these "
"lengths, each evaluated as the LDM teacher is", increasing(integer(1)))


def ldm_dataset(p: Parameters) -> str:
    spec = p.ldm_teacher
    return spec["dataset"] if isinstance(spec, dict) else pipeline.teacher(spec).result("cost.json")["dataset"]


def teachers_trained(p: Parameters, overrides: dict) -> str:
    """Whether the two kinds' teachers are trained alike, by the plateau rule on each one's learning
    curve (the pixel teacher's as *The teachers* reads it, with that chapter's parameters from the same
    profile and overrides): their pruning costs are read side by side, each against a teacher of its
    own training."""
    trained_on = ldm_dataset(p)
    pixel = [q for q in evaluation.every_teacher(spec("teachers").load(p.profile, overrides))
             if q.dataset == trained_on]
    try:  # read where The teachers recorded it, never computed for this page (hours of training)
        with study.recorded_only():
            trained = teachers.convergence(pixel[0]) if pixel else None
    except study.NotRecorded:
        trained = None
    found = {"DDPM": trained,
             "LDM": plateau([learning_row(p, s) for s in p.ldm_curve_steps]) if p.ldm_curve_steps else None}
    done = {k: f is not None and (f["reached"] or f["capped"]) for k, f in found.items()}
    text = (f"The DDPM teacher's recipe is {teachers.convergence_text(found['DDPM'])}, the LDM's "
            f"{teachers.convergence_text(found['LDM'])}")
    if done["LDM"] and found["DDPM"] is not None and not done["DDPM"]:
        return text + ": the two are not trained alike; the DDPM's teacher had not finished its recipe's training."
    return text + (": both are trained to the same rule." if all(done.values()) else ".")


def kinds(p: Parameters) -> dict[str, Parameters]:
    """{"DDPM": RQ1's profile for the pixel-space teacher of the LDM's data set, "LDM": the same
    for the LDM}, both with the chapter's thresholds; the LDM on `ldm_seeds`, the pixel model on
    those and RQ1's seeds (its rows are RQ1's: one comparison, one verdict on both pages). The LDM's
    finetunes take the same share of its teacher's training steps as the pixel rows' of theirs (at
    least one step)."""
    trained_on = ldm_dataset(p)
    same = [q for q in evaluation.every_teacher(p) if q.dataset == trained_on]
    if not same:
        raise DiffpruneError(f"the LDM is trained on {trained_on}, but neither teacher nor more_teachers is: the "
                             "chapter compares it with the pixel-space teacher of the same data set")
    # the kinds' pruned rows only: RQ1's control row is read on its page
    pixel = same[0].replace(thresholds=p.ldm_thresholds, seeds=sorted({*p.ldm_seeds, *same[0].seeds}),
                            control_row=False)
    latent = pixel.replace(teacher=p.ldm_teacher, teacher_steps=None, seeds=p.ldm_seeds)
    pixel_steps, latent_steps = evaluation.trained_steps(pixel), evaluation.trained_steps(latent)
    if pixel_steps and latent_steps:
        latent = latent.replace(finetune_steps=max(1, round(pixel.finetune_steps * latent_steps / pixel_steps)))
    return {"DDPM": pixel, "LDM": latent}


# read through RQ1's rows but set here (`kinds`: ldm_thresholds; RQ1's control row is read on its page)
SET_HERE = ("thresholds", "control_row")


def shown_parameters(p: Parameters) -> Parameters:
    """The values the page ran with, as a reader would pass them: its pixel teacher as `teacher`
    (not the profile's first one), named once (not again under more_teachers)."""
    pixel = kinds(p)["DDPM"]
    return p.replace(teacher=pixel.teacher, dataset=pixel.dataset,
                     more_teachers=[t for t in p.more_teachers if t != pixel.teacher])


def parameter_table(p: Parameters):
    """`shown_parameters` as the page's table, without the values the chapter sets itself (`SET_HERE`:
    passing them changes nothing here)."""
    from .. import profiles
    return profiles.table(shown_parameters(p)).drop(index=list(SET_HERE))


def _check(p: Parameters) -> None:
    kinds(p)
    if p.reference_threshold not in p.ldm_thresholds:
        raise DiffpruneError(f"reference_threshold {p.reference_threshold:g} is not one of ldm_thresholds "
                             f"{p.ldm_thresholds}: the chapter compares the other rows with that row")


# --- an LDM worth pruning: the latent teacher's learning curve and its autoencoder's floor ---------

def curve_model(p: Parameters, steps: int) -> pipeline.Artifact:
    """`ldm_recipe` on the LDM teacher's autoencoder and data set after `steps` (one run through
    `ldm_curve_steps`)."""
    return pipeline.training_run({"dataset": ldm_dataset(p), **p.ldm_recipe}, steps=steps,
                                 passing=tuple(s for s in p.ldm_curve_steps if s < steps),
                                 autoencoder=pipeline.teacher(p.ldm_teacher))


def learning_row(p: Parameters, steps: int) -> dict:
    """The recipe after `steps`, evaluated as the LDM teacher is (its first seed)."""
    q = kinds(p)["LDM"]
    return {"steps": steps, **evaluation.evaluate(curve_model(p, steps), q, q.seeds[0])}


def floor(p: Parameters) -> dict:
    """The Fréchet distance of `n_samples` training images through the LDM's autoencoder (encoded
    and decoded as its samples are) to the test split: no model on these latents can do better."""
    q = kinds(p)["LDM"]
    s = pipeline.reconstructions(pipeline.teacher(q.teacher), dataset=q.dataset, split="train",
                                 n=q.n_samples, seed=q.seeds[0])
    return pipeline.fd(s, dataset=q.dataset, split="test", features=q.features, n_reference=q.n_reference,
                       n_boot=q.n_boot).result("fd.json")


def learning_section(p: Parameters) -> dict:
    from ..plots import learning_curve
    rows = [learning_row(p, s) for s in p.ldm_curve_steps]
    latent = pipeline.teacher(p.ldm_teacher)
    q = kinds(p)["LDM"]
    now = evaluation.evaluate(latent, q, q.seeds[0])
    bottom = floor(p)
    return {"rows": rows, "plateau": plateau(rows), "floor": bottom, "teacher": now,
            "unet_params": pipeline.size(latent)["params"], "trained": pipeline.teacher_steps(latent),
            "figure": learning_curve(rows, pipeline.teacher_steps(latent), now["fd"], f"{q.dataset}, the LDM",
                                     floor=bottom["value"])}


def learning_table(section: dict):
    """The committed LDM teacher, the recipe at each length and the autoencoder's floor, as the book
    shows them: UNet parameters, training steps, FD with its 95% bootstrap interval, and each
    length's change from the one before."""
    import pandas as pd
    ci = evaluation.ci_text
    t, bottom = section["teacher"], section["floor"]
    rows = [{"model": "the committed teacher", "UNet parameters": f"{section['unet_params']:,}",
             "training steps": f"{section['trained']:,}" if section["trained"] else "–",
             "FD": ci(t["fd"], t["fd_low"], t["fd_high"], 1), "change": "–"}]
    before = None
    for r in section["rows"]:
        same = r["steps"] == section["trained"] and r["fd"] == t["fd"]  # the run `adopt` made the teacher
        rows.append({"model": "ldm_recipe, retrained" + (" (the run adopted as the teacher)" if same else ""),
                     "UNet parameters": f"{r['params']:,}",
                     "training steps": f"{r['steps']:,}", "FD": ci(r["fd"], r["fd_low"], r["fd_high"], 1),
                     "change": "–" if before is None else f"{100 * (r['fd'] / before - 1):+.1f}%"})
        before = r["fd"]
    rows.append({"model": "the autoencoder's reconstructions (floor)", "UNet parameters": "–", "training steps": "–",
                 "FD": ci(bottom["value"], bottom["ci_low"], bottom["ci_high"], 1), "change": "–"})
    return pd.DataFrame(rows).set_index("model")


def work(p: Parameters) -> list:
    ks = kinds(p).values()
    return ([(rq1.run_row, (q, *spec, seed)) for q in ks for seed in q.seeds for spec in rq1.row_specs(q)]
            + [(rq1.teacher_verdicts, (q,)) for q in ks] + [(evaluation.lt_curve, (q,)) for q in ks]
            + [(learning_row, (p, s)) for s in p.ldm_curve_steps]
            + ([(floor, (p,))] if p.ldm_curve_steps else []) + [(speed_rows, (p,))])


CHAPTER = Chapter("ldm", parameters=(
    "teacher", "dataset", "more_teachers", "teacher_steps", "methods", "extensions", "ratio", "timestep_stride",
    "importance_batch", "finetune_steps", "finetune_batch", "finetune_lr", "finetune_warmup", "n_samples",
    "sampler", "ddim_steps", "spacing", "features", "n_reference", "n_boot", "classifier_epochs",
    "lt_batches", "lt_stride", "curve_thresholds", "speed_batches", "speed_threads", "speed_repeats",
    "speed_rounds", "speed_devices", "reference_threshold", "equivalence_margins", "seeds", "control_row",
    "thresholds"), own=Own,
    work=work, checks=(_check,))


# --- the table: RQ1's rows of both kinds, with the cost of a whole sample --------------------------

def decode_macs(q: Parameters) -> int:
    """MACs of decoding one sample of the profile's teacher (0 for a pixel-space one)."""
    from ..cost import count_decode_macs
    from ..models import DiffusionModel
    model = DiffusionModel.load(pipeline.teacher(q.teacher).path)
    return count_decode_macs(model.autoencoder, model.unet_shape()) if model.latent else 0


def run(p: Parameters) -> dict[str, dict]:
    """Each kind's rows, their summary over seeds (with `sampling_macs`: the UNet's MACs times the
    sampler's steps plus one decode, and its fraction of the teacher's), and its decode MACs."""
    out = {}
    for kind, q in kinds(p).items():
        rows = rq1.run(q, progress=False)
        s = rq1.summarize(rows)
        decode = decode_macs(q)
        s["sampling_macs"] = s["macs"] * q.ddim_steps + decode
        s["sampling_fraction"] = s["sampling_macs"] / s["sampling_macs"].iloc[0]
        out[kind] = {"profile": q, "rows": rows, "summary": s, "decode_macs": decode}
    return out


def side_by_side(result: dict):
    """One line per row label: each kind's Fréchet distance, SSIM and cost of a whole sample."""
    import pandas as pd
    ci = evaluation.ci_text
    cols = {}
    for kind in KINDS:
        s = result[kind]["summary"].set_index("row")
        cols[(kind, "FD")] = {r: ci(x.fd, x.fd_low, x.fd_high, 1) for r, x in s.iterrows()}
        cols[(kind, "SSIM")] = {r: ci(x.ssim, x.ssim_low, x.ssim_high, 3) for r, x in s.iterrows()}
        cols[(kind, "MMACs / sample")] = {r: f"{x.sampling_macs / 1e6:,.0f}" for r, x in s.iterrows()}
        cols[(kind, "× teacher")] = {r: f"{x.sampling_fraction:.2f}" for r, x in s.iterrows()}
    table = pd.DataFrame(cols)
    table.index.name = "row"
    return table


def cost_fractions(result: dict) -> dict[str, dict[str, float]]:
    """Per kind: the pruned rows' mean fraction of the teacher's UNet MACs (`unet`) and of its whole
    sample's (`sample`: the sampler's steps, plus the decode, which is not pruned), and the decode's
    share of the teacher's whole sample (`decode`, 0 on pixels)."""
    out = {}
    for kind in KINDS:
        s = result[kind]["summary"]
        pruned = s[s["row"] != "pretrained"]
        out[kind] = {"unet": float(pruned["macs_fraction"].mean()), "sample": float(pruned["sampling_fraction"].mean()),
                     "decode": result[kind]["decode_macs"] / float(s["sampling_macs"].iloc[0])}
    return out


def comparisons(result: dict) -> list:
    """RQ1's paired comparisons on each kind (the reference Diff-Pruning row against every other row)."""
    return [v for kind in KINDS for v in rq1.comparisons(result[kind]["profile"], result[kind]["rows"], where=kind)]


def gap(result: dict) -> dict[str, float] | None:
    """Does pruning cost the LDM more than the DDPM? Per kind, the reference Diff-Pruning row's
    Fréchet distance as a multiple of its own teacher's (means over seeds; one reference set for
    both): the row fixed before the results, not the best of the thresholds."""
    ratios = {}
    for kind in KINDS:
        s = result[kind]["summary"]
        dp = s[s["row"] == rq1.reference_row(result[kind]["profile"])]
        if dp.empty:
            return None
        ratios[kind] = float(dp["fd"].iloc[0] / s.loc[s["row"] == "pretrained", "fd"].iloc[0])
    return ratios


# --- L_t of the two kinds ------------------------------------------------------------------------

def curves(p: Parameters) -> dict[str, dict]:
    return {kind: evaluation.lt_curve(q) for kind, q in kinds(p).items()}


STOP_MOVES = ("later on latents", "earlier on latents", "within the stride", "never on one kind")


def stop_move(ddpm: int | None, ldm: int | None, stride: int) -> str:
    """How a threshold's stop t moves from pixels to latents (one of STOP_MOVES; a move within the
    curves' stride is not one)."""
    if ddpm is None or ldm is None:
        return STOP_MOVES[2] if ddpm == ldm else STOP_MOVES[3]
    if abs(ldm - ddpm) <= stride:
        return STOP_MOVES[2]
    return STOP_MOVES[0] if ldm > ddpm else STOP_MOVES[1]


def pruned_stops(result: dict) -> dict[str, dict[float, list]]:
    """Per kind, threshold → the stop t of each seed's Diff-Pruning prune (its own importance pass
    over its seed's batch of images and noise, which need not stop where the mean curve does)."""
    out = {}
    for kind, r in result.items():
        for row in r["rows"]:
            if row["method"] == "diff-pruning":
                out.setdefault(kind, {}).setdefault(row["threshold"], []).append(row["stop_t"])
    return out


def stop_table(cs: dict[str, dict], thresholds: list[float], stride: int,
               pruned: dict[str, dict[float, list]] | None = None):
    """T → stop t on each kind's mean curve, how it moves between them, and (`pruned_stops`) where
    each kind's pruned models stopped, over their seeds ("–": no model pruned at that T)."""
    import pandas as pd
    stops = {kind: stop_times(c["t"], evaluation.mean_lt(c), thresholds) for kind, c in cs.items()}
    table = pd.DataFrame({f"stop t, {kind}": ["never" if stops[kind][T] is None else stops[kind][T]
                                              for T in thresholds] for kind in cs},
                         index=pd.Index([f"{T:g}" for T in thresholds], name="T"))
    if set(KINDS) <= set(cs):
        table["from pixels to latents"] = [stop_move(stops["DDPM"][T], stops["LDM"][T], stride) for T in thresholds]
    for kind, by_t in (pruned or {}).items():
        n = max(len(v) for v in by_t.values())
        column = f"pruned models' stop t, {kind} ({n} seed{'s' if n > 1 else ''})"
        table[column] = [evaluation.stops_text(by_t[T], "never") if T in by_t else "–" for T in thresholds]
    return table


# --- measured speed of a whole sample --------------------------------------------------------------

def speed_rows(p: Parameters) -> list[dict]:
    """Seconds per sample (sampler steps through the UNet, plus one decode for the LDM) of each
    kind's teacher and Diff-Pruning model at the largest speed batch: medians over `speed_rounds`
    rounds that time all four models, the speed-up over the teacher paired by round. Part of `work`:
    its timings are steps to compute alone (`study.Step.alone`), which `study` runs with nothing beside."""
    import statistics
    device = "cpu" if "cpu" in p.speed_devices else "cuda"
    batch, threads = max(p.speed_batches), max(p.speed_threads) if device == "cpu" else 1
    models, steps = {}, {}
    for kind, q in kinds(p).items():
        T = max(q.thresholds)
        models[(kind, "teacher")] = pipeline.teacher(q.teacher)
        models[(kind, f"diff-pruning T={T:g}")] = evaluation.finetuned_model(q, "diff-pruning", q.seeds[0], T)
        steps[kind] = q.ddim_steps
    timed = evaluation.timing_rounds(models, [(batch, threads)], rounds=list(range(p.speed_rounds)),
                                     repeats=p.speed_repeats, device=device)

    def per_sample(kind, label):  # per round: (UNet steps, decode) seconds of one sample
        runs = timed[((kind, label), batch, threads)]
        return [(steps[kind] * r["seconds_per_batch"] / batch,
                 r["decode"]["seconds_per_batch"] / batch if "decode" in r else 0.0) for r in runs]

    rows = []
    for kind, label in models:
        own, base = per_sample(kind, label), per_sample(kind, "teacher")
        runs = timed[((kind, label), batch, threads)]
        rows.append({"kind": kind, "model": label, "device": device, "batch": batch, "threads": threads,
                     "unet_s": statistics.median(u for u, _ in own), "decode_s": statistics.median(d for _, d in own),
                     "sample_s": statistics.median(u + d for u, d in own),
                     **evaluation.paired_speedup([u + d for u, d in base], [u + d for u, d in own]),
                     "machine": pipeline.recorded("timing", runs[0]["key"]).provenance()["device"],
                     "load": max((r["load_before"] for r in runs if "load_before" in r), default=None)})
    return rows


def macs_bounds(rows: list[dict], result: dict) -> dict[tuple[str, str], float]:
    """The speed-up each timed model would reach were time proportional to MACs: its teacher's
    whole-sample MACs over its own (the decode included, which pruning leaves as it is)."""
    out = {}
    for r in rows:
        s = result[r["kind"]]["summary"]
        macs = s.set_index("row")["sampling_macs"]
        out[(r["kind"], r["model"])] = float(macs["pretrained"] / macs["pretrained" if r["model"] == "teacher"
                                                                     else r["model"]])
    return out


def above_bound(rows: list[dict], bounds: dict[tuple[str, str], float]) -> str:
    """A sentence on rounds faster than the MACs allow: in such a round the teacher's timing ran slow
    (a busy machine), so the range is widened by it, not the median, paired by round."""
    over = [f"the {r['kind']}'s {r['model']}: up to {r['speedup_hi']:.2f}× against {bound:.2f}×"
            for r in rows if r["model"] != "teacher" and r["speedup_hi"] > (bound := bounds[(r["kind"], r["model"])])]
    if not over:
        return "No round is faster than its MACs bound."
    return (f"A round faster than its MACs bound ({'; '.join(over)}) is one in which the teacher's timing ran "
            "slow: it widens the range, and the median, paired by round, is the reading.")


def speed_table(rows: list[dict], bounds: dict[tuple[str, str], float]):
    import pandas as pd
    return pd.DataFrame([{
        "kind": r["kind"], "model": r["model"],
        "UNet steps (ms / sample)": f"{1e3 * r['unet_s']:.2f}",
        "decode (ms / sample)": f"{1e3 * r['decode_s']:.3f}" if r["decode_s"] else "–",  # a pixel model has none
        "whole sample (ms)": f"{1e3 * r['sample_s']:.2f}",
        "speed-up (range over rounds)": (f"{r['speedup']:.2f}× ({r['speedup_lo']:.2f}–{r['speedup_hi']:.2f})"
                                         if r["speedup_hi"] > r["speedup_lo"] else f"{r['speedup']:.2f}×"),
        "MACs bound": "–" if r["model"] == "teacher" else f"{bounds[(r['kind'], r['model'])]:.2f}×",
        "against the teacher": "–" if r["model"] == "teacher" else speed_kind(r).value,
    } for r in rows]).set_index(["kind", "model"])


def speed_kind(r: dict) -> verdicts.Kind:
    """Better: faster than the teacher in every round; worse: slower in every round; else inconclusive."""
    return verdicts.judge(r["speedup_lo"] - 1, r["speedup_hi"] - 1, 0.0, lower_is_better=False)


def teachers_speed(rows: list[dict]) -> dict:
    """The two teachers' whole-sample times, how many times faster the LDM's is, and where they ran."""
    t = {r["kind"]: r for r in rows if r["model"] == "teacher"}
    loads = [r["load"] for r in rows if r["load"] is not None]
    return {"DDPM_ms": 1e3 * t["DDPM"]["sample_s"], "LDM_ms": 1e3 * t["LDM"]["sample_s"],
            "ldm_faster": t["DDPM"]["sample_s"] / t["LDM"]["sample_s"], "rounds": t["LDM"]["rounds"],
            "machine": t["LDM"]["machine"], "batch": t["LDM"]["batch"], "max_load": max(loads) if loads else None}
