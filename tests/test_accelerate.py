"""Sampling and training across processes with `accelerate launch`: the merged sample file is the
one-process file, byte for byte, and a rerun draws only the shards that are missing; a two-process
training run ends where a one-process run with the same global batch does, and resumes under
another process count."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from diffprune.cli import main
from diffprune.models import pixel_model
from diffprune.sample import load_samples, save_samples
from diffprune.unet import build_unet

ARGS = ["--n", "10", "--steps", "3", "--batch-size", "2", "--shard-size", "4", "--seed", "1", "--quiet"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models") / "tiny"
    pixel_model(build_unet("tiny", 1, 16, seed=0)).save(d)
    return d


def _launch(processes: int, *args) -> dict:
    # without a GPU, --multi_gpu is accelerate's torchrun launcher and the processes join over gloo
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "diffprune", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _one_thread_run(*args) -> int:
    """A plain one-process run at accelerate's one thread per process: BLAS sums in another order on
    other thread counts, so the files are equal only at equal threads per process."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main(list(args))
    finally:
        torch.set_num_threads(before)


def test_two_processes_write_the_one_process_file(model_dir, tmp_path):
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    assert _one_thread_run("sample", "--model", str(model_dir), *ARGS, "--out", str(one)) == 0
    assert _launch(2, "sample", "--model", str(model_dir), *ARGS, "--out", str(two))["processes"] == 2
    assert two.read_bytes() == one.read_bytes()
    assert not (tmp_path / "two.shards").exists() and (tmp_path / "two.png").is_file()


def test_an_interrupted_two_process_run_draws_only_the_missing_shards(model_dir, tmp_path):
    full = tmp_path / "full.npz"
    assert _one_thread_run("sample", "--model", str(model_dir), *ARGS, "--out", str(full)) == 0
    images, _, meta = load_samples(full)
    out = tmp_path / "resumed.npz"
    (tmp_path / "resumed.shards").mkdir()
    # the interrupted run left shard [4, 8): blank images, which no rerun would draw
    save_samples(tmp_path / "resumed.shards" / "00000004-00000008.npz", np.zeros_like(images[4:8]),
                 np.arange(4, 8), meta)
    _launch(2, "sample", "--model", str(model_dir), *ARGS, "--out", str(out))
    got, index, _ = load_samples(out)
    assert (got[4:8] == 0).all() and np.array_equal(got[:4], images[:4]) and np.array_equal(got[8:], images[8:])
    assert list(index) == list(range(10))


def test_a_shard_size_off_the_batches_is_one_clear_error_and_writes_nothing(model_dir, tmp_path, capsys):
    out = tmp_path / "x.npz"
    code = main(["sample", "--model", str(model_dir), "--n", "8", "--batch-size", "4", "--shard-size", "6",
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "multiple of the batch size" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


TRAIN = ["train", "--dataset", "mnist-5k", "--preset", "tiny", "--batch-size", "8", "--warmup-steps", "1",
         "--checkpoint-every", "2", "--log-every", "1", "--grid", "0", "--quiet"]
TOLERANCE = 1e-4  # DDP sums the two halves' gradients in another order; a few Adam steps keep that small


def _weights(d) -> dict:
    import safetensors.torch
    return safetensors.torch.load_file(next((d / "unet").glob("*.safetensors")))


def _max_difference(a, b) -> float:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("train") / "one"
    assert main([*TRAIN, "--steps", "4", "--out", str(d)]) == 0
    return d


def test_two_process_training_ends_where_one_process_does(one_process_run, tmp_path):
    two = tmp_path / "two"
    _launch(2, *TRAIN, "--steps", "4", "--out", str(two))
    assert _max_difference(one_process_run, two) < TOLERANCE
    cost = json.loads((two / "cost.json").read_text())
    assert cost["processes"] == 2 and cost["images_seen"] == 4 * 8


def test_a_two_process_run_resumes_on_one_process(one_process_run, tmp_path):
    d = tmp_path / "resumed"
    _launch(2, *TRAIN, "--steps", "2", "--out", str(d))
    assert main([*TRAIN, "--steps", "4", "--out", str(d)]) == 0  # from the two-process checkpoint at step 2
    assert _max_difference(one_process_run, d) < TOLERANCE
    with open(d / "train_log.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]


def test_a_shard_size_of_zero_is_refused_not_defaulted(model_dir, tmp_path, capsys):
    code = main(["sample", "--model", str(model_dir), "--n", "4", "--batch-size", "2", "--shard-size", "0",
                 "--out", str(tmp_path / "x.npz"), "--quiet"])
    assert code == 2 and "multiple of the batch size" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
