"""The findings page: verdicts come from recorded results only, and a chapter not yet run says so."""
import pytest

import diffprune.study
from diffprune.chapters import findings
from diffprune.study import NotRecorded, recorded_only


def test_without_recorded_results_every_testable_claim_is_not_yet_tested(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPRUNE_STUDY", str(tmp_path / "study"))
    monkeypatch.setattr(diffprune.study, "_compute", lambda *a: pytest.fail("the findings page computed a step"))
    rows = findings.verdicts("smoke", {})
    assert [r["verdict"] for r in rows] == [findings.NOT_YET if c.test else findings.NOT_TESTABLE
                                            for c in findings.CLAIMS]
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


def test_reading_counts_the_verdicts():
    rows = [{"verdict": v} for v in (findings.REPRODUCED, findings.NOT_REPRODUCED, findings.NOT_REPRODUCED,
                                     findings.NOT_TESTABLE)]
    assert findings.reading(rows) == ("Of the paper's 4 claims listed here, 1 reproduced at our scale, 2 did not, "
                                      "1 cannot be tested here and 0 are not yet tested.")
