"""A stop asked of `study --jobs`: the pool's parent passes `kill -TERM` on to its workers."""
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from diffprune import checkpoint


def _train_until_stopped(where, i):
    """A training loop's stand-in: it steps until a stop is asked, then checkpoints and stops."""
    with checkpoint.stop_requests() as requested:
        (where / f"started-{i}").touch()
        step = 0
        while not requested:
            step += 1
            time.sleep(0.01)
        (where / f"checkpoint-{i}").write_text(str(step))
        raise checkpoint.stopped_at(where / f"checkpoint-{i}", step)


def _later_job(where, i):
    (where / f"ran-{i}").touch()


def _sample_for_long(where):
    (where / "started").touch()
    time.sleep(60)


def test_kill_term_of_the_pool_s_parent_stops_each_running_job_after_its_checkpoint_and_starts_no_other(tmp_path):
    handler = signal.getsignal(signal.SIGTERM)
    with (checkpoint.forwarded_stops(),
          ProcessPoolExecutor(2, initializer=checkpoint.pool_worker) as pool):
        running = [pool.submit(checkpoint.unless_stopped, _train_until_stopped, tmp_path, i) for i in range(2)]
        queued = [pool.submit(checkpoint.unless_stopped, _later_job, tmp_path, i) for i in range(2, 6)]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"started-{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, "the two jobs never started"
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill -TERM PID` does to `study --jobs 2`
        for i, f in enumerate(running):
            with pytest.raises(KeyboardInterrupt, match="stopped at step"):
                f.result(timeout=60)
            assert int((tmp_path / f"checkpoint-{i}").read_text()) > 0
        for f in queued:
            with pytest.raises(KeyboardInterrupt, match="not started"):
                f.result(timeout=60)
    assert not list(tmp_path.glob("ran-*"))
    assert signal.getsignal(signal.SIGTERM) is handler


def test_a_job_not_in_a_training_loop_is_interrupted_by_the_forwarded_signal(tmp_path):
    """No half-written artifact: the job is interrupted as by Ctrl-C (artifacts are written atomically)
    instead of the worker dying, which would break the whole pool."""
    with ProcessPoolExecutor(1, initializer=checkpoint.pool_worker) as pool:
        f = pool.submit(checkpoint.unless_stopped, _sample_for_long, tmp_path)
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.01)
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            f.result(timeout=20)
        assert pool.submit(int, "7").result(timeout=20) == 7  # the pool still works
