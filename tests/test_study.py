"""The study cache: results are committed, bulk is not; a chapter renders from results alone, and
bulk comes back only when a computation needs it."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import diffprune.sample
import diffprune.study
from diffprune import evaluation, pipeline, plan
from diffprune.book import chapters
from diffprune.chapter import spec
from diffprune.chapters import (
    ablations,
    content_detail,
    findings,
    frontier,
    headline,
    ldm,
    recovery,
    rq1,
    rq2,
    rq3,
    speed,
    teachers,
    timestep_map,
)
from diffprune.models import pixel_model
from diffprune.paths import DATA_DIR, ROOT
from diffprune.study import PACK, RECORD, STEPS
from diffprune.unet import build_unet


def _forbid_computing(monkeypatch):
    def computing(*args, **kwargs):
        raise AssertionError("computed a step that the committed results should answer")
    monkeypatch.setattr(diffprune.study, "_compute", computing)
    monkeypatch.setattr(diffprune.study, "_regenerate", computing)


def test_an_empty_study_variable_keeps_the_default_cache(monkeypatch):
    from diffprune.paths import study_dir
    monkeypatch.setenv("DIFFPRUNE_STUDY", "")  # e.g. `DIFFPRUNE_STUDY= python ...`: not the working directory
    assert study_dir() == DATA_DIR / "study"


def test_bulk_is_never_committed():
    for step, s in STEPS.items():
        for name in s.bulk + s.optional:
            path = f"data/study/{step}/0123456789abcdef/{name}"
            assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    # as a checkout stores it: every file takes whole 4 KiB blocks, so thousands of small records count
    size = sum(-(-(ROOT / f).stat().st_size // 4096) * 4096 for f in tracked if (ROOT / f).is_file())
    assert size < 40e6, f"tracked data/ takes {size / 1e6:.1f} MB on disk"
    loose = [f for f in tracked if f.startswith("data/study/") and not f.endswith("/" + PACK)]
    assert not loose, f"{loose[0]}: commit the packs, not loose records (python -m diffprune study --pack)"


def _committed_study(commit: str, tmp_path) -> Path:
    """The study cache as `commit` committed it, extracted under tmp_path."""
    import tarfile
    archive = subprocess.run(["git", "archive", commit, "data/study"], cwd=ROOT, capture_output=True)
    if archive.returncode:
        pytest.skip(f"this clone lacks commit {commit} (shallow?)")
    tmp_path.joinpath("old.tar").write_bytes(archive.stdout)
    with tarfile.open(tmp_path / "old.tar") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data" / "study"


BEFORE_PACKS = "f2377c0"  # the last commit whose study kept one record.json per artifact
# records removed from the study since, with every record computed from them (by key; a teacher's
# key where the teacher itself was replaced)
_WINDOWS = ("RQ2's first content-versus-detail design: gradient stages of windows pruned at 0.25, "
            "100-step finetunes, 256 samples (replaced by the repair axis, issue 24)")
RETIRED = {"1811965ae092b0b3": "the 0.18 M-parameter LDM of openmoji-32, too small to prune (issue 24)",
           **dict.fromkeys(["10092cb27fcc95ab", "2e77c4cd44ad9cbe", "8f1fbebe34efa47d", "baaed0ad457731e4",
                            "c9fc452e360dea68", "edec0e7efac6c408"], _WINDOWS),
           **dict.fromkeys(["232dada4ed051803", "2c0290295a560547", "40b17207a8e3adcc", "8ddb9406db0d2dcc",
                            "a72c20198ef1cbb4", "b4448553a4cdc6a5"], "the teachers' 256 samples of that design")}

# timings taken again (same parameters, so the same key): the DDPM versus LDM chapter's DDPM models at a
# clean commit, first timed in other rounds than its LDM models at uncommitted code; RQ3's GPU timings
# on a lent H200 with the paper's architecture in the same 5 rounds (round 0 had been timed alone, on an H100)
REMEASURED = {("timing", key) for key in [
    "0e90877c7a30eebd", "15b494d690f5aabf", "1c67ae2d5008f4c8", "1f1f4a76bbeb2f59", "436640bdddf58ba1",
    "4ce24f2c610134db", "857420c286a06b27", "d5dc148a6a23c90b", "e48102342e9edb2c", "f88d2e07b4edf0d8",
    # RQ3, cuda
    "0391e6b22b26c2f1", "1487b47d7a7fbb88", "155365de08cf7e82", "227bdd5c8931074d", "30949f58e5260b1a",
    "6093bb5143c71758", "7690121d03d17c5a", "a3fa824142bfa3c3", "b219d9e1ac175ee7", "c991a40e6bcbb842",
    "eb1b79de174aacf0", "ecbf067b90daaf41"]}


def _descends_from(records: dict, keys: set[str]) -> set[tuple[str, str]]:
    """The (step, key) of every record that is one of `keys`, or whose parameters name one of them
    or a record that does."""
    def named(value) -> set[str]:
        if isinstance(value, dict):
            return set().union(*map(named, value.values()))
        if isinstance(value, list):
            return set().union(*map(named, value))
        return {value} if isinstance(value, str) else set()
    found, keys = set(), set(keys)
    while True:
        more = {sk for sk, r in records.items() if sk not in found and (sk[1] in keys or named(r["params"]) & keys)}
        if not more:
            return found
        found |= more
        keys |= {k for _, k in more}


def _keys(step: str) -> set[str]:
    return {r["key"] for r in diffprune.study.records(step)}


def test_packing_the_records_changed_no_committed_record(tmp_path):
    """Every record committed loose, read through the same API then and now (results included),
    except the retired ones, which are gone, and the remeasured ones, newer with the same parameters."""
    old_study = _committed_study(BEFORE_PACKS, tmp_path)
    old_dirs = sorted(d.parent for d in old_study.glob(f"*/*/{RECORD}"))
    assert len(old_dirs) == 2178
    records = {(d.parent.name, d.name): diffprune.study.record(d, with_results=True) for d in old_dirs}
    retired = _descends_from(records, set(RETIRED))
    for (step, key), record in records.items():
        new = DATA_DIR / "study" / step / key
        assert not (new / RECORD).is_file()  # read from the pack
        if (step, key) in retired:
            assert key not in _keys(step)
        elif (step, key) in REMEASURED:
            now = diffprune.study.record(new)
            assert now["params"] == record["params"] and now["created"] > record["created"]
        else:
            assert record == diffprune.study.record(new, with_results=True)


def test_another_cache_s_records_come_in_and_are_packed(tiny_teacher, tmp_path, monkeypatch, capsys):
    from diffprune.cli import main
    a, b, c = (pipeline.samples(tiny_teacher, n=2, seed=s, steps=2) for s in range(3))
    _ = a.results, b.results
    diffprune.study.pack(tmp_path / "study")  # the other machine's cache: packed records beside a loose one
    _ = c.results
    here = tmp_path / "here"
    (here / "sample").mkdir(parents=True)
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(here))
    assert main(["study", "--from", str(tmp_path / "study")]) == 2  # --from only with --pack
    assert main(["study", "--pack", "--from", str(tmp_path / "study")]) == 0
    assert "brought in 3 records" in capsys.readouterr().err
    assert [r["key"] for r in diffprune.study.records("sample")] == sorted([a.key, b.key, c.key])
    assert not list(here.glob(f"*/*/{RECORD}"))  # all packed
    assert main(["study", "--pack", "--from", str(tmp_path / "study")]) == 0
    assert "brought in 0 records" in capsys.readouterr().err  # nothing twice


def test_retiring_drops_only_the_records_of_teachers_nothing_read_rests_on(tmp_path, monkeypatch, capsys):
    from diffprune.cli import main
    root = tmp_path / "study"
    records = {  # kind: [(key, params)]: teacher "old" replaced by "new"
        "prune": [("p-old", {"teacher": "old", "ratio": 0.25}), ("p-new", {"teacher": "new", "ratio": 0.25}),
                  ("p-new-bench", {"teacher": "new", "ratio": 0.35})],  # a benchmark's prune of a read teacher
        "finetune": [("f-old", {"model": "p-old", "steps": 400}), ("f-new", {"model": "p-new", "steps": 1600})],
        "sample": [("s-old", {"model": "f-old", "n": 8}), ("s-new", {"model": "f-new", "n": 8}),
                   ("s-mixed", {"models": ["f-old", "f-new"], "n": 8})],  # rests on a read teacher too
        "classifier": [("c", {"dataset": "fashion-mnist", "epochs": 1})],  # rests on no teacher
    }
    for kind, rows in records.items():
        (root / kind).mkdir(parents=True)
        (root / kind / diffprune.study.PACK).write_text("".join(
            json.dumps({"step": kind, "key": k, "params": params, "created": "2026-12-07T00:00:00Z"}) + "\n"
            for k, params in rows))
    keep = {("prune", "p-new"), ("finetune", "f-new"), ("sample", "s-new")}
    dry = diffprune.study.retire(keep, root, dry_run=True)
    assert dry == {"finetune": ["f-old"], "prune": ["p-old"], "sample": ["s-old"]}
    assert "p-old" in (root / "prune" / diffprune.study.PACK).read_text()  # a dry run drops nothing
    assert diffprune.study.retire(keep, root, dry_run=False) == dry
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(root))
    assert {kind: [r["key"] for r in diffprune.study.records(kind)] for kind in records} == {
        "prune": ["p-new", "p-new-bench"], "finetune": ["f-new"], "sample": ["s-mixed", "s-new"], "classifier": ["c"]}
    assert main(["study", "--retire", "--chapter", "rq1"]) == 2  # it keeps what every chapter reads
    assert "--retire keeps what every chapter reads" in capsys.readouterr().err


def test_packed_records_read_as_loose_ones_and_a_recomputed_step_replaces_its_line(tiny_teacher, tmp_path,
                                                                                  monkeypatch):
    s = pipeline.samples(tiny_teacher, n=3, seed=0, steps=2)
    images, _ = pipeline.load_full_samples(s)
    before = diffprune.study.record(s.path, with_results=True)
    study = tmp_path / "study"
    assert diffprune.study.pack(study) == 1 and diffprune.study.pack(study) == 0
    assert sorted(p.relative_to(study).as_posix() for p in study.glob(f"*/{PACK}")) == [f"sample/{PACK}"]
    assert not (s.results / RECORD).exists() and (s.results / pipeline.SAMPLES).is_file()  # the bulk stays
    assert diffprune.study.record(s.results, with_results=True) == before
    assert [r["key"] for r in diffprune.study.records("sample")] == [s.key]
    # a fresh clone: the pack alone; results read from it, the bulk regenerated where asked
    clone = tmp_path / "clone"
    (clone / "sample").mkdir(parents=True)
    shutil.copy(study / "sample" / PACK, clone / "sample" / PACK)
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(clone))
    with monkeypatch.context() as m:
        _forbid_computing(m)
        assert np.array_equal(s.preview(), images)
    assert np.array_equal(pipeline.load_full_samples(s)[0], images)
    assert (clone / "sample" / s.key / pipeline.SAMPLES).is_file() and not (clone / "sample" / s.key / RECORD).exists()
    # recomputed: the new loose record is read first, and packing replaces the line
    monkeypatch.setenv("DIFFPRUNE_RECOMPUTE", "again")
    _ = s.results
    assert diffprune.study.record(s.results)["run_id"] == "again" and (s.results / RECORD).is_file()
    assert diffprune.study.pack(clone) == 1
    lines = (clone / "sample" / PACK).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["run_id"] == "again"


LOOSE_LAYOUT = "48163d0"  # the last commit whose study kept every result as a file beside params.json


def test_folding_the_results_into_records_changed_no_committed_result(tmp_path):
    """Every result committed in the older layout, read through the same API then and now."""
    old_study = _committed_study(LOOSE_LAYOUT, tmp_path)
    old_dirs = sorted(d for d in old_study.glob("*/*") if (d / "params.json").is_file())
    assert len(old_dirs) == 1474
    legacies = {(d.parent.name, d.name): json.loads((d / "params.json").read_text()) for d in old_dirs}
    retired = _descends_from(legacies, set(RETIRED))
    for old in old_dirs:
        if (old.parent.name, old.name) in retired:
            assert old.name not in _keys(old.parent.name)
            continue
        if (old.parent.name, old.name) in REMEASURED:
            continue  # its record as it is now: test_packing_the_records_changed_no_committed_record
        names = sorted(p.name for p in old.iterdir() if p.name != "params.json")
        legacy = legacies[(old.parent.name, old.name)]
        new = DATA_DIR / "study" / old.parent.name / old.name
        assert diffprune.study.record(old) == diffprune.study.record(new) == legacy  # folded on first read
        assert not (old / "params.json").exists()
        assert sorted(diffprune.study.record(new, with_results=True)["results"]) == names
        for name in names:
            a, b = diffprune.study.result(old, name), diffprune.study.result(new, name)
            if name.endswith(".npz"):
                assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
            else:
                assert a == b, (new, name)


def test_a_computation_gets_the_folded_results_back_as_files(tiny_teacher):
    pruned = pipeline.pruned(tiny_teacher, method="random", ratio=0.25, seed=0)
    d = pruned.path
    report = (d / "prune_report.json").read_text()
    assert "prune_report.json" in json.loads((d / RECORD).read_text())["results"]
    (d / "prune_report.json").unlink()  # as in a fresh clone: the record alone
    assert pruned.result("prune_report.json") == json.loads(report)
    assert not (d / "prune_report.json").exists()  # reading a result writes nothing
    assert (pruned.path / "prune_report.json").read_text() == report  # asking for the directory does


@pytest.fixture
def committed_results(tmp_path, monkeypatch):
    """The committed study as a fresh clone has it: the records only, no bulk and no loose results."""
    study = tmp_path / "study"
    for packed in (DATA_DIR / "study").glob(f"*/{PACK}"):
        (study / packed.parent.name).mkdir(parents=True)
        shutil.copy(packed, study / packed.parent.name / PACK)
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(study))
    _forbid_computing(monkeypatch)
    return study


def test_the_cpu_chapters_render_from_the_committed_results_alone(committed_results):
    # each row's numbers must be the committed ones, found here by content, not by key
    fd_by_samples = {}
    for key in (r["key"] for r in diffprune.study.records("fd")):
        r = diffprune.study.result(committed_results / "fd" / key, "fd.json")
        fd_by_samples[r["samples"]] = r["value"]
    used = set()
    p = spec("rq1").load("cpu")
    for q in evaluation.every_teacher(p):
        rows = rq1.run(q, progress=False)
        assert [r["row"] for r in rows] == [label for label, _, _ in rq1.row_specs(q)] * len(q.seeds)
        for r in rows:
            assert r["fd"] == fd_by_samples[r["samples"]]
            used.add(r["samples"])
            if r["method"] == evaluation.CONTROL:  # the teacher finetuned, unpruned: its size, its own samples
                assert r["ssim"] is not None and r["params"] == rows[0]["params"]
            elif r["method"] != "pretrained":
                assert r["ssim"] is not None and r["params"] < rows[0]["params"]
        assert set(evaluation.previews(rows, q.seeds[0])) == {r["row"] for r in rows}
    t = spec("teachers").load("cpu")
    for q in evaluation.every_teacher(t):
        row = teachers.summary(q)
        assert row["fd"] == fd_by_samples[row["samples"]] and evaluation.preview(row).shape[0] == pipeline.PREVIEW_N
    for q in evaluation.every_teacher(t):  # each teacher's recipe retrained: sizes from the recipe, not its weights
        curve = teachers.curve_section(q)
        assert [r["steps"] for r in curve["rows"]] == teachers.curve_steps(q)
        used.update(r["samples"] for r in curve["rows"])
    r = spec("rq2").load("cpu")
    for q in evaluation.sweep_teachers(r, "ablations"):
        rows = [ablations.threshold_row(q, T, s) for s in q.ablation_seeds for T in q.ablation_thresholds]
        rows += [ablations.score_row(q, *specs, s) for s in q.ablation_seeds for specs in ablations.score_specs(q)]
        assert all(row["fd"] == fd_by_samples[row["samples"]] for row in rows)
        used.update(row["samples"] for row in rows)
    for q in evaluation.sweep_teachers(r, "content"):
        content = content_detail.content_rows(q)
        assert len(content) == len(q.content_repair_steps) * len(content_detail.content_windows(q))
        assert content["detail"].notna().all() and content["kappa"].notna().all()
        candidates = content_detail.candidate_table(q)[0]
        assert len(candidates) == len(content_detail.CANDIDATE_METHODS) * len(q.content_candidates)
    for q in evaluation.every_teacher(r):
        assert timestep_map.map_section(q)["numbers"]  # the importance map needs no pruned model's weights
    assert plan.spent(rq2.work(r))["hours"] > 0  # every artifact behind RQ2 has its record
    q = spec("rq3").load("cpu")
    rows = recovery.sweep(q) + [row for s in q.tradeoff_seeds for ratio in [None, *q.frontier_ratios]
                           for row in frontier.frontier_rows(q, ratio, s)]
    assert len(rows) == 1 + len(q.tradeoff_ratios) * len(q.tradeoff_methods) * len(q.recovery_steps) + (
        1 + len(q.frontier_ratios)) * len(frontier.samplers(q))
    assert all(row["fd"] == fd_by_samples[row["samples"]] for row in rows)
    used.update(row["samples"] for row in rows)
    window = [r for m in headline.methods(q) for seed in q.headline_seeds  # the control's runs too
              for r in headline.headline_rows(q, m, seed)]
    assert len(window) == len(headline.methods(q)) * len(q.headline_seeds) * len(q.headline_steps)
    assert all(row["fd"] == fd_by_samples[row["samples"]] for row in window)
    used.update(row["samples"] for row in window)
    assert {v.n for v in headline.headline_section(q)["verdicts"]} == {len(q.headline_seeds)}  # paired by seed
    timed = speed.speed_section(q)["rows"]  # the GPU's timings are read, never measured here
    assert {row["device"] for row in timed} == {"cpu", "cuda"} and all(row["seconds_per_batch"] > 0 for row in timed)
    assert {row["base"] for row in timed if row["device"] == "cpu"} == {"teacher", *q.speed_architectures}
    assert plan.spent(rq3.work(q))["hours"] > 0
    levers = json.loads((DATA_DIR / "results" / "speed_levers.json").read_text())
    for prune in {json.dumps(row["prune"]): row["prune"] for row in levers["rows"]}.values():  # each as made now
        report = speed.levers_prune(speed.unpruned_models(q), prune).result("prune_report.json")
        assert speed.ideal_now(q, prune) == pytest.approx(report["macs_before"] / report["macs_after"])
    q = spec("ldm").load("cpu")
    for kind in ldm.run(q).values():
        rows = kind["rows"]
        assert len(rows) == len(rq1.row_specs(kind["profile"])) * len(kind["profile"].seeds)
        assert all(row["fd"] == fd_by_samples[row["samples"]] for row in rows)
        used.update(row["samples"] for row in rows)
    assert {len(c["loss"]) for c in ldm.curves(q).values()} == {q.lt_batches}
    assert {row["kind"] for row in ldm.speed_rows(q)} == {"DDPM", "LDM"}  # timings read, never measured here
    learning = ldm.learning_section(q)  # the learning curve's sizes from its recipe, not its weights
    assert [r["steps"] for r in learning["rows"]] == q.ldm_curve_steps and learning["plateau"]["reached"]
    used.update(r["samples"] for r in learning["rows"])
    used.add(learning["floor"]["samples"])
    from diffprune.chapters import training_step
    precision = training_step._read(training_step.PRECISION)  # RQ3's training step, from its benchmark's record
    for rows in precision["rows"].values():
        assert all(row["fd"] == fd_by_samples[row["samples"]] for row in rows)
        used.update(row["samples"] for row in rows)
    # one comparison, one answer: DDPM versus LDM's pixel column is RQ1's OpenMoji verdicts
    pixel = ldm.run(spec("ldm").load("cpu"))["DDPM"]
    on_rq1 = {(v.b, v.metric): v for q1 in evaluation.every_teacher(p) if q1.dataset == pixel["profile"].dataset
              for v in rq1.comparisons(q1, rq1.run(q1, progress=False))}
    for v in rq1.comparisons(pixel["profile"], pixel["rows"]):
        w = on_rq1[(v.b, v.metric)]
        assert (v.difference, v.low, v.high, v.n) == (w.difference, w.low, w.high, w.n), v
    # one comparison, one answer: RQ1's and RQ2's Diff-Pruning T = 0.05 against T = 0 are one verdict
    for q1, q2 in zip(evaluation.every_teacher(p), evaluation.sweep_teachers(r, "ablations"), strict=True):
        v1 = next(v for v in rq1.comparisons(q1, rq1.run(q1, progress=False))
                  if v.b == "diff-pruning T=0" and v.metric == "fd")
        v2 = ablations.threshold_comparison(q2, q2.reference_threshold, 0.0, "fd")
        assert (v1.difference, v1.low, v1.high, v1.n) == (v2.difference, v2.low, v2.high, v2.n)
    found = findings.verdicts_of("cpu", {})
    assert all(r.evidence is not None and r.evidence.findings for r, c in zip(found, findings.CLAIMS, strict=True)
               if c.test)  # every testable claim is read from recorded results
    # a sweep being computed (the profile's `computing`) commits its records as they finish; the book
    # shows none of them until it is complete and its values are the profile's
    pending = set()
    for sweep in plan.in_progress("cpu", {}, spec("exercises").load("cpu").computing, chapters()):
        assert sweep["left"], f"{sweep['values']} is complete: move it into the profile"
        pending.update(diffprune.study.result(committed_results / step / key, "fd.json")["samples"]
                       for step, key in sweep["recorded"] if step == "fd")
    assert not used & pending
    assert used | pending == set(fd_by_samples), "every committed Fréchet distance is one the book shows or a sweep's"
    assert plan.of_chapters(chapters(), "cpu", {})[0].steps == {}  # make book computes nothing


@pytest.fixture
def tiny_teacher(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    d = pixel_model(build_unet("tiny", 1, 16, seed=0)).save(tmp_path / "teacher")
    return pipeline.teacher(str(d))


def test_results_are_read_without_bulk_and_bulk_comes_back_when_needed(tiny_teacher, monkeypatch):
    s = pipeline.samples(tiny_teacher, n=5, seed=3, steps=2)
    images, index = pipeline.load_full_samples(s)
    d = s.path
    record = (d / "record.json").read_bytes()
    assert np.array_equal(s.preview(), images[:pipeline.PREVIEW_N])
    (d / pipeline.SAMPLES).unlink()
    with monkeypatch.context() as m:
        _forbid_computing(m)
        assert np.array_equal(s.preview(), images)  # a result: read without the bulk
        with pytest.raises(AssertionError, match="computed"):
            _ = s.path  # the bulk is missing: only a computation brings it back
    again, index_again = pipeline.load_full_samples(s)  # regenerated, deterministically
    assert np.array_equal(again, images) and np.array_equal(index_again, index)
    assert (d / "record.json").read_bytes() == record  # the committed record stays the original run's
    assert json.loads((d / "regenerated.json").read_text())["bulk"] == [pipeline.SAMPLES]


def test_an_artifact_known_only_by_key_cannot_be_recomputed(tiny_teacher):
    s = pipeline.samples(tiny_teacher, n=2, seed=0, steps=2)
    assert (s.path / pipeline.SAMPLES).is_file()
    known = pipeline.recorded("sample", s.key)
    assert np.array_equal(known.preview(), s.preview())
    (s.path / pipeline.SAMPLES).unlink()
    with pytest.raises(diffprune.DiffpruneError, match="re-run the chapter"):
        _ = known.path


def test_a_longer_finetune_resumes_from_a_shorter_one_with_the_same_weights(tmp_path, monkeypatch):
    import diffprune.train
    from diffprune.unet import load_unet
    steps = []
    loss = diffprune.train.noise_prediction_loss
    monkeypatch.setattr(diffprune.train, "noise_prediction_loss", lambda *a: steps.append(1) or loss(*a))
    kw = dict(dataset="mnist-5k", batch_size=4, lr=1e-3, warmup_steps=2, seed=0)

    def run(study: str, **more):
        monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / study))
        t = pipeline.teacher(str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / study / "teacher")))
        pruned = pipeline.pruned(t, method="random", ratio=0.25, seed=0)
        assert pipeline.finetuned(pruned, steps=0, **kw) is pruned  # checkpoint 0 is the pruned model
        return pipeline.finetuned(pruned, steps=6, **kw, **more)

    direct = run("direct").path
    assert len(steps) == 6
    steps.clear()
    chained = run("chained", passing=(2, 4))
    assert chained.key == pipeline.finetuned(pipeline.recorded("prune", chained.record()[
        "params"]["model"]), steps=6, **kw).key  # `passing` is not part of the key
    d = chained.path
    assert len(steps) == 6  # 2, then 2 more from its checkpoint, then 2 more from that one's
    assert len(list((tmp_path / "chained" / "finetune").glob("*/checkpoint"))) == 3  # kept: spare bulk
    a, b = load_unet(direct / "unet").state_dict(), load_unet(d / "unet").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_interrupted_finetune_resumes_from_its_partial_checkpoint(tmp_path, monkeypatch):
    import diffprune.train
    from diffprune.unet import load_unet
    calls = []
    loss = diffprune.train.noise_prediction_loss

    def interrupted_at_5(*a):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return loss(*a)
    monkeypatch.setattr(diffprune.train, "noise_prediction_loss", interrupted_at_5)
    kw = dict(dataset="mnist-5k", steps=6, batch_size=4, lr=1e-3, warmup_steps=2, seed=0)  # checkpoint every 3

    def finetuned(study: str):
        monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / study))
        t = pipeline.teacher(str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / study / "teacher")))
        return pipeline.finetuned(pipeline.pruned(t, method="random", ratio=0.25, seed=0), **kw).path

    with pytest.raises(KeyboardInterrupt):
        finetuned("interrupted")
    partial = next((tmp_path / "interrupted" / "finetune").glob("*.partial"))
    assert json.loads((partial / "checkpoint" / "state.json").read_text())["step"] == 3
    resumed = finetuned("interrupted")  # steps 4 to 6 only
    assert len(calls) == 5 + 3 and not partial.exists()
    whole = finetuned("whole")
    a, b = load_unet(resumed).state_dict(), load_unet(whole).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_failed_regeneration_keeps_the_record_and_the_next_one_completes(tiny_teacher, monkeypatch):
    s = pipeline.samples(tiny_teacher, n=4, seed=1, steps=2)
    images, _ = pipeline.load_full_samples(s)
    record = (s.path / RECORD).read_bytes()
    (s.path / pipeline.SAMPLES).unlink()
    with monkeypatch.context() as m:
        m.setattr(diffprune.sample, "sample_batch", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("power cut")))
        with pytest.raises(RuntimeError, match="power cut"):
            pipeline.load_full_samples(s)
    d = s.results  # the directory as it is (`path` would bring the bulk back)
    assert (d / RECORD).read_bytes() == record and np.array_equal(s.preview(), images[:pipeline.PREVIEW_N])
    assert not (d / pipeline.SAMPLES).exists()  # no half-written bulk beside the record
    again, _ = pipeline.load_full_samples(s)
    assert np.array_equal(again, images) and not d.with_name(d.name + ".partial").exists()


def test_recompute_runs_each_step_once_per_run_id(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    runs = []

    def compute(work):
        runs.append(1)
        (work / "out.json").write_text(json.dumps({"n": len(runs)}))
    d = diffprune.study.cached("timing", {"x": 1}, compute)
    diffprune.study.cached("timing", {"x": 1}, compute)
    assert len(runs) == 1 and diffprune.study.record(d)["run_id"] is None
    monkeypatch.setenv("DIFFPRUNE_RECOMPUTE", "run-1")  # what `book --recompute` sets for one run
    diffprune.study.cached("timing", {"x": 1}, compute)
    diffprune.study.cached("timing", {"x": 1}, compute)
    assert len(runs) == 2 and diffprune.study.record(d)["run_id"] == "run-1"
    assert diffprune.study.result(d, "out.json") == {"n": 2}


def test_a_step_that_fails_before_writing_leaves_no_partial_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))

    def refuse(work):
        raise diffprune.DiffpruneError("a cuda timing needs a GPU; this machine has none")
    with pytest.raises(diffprune.DiffpruneError, match="needs a GPU"):
        diffprune.study.cached("timing", {"x": 1}, refuse)
    assert not list((tmp_path / "study" / "timing").glob("*.partial"))


def test_an_interrupted_sample_set_resumes_from_its_shards(tiny_teacher, tmp_path, monkeypatch):
    import diffprune.sample
    draw, drawn = diffprune.sample.sample, []

    def interrupted(*args, **kwargs):
        if len(drawn) == 1:
            raise KeyboardInterrupt
        drawn.append(kwargs["start"])
        return draw(*args, **kwargs)
    kw = dict(n=20, seed=0, steps=2, batch_size=2)  # shards of 8: [0, 8), [8, 16), [16, 20)
    monkeypatch.setattr(diffprune.sample, "sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _ = pipeline.samples(tiny_teacher, **kw).path
    assert drawn == [0]
    drawn.append(None)
    monkeypatch.setattr(diffprune.sample, "sample", lambda *a, **k: drawn.append(k["start"]) or draw(*a, **k))
    d = pipeline.samples(tiny_teacher, **kw).path
    assert drawn[2:] == [8, 16]  # only the missing shards
    assert not (d / "samples.shards").exists()
    resumed, _ = pipeline.load_full_samples(pipeline.samples(tiny_teacher, **kw))
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "other"))
    whole, _ = pipeline.load_full_samples(pipeline.samples(tiny_teacher, **kw))
    assert np.array_equal(resumed, whole)


def test_a_step_records_its_own_time_not_that_of_the_steps_it_computed_inside_it(tiny_teacher, monkeypatch):
    import time
    pruned = pipeline.pruned(tiny_teacher, method="random", ratio=0.25, seed=0)
    train = pipeline._train  # made 3 s slower: the sample set computes this finetune inside its own computation
    monkeypatch.setattr(pipeline, "_train", lambda *a, **k: time.sleep(3) or train(*a, **k))
    model = pipeline.finetuned(pruned, dataset="mnist-5k", steps=2, batch_size=4, lr=1e-3, warmup_steps=0, seed=0)
    s = pipeline.samples(model, n=2, seed=0, steps=2)
    start = time.perf_counter()
    _ = s.path
    whole = time.perf_counter() - start
    own = model.record()["wall_time_s"]
    assert own >= 3
    # the two records partition the time whatever the machine's load (a busy machine once made the
    # sampling alone take 3.8 s): counted in the sample set's record too, the finetune's 3 s would
    # be there twice
    assert s.record()["wall_time_s"] + own <= whole + 0.2


@pytest.fixture(scope="module")
def teachers_study(tmp_path_factory):
    """`study --chapter teachers --jobs 2` of the smoke profile, once: tests copy its cache."""
    from diffprune.cli import main
    d = tmp_path_factory.mktemp("teachers-study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIFFPRUNE_STUDY", str(d))
        mp.delenv("DIFFPRUNE_BULK", raising=False)
        assert main(["study", "--profile", "smoke", "--chapter", "teachers", "--jobs", "2"]) == 0
    return d


def test_study_bulk_brings_back_the_sample_sets_and_names_the_model_directories(teachers_study, tmp_path,
                                                                                  monkeypatch, capsys):
    import os

    from diffprune.cli import main
    shutil.copytree(teachers_study, tmp_path / "study")
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.delenv("DIFFPRUNE_BULK", raising=False)
    capsys.readouterr()
    assert main(["study", "--profile", "smoke", "--chapter", "teachers", "--yes"]) == 0
    sets = list((tmp_path / "study" / "sample").glob("*/" + pipeline.SAMPLES))
    assert sets and capsys.readouterr().out == ""
    for f in sets:
        f.unlink()  # as a fresh clone has them: records only
    assert main(["study", "--profile", "smoke", "--chapter", "teachers", "--yes", "--bulk"]) == 0
    assert all(f.is_file() for f in sets)
    named = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert named and all(Path(r["model_dir"]).is_dir() and {"chapter", "row", "seed"} <= set(r) for r in named)
    assert {Path(r["samples_dir"]) / pipeline.SAMPLES for r in named} == set(sets)
    assert "DIFFPRUNE_BULK" not in os.environ  # --bulk ends with its call: the next one reads results only


def test_the_teacher_s_recipe_retrained_through_checkpoints_is_the_teacher_at_its_length(tmp_path, monkeypatch):
    from diffprune.chapters import teachers
    from diffprune.unet import load_unet
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    p = teachers.CHAPTER.load("smoke", {"teacher_curve_steps": {"mnist-5k": [10, 30, 40]}})
    at_30 = teachers.curve_model(p, 30).path  # resumed from the 10-step run's checkpoint
    a, b = load_unet(at_30).state_dict(), load_unet(pipeline.teacher(p.teacher).path).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert teachers.curve_model(p, 40).record()["params"]["steps"] == 40


def _record_line(key: str, created: str, value: float) -> str:
    return json.dumps({"step": "fd", "key": key, "version": STEPS["fd"].version, "params": {}, "code_version": "x",
                       "device": "cpu", "wall_time_s": 1.0, "created": created, "run_id": None,
                       "results": {"fd.json": {"value": value}}})


def test_a_pack_with_merge_conflict_markers_is_one_line_naming_the_file_and_line(tmp_path, monkeypatch, capsys):
    from diffprune.cli import main
    study = tmp_path / "study"
    (study / "fd").mkdir(parents=True)
    lines = ["<<<<<<< HEAD", _record_line("a" * 16, "2026-12-01T00:00:00Z", 1.0), "=======",
             _record_line("a" * 16, "2026-12-02T00:00:00Z", 2.0), ">>>>>>> other"]
    (study / "fd" / PACK).write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(study))
    with pytest.raises(diffprune.DiffpruneError, match=rf"fd/{PACK}:1: a merge-conflict marker"):
        list(diffprune.study.records("fd"))
    loose = study / "fd" / ("c" * 16) / RECORD
    loose.parent.mkdir()
    loose.write_text(_record_line("c" * 16, "2026-12-03T00:00:00Z", 3.0))
    assert main(["study", "--pack"]) == 2 and loose.is_file()  # nothing moved into a broken pack
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{PACK}:1: a merge-conflict marker" in err
    (study / "fd" / PACK).write_text(lines[1] + "\n" + lines[1][:40] + "\n")  # a line cut short
    with pytest.raises(diffprune.DiffpruneError, match=rf"{PACK}:2: not a record"):
        list(diffprune.study.records("fd"))


def test_packs_merge_by_git_s_union_rule_and_a_key_on_both_sides_reads_back_the_newer(tmp_path, monkeypatch):
    """Two branches each add a record and recompute the same one; git merges the pack without a
    conflict (the repository's .gitattributes), and the recomputed key reads back as the newer record."""
    repo = tmp_path / "repo"
    pack = repo / "data" / "study" / "fd" / PACK
    pack.parent.mkdir(parents=True)
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                       capture_output=True)
    shared, old = "b" * 16, "2026-12-01T00:00:00Z"
    pack.write_text(_record_line(shared, old, 1.0) + "\n")
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "other")
    pack.write_text(_record_line("a" * 16, old, 5.0) + "\n" + _record_line(shared, "2026-12-03T00:00:00Z", 3.0) + "\n")
    git("commit", "-qam", "other")
    git("checkout", "-q", "main")
    pack.write_text(_record_line(shared, "2026-12-02T00:00:00Z", 2.0) + "\n" + _record_line("c" * 16, old, 6.0) + "\n")
    git("commit", "-qam", "main")
    git("merge", "-q", "--no-edit", "other")  # raises on a conflict
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(repo / "data" / "study"))
    study = repo / "data" / "study"
    got = {r["key"]: diffprune.study.result(study / "fd" / r["key"], "fd.json")["value"]
           for r in diffprune.study.records("fd")}
    assert got == {"a" * 16: 5.0, shared: 3.0, "c" * 16: 6.0}
    assert diffprune.study.pack(study) == 0


