"""RQ3's own computations: steps to come within x% of the teacher, the headline test, the Pareto
frontier and the readings that write the book's claims, on known inputs."""
import json
from types import SimpleNamespace

import pandas as pd
import pytest

from diffprune import evaluation, pipeline, verdicts
from diffprune.chapters import frontier, recovery, speed


def _row(method, ratio, steps, fd, half=5.0, macs=0.5):
    return {"row": "teacher" if method == "teacher" else f"{method} r={ratio:g} @{steps}", "method": method,
            "ratio": ratio, "steps": steps, "fd": fd, "fd_low": fd - half, "fd_high": fd + half,
            "macs_fraction": 1.0 if method == "teacher" else macs}


@pytest.fixture
def summary():
    rows = [_row("teacher", 0.0, 0, 100.0)]
    for steps, dp, rnd in [(0, 900.0, 950.0), (100, 124.0, 300.0), (400, 108.0, 200.0), (1600, 104.0, 150.0)]:
        rows += [_row("diff-pruning", 0.3, steps, dp), _row("random", 0.3, steps, rnd)]
    rows += [_row("diff-pruning", 0.1, s, fd, macs=0.8) for s, fd in [(0, 300.0), (100, 109.0)]]
    return pd.DataFrame(rows)


def test_steps_to_reach_is_the_first_checkpoint_within_the_margin(summary):
    assert recovery.steps_to_reach(summary, 0.10)[("diff-pruning", 0.3)] == 400
    assert recovery.steps_to_reach(summary, 0.25)[("diff-pruning", 0.3)] == 100
    assert recovery.steps_to_reach(summary, 0.10)[("random", 0.3)] is None
    assert recovery.steps_to_reach(summary, 0.10)[("diff-pruning", 0.1)] == 100


def test_headline_table_gives_shares_of_the_teacher_steps(summary):
    table = recovery.headline_table(summary, trained=5000)
    assert table.loc["0.3 (×0.50)", ("within 10%", "diff-pruning")] == "8%"
    assert table.loc["0.3 (×0.50)", ("within 10%", "random")] == "–"  # not within by the longest finetune
    assert table.loc["0.1 (×0.80)", ("within 25%", "diff-pruning")] == "2%"


def _points():
    return pd.DataFrame([
        {"model": "teacher", "sampler": "ddim", "sampler_steps": 10, "seconds_per_1000": 10.0, "fd": 50.0},
        {"model": "teacher", "sampler": "ddim", "sampler_steps": 25, "seconds_per_1000": 25.0, "fd": 30.0},
        {"model": "small", "sampler": "ddim", "sampler_steps": 25, "seconds_per_1000": 12.0, "fd": 40.0},
        {"model": "small", "sampler": "ddim", "sampler_steps": 10, "seconds_per_1000": 5.0, "fd": 70.0},
        {"model": "small", "sampler": "dpm", "sampler_steps": 20, "seconds_per_1000": 11.0, "fd": 60.0},
    ]).assign(fd_low=lambda d: d["fd"] - 2, fd_high=lambda d: d["fd"] + 2)


def test_pareto_front_keeps_the_points_nothing_beats():
    front = frontier.pareto_front(_points())
    kept = sorted(zip(front["model"], front["sampler_steps"], strict=True))
    assert kept == [("small", 10), ("small", 25), ("teacher", 10), ("teacher", 25)]


def _speed(device, name, speedups, spread=0.0, base="teacher"):
    """Rows of one unpruned model (`base`, speed-up 1) and its prunes at (ratio, speed-up)."""
    return [{"device": device, "device_name": name, "model": base if r == 0 else f"{base} r={r:g}", "base": base,
             "params": 1e6, "ratio": r, "batch": 64, "threads": 2, "speedup": s, "speedup_lo": s - spread,
             "speedup_hi": s + spread, "rounds": 3, "ideal": 2.0, "of_ideal": s / 2.0}
            for r, s in [(0.0, 1.0), *speedups]]


