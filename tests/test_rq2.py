"""RQ2's own computations: stop t on a curve against the repository's, and the importance map's
comparisons. Its readings write the book's claims, so their wording is tested on known inputs."""
import math

import numpy as np
import pytest

from diffprune import DiffpruneError
from diffprune.chapters import ablations, content_detail, timestep_map


def _curve(stop_at: int) -> dict:
    """A curve that falls below 5% of its maximum at t = stop_at, on 2 batches."""
    t = list(range(0, 1000, 10))
    loss = [1.0 if s < stop_at else 0.01 for s in t]
    return {"t": t, "loss": [loss, [v * 1.1 for v in loss]]}


@pytest.mark.parametrize("stop_at, position", [(50, 0), (200, 1), (600, 2)])
def test_our_stop_t_is_placed_against_the_repository_s(stop_at, position):
    found = timestep_map.curve_stop(_curve(stop_at), 0.05)
    assert found["stop"] == stop_at and found["position"] == timestep_map.POSITIONS[position]
    assert found["repository"] == {"cifar10": 249, "celeba-hq": 178}  # the repository's numbers, named


def test_a_rule_that_never_fires_has_no_stop_and_no_position():
    c = {"t": [0, 10, 20], "loss": [[1.0, 0.9, 0.8]]}
    assert timestep_map.curve_stop(c, 0.05) == {"T": 0.05, "stop": None,
                                                "repository": {"cifar10": 249, "celeba-hq": 178},
                                       "position": None}


def test_stop_table_gives_ours_the_batch_range_and_the_repository():
    c = _curve(300)
    c["loss"][1] = [1.0 if s < 400 else 0.01 for s in c["t"]]
    table = timestep_map.stop_table(c, [0.05, 0.5])
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
    rho = timestep_map.spearman_matrix(results)
    assert rho.shape == (2, 2) and rho[0, 0] == pytest.approx(1.0) and rho[0, 1] == pytest.approx(-1.0)
    share = timestep_map.removed_share(results)
    assert share.loc["down_blocks.0", "0–500"] == 0.25 and share.loc["mid_block", "0–500"] == 0.5
    assert share.loc["mid_block", "500–1000"] == 0.0
    jaccard = timestep_map.kept_jaccard(results, results[0]["removed"])
    by_block = timestep_map.jaccard_by_block(results, results[0]["removed"])
    assert list(by_block.index) == ["down_blocks.0", "mid_block", "whole UNet"]
    assert by_block.loc["whole UNet"].tolist() == jaccard and by_block.loc["mid_block", "500–1000"] == 0.5
    # kept: window 0 = {d1, d2, d3, m0}; window 1 = {d0, d1, d2, m0, m1}: 3 shared of 6
    assert jaccard == [1.0, pytest.approx(3 / 6)]
    n = timestep_map.map_numbers(results, rho, jaccard, share)
    assert n["neighbour_rho"] is None and n["first_last_rho"] == pytest.approx(-1.0)  # two windows: no neighbours
    assert (n["closest"], n["closest_jaccard"], n["last"], n["last_jaccard"]) == ("[0, 500)", 1.0, "[500, 1000)", 0.5)
    assert n["share_spread"] == pytest.approx(0.5)  # mid_block: half removed by one window, none by the other
    share = timestep_map.removed_share([results[0]] * 3)
    same = timestep_map.map_numbers([results[0]] * 3, np.ones((3, 3)), [1.0] * 3, share)
    assert same["share_spread"] == 0 and same["neighbour_rho"] == pytest.approx(1.0)
    table = timestep_map.map_table({"toy": n}, 0.05)
    assert table.loc["toy", "closest to Diff-Pruning T = 0.05 (Jaccard)"] == "[0, 500) (1.00)"


def _teacher_of(timesteps: int, tmp_path) -> str:
    """A teacher directory whose scheduler has `timesteps` (only the scheduler is read)."""
    from diffprune.unet import default_scheduler
    d = tmp_path / "teacher"
    default_scheduler().from_config(default_scheduler().config, num_train_timesteps=timesteps).save_pretrained(
        d / "scheduler")
    return str(d)


