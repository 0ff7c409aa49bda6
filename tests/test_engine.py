"""The study on Dask: the plan's steps as tasks whose dependencies are the steps they read."""

import pytest

from diffprune import engine
from diffprune import plan as planning
from diffprune.artifacts import DiffpruneError
from diffprune.cli import main


@pytest.mark.parametrize("argv, match", [
    (["--dask", "local:0"], "local:N needs a number of workers N >= 1"),
    (["--dask", "local:2", "--jobs", "2"], "without --jobs"),
    (["--dask", "local:2", "--plan"], "without --jobs, --job, --step, --plan"),
])
def test_bad_dask_arguments_give_one_line_and_compute_nothing(argv, match, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    assert main(["study", "--profile", "smoke", "--chapter", "rq1", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]
    assert not (tmp_path / "study").exists() or not any((tmp_path / "study").rglob("record.json"))


class Workers:
    """A stand-in client: node-1 shares this machine's files, node-2 has a disk of its own."""
    def run(self, fn, path):
        return {"tcp://node-1:40000": fn(path), "tcp://node-2:40000": fn(path + ".on-another-disk")}


def test_workers_that_do_not_share_the_cache_are_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    with pytest.raises(DiffpruneError, match=r"node-2.*do not see the study cache.*study --pack --from"):
        engine.check_shared_cache(Workers())
    assert list((tmp_path / "study").iterdir()) == []  # the marker is gone


@pytest.fixture
def threads_cluster():
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_a_failed_step_fails_its_dependants_naming_it_and_the_rest_go_on(threads_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    # a plan of three steps: "a" and "c" read nothing, "b" reads "a"
    a, b, c = (planned(name) for name in "abc")
    b = planning.Planned("fd", b.key, b.params, False, after=(("fd", a.key),))
    steps = {("fd", s.key): s for s in (a, b, c)}
    computed = []
    monkeypatch.setattr(engine, "check_shared_cache", lambda client: None)  # one process here

    def of(jobs):
        left = {k: s for k, s in steps.items() if k[1] not in computed}
        return planning.Plan(steps=left, jobs=1, needs=[set(left)])

    def compute_step(job, step, key, wait_s=0.0):
        if key == a.key:
            raise ValueError("no weights")
        computed.append(key)
    monkeypatch.setattr(planning, "of", of)
    monkeypatch.setattr(planning, "compute_step", compute_step)
    failed = engine.run(threads_cluster, [("job", ())], yes=True, what="test", progress=False)
    assert computed == [c.key]  # b never ran: its input failed
    assert failed == [f"fd {a.key[:8]} failed: ValueError: no weights"] * 2  # a's own, and b's (a's)


def planned(name: str) -> planning.Planned:
    from diffprune.study import step_key
    return planning.Planned("fd", step_key("fd", {"name": name}), {"name": name}, False)


def test_steps_found_after_a_round_are_planned_and_computed_in_the_next(threads_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.setattr(engine, "check_shared_cache", lambda client: None)
    computed = []

    a, b = planned("a"), planned("b")

    def of(jobs):  # "b" is known only once "a" is computed (as the steps after a trained teacher)
        known = [a] + ([b] if a.key in computed else [])
        left = {("fd", s.key): s for s in known if s.key not in computed}
        return planning.Plan(steps=left, jobs=1, needs=[set(left)])
    monkeypatch.setattr(planning, "of", of)
    monkeypatch.setattr(planning, "compute_step", lambda job, step, key, wait_s=0.0: computed.append(key))
    assert engine.run(threads_cluster, [("job", ())], yes=True, what="test", progress=False) == []
    assert computed == [a.key, b.key]



def test_a_timing_runs_with_no_other_step_beside_it_once_its_inputs_are_recorded(threads_cluster, tmp_path,
                                                                               monkeypatch):
    import dataclasses
    import threading
    import time

    from diffprune.study import step_key
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.setattr(engine, "check_shared_cache", lambda client: None)
    m, x = planned("m"), planned("x")  # a model, and another step; two workers' threads run them side by side

    def timing(name, after=()):
        return planning.Planned("timing", step_key("timing", {"name": name}), {"name": name}, False, after=after)
    t, u = timing("t", after=(("fd", m.key),)), timing("u")  # t times m; u's model is recorded
    steps = {(s.step, s.key): s for s in (u, m, t, x)}
    spans, lock = {}, threading.Lock()

    def of(jobs):
        # an input computed in an earlier round is recorded: a step is no longer after it
        left = {k: dataclasses.replace(s, after=tuple(a for a in s.after if a[1] not in spans))
                for k, s in steps.items() if k[1] not in spans}
        return planning.Plan(steps=left, jobs=1, needs=[set(left)])

    def compute_step(job, step, key, wait_s=0.0):
        start = time.monotonic()
        time.sleep(0.3)
        with lock:
            spans[key] = (start, time.monotonic())
    monkeypatch.setattr(planning, "of", of)
    monkeypatch.setattr(planning, "compute_step", compute_step)
    assert engine.run(threads_cluster, [("job", ())], yes=True, what="test", progress=False) == []
    assert set(spans) == {s.key for s in steps.values()}
    assert spans[m.key][1] <= spans[t.key][0]  # the timing after the model it times
    for alone in (t.key, u.key):
        a0, a1 = spans[alone]
        assert all(b1 <= a0 or a1 <= b0 for k, (b0, b1) in spans.items() if k != alone), "a step ran beside a timing"
    assert max(spans[m.key][0], spans[x.key][0]) < min(spans[m.key][1], spans[x.key][1])  # the others in parallel


def test_the_readme_s_slurm_snippet_builds_a_job_script_for_gpu_workers(monkeypatch):
    """The README's dask-jobqueue snippet, run as written except that nothing is submitted: its job
    script asks Slurm for a GPU and starts workers that declare one (the resource the study's GPU
    steps ask for), each one process of one thread (the study's jobs run on one thread)."""
    import re

    from dask_jobqueue import SLURMCluster

    from diffprune.paths import ROOT
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
                   if "SLURMCluster" in block)
    scaled = []
    monkeypatch.setattr(SLURMCluster, "scale", lambda self, *a, **kw: scaled.append(kw))  # no sbatch here
    namespace = {}
    exec(snippet, namespace)
    cluster = namespace["cluster"]
    try:
        script = cluster.job_script()
        assert scaled == [{"jobs": 8}]  # the snippet's one request, not sent
    finally:
        cluster.close()
    assert "#SBATCH --gres=gpu:1" in script and f"--resources {engine.GPU}=1" in script
    assert re.search(r"--nthreads 1\b", script) and not re.search(r"--nworkers (?!1\b)", script)
