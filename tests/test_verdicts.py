"""Verdicts as values: paired differences, the four readings, and the one renderer."""
import dataclasses
import math

import numpy as np
import pytest

from diffprune import pipeline, verdicts
from diffprune.fid import paired_fd_difference, statistics
from diffprune.uncertainty import mean_ci
from diffprune.verdicts import Kind


def _rows(values, metric="fd"):
    return [{"seed": s, metric: v} for s, v in enumerate(values)]


def test_each_reading_comes_from_a_constructed_interval():
    assert verdicts.judge(-5.0, -1.0, 0.5, lower_is_better=True) is Kind.BETTER
    assert verdicts.judge(1.0, 5.0, 0.5, lower_is_better=True) is Kind.WORSE
    assert verdicts.judge(1.0, 5.0, 0.5, lower_is_better=False) is Kind.BETTER  # SSIM: higher is better
    assert verdicts.judge(-0.4, 0.3, 0.5, lower_is_better=True) is Kind.EQUIVALENT
    assert verdicts.judge(-0.4, 0.3, 0.2, lower_is_better=True) is Kind.INCONCLUSIVE
    assert verdicts.judge(math.nan, math.nan, 0.5, lower_is_better=True) is Kind.INCONCLUSIVE
    # beyond zero but inside the margin: too small to matter, whichever its sign
    assert verdicts.judge(0.1, 0.2, 0.5, lower_is_better=True) is Kind.EQUIVALENT


def test_across_seeds_pairs_by_seed_and_takes_a_relative_margin_for_fd():
    a, b = _rows([101.0, 151.0, 201.5]), _rows([100.0, 150.0, 200.0])
    v = verdicts.across_seeds(a, b, "fd", {"fd": 0.02}, a="x", b="y", where="d")
    ci = mean_ci([1.0, 1.0, 1.5])
    assert (v.difference, v.low, v.high) == pytest.approx((ci["mean"], ci["ci_low"], ci["ci_high"]))
    assert v.n == 3 and v.interval == verdicts.SEEDS and v.reference == pytest.approx(150.0)
    assert v.margin == pytest.approx(3.0) and v.kind is Kind.EQUIVALENT
    assert verdicts.across_seeds(a, b, "fd", {"fd": 0.0}).kind is Kind.WORSE
    # only the seeds both rows have; one such seed gives no interval
    lone = verdicts.across_seeds(_rows([1.0, None]), _rows([2.0, 3.0]), "fd", {})
    assert lone.n == 1 and math.isnan(lone.low) and lone.kind is Kind.INCONCLUSIVE


def test_the_renderer_covers_every_kind():
    made = [verdicts.Verdict("a", "b", "fd", d, lo, hi, 3, verdicts.SEEDS, 1.0, k, "d", 100.0)
            for d, lo, hi, k in ((-5, -8, -2, Kind.BETTER), (5, 2, 8, Kind.WORSE), (0, -0.5, 0.5, Kind.EQUIVALENT),
                                 (1, -3, 5, Kind.INCONCLUSIVE))]
    made = [dataclasses.replace(v, b=f"b{i}") for i, v in enumerate(made)]
    cells = list(verdicts.table(made, digits=2)["d (3 seeds)"])
    assert [c.split(":")[0] for c in cells] == ["better", "worse", "equivalent within ±1% (±1.00)",
                                                 "inconclusive (resolves ±4.00; margin ±1.00)"]
    assert cells[0] == "better: -5.00 (-8.00 to -2.00), -5.0%"
    assert all(verdicts.sentence(v) for v in made)


def test_paired_fd_of_identical_sets_is_zero_with_a_zero_width_interval():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(400, 8))
    mu, sigma = statistics(ref)
    x = rng.normal(0.3, 1.0, size=(60, 8))
    r = paired_fd_difference(x, x.copy(), mu, sigma, n_boot=50)
    assert r["value"] == 0 and r["ci_low"] == 0 and r["ci_high"] == 0