def test_the_speed_goal_reads_the_study_ratio_at_the_largest_setting_of_each_device():
    found = speed.speed_goal(_speed("cpu", "cpu:x86_64", [(0.25, 1.6), (0.5, 1.8)])
                           + _speed("cuda", "cuda:H100", [(0.25, 1.02)]), 0.25)
    assert [(f["device"], f["threads"]) for f in found] == [("cpu:x86_64", 2), ("H100", None)]  # a GPU by its name
    assert found[0]["of_ideal"] == pytest.approx(0.8) and found[0]["kind"] is verdicts.Kind.BETTER
    assert found[0]["best_anywhere"] == pytest.approx(1.8)  # any ratio of the device
    assert found[1]["of_ideal"] == pytest.approx(0.51) and found[1]["kind"] is verdicts.Kind.WORSE
    table = speed.speed_goal_table(found)
    assert list(table[f"against {speed.GOAL:.2f}"]) == ["better", "worse"]


def test_the_speed_table_names_the_gpu_each_column_was_timed_on():
    rows = [{**r, "seconds_per_batch": 0.01, "macs_fraction": 1.0 if r["ratio"] == 0 else 0.58}
            for r in _speed("cpu", "cpu:x86_64 x2 threads", [(0.25, 1.2)])
            + _speed("cuda", "cuda:NVIDIA H200", [(0.25, 0.9)])]
    table = speed.speed_table(rows)
    assert list(table.columns) == ["cpu, batch 64, 2 thr.", "H200, batch 64"]
    assert table.loc[("teacher r=0.25", "0.58"), "H200, batch 64"] == "10.0 ms (0.90× of 2.00×)"


def test_batch_growth_compares_each_unpruned_model_s_largest_batch_with_its_smallest():
    def row(device, model, batch, threads, seconds):
        return {"device": device, "device_name": f"{device}:x", "model": model, "base": "teacher",
                "batch": batch, "threads": threads, "seconds_per_batch": seconds}
    rows = [row("cpu", "teacher", 1, 1, 1.0), row("cpu", "teacher", 64, 1, 40.0),
            row("cpu", "teacher", 1, 2, 0.5), row("cpu", "teacher", 64, 2, 16.0),
            row("cpu", "teacher r=0.25", 64, 2, 8.0),  # a prune: not an unpruned model's growth
            row("cuda", "teacher", 1, 1, 0.010), row("cuda", "teacher", 64, 1, 0.012)]
    growth = speed.batch_growth(rows)
    assert [(g["device"], g["growth"]) for g in growth] == [("cpu:x", pytest.approx(32.0)),
                                                            ("x", pytest.approx(1.2))]  # a GPU by its name
    assert speed.batch_growth_text(growth) == ("teacher on cpu:x, batch 64 against 1: 32.0×; "
                                             "teacher on x, batch 64 against 1: 1.2×")
    assert speed.batch_growth([row("cuda", "teacher", 64, 1, 0.01)]) == []  # one batch size: nothing to compare


def test_the_goal_is_met_or_missed_only_where_every_round_agrees():
    both_sides = speed.speed_goal(_speed("cpu", "cpu:x86_64", [(0.25, 1.5)], spread=0.1), 0.25)[0]
    assert (both_sides["low"], both_sides["high"]) == pytest.approx((0.70, 0.80))
    assert both_sides["kind"] is verdicts.Kind.INCONCLUSIVE
    missed = speed.speed_goal(_speed("cpu", "cpu:x86_64", [(0.25, 1.3)], spread=0.1), 0.25)[0]
    assert missed["kind"] is verdicts.Kind.WORSE


def test_a_timed_architecture_is_read_against_its_own_unpruned_model():
    found = speed.speed_goal(_speed("cpu", "cpu:x86_64", [(0.25, 1.1), (0.5, 1.2)])
                           + _speed("cpu", "cpu:x86_64", [(0.25, 1.7)], base="ddpm-cifar10-32"), 0.25)
    assert [(f["model"], f["kind"]) for f in found] == [("teacher", verdicts.Kind.WORSE),
                                                         ("ddpm-cifar10-32", verdicts.Kind.BETTER)]
    assert [f["best_anywhere"] for f in found] == pytest.approx([1.2, 1.7])  # its own prunes only


