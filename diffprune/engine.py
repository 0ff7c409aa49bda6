"""The study on a task engine: a chapter's plan as a Dask task graph (`study --dask SCHEDULER`).

What Dask adds to the plan's per-step commands (`plan.commands`): the order between steps is the
graph's, not polling (a step is submitted with the steps it reads as its dependencies, so no worker
sleeps waiting for an input); a failed step fails its dependants at once, naming it, while the rest
go on; steps after a model still to train are planned again here, once it is trained; and the same
code runs on a laptop (`local:N`, a `LocalCluster` of N one-thread worker processes) or on a
cluster whose scheduler address it is given (started, e.g., by `dask-jobqueue` on a Slurm
allocation). A step that computes on a GPU asks for one (`resources={"GPU": 1}`) where the cluster
has workers that declare one, so that sampling and finetuning go to GPU workers and the distances
to the others. A step that measures the machine (a timing: `study.Step.alone`) runs by itself, at
the start of a round, once its inputs are recorded.

Each task computes one step into the study cache exactly as `study --job I --step STEP:KEY` does
(`plan.compute_step`), so the workers must share the cache with the process that plans: checked
before anything is submitted.
"""
from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path

from . import plan as planning
from . import study
from .artifacts import DiffpruneError

GPU = "GPU"  # the worker resource a GPU step asks for (`dask worker --resources GPU=1`)
GPU_STEPS = ("teacher", "training_run", "finetune", "sample", "prune", "loss_curve", "channel_scores",
             "gradient_stages", "timing")  # the steps that run on a GPU where the worker has one


def connect(scheduler: str):
    """A Dask client: `local:N` starts a LocalCluster of N worker processes, one thread each (the
    study's jobs run on one thread: `cli._run_job`); anything else is a running scheduler's address."""
    from distributed import Client, LocalCluster
    if scheduler.startswith("local:"):
        n = scheduler.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise DiffpruneError(f"--dask {scheduler}: local:N needs a number of workers N >= 1")
        import torch
        gpu = {GPU: 1} if torch.cuda.is_available() else {}
        cluster = LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True, resources=gpu or None,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        return Client(cluster)
    try:
        return Client(scheduler, timeout="30s")
    except OSError as e:
        raise DiffpruneError(f"--dask {scheduler}: no Dask scheduler answers there ({e})") from None


def _sees(path: str) -> bool:
    return Path(path).is_file()


def check_shared_cache(client) -> None:
    """Every worker must see this process's study cache: a marker written here, looked for there."""
    marker = study.study_dir() / f".dask-{uuid.uuid4().hex[:12]}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    try:
        seen = client.run(_sees, str(marker))
    finally:
        marker.unlink()
    blind = [w for w, ok in seen.items() if not ok]
    if blind:
        raise DiffpruneError(f"{len(blind)} Dask worker(s) (e.g. {blind[0]}) do not see the study cache "
                             f"{study.study_dir()}: give them a shared file system (and the same DIFFPRUNE_STUDY), "
                             "or run the study there and bring its records here with study --pack --from DIR")


def _large_allocations_on_the_heap() -> None:
    """Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536, and glibc turns off its
    adaptive mmap threshold once any such variable is set: every tensor over 128 KiB is then mapped
    and unmapped afresh, page faults and all. Measured on a training step of the tiny UNet (one thread):
    x1.4 the time of the same step outside Dask. Restoring glibc's own upper bound (32 MiB) gives the
    speed back without touching the trimming Dask wants; not glibc (macOS, musl): nothing to do."""
    if sys.platform != "linux":
        return
    import ctypes
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 32 << 20)  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _step(job, step: str, key: str, *inputs) -> tuple[str, str]:
    """One task: compute one step of a job into the cache (its inputs, the `inputs` tasks, are done)."""
    import torch
    from threadpoolctl import threadpool_limits
    _large_allocations_on_the_heap()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            planning.compute_step(job, step, key)
    except Exception as e:  # its dependants report this, so it names the step
        raise DiffpruneError(f"{step} {key[:8]} failed: {type(e).__name__}: {e}".splitlines()[0]) from None
    return step, key


