"""wait() and wait_all(): block, sleeping between polls, until jobs finish or time runs out.

Private by name only: a public module `wait` would shadow the function `genstatus_sync.wait`
once imported.
"""

import heapq
import logging
import math
import time
from functools import partial
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    TypeVar,
    Union,
    cast,
)

from .backoff import Backoff
from .errors import (
    ConfigurationError,
    GenStatusError,
    RateLimitError,
    ServerError,
    TransportError,
    WaitTimeout,
)
from .status import JobStatus, State

if TYPE_CHECKING:
    from ._http import BaseClient

__all__ = ["wait", "wait_all", "iter_wait_all"]

logger = logging.getLogger("genstatus_sync")

R = TypeVar("R")
TRANSIENT = (TransportError, RateLimitError, ServerError)
# A progress-based plan is trusted for long sleeps only once two polls agree on the job's
# predicted total duration within this fraction.
_AGREEMENT = 0.15
# Polls planned from a prediction land this fraction of the predicted duration after it.
_MARGIN = 0.03


class _Schedule:
    """The delay before each next poll: plain backoff, improved by reported progress.

    With ``progress`` p (0-100) at ``elapsed`` seconds, the job's total duration is predicted
    as ``elapsed * 100 / p`` and the next poll is planned just after the predicted end.
    A prediction is believed beyond the plain backoff delay only when the previous poll
    predicted (nearly) the same total, so misleading progress degrades to plain backoff;
    no delay is ever longer than ``2 * max_interval``.
    """

    def __init__(self, backoff: Backoff, start: float) -> None:
        self._plain = backoff.delays()
        self._cap = 2 * backoff.max_interval
        self._start = start
        self._predicted: Optional[float] = None
        self.first_delay = next(self._plain)

    def next_delay(self, result: Any, now: float) -> float:
        plain = next(self._plain)
        progress = getattr(result, "progress", None)
        elapsed = now - self._start
        if not isinstance(progress, (int, float)) or not 0 < progress < 100 or elapsed <= 0:
            self._predicted = None
            return plain
        total = elapsed * 100.0 / progress
        agreed = self._predicted is not None and abs(total - self._predicted) <= _AGREEMENT * total
        self._predicted = total
        planned = total * (1 + _MARGIN) - elapsed
        if not agreed:
            return min(planned, plain)
        return min(planned, self._cap)


class _Tracker:
    """One job's wait: its schedule, what it last saw, and what it reports.

    ``step`` makes one poll: it counts it, keeps the result or the transient error, calls
    ``on_update`` on a change of (state, progress, queue position) and warns once per unknown
    status value; any other exception propagates to the caller.
    """

    def __init__(self, backoff: Backoff, start: float, on_update: Optional[Callable[[Any], None]]):
        self.schedule = _Schedule(backoff, start)
        self.start = start
        self.polls = 0
        self.last: Any = None
        self.last_error: Optional[GenStatusError] = None
        self._on_update = on_update
        self._key: Any = object()
        self._unknown: Set[str] = set()
        self._retry_after: Optional[float] = None

    def step(self, poll: Callable[[], Any]) -> Tuple[bool, Any]:
        """Poll once; return (True, result), or (False, None) after a transient error."""
        self.polls += 1
        try:
            result = poll()
        except TRANSIENT as exc:
            self.last_error, self._retry_after = exc, getattr(exc, "retry_after", None)
            logger.debug("transient error while waiting: %s", type(exc).__name__)
            return False, None
        self.last, self.last_error, self._retry_after = result, None, None
        key = (result.state, result.progress, result.queue_position) if isinstance(
            result, JobStatus) else result
        if self._on_update is not None and key != self._key:
            self._on_update(result)
        self._key = key
        _warn_unknown(result, self._unknown)
        return True, result

    def next_delay(self, now: float) -> float:
        """Seconds until the next poll; a longer server-suggested delay wins."""
        delay = self.schedule.next_delay(None if self.last_error else self.last, now)
        return delay if self._retry_after is None else max(delay, self._retry_after)

    def timed_out(self, now: float, what: str) -> WaitTimeout:
        return WaitTimeout(
            f"{what}not done after {now - self.start:.1f}s and {self.polls} polls",
            last=self.last if isinstance(self.last, JobStatus) else None,
            last_error=self.last_error, elapsed=now - self.start, polls=self.polls,
        )


