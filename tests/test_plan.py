"""The plan before compute: a run lists what it would compute (with the inputs those steps read),
computes nothing while planning, prices the steps from the records, and asks before a long run."""

import os
import shlex
import subprocess
import sys

import pytest

import diffprune.study
from diffprune import DiffpruneError, pipeline, plan
from diffprune.book import render
from diffprune.chapters import rq1
from diffprune.models import pixel_model
from diffprune.unet import build_unet

KW = dict(dataset="mnist-5k", batch_size=4, lr=1e-3, warmup_steps=2, seed=0)


def _row(teacher_dir: str, steps: int) -> dict:
    """A chapter-like job: a finetuned prune's samples against the teacher's, from the same noise."""
    t = pipeline.teacher(teacher_dir)
    model = pipeline.finetuned(pipeline.pruned(t, method="random", ratio=0.25, seed=0), steps=steps, **KW)
    cons = pipeline.consistency(pipeline.samples(t, n=3, seed=0, steps=2),
                                pipeline.samples(model, n=3, seed=0, steps=2), None).result("consistency.json")
    return {"size": pipeline.size(model), "ssim": cons["ssim"]}


@pytest.fixture
def teacher_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    plan.rates_in.cache_clear()
    yield str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / "teacher"))
    plan.rates_in.cache_clear()


def _kinds(p: plan.Plan) -> dict[str, int]:
    out = {}
    for s in p.steps.values():
        out[s.step] = out.get(s.step, 0) + 1
    return out


def test_a_plan_lists_every_step_a_job_would_compute_and_computes_nothing(teacher_dir, tmp_path):
    p = plan.of([(_row, (teacher_dir, 4))])
    assert _kinds(p) == {"prune": 1, "finetune": 1, "sample": 2, "consistency": 1}
    assert not p.stopped and not (tmp_path / "study").exists()  # nothing written, not even a lock
    assert "no recorded step to price it" in p.table()
    _row(teacher_dir, 4)  # computed for real
    assert plan.of([(_row, (teacher_dir, 4))]).steps == {}
    assert plan.of([(_row, (teacher_dir, 4))]).table() == "nothing to compute: every step is recorded"


def test_a_plan_lists_inputs_to_regenerate_where_only_their_records_are_kept(teacher_dir, tmp_path):
    _row(teacher_dir, 4)
    for bulk in (tmp_path / "study").glob("*/*/" + pipeline.SAMPLES):
        bulk.unlink()  # as a fresh clone: the sample sets' records only
    # a longer finetune: new samples, and a consistency that reads the teacher's
    p = plan.of([(_row, (teacher_dir, 6))])
    regenerate = {s.step for s in p.steps.values() if s.regenerate}
    assert _kinds(p) == {"finetune": 1, "sample": 2, "consistency": 1} and regenerate == {"sample"}


def test_rates_come_from_the_study_cache_in_use_not_one_an_earlier_plan_read(teacher_dir, tmp_path, monkeypatch):
    """CI plans many study caches in one process: rates read from one priced another's plan (and asked
    for --yes on a plan of seconds)."""
    _row(teacher_dir, 4)
    assert "finetune" in plan.recorded_rates()
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "another"))
    assert plan.recorded_rates() == {}


def test_the_estimate_prices_each_step_by_its_unit_from_the_records(teacher_dir):
    _row(teacher_dir, 4)
    rates = plan.recorded_rates()
    finetune = next(diffprune.study.records("finetune"))
    assert rates["finetune"] == pytest.approx(finetune["wall_time_s"] / 4)  # seconds per finetune step
    p = plan.of([(_row, (teacher_dir, 10))])
    seconds, unpriced = p.seconds()
    finetune_s = rates["finetune"] * 10
    assert not unpriced and seconds >= finetune_s  # ten steps at the recorded rate, and the samples after them


