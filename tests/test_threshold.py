import pytest

from diffprune.threshold import should_stop, stop_index


def test_stops_at_first_loss_below_fraction_of_running_max():
    losses = [1.0, 2.0, 0.5, 0.15, 0.09, 0.01]
    # running max is 2.0 from index 1; 0.09 < 0.05 * 2.0 = 0.1 is the first to fire
    assert stop_index(losses, 0.05) == 4
    assert stop_index(losses, 0.2) == 3  # 0.15 < 0.4


def test_zero_threshold_never_stops():
    assert stop_index([3.0, 1e-9, 0.0], 0.0) is None


def test_first_loss_never_stops_itself():
    assert not should_stop(1.0, float("-inf"), 0.99)
    assert stop_index([1.0], 0.99) is None


@pytest.mark.parametrize("t", [0.01, 0.05, 0.2])
def test_rule_is_monotone_in_threshold(t):
    losses = [1.0 / (1 + i) ** 2 for i in range(100)]
    assert stop_index(losses, t) >= stop_index(losses, t * 2)