def test_windows_tile_the_teacher_s_timesteps(tmp_path, params):
    trained_here = {"dataset": "mnist"}  # a teacher this study trains gets the default schedule: 1,000
    def windows(size, teacher):  # the two parameters `windows` reads
        return timestep_map.windows(params(window_size=size, teacher=teacher))
    assert windows(250, trained_here) == [(0, 250), (250, 500), (500, 750), (750, 1000)]
    assert np.isclose(sum(b - a for a, b in windows(100, trained_here)), 1000)
    short = _teacher_of(400, tmp_path)
    assert windows(100, short)[-1] == (300, 400)
    with pytest.raises(DiffpruneError, match="window_size 300 does not divide the teacher's 400 timesteps"):
        windows(300, short)
    p = params(content_k=[100, 400], timestep_stride=10, teacher=short)
    assert content_detail.content_windows(p) == [("early", (0, 100)), ("early", (0, 400)), ("late", (100, 400))]
    with pytest.raises(DiffpruneError, match="content_k 1000 lies beyond the teacher's 400 timesteps"):
        content_detail.content_stages(p.replace(content_k=[100, 1000]))


def _content(early: dict, late: dict | None = None, steps: int = 0):
    """A summary of content-vs-detail rows: {k: ssim} per side."""
    import pandas as pd
    return pd.DataFrame([{"side": side, "k": k, "finetune_steps": steps, "ssim": v}
                         for side, values in (("early", early), ("late", late or {})) for k, v in values.items()])


def test_content_comparisons_pair_the_windows_by_seed_and_read_only_inside_the_ssim_band(params):
    from diffprune.verdicts import Kind

    def rows(side, k, detail, kappa, ssim=0.5, steps=100):  # three seeds, a common seed effect the pairing removes
        return [{"side": side, "k": k, "finetune_steps": steps, "seed": s, "ssim": ssim, "detail": detail + 0.1 * s,
                 "kappa": kappa + 0.1 * s} for s in range(3)]
    data = (rows("early", 100, 0.60, 0.30) + rows("late", 100, 0.50, 0.40)      # the paper's direction
            + rows("early", 500, 0.50, 0.50) + rows("late", 500, 0.5005, 0.499)  # equal within the margins
            + rows("early", 300, 0.40, 0.60) + rows("late", 300, 0.50, 0.50)    # the other way round
            + rows("early", 700, 0.60, math.nan) + rows("late", 700, 0.50, math.nan)  # kappa undefined: one class
            + rows("early", 100, 0.60, 0.30, ssim=0.1, steps=0) + rows("late", 100, 0.50, 0.40, ssim=0.1, steps=0))
    p = params(equivalence_margins={"detail": 0.01, "kappa": 0.02}, content_ssim_band=[0.3, 0.8])
    compared = content_detail.content_comparisons(p, data)
    kinds = {(v.a, v.where, v.metric): (v.kind, inside) for _, _, inside, v in compared}
    assert kinds[("[0, 100)", "after 100 steps", "detail")] == (Kind.BETTER, True)
    assert kinds[("[0, 100)", "after 100 steps", "kappa")] == (Kind.WORSE, True)
    assert kinds[("[0, 500)", "after 100 steps", "kappa")] == (Kind.EQUIVALENT, True)
    assert kinds[("[0, 100)", "no finetune", "detail")] == (Kind.BETTER, False)  # noise-level SSIM: not read
    assert ("[0, 700)", "after 100 steps", "kappa") not in kinds  # no seed to pair: no verdict to show
    assert {v.n for *_, v in compared} == {3}
    reading = content_detail.division_of_labour([v for _, _, inside, v in compared if inside])
    assert reading == {"holds": ["[0, 100), after 100 steps"], "reversed": ["[0, 300), after 100 steps"],
                       "equivalent": ["[0, 500), after 100 steps"], "mixed": ["[0, 700), after 100 steps"]}


def test_ssim_table_and_windows(params):
    s = _content({100: 0.5, 1000: 0.7}, {100: 0.4})
    table = content_detail.ssim_table(s)
    assert table.loc[100, "no finetune"] == "0.50 / 0.40"
    assert table.loc[1000, "no finetune"] == "0.70 / –"  # [1000, 1000) is empty
    p = params(content_k=[100, 1000], timestep_stride=10, teacher={"dataset": "mnist"})
    assert content_detail.content_windows(p) == [("early", (0, 100)), ("early", (0, 1000)), ("late", (100, 1000))]
    assert content_detail.content_stages(p) == [100, 1000]
    with pytest.raises(Exception, match="multiples of timestep_stride 30"):
        content_detail.content_stages(p.replace(timestep_stride=30))


