"""How low any polling schedule can bring the median detection lag of a kind of jobs, at no
more requests than plain backoff: the floor that polling_economy.py's learned schedules are
measured against.

For jobs whose durations are log-normal around a median with spread sigma, a schedule is any
increasing list of poll times. A job of duration d is seen done at the first poll t >= d; its
lag is (t - d) / d; it makes one request per poll up to that one. The question: with mean
requests per job at most plain backoff's on the same durations (``B``), can half of the jobs
have a lag of at most L? Both answers below are exact optima on a grid of poll times (641
points over +-4 sigma), by dynamic programming over (last poll, requests left):

- ``floor``: a bound no schedule beats. Each real poll is moved up to the grid point above it,
  where it is granted the jobs one grid step further back, and costs what the jobs still
  running at the grid point before it make (rounded down to 0.01 request); jobs never caught
  cost nothing. Every schedule is counted at least as well as it is: the smallest L for which
  the grid's best catches half of the jobs is below every schedule's median lag.
- ``best``: a schedule that exists. Polls at grid points, each made by the jobs running at the
  one before (rounded up), and one last poll much later for the jobs the others miss: the
  smallest L for which one of them catches half of the jobs. The true optimum lies between.
- Both keep polls as far apart as the provider's backoff does (``Backoff.shortest``:
  Rivya's 5 s, as its document asks).
- ``best, 1st<=q40``: the same with the first poll no later than the durations' 40th
  percentile, as the library's schedules keep it (``_plan._FIRST``): a first poll past the
  median leaves a kind that turned faster indistinguishable from the early half of the old
  one (README, "Where it falls short").

Next to them: the best of the library's own schedule family (``_plan.fit``, without its check
of what the latest jobs cost) fitted to 32 exact durations at the distribution's quantiles
(what a history of 32 perfectly known jobs gives),
measured with the real ``wait()``; and what the learned schedule measures in
polling_economy.py's table 2 (jobs 11-40 of fresh histories). Needs numpy (``.[bench]``).

    python benchmarks/schedule_bound.py [--medians 5,30] [--sigmas 0.1,0.25] [--runs 40]
"""

import argparse
import math
import random
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import polling_economy as pe

import genstatus_sync as gs
from genstatus_sync import _plan

_UNIT = NormalDist()
_GRID = 641  # grid points over +-_SPAN sigma (further up for polls held apart)
_SPAN = 4.0  # the jobs beyond it (6e-5 of them) are counted as caught by the floor
_UNITS = 0.01  # requests per job are counted in these units
_NONE = -1e9  # no schedule reaches this state


def _optimum(sigma, lag, budget, exact, first_by=math.inf, apart=0.0, grid=_GRID):
    """The most jobs a schedule on the grid catches with lag <= ``lag`` at mean requests <=
    ``budget`` (times in sigma units), and its polls (z scores): relaxed to a bound when
    ``exact`` is False, a real schedule when True (see the module's docstring). ``apart``:
    the least time between two polls, as a share of the median (Rivya's 5 s)."""
    # polls held apart need room: the grid then reaches from 0.4 of the median (where plain
    # backoff's first poll may come) to two spacings past it (its steps coarser: apart is a
    # share of the median, and the lags are too)
    lower = max(_SPAN, -math.log(0.4) / sigma) if apart else _SPAN
    upper = max(_SPAN, math.log(1 + 2 * apart) / sigma)
    step = (lower + upper) / (grid - 1)
    xs = -lower + step * np.arange(grid)
    times = np.exp(sigma * xs)  # as multiples of the median
    cdf = np.array([_UNIT.cdf(x) for x in xs])
    width = math.log1p(lag) / sigma + (0.0 if exact else step)
    reach = np.array([_UNIT.cdf(x - width) for x in xs])
    running = (1.0 - cdf) / _UNITS
    # cost[i]: what the poll after one at grid point i costs, in units
    # (rounded up for a real schedule, but for a share of a unit under 0.05: 0.0005 request)
    cost = (np.ceil(running - 0.05) if exact else np.floor(running)).astype(int)
    units = int((budget - 1.0) / _UNITS + 1e-9)  # the first request is every job's
    # best[i, c]: the most jobs caught after a poll at grid point i with c units left
    best = np.full((grid, units + 1), _NONE)
    after = np.full((grid, units + 1), -1)
    for i in range(grid - 1, -1, -1):
        k = cost[i]
        if k > units:
            if not exact:
                best[i, :] = 0.0
            continue
        best[i, k if exact else 0:] = 0.0  # no poll after: the late one (exact), or none
        if i + 1 == grid:
            continue
        # the next poll at least ``apart`` later (the bound: later than the grid point
        # below this one's, where the real poll may have been)
        since = times[i] if exact else times[max(0, i - 1)]
        js = np.arange(i + 1, grid)
        js = js[times[js] >= since + apart - 1e-12]
        if not len(js):
            continue
        gain = cdf[js] - np.maximum(cdf[i], reach[js])
        value = gain[:, None] + best[js, :units + 1 - k]
        top, where = value.max(axis=0), value.argmax(axis=0)
        better = top > best[i, k:]
        best[i, k:] = np.where(better, top, best[i, k:])
        after[i, k:] = np.where(better, js[where], after[i, k:])
    starts = [j for j in range(grid) if xs[j] <= first_by + 1e-9]
    first = max(starts, key=lambda j: cdf[j] - reach[j] + best[j, units])
    caught = cdf[first] - reach[first] + best[first, units]
    polls, j, c = [xs[first]], first, units
    while after[j, c] >= 0:
        j, c = after[j, c], c - cost[j]
        polls.append(xs[j])
    if not exact:
        caught += _UNIT.cdf(-lower) + (1 - _UNIT.cdf(upper))
    return min(1.0, caught), polls