def test_a_resumed_finetune_is_priced_by_the_steps_it_trained_itself(teacher_dir):
    """A finetune resumed from a shorter one's checkpoint trained only the rest: its rate is its own
    time over those steps (it was its time over all of them, half the true rate here)."""
    t = pipeline.teacher(teacher_dir)
    pruned = pipeline.pruned(t, method="random", ratio=0.25, seed=0)
    longer = pipeline.finetuned(pruned, steps=8, passing=(4,), **KW)
    resumed = diffprune.study.record(longer.path)  # computed: the 4-step finetune, then the rest from its checkpoint
    cost = longer.result("cost.json")
    assert cost["resumed_at_step"] == 4 and cost["wall_time_this_run_s"] <= cost["wall_time_s"]
    assert plan._training_rate(resumed) == pytest.approx(resumed["wall_time_s"] / 4)
    # a record from before cost.json said where it resumed: priced only where its own time covers the run's
    del cost["resumed_at_step"]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(diffprune.study, "result", lambda d, name: cost)
        assert plan._training_rate({**resumed, "wall_time_s": cost["wall_time_s"] / 2}) == 0.0
        assert plan._training_rate({**resumed, "wall_time_s": cost["wall_time_s"]}) == pytest.approx(
            cost["wall_time_s"] / 8)


def test_an_empty_cache_s_plan_says_its_time_is_unknown(teacher_dir):
    text = plan.of([(_row, (teacher_dir, 4))]).table()
    assert "time unknown: no recorded step" in text and "about 0 s" not in text
    from diffprune.artifacts import device_description, device_words
    assert device_words(device_description()) in text and device_description() not in text  # words, not its key


def test_a_long_plan_is_confirmed_or_refused_without_a_terminal(monkeypatch):
    p = plan.Plan({("finetune", "k"): plan.Planned("finetune", "k", {"steps": 10_000}, False)})
    monkeypatch.setattr(plan, "recorded_rates", lambda: {"finetune": 1.0})
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(DiffpruneError, match="--yes"):
        plan.confirm(p, yes=False, what="rq1")
    plan.confirm(p, yes=True, what="rq1")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(DiffpruneError, match="not started"):
        plan.confirm(p, yes=False, what="rq1")
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    plan.confirm(p, yes=False, what="rq1")
    short = plan.Plan({("finetune", "k"): plan.Planned("finetune", "k", {"steps": 10}, False)})
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked before a short run"))
    plan.confirm(short, yes=False, what="rq1")