def test_speed_rows_pair_each_prune_with_its_own_unpruned_model_by_round(monkeypatch, params):
    specs = [("teacher", 0.0, "t", "teacher"), ("r=0.25", 0.25, "p", "teacher"),
             ("big", 0.0, "B", "big"), ("big r=0.25", 0.25, "P", "big")]
    macs = {"t": 100, "p": 50, "B": 1000, "P": 400}
    seconds = {"t": [1.0, 2.0], "p": [0.8, 1.0], "B": [10.0, 10.0], "P": [5.0, 4.0]}
    monkeypatch.setattr(pipeline, "size", lambda m: {"params": macs[m], "macs": macs[m]})
    monkeypatch.setattr(evaluation, "timing_rounds", lambda models, settings, **kw: {
        (label, 64, 1): [{"seconds_per_batch": s, "key": f"{m}{i}"} for i, s in enumerate(seconds[m])]
        for label, m in models.items()})
    p = params(speed_batches=[64], speed_threads=[1], speed_rounds=2, speed_repeats=5)
    rows = {r["model"]: r for r in speed.speed_rows(p, "cpu", specs=specs)}
    assert rows["r=0.25"]["speedup_lo"] == pytest.approx(1.25) and rows["r=0.25"]["speedup_hi"] == pytest.approx(2.0)
    assert (rows["big r=0.25"]["speedup_lo"], rows["big r=0.25"]["speedup_hi"]) == pytest.approx((2.0, 2.5))
    assert rows["big r=0.25"]["ideal"] == pytest.approx(2.5) and rows["big r=0.25"]["macs_fraction"] == 0.4


@pytest.mark.parametrize("sampler, steps", [("ddim", 100), ("dpm-solver++", 10)])
def test_every_frontier_sampler_takes_a_spacing_it_accepts(sampler, steps):
    from diffprune.chapters import rq3
    from diffprune.sample import check
    from diffprune.unet import default_scheduler
    p = rq3.CHAPTER.load("smoke", {"spacing": "quad", "sampler": "ddim", "ddim_steps": 100})
    q = recovery.sampled_by(p, sampler, steps)
    assert q.sampler == sampler and q.ddim_steps == steps
    assert q.spacing == ("quad" if sampler == "ddim" else "uniform")  # DDIM keeps the paper's quad
    check(default_scheduler(), 4, seed=0, sampler=sampler, steps=steps, eta=0.0, spacing=q.spacing, batch_size=4)


def test_each_pruned_point_meets_the_best_teacher_point_that_costs_no_more_time(monkeypatch, params):
    rows = {None: [("ddim", 10, 50.0), ("ddim", 25, 40.0), ("dpm-solver++", 5, 70.0)],
            0.25: [("ddim", 10, 45.0), ("ddim", 25, 38.0), ("dpm-solver++", 20, 60.0)]}
    monkeypatch.setattr(frontier, "frontier_rows", lambda p, ratio, seed: [
        {"sampler": s, "sampler_steps": n, "fd": fd} for s, n, fd in rows[ratio]])
    # one step costs the teacher 1 s per 1,000 images and the pruned model 0.5 s
    timed = [{"device": "cpu", "model": m, "batch": 64, "threads": 2, "seconds_per_batch": s}
             for m, s in (("teacher", 0.064), ("r=0.25", 0.032))]
    pairs = frontier.frontier_pairs(params(tradeoff_seeds=[0], frontier_ratios=[0.25]), timed)
    assert pairs == [((0.25, "ddim", 10), (None, "dpm-solver++", 5)),   # 5 s: only DPM-5 is as cheap
                     ((0.25, "ddim", 25), (None, "ddim", 10)),          # 12.5 s: DDIM-10 beats DPM-5
                     ((0.25, "dpm-solver++", 20), (None, "ddim", 10))]  # 10 s: a tie in time counts


