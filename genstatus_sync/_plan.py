"""The arithmetic of a wait's plan, as pure functions: the plain backoff grid, a schedule
fitted to a kind's past durations, and a job's progress read as a straight line.

``WaitState.next_delay`` (``_wait``) is the one place that combines them; nothing here keeps
state or knows a clock.
"""

import bisect
import functools
import math
from array import array
from typing import Dict, List, Optional, Sequence, Tuple

import attrs

from .backoff import Backoff

__all__ = ["MIN_JOBS", "NARROW", "REACH", "SKIP", "Line", "Schedule", "fit", "plain_after",
           "regime", "sample"]

# -- the plain grid ---------------------------------------------------------------------------


def plain_after(backoff: Backoff, elapsed: float) -> float:
    """The elapsed time of plain backoff's next poll after ``elapsed``, without jitter, on the
    grid plain backoff follows from the wait's start (its n-th poll after the sum of its
    first n delays). A poll due less than half a delay away is skipped for the one after,
    so that a schedule leaving the grid does not poll twice in a row.

    The grid's polls before it turns linear are summed once per backoff (``_steps``) and
    searched: the same floats as walking it from the start (``_walk``), without the walk."""
    times, complete = _steps(backoff)
    k = bisect.bisect_right(times, elapsed)  # times[k]: the first poll after elapsed
    if k < len(times):
        t, gap = times[k], backoff.delay(k)
        return t if t - elapsed >= 0.5 * gap or k == 0 else elapsed + gap
    n = len(times)
    if not complete:  # a backoff of more than _STEPS_MAX growing delays: walked from there
        return _walk(backoff, elapsed, times[-1] if n else 0.0, n)
    t, gap = times[-1], backoff.delay(n)
    t += max(0, math.floor((elapsed - t) / gap) + 1) * gap
    return t if t - elapsed >= 0.5 * gap else t + gap


def _walk(backoff: Backoff, elapsed: float, t: float = 0.0, n: int = 0) -> float:
    """``plain_after`` by walking the grid from its ``n``-th poll (at ``t``)."""
    while True:
        gap = backoff.delay(n)
        if n > 0 and backoff.delay(n + 1) <= gap:  # from here on the grid is linear
            t += max(0, math.floor((elapsed - t) / gap) + 1) * gap
            return t if t - elapsed >= 0.5 * gap else t + gap
        t += gap
        n += 1
        if t > elapsed:
            return t if t - elapsed >= 0.5 * gap or n == 1 else elapsed + gap


_STEPS_MAX = 1 << 18  # polls of a grid summed at most (2 MB): delays growing from 1 ms by 1e-4


@functools.lru_cache(maxsize=8)
def _steps(backoff: Backoff) -> Tuple["array[float]", bool]:
    """The elapsed times of plain backoff's polls (without jitter) up to the one after which
    the grid is linear (each delay no longer than the one before), summed in the order
    ``_walk`` sums them; and whether they reach it (False past ``_STEPS_MAX`` polls)."""
    times: array[float] = array("d")
    t, n = 0.0, 0
    gap = backoff.delay(0)
    while n < _STEPS_MAX:
        following = backoff.delay(n + 1)
        if n > 0 and following <= gap:
            return times, True
        t += gap
        times.append(t)
        n, gap = n + 1, following
    return times, False


_GRID_MAX = 100_001  # polls of a plain grid fitted against at most


def _plain_grid(backoff: Backoff, until: float) -> List[float]:
    """The elapsed times of plain backoff's polls (without jitter) up to the first one past
    ``until`` (at most _GRID_MAX of them), each the sum of the delays before it."""
    if not until >= 0.0:
        return []
    times, _ = _steps(backoff)
    k = bisect.bisect_right(times, until)
    if k < len(times) or len(times) >= _GRID_MAX:
        return list(times[:min(k + 1, _GRID_MAX)])
    grid = list(times)
    t, n = grid[-1], len(grid)
    while t <= until and n < _GRID_MAX:
        t += backoff.delay(n)
        grid.append(t)
        n += 1
    return grid