def test_paired_fd_sees_a_shift_that_unpaired_intervals_hide():
    from diffprune.fid import fd_with_ci
    rng = np.random.default_rng(1)
    mu, sigma = statistics(rng.normal(size=(2000, 4)))
    x = rng.normal(0.0, 1.0, size=(80, 4))
    y = x + 0.1  # the same samples, shifted: the covariance term is shared, only the mean term moves
    r = paired_fd_difference(y, x, mu, sigma, n_boot=200)
    assert r["value"] == pytest.approx(r["fd_a"] - r["fd_b"]) and r["value"] > 0
    assert 0 < r["ci_low"] <= r["value"] <= r["ci_high"]  # paired: the shift is seen
    a, b = fd_with_ci(y, mu, sigma, n_boot=200), fd_with_ci(x, mu, sigma, n_boot=200)
    assert a["ci_low"] < b["ci_high"]  # unpaired, the two intervals overlap


def test_paired_fd_refuses_sets_not_drawn_from_the_same_noise(tmp_path, monkeypatch):
    from diffprune.artifacts import DiffpruneError
    from diffprune.models import pixel_model
    from diffprune.unet import build_unet
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    t = pipeline.teacher(str(pixel_model(build_unet("tiny", 1, 16, seed=0)).save(tmp_path / "teacher")))
    a, b = (pipeline.samples(t, n=4, seed=s, steps=2) for s in (0, 1))
    with pytest.raises(DiffpruneError, match="same noise"):
        pipeline.paired_fd(a, b, dataset="mnist-5k", split="test", features="effnet-l0@128", n_reference=16,
                           n_boot=5).result("paired_fd.json")


def test_a_table_of_comparisons_with_different_first_rows_names_each():
    from diffprune.verdicts import SEEDS, Kind, Verdict, table
    same = [Verdict("dp", b, "fd", 1.0, 0.5, 1.5, 3, SEEDS, 0.1, Kind.WORSE, "x", 10.0) for b in ("r", "m")]
    assert list(table(same).index.get_level_values(0)) == ["vs r", "vs m"]
    mixed = [same[0], Verdict("dp @500", "teacher", "fd", 1.0, 0.5, 1.5, 3, SEEDS, 0.1, Kind.WORSE, "x", 10.0)]
    assert list(table(mixed).index.get_level_values(0)) == ["dp vs r", "dp @500 vs teacher"]
    assert list(table(same[:1]).index.get_level_values(0)) == ["dp vs r"]  # one row: no caption names its a


def test_a_column_names_seeds_and_samples_each_with_its_own_count():
    from diffprune.verdicts import BOOTSTRAP, SEEDS, Kind, Verdict, table
    by_seed = [Verdict("dp", b, "fd", 1.0, 0.5, 1.5, n, SEEDS, 0.1, Kind.WORSE, "x", 10.0)
               for b, n in (("r", 3), ("m", 5))]
    one_seed = Verdict("dp", "t", "fd", 1.0, 0.5, 1.5, 1000, BOOTSTRAP, 0.1, Kind.WORSE, "x", 10.0)
    assert list(table([*by_seed, one_seed]).columns) == ["x (3/5 seeds, 1000 samples)"]
    assert list(table(by_seed).columns) == ["x (3/5 seeds)"]
    assert list(table([dataclasses.replace(v, where="LDM (om)") for v in by_seed]).columns) == ["LDM (om; 3/5 seeds)"]


def _v(d, lo, hi, n=5, margin=1.0, kind=Kind.INCONCLUSIVE, interval=verdicts.SEEDS):
    return verdicts.Verdict("a", "b", "fd", d, lo, hi, n, interval, margin, kind, "d", 100.0)


def test_the_p_value_comes_back_from_the_interval():
    """A t interval over 5 seeds whose lower bound touches 0 has p = 0.05; one centred on 0, p = 1."""
    from scipy import stats
    half = stats.t.ppf(0.975, 4) * 1.0  # the half-width for a standard error of 1
    assert _v(half, 0.0, 2 * half).p_value() == pytest.approx(0.05)
    assert _v(0.0, -half, half).p_value() == pytest.approx(1.0)
    assert _v(0.0, -0.2, 0.2).p_value(margin=1.0) < 0.01  # well inside the margin: equivalent
    assert _v(0.0, -2.0, 2.0).p_value(margin=1.0) > 0.05
    boot = _v(1.96, 0.0, 3.92, interval=verdicts.BOOTSTRAP)  # a normal interval touching 0
    assert boot.p_value() == pytest.approx(0.05, abs=1e-3)


