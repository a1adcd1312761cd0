"""The rate budget on a virtual clock: a sliding-second bound, shared by threads, and what a
429 teaches."""

import pytest

import genstatus_sync as gs
from genstatus_sync._budget import RateBudget

from .clock import max_in_any_second


@pytest.mark.parametrize("rate", [0.5, 1, 3, 7.5, 20, 100])
def test_no_sliding_second_holds_more_than_rate_plus_burst(rate):
    budget, sent, now = RateBudget(rate), [], 0.0
    for _ in range(int(rate * 30) + 10):  # everyone asks at once, then as soon as allowed
        delay = budget.reserve(now)
        sent.append(now + delay)
    assert max_in_any_second(sent) <= rate + min(5, rate)
    # and the budget is used, not wasted: the long-run rate is the rate
    assert (len(sent) - 1) / (sent[-1] - sent[0]) == pytest.approx(rate, rel=0.05)


def test_a_turn_past_max_wait_reserves_nothing():
    budget = RateBudget(1.0)
    assert budget.reserve(0.0) == 0.0
    assert budget.reserve(0.0, max_wait=0.5) is None
    assert budget.reserve(0.0, max_wait=1.0) == 1.0  # the refused call took no slot


def test_a_429_lowers_the_rate_to_what_was_accepted_then_it_recovers():
    budget = RateBudget(None)
    for i in range(40):  # 40 accepted requests in the last second
        budget.record(10.01 + i / 40, 200)
    assert budget.rate(11.0) is None
    budget.record(11.0, 429)
    assert budget.rate(11.0) == pytest.approx(0.95 * 40)
    budget.record(11.5, 429)  # the others in flight met the same limit: no second decrease
    assert budget.rate(11.5) == pytest.approx(38 + 0.5 * 0.38)
    assert budget.rate(21.0) == pytest.approx(38 + 10 * 0.38)  # +1 % of it a second


def test_a_429_never_lets_max_rate_be_exceeded_and_recovery_stops_at_it():
    budget = RateBudget(10.0)
    for i in range(10):
        budget.record(0.05 + 0.1 * i, 200)
    budget.record(1.0, 429)
    assert budget.rate(1.0) == pytest.approx(9.5)
    assert budget.rate(1000.0) == 10.0


def test_max_rate_is_checked(fake):
    for bad in (0, -1, float("nan"), float("inf"), "5", True):
        with pytest.raises(gs.ConfigurationError, match="max_rate"):
            fake.client("rivya", max_rate=bad)
    assert fake.client("rivya", max_rate=2.5).max_rate == 2.5



def _waiting_through_a_429(max_wait):
    """The 21st turn at 10 a second (1.6 s away), waited for while a 429 arrives: 10
    accepted in the last second, so the rate becomes 9.5 and waiting turns move."""
    budget, now, slept = RateBudget(10.0), [0.0], []
    for _ in range(20):
        budget.reserve(0.0)

    def sleep(seconds):
        if not slept:
            for i in range(10):
                budget.record(0.05 + i / 10, 200)
            budget.record(0.95, 429)
        slept.append(seconds)
        now[0] += seconds

    sent = budget.wait_turn(lambda: now[0], sleep, max_wait)
    return sent, now[0], slept, budget


def test_a_decrease_stretches_the_turns_already_waiting():
    sent, at, slept, budget = _waiting_through_a_429(None)
    assert sent
    assert budget.rate(0.95) == pytest.approx(9.5)
    # from the decrease on, as if reserved at 9.5 a second: stretched by 10 / 9.5
    assert slept[0] == pytest.approx(1.6)
    assert at == pytest.approx(0.95 + (1.6 - 0.95) * 10 / 9.5)
    assert len(slept) == 2


def test_a_turn_pushed_past_max_wait_by_a_decrease_is_not_sent():
    sent, at, slept, _ = _waiting_through_a_429(1.61)
    assert not sent
    assert slept == [pytest.approx(1.6)]  # it gave up on waking, sending nothing


def test_take_keeps_a_turn_for_the_next_request_or_says_how_long_until_one():
    budget, now = RateBudget(2), 100.0
    assert [budget.take(now), budget.take(now)] == [0.0, 0.0]  # the burst: two at once
    wait = budget.take(now)
    assert wait == pytest.approx(0.5)  # the next turn, nothing reserved by asking
    assert budget.take(now) == pytest.approx(0.5)
    slept = []
    assert budget.wait_turn(lambda: now, slept.append)  # a kept turn: no wait
    assert budget.wait_turn(lambda: now, slept.append)
    assert slept == []
    assert budget.take(now + 0.5) == 0.0
    assert RateBudget(None).take(now) == 0.0  # no limit: always now


def test_with_no_max_rate_a_learned_rate_is_dropped_after_two_minutes_without_a_429():
    budget, now = RateBudget(None), 10.0
    for k in range(20):  # 20 accepted in the last second, then a 429
        budget.record(now + k * 0.05, 200)
    budget.record(now + 1.0, 429)
    learned = budget.rate(now + 1.0)
    assert learned is not None and learned < 20
    assert budget.rate(now + 60) == pytest.approx(learned * 1.59, rel=0.01)  # +1 % a second
    assert budget.rate(now + 120) is not None
    assert budget.rate(now + 121.5) is None  # two minutes without a 429: no limit of ours
    assert budget.take(now + 121.5) == 0.0