# -- schedules that learn ---------------------------------------------------------------------

MIN_JOBS = 8  # durations of a kind before its schedule is fitted
_SHORTEST = 1e-3  # seconds: a record (or a smoothed point) shorter is read as this (or dropped)
_MAX_SPREAD = 0.75  # log-spread above which past durations say too little to plan from
_FIRST = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)  # the quantile of the first close poll
_STEPS = (0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25,
          0.3, 0.4, 0.5)  # the close polls' spacing, as a fraction of the median
_END = 0.95  # close polls reach this quantile
_BUDGET = 1.0  # a fitted schedule makes at most this share of plain backoff's requests
_GAIN = 0.75  # and is used only when it brings the lag down to this share of plain's
_P95 = 0.85  # and its 95th-percentile lag to this share of plain's
_NEAR_FLOOR = 2.5  # none when plain's lag is within this of what min_interval allows


@attrs.frozen
class Schedule:
    """Polls fitted to a kind's durations (elapsed seconds from a wait's start): evenly spaced
    polls before ``first`` (no sleep longer than ``cap``), then one every ``step`` up to
    ``last``; past ``last``, plain backoff."""

    first: float
    step: float
    last: float
    cap: float

    def next_poll(self, elapsed: float, phase: float = 0.0) -> Optional[float]:
        """The elapsed time of the next planned poll after ``elapsed`` (None past the close
        polls). ``phase`` in [-0.5, 0.5] shifts the close polls by that share of a step."""
        shift = phase * self.step
        first, last = self.first + shift, self.last + shift
        tolerance = 1e-6 * max(1.0, elapsed)
        if elapsed < first - tolerance:
            spaces = max(1, math.ceil(first / self.cap))
            i = math.floor((elapsed + tolerance) * spaces / first) + 1
            return first * min(i, spaces) / spaces
        if elapsed < last - tolerance:
            k = math.floor((elapsed - first + tolerance) / self.step) + 1
            return min(first + k * self.step, last)
        return None


def _exact(record: Tuple[float, float]) -> bool:
    """Whether a record pins its duration down: the poll before the one that saw the job done
    came at least half-way there (else the job may have ended long before)."""
    return record[0] >= 0.5 * record[1]


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def regime(records: Sequence[Tuple[float, float]]) -> int:
    """How many of the oldest ``records`` (oldest first) belong to a past regime: all but the
    last few, when those few surely ended later than all but a tenth of the ones before (their
    earliest possible end past those ones' latest) or earlier (their latest possible end
    before those ones' earliest, or, for some of them, done at a first poll that came later
    than half of those ones' ends), or when they were all done at a first poll that the ones
    before make unlikely to come that late (as many in a row as would happen by chance about
    once in a thousand), or when the ones before make it that unlikely that all of them were
    still running when they were last seen running. The second test for a slower kind catches
    what the first misses when a few of the ones before were seen done only by plain
    backoff's far-apart polls (their latest possible ends, far out, set that bound): until it
    is noticed, each job of a slower kind pays for all the close polls of the old schedule."""
    n = len(records)
    shifts = [shift for shift in (2, 3, 4, 5, 6) if n - shift >= MIN_JOBS]
    if not shifts:
        return 0
    # the starts and the ends of the records before each shift's latest, sorted: those of the
    # fewest sorted once, then grown a record at a time (a history's every record asks this)
    los = sorted(lo for lo, _ in records[:n - shifts[-1]])
    his = sorted(hi for _, hi in records[:n - shifts[-1]])
    bounds: Dict[int, Tuple[float, float]] = {}
    for shift in reversed(shifts):
        if len(los) < n - shift:
            bisect.insort(los, records[n - shift - 1][0])
            bisect.insort(his, records[n - shift - 1][1])
        tail = 0.05 if shift == 2 else 0.1
        bounds[shift] = (_quantile(los, tail), _quantile(his, 1 - tail))
    # for each record a shift may test, the share of the oldest ones ended by its start (the
    # ones before any shift's latest), summed once and grown per shift (see _ended_by)
    first = n - shifts[-1]
    base = [_ended_total(records[:first], lo, tie=0.5) for lo, _ in records[first:]]
    for shift in shifts:
        before, latest = records[:-shift], records[-shift:]
        earliest, latest_end = bounds[shift]
        if all(lo > latest_end for lo, _ in latest):
            return n - shift
        below = [_exact(r) and r[1] < earliest for r in latest]
        if any(below) and all(was or (not _exact(r) and _ended_by(before, r[1]) <= 0.5)
                              for was, r in zip(below, latest)):
            return n - shift
        running = 1.0
        for j in range(n - shift, n):
            lo = records[j][0]
            total = _ended_total(records[first:n - shift], lo, base[j - first], tie=0.5)
            running *= 1.0 - (total + 0.5) / (n - shift + 1)
        # (the tail is never below the product: most records stop at the product)
        if running <= 0.001 and _product_tail(running, shift) <= 0.001:
            return n - shift
        if all(not _exact(r) for r in latest):
            chance = 1.0
            for _, hi in latest:
                chance *= _ended_by(before, hi)
            if chance <= 0.001:
                return n - shift
    return 0


