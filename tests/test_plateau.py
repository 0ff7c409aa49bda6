"""The learning curves' stopping rule, on constructed curves: reached, not reached, capped, and a
gap too wide to read it."""
import pytest

from diffprune.plateau import CAP, PLATEAU, next_length, plateau


def _curve(*points):
    return [{"steps": s, "fd": fd} for s, fd in points]


def test_the_last_doubling_within_the_rule_is_a_plateau():
    found = plateau(_curve((10, 100.0), (20, 80.0), (40, 79.0)))
    assert (found["from"], found["to"], found["reached"], found["capped"]) == (20, 40, True, False)
    assert found["change"] == pytest.approx(-1 / 80) and next_length(_curve((20, 80.0), (40, 79.0))) is None


def test_the_last_quarter_counts_as_well():
    assert plateau(_curve((30_000, 324.5), (40_000, 316.1)))["reached"]  # the LDM's last quarter: -2.6 %


def test_a_curve_still_improving_is_not_a_plateau_and_trains_on():
    rows = _curve((5_000, 121.3), (7_500, 107.4), (10_000, 99.7))  # the Fashion-MNIST recipe: -7 %
    found = plateau(rows)
    assert not found["reached"] and not found["capped"] and found["change"] < -PLATEAU
    assert next_length(rows) == 13_333  # its last quarter: a third more steps


def test_a_curve_at_the_cap_without_the_rule_is_capped():
    rows = _curve((20_000, 90.0), (CAP, 80.0))
    found = plateau(rows)
    assert found["capped"] and not found["reached"] and next_length(rows) is None
    assert next_length(_curve((15_000, 95.0), (31_605, 90.0))) == CAP  # a third more, but not past the cap
    assert plateau(_curve((31_605, 90.0), (CAP, 89.0)))["readable"]  # the cap is read against the length before


def test_two_lengths_too_far_apart_cannot_read_the_rule():
    found = plateau(_curve((1_000, 100.0), (10_000, 99.0)))
    assert not found["readable"] and not found["reached"]
    assert plateau(_curve((1_000, 100.0))) is None and next_length([]) is None


SEEDS = "(mean and 95 % t interval over sampling seeds 0, 1, 2)"


@pytest.mark.parametrize("curve, said", [
    ([(5_000, 110.0), (10_000, 100.0)], "not converged: its recipe's FD still changed -9.1 % from 5,000 to 10,000"),
    ([(10_000, 100.0), (20_000, 99.0)], "reached the plateau (-1.0 % from 10,000 to 20,000 steps, within 3 %); "
                                        f"FD 100.0 (97.5–102.5) at 20,000 steps {SEEDS}: that run (RUN20000) is the "
                                        "teacher to adopt"),
    ([(20_000, 100.0), (40_000, 90.0)], "reached the cap of 40,000 steps without meeting the 3 % plateau rule "
                                        f"(-10.0 % from 20,000); FD 100.0 (97.5–102.5) at 40,000 steps {SEEDS}: that "
                                        "run (RUN40000) is the teacher to adopt"),
    ([(2_500, 110.0), (5_000, 109.0)], "reached the plateau (-0.9 % from 2,500 to 5,000 steps, within 3 %); "
                                       f"FD 100.0 (97.5–102.5) at 5,000 steps {SEEDS}."),
])
def test_the_teachers_page_reads_its_curve_by_the_rule_and_names_the_run_to_adopt(curve, said, monkeypatch, params):
    """The answer reads the rule on the curve; once it settles, it gives the settled run's FD over the
    sampling seeds (mean and t interval) and names the run to adopt unless it is the teacher already."""
    from types import SimpleNamespace

    from diffprune import evaluation
    from diffprune.chapters import teachers
    p = params(dataset="fashion-mnist", teacher="data/teachers/fashion-mnist")
    monkeypatch.setattr(evaluation, "every_teacher", lambda q: [q])
    monkeypatch.setattr(teachers, "summary", lambda q: {"params": 1.11e6, "steps": 5_000, "fd": 121.3})
    monkeypatch.setattr(teachers, "recipe", lambda q: {"dataset": q.dataset})
    monkeypatch.setattr(teachers, "curve_steps", lambda q: [s for s, _ in curve])
    monkeypatch.setattr(teachers, "curve_section", lambda q: {"plateau": plateau(_curve(*curve))})
    monkeypatch.setattr(teachers, "curve_model", lambda q, steps: SimpleNamespace(key=f"RUN{steps}"))
    monkeypatch.setattr(teachers, "settled_rows", lambda q: [{"steps": curve[-1][0], "seed": s, "fd": 99.0 + s}
                                                             for s in (0, 1, 2)])
    text = teachers.answer(p)
    assert said in text and text.startswith("The fashion-mnist teacher has 1.11 M parameters, trained for 5,000")


@pytest.mark.parametrize("curve, settled", [([(5_000, 110.0), (10_000, 100.0)], None),
                                            ([(10_000, 100.0), (20_000, 99.0)], 20_000),
                                            ([(20_000, 100.0), (40_000, 90.0)], 40_000)])
def test_the_run_a_curve_settles_at_is_measured_on_every_plateau_seed_and_none_before(curve, settled, monkeypatch,
                                                                                       params):
    from types import SimpleNamespace

    from diffprune import evaluation
    from diffprune.chapters import teachers
    p = params(plateau_seeds=[0, 1, 2])
    fds = dict(curve)
    monkeypatch.setattr(teachers, "curve_steps", lambda q: list(fds))
    monkeypatch.setattr(teachers, "curve_row", lambda q, steps: {"steps": steps, "fd": fds[steps]})
    monkeypatch.setattr(teachers, "curve_model", lambda q, steps: SimpleNamespace(key=f"RUN{steps}"))
    measured = []
    monkeypatch.setattr(evaluation, "evaluate", lambda m, q, seed: measured.append((m.key, seed)) or {"seed": seed})
    rows = teachers.settled_rows(p)
    assert teachers.settled_at(p) == settled
    assert measured == ([] if settled is None else [(f"RUN{settled}", s) for s in (0, 1, 2)])
    assert [r["steps"] for r in rows] == ([] if settled is None else [settled] * 3)