def test_threshold_verdicts_compare_the_reference_paired_by_seed_over_every_seed_both_rows_have(monkeypatch, params):
    from diffprune.verdicts import Kind
    p = params(reference_threshold=0.05, equivalence_margins={"fd": 0.02, "ssim": 0.01}, dataset="d",
               ablation_thresholds=[0.0, 0.05, 0.1], ablation_seeds=[0, 1, 2], seeds=[0, 1, 2, 3, 4],
               methods=["diff-pruning"], thresholds=[0.0, 0.05])
    base = (100.0, 150.0, 200.0, 120.0, 170.0)  # T = 0.05 is 5 lower than T = 0 at every seed, the seeds spread by 50
    monkeypatch.setattr(ablations, "threshold_row", lambda q, T, s: {"threshold": T, "seed": s, "ssim": 0.5,
                                                                     "fd": base[s] + (5.0 if T == 0.0 else 0.0)})
    v = {(x.b, x.metric): x for x in ablations.threshold_verdicts(p)}
    assert set(v) == {("T=0", "fd"), ("T=0.1", "fd"), ("T=0", "ssim"), ("T=0.1", "ssim")}
    assert v[("T=0", "fd")].kind is Kind.BETTER and v[("T=0", "fd")].difference == pytest.approx(-5.0)
    assert v[("T=0.1", "fd")].kind is Kind.EQUIVALENT and v[("T=0", "ssim")].kind is Kind.EQUIVALENT
    # RQ1 has T = 0.05 and T = 0 on five seeds: the one comparison uses all five; T = 0.1 only the ablation's
    assert (v[("T=0", "fd")].n, v[("T=0.1", "fd")].n) == (5, 3)
    assert ablations.threshold_verdicts(p.replace(reference_threshold=0.2)) == []  # no such row: nothing claimed


def test_the_threshold_table_says_when_its_means_are_over_fewer_seeds_than_the_verdicts(params):
    p = params(ablation_thresholds=[0.0, 0.05, 0.1], ablation_seeds=[0, 1, 2], seeds=[0, 1, 2, 3, 4],
               methods=["diff-pruning"], thresholds=[0.0, 0.05])
    note = ablations.seeds_note(p)
    assert "T = 0, 0.05 are also RQ1's rows" in note and "(0, 1, 2, 3, 4)" in note and "(0, 1, 2)" in note
    assert ablations.seeds_note(p.replace(seeds=[0, 1, 2])).startswith("Every comparison is paired over")


def test_score_specs_reuse_rq1_rows(params):
    specs = ablations.score_specs(params(score_forms=["abs", "sum", "square"], reference_threshold=0.05))
    assert specs == [("abs, T=0.05", "diff-pruning", 0.05, None), ("abs, T=0", "diff-pruning", 0.0, None),
                     ("sum, T=0.05", "diff-pruning", 0.05, "sum"), ("sum, T=0", "taylor", None, None),
                     ("square, T=0.05", "diff-pruning", 0.05, "square"), ("square, T=0", "diff-pruning", 0.0, "square")]


def test_score_verdicts_separate_the_threshold_from_the_form(params):
    from diffprune.verdicts import Kind
    p = params(reference_threshold=0.05, equivalence_margins={"fd": 0.02}, dataset="d")
    fd = {("abs", 0.05): 10.0, ("abs", 0.0): 10.05, ("square", 0.05): 15.0, ("square", 0.0): 12.0}
    rows = [{"form": f, "T": T, "seed": s, "fd": v + s} for (f, T), v in fd.items() for s in range(3)]
    v = {(x.a, x.b): x for x in ablations.score_verdicts(p, rows)}
    assert v[("Σ|w·g|, T=0.05", "Σ|w·g|, T=0")].kind is Kind.EQUIVALENT  # -0.05 at every seed, inside ±2%
    assert v[("Σ(w·g)², T=0.05", "Σ(w·g)², T=0")].kind is Kind.WORSE
    assert v[("Σ|w·g|, T=0.05", "Σ(w·g)², T=0.05")].kind is Kind.BETTER
    assert v[("Σ|w·g|, T=0", "Σ(w·g)², T=0")].difference == pytest.approx(-1.95)