def _product_tail(product: float, k: int) -> float:
    """The chance that ``k`` independent chances, each uniform in (0, 1), multiply to at most
    ``product`` (> 0): what a product of ``k`` jobs' chances says, however many they are."""
    log = -math.log(product)
    return product * sum(log ** j / math.factorial(j) for j in range(k))


def _ended_by(records: Sequence[Tuple[float, float]], seconds: float) -> float:
    """The chance that a job like ``records``' ended within ``seconds`` (each record's job
    taken to end anywhere in its interval), never quite 0 or 1."""
    return (_ended_total(records, seconds) + 0.5) / (len(records) + 1)


def _ended_total(records: Sequence[Tuple[float, float]], seconds: float,
                 total: float = 0.0, tie: float = 1.0) -> float:
    """``total`` plus how many of ``records``' jobs ended within ``seconds`` (a share of one
    for each whose interval holds it; ``tie`` for a job that ended exactly then), summed in
    order. (Durations given rounded, as 10, 11, 12 s, tie often: for the test of a slower kind,
    a tie counts half, else the latest few at the longest duration seen read as a change.)"""
    for lo, hi in records:
        total += (tie if lo == hi == seconds else 1.0 if hi <= seconds else 0.0
                  if lo >= seconds else (seconds - lo) / (hi - lo))
    return total


def sample(records: Sequence[Tuple[float, float]]) -> List[float]:
    """A smoothed sample of the durations ``records`` (lo, hi) say, four points per record,
    sorted: each record's interval read at its quarter points (a record that says little,
    by the log-normal that the exact ones follow, or else evenly in log time), then spread by
    a kernel whose width follows the records' spread (Silverman's rule)."""
    from statistics import NormalDist  # loaded on the first fit, not with the package

    records = [r for r in records if r[1] >= _SHORTEST]
    exact = [math.log((lo + hi) / 2) for lo, hi in records if _exact((lo, hi))]
    shape: Optional[NormalDist] = None
    if len(exact) >= 3:
        mean = sum(exact) / len(exact)
        sd = math.sqrt(sum((y - mean) ** 2 for y in exact) / (len(exact) - 1))
        shape = NormalDist(mean, max(sd, 0.05))
    base: List[float] = []
    for lo, hi in records:
        if _exact((lo, hi)):
            base += [math.log(lo + (hi - lo) * u) for u in (0.25, 0.75)]
            continue
        bottom = math.log(max(lo, hi / 3, 1e-3))
        top = math.log(hi)
        if shape is not None:
            p_lo, p_hi = shape.cdf(bottom), shape.cdf(top)
            if p_hi - p_lo > 1e-3:
                base += [min(top, max(bottom, shape.inv_cdf(p_lo + (p_hi - p_lo) * u)))
                         for u in (0.25, 0.75)]
                continue
        base += [bottom + (top - bottom) * u for u in (0.25, 0.75)]
    if len(base) < 2:
        return []
    mean = sum(base) / len(base)
    sd = math.sqrt(sum((y - mean) ** 2 for y in base) / (len(base) - 1))
    width = 1.06 * max(sd, 0.01) * (len(base) / 2) ** -0.2
    return sorted(max(_SHORTEST, math.exp(y + width * z)) for y in base for z in (-1.0, 1.0))


