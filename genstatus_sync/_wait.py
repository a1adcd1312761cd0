"""wait() and wait_all(): block, sleeping between polls, until jobs finish or time runs out.

The wait code knows no client: a job is anything with the small ``Pollable`` protocol
(provider name, job id, backoff, and one poll bounded by the seconds left). One job's wait
is a ``WaitState`` value; ``next_delay`` plans from it alone, so a wait can be cut into steps,
carried in a token and resumed elsewhere with the same schedule.

Private by name only: a public module ``wait`` would shadow the function
``genstatus_sync.wait`` once imported.
"""

import heapq
import logging
import math
import queue
import random
import threading
import time
import zlib
from collections import deque
from typing import (
    Any,
    Callable,
    Deque,
    Iterable,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    TypeVar,
    Union,
)

import attrs

from ._config import check_count, check_wait_timeout
from .backoff import Backoff
from .errors import APIError, ConfigurationError, GenStatusError, WaitTimeout, is_transient
from .status import JobStatus, State

try:
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment]

__all__ = ["wait", "wait_all"]

logger = logging.getLogger("genstatus_sync")

R = TypeVar("R")
# The promise: wait and wait_all return within timeout + FINAL_POLL_GRACE. Requests made for
# the last poll end a little earlier, leaving room for the bookkeeping around them.
FINAL_POLL_GRACE = 0.5
REQUEST_GRACE = 0.45
MAX_IN_FLIGHT = 128  # the default cap of wait_all's overlapping requests (documented)
# With max_in_flight=None, wait_all starts with a few requests in flight and allows half as
# many more each time a due poll has waited this long for a free place: it settles near what
# the due polls need (their rate times the latency), without a first burst at a provider.
# It grows by no more places than replies came since it last grew (at most doubling in a
# round trip, as TCP's slow start: a provider's first 429s are back before the next burst
# goes), or, when none come, once every _SILENT seconds (hanging requests hold no place long).
_START_IN_FLIGHT = 4
_LATE = 0.05
_SILENT = 1.0
# A progress-based plan is trusted for long sleeps only once two polls agree on the job's
# predicted total duration within this fraction.
_AGREEMENT = 0.15
# Polls planned from a prediction land this fraction of the predicted duration after it.
_MARGIN = 0.03


class Pollable(Protocol):
    """What the wait code needs of a job: ``client.job(...)`` handles are Pollable."""

    @property
    def provider(self) -> str: ...  # pragma: no cover

    @property
    def job_id(self) -> str: ...  # pragma: no cover

    @property
    def backoff(self) -> Backoff: ...  # pragma: no cover

    def poll_within(self, seconds: Optional[float]) -> JobStatus:
        """One poll of a wait: one request (Clipia: two), all ended within ``seconds``."""
        ...  # pragma: no cover