def caught_bound(sigma, lag, budget, apart=0.0):
    """An upper bound on the share of jobs any schedule catches with lag <= ``lag`` at mean
    requests <= ``budget`` (durations log-normal, spread ``sigma``), its polls at least
    ``apart`` medians apart."""
    return _optimum(sigma, lag, budget, exact=False, apart=apart)[0]


def best_schedule(sigma, lag, budget, first_by=math.inf, apart=0.0):
    """(share caught with lag <= ``lag``, poll times as multiples of the median) of the best
    schedule on the grid at mean requests <= ``budget``, its first poll at most ``first_by``
    sigmas past the median, its polls at least ``apart`` medians apart; the last poll, at
    1e6 medians, sees the jobs the others miss."""
    caught, polls = _optimum(sigma, lag, budget, exact=True, first_by=first_by, apart=apart)
    return caught, [math.exp(sigma * z) for z in polls] + [1e6]


def _smallest_lag(caught, exact):
    """The smallest lag (share of duration, to 0.05 points) at which ``caught(lag)`` reaches
    half of the jobs: from below for the bound, from above for a real schedule."""
    low, high = 0.0, 2.0
    while high - low > 0.0005:
        mid = (low + high) / 2
        if caught(mid) >= 0.5:
            high = mid
        else:
            low = mid
    return high if exact else low


def lag_floor(sigma, budget, apart=0.0):
    """The smallest median lag the bound allows: no schedule has a lower one."""
    return _smallest_lag(lambda lag: caught_bound(sigma, lag, budget, apart), exact=False)


def lag_best(sigma, budget, first_by=math.inf, apart=0.0):
    """The median lag of the best schedule on the grid (first poll by ``first_by`` sigmas,
    polls ``apart`` medians apart)."""
    return _smallest_lag(lambda lag: best_schedule(sigma, lag, budget, first_by, apart)[0],
                         exact=True)


def quantile_durations(median, sigma, n):
    return [median * math.exp(sigma * _UNIT.inv_cdf((i + 0.5) / n)) for i in range(n)]


def plain_and_family(median, sigma, backoff, jobs=400):
    """Plain backoff's (requests, median lag) and the fitted family's, with a history of 32
    exact durations at the quantiles, over ``jobs`` quantile durations waited by wait()."""
    durations = quantile_durations(median, sigma, jobs)
    known = gs.DurationHistory()
    known_durations = quantile_durations(median, sigma, 32)
    random.Random(0).shuffle(known_durations)  # in order, they would read as a kind slowing down
    for d in known_durations:
        known.add("k", d)
    plain = [pe.simulate(d, backoff, None, i) for i, d in enumerate(durations)]
    # the family alone: without fit's check of what the latest jobs cost, which reads an order
    # (a kind turning slower) into 32 quantiles shuffled
    checks, _plan._RECENT_BUDGET = _plan._RECENT_BUDGET, math.inf
    try:
        family = [pe.simulate(d, backoff, None, i, known._frozen(), "k")
                  for i, d in enumerate(durations)]
    finally:
        _plan._RECENT_BUDGET = checks
    return pe.summary(plain, durations), pe.summary(family, durations)


_Q40 = _UNIT.inv_cdf(0.4)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medians", default="5,30")
    parser.add_argument("--sigmas", default="0.1,0.25")
    parser.add_argument("--runs", type=int, default=40, help="runs of the learned column")
    args = parser.parse_args(argv)
    print("Median detection lag at no more requests than plain backoff (share of duration), "
          "knowing the distribution: floor (no schedule does better), best (a schedule that "
          "does this well)")
    print(f"{'workload':<23} {'provider':<8} {'plain req':>9} {'plain lag':>9} {'floor':>6} "
          f"{'best':>6} {'best, 1st<=q40':>14} {'fitted, 32 known':>16} {'learned':>14}")
    for median in (float(m) for m in args.medians.split(",")):
        for sigma in (float(s) for s in args.sigmas.split(",")):
            for name in ("sivi", "rivya", "clipia"):
                backoff = pe.CLIENTS[name].default_backoff
                plain, family = plain_and_family(median, sigma, backoff)
                budget = plain["requests"]
                apart = backoff.shortest / median  # Rivya's polls 5 s apart
                floor = lag_floor(sigma, budget, apart)
                best = lag_best(sigma, budget, apart=apart)
                early = lag_best(sigma, budget, first_by=_Q40, apart=apart)
                _, learned = pe.learning("clustered", median, sigma, backoff, args.runs, 1)
                label = f"{median:g} s, sigma {sigma:g}"
                print(f"{label:<23} {name:<8} {budget:9.2f} "
                      f"{100 * plain['pct_median']:8.1f}% {100 * floor:5.1f}% "
                      f"{100 * best:5.1f}% {100 * early:13.1f}% "
                      f"{100 * family['pct_median']:6.1f}% ({family['requests']:5.2f}) "
                      f"{100 * learned['pct_median']:5.1f}% ({learned['requests']:4.2f})",
                      flush=True)


if __name__ == "__main__":
    main()