def test_a_training_lever_is_adopted_only_where_its_finetune_is_equivalent(tmp_path, monkeypatch, params):
    """The rule fixed before the numbers: equivalent to fp32 on FD and SSIM, paired by seed."""
    from diffprune.chapters import training_step
    levers = {"levers": [{"lever": "fp32", "seconds_per_step": 1.0, "speedup": 1.0, "speedup_low": 1.0,
                          "speedup_high": 1.0}], "train_loop_seconds_per_step": {"fp32": 1.0, "bf16": 0.7},
              "train_loop_speedup_bf16": 1.0 / 0.7, "device": "cpu", "batch": 64, "threads": 1}
    (tmp_path / "levers.json").write_text(json.dumps(levers))
    monkeypatch.setattr(training_step, "LEVERS", tmp_path / "levers.json")
    monkeypatch.setattr(training_step, "PRECISION", tmp_path / "precision.json")
    p = params(equivalence_margins={"fd": 0.02, "ssim": 0.01})
    assert training_step.section(p)["verdicts"] is None and not training_step.section(p)["adopted"]

    def rows(fd_shift, ssim_shift):
        fp32 = [{"seed": s, "fd": 180.0 + 7 * s, "ssim": 0.80 + 0.01 * s} for s in range(5)]
        return {"fp32": fp32, "bf16": [{**r, "fd": r["fd"] + fd_shift[r["seed"]], "ssim": r["ssim"] + ssim_shift}
                                       for r in fp32]}
    for shifts, adopted, decision in (
            (([0.1, -0.2, 0.3, 0.0, -0.1], 0.001), True, "bf16 is adopted"),
            (([6.9, 1.9, -3.0, 8.0, 0.5], 0.0), False, "bf16 is **not** adopted: equivalence to fp32 was not shown"),
            (([8.0, 9.0, 7.0, 8.5, 9.0], 0.0), False,
             "bf16 is **not** adopted: its finetunes are worse than fp32's on FD")):
        (tmp_path / "precision.json").write_text(json.dumps({"rows": rows(*shifts), "seeds": list(range(5))}))
        found = training_step.section(p)
        assert found["adopted"] is adopted and len(found["found"]) == 2 and found["decision"].startswith(decision)