def test_study_precomputes_what_a_chapter_reads(teachers_study, monkeypatch):
    """`study --chapter teachers --jobs 2` (the fixture), then the chapter's reads compute nothing."""
    from diffprune.chapters import teachers
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(teachers_study))

    def computing(*args, **kwargs):
        raise AssertionError("the chapter computed something that study should have precomputed")
    monkeypatch.setattr(diffprune.study, "_compute", computing)
    monkeypatch.setattr(diffprune.study, "_regenerate", computing)
    p = spec("teachers").load("smoke")
    rows = [teachers.summary(q) for q in evaluation.every_teacher(p)]
    assert len(rows) == 1 + len(p.more_teachers) and all(r["fd"] > 0 for r in rows)


def test_a_regeneration_says_whether_it_reproduced_the_record(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    loss = {"value": "0.5"}
    clock = iter(range(100))

    def compute(work):
        np.savez(work / "samples.npz", images=np.arange(4))
        np.savez(work / "preview.npz", images=np.arange(2))
        # the wall time and the device differ between runs; the loss is what the run computed
        (work / "log.csv").write_text(f"step,loss,wall_time_s\n1,{loss['value']},{next(clock)}\n")
        # a later version of the code records a new flag: not a different result
        config = {"lr": 0.1, **({"precision": "fp32"} if next(clock) > 1 else {})}
        (work / "cost.json").write_text(json.dumps({"steps": 1, "device": f"cpu{next(clock)}", "config": config}))

    def regenerated():
        (d / "samples.npz").unlink()
        diffprune.study.cached("sample", {"n": 4}, compute)
        return json.loads((d / "regenerated.json").read_text())

    d = diffprune.study.cached("sample", {"n": 4}, compute)
    note = regenerated()  # the same results, at another wall time, on another "device", by newer code
    assert note["reproduces_record"] is True and note["differs"] == []
    assert "warning" not in capsys.readouterr().err
    loss["value"] = "0.50001"  # another machine's floating point
    note = regenerated()
    assert note["reproduces_record"] is False and note["differs"] == ["log.csv"]
    assert "differs from its record in log.csv" in capsys.readouterr().err
    assert "1,0.5,0\n" in diffprune.study.result(d, "log.csv")  # the record stays the original run's
    assert "precision" not in diffprune.study.result(d, "cost.json")["config"]


def test_a_paired_comparison_names_where_its_sample_sets_were_drawn(tiny_teacher):
    a = pipeline.samples(tiny_teacher, n=3, seed=0, steps=2)
    b = pipeline.samples(tiny_teacher, n=3, seed=0, steps=3)
    (a.path / pipeline.SAMPLES).unlink()  # as in a fresh clone: only the record is kept
    drawn = pipeline.consistency(a, b, None).result("consistency.json")["drawn"]
    assert drawn == {a.key: "regenerated, reproduces its record", b.key: "recorded run"}
