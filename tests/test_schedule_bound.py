"""benchmarks/schedule_bound.py's floor is a true bound: no concrete schedule catches more
jobs within a lag than it allows at the schedule's own mean requests (else the README's
"no schedule can do better" would be false); and its "best" schedules exist: measured, they
catch what it says at the requests it says."""

import math
import random
import sys
from pathlib import Path
from statistics import NormalDist

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import schedule_bound

QUANTILES = [NormalDist().inv_cdf((i + 0.5) / 4000) for i in range(4000)]


def measure(times, sigma, lag):
    """(mean requests, share caught with lag <= ``lag``) of polls at ``times`` (multiples of
    the median) over log-normal durations of spread ``sigma``, by quadrature."""
    requests, caught = 0, 0
    for z in QUANTILES:
        d = math.exp(sigma * z)
        k = next(i for i, t in enumerate(times) if t >= d)
        requests += k + 1
        caught += (times[k] - d) / d <= lag
    return requests / len(QUANTILES), caught / len(QUANTILES)


def random_schedule(rng, sigma):
    polls = sorted(math.exp(sigma * rng.uniform(-2.5, 2.5)) for _ in range(rng.randint(1, 7)))
    return polls + [1e6]  # a last poll that sees every job done


@pytest.mark.parametrize("sigma", [0.1, 0.25])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_schedule_catches_more_jobs_than_the_bound_allows(sigma, seed):
    rng = random.Random(seed)
    times = random_schedule(rng, sigma)
    lag = rng.choice([0.02, 0.05, 0.1])
    requests, caught = measure(times, sigma, lag)
    assert caught <= schedule_bound.caught_bound(sigma, lag, requests + 1e-6) + 1e-3


def test_the_late_first_poll_schedule_comes_close_to_the_bound():
    # the shape the bound finds best for the median: a first poll past the median, then
    # close polls across the slower jobs (the earlier ones are given up)
    sigma, lag = 0.1, 0.05
    width = math.log1p(lag)
    times = [math.exp(0.25 * sigma + k * width) for k in range(12)] + [1e6]
    requests, caught = measure(times, sigma, lag)
    bound = schedule_bound.caught_bound(sigma, lag, requests + 1e-6)
    assert caught <= bound + 1e-3
    assert caught >= bound - 0.1  # the bound is not vacuous


def test_plain_rivya_backoff_at_5_s_is_within_the_bound():
    # Rivya's plain polls, in multiples of a 5 s median: 2.5 s, 7.5 s, 13.75 s, ...
    times, t, gap = [0.5], 2.5, 5.0
    while t < 500:
        t += gap
        gap = min(gap * 1.25, 20.0)
        times.append(t / 5.0)
    for lag in (0.05, 0.5):
        requests, caught = measure(times + [1e6], 0.1, lag)
        assert caught <= schedule_bound.caught_bound(0.1, lag, requests + 1e-6) + 1e-3


@pytest.mark.parametrize("sigma, lag, budget, first_by", [
    (0.1, 0.035, 2.00, math.inf),
    (0.25, 0.05, 2.96, math.inf),
    (0.25, 0.04, 3.65, NormalDist().inv_cdf(0.4)),
])
def test_the_best_schedule_catches_what_it_claims_within_the_budget(sigma, lag, budget,
                                                                    first_by):
    caught, times = schedule_bound.best_schedule(sigma, lag, budget, first_by)
    requests, measured = measure(times, sigma, lag)
    assert requests <= budget + 0.005
    assert measured >= caught - 0.005
    assert caught <= schedule_bound.caught_bound(sigma, lag, budget) + 1e-3
    if math.isfinite(first_by):
        assert times[0] <= math.exp(sigma * first_by) + 1e-9


def test_the_floor_and_the_best_schedule_bracket_the_median_lag():
    sigma, budget = 0.25, 2.96  # Sivi's plain backoff at 5 s
    floor, best = schedule_bound.lag_floor(sigma, budget), schedule_bound.lag_best(sigma, budget)
    assert 0 < floor <= best < floor + 0.01
    assert schedule_bound.best_schedule(sigma, best, budget)[0] >= 0.5


def test_polls_kept_apart_are_kept_apart_and_bounded():
    # Rivya at 30 s: polls at least 5 s (1/6 of the median) apart
    sigma, lag, budget, apart = 0.1, 0.08, 5.33, 5 / 30
    caught, times = schedule_bound.best_schedule(sigma, lag, budget, apart=apart)
    assert min(b - a for a, b in zip(times, times[1:])) >= apart - 1e-9
    requests, measured = measure(times, sigma, lag)
    assert requests <= budget + 0.005 and measured >= caught - 0.005
    assert caught <= schedule_bound.caught_bound(sigma, lag, budget, apart) + 1e-3
    # and the spacing costs: the same lag catches fewer jobs than polls allowed to crowd
    assert caught < schedule_bound.best_schedule(sigma, lag, budget)[0] - 0.05
    # a concrete schedule of polls 1/6 apart is within the bound
    evenly = [0.7 + k * apart for k in range(6)] + [1e6]
    requests, measured = measure(evenly, sigma, lag)
    assert measured <= schedule_bound.caught_bound(sigma, lag, requests + 1e-6, apart) + 1e-3