def draw(seed: int, n: int) -> float:
    """The jitter draw in [0, 1) of poll ``n`` of a wait seeded ``seed`` (splitmix64)."""
    z = (seed * 0x9E3779B97F4A7C15 + (n + 1) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


def job_seed(provider: str, job_id: str) -> int:
    """A job's jitter seed: the same in every process, different between jobs."""
    return zlib.crc32(f"{provider}\0{job_id}".encode("utf-8", "surrogatepass"))


@attrs.frozen
class WaitState:
    """One job's wait as a value: when it started, its deadline (both on the wait's clock),
    the jitter seed, how many polls were made, the progress prediction, and what the last
    poll saw (a result, or a transient error and its Retry-After)."""

    started: float
    deadline: Optional[float]
    seed: int
    polls: int = 0
    predicted: Optional[float] = None  # the job's total duration, from the last progress
    agreed: bool = False  # the last two predictions agreed
    last: Any = None
    last_error: Optional[GenStatusError] = None
    retry_after: Optional[float] = None

    def polled(self, result: Any, now: float) -> "WaitState":
        """The state after a poll that returned ``result`` at ``now``."""
        progress = getattr(result, "progress", None)
        elapsed = now - self.started
        predicted: Optional[float] = None
        agreed = False
        if isinstance(progress, (int, float)) and 0 < progress < 100 and elapsed > 0:
            predicted = elapsed * 100.0 / progress
            agreed = self.predicted is not None and (
                abs(predicted - self.predicted) <= _AGREEMENT * predicted)
        return attrs.evolve(self, polls=self.polls + 1, predicted=predicted, agreed=agreed,
                            last=result, last_error=None, retry_after=None)

    def failed(self, error: GenStatusError) -> "WaitState":
        """The state after a poll that met the transient ``error``."""
        retry_after = error.retry_after if isinstance(error, APIError) else None
        return attrs.evolve(self, polls=self.polls + 1, predicted=None, agreed=False,
                            last_error=error, retry_after=retry_after)

    def next_delay(self, now: float, backoff: Backoff) -> float:
        """Seconds from ``now`` until the next poll is due (not yet clipped to the deadline):
        the backoff's next delay, or the predicted end when progress makes it believable; a
        longer server-suggested delay wins. No delay from progress exceeds twice the cap."""
        plain = backoff.delay(self.polls, draw(self.seed, self.polls))
        delay = plain
        if self.predicted is not None:
            planned = self.predicted * (1 + _MARGIN) - (now - self.started)
            delay = min(planned, 2 * backoff.max_interval) if self.agreed else min(planned, plain)
        if self.retry_after is not None:
            delay = max(delay, self.retry_after)
        return max(0.0, delay)

    def time_left(self, now: float) -> float:
        return math.inf if self.deadline is None else self.deadline - now

    def timed_out(self, now: float, what: str = "") -> WaitTimeout:
        return WaitTimeout(
            f"{what}not done after {now - self.started:.1f}s and {self.polls} polls",
            last=self.last, last_error=self.last_error, elapsed=now - self.started,
            polls=self.polls,
        )


def begin(clock: Callable[[], float], timeout: Optional[float], seed: int) -> WaitState:
    """A new wait's state, its deadline ``timeout`` seconds from now on ``clock``."""
    seconds = check_wait_timeout(timeout)
    start = clock()
    return WaitState(started=start, deadline=None if seconds is None else start + seconds,
                     seed=seed)


def request_window(state: WaitState, now: float) -> Optional[float]:
    """Seconds a poll started at ``now`` may take: up to the deadline plus a short grace."""
    return None if state.deadline is None else state.deadline + REQUEST_GRACE - now


class _Reporter:
    """Calls ``on_update`` on the first result and on every change of (state, progress,
    queue position), and warns once per unknown status value."""

    def __init__(self, on_update: Optional[Callable[[Any], None]]) -> None:
        self._on_update = on_update
        self._key: Any = object()
        self._unknown: Set[str] = set()

    def __call__(self, result: Any) -> None:
        key = (result.state, result.progress, result.queue_position) if isinstance(
            result, JobStatus) else result
        changed, self._key = key != self._key, key
        if getattr(result, "state", None) is State.UNKNOWN:
            value = str(getattr(getattr(result, "raw", None), "status", "?"))
            if value not in self._unknown:
                self._unknown.add(value)
                logger.warning("%s job %s: unknown status %r; still waiting",
                               getattr(result, "provider", "?"), getattr(result, "job_id", "?"),
                               value)
        if changed and self._on_update is not None:
            self._on_update(result)


def run_wait(
    poll: Callable[[Optional[float]], R],
    is_done: Callable[[R], bool],
    state: WaitState,
    *,
    backoff: Backoff,
    on_update: Optional[Callable[[R], None]],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> R:
    """The loop behind ``wait`` and ``client.wait``: poll, report, plan, sleep."""
    report = _Reporter(on_update)
    delay = min(state.next_delay(state.started, backoff), state.time_left(state.started))
    if delay > 0:
        sleep(delay)
    while True:
        try:
            result = poll(request_window(state, clock()))
        except GenStatusError as exc:
            if not is_transient(exc):
                raise
            logger.debug("transient error while waiting: %s", type(exc).__name__)
            state = state.failed(exc)
        else:
            state = state.polled(result, clock())
            report(result)
            if is_done(result):
                return result
        now = clock()
        if state.deadline is not None and now >= state.deadline:
            raise state.timed_out(now)
        sleep(max(0.0, min(state.next_delay(now, backoff), state.time_left(now))))


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
    passes it and one last poll happens at it. Transient errors (``errors.is_transient``) are
    retried, a longer ``retry_after`` winning; any other exception propagates at once. Raises
    WaitTimeout (``.last``: the last result) when the deadline passes first.
    """
    if not isinstance(backoff, Backoff):
        raise ConfigurationError(f"backoff must be a Backoff, got {type(backoff).__name__}")
    state = begin(clock, timeout, random.getrandbits(32))
    return run_wait(lambda seconds: poll(), is_done, state, backoff=backoff,
                    on_update=on_update, sleep=sleep, clock=clock)


Outcome = Union[JobStatus, Exception]
JobLike = Union[Pollable, Tuple[Any, Any]]


def _pollable(job: Any) -> Pollable:
    if isinstance(job, tuple):
        if len(job) != 2 or not callable(getattr(job[0], "job", None)):
            raise ConfigurationError("wait_all takes (client, job_id) pairs or client.job() "
                                     f"handles, got a tuple of {len(job)}")
        made: Pollable = job[0].job(job[1])
        return made
    if not callable(getattr(job, "poll_within", None)):
        raise ConfigurationError("wait_all takes (client, job_id) pairs or client.job() "
                                 f"handles, got {type(job).__name__}")
    return job  # type: ignore[no-any-return]


class _Inline:
    """Runs each poll at once in the calling thread (max_in_flight=1: no thread)."""

    def __init__(self) -> None:
        self._done: Deque[Tuple[int, Any, Optional[BaseException]]] = deque()

    def submit(self, index: int, poll: Callable[[], Any]) -> None:
        try:
            self._done.append((index, poll(), None))
        except Exception as exc:  # noqa: BLE001 - this job's end; the others go on
            self._done.append((index, None, exc))

    def get(self, timeout: Optional[float]) -> Optional[Tuple[int, Any, Optional[BaseException]]]:
        return self._done.popleft() if self._done else None

    def close(self) -> None:
        pass


class _Threads:
    """Runs polls on up to ``limit`` daemon threads, started as the polls in flight need
    them; results come back through a queue to the calling thread."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._tasks: queue.SimpleQueue[Optional[Tuple[int, Callable[[], Any]]]] = (
            queue.SimpleQueue())
        self._done: queue.SimpleQueue[Tuple[int, Any, Optional[BaseException]]] = (
            queue.SimpleQueue())
        self._threads: List[threading.Thread] = []
        self._busy = 0

    def submit(self, index: int, poll: Callable[[], Any]) -> None:
        self._busy += 1
        if self._busy > len(self._threads) and len(self._threads) < self._limit:
            thread = threading.Thread(target=self._work, name="genstatus-wait_all", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._tasks.put((index, poll))

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            index, poll = task
            try:
                self._done.put((index, poll(), None))
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                self._done.put((index, None, exc))

    def get(self, timeout: Optional[float]) -> Optional[Tuple[int, Any, Optional[BaseException]]]:
        try:
            item = self._done.get(timeout=None if timeout is None else max(0.0, timeout))
        except queue.Empty:
            return None
        self._busy -= 1
        return item

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)


def iter_wait_all(
    jobs: Iterable[JobLike],
    *,
    timeout: Optional[float] = 600.0,
    on_update: Optional[Callable[[JobStatus], None]] = None,
    max_in_flight: Optional[int] = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Tuple[int, Outcome]]:
    """Wait for many jobs, each on its own schedule, and yield ``(index, outcome)`` as each
    ends: its terminal JobStatus (SUCCEEDED or FAILED) or the exception that ended it."""
    handles = [_pollable(job) for job in jobs]
    cap = MAX_IN_FLIGHT if max_in_flight is None else check_count(
        "max_in_flight", max_in_flight, minimum=1)
    limit = min(cap, _START_IN_FLIGHT) if max_in_flight is None else cap
    seconds = check_wait_timeout(timeout)
    start = clock()
    deadline = None if seconds is None else start + seconds
    states = [WaitState(started=start, deadline=deadline, seed=job_seed(h.provider, h.job_id))
              for h in handles]
    reporters = [_Reporter(on_update) for _ in handles]
    due = [(start + min(s.next_delay(start, h.backoff), s.time_left(start)), i)
           for i, (s, h) in enumerate(zip(states, handles))]
    heapq.heapify(due)
    runner: Union[_Inline, _Threads] = _Inline() if cap == 1 else _Threads(cap)
    in_flight: Set[int] = set()
    final: Set[int] = set()  # jobs whose poll in flight started at or after the deadline
    end = None if deadline is None else deadline + FINAL_POLL_GRACE
    slept_to = -math.inf  # a sleep is trusted to have reached the time it slept to
    answered, grown_at = 0, start  # replies since the limit last grew, and when it did
    try:
        while due or in_flight:
            now = max(clock(), slept_to)
            if end is not None and now >= end:
                for _, i in due:
                    yield i, states[i].timed_out(now, _what(handles[i]))
                for i in in_flight:
                    yield i, states[i].timed_out(now, _what(handles[i]))
                return
            if (due and len(in_flight) >= limit and due[0][0] <= now - _LATE and limit < cap
                    and (answered or now >= grown_at + _SILENT)):
                limit = min(cap, limit + min((limit + 1) // 2, answered or limit))
                answered, grown_at = 0, now
            while due and due[0][0] <= now and len(in_flight) < limit:
                _, i = heapq.heappop(due)
                in_flight.add(i)
                if deadline is not None and now >= deadline:
                    final.add(i)
                runner.submit(i, _poll_call(handles[i], request_window(states[i], now)))
            if not in_flight:
                if due:
                    sleep(max(0.0, due[0][0] - now))
                    slept_to = due[0][0]
                continue
            wake = None  # at the limit: until a result comes, or a due poll is late enough
            if due and len(in_flight) < limit:
                wake = due[0][0] - now
            elif due and limit < cap:
                wake = max(0.0, due[0][0] + _LATE - now,
                           0.0 if answered else grown_at + _SILENT - now)
            if end is not None:
                wake = end - now if wake is None else min(wake, end - now)
            got = runner.get(wake)
            while got is not None:
                i, result, error = got
                in_flight.discard(i)
                answered += 1
                outcome = _settle(i, result, error, states, handles, reporters,
                                  max(clock(), slept_to),
                                  deadline, final, due)
                if outcome is not None:
                    yield i, outcome
                got = runner.get(0) if in_flight else None
    finally:
        runner.close()


def _poll_call(job: Pollable, seconds: Optional[float]) -> Callable[[], JobStatus]:
    return lambda: job.poll_within(seconds)


def _what(job: Pollable) -> str:
    return f"{job.provider} job {job.job_id!r} "


def _settle(i: int, result: Any, error: Optional[BaseException], states: List[WaitState],
            handles: List[Pollable], reporters: List[_Reporter], now: float,
            deadline: Optional[float], final: Set[int],
            due: List[Tuple[float, int]]) -> Optional[Outcome]:
    """Record job ``i``'s poll; return its outcome if it ended, else schedule its next poll."""
    state = states[i]
    if error is not None:
        if not isinstance(error, GenStatusError) or not is_transient(error):
            if not isinstance(error, Exception):
                raise error
            return error
        states[i] = state = state.failed(error)
    else:
        states[i] = state = state.polled(result, now)
        reporters[i](result)
        if result.done:
            return result  # type: ignore[no-any-return]
    if i in final or (deadline is not None and now >= deadline):
        return state.timed_out(now, _what(handles[i]))
    when = now + min(state.next_delay(now, handles[i].backoff), state.time_left(now))
    heapq.heappush(due, (when, i))
    return None


def wait_all(
    jobs: Iterable[JobLike],
    *,
    timeout: Optional[float] = 600.0,
    on_update: Optional[Callable[[JobStatus], None]] = None,
    max_in_flight: Optional[int] = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> List[Outcome]:
    """Wait for many jobs, of any providers, from one call; return, in input order, each
    job's terminal JobStatus or the exception that ended it (nothing is raised for one job).

    ``jobs``: ``(client, job_id)`` pairs or ``client.job(...)`` handles. Up to
    ``max_in_flight`` requests overlap on worker threads (None: as many as the due polls need,
    at most 128; 1: one after another, no thread); ``on_update`` is called from the calling
    thread only. The call returns within ``timeout`` + 0.5 s however many jobs hang.
    """
    items = list(jobs)
    outcomes: List[Optional[Outcome]] = [None] * len(items)
    for i, outcome in iter_wait_all(items, timeout=timeout, on_update=on_update,
                                    max_in_flight=max_in_flight, sleep=sleep, clock=clock):
        outcomes[i] = outcome
    return [outcome for outcome in outcomes if outcome is not None]