def test_the_levers_table_reads_each_pair_and_batch_and_names_the_fastest_setting(tmp_path, monkeypatch):
    from diffprune.chapters import speed

    def lever(u, p):
        return {"unpruned_s": u, "pruned_s": p, "speedup": u / p, "of_ideal": u / p / 2.0,
                "pruned_vs_baseline": 0.1 / p}
    rows = [{"model": m, "batch": b, "ideal_speedup": 2.0,
             "levers": {"no_grad (baseline)": lever(0.15, 0.1), "channels_last": lever(0.12, 0.05)}}
            for m in ("teacher", "ddpm-cifar10-32") for b in (1, 64)]
    ops = {"aten::conv2d": {"unpruned_s": 0.1, "pruned_s": 0.05, "shrink": 2.0},
           "aten::_scaled_dot_product_flash_attention": {"unpruned_s": 0.02, "pruned_s": 0.02, "shrink": 1.0}}
    record = {"profile": "cpu", "ratio": 0.25, "threads": 2, "repeats": 5, "operators_batch": 64, "rows": rows,
              "operators": {"teacher": ops, "ddpm-cifar10-32": ops}, "compiled": False,
              "device": "cpu:x86_64 x2 threads"}
    (tmp_path / "levers.json").write_text(json.dumps(record))
    found = speed.levers_section(tmp_path / "levers.json", None)
    assert len(found["levers"]) == 2 * 2 * 2 and set(found["levers"].index.get_level_values("batch")) == {1, 64}
    assert found["levers"].loc[("teacher r=0.25", 64, 2, "channels_last"), "speed-up"] == "2.40×"  # the same setting's
    assert found["reading"].count("the fastest setting for the pruned model is channels_last (2.00×") == 2  # batch 64
    tie = [{**row, "levers": {**row["levers"], "inference_mode": lever(0.12, 0.0504)}} for row in rows]
    (tmp_path / "levers.json").write_text(json.dumps({**record, "rows": tie}))
    assert "is channels_last (tied within 1 % with inference_mode) (2.00×" in \
        speed.levers_section(tmp_path / "levers.json", None)["reading"]
    (tmp_path / "levers.json").write_text(json.dumps(record))
    reading = found["reading"]
    assert "`aten::_scaled_dot_product_flash_attention`" in reading and "`aten::conv2d`" not in reading
    assert "torch.compile not timed" in found["reading"]
    assert found["operators"].index.names[1] == "operator (self CPU time)"
    # thread counts per row, and a prune at one ratio with widths rounded to 8 and not
    rows = [{**row, "threads": th} for row in rows for th in (1, 2)]
    rows += [{"model": m, "batch": 64, "threads": 2, "ideal_speedup": ideal,
              "levers": {"no_grad (baseline)": lever(0.15, pruned)}}
             for m, ideal, pruned in (("teacher r=0.35", 2.8, 0.1), ("teacher r=0.35, round-to 8", 2.2, 0.08))]
    (tmp_path / "levers.json").write_text(json.dumps({**record, "rows": rows, "threads": [1, 2], "operators": {
        m: ops for m in ("teacher", "ddpm-cifar10-32", "teacher r=0.35", "teacher r=0.35, round-to 8")}}))
    found = speed.levers_section(tmp_path / "levers.json", None)
    assert set(found["levers"].index.get_level_values("threads")) == {1, 2}
    assert found["reading"].count("at batch 64, 2 threads") == 4 and "1 threads" not in found["reading"]
    assert ("teacher r=0.35 with every width rounded to a multiple of 8: MACs ideal 2.20× against 2.80× unrounded, "
            "measured speed-up 1.88× against 1.50× (batch 64, 2 threads): the rounded prune 1.25× as fast as the "
            "unrounded one, each against its own unpruned timing.") in found["reading"]
    # two rows timed minutes apart: a gap smaller than the unpruned model's own drift between them shows nothing
    drifted = [{**row, "levers": {"no_grad (baseline)": lever(0.165, 0.107)}} if row["model"].endswith("round-to 8")
               else row for row in rows]
    (tmp_path / "levers.json").write_text(json.dumps({**record, "rows": drifted, "threads": [1, 2], "operators": {
        m: ops for m in ("teacher", "ddpm-cifar10-32", "teacher r=0.35", "teacher r=0.35, round-to 8")}}))
    assert ("the rounded prune 1.03× as fast as the unrounded one, each against its own unpruned timing — within the "
            "9 % that the same unpruned model drifted") in \
        speed.levers_section(tmp_path / "levers.json", None)["reading"]
    # a row timed on a prune the prune step now makes otherwise (its rule changed): left out, read nowhere
    eight = {"of": "teacher", "method": "magnitude", "ratio": 0.35, "seed": 0, "round_to": 8}
    for row in rows:
        if row["model"].startswith("teacher r=0.35"):
            row["prune"] = {**eight, "round_to": 8 if row["model"].endswith("round-to 8") else 1}
    (tmp_path / "levers.json").write_text(json.dumps({**record, "rows": rows, "threads": [1, 2], "operators": {
        m: ops for m in ("teacher", "ddpm-cifar10-32", "teacher r=0.35", "teacher r=0.35, round-to 8")}}))
    for now, moved in ((2.201, False), (2.8, True)):  # within the tolerance of the recorded 2.2, and beyond it
        monkeypatch.setattr(speed, "ideal_now", lambda p, prune, now=now: now if prune["round_to"] == 8 else None)
        found = speed.levers_section(tmp_path / "levers.json", None)
        eight_rows = "teacher r=0.35, round-to 8"
        assert (eight_rows in set(found["levers"].index.get_level_values("model"))) != moved
        assert (eight_rows in set(found["operators"].index.get_level_values("model"))) != moved
        assert "Not checked against the prune step as it is now (no prune recorded for them): ddpm-cifar10-32 " \
               "r=0.25, teacher r=0.25, teacher r=0.35." in found["reading"]  # no spec, or (here) no record of it
        assert ("the rounded prune 1.25× as fast" in found["reading"]) != moved
        assert found["reading"].count("at batch 64, 2 threads") == (3 if moved else 4)
        assert ("this run timed a prune of MACs ideal 2.20×, and the prune step now makes one of 2.80×"
                in found["reading"]) == moved
    (tmp_path / "speed_levers_cuda.json").write_text(json.dumps({**record, "on": "cuda", "device": "cuda:NVIDIA H100"}))
    (tmp_path / "speed_levers.json").write_text(json.dumps(record))
    monkeypatch.setattr("diffprune.paths.RESULTS_DIR", tmp_path)
    assert [p.name for p in speed.levers_records()] == ["speed_levers.json", "speed_levers_cuda.json"]  # CPU first
    on_gpu = speed.levers_section(tmp_path / "speed_levers_cuda.json", None)
    assert on_gpu["operators"].index.names[1] == "operator (self CUDA time)" and "NVIDIA H100" in on_gpu["reading"]


