"""RQ2's own computations: stop t on a curve against the repository's, and the importance map's
comparisons. Its readings write the book's claims, so their wording is tested on known inputs."""
import numpy as np
import pytest

from diffprune.chapters import rq2


def _curve(stop_at: int) -> dict:
    """A curve that falls below 5% of its maximum at t = stop_at, on 2 batches."""
    t = list(range(0, 1000, 10))
    loss = [1.0 if s < stop_at else 0.01 for s in t]
    return {"t": t, "loss": [loss, [v * 1.1 for v in loss]]}


@pytest.mark.parametrize("stop_at, words", [
    (50, "earlier than on both of the repository's curves"),
    (200, "between the repository's two curves"),
    (600, "later than on both of the repository's curves"),
])
def test_curve_reading_places_our_stop_t_against_the_repository(stop_at, words):
    text = rq2.curve_reading(_curve(stop_at), "toy", 0.05)
    assert text.startswith(f"On toy, T = 0.05 stops the walk at t = {stop_at}: {words}")
    assert "cifar10 249" in text and "celeba-hq 178" in text  # the repository's numbers, named


def test_curve_reading_when_the_rule_never_fires():
    c = {"t": [0, 10, 20], "loss": [[1.0, 0.9, 0.8]]}
    assert rq2.curve_reading(c, "toy", 0.05) == "On toy, T = 0.05 never stops the walk within t < 1000."


def test_stop_table_gives_ours_the_batch_range_and_the_repository():
    c = _curve(300)
    c["loss"][1] = [1.0 if s < 400 else 0.01 for s in c["t"]]
    table = rq2.stop_table(c, [0.05, 0.5])
    assert table.loc["0.05", "over 2 batches"] == "300–400"
    assert table.loc["0.05", "repository CIFAR-10"] == "249" and table.loc["0.05", "repository CelebA-HQ"] == "178"
    assert table.loc["0.5", "repository CIFAR-10"] == "–"  # the repository records no stop for T = 0.5


def _result(window, scores, removed):
    return {"window": list(window), "scores": scores, "removed": removed}


def test_importance_map_comparisons():
    s = {"down_blocks.0.resnets.0.conv1": [1.0, 2.0, 3.0, 4.0], "mid_block.resnets.0.conv1": [4.0, 3.0]}
    reverse = {k: [10 - x for x in v] for k, v in s.items()}  # every rank reversed
    results = [_result((0, 500), s, {"down_blocks.0.resnets.0.conv1": [0], "mid_block.resnets.0.conv1": [1]}),
               _result((500, 1000), reverse, {"down_blocks.0.resnets.0.conv1": [3]})]
    rho = rq2.spearman_matrix(results)
    assert rho.shape == (2, 2) and rho[0, 0] == pytest.approx(1.0) and rho[0, 1] == pytest.approx(-1.0)
    share = rq2.removed_share(results)
    assert share.loc["down_blocks.0", "0–500"] == 0.25 and share.loc["mid_block", "0–500"] == 0.5
    assert share.loc["mid_block", "500–1000"] == 0.0
    jaccard = rq2.kept_jaccard(results, results[0]["removed"])
    by_block = rq2.jaccard_by_block(results, results[0]["removed"])
    assert list(by_block.index) == ["down_blocks.0", "mid_block", "whole UNet"]
    assert by_block.loc["whole UNet"].tolist() == jaccard and by_block.loc["mid_block", "500–1000"] == 0.5
    assert rq2.share_reading(share).startswith("The windows differ in how much of a block they remove by up to 0.50")
    assert rq2.share_reading(rq2.removed_share([results[0], results[0]])).startswith("Every window removes the same")
    # kept: window 0 = {d1, d2, d3, m0}; window 1 = {d0, d1, d2, m0, m1}: 3 shared of 6
    assert jaccard == [1.0, pytest.approx(3 / 6)]
    text = rq2.map_reading(results, rho, jaccard, 0.05)
    assert "Spearman ρ -1.00" in text and "closest to Diff-Pruning's at T = 0.05 is [0, 500) (Jaccard 1.00" in text


def test_windows_tile_the_timesteps():
    assert rq2.windows({"window_size": 250}) == [(0, 250), (250, 500), (500, 750), (750, 1000)]
    assert np.isclose(sum(b - a for a, b in rq2.windows({"window_size": 100})), 1000)
