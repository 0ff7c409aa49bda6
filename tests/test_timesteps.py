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
from diffprune.models import pixel_model
from diffprune.prune import channel_scores, removed_channels
from diffprune.unet import build_unet


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
    pixel_model(build_unet("tiny", 1, 28, seed=0)).save(d)
    return d


def test_prune_cli_with_a_window(dense_dir, tmp_path, capsys):
    out = tmp_path / "w"
    args = ["prune", "--model", str(dense_dir), "--method", "diff-pruning", "--ratio", "0.25", "--timesteps", "0:300",
            "--timestep-stride", "100", "--dataset", "mnist-5k", "--batch-size", "4", "--out", str(out), "--quiet",
            "--score", "square"]
    assert main(args) == 0
    report = json.loads((out / "prune_report.json").read_text())
    assert report["window"] == [0, 300] and report["visited_t"] == [0, 100, 200] and report["grad_timesteps"] == 3
    assert report["score"] == "square" and json.loads(capsys.readouterr().out)["score"] == "square"


@pytest.mark.parametrize("extra, message", [
    (["--timesteps", "900:100"], "window 900:100"),
    (["--timesteps", "0:2000"], "window 0:2000"),
    (["--timesteps", "300"], "A:B"),
    (["--timesteps", "0:300", "--threshold", "0.05"], "not both"),
    (["--score", "cube"], "invalid choice: 'cube'"),
    (["--method", "magnitude", "--score", "abs"], "score form"),
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
    t = pipeline.teacher(str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / "teacher")))
    curve = pipeline.loss_curve(t, dataset="mnist-5k", n_batches=2, batch_size=4, stride=250, seed=1).result(
        "loss_curve.json")
    assert curve["t"] == [0, 250, 500, 750] and len(curve["loss"]) == 2 and curve["loss"][0] != curve["loss"][1]
    report = pipeline.pruned(t, method="taylor", ratio=0.25, seed=1, timestep_stride=250, batch_size=4,
                             dataset="mnist-5k").result("prune_report.json")
    assert report["visited_t"] == curve["t"]
    assert report["loss_t"] == pytest.approx(curve["loss"][0], rel=1e-5)
    again = pipeline.loss_curve(t, dataset="mnist-5k", n_batches=2, batch_size=4, stride=250, seed=1).result(
        "loss_curve.json")
    assert again == curve
    assert torch.equal(fixed_noise(torch.zeros(2, 1, 4, 4), 5), fixed_noise(torch.zeros(2, 1, 4, 4), 5))


def test_one_walk_gives_every_windows_gradients(scheduler):
    """Snapshots of one walk: [0, k) is exactly the direct window's gradients, [k, 1000) their
    difference, and a prune from either keeps the channels the direct window prune keeps."""
    model = build_unet("tiny", 1, 16, seed=0)
    images = images_for(model, n=4)
    kw = dict(scheduler=scheduler, images=images, timestep_stride=100, seed=2, progress=False)
    walk = copy.deepcopy(model)
    record = accumulate_gradients(walk, scheduler, images, fixed_noise(images, 2), threshold=None,
                                  timestep_stride=100, snapshots=(300, 1000), progress=False)
    shots = record["snapshots"]
    assert record["visited_t"] == list(range(0, 1000, 100)) and sorted(shots) == [300, 1000]
    direct = copy.deepcopy(model)
    accumulate_gradients(direct, scheduler, images, fixed_noise(images, 2), threshold=None, timestep_stride=100,
                         window=(0, 300), progress=False)
    assert all(torch.equal(shots[300][n], p.grad) for n, p in direct.named_parameters())
    late = {n: shots[1000][n] - shots[300][n] for n in shots[300]}
    for window, grads in (((0, 300), shots[300]), ((300, 1000), late)):
        _, from_walk = prune(copy.deepcopy(model), "diff-pruning", 0.4, window=window, gradients=grads, **kw)
        _, from_window = prune(copy.deepcopy(model), "diff-pruning", 0.4, window=window, **kw)
        assert from_walk["removed"] == from_window["removed"], window
        assert from_walk["visited_t"] == from_window["visited_t"] and from_walk["gradients"] == "precomputed"
    with pytest.raises(DiffpruneError, match="snapshots"):
        accumulate_gradients(copy.deepcopy(model), scheduler, images, fixed_noise(images, 2), threshold=0.05,
                             snapshots=(300,), progress=False)
    with pytest.raises(DiffpruneError, match="window"):
        prune(copy.deepcopy(model), "diff-pruning", 0.4, gradients=grads, **kw)


def test_pruned_in_window_is_the_window_prune_from_one_cached_walk(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    t = pipeline.teacher(str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / "teacher")))
    stages = pipeline.gradient_stages(t, dataset="mnist-5k", batch_size=4, stride=250, seed=1, stages=[500, 1000])
    for window in ((0, 500), (500, 1000), (0, 1000)):
        walk = pipeline.pruned_in_window(t, stages, window, method="diff-pruning", ratio=0.25)
        direct = pipeline.pruned(t, method="diff-pruning", ratio=0.25, seed=1, timestep_stride=250, batch_size=4,
                                 dataset="mnist-5k", window=window)
        assert walk.key != direct.key  # another computation, recorded as such
        assert pipeline.removed(walk) == pipeline.removed(direct), window
    assert stages.result("stages.json")["visited_t"] == [0, 250, 500, 750]
    with pytest.raises(DiffpruneError, match="stages"):
        pipeline.pruned_in_window(t, stages, (250, 1000), method="diff-pruning", ratio=0.25)
    assert not list((tmp_path / "study" / "prune").glob("*.partial"))  # refused before any work


def test_prune_keys_hold_every_choice_and_earlier_keys_stay(tmp_path):
    from diffprune.study import step_key
    t = pipeline.teacher(str(pixel_model(build_unet("tiny", 1, 28, seed=0)).save(tmp_path / "teacher")))
    kw = dict(method="diff-pruning", ratio=0.25, seed=1, timestep_stride=250, batch_size=4, dataset="mnist-5k")
    keys = {pipeline.pruned(t, threshold=T, score=s, **kw).key for T in (0.0, 0.05) for s in (None, "square", "sum")}
    keys |= {pipeline.pruned(t, window=w, score=s, **kw).key for w in ((0, 500), (500, 1000)) for s in (None, "sum")}
    assert len(keys) == 10  # lazy: nothing computed, every combination its own artifact
    before = {"teacher": t.key, "method": "diff-pruning", "ratio": 0.25, "seed": 1, "timestep_stride": 250,
              "batch_size": 4, "dataset": "mnist-5k", "threshold": 0.05}  # a key as recorded before windows and scores
    assert pipeline.pruned(t, threshold=0.05, **kw).key == step_key("prune", before)