def test_a_lever_s_draw_is_read_against_fp32_from_the_same_noise(monkeypatch, tmp_path):
    """Each lever setting redraws the first seed's samples of the teacher and RQ1's reference row from
    the fp32 draws' own noise; the paired bootstrap's interval decides the reading against the fd
    margin (of fp32's FD), and the reading names the models a setting leaves equivalent and the rest."""
    from diffprune.chapters import lever_samples, rq3
    from diffprune.levers import Levers
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))  # the smoke teacher is trained there
    p = rq3.CHAPTER.load("smoke", {"lever_checks": [{"precision": "bf16"}, {"channels_last": True},
                                                    {"precision": "bf16", "channels_last": True}]})
    drawn = []

    def samples_of(model, q, seed, n=None, levers=None):
        drawn.append((model.key, seed, levers or Levers()))
        return pipeline.Artifact("sample", f"{model.key[:4]}-{(levers or Levers()).describe()}", lambda bulk: None)

    shifts = {"bf16": (0.5, 0.1, 0.9), "fp32 + channels-last": (30.0, 20.0, 40.0),  # FD 100: margin ±2
              "bf16 + channels-last": (1.0, -3.0, 5.0)}
    monkeypatch.setattr(evaluation, "samples_of", samples_of)
    def done(result: dict):  # a computed step: its one result file, whatever its name
        return SimpleNamespace(result=lambda name: result)
    monkeypatch.setattr(pipeline, "fd", lambda s, **k: done({"value": 100.0}))
    monkeypatch.setattr(pipeline, "paired_fd", lambda a, b, **k: done(dict(zip(
        ("value", "ci_low", "ci_high"), shifts[a.key.split("-", 1)[1]], strict=True), n=50, a=a.key, b=b.key)))
    monkeypatch.setattr(pipeline, "consistency", lambda a, b, clf: done({"ssim": {"value": 0.99}}))
    section = lever_samples.lever_section(p)
    seed, teacher = p.seeds[0], pipeline.teacher(p.teacher).key
    assert {(k, s) for k, s, _ in drawn} >= {(teacher, seed)} and {s for _, s, _ in drawn} == {seed}
    assert {lv for _, _, lv in drawn} == {Levers(), Levers(precision="bf16"), Levers(channels_last=True),
                                          Levers(precision="bf16", channels_last=True)}
    kinds = {(v.a, v.kind) for v in section["verdicts"]}
    assert ("teacher, bf16", verdicts.Kind.EQUIVALENT) in kinds
    assert ("teacher, fp32 + channels-last", verdicts.Kind.WORSE) in kinds
    assert section["reading"].startswith("bf16: equivalent to fp32 for teacher, diff-pruning T=")
    assert "fp32 + channels-last: changes the draws of teacher (FD higher than fp32's: +30.0" in section["reading"]
    assert "bf16 + channels-last: not shown equivalent for teacher (inconclusive (resolves ±4.0" in section["reading"]
    with pytest.raises(Exception, match="lever_checks"):
        rq3.CHAPTER.load("smoke", {"lever_checks": [{"precision": "fp8"}]})


def test_the_headline_s_control_is_the_teacher_finetuned_through_the_same_window(tmp_path, monkeypatch):
    from diffprune.chapters import headline, rq3
    from diffprune.models import pixel_model
    from diffprune.unet import build_unet
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    teacher = str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / "teacher"))
    p = rq3.CHAPTER.load("smoke", {"teacher": teacher, "dataset": "mnist-5k", "control_row": True,
                                   "headline_steps": [2, 3], "headline_point": 2})
    assert headline.methods(p)[-1] == evaluation.CONTROL
    assert [args[1] for fn, args in headline.headline_jobs(p) if fn is headline.headline_rows].count(
        evaluation.CONTROL) == len(p.headline_seeds)
    seed = p.headline_seeds[0]
    control = {s: headline.headline_model(p, evaluation.CONTROL, seed, s) for s in p.headline_steps}
    pruned = {s: headline.headline_model(p, "diff-pruning", seed, s) for s in p.headline_steps}
    t = pipeline.teacher(teacher)
    assert control[2].step == "finetune" and control[2].params["model"] == t.key  # not pruned
    # the same run as the pruned one's, checkpoint by checkpoint: only the model it starts from differs
    assert all({k: v for k, v in control[s].params.items() if k != "model"}
               == {k: v for k, v in pruned[s].params.items() if k != "model"} for s in p.headline_steps)
    assert len({m.key for m in [*control.values(), *pruned.values(), t]}) == 5
    assert evaluation.CONTROL not in headline.methods(p.replace(control_row=False))
    assert not (tmp_path / "study").exists()  # keys known without computing


