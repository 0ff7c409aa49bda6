import json

import numpy as np
import pytest

from diffprune import load_unet
from diffprune.cli import main
from diffprune.importance import METHODS
from diffprune.models import pixel_model
from diffprune.threshold import should_stop
from diffprune.unet import build_unet


@pytest.fixture(scope="module")
def dense_dir(tmp_path_factory):
    """A tiny 1x28x28 UNet with multi-head attention, saved as a model directory (mnist-5k shape)."""
    d = tmp_path_factory.mktemp("models") / "dense"
    pixel_model(build_unet("tiny", 1, 28, seed=0)).save(d)
    return d


@pytest.mark.parametrize("method", METHODS)
def test_prune_cli_end_to_end(dense_dir, tmp_path, method, capsys):
    out = tmp_path / "pruned"
    args = ["prune", "--model", str(dense_dir), "--method", method, "--ratio", "0.3", "--threshold", "0.5",
            "--timestep-stride", "100", "--batch-size", "4", "--out", str(out), "--quiet"]
    if method in ("taylor", "diff-pruning"):
        args += ["--dataset", "mnist-5k"]
    assert main(args) == 0
    report = json.loads((out / "prune_report.json").read_text())
    assert report["macs_after"] <= 0.6 * report["macs_before"]
    assert report["method"] == method and report["seed"] == 0
    for key in ("params_before", "widths_after", "visited_t", "loss_t", "stop_t", "wall_time_s"):
        assert key in report
    if method == "diff-pruning":
        running = float("-inf")
        for t, loss in zip(report["visited_t"], report["loss_t"], strict=True):
            running = max(running, loss)
            assert should_stop(loss, running, 0.5) == (t == report["stop_t"])
    model = load_unet(out)
    assert model.pruning_history
    assert main(["sample", "--model", str(out), "--n", "3", "--steps", "2", "--out", str(tmp_path / "s.npz"),
                 "--quiet"]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (3, 28, 28, 1) and f["images"].dtype == np.uint8
    assert (tmp_path / "s.png").is_file()


BAD = [
    (["--method", "random", "--ratio", "0"], "ratio"),
    (["--method", "random", "--ratio", "1"], "ratio"),
    (["--method", "random", "--ratio", "-0.2"], "ratio"),
    (["--method", "pruneit", "--ratio", "0.3"], "invalid choice: 'pruneit'"),
    (["--method", "diff-pruning", "--ratio", "0.3", "--dataset", "mnist-5k", "--threshold", "1"], "threshold"),
    (["--method", "diff-pruning", "--ratio", "0.3", "--dataset", "mnist-5k", "--threshold", "-0.01"], "threshold"),
    (["--method", "diff-pruning", "--ratio", "0.3", "--dataset", "mnist-5k", "--timestep-stride", "0"], "stride"),
    (["--method", "taylor", "--ratio", "0.3"], "needs data"),
    (["--method", "diff-pruning", "--ratio", "0.3", "--dataset", "nope"], "unknown dataset"),
    (["--method", "random", "--ratio", "abc"], "invalid float"),
    (["--method", "random", "--ratio", "0.3", "--round-to", "0"], "round-to must be an integer >= 1"),
]


@pytest.mark.parametrize("extra, message", BAD)
def test_prune_cli_bad_input(dense_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    code = main(["prune", "--model", str(dense_dir), "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_prune_cli_missing_model(tmp_path, capsys):
    code = main(["prune", "--model", str(tmp_path / "none"), "--method", "random", "--ratio", "0.3",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "not found" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_prune_cli_wrong_image_shape(dense_dir, tmp_path, capsys):
    code = main(["prune", "--model", str(dense_dir), "--method", "taylor", "--ratio", "0.3",
                 "--dataset", "openmoji-32", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2 and "expects" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_sample_cli_bad_input(dense_dir, tmp_path, capsys):
    code = main(["sample", "--model", str(dense_dir), "--sampler", "heun", "--out", str(tmp_path / "x.npz")])
    assert code == 2 and "sampler" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()


def test_cost_cli_compares_with_the_dense_baseline(dense_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert main(["prune", "--model", str(dense_dir), "--method", "magnitude", "--ratio", "0.5",
                 "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["cost", "--model", str(out), "--baseline", str(dense_dir), "--batch-size", "4",
                 "--repeats", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["macs"] < r["baseline"]["macs"] and r["ideal_speedup"] == pytest.approx(1 / r["macs_fraction"])
    assert r["throughput"]["images_per_s"] > 0 and r["speedup"] == pytest.approx(
        r["throughput"]["images_per_s"] / r["baseline"]["throughput"]["images_per_s"])


def test_metrics_cli_pairs_two_sample_files(dense_dir, tmp_path, capsys):
    for seed, name in ((0, "a"), (0, "b")):
        assert main(["sample", "--model", str(dense_dir), "--n", "6", "--steps", "2", "--seed", str(seed),
                     "--out", str(tmp_path / f"{name}.npz"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["metrics", "--samples", str(tmp_path / "a.npz"), "--samples-b", str(tmp_path / "b.npz"),
                 "--bootstrap", "5", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fd"]["metric"] == "FD-EffNetL0@128" and r["fd"]["value"] == pytest.approx(0, abs=1e-6)
    assert r["ssim"]["value"] == pytest.approx(1.0)  # same model, same seed: identical samples
    code = main(["metrics", "--samples", str(tmp_path / "a.npz"), "--reference", "cifar"])
    assert code == 2 and "--reference" in capsys.readouterr().err


def test_every_flag_of_every_command_explains_itself():
    import argparse

    from diffprune.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings}: no help="
        assert parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter, f"{name}: defaults not shown"


def test_metrics_cli_against_a_data_set_and_judged_by_a_trained_classifier(dense_dir, tmp_path, capsys):
    a = str(tmp_path / "a.npz")
    assert main(["sample", "--model", str(dense_dir), "--n", "8", "--steps", "2", "--out", a, "--quiet"]) == 0
    capsys.readouterr()
    fds = {}
    for n in (20, 40):
        assert main(["metrics", "--samples", a, "--reference", "dataset:mnist-5k:test", "--n-reference", str(n),
                     "--bootstrap", "5", "--quiet"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert r["reference"] == {"dataset": "mnist-5k", "split": "test", "n": n}
        assert r["fd"]["ci_low"] <= r["fd"]["value"] <= r["fd"]["ci_high"] and r["fd"]["value"] > 0
        fds[n] = r["fd"]["value"]
    assert fds[20] != fds[40]  # the reference is the subset asked for

    clf = tmp_path / "clf"
    assert main(["classifier", "--dataset", "mnist-5k", "--epochs", "0", "--out", str(clf), "--quiet"]) == 2
    assert "--epochs" in capsys.readouterr().err and not clf.exists()
    assert main(["classifier", "--dataset", "mnist-5k", "--epochs", "1", "--out", str(clf), "--quiet"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert len(meta["classes"]) == 10 and meta["test_accuracy"] > 0.5  # ten times chance after one epoch
    assert (clf / "model.safetensors").is_file() and json.loads((clf / "meta.json").read_text()) == meta
    assert main(["metrics", "--samples", a, "--samples-b", a, "--classifier", str(clf), "--bootstrap", "5",
                 "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["content"]["value"] == 1.0 and r["content"]["classifier_test_accuracy"] == meta["test_accuracy"]


def test_train_cli_resumes_only_the_same_run_unless_told_not_to(tmp_path, capsys):
    out = str(tmp_path / "teacher")
    run = ["train", "--dataset", "mnist-5k", "--preset", "tiny", "--batch-size", "4", "--grid", "0", "--quiet",
           "--out", out]
    assert main([*run, "--steps", "2"]) == 0
    assert main([*run, "--steps", "3"]) == 0  # resumes: the same run, longer
    assert json.loads((tmp_path / "teacher" / "cost.json").read_text())["steps"] == 3
    capsys.readouterr()
    assert main([*run, "--steps", "3", "--lr", "0.001"]) == 2
    assert "other parameters" in capsys.readouterr().err
    assert main([*run, "--steps", "2", "--lr", "0.001", "--no-resume"]) == 0
    cost = json.loads((tmp_path / "teacher" / "cost.json").read_text())
    assert cost["steps"] == 2 and cost["config"]["lr"] == 0.001


def _one_line_error(capsys, code: int, message: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


@pytest.fixture(scope="module")
def samples(dense_dir, tmp_path_factory):
    """A sample file of 6 images, one of 1 image, and a corrupt one."""
    d = tmp_path_factory.mktemp("samples")
    for n, name in ((6, "six"), (1, "one")):
        assert main(["sample", "--model", str(dense_dir), "--n", str(n), "--steps", "2", "--out",
                     str(d / f"{name}.npz"), "--quiet"]) == 0
    (d / "corrupt.npz").write_bytes((d / "six.npz").read_bytes()[:200])
    return d


def test_every_command_refuses_a_missing_model_in_one_line(tmp_path, capsys):
    none = str(tmp_path / "none")
    for args in (["finetune", "--model", none, "--dataset", "mnist-5k", "--steps", "1"],
                 ["sample", "--model", none, "--n", "2"], ["cost", "--model", none]):
        out = tmp_path / ("out.npz" if args[0] == "sample" else "out")
        _one_line_error(capsys, main([*args, "--out", str(out)] if args[0] != "cost" else args), "not found")
        assert not out.exists()


def test_pruning_a_pruned_model_is_refused(dense_dir, tmp_path, capsys):
    once = tmp_path / "once"
    assert main(["prune", "--model", str(dense_dir), "--method", "random", "--ratio", "0.3", "--out", str(once),
                 "--quiet"]) == 0
    capsys.readouterr()
    code = main(["prune", "--model", str(once), "--method", "random", "--ratio", "0.3", "--out",
                 str(tmp_path / "twice"), "--quiet"])
    _one_line_error(capsys, code, "already pruned")
    assert not (tmp_path / "twice").exists()


def test_sample_refuses_an_output_that_is_not_npz(dense_dir, tmp_path, capsys):
    _one_line_error(capsys, main(["sample", "--model", str(dense_dir), "--out", str(tmp_path / "x.png")]),
                    "--out must end in .npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra, message", [
    (["--reference", "dataset:mnist-5k", "--bootstrap", "-1"], "--bootstrap must be >= 0"),
    (["--reference", "dataset:mnist-5k", "--n-reference", "1"], "--n-reference >= 2"),
    ([], "give exactly one of --reference"),
])
def test_metrics_refuses_bad_flags_in_one_line(samples, capsys, extra, message):
    _one_line_error(capsys, main(["metrics", "--samples", str(samples / "six.npz"), *extra]), message)


def test_metrics_needs_two_samples_and_a_readable_file(samples, capsys):
    _one_line_error(capsys, main(["metrics", "--samples", str(samples / "one.npz"), "--reference",
                                  "dataset:mnist-5k"]), "at least 2 samples")
    code = main(["metrics", "--samples", str(samples / "corrupt.npz"), "--reference", "dataset:mnist-5k"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "corrupt.npz" in err and len(err.splitlines()) == 1


def test_train_refuses_an_autoencoder_directory_without_one(dense_dir, tmp_path, capsys):
    code = main(["train", "--dataset", "mnist-5k", "--steps", "1", "--autoencoder", str(dense_dir),
                 "--out", str(tmp_path / "ldm"), "--quiet"])
    _one_line_error(capsys, code, "holds no autoencoder (no vqvae/)")
    assert not (tmp_path / "ldm").exists()


def test_the_autoencoder_refuses_images_whose_side_is_not_a_multiple_of_4(tmp_path, capsys, monkeypatch):
    import torch

    from diffprune import data
    odd = data.ImageSet("odd", "train", torch.zeros(4, 1, 30, 30, dtype=torch.uint8), torch.zeros(4), [], "here")
    monkeypatch.setitem(data.DATASETS, "odd", lambda split="train": odd)
    code = main(["autoencoder", "--dataset", "odd", "--steps", "1", "--out", str(tmp_path / "ae"), "--quiet"])
    _one_line_error(capsys, code, "30x30 is not a multiple of 4")
    assert not (tmp_path / "ae").exists()


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--job", "0"], "--job needs exactly one --chapter"),
    (["--commands"], "--commands prints a plan's commands: add --plan"),
    (["--chapter", "rq1", "--step", "fd:x"], "--step STEP:KEY computes one step of one job"),
    (["--wait", "5"], "--wait is for --step"),
    (["--from", "x"], "--from brings another cache's records in"),
    (["--pack", "--from", "/nonexistent/cache"], "not a directory"),
    (["--chapter", "rq1", "--job", "100000", "--plan"], "--job 100000: chapter rq1 has jobs 0 to"),
])
def test_study_refuses_flags_that_do_not_go_together_in_one_line(args, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    _one_line_error(capsys, main(["study", "--profile", "smoke", *args]), message)
    assert not (tmp_path / "study").exists() or not any((tmp_path / "study").rglob("record.json"))


def test_adopt_makes_a_recorded_training_run_a_teacher_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    from diffprune import pipeline, profiles
    from diffprune.study import study_dir
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    recipe = {"dataset": "mnist-5k", "preset": "tiny", "batch_size": 4, "lr": 1e-3, "warmup_steps": 0, "seed": 0}
    run = pipeline.training_run(recipe, steps=2)
    assert run.path.is_dir()  # trained here (an Artifact computes when its files are asked for)
    out = tmp_path / "teachers" / "mnist"
    argv = ["adopt", run.key, "--out", str(out), "--grid", "4"]
    monkeypatch.setattr("sys.argv", ["diffprune", *argv])  # as the shell gives it: the command is recorded
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out), "training_run": run.key}
    assert profiles.is_teacher_dir(str(out)) and (out / "samples.png").is_file() and not (out / "checkpoint").exists()
    cost = json.loads((out / "cost.json").read_text())
    assert cost["training_run"] == run.key and cost["steps"] == 2 and cost["dataset"] == "mnist-5k"
    assert cost["adopted_by"] == f"python -m diffprune adopt {run.key} --out {out} --grid 4"
    # the weights unchanged: the teacher is keyed by them, so its samples are the run's
    weights = "unet/diffusion_pytorch_model.safetensors"
    assert (out / weights).read_bytes() == (run.path / weights).read_bytes()
    assert (out / "train_log.csv").read_text() == (run.path / "train_log.csv").read_text()
    # refused in one line, nothing written or changed: an existing teacher, an unknown run, a bad grid
    before = sorted(p.name for p in out.parent.iterdir())
    _one_line_error(capsys, main(["adopt", run.key, "--out", str(out), "--grid", "0"]), "already exists")
    _one_line_error(capsys, main(["adopt", "0123456789abcdef", "--out", str(tmp_path / "x")]),
                    "no recorded training run '0123456789abcdef'")
    _one_line_error(capsys, main(["adopt", run.key, "--out", str(tmp_path / "y"), "--grid", "-1"]), "--grid")
    assert sorted(p.name for p in out.parent.iterdir()) == before and not (tmp_path / "x").exists()
    # a record without its weights (as in a fresh clone): named, not copied half
    import shutil
    shutil.rmtree(study_dir() / "training_run" / run.key / "unet")
    _one_line_error(capsys, main(["adopt", run.key, "--out", str(tmp_path / "z")]), "not its unet")
    assert not (tmp_path / "z").exists()
    # --replace puts a run in place of the teacher, whole
    other = pipeline.training_run({**recipe, "seed": 1}, steps=1)
    assert other.path.is_dir()
    assert main(["adopt", other.key, "--out", str(out), "--replace", "--grid", "0"]) == 0
    assert json.loads((out / "cost.json").read_text())["training_run"] == other.key
    assert not (out / "samples.png").exists() and sorted(p.name for p in out.parent.iterdir()) == before
