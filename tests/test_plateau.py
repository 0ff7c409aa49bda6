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
    assert next_length(rows) == 20_000


def test_a_curve_at_the_cap_without_the_rule_is_capped():
    rows = _curve((20_000, 90.0), (CAP, 80.0))
    found = plateau(rows)
    assert found["capped"] and not found["reached"] and next_length(rows) is None
    assert next_length(_curve((15_000, 95.0), (30_000, 90.0))) == CAP  # doubled, but not past the cap


def test_two_lengths_too_far_apart_cannot_read_the_rule():
    found = plateau(_curve((1_000, 100.0), (10_000, 99.0)))
    assert not found["readable"] and not found["reached"]
    assert plateau(_curve((1_000, 100.0))) is None and next_length([]) is None
