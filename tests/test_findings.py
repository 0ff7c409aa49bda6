"""The findings page: verdicts come from recorded results only, and a chapter not yet run says so."""
import dataclasses

import pytest

import diffprune.study
from diffprune.chapters import findings
from diffprune.study import NotRecorded, recorded_only


def test_without_recorded_results_every_testable_claim_is_not_yet_tested(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.setattr(diffprune.study, "_compute", lambda *a: pytest.fail("the findings page computed a step"))
    rows = findings.verdicts_of("smoke", {})
    assert [r.finding for r in rows] == [findings.Finding.NOT_YET if c.test else findings.Finding.NOT_TESTED
                                         for c in findings.CLAIMS]
    assert all(r.evidence is None for r in rows)
    assert not (tmp_path / "study").exists() or not any((tmp_path / "study").rglob("record.json"))


def test_recorded_only_refuses_to_compute(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    with recorded_only(), pytest.raises(NotRecorded, match="is not recorded"):
        diffprune.study.cached("fd", {"x": 1}, lambda work: pytest.fail("computed"))
    calls = []
    diffprune.study.cached("fd", {"x": 1}, lambda work: calls.append(work))  # outside it, computing is allowed
    assert len(calls) == 1


def test_the_paper_spread_is_its_taylor_versus_t0_gap():
    s = findings.spread()
    assert s["cifar10"] == pytest.approx(abs(5.56 - 5.49) / 5.49)
    assert s["celeba-hq"] == pytest.approx(abs(6.64 - 6.24) / 6.24)


def test_findings_read_verdicts_in_the_paper_s_direction_per_teacher():
    from diffprune.verdicts import SEEDS, Kind, Verdict
    made = {k: Verdict("dp", "random", "fd", 0, -1, 1, 3, SEEDS, 0.5, k, w, 10.0)
            for k, w in zip(Kind, ("t1", "t2", "t3", "t4"), strict=True)}
    ev = findings.Evidence({v.where: findings.FROM_KIND[v.kind] for v in made.values()}, list(made.values()), "rq1")
    rows = [findings.Row(findings.CLAIMS[2], ev, findings.Finding.INCONCLUSIVE),
            findings.Row(findings.CLAIMS[-1], None, findings.Finding.NOT_TESTED)]
    t = findings.table(rows)
    assert list(t.loc[findings.CLAIMS[2].text, ["t1", "t2", "t3", "t4"]]) == [
        "reproduced", "contradicted", "equivalent", "inconclusive"]
    assert set(t.loc[findings.CLAIMS[-1].text, ["t1", "t2", "t3", "t4"]]) == {"not tested here"}
    c = findings.counts(rows)
    assert (c["reproduced"], c["contradicted"], c["not tested here"]) == (1, 1, 4)


def _at_checkpoint(low, high, margin=10.0):
    from diffprune.verdicts import SEEDS, Verdict, judge
    return Verdict("dp @500", "teacher", "fd", (low + high) / 2, low, high, 3, SEEDS, margin,
                   judge(low, high, margin, True), "fashion-mnist", 100.0)


def test_the_headline_is_judged_at_its_one_fixed_checkpoint_never_the_best_of_several():
    F = findings.Finding
    assert findings.at_point(_at_checkpoint(2, 8)) is F.REPRODUCED  # inside the paper's gap
    assert findings.at_point(_at_checkpoint(5, 12)) is F.INCONCLUSIVE  # reaches into the gap
    assert findings.at_point(_at_checkpoint(11, 20)) is F.CONTRADICTED  # wholly beyond it
    assert findings.at_point(None) is F.INCONCLUSIVE
    # the point is the profile's, whatever the other checkpoints show: a close one elsewhere is no rescue
    from diffprune.chapters import rq3
    p = {"headline_steps": [500, 625, 750, 1000], "headline_point": 625}
    found = [dataclasses.replace(_at_checkpoint(*b), a="diff-pruning")
             for b in ((2, 8), (11, 20), (2, 8), (2, 8))]
    assert findings.at_point(rq3.at_point(p, found)) is F.CONTRADICTED
