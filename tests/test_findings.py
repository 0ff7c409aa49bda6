"""The findings page: verdicts come from recorded results only, and a chapter not yet run says so."""
import dataclasses

import pytest

import diffprune.artifacts
import diffprune.profiles
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


def test_the_headline_is_judged_at_its_one_fixed_checkpoint_never_the_best_of_several(params):
    F = findings.Finding
    assert findings.at_point(_at_checkpoint(2, 8)) is F.REPRODUCED  # inside the paper's gap
    assert findings.at_point(_at_checkpoint(5, 12)) is F.INCONCLUSIVE  # reaches into the gap
    assert findings.at_point(_at_checkpoint(11, 20)) is F.CONTRADICTED  # wholly beyond it
    assert findings.at_point(None) is F.INCONCLUSIVE
    # the point is the profile's, whatever the other checkpoints show: a close one elsewhere is no rescue
    from diffprune.chapters import headline
    p = params(headline_steps=[500, 625, 750, 1000], headline_point=625)
    found = [dataclasses.replace(_at_checkpoint(*b), a="diff-pruning")
             for b in ((2, 8), (11, 20), (2, 8), (2, 8))]
    assert findings.at_point(headline.at_point(p, found)) is F.CONTRADICTED


def _per_seed(where, low, high, n=5, interval=None):
    from diffprune.verdicts import SEEDS, Verdict, judge
    return Verdict("dp", "random", "fd", (low + high) / 2, low, high, n, interval or SEEDS, 0.5,
                   judge(low, high, 0.5, True), where, 100.0)


def test_a_claim_on_two_teachers_is_one_family_and_one_seed_decides_nothing():
    from diffprune.verdicts import BOOTSTRAP
    F = findings.Finding
    # each interval just clears 0 at 95 %: alone, "better"; as a family of two (Holm), neither survives
    edge = [_per_seed(w, -4.0, -0.05) for w in ("t1", "t2")]
    assert {v.kind.value for v in edge} == {"better"}
    assert findings.per_teacher(edge) == {"t1": F.INCONCLUSIVE, "t2": F.INCONCLUSIVE}
    strong = [_per_seed("t1", -40.0, -30.0), edge[1]]
    assert findings.per_teacher(strong) == {"t1": F.REPRODUCED, "t2": F.REPRODUCED}  # Holm's step-down
    # one seed's bootstrap, or two seeds: no finding, and it does not widen the family of the others
    few = [_per_seed("t1", -4.0, -0.05), _per_seed("t2", -40.0, -30.0, n=1000, interval=BOOTSTRAP),
           _per_seed("t3", -40.0, -30.0, n=2)]
    assert findings.per_teacher(few) == {"t1": F.REPRODUCED, "t2": F.FEW_SEEDS, "t3": F.FEW_SEEDS}


def test_a_claim_s_rule_is_the_profile_s_read_before_its_rows(monkeypatch):
    order = []
    real = findings.rule_text
    monkeypatch.setattr(findings, "rule_text", lambda *a: order.append("rule") or real(*a))

    def rows(profile, overrides):
        order.append("rows")
        return findings.Evidence({"t1": findings.Finding.REPRODUCED}, [], "rq1")
    claim = dataclasses.replace(findings.CLAIMS[2], test=rows)
    row = findings.verdict(claim, "smoke", {})
    assert order == ["rule", "rows"] and "against random" in row.rule and "{" not in row.rule
    rules = {**diffprune.profiles.read("smoke", {})["decision_rules"], claim.id: "judged at {finetune_steps} steps"}
    assert findings.verdict(claim, "smoke", {"decision_rules": rules}).rule == (
        f"judged at {diffprune.profiles.read('smoke', {})['finetune_steps']} steps")
    for bad, match in (({**rules, claim.id: "at {no_such_key}"}, "names no profile value"),
                       ({k: v for k, v in rules.items() if k != claim.id}, "decision_rules")):
        with pytest.raises(diffprune.artifacts.DiffpruneError, match=match):
            findings.verdict(claim, "smoke", {"decision_rules": bad})


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_every_profile_fixes_a_rule_for_every_tested_claim_and_none_picks_the_best_of_several(profile):
    for claim in findings.TESTED:
        text = findings.rule_text(claim, profile, {})
        assert "any of" not in text and "best of" not in text.replace("not the best of", "")
        assert "['" not in text and "[0, 1" not in text  # a list reads as words, not as a Python repr


def test_a_rule_reads_its_lists_as_words_and_a_band_in_brackets():
    assert "paired over seeds 0, 1, 2, 3 and 4;" in findings.rule_text("beats_random", "cpu", {})
    assert "lies in [0.3, 0.8]" in findings.rule_text("content_early", "cpu", {"content_ssim_band": [0.3, 0.8]})
    assert diffprune.artifacts.listed([0]) == "0" and diffprune.artifacts.listed(["cpu", "cuda"]) == "cpu and cuda"


def test_each_finding_names_the_teacher_that_judged_it_and_two_teachers_of_one_data_set_stay_apart():
    from diffprune.verdicts import SEEDS, Kind, Verdict
    v = Verdict("dp", "random", "fd", -5, -8, -2, 5, SEEDS, 2.0, Kind.BETTER, "fashion-mnist", 100.0)
    F = findings.Finding
    old = findings.Evidence({"fashion-mnist": F.REPRODUCED, "openmoji-32": F.INCONCLUSIVE}, [v], "rq1",
                            teachers={"fashion-mnist": 5_000, "openmoji-32": 4_000})
    new = findings.Evidence({"fashion-mnist": F.CONTRADICTED}, [v], "rq3", teachers={"fashion-mnist": 20_000})
    hub = findings.Evidence({"cifar10": F.REPRODUCED}, [v], "rq3", teachers={"cifar10": None})
    rows = [findings.Row(findings.CLAIMS[2], old, F.INCONCLUSIVE),
            findings.Row(findings.CLAIMS[0], new, F.INCONCLUSIVE),
            findings.Row(findings.CLAIMS[1], hub, F.INCONCLUSIVE),
            findings.Row(findings.CLAIMS[-1], None, F.NOT_TESTED)]
    t = findings.table(rows)
    assert list(t.columns) == ["fashion-mnist, 5,000-step teacher", "openmoji-32, 4,000-step teacher",
                               "fashion-mnist, 20,000-step teacher", "cifar10", "where"]
    assert t.loc[findings.CLAIMS[2].text, "fashion-mnist, 5,000-step teacher"] == "reproduced"
    assert t.loc[findings.CLAIMS[2].text, "fashion-mnist, 20,000-step teacher"] == "–"
    assert t.loc[findings.CLAIMS[0].text, "fashion-mnist, 20,000-step teacher"] == "contradicted"
    assert set(t.loc[findings.CLAIMS[-1].text].drop("where")) == {"not tested here"}