def _has_gpu_workers(client) -> bool:
    return any(GPU in w.get("resources", {}) for w in client.scheduler_info()["workers"].values())


def run(client, jobs: list, *, yes: bool, what: str, progress: bool = True) -> list[str]:
    """Compute the jobs' plan on the cluster, planning again after each round for the steps a round's
    trained models make known; the failed steps' messages (empty: every step computed)."""
    from distributed import as_completed, wait
    from tqdm import tqdm
    check_shared_cache(client)
    gpu = _has_gpu_workers(client)
    errors: dict[tuple[str, str], str] = {}  # per failed step: its message, or its failed input's
    attempted: set[tuple[str, str]] = set()
    first = True
    while True:
        plan = planning.of(jobs)
        if first:
            print(f"plan for {what}: {len(plan.steps)} steps to compute\n{plan.table()}\n"
                  f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
            if plan.steps:
                planning.confirm(plan, yes=yes, what=what)
            first = False
        ready = planning.schedulable(plan)
        todo = [name for name in ready if name not in attempted]
        if not todo:
            left = [n for n in plan.steps if n not in attempted]
            if left and not errors:
                raise DiffpruneError(f"{len(left)} steps could not be scheduled (e.g. {left[0][0]} {left[0][1][:8]}): "
                                     "their parameters stay unknown after every step before them computed")
            return list(errors.values())
        # a step to compute alone (a timing) runs first in a round, one at a time, once its inputs are
        # recorded; one whose inputs this round computes waits for the next round, with its dependants
        later: set = set()
        for name in todo:
            s = plan.steps[name]
            gone = [a for a in s.after if a in errors]  # an input failed in an earlier round
            if gone:
                errors[name] = errors[gone[0]]
                attempted.add(name)
            elif later.intersection(s.after) or (planning.alone(s.step) and s.after):
                later.add(name)
        todo = [n for n in todo if n not in errors]
        first_alone = [n for n in todo if planning.alone(n[0]) and n not in later]
        rest = [n for n in todo if n not in later and n not in first_alone]
        bar = tqdm(total=len(first_alone) + len(rest), desc=f"{what}: steps", file=sys.stderr,
                   disable=not progress, dynamic_ncols=True)
        futures = {}
        for group in [[n] for n in first_alone] + [rest]:
            for name in group:  # the plan's order: a step after the steps it reads
                s = plan.steps[name]
                inputs = [futures[a] for a in s.after if a in futures]
                futures[name] = client.submit(_step, jobs[ready[name]], s.step, s.key, *inputs,
                                              key=f"{s.step}-{s.key}-{uuid.uuid4().hex[:6]}", pure=False,
                                              resources={GPU: 1} if gpu and s.step in GPU_STEPS else None)
            for _ in as_completed([futures[n] for n in group]):
                bar.update(1)
            wait([futures[n] for n in group])
        bar.close()
        attempted.update(futures)
        errors.update((name, str(f.exception())) for name, f in futures.items() if f.status != "finished")
        study.pack()  # this round's records into the packs


def study_on(scheduler: str, specs: list, params: list, *, yes: bool) -> None:
    """`study --dask SCHEDULER`: every chapter's work on the cluster; one error listing what failed."""
    client = connect(scheduler)
    try:
        failed = []
        for c, p in zip(specs, params, strict=True):
            failed += run(client, c.work(p) if c.work else [], yes=yes, what=c.name)
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()
    if failed:
        distinct = list(dict.fromkeys(failed))
        more = " ..." if len(distinct) > 3 else ""
        raise DiffpruneError(f"{len(distinct)} step(s) failed and {len(failed) - len(distinct)} after them were not "
                             "computed (the rest were): " + "; ".join(distinct[:3]) + more)