def test_each_pruned_checkpoint_is_read_against_the_control_at_the_same_steps(monkeypatch, params):
    from diffprune.chapters import headline
    p = params(headline_methods=["diff-pruning"], headline_steps=[10, 20], headline_point=20, headline_seeds=[0, 1, 2],
               control_row=True, teacher_steps=100)
    fd = {"diff-pruning": {10: 130.0, 20: 120.0}, evaluation.CONTROL: {10: 100.0, 20: 90.0}}
    monkeypatch.setattr(headline, "teacher_row", lambda q, s: {"seed": s, "fd": 110.0 + s})
    monkeypatch.setattr(headline, "headline_rows", lambda q, m, s: [
        {"seed": s, "steps": k, "fd": v + s + 0.1 * s * s, "method": headline.label(m)} for k, v in fd[m].items()])
    found = headline.headline_verdicts(p, within=0.05)
    assert {(v.a, v.b) for v in found} == {("diff-pruning", "teacher"), (evaluation.CONTROL_LABEL, "teacher"),
                                           ("diff-pruning", evaluation.CONTROL_LABEL)}
    at_teacher = headline.at_point(p, found)
    at_control = headline.at_point(p, found, against=evaluation.CONTROL_LABEL)
    jitter = sum(0.1 * s * s for s in p.headline_seeds) / 3  # the runs' own, not the teacher's
    assert at_teacher.b == "teacher" and at_teacher.difference == pytest.approx(120.0 - 110.0 + jitter)
    assert at_control.where == at_teacher.where == "@20 (20%)"
    assert at_control.difference == pytest.approx(120.0 - 90.0) and at_control.kind is verdicts.Kind.WORSE
    assert headline.at_point(p.replace(control_row=False), headline.headline_verdicts(
        p.replace(control_row=False), within=0.05), against=evaluation.CONTROL_LABEL) is None


def test_rounding_is_one_model_where_every_width_is_already_a_multiple_and_two_elsewhere(tmp_path, monkeypatch):
    """The smoke teacher (widths 16/32/64) pruned by RQ1's reference row: at ratio 0.5 every width is a
    multiple of 8 already, so the rounded prune keeps the same channels and no row is computed; at 0.3
    the rounded prune's widths are multiples of 8 and differ from the unrounded ones."""
    from diffprune.chapters import rounding, rq3
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    p = rq3.CHAPTER.load("smoke", {"rounding_ratios": [0.3, 0.5]})
    assert rounding.same_model(p, 0.5) and rounding.rounding_rows(p, 0.5, p.seeds[0]) == []
    assert not rounding.same_model(p, 0.3)
    one, rounded = rounding.prune_reports(p, 0.3)
    assert one["round_to"] == 1 and rounded["round_to"] == p.rounding_multiple == 8
    assert all(w % 8 == 0 for w in rounded["widths_after"].values())
    assert any(w % 8 for w in one["widths_after"].values())


