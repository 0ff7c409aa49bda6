"""The evidence log: one comparison (the same sample sets, one metric) shows one verdict on every page."""
import pytest

from diffprune import evidence, verdicts

MARGINS = {"fd": 0.02, "ssim": 0.01}


def rows(label: str, values: dict[int, float]) -> list[dict]:
    return [{"row": label, "seed": s, "fd": v, "samples": f"{label}-{s}"} for s, v in values.items()]


DP, TAYLOR = rows("dp", {0: 10.0, 1: 12.0, 2: 11.0}), rows("taylor", {0: 11.0, 1: 12.5, 2: 13.0})


def logged(tmp_path, monkeypatch, page: str, found: list) -> list[dict]:
    monkeypatch.setenv(evidence.LOG, str(tmp_path / "log"))
    monkeypatch.setenv(evidence.PAGE, page)
    verdicts.table(found)
    return evidence.read(tmp_path / "log")


def test_a_comparison_shown_twice_alike_passes_and_the_reverse_reading_is_the_same_comparison(tmp_path, monkeypatch):
    v = verdicts.across_seeds(DP, TAYLOR, "fd", MARGINS)
    flipped = verdicts.across_seeds(TAYLOR, DP, "fd", MARGINS, a="Taylor", b="Diff-Pruning")
    logged(tmp_path, monkeypatch, "rq1", [v])
    entries = logged(tmp_path, monkeypatch, "rq2", [v, flipped])
    assert [e["page"] for e in entries] == ["rq1", "rq2", "rq2"] and entries[0]["seeds"] == [0, 1, 2]
    assert evidence.conflicts(entries) == []


def test_fewer_seeds_or_another_value_for_the_same_sample_sets_is_a_conflict(tmp_path, monkeypatch):
    v = verdicts.across_seeds(DP, TAYLOR, "fd", MARGINS)
    fewer = verdicts.across_seeds(DP[:2], TAYLOR[:2], "fd", MARGINS, a="DP, T=0.05", b="Taylor")
    entries = logged(tmp_path, monkeypatch, "rq1", [v]) + logged(tmp_path, monkeypatch, "findings", [fewer])[1:]
    found = evidence.conflicts(entries)
    assert len(found) == 1 and "different seed sets" in found[0] and "findings: DP, T=0.05 vs Taylor" in found[0]
    boot = verdicts.from_bootstrap({"value": -2.0, "ci_low": -3.0, "ci_high": -1.0, "n": 100, "a": "dp-0",
                                    "b": "taylor-0"}, "fd", MARGINS, a="dp", b="taylor", reference=11.0, seed=0)
    one = verdicts.across_seeds(DP[:1], TAYLOR[:1], "fd", MARGINS)  # the same seed, another statistic
    found = evidence.conflicts([evidence.entry(boot), evidence.entry(one)])
    assert len(found) == 1 and "different values" in found[0]
    assert evidence.conflicts([evidence.entry(boot)] * 2) == []  # the same verdict shown twice


def test_another_metric_of_the_same_rows_is_another_comparison_and_a_verdict_needs_an_identity():
    fd = verdicts.across_seeds(DP, TAYLOR, "fd", MARGINS)
    ssim = verdicts.Verdict("dp", "taylor", "ssim", 0.1, 0.0, 0.2, 3, verdicts.SEEDS, 0.01,
                            verdicts.Kind.INCONCLUSIVE, pairs=fd.pairs)
    assert evidence.conflicts([evidence.entry(fd), evidence.entry(ssim)]) == []
    bare = verdicts.across_seeds([{"seed": 0, "fd": 1.0}], [{"seed": 0, "fd": 2.0}], "fd", MARGINS)
    assert "no sample sets" in evidence.conflicts([evidence.entry(bare)])[0]


def test_an_inconclusive_verdict_without_a_detectable_difference_is_named():
    nan = float("nan")
    blind = verdicts.Verdict("dp", "taylor", "fd", -1.0, nan, nan, 3, verdicts.SEEDS, 0.2, verdicts.Kind.INCONCLUSIVE)
    assert evidence.undetectable([evidence.entry(blind)])
    assert not evidence.undetectable([evidence.entry(verdicts.across_seeds(DP, TAYLOR, "fd", MARGINS))])
    one = verdicts.across_seeds(DP[:1], TAYLOR[:1], "fd", MARGINS)  # one seed has no interval, and says so
    assert one.kind is verdicts.Kind.INCONCLUSIVE and not evidence.undetectable([evidence.entry(one)])
    assert verdicts.kind_text(one) == "inconclusive (one seed: no interval)"


def test_nothing_is_logged_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(evidence.LOG, raising=False)
    monkeypatch.chdir(tmp_path)
    verdicts.sentence(verdicts.across_seeds(DP, TAYLOR, "fd", MARGINS))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("names", [["rq1"], ["rq1", "rq2"]])
def test_the_book_keeps_the_other_pages_verdicts_and_refuses_a_conflict(tmp_path, monkeypatch, names):
    from diffprune.artifacts import DiffpruneError
    from diffprune.book import EVIDENCE, check_evidence
    v = verdicts.across_seeds(DP, TAYLOR, "fd", MARGINS)
    logged(tmp_path, monkeypatch, "rq2", [v])
    check_evidence(tmp_path, ["rq2"], tmp_path / "log")
    (tmp_path / "log").unlink()
    logged(tmp_path, monkeypatch, "rq1", [verdicts.across_seeds(DP[:2], TAYLOR[:2], "fd", MARGINS)])
    if names == ["rq1"]:  # rq2's verdict stays in the book's log and disagrees
        with pytest.raises(DiffpruneError, match="1 verdict.*different seed sets"):
            check_evidence(tmp_path, names, tmp_path / "log")
    else:  # rq2 re-executed and showed nothing: only rq1's remains
        assert [e["page"] for e in evidence.read(check_evidence(tmp_path, names, tmp_path / "log"))] == ["rq1"]
    assert (tmp_path / EVIDENCE).is_file()


def test_a_page_built_without_verdicts_counts_as_built_and_one_never_built_does_not(tmp_path, monkeypatch):
    """The tally of the research pages waits for every page; a page that shows no verdict (the paper
    dry run's teachers page) is built all the same: its opening is logged, not its verdicts."""
    from diffprune.book import check_evidence
    monkeypatch.delenv(evidence.BOOK_LOG, raising=False)
    monkeypatch.setenv(evidence.LOG, str(tmp_path / "log"))
    evidence.opened("teachers")  # executed, shows nothing
    assert evidence.so_far(["teachers", "rq1"]) is None  # rq1 not built yet
    evidence.opened("rq1")
    logged(tmp_path, monkeypatch, "rq1", [verdicts.across_seeds(DP, TAYLOR, "fd", MARGINS)])
    entries = evidence.so_far(["teachers", "rq1"])
    assert [e["page"] for e in entries] == ["rq1"] and evidence.tally(entries)["n"] == 1
    kept = check_evidence(tmp_path, ["teachers", "rq1"], tmp_path / "log")  # the book's log keeps the openings
    assert [e["page"] for e in evidence.read(kept)] == ["rq1"]
    assert {e["page"] for e in evidence.read(kept, markers=True)} == {"teachers", "rq1"}
    (tmp_path / "log").unlink()
    monkeypatch.setenv(evidence.BOOK_LOG, str(kept))  # a later build of other pages reads them from the book
    assert [e["page"] for e in evidence.so_far(["teachers", "rq1"])] == ["rq1"]
