"""The shared evaluation layer: summaries over seeds, intervals in text, and the wording of the
readings that write the book's claims."""
import math

import pytest

from diffprune import evaluation, verdicts
from diffprune.chapters import rq1


def _row(label, fd, half, seed=0, method=None, **kw):
    return {"row": label, "method": method or label, "seed": seed, "fd": fd, "fd_low": fd - half,
            "fd_high": fd + half, "fd_metric": "FD", "ssim": 0.8, "ssim_low": 0.79, "ssim_high": 0.81,
            "content": None, "content_low": None, "content_high": None, "params": 100, "macs": 1000,
            "finetune_steps": 400, "teacher_steps": 5000, **kw}


def test_summarize_one_seed_keeps_the_bootstrap_interval():
    s = evaluation.summarize([_row("a", 10.0, 1.0)])
    r = s.iloc[0]
    assert (r.fd, r.fd_low, r.fd_high, r.seeds) == (10.0, 9.0, 11.0, 1)
    assert r.interval == "95% bootstrap over samples"


def test_a_table_cannot_read_rows_of_two_teachers_of_one_data_set():
    from diffprune.artifacts import DiffpruneError
    old, new = "5000-step-teacher", "plateau-teacher"
    rows = [_row("pretrained", 120.0, 5.0, dataset="fm", teacher=old),
            _row("dp", 140.0, 5.0, dataset="fm", teacher=new)]
    with pytest.raises(DiffpruneError, match="rows of fm come from 2 different teachers"):
        evaluation.summarize(rows)
    other = [_row("pretrained", 470.0, 5.0, dataset="openmoji", teacher="emoji-teacher")]
    assert len(evaluation.summarize([rows[1], *other])) == 2  # one teacher per data set: every teacher's rows


def test_summarize_several_seeds_uses_the_t_interval_over_seeds():
    rows = [_row("a", v, 1.0, seed=i) for i, v in enumerate([10.0, 12.0, 14.0])]
    r = evaluation.summarize(rows).iloc[0]
    half = 4.302653 * 2.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert r.fd == pytest.approx(12.0) and r.fd_low == pytest.approx(12.0 - half, rel=1e-5)
    assert r.seeds == 3 and r.interval == "95% t over 3 seeds"


def test_summarize_keeps_the_seeds_bootstrap_interval_beside_the_interval_over_seeds():
    rows = [_row("a", v, half, seed=i) for i, (v, half) in enumerate([(10.0, 1.0), (12.0, 2.0), (14.0, 3.0)])]
    r = evaluation.summarize(rows).iloc[0]
    assert (r.fd_boot_low, r.fd_boot_high) == pytest.approx((10.0, 14.0))  # bound by bound: (9+10+11)/3, (11+14+17)/3
    assert r.fd_low < r.fd_boot_low  # the spread between seeds is wider here than one seed's sampling noise
    one = evaluation.summarize([_row("a", 10.0, 1.0)]).iloc[0]
    assert (one.fd_boot_low, one.fd_boot_high) == (one.fd_low, one.fd_high)


def test_summarize_gives_sizes_as_fractions_of_the_baseline():
    rows = [_row("pretrained", 5.0, 1.0), {**_row("pruned", 8.0, 1.0), "params": 50, "macs": 250}]
    s = evaluation.summarize(rows, baseline="pretrained")
    assert list(s["params_fraction"]) == [1.0, 0.5] and list(s["macs_fraction"]) == [1.0, 0.25]


def test_ci_text():
    assert evaluation.ci_text(601.44, 589.2, 613.51, 1) == "601.4 (589.2–613.5)"
    assert evaluation.ci_text(0.5, math.nan, math.nan, 3) == "0.500"
    assert evaluation.ci_text(None, None, None) == "–"
    assert evaluation.ci_text(332373.74, 307859.2, 357617.3, 1) == "332374 (307859–357617)"  # fits a cell
    assert evaluation.number_text(5285097779.99) == "5.29e+09" and evaluation.number_text(-46.83, 1) == "-46.8"


def _summary(dp_fd, taylor_fd, half=1.0):
    rows = [_row("pretrained", 5.0, half), _row("taylor", taylor_fd, half),
            _row("diff-pruning T=0.05", dp_fd, half, method="diff-pruning")]
    return rq1.summarize(rows)


def test_rq1_compares_the_reference_row_paired_by_seed(params):
    p = params(reference_threshold=0.05, methods=["taylor", "diff-pruning"], thresholds=[0.05],
               equivalence_margins={"fd": 0.02}, dataset="d", control_row=False)
    # the reference row is 10% better than taylor at every seed, while the seeds differ by far more
    rows = [r for s, base in enumerate([100.0, 150.0, 200.0]) for r in (
        {**_row("taylor", base, 1.0, seed=s)}, {**_row("diff-pruning T=0.05", 0.9 * base, 1.0, seed=s)})]
    (v,) = rq1.comparisons(p, rows, metrics=("fd",))
    assert (v.a, v.b, v.n, v.interval) == ("diff-pruning T=0.05", "taylor", 3, verdicts.SEEDS)
    assert v.difference == pytest.approx(-15.0) and v.kind is verdicts.Kind.BETTER
    s = evaluation.summarize(rows)  # unpaired, the two rows' intervals over seeds overlap widely
    a, b = s.set_index("row").loc["diff-pruning T=0.05"], s.set_index("row").loc["taylor"]
    assert a.fd_high > b.fd_low