@pytest.mark.parametrize("fd_diffs, ssim_diffs, expected", [
    ((-0.1, 0.0, 0.1), (0.0001, 0.0, -0.0001), "rounding to 8 is free at this ratio"),
    ((-0.1, 0.0, 0.1), (-0.05, -0.049, -0.051), "rounding to 8 costs quality at this ratio"),
    # each interval just inside its margin (FD ±2.0, SSIM ±0.01), each equivalence p between 0.0125 and
    # 0.025: equivalent read alone, not once Holm adjusts for the family of two
    ((-0.765, 0.0, 0.765), (-0.00382, 0.0, 0.00382), "what rounding to 8 costs at this ratio is not resolved by "
                                                      "seeds 0, 1, 2"),
])
def test_rounding_s_cost_is_read_paired_by_seed_holm_adjusted_by_the_rule(monkeypatch, params, fd_diffs, ssim_diffs,
                                                                          expected):
    """Rounded against unrounded rows of three seeds at 0.35, paired by seed, FD and SSIM: both readings
    equivalent, free; one worse, it costs quality; both equivalent only before Holm's adjustment over
    the family of two, not resolved. At 0.25 the two prunes are one model: nothing is compared there
    and the page says why."""
    from diffprune.chapters import rounding
    p = params(rounding_ratios=[0.25, 0.35], rounding_multiple=8, seeds=[0, 1, 2], reference_threshold=0.05,
               dataset="fashion-mnist", equivalence_margins={"fd": 0.02, "ssim": 0.01}, ratio=0.25)
    report = {"widths_after": {"a": 41}, "removed": {}, "macs_fraction": 0.4}
    monkeypatch.setattr(rounding, "prune_reports", lambda q, r: (report, {**report, "widths_after": {"a": 40}}))
    monkeypatch.setattr(rounding, "same_model", lambda q, r: r == 0.25)

    def rows(q, ratio, seed):
        assert ratio == 0.35, "rows are computed only where rounding changes the model"
        return [{"row": rounding.label(q, k), "ratio": ratio, "round_to": k, "seed": seed,
                 "fd": 100.0 + (fd_diffs[seed] if k == 8 else 0.0),
                 "ssim": 0.8 + 0.01 * seed + (ssim_diffs[seed] if k == 8 else 0.0)} for k in (1, 8)]
    monkeypatch.setattr(rounding, "rounding_rows", rows)
    section = rounding.rounding_section(p)
    table = section["table"]
    assert list(table.index) == ["0.25", "0.35"] and table.loc["0.35", "widths, round-to 8"] == "40"
    assert table.loc["0.25", "FD: round-to 8 − round-to 1"] == "the same model: no difference"
    assert "At ratio 0.25 every pruned width is already a multiple of 8" in section["reading"]
    assert f"By the rule fixed before the numbers, {expected}." in section["reading"]
    assert "Holm-adjusted over 2 readings" in section["reading"]
    raw = [v.kind for v in rounding.rounding_verdicts(p, 0.35)]  # what each reading says alone
    if "not resolved" in expected:
        assert raw == [verdicts.Kind.EQUIVALENT] * 2


def test_while_planning_the_rounding_check_waits_for_its_prunes(monkeypatch, params):
    """A plan reads a prune still to compute as unknown: no row is listed until both prunes are known
    (a later round plans them), since a listed step the job then does not reach fails on Dask."""
    from diffprune import study
    from diffprune.chapters import rounding
    p = params(seeds=[0], reference_threshold=0.05, rounding_multiple=8)
    known = {"widths_after": {"a": 41}, "removed": {}}
    for reports in ((study.Unknown(), study.Unknown()), (known, study.Unknown())):
        monkeypatch.setattr(rounding, "prune_reports", lambda q, r, x=reports: x)
        assert rounding.same_model(p, 0.35) is True


def test_a_speed_up_beyond_its_macs_ideal_is_named_with_what_can_cause_it():
    from diffprune.chapters import speed
    row = {"model": "teacher", "device": "cpu", "ideal": 1.74, "speedup": 1.25, "speedup_low": 1.22,
           "speedup_high": 1.5}
    assert speed.above_ideal([row]) == "No round is faster than its MACs ideal."
    some = speed.above_ideal([{**row, "speedup_high": 2.12}, {**row, "model": "big", "speedup": 1.88, "ideal": 1.76,
                                                              "speedup_high": 2.0}])
    assert "teacher on cpu: up to 2.12× against 1.74×" in some and "big on cpu: median 1.88× against 1.76×" in some


def test_the_rounding_check_knows_which_rounded_prunes_were_timed_for_speed(tmp_path, monkeypatch):
    from diffprune.chapters import rounding
    spec = {"of": "teacher", "method": "magnitude", "ratio": 0.35, "seed": 0}
    rows = [{"model": "teacher r=0.35", "prune": {**spec, "round_to": 1}},
            {"model": "teacher r=0.35, round-to 8", "prune": {**spec, "round_to": 8}}, {"model": "teacher"}]
    (tmp_path / "speed_levers.json").write_text(json.dumps({"rows": rows}))
    monkeypatch.setattr("diffprune.paths.RESULTS_DIR", tmp_path)
    assert rounding.timed_rounding_ratios() == [0.35]  # the rounded one only; a row without a spec is skipped