def test_book_plan_prints_the_missing_steps_and_runs_no_chapter(capsys, monkeypatch, tmp_path):
    from diffprune import cli
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.setattr(diffprune.study, "_compute", lambda *a: pytest.fail("a plan computed a step"))
    assert cli.main(["book", "--profile", "smoke", "--chapter", "rq1", "--plan", "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("plan for rq1 (profile smoke): ") and "finetune" in err and "teacher" in err
    assert not (tmp_path / "b").exists()  # a plan writes nothing, not even a staged copy (whatever book/ holds)


def test_computing_a_plan_shows_each_step_in_the_terminal(teacher_dir, capsys):
    p = plan.of([(_row, (teacher_dir, 4))])
    rows = plan.compute([(_row, (teacher_dir, 4))], p)
    err = capsys.readouterr().err
    assert rows[0]["size"]["params"] > 0
    assert [f"[{n}/5 steps done" in err for n in range(6)] == [True] * 6 and "elapsed" in err
    assert all(f"computing {step} " in err for step in ("prune", "finetune", "sample", "consistency"))


def test_the_plan_s_commands_fill_the_cache_and_the_chapter_reports_what_they_computed(tmp_path, monkeypatch, capsys):
    from diffprune import cli
    from diffprune.paths import ROOT
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    small = ["-p", "methods", "[random]", "-p", "seeds", "[0]", "-p", "more_teachers", "[]",
             "-p", "control_row", "false"]

    def planned() -> list[list[str]]:
        assert cli.main(["study", "--profile", "smoke", "--chapter", "rq1", *small, "--plan", "--commands"]) == 0
        return [shlex.split(line) for line in capsys.readouterr().out.splitlines()]

    def step(args: list[str]) -> str:
        return args[args.index("--step") + 1].split(":")[0]
    rounds = []
    while commands := planned():
        rounds.append([step(args) for args in commands])
        assert all(args[:4] == ["python", "-m", "diffprune", "study"] for args in commands)
        if len(rounds) == 2:  # a step before its inputs: refused, naming the missing one, after waiting
            early = commands[-1][3:]
            early[early.index("--wait") + 1] = "1"
            assert cli.main(early) == 2
            err = capsys.readouterr().err
            assert "waiting for" in err and "is not recorded: its command comes earlier in the plan" in err
        for i, args in enumerate(commands):
            if i == 0:  # the first as a scheduler runs it, the others in this process (the same entry point)
                subprocess.run([sys.executable, *args[1:]], cwd=ROOT, check=True, capture_output=True,
                               env={**os.environ, "DIFFPRUNE_STUDY": str(tmp_path / "study")})
            else:
                assert cli.main(args[3:]) == 0
    # the teacher first (every key after it hashes its weights) and the classifier; then one step a
    # command, each after the steps it reads
    assert rounds == [["teacher", "classifier"],
                      ["sample", "fd", "consistency", "prune", "finetune", "sample", "fd", "consistency"]]
    overrides = {"methods": ["random"], "seeds": [0], "more_teachers": [], "control_row": False}
    assert plan.of_chapters(["rq1"], "smoke", overrides)[0].steps == {}
    records = list(diffprune.study.records())
    assert not list((tmp_path / "study").glob(f"*/*/{diffprune.study.RECORD}"))  # every command packed its records
    render("smoke", overrides, chapters_to_run=["rq1"], out=tmp_path / "book", build=False, progress=False)
    assert list(diffprune.study.records()) == records  # the chapter computed nothing more
    jobs = rq1.work(rq1.CHAPTER.load("smoke", overrides))
    assert plan.spent(jobs)["artifacts"] == len(records)  # the chapter's reported compute: all that study did


def test_recompute_ends_with_its_call(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.delenv("DIFFPRUNE_RECOMPUTE", raising=False)
    seen = []
    monkeypatch.setattr(plan, "run", lambda *a, **k: seen.append(os.environ.get("DIFFPRUNE_RECOMPUTE")))
    assert render("smoke", chapters_to_run=["rq1"], recompute=True, plan_only=True) is None
    assert seen[0] and "DIFFPRUNE_RECOMPUTE" not in os.environ  # set for the run, gone after it


@pytest.mark.parametrize("rates", [{}, {"fd": 2.0}])  # counting steps (nothing prices them), or by their estimate
def test_steps_found_on_the_way_join_the_total_and_the_bar_ends_at_100(monkeypatch, capsys, rates):
    monkeypatch.setattr(plan, "recorded_rates", lambda: rates)
    listed = {("fd", k): plan.Planned("fd", k, {"k": k}, False) for k in ("a", "b")}
    progress = plan.Progress(plan.Plan(steps=listed))
    total = progress.bar.total
    progress("start", "fd", "a", {"k": "a"})
    progress("done", "fd", "a", {"k": "a"})
    progress("start", "fd", "x", {"k": "x"})  # not in the plan: after a model it could not follow
    assert progress.bar.total == total * 3 / 2  # one more step of the same weight
    progress("done", "fd", "x", {"k": "x"})
    progress("start", "fd", "b", {"k": "b"})
    progress("done", "fd", "b", {"k": "b"})
    assert progress.bar.n == progress.bar.total
    progress.close()
    err = capsys.readouterr().err
    assert "[3/3 steps done, 1 of them found on the way]" in err and "100%" in err.splitlines()[-1]


def test_a_long_step_shows_its_own_loop_on_the_progress_line(monkeypatch, capsys):
    """A step's bars are off inside the study; its first loop's count stands beside the step on the
    one progress line (a loop over shards, not the loop inside each shard), and goes with the step."""
    from diffprune.progress import Bar, listening
    monkeypatch.setattr(plan, "recorded_rates", lambda: {})
    monkeypatch.setattr(plan.time, "monotonic", iter(range(0, 1000, 1)).__next__)  # every report shown
    progress = plan.Progress(plan.Plan(steps={("sample", "abcdef12"): plan.Planned("sample", "abcdef12", {}, False)}))
    with listening(progress.looped):
        progress("start", "sample", "abcdef12", {})
        shards = Bar(total=4, desc="sample ddim", disable=True)
        for _ in range(2):
            for _ in Bar(range(2), desc="sample ddim", disable=True):
                pass
            shards.update(2)
            assert progress.loop is shards  # the shard's own loop finished: the outer one holds the line
        err = capsys.readouterr().err
        assert "computing sample abcdef12: sample ddim 2/2]" in err  # the first shard's loop, before the outer moved
        assert "computing sample abcdef12: sample ddim 4/4]" in err
        progress("done", "sample", "abcdef12", {})
    assert progress.loop is None
    progress.close()
    assert "sample ddim" not in capsys.readouterr().err.splitlines()[-1]


def test_the_bar_moves_inside_a_long_step_and_a_resumed_loop_s_earlier_part_leaves_the_total(monkeypatch):
    """A 10-hour training run must show how far it is before it ends: the bar moves by the share its
    loop has done; a run resumed at 40 % takes that 40 % out of the total (not this run's work, so
    not in its rate); a second loop in the step moves nothing, and the step ends at its weight."""
    from diffprune.progress import Bar, listening
    monkeypatch.setattr(plan, "recorded_rates", lambda: {"training_run": 1.0, "fd": 100.0})
    listed = {("training_run", "r"): plan.Planned("training_run", "r", {"steps": 1000}, False),
              ("fd", "f"): plan.Planned("fd", "f", {}, False)}
    progress = plan.Progress(plan.Plan(steps=listed))
    total = progress.bar.total
    with listening(progress.looped):
        progress("start", "training_run", "r", {"steps": 1000})
        bar = Bar(range(400, 1000), initial=400, total=1000, desc="train", disable=True)
        for i, _ in enumerate(bar):
            if i == 300:  # items are told once the loop's body is through: 300 done
                assert progress.bar.total == total - 400 * plan.units("training_run", {"steps": 1000}) / 1000
                assert progress.bar.n == round(progress.bar.total - 100) // 2  # 300 of the 600 left
        for _ in Bar(range(5), total=5, desc="preview", disable=True):  # a second loop: no credit
            pass
        progress("done", "training_run", "r", {"steps": 1000})
        assert progress.bar.n == progress.bar.total - 100  # the run whole, the fd still to come
        progress("start", "fd", "f", {})
        progress("done", "fd", "f", {})
    assert progress.bar.n == progress.bar.total
    progress.close()


def test_a_run_passing_through_a_shorter_one_is_priced_and_shown_by_the_steps_it_adds(tmp_path, monkeypatch):
    """A curve's 13,333-step run resumes from the 10,000-step run's checkpoint: 3,333 steps of work,
    not 13,333 (a chain of six lengths was priced at three times its work)."""
    from diffprune.pipeline import Artifact
    from diffprune.progress import Bar, listening
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.setattr(plan, "recorded_rates", lambda: {"training_run": 1.0})

    def run(steps, before=None):
        params = {"dataset": "fashion-mnist", "steps": steps}
        return Artifact("training_run", f"k{steps}", lambda bulk: tmp_path, params, (before,) if before else ())
    chain = run(13_333, run(10_000))
    other = Artifact("training_run", "k-other", lambda bulk: tmp_path, {"dataset": "mnist-5k", "steps": 500}, ())
    planned_other = plan.Plan()
    assert planned_other.listed(Artifact("training_run", "k2", lambda bulk: tmp_path,
                                         {"dataset": "fashion-mnist", "steps": 900}, (other,)), True)
    assert planned_other.steps[("training_run", "k2")].work == 900  # another run as input: not resumed from
    planned = plan.Plan()
    assert planned.listed(chain, True)
    works = {s.key: s.work for s in planned.steps.values()}
    assert works == {"k10000": 10_000, "k13333": 3_333} and planned.seconds()[0] == 13_333
    progress = plan.Progress(planned)
    with listening(progress.looped):
        progress("start", "training_run", "k13333", chain.params)
        for _ in Bar(range(10_000, 10_100), initial=10_000, total=13_333, desc="train", disable=True):
            pass
        assert progress.bar.total == 13_333 and progress.bar.n == 100  # no step skipped: it began where priced
        progress("done", "training_run", "k13333", chain.params)
    assert progress.bar.n == 3_333


def test_a_run_that_ends_before_every_listed_step_still_closes_at_100(monkeypatch, capsys):
    monkeypatch.setattr(plan, "recorded_rates", lambda: {})
    listed = {("fd", k): plan.Planned("fd", k, {"k": k}, False) for k in ("a", "b")}
    progress = plan.Progress(plan.Plan(steps=listed))
    progress("start", "fd", "a", {"k": "a"})
    progress("done", "fd", "a", {"k": "a"})
    progress.close()  # b was reached through another job's step: nothing is left
    assert "100%" in capsys.readouterr().err.splitlines()[-1]


def test_a_pool_keeps_for_last_the_jobs_that_reach_a_timing():
    """`study --jobs N` runs a job that reaches a step to compute alone (a timing) after the pool,
    with nothing beside it; every other kind of step may run in parallel."""
    planned = plan.Plan(jobs=3, needs=[{("fd", "a")}, {("prune", "b"), ("timing", "c")}, set()])
    assert plan.jobs_alone(planned) == {1}
    assert [k for k, s in diffprune.study.STEPS.items() if s.alone] == ["timing"]


@pytest.mark.parametrize("rates", [{}, {"fd": 2.0}])
def test_a_found_step_takes_the_place_of_a_step_listed_under_a_stand_in_key(monkeypatch, capsys, rates):
    """After a model the plan could not follow (its key a stand-in), the plan lists steps whose keys
    the run will not meet; the steps it meets instead replace them, not add to them (the paper dry run
    read '301/530 steps done' at its end, its bar jumping from 57 % to 100 %)."""
    from diffprune.study import step_key
    monkeypatch.setattr(plan, "recorded_rates", lambda: rates)
    teacher = plan.Planned("teacher", "stand-in", {"n": 1}, False)
    assert teacher.provisional
    after = (("teacher", "stand-in"),)
    listed = {("teacher", "stand-in"): teacher,
              **{("fd", k): plan.Planned("fd", step_key("fd", {"k": k}), {"k": k}, False, after=after)
                 for k in ("a", "b")}}
    progress = plan.Progress(plan.Plan(steps=listed))
    total = progress.bar.total
    for key, params in (("stand-in", {"n": 1}), ("real-a", {"k": "a"}), ("real-b", {"k": "b"})):
        step = "teacher" if key == "stand-in" else "fd"
        progress("start", step, key, params)
        progress("done", step, key, params)
    assert progress.bar.total == total and progress.bar.n == total  # nothing counted twice
    assert "[3/3 steps done, 2 of them found on the way]" in capsys.readouterr().err


ZEN3 = "processor\t: 0\nmodel name\t: AMD EPYC\ncpu family\t: 25\nmodel\t\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
ZEN4 = ZEN3.replace("model\t\t: 1", "model\t\t: 17").replace("avx2 fma", "avx2 fma avx512f avx512_bf16")


def test_a_device_names_its_cpu_so_that_rates_from_a_slower_cpu_are_not_taken_for_this_one_s():
    from diffprune.artifacts import cpu_name, device_description
    # two EPYCs the study ran on: the same "model name", bf16 units on one only
    assert cpu_name(ZEN3) == "AMD EPYC family 25 model 1, AVX2"
    assert cpu_name(ZEN4) == "AMD EPYC family 25 model 17, AVX-512 BF16"
    assert cpu_name(ZEN3 + "\nprocessor\t: 1\nmodel name\t: other\n") == cpu_name(ZEN3)  # the first processor's
    assert cpu_name("processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n").endswith(", NEON")
    assert device_description().endswith(f"({cpu_name()})")


def test_a_sweep_being_computed_lists_its_own_steps_recorded_and_left(tmp_path, monkeypatch, capsys):
    import json

    from diffprune import cli
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    base = {"methods": ["random"], "seeds": [0], "more_teachers": [], "control_row": False}
    args = [a for k, v in base.items() for a in ("-p", k, json.dumps(v))]
    assert cli.main(["study", "--profile", "smoke", "--chapter", "rq1", *args, "--yes"]) == 0
    sweeps = [{"control_row": True}]
    before, = plan.in_progress("smoke", base, sweeps, ["teachers", "rq1"])
    assert before["chapters"] == ["rq1"] and before["recorded"] == []  # the teachers chapter reads no control_row
    assert not before["regenerate"]  # the base's bulk is here
    assert before["left"] == {"finetune": 1, "sample": 1, "fd": 1, "consistency": 1}  # the control row, nothing else
    assert "--chapter rq1 " in before["command"] and "-p control_row true" in before["command"]
    capsys.readouterr()
    job = rq1.row_specs(rq1.CHAPTER.load("smoke", {**base, "control_row": True})).index(
        (rq1.CONTROL_LABEL, "control", None))  # one seed: the job number is the row's
    assert cli.main(["study", "--profile", "smoke", "--chapter", "rq1", *args[:-3], "-p", "control_row", "true",
                     "--job", str(job), "--yes"]) == 0
    after, = plan.in_progress("smoke", base, sweeps, ["teachers", "rq1"])
    assert not after["left"] and sorted(step for step, _ in after["recorded"]) == [
        "consistency", "fd", "finetune", "sample"]
    assert plan.of_chapters(["rq1"], "smoke", base)[0].steps == {}  # the profile's own rows: untouched
    table = plan.progress_table([after])
    assert table.loc["control_row: true", "steps left"] == "none: move it into the profile"
    assert "4 of 4 steps recorded" in plan.progress_reading([after])
    assert plan.progress_commands([after]) == after["command"]  # under the table: in it, it widened the page
    assert not any("diffprune study" in str(v) for v in [*table.to_numpy().ravel(), *table.index])
    assert list(plan.progress_table([]).index) == ["none is being computed"]  # a row, never bare headers
    assert plan.progress_reading([]).startswith("No sweep")


def test_a_recorded_cost_from_a_value_the_profile_no_longer_has_is_left_out_and_named():
    from diffprune.profiles import read
    now = read("cpu")["n_boot"]
    row = {"chapter": "rq1", "parameter": "n_boot", "value": now, "changed_to": 2 * now, "steps": 4,
           "seconds": 60.0, "unpriced": [], "partial": False}
    old = {**row, "parameter": "n_samples", "value": read("cpu")["n_samples"] + 1}  # recorded before a change
    recorded = {"profile": "cpu", "rows": [row, old]}
    assert plan.stale_costs(recorded) == [old]
    assert list(plan.cost_table(recorded).index) == [("rq1", "n_boot")]
    assert "of n_samples" in plan.stale_costs_text(recorded)
    assert plan.stale_costs_text({"profile": "cpu", "rows": [row]}).startswith("Every row")


def test_a_recorded_cost_is_read_against_the_value_its_own_chapter_reads(monkeypatch):
    from diffprune.profiles import read
    values = {**read("cpu"), "chapter_values": {"rq1": {"finetune_steps": 1600}}}  # RQ1 moved to a longer teacher
    monkeypatch.setattr(plan, "read", lambda profile, overrides=None: values)
    row = {"parameter": "finetune_steps", "changed_to": 1601, "steps": 1, "seconds": 1.0, "unpriced": [],
           "partial": False}
    rq1, rq2 = {**row, "chapter": "rq1", "value": 1600}, {**row, "chapter": "rq2", "value": values["finetune_steps"]}
    assert plan.stale_costs({"profile": "cpu", "rows": [rq1, rq2]}) == []
    assert plan.stale_costs({"profile": "cpu", "rows": [{**rq1, "value": values["finetune_steps"]}]}) != []


def test_a_recorded_device_reads_as_words_on_a_page_and_stays_raw_in_its_record():
    from diffprune.artifacts import device_description, device_words
    assert device_words("cpu:x86_64 x1 threads") == "1-thread CPU (x86_64)"
    assert device_words("cpu:x86_64 x2 threads (AMD EPYC 7B13, AVX2)") == "2-thread CPU (AMD EPYC 7B13, AVX2)"
    assert device_words("cuda:NVIDIA H200") == "NVIDIA H200"
    assert device_description().startswith(("cpu:", "cuda:"))  # what the plan matches recorded rates by
