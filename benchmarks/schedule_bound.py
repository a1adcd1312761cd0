"""How low any polling schedule can bring the median detection lag of a kind of jobs, at no
more requests than plain backoff: the floor that polling_economy.py's learned schedules are
measured against.

For jobs whose durations are log-normal around a median with spread sigma, a schedule is any
increasing list of poll times. A job of duration d is seen done at the first poll t >= d; its
lag is (t - d) / d; it makes one request per poll up to that one. The question: with mean
requests per job at most plain backoff's on the same durations (``B``), can half of the jobs
have a lag of at most L?

Lower bound (no schedule does better). A poll at t catches with lag <= L only the jobs in
[t / (1 + L), t]; every poll after the first is made by the jobs still running at the one
before. Relaxing poll times to a grid (each poll moved up to the grid point above it, where it
catches the jobs from there back one grid step more, and is made by no more jobs), the most
jobs caught with lag <= L for a mean
request count <= B (each poll's cost rounded down to 0.01 request) is found exactly on the grid
by dynamic programming over (last poll, requests left). The smallest L for which it reaches
half of the jobs is the floor printed: no schedule, knowing the true distribution, has a lower
median lag at plain's requests.

Next to it: the best of the library's own schedule family (``_plan.fit``) fitted to 32 exact
durations at the distribution's quantiles (what a history of 32 perfectly known jobs gives),
measured with the real ``wait()``; and what the learned schedule measures in
polling_economy.py's table 2 (jobs 11-40 of fresh histories).

    python benchmarks/schedule_bound.py [--medians 5,30] [--sigmas 0.1,0.25] [--runs 40]
"""

import argparse
import math
import random
import sys
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import polling_economy as pe

import genstatus_sync as gs

_UNIT = NormalDist()
_GRID = 161  # grid points over +-_SPAN sigma
_SPAN = 4.0  # the jobs beyond it (6e-5 of them) are counted as caught
_UNITS = 0.01  # requests per job are counted in these units, each rounded down


def caught_bound(sigma, lag, budget):
    """An upper bound on the share of jobs any schedule catches with lag <= ``lag`` at mean
    requests <= ``budget`` (durations log-normal, spread ``sigma``; times in sigma units):
    the exact optimum of the grid relaxation, by dynamic programming over (last poll,
    requests left)."""
    step = 2 * _SPAN / (_GRID - 1)
    xs = [-_SPAN + step * i for i in range(_GRID)]
    cdf = [_UNIT.cdf(x) for x in xs]
    width = math.log1p(lag) / sigma + step  # what a poll moved to a grid point may catch
    reach = [_UNIT.cdf(x - width) for x in xs]
    # the jobs still running at a poll make the next one: its cost, rounded down
    cost = [int((1.0 - c) / _UNITS) for c in cdf]
    units = int((budget - 1.0) / _UNITS + 1e-9)  # the first request is every job's
    outside = 2 * _UNIT.cdf(-_SPAN)
    # best[i][c]: the most jobs caught after a poll at grid point i with c units left
    best = [[0.0] * (units + 1) for _ in range(_GRID)]
    for i in range(_GRID - 1, -1, -1):
        row = best[i]
        floor = cdf[i]
        for j in range(i + 1, _GRID):
            k = cost[j]
            if k > units:
                continue
            gain = cdf[j] - max(floor, reach[j])
            after = best[j]
            for c in range(k, units + 1):
                value = gain + after[c - k]
                if value > row[c]:
                    row[c] = value
    first = max((cdf[j] - reach[j] + best[j][units - cost[j]]
                 for j in range(_GRID) if cost[j] <= units), default=0.0)
    return min(1.0, first + outside)


def lag_floor(sigma, budget):
    """The smallest median lag (share of duration) the bound allows, to 0.1 points."""
    low, high = 0.0, 1.0
    while high - low > 0.001:
        mid = (low + high) / 2
        if caught_bound(sigma, mid, budget) >= 0.5:
            high = mid
        else:
            low = mid
    return low


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
    family = [pe.simulate(d, backoff, None, i, known._frozen(), "k")
              for i, d in enumerate(durations)]
    return pe.summary(plain, durations), pe.summary(family, durations)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medians", default="5,30")
    parser.add_argument("--sigmas", default="0.1,0.25")
    parser.add_argument("--runs", type=int, default=40, help="runs of the learned column")
    args = parser.parse_args(argv)
    print("Median detection lag at no more requests than plain backoff (share of duration); "
          "floor: no schedule does better knowing the distribution")
    print(f"{'workload':<23} {'provider':<8} {'plain req':>9} {'plain lag':>9} {'floor':>6} "
          f"{'fitted, 32 known':>16} {'learned':>14}")
    for median in (float(m) for m in args.medians.split(",")):
        for sigma in (float(s) for s in args.sigmas.split(",")):
            for name in ("sivi", "rivya", "clipia"):
                backoff = pe.CLIENTS[name].default_backoff
                plain, family = plain_and_family(median, sigma, backoff)
                floor = lag_floor(sigma, plain["requests"])
                _, learned = pe.learning("clustered", median, sigma, backoff, args.runs, 1)
                label = f"{median:g} s, sigma {sigma:g}"
                print(f"{label:<23} {name:<8} {plain['requests']:9.2f} "
                      f"{100 * plain['pct_median']:8.1f}% {100 * floor:5.1f}% "
                      f"{100 * family['pct_median']:6.1f}% ({family['requests']:5.2f}) "
                      f"{100 * learned['pct_median']:5.1f}% ({learned['requests']:4.2f})",
                      flush=True)


if __name__ == "__main__":
    main()
