"""wait() and wait_all(): block, sleeping between polls, until jobs finish or time runs out.

Private by name only: a public module `wait` would shadow the function `genstatus_sync.wait`
once imported.
"""

import heapq
import logging
import time
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


def _change_key(result: Any) -> Any:
    if isinstance(result, JobStatus):
        return (result.state, result.progress, result.queue_position)
    return result


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
    schedule = _Schedule(backoff, start)
    polls = 0
    last: Optional[R] = None
    last_error: Optional[GenStatusError] = None
    previous_key: Any = object()
    unknown_seen: Set[str] = set()
    delay = schedule.first_delay
    if deadline is not None:
        delay = min(delay, deadline - start)
    if delay > 0:
        sleep(delay)
    while True:
        retry_after: Optional[float] = None
        try:
            result = poll()
        except TRANSIENT as exc:
            polls += 1
            last_error = exc
            retry_after = getattr(exc, "retry_after", None)
            logger.debug("transient error while waiting: %s", type(exc).__name__)
            result_for_plan: Any = None
        else:
            polls += 1
            last, last_error, result_for_plan = result, None, result
            key = _change_key(result)
            if on_update is not None and key != previous_key:
                on_update(result)
            previous_key = key
            _warn_unknown(result, unknown_seen)
            if is_done(result):
                return result
        now = clock()
        if deadline is not None and now >= deadline:
            raise WaitTimeout(
                f"not done after {now - start:.1f}s and {polls} polls",
                last=last if isinstance(last, JobStatus) else None,
                last_error=last_error, elapsed=now - start, polls=polls,
            )
        delay = schedule.next_delay(result_for_plan, now)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if deadline is not None:
            delay = min(delay, deadline - now)
        sleep(max(0.0, delay))


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
    schedules = [_Schedule(client.backoff, start) for client, _ in pairs]
    keys: List[Any] = [object()] * len(pairs)
    last: List[Optional[JobStatus]] = [None] * len(pairs)
    errors: List[Optional[Exception]] = [None] * len(pairs)
    polls = [0] * len(pairs)
    unknown: List[Set[str]] = [set() for _ in pairs]
    due = [(_clip(start + s.first_delay, deadline), i) for i, s in enumerate(schedules)]
    heapq.heapify(due)
    while due:
        when, i = heapq.heappop(due)
        now = clock()
        if when > now:
            sleep(when - now)
        client, job_id = pairs[i]
        retry_after: Optional[float] = None
        try:
            status = client._wait_poll(job_id, deadline)
        except TRANSIENT as exc:
            errors[i], retry_after, status = exc, getattr(exc, "retry_after", None), None
        except Exception as exc:  # noqa: BLE001 - this job's end; the others go on
            yield i, exc
            continue
        polls[i] += 1
        if status is not None:
            last[i], errors[i] = status, None
            if on_update is not None and _change_key(status) != keys[i]:
                on_update(status)
            keys[i] = _change_key(status)
            _warn_unknown(status, unknown[i])
            if status.done:
                yield i, status
                continue
        now = clock()
        if deadline is not None and now >= deadline:
            yield i, WaitTimeout(f"{client.provider} job {job_id!r} not done after "
                                 f"{now - start:.1f}s and {polls[i]} polls", last=last[i],
                                 last_error=errors[i], elapsed=now - start, polls=polls[i])
            continue
        delay = schedules[i].next_delay(status, now)
        if retry_after is not None:
            delay = max(delay, retry_after)
        heapq.heappush(due, (_clip(now + delay, deadline), i))


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