# A schedule fitted to all of a kind's records must not cost its latest _RECENT jobs more than
# _RECENT_BUDGET times plain backoff's requests (API.md: under drift, at most 1.10x)
_RECENT = 8
_RECENT_BUDGET = 1.1
_SUFFIXES = (16, MIN_JOBS)  # the latest records refitted on, when the whole history fails it


def fit(records: Sequence[Tuple[float, float]], backoff: Backoff) -> Optional[Schedule]:
    """The schedule that, on a smoothed sample of ``records``' durations, brings the detection
    lag down the most at no more requests than plain ``backoff``; None when there are too few
    records, when they spread too widely, or when no schedule does clearly better.

    A schedule fitted to all of them must also not cost the latest ``_RECENT`` jobs more than
    ``_RECENT_BUDGET`` times plain backoff's requests: a kind that became a little slower (too
    little for ``regime`` to tell) pays, on every job, for close polls placed where its old
    jobs ended. Else it is refitted on the latest records alone (the latest 16, then 8) and
    kept only if that one passes; else None."""
    schedule = _fit(records, backoff)
    if schedule is None or _affordable(schedule, records, backoff):
        return schedule
    for size in _SUFFIXES:
        if size < len(records):
            schedule = _fit(records[-size:], backoff)
            if schedule is not None and _affordable(schedule, records, backoff):
                return schedule
    return None


def _affordable(schedule: Schedule, records: Sequence[Tuple[float, float]],
                backoff: Backoff) -> bool:
    """Whether ``schedule`` would have cost the latest of ``records``' jobs (each taken to
    end half-way through its interval) at most ``_RECENT_BUDGET`` times plain backoff's."""
    durations = [max(_SHORTEST, (lo + hi) / 2) for lo, hi in records[-_RECENT:]]
    until = max(durations) * 1.01
    grid = _plain_grid(backoff, until)
    walk = _walker(schedule, backoff, until)
    planned: int = sum(walk(d)[0] for d in durations)
    return planned <= _RECENT_BUDGET * sum(_on_grid(grid, d)[0] for d in durations)


