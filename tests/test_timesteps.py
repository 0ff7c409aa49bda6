"""RQ2's library: importance from a window of timesteps, per-window channel scores without
pruning, and the L_t curve."""
import copy
import json

import pytest
import torch
from conftest import images_for

from diffprune import DiffpruneError, pipeline, prune
from diffprune.cli import main
from diffprune.importance import accumulate_gradients, fixed_noise
from diffprune.models import build_unet, save_model
from diffprune.prune import channel_scores, removed_channels


def test_the_window_up_to_the_stop_t_keeps_exactly_diff_prunings_channels(tiny_unet, scheduler):
    images = images_for(tiny_unet, n=4)
    kw = dict(scheduler=scheduler, images=images, timestep_stride=50, seed=3, progress=False)
    # an untrained model: L_t is nearly flat, so only a T near 1 fires
    dp, report = prune(copy.deepcopy(tiny_unet), "diff-pruning", 0.3, threshold=0.99, **kw)
    assert report["stop_t"] is not None and report["grad_timesteps"] >= 2  # the rule fired, after some gradients
    win, win_report = prune(copy.deepcopy(tiny_unet), "diff-pruning", 0.3, window=(0, report["stop_t"]), **kw)
    assert win_report["window"] == [0, report["stop_t"]] and win_report["threshold"] is None
    assert win_report["visited_t"] == report["visited_t"][:-1]
    assert win_report["removed"] == report["removed"] == removed_channels(dp.pruning_history)
    other, other_report = prune(copy.deepcopy(tiny_unet), "diff-pruning", 0.3, window=(500, 1000), **kw)
    assert other_report["removed"] != report["removed"]  # late timesteps choose other channels


def test_channel_scores_are_deterministic_and_depend_on_the_window(scheduler):
    model = build_unet("tiny", 1, 16, seed=0)
    images = images_for(model, n=4)

    def scores(window):
        m = copy.deepcopy(model)
        accumulate_gradients(m, scheduler, images, fixed_noise(images, 0), threshold=None, timestep_stride=100,
                             window=window, progress=False)
        return channel_scores(m, "diff-pruning")

    first = scores((0, 300))
    assert first == scores((0, 300))
    assert all(len(v) > 0 and all(x >= 0 for x in v) for v in first.values())  # sum |w g| is never negative
    assert "conv_out" not in first  # the output convolution is never ranked
    assert first != scores((700, 1000))
    # same groups and sizes as torch-pruning prunes: a pruning removes channels only from ranked groups
    pruned, report = prune(copy.deepcopy(model), "diff-pruning", 0.5, scheduler=scheduler, images=images,
                           window=(0, 300), timestep_stride=100, progress=False)
    assert set(report["removed"]) <= set(first)
    assert all(max(idxs) < len(first[name]) for name, idxs in report["removed"].items())


def test_bad_windows_are_refused(tiny_unet, scheduler):
    images = images_for(tiny_unet, n=2)
    for window in [(900, 100), (0, 2000), (-5, 10), (0, 0)]:
        with pytest.raises(DiffpruneError, match="window"):
            prune(copy.deepcopy(tiny_unet), "diff-pruning", 0.3, scheduler=scheduler, images=images, window=window,
                  progress=False)
    with pytest.raises(DiffpruneError, match="gradient method"):
        prune(copy.deepcopy(tiny_unet), "magnitude", 0.3, scheduler=scheduler, window=(0, 100), progress=False)


@pytest.fixture(scope="module")
def dense_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models") / "dense"
    save_model(build_unet("tiny", 1, 28, seed=0), d)
    return d


def test_prune_cli_with_a_window(dense_dir, tmp_path, capsys):
    out = tmp_path / "w"
    args = ["prune", "--model", str(dense_dir), "--method", "diff-pruning", "--ratio", "0.25", "--timesteps", "0:300",
            "--timestep-stride", "100", "--dataset", "mnist-5k", "--batch-size", "4", "--out", str(out), "--quiet"]
    assert main(args) == 0
    report = json.loads((out / "prune_report.json").read_text())
    assert report["window"] == [0, 300] and report["visited_t"] == [0, 100, 200] and report["grad_timesteps"] == 3


@pytest.mark.parametrize("extra, message", [
    (["--timesteps", "900:100"], "window 900:100"),
    (["--timesteps", "0:2000"], "window 0:2000"),
    (["--timesteps", "300"], "A:B"),
    (["--timesteps", "0:300", "--threshold", "0.05"], "not both"),
])
def test_prune_cli_bad_window_is_one_line_and_no_output(dense_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "x"
    code = main(["prune", "--model", str(dense_dir), "--method", "diff-pruning", "--ratio", "0.25",
                 "--dataset", "mnist-5k", "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_loss_curve_batch_zero_is_what_the_importance_pass_visits(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    t = pipeline.teacher(str(save_model(build_unet("tiny", 1, 28, seed=0), tmp_path / "teacher")))
    curve = pipeline.loss_curve(t, dataset="mnist-5k", n_batches=2, batch_size=4, stride=250, seed=1).read_json(
        "loss_curve.json")
    assert curve["t"] == [0, 250, 500, 750] and len(curve["loss"]) == 2 and curve["loss"][0] != curve["loss"][1]
    report = pipeline.pruned(t, method="taylor", ratio=0.25, seed=1, timestep_stride=250, batch_size=4,
                             dataset="mnist-5k").read_json("prune_report.json")
    assert report["visited_t"] == curve["t"]
    assert report["loss_t"] == pytest.approx(curve["loss"][0], rel=1e-5)
    again = pipeline.loss_curve(t, dataset="mnist-5k", n_batches=2, batch_size=4, stride=250, seed=1).read_json(
        "loss_curve.json")
    assert again == curve
    assert torch.equal(fixed_noise(torch.zeros(2, 1, 4, 4), 5), fixed_noise(torch.zeros(2, 1, 4, 4), 5))