def _check_timeout(timeout: Optional[float]) -> None:
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0
    ):
        raise ConfigurationError(f"timeout must be seconds >= 0 or None, got {timeout!r}")


def wait(
    poll: Callable[[], R],
    *,
    is_done: Callable[[R], bool],
    timeout: Optional[float] = 600.0,
    backoff: Backoff = Backoff(),  # noqa: B008 - a frozen value
    on_update: Optional[Callable[[R], None]] = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> R:
    """Call ``poll()`` until ``is_done`` says yes, sleeping on ``backoff`` between calls;
    return the last result.

    ``timeout`` is the overall deadline in seconds on ``clock`` (None: forever): no sleep
    passes it and one last poll happens at it. Transient errors (TransportError,
    RateLimitError, ServerError) are retried, a longer ``retry_after`` winning; any other
    exception propagates at once. Raises WaitTimeout when the deadline passes first.
    """
    _check_timeout(timeout)
    start = clock()
    deadline = None if timeout is None else start + timeout
    job = _Tracker(backoff, start, on_update)

    def time_left(now: float) -> float:
        return math.inf if deadline is None else deadline - now

    delay = min(job.schedule.first_delay, time_left(start))
    if delay > 0:
        sleep(delay)
    while True:
        ok, result = job.step(poll)
        if ok and is_done(result):
            return cast(R, result)
        now = clock()
        if deadline is not None and now >= deadline:
            raise job.timed_out(now, "")
        sleep(max(0.0, min(job.next_delay(now), time_left(now))))


def _warn_unknown(result: Any, seen: Set[str]) -> None:
    if getattr(result, "state", None) is not State.UNKNOWN:
        return
    value = str(getattr(getattr(result, "raw", None), "status", "?"))
    if value not in seen:
        seen.add(value)
        logger.warning("%s job %s: unknown status %r; still waiting",
                       getattr(result, "provider", "?"), getattr(result, "job_id", "?"), value)


Outcome = Union[JobStatus, Exception]


def iter_wait_all(
    jobs: Iterable[Tuple["BaseClient", Any]],
    *,
    timeout: Optional[float] = 600.0,
    on_update: Optional[Callable[[JobStatus], None]] = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Tuple[int, Outcome]]:
    """Poll many ``(client, job_id)`` pairs from this thread, each on its client's backoff,
    and yield ``(index, outcome)`` as each job ends: its terminal JobStatus (SUCCEEDED or
    FAILED) or the exception that ended it (WaitTimeout at the deadline, NotFoundError, ...).
    """
    _check_timeout(timeout)
    pairs = list(jobs)
    start = clock()
    deadline = None if timeout is None else start + timeout
    tracked = [_Tracker(client.backoff, start, on_update) for client, _ in pairs]
    due = [(_clip(start + job.schedule.first_delay, deadline), i) for i, job in enumerate(tracked)]
    heapq.heapify(due)
    while due:
        when, i = heapq.heappop(due)
        now = clock()
        if when > now:
            sleep(when - now)
        client, job_id = pairs[i]
        job = tracked[i]
        try:
            ok, status = job.step(partial(client._poll_before, deadline, job_id))
        except Exception as exc:  # noqa: BLE001 - this job's end; the others go on
            yield i, exc
            continue
        if ok and status.done:
            yield i, status
            continue
        now = clock()
        if deadline is not None and now >= deadline:
            yield i, job.timed_out(now, f"{client.provider} job {job_id!r} ")
            continue
        heapq.heappush(due, (_clip(now + job.next_delay(now), deadline), i))


def wait_all(
    jobs: Iterable[Tuple["BaseClient", Any]],
    *,
    timeout: Optional[float] = 600.0,
    on_update: Optional[Callable[[JobStatus], None]] = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> List[Outcome]:
    """Wait for many jobs from this thread; return, in input order, each job's terminal
    JobStatus or the exception that ended it (gather-style: nothing is raised for one job).
    """
    pairs = list(jobs)
    outcomes: List[Optional[Outcome]] = [None] * len(pairs)
    for i, outcome in iter_wait_all(pairs, timeout=timeout, on_update=on_update, sleep=sleep,
                                    clock=clock):
        outcomes[i] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _clip(when: float, deadline: Optional[float]) -> float:
    return when if deadline is None else min(when, deadline)