def _fit(records: Sequence[Tuple[float, float]], backoff: Backoff) -> Optional[Schedule]:
    """``fit`` on all of ``records``, without the check on the latest."""
    if len(records) < MIN_JOBS or not _steps(backoff)[1] or backoff.max_interval < _SHORTEST:
        # (a grid of more than _STEPS_MAX growing polls has no closed form to fit against;
        # plain polls less than a millisecond apart leave a schedule nothing to do better)
        return None
    points = sample(records)
    if len(points) < 4 * MIN_JOBS:
        return None
    logs = [math.log(p) for p in points]
    mean = sum(logs) / len(logs)
    if math.sqrt(sum((y - mean) ** 2 for y in logs) / (len(logs) - 1)) > _MAX_SPREAD:
        return None
    median = points[len(points) // 2]
    cap = 2 * backoff.max_interval
    grid = _plain_grid(backoff, points[-1] * 1.01)
    plain = _score(points, lambda d: _on_grid(grid, d))
    if plain[1] <= _NEAR_FLOOR * 0.75 * backoff.shortest / median:
        # plain backoff's polls are already nearly as close as min_interval lets any come
        # (within 2.5x of the lag's 75th percentile of polls that far apart: Rivya's 5-10 s
        # for its first minutes): no schedule could bring the lag clearly down, and one
        # fitted to a smoothed sample only traded it for fewer requests (a 30 s kind turning
        # 2x faster: 14.4 % median lag where plain backoff's is 13.7 %)
        return None
    best: Optional[Tuple[float, Schedule]] = None
    end = _quantile(points, _END)
    for quantile in _FIRST:
        first = _quantile(points, quantile)
        # the closest spacing within the budget: requests fall as the spacing grows
        low, high = 0, len(_STEPS) - 1
        found: Optional[Tuple[Tuple[float, float, float], Schedule]] = None
        while low <= high:
            mid = (low + high) // 2
            step = max(min(_STEPS[mid] * median, cap), backoff.shortest, _SHORTEST)
            last = first + math.ceil(max(0.0, end - first) / step) * step
            schedule = Schedule(first, step, last, cap)
            score = _score(points, _walker(schedule, backoff, points[-1]))
            if score[0] <= _BUDGET * plain[0]:
                found, high = (score, schedule), mid - 1
            else:
                low = mid + 1
        if found is None:
            continue
        (_, lag, p95), schedule = found
        if p95 <= _P95 * plain[2] and (best is None or lag < best[0]):
            best = (lag, schedule)
    # Records that say little (plain backoff's polls too far apart to tell when jobs ended)
    # are read pessimistically: a schedule no worse than plain is then worth it, for what its
    # closer polls will tell. One whose polls are no closer than plain's (held apart by the
    # backoff's min_interval) would tell no more, and the sample it was fitted to is a guess:
    # none then.
    vague = sum(not _exact(r) for r in records) > len(records) / 2
    if best is None or best[0] > (1.0 if vague else _GAIN) * plain[1]:
        return None
    if vague and backoff.shortest > 0 and best[1].step <= backoff.shortest:
        return None
    return best[1]


def _on_grid(grid: Sequence[float], duration: float) -> Tuple[int, float]:
    k = bisect.bisect_left(grid, duration)
    return k + 1, grid[min(k, len(grid) - 1)] - duration


def _walker(schedule: Schedule, backoff: Backoff, until: float):  # type: ignore[no-untyped-def]
    """(requests, lag) of a job of each duration under ``schedule``, then plain backoff."""
    first, step, last, cap = schedule.first, schedule.step, schedule.last, schedule.cap
    spaces = max(1, math.ceil(first / cap))
    close = round((last - first) / step)
    beyond = _beyond(backoff, last, until)

    def walk(duration: float) -> Tuple[int, float]:
        if duration <= first:
            i = max(1, math.ceil(duration * spaces / first))
            return i, first * i / spaces - duration
        if duration <= last:
            k = max(1, math.ceil((duration - first) / step))
            return spaces + k, first + k * step - duration
        j, t = beyond(duration)
        return spaces + close + j, t - duration

    return walk


_HEAD_MAX = 10_000  # plain polls walked one at a time before they are on the grid, at most


def _beyond(backoff: Backoff, start: float, until: float):  # type: ignore[no-untyped-def]
    """How many polls plain backoff makes after ``start`` (``plain_after`` from there) up to
    the first at or past a duration, and when that one comes.

    Walked a poll at a time only until the polls are on plain backoff's grid: from a poll
    of the grid's growing part they are its next times (``_steps``), and past it every
    ``gap``; so a long kind on a short backoff costs a search, not a walk of its polls."""
    times, _ = _steps(backoff)
    gap = backoff.delay(len(times))  # the grid's delay once it is linear
    head: List[float] = []
    on_grid = -1  # the index in times of head's last poll, once it is one of them
    t = start
    while not head or (t < until and len(head) < _HEAD_MAX):
        after, t = t, plain_after(backoff, t)
        head.append(t)
        if after >= times[-1]:  # polled from past the growing part: on the linear grid
            on_grid = len(times)
            break
        k = bisect.bisect_right(times, t) - 1  # (the last of equal times, as plain_after)
        if k >= 0 and times[k] == t:
            on_grid = k
            break

    def polls(duration: float) -> Tuple[int, float]:
        if duration <= head[-1]:
            j = bisect.bisect_left(head, duration)
            return j + 1, head[j]
        count, base = len(head), head[-1]
        # (still off the grid after _HEAD_MAX polls, on at the linear grid's delay: a few polls
        # fewer than plain backoff's, never a poll before the duration)
        if 0 <= on_grid < len(times):
            i = bisect.bisect_left(times, duration, on_grid + 1)
            if i < len(times):
                return count + i - on_grid, times[i]
            count, base = count + len(times) - 1 - on_grid, times[-1]
        more = max(1, math.ceil((duration - base) / gap))
        if more > 1 and base + (more - 1) * gap >= duration:  # (a duration on a poll)
            more -= 1
        return count + more, base + more * gap

    return polls


def _score(points: Sequence[float], walk) -> Tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """(mean requests, lag objective, 95th-percentile lag) over ``points``; lags as a share
    of each duration. The objective is the lag's 75th percentile: the median's target,
    without favouring schedules that leave the early quarter of jobs far behind."""
    requests = 0
    lags: List[float] = []
    for d in points:
        k, lag = walk(d)
        requests += k
        lags.append(lag / d)
    lags.sort()
    m = len(lags)
    return requests / m, lags[int(0.75 * m)], lags[min(m - 1, int(0.95 * m))]


# -- progress, read as a line -----------------------------------------------------------------

# Progress comes rounded or floored to whole percent: the true value of a reported p is taken
# to lie in [p - _BELOW, p + _ABOVE].
_BELOW = 0.5
_ABOVE = 1.0
NARROW = 0.1  # a predicted end this precise (share of itself) is polled at directly
# A skip sleeps at most this share of the time the line says is surely left, and at most
# REACH times as long as the line has been observed: progress that speeds up (read as a line,
# it promises a later end than the true one) is then still caught in time.
SKIP = 0.5
REACH = 3.0


@attrs.frozen
class Line:
    """What a job's progress says so far: the first and the last of its observations since
    it last broke a straight line, the range of rates (percent per second) that fit all of
    them within rounding, and how many there are. The wait's start counts as an exact
    observation of 0 % (``exact``: the first observation is that one)."""

    first_at: float
    first: float
    exact: bool
    last_at: float
    last: float
    rate_low: float
    rate_high: float
    count: int

    @staticmethod
    def start() -> "Line":
        """The line of a wait that just started: 0 % at 0 s, exactly."""
        return Line(0.0, 0.0, True, 0.0, 0.0, -math.inf, math.inf, 1)

    @staticmethod
    def at(elapsed: float, progress: float) -> "Line":
        """A line of one (rounded) observation."""
        return Line(elapsed, progress, False, elapsed, progress, -math.inf, math.inf, 1)

    def add(self, elapsed: float, progress: float) -> "Line":
        """The line after an observation of ``progress`` at ``elapsed``: this one extended
        when the observation fits it, else a fresh one from the last observation."""
        if elapsed <= self.last_at:
            return self
        span = elapsed - self.first_at
        below, above = (0.0, 0.0) if self.exact else (_BELOW, _ABOVE)
        low = max(self.rate_low, (progress - _BELOW - self.first - above) / span)
        high = min(self.rate_high, (progress + _ABOVE - self.first + below) / span)
        if low <= high and progress >= self.last:
            return attrs.evolve(self, last_at=elapsed, last=progress, rate_low=low,
                                rate_high=high, count=self.count + 1)
        span = elapsed - self.last_at
        return Line(self.last_at, self.last, False, elapsed, progress,
                    (progress - self.last - _BELOW - _ABOVE) / span,
                    (progress - self.last + _BELOW + _ABOVE) / span, 2)

    @property
    def span(self) -> float:
        """Seconds between the line's first and last observations."""
        return self.last_at - self.first_at

    def end(self) -> Optional[Tuple[float, float]]:
        """The earliest and latest elapsed time the job can end at if the line holds, or None
        while the line is not yet believable (fewer than three observations, or progress not
        surely moving forward)."""
        if self.count < 3 or self.rate_low <= 0 or not math.isfinite(self.rate_high):
            return None
        left = 100.0 - self.last
        return (self.last_at + max(0.0, left - _ABOVE) / self.rate_high,
                self.last_at + (left + _BELOW) / self.rate_low)