def test_holm_on_a_constructed_family():
    # alpha / 4, / 3, / 2, / 1 = 0.0125, 0.0167, 0.025, 0.05: the third fails, so the fourth is not tested
    assert verdicts.holm([0.01, 0.04, 0.015, 0.03]) == [True, False, True, False]
    assert verdicts.holm([0.001, 0.002, 0.003]) == [True, True, True]
    assert verdicts.holm([0.02, float("nan")]) == [True, False]  # 0.02 <= 0.05 / 2; NaN never rejects
    assert verdicts.holm([]) == []


def test_adjusted_verdicts_need_the_family_s_stronger_evidence():
    from scipy import stats
    se = 1.0
    q = stats.t.ppf(0.975, 4)
    lone = _v(2.6 * se, 2.6 * se - q, 2.6 * se + q)  # t = 2.6 over 5 seeds: p = 0.06, not beyond 0 even alone
    strong = _v(10.0, 10.0 - q, 10.0 + q, kind=Kind.WORSE)
    edge = _v(3.0, 3.0 - q, 3.0 + q, kind=Kind.WORSE)  # p = 0.04: beyond 0 alone, not against 0.05 / 2
    assert edge.p_value() < 0.05 and lone.p_value() > 0.05
    kinds = [v.kind for v in verdicts.adjusted([strong, edge, lone])]
    assert kinds == [Kind.WORSE, Kind.INCONCLUSIVE, Kind.INCONCLUSIVE]
    assert verdicts.adjusted([edge])[0].kind is Kind.WORSE  # a family of one: no adjustment


def test_both_readings_show_where_both_hold_and_inconclusive_says_what_it_resolves():
    both = _v(-0.5, -0.9, -0.1, margin=1.0, kind=Kind.EQUIVALENT)
    assert both.different and verdicts.kind_text(both, 1) == "equivalent within ±1% (±1.0) and better"
    wide = _v(1.0, -9.0, 11.0, margin=3.0)
    assert verdicts.kind_text(wide, 1) == "inconclusive (resolves ±10.0; margin ±3.0)"


def test_a_family_of_one_reads_as_its_own_interval_does():
    """Adjusting a single verdict changes nothing: TOST at alpha / 2 is the 95 % interval within the
    margin, and an asymmetric bootstrap interval excluding 0 keeps its p below 0.05."""
    from scipy import stats
    q = stats.t.ppf(0.975, 4)
    for d, half, margin in ((0.0, 1.0, 0.9 * q), (0.0, 1.0, 1.1 * q), (2.0, 1.0, 0.5), (0.3, 1.0, 5.0)):
        v = _v(d, d - half * q, d + half * q, margin=margin)
        v = dataclasses.replace(v, kind=verdicts.judge(v.low, v.high, margin, True))
        assert verdicts.adjusted([v])[0].kind is v.kind, (d, half, margin)
    skewed = _v(0.5, 0.1, 3.0, interval=verdicts.BOOTSTRAP, kind=Kind.WORSE)
    assert skewed.p_value() < 0.05 and verdicts.adjusted([skewed])[0].kind is Kind.WORSE


def test_an_interval_that_excludes_zero_never_prints_a_bound_of_zero():
    from diffprune.verdicts import difference_text
    worse = _v(1.0, 0.04, 2.1, kind=Kind.WORSE)
    assert difference_text(worse, 1) == "+1.00 (+0.04 to +2.10), +1.0%"
    better = _v(-1.0, -2.1, -0.004, kind=Kind.BETTER)
    assert "to -0.004)" in difference_text(better, 1)
    assert difference_text(_v(1.0, -0.04, 2.1), 1).startswith("+1.0 (-0.0 to +2.1)")  # it spans 0: as it is