def test_a_missing_seed_is_shown_as_incomplete_never_as_an_interval_over_seeds():
    rows = [_row("a", 10.0, 1.0, seed=0), {**_row("a", 12.0, 1.0, seed=1), "fd": None},
            _row("a", 14.0, 1.0, seed=2)]
    r = evaluation.summarize(rows).iloc[0]
    assert r.fd == pytest.approx(12.0) and math.isnan(r.fd_low) and math.isnan(r.fd_high)
    assert "incomplete" in r.interval and "seeds 0, 2" in r.interval


def test_summarize_clips_an_interval_over_seeds_to_the_metric_range():
    rows = [{**_row("a", 10.0, 1.0, seed=i), "content": v, "content_low": v, "content_high": v}
            for i, v in enumerate([0.2, 0.9])]
    r = evaluation.summarize(rows).iloc[0]
    assert r.content == pytest.approx(0.55) and (r.content_low, r.content_high) == (0.0, 1.0)


def test_the_seed_spread_divides_the_sd_over_seeds_by_the_bootstrap_standard_error(params):
    # row a: FD 10 and 14 over two seeds (SD 2.83), each with a bootstrap interval 3.92 wide (SE 1)
    rows = [{"row": "a", "seed": s, "fd": fd, "fd_low": fd - 1.96, "fd_high": fd + 1.96}
            for s, fd in [(0, 10), (1, 14)]]
    rows += [{"row": "b", "seed": s, "fd": 20.0, "fd_low": 18.04, "fd_high": 21.96} for s in (0, 1)]
    s = rq1.seed_spread(rows)
    assert (s["seeds"], s["rows"]) == (2, 2)
    assert (s["min"], s["max"]) == pytest.approx((0.0, math.sqrt(8)))
    assert s["median"] == pytest.approx(math.sqrt(8) / 2)
    assert rq1.seed_spread([r for r in rows if r["seed"] == 0]) is None  # one seed: nothing to compare
    table = rq1.seed_spread_table([(params(dataset="toy"), rows), (params(dataset="one seed"), rows[:1])])
    assert list(table.index) == ["toy"] and table.loc["toy", "range over rows"] == "0.0–2.8"


@pytest.mark.parametrize("accuracy, judged", [(0.9, True), (0.7, True), (0.465, False), (None, False)])
def test_content_is_judged_only_by_a_classifier_accurate_enough(monkeypatch, accuracy, judged):
    judge = None if accuracy is None else {"test_accuracy": accuracy, "classes": list("abc")}
    monkeypatch.setattr(evaluation, "judge_of", lambda p: judge)
    assert evaluation.content_judged({}) is judged


def test_the_table_drops_same_class_where_content_is_not_judged():
    rows = [{**_row(label, 10.0, 1.0), "params": 1e6, "macs": 1e8, "ssim": 0.5, "ssim_low": 0.4, "ssim_high": 0.6,
             "content": 0.3, "content_low": 0.2, "content_high": 0.4, "steps": 0, "share": 0.0, "stop_t": None}
            for label in ("pretrained", "random")]
    summary = rq1.summarize(rows)
    assert "same class" in rq1.display_table(summary).columns
    assert "same class" not in rq1.display_table(summary, content=False).columns


def test_a_row_s_stop_t_is_shown_over_all_its_seeds_not_its_first():
    rows = [{"row": "dp", "seed": s, "fd": 100.0 + s, "stop_t": t} for s, t in enumerate([440, 490, 470])]
    summary = evaluation.summarize(rows)
    assert summary["stop_ts"].iloc[0] == [440, 490, 470]
    assert evaluation.stops_text(summary["stop_ts"].iloc[0]) == "440–490"
    assert evaluation.stops_text([250, 250]) == "250"
    assert evaluation.stops_text([250, None], "never") == "250, never"  # one seed's pass never met T
    assert evaluation.stops_text([None, None], "never") == "never" and evaluation.stops_text([None]) == "–"


def test_a_paired_difference_from_redrawn_samples_says_how_far_they_moved_from_the_table():
    same = ({"fd_a": 100.0, "fd_b": 120.0}, 100.0, 120.0)
    assert evaluation.redrawn([same]) == ("Each paired difference is computed from the very samples the table's "
                                          "distances were.")
    moved = evaluation.redrawn([same, ({"fd_a": 102.0, "fd_b": 50.0}, 100.0, 50.0)])
    assert "1 of their 4 distances differ from the table's by up to 2.0 %" in moved
