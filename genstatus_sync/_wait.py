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
    Dict,
    Hashable,
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

import attrs

from ._config import (
    CLOCK_EXPECTED,
    as_float,
    check_callable,
    check_count,
    check_kind,
    check_wait_timeout,
    checked_clock,
    read_clock,
)
from ._locks import abandon_with
from ._plan import NARROW, REACH, SKIP, Line, plain_after
from ._retry import MAX_RETRY_AFTER
from .backoff import Backoff, check_backoff
from .errors import (
    APIError,
    ConfigurationError,
    GenStatusError,
    ResponseFormatError,
    TransportError,
    WaitTimeout,
    is_transient,
)
from .history import DurationHistory, check_history
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
REQUEST_GRACE = 0.4
# wait_all stops waiting for polls in flight soon after their requests end, not at the promise
# itself: reporting the jobs it gives up on (hundreds of WaitTimeouts, with as many threads
# finishing their cut requests) takes tens of milliseconds on a busy machine.
_GIVE_UP_GRACE = REQUEST_GRACE + 0.02
# seconds to report one job given up (its WaitTimeout, its share of the collection that
# follows; 4-7 us measured, the more so the more objects the process holds): with many jobs
# left, wait_all gives up earlier by as much, at most _EARLIEST, and requests end that much
# sooner too (a last poll sent at the deadline keeps 0.1 s to be answered in)
_REPORT_COST = 8e-6
_EARLIEST = REQUEST_GRACE - 0.1
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
# wait_all lets a poll wait in its thread for its client's rate budget this many seconds at
# most: further turns are not reserved ahead, so that one client's queue for its turns does
# not take the places in flight that the jobs of other clients need.
_AHEAD = 1.0
DEFAULT_KIND = "default"  # the kind of gs.wait's jobs when it is given a history but no kind
# A job's progress may move a poll earlier than the schedule only to the end it predicts, and
# only until it has been wrong this many times.
_MISSES = 1


class Pollable(Protocol):
    """What the wait code needs of a job: ``client.job(...)`` handles are Pollable. A job
    that also has ``history`` (a DurationHistory) and ``kind_of(status)`` (its kind, None
    while unknown) is planned from, and recorded in, that history; one that has
    ``take_turn(ahead)`` (its client's rate budget) waits for its turns in ``wait_all``
    without taking a place in flight."""

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
    the jitter seed, how many polls were made, the job's kind (for its history), when a poll
    last saw it not done (seconds from the start), what its progress says (a ``Line``; None
    once progress was out of range), how often it ran past the end its progress predicted,
    and what the last poll saw (a result, or a transient error and its Retry-After)."""

    started: float
    deadline: Optional[float]
    seed: int
    polls: int = 0
    kind: Optional[str] = None
    seen: float = 0.0
    line: Optional[Line] = Line.start()
    misses: int = 0
    last: Any = None
    last_error: Optional[GenStatusError] = None
    retry_after: Optional[float] = None

    def polled(self, result: Any, now: float, kind: Optional[str] = None) -> "WaitState":
        """The state after a poll that returned ``result`` at ``now``; ``kind`` names the
        job's kind if the state does not know it yet."""
        elapsed = now - self.started
        progress = getattr(result, "progress", None)
        line, misses = self.line, self.misses
        if line is not None:
            bounds = line.end()
            if bounds is not None and elapsed >= bounds[1] - 1e-9:
                misses += 1  # still running when the line said it must have ended
        if progress is None:
            pass
        elif (isinstance(progress, (int, float)) and not isinstance(progress, bool)
              and 0 <= progress < 100):
            line = Line.at(elapsed, progress) if line is None else line.add(elapsed, progress)
        else:  # out of range (negative, 100 or more while not done, nan): no line to believe
            line = None
        return attrs.evolve(self, polls=self.polls + 1, kind=self.kind or kind, seen=elapsed,
                            line=line, misses=misses, last=result, last_error=None,
                            retry_after=None)

    def failed(self, error: GenStatusError) -> "WaitState":
        """The state after a poll that met the transient ``error`` (one the client held back
        unsent, its rate budget or its time run out, included: the schedule moves on)."""
        # (a Retry-After of more than a day: held to the deadline, not dropped)
        retry_after = None
        if isinstance(error, APIError):
            # (an error of the caller's own poll may carry anything: a number of seconds
            # >= 0 is read, at most a day, as the clients' own are; anything else, nothing)
            suggested = as_float(error.retry_after if error._hold is None else error._hold)
            if suggested is not None and suggested >= 0:  # (NaN is not)
                retry_after = min(suggested, MAX_RETRY_AFTER)
        return attrs.evolve(self, polls=self.polls + 1, last_error=error,
                            retry_after=retry_after)

    def next_delay(self, now: float, backoff: Backoff,
                   history: Optional[DurationHistory] = None, steps: bool = False) -> float:
        """Seconds from ``now`` until the next poll is due (not yet clipped to the deadline).

        The schedule: the one fitted to the kind's past durations in ``history`` when it has
        one (plain backoff, from where it would be by now, past its close polls), else the
        backoff's next delay. Progress that keeps to a straight line then lets the wait skip
        polls before the end it predicts, or poll at that end when it is known precisely
        (earlier than the schedule only until it was wrong once). A longer server-suggested
        delay wins. No delay from history or progress exceeds twice the backoff's cap.
        ``steps``: a wait carried on by ``client.step``, on whose clock ``history`` stamps
        what steps record; it plans from the records made before it began."""
        elapsed = now - self.started
        jitter = draw(self.seed, self.polls)
        delay = backoff.delay(self.polls, jitter)
        cap = 2 * backoff.max_interval
        schedule = (history._schedule(self.kind, backoff, self.started if steps else None)
                    if history is not None and self.kind is not None else None)
        if schedule is not None:
            phase = min(0.5, backoff.jitter) * (2 * draw(self.seed, -1) - 1)
            at = schedule.next_poll(elapsed, phase)
            if at is None:
                at = elapsed + (plain_after(backoff, elapsed) - elapsed) * (
                    1 + backoff.jitter * (2 * jitter - 1))
            delay = min(at - elapsed, cap)
        line = self.line
        bounds = None if line is None else line.end()
        if line is not None and bounds is not None:
            soonest, latest = bounds[0] - elapsed, bounds[1] - elapsed
            if (latest - soonest <= NARROW * bounds[1] and 0 <= latest <= cap
                    and (self.misses < _MISSES or latest >= delay)):
                delay = latest
            elif soonest > delay:
                delay = max(delay, min(cap, SKIP * soonest, REACH * line.span))
        if self.polls > 0:  # (the first poll's delay is from the wait's start, not a poll)
            delay = max(delay, backoff.shortest)
        if self.retry_after is not None:
            delay = max(delay, self.retry_after)
        return max(0.0, delay)

    def time_left(self, now: float) -> float:
        return math.inf if self.deadline is None else self.deadline - now

    def wait_for(self, now: float, backoff: Backoff,
                 history: Optional[DurationHistory] = None, steps: bool = False) -> float:
        """Seconds from ``now`` until the next poll: ``next_delay``, clipped to the deadline."""
        return max(0.0, min(self.next_delay(now, backoff, history, steps),
                            self.time_left(now)))

    def timed_out(self, now: float, what: str = "", unseen: float = 0.0) -> WaitTimeout:
        """The WaitTimeout of this wait at ``now``, of which ``unseen`` seconds are sleeps that
        returned at once (see _unseen): the message says so when the clock moved, but far
        less."""
        read = now - unseen  # what the wait's clock says
        early = ("" if not self.started < read
                 or unseen <= max(1e-3, 0.05 * (now - self.started)) else
                 f" (its sleeps returned at once: {read - self.started:.1f}s passed on its "
                 "clock)")
        return WaitTimeout(
            f"{what}not done after {now - self.started:.1f}s and {self.polls} "
            f"poll{'' if self.polls == 1 else 's'}{early}"
            # a wait that ends on errors says which (a mistyped port is no slow job)
            + ("" if self.last_error is None else f"; the last poll failed: {self.last_error}"),
            last=self.last, last_error=self.last_error, elapsed=now - self.started,
            polls=self.polls,
        )


def learn(history: Optional[DurationHistory], state: WaitState, before: WaitState,
          result: Any, now: float, steps: bool = False) -> None:
    """Record in ``history`` how long a job that ended with ``result`` took (a job that
    FAILED teaches nothing: failures often come early): from the wait's start to ``now``,
    ending after the poll ``before`` last saw it running; made at ``now`` for the plans of
    other steps when ``steps`` (see DurationHistory._schedule)."""
    if history is None or state.kind is None or getattr(result, "state", None) is State.FAILED:
        return
    history._record(state.kind, before.seen, now - state.started,
                    now if steps else -math.inf)


def begin(clock: Callable[[], float], timeout: Optional[float], seed: int,
          kind: Optional[str] = None) -> WaitState:
    """A new wait's state, its deadline ``timeout`` seconds from now on ``clock``."""
    seconds = check_wait_timeout(timeout)
    start = read_clock(clock, CLOCK_EXPECTED)
    return WaitState(started=start, deadline=None if seconds is None else start + seconds,
                     seed=seed, kind=kind)


_AT_ONCE = 0.01  # seconds: a sleep after which the clock moved less returned at once


def _unseen(asked: float, before: float, after: float) -> float:
    """The seconds a sleep of ``asked`` is taken to have slept that the clock (read
    ``before`` and ``after`` it) does not show: the rest of what it asked for when it returned
    at once (a no-op sleep on a virtual clock that stands still, or on a real one; an event
    already set), so that the wait's schedule moves on and its deadline comes; none when the
    clock moved (a sleep woken early, as by a nudge, is believed: the wait polls sooner)."""
    moved = after - before
    return max(0.0, asked - moved) if moved < _AT_ONCE else 0.0


def request_window(state: WaitState, now: float) -> Optional[float]:
    """Seconds a poll started at ``now`` may take: up to the deadline plus a short grace."""
    return None if state.deadline is None else state.deadline + REQUEST_GRACE - now


class _Reporter:
    """Calls ``on_update`` on the first result and on every change of (state, progress,
    queue position), and warns once per unknown status value."""

    def __init__(self, on_update: Optional[Callable[[Any], None]]) -> None:
        self._on_update = on_update if on_update is None else check_callable("on_update",
                                                                               on_update)
        self._key: Any = object()
        self._unknown: Set[str] = set()

    def __call__(self, result: Any) -> None:
        changed = False
        if self._on_update is not None:
            key = (result.state, result.progress, result.queue_position) if isinstance(
                result, JobStatus) else result
            try:  # a result of the caller's: its == may be elementwise (an array) or raise
                changed = bool(key is not self._key and key != self._key)
            except Exception:  # noqa: BLE001 - read as changed
                changed = True
            self._key = key
        if getattr(result, "state", None) is State.UNKNOWN:
            value = getattr(getattr(result, "raw", None), "status", "?")
            value = str(getattr(value, "value", value))  # the provider's word, not the enum's
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
    history: Optional[DurationHistory] = None,
    kind_of: Optional[Callable[[R], Optional[str]]] = None,
    what: str = "",
) -> R:
    """The loop behind ``wait`` and ``client.wait``: poll, report, plan, sleep. A job that
    ends is recorded in ``history`` under its kind (``kind_of`` names it from a result when
    the state does not know it); ``what`` names the job in a WaitTimeout's message."""
    report = _Reporter(on_update)
    plan = None if history is None else history._frozen()  # what it held when the wait began
    delay = state.wait_for(state.started, backoff, plan)
    skipped, read = 0.0, state.started  # the sleeps' time the clock does not show (_unseen)
    while True:
        if delay > 0:
            sleep(delay)
            skipped += _unseen(delay, read, clock())
        try:
            result = poll(request_window(state, clock() + skipped))
        except GenStatusError as exc:
            if not is_transient(exc):
                raise
            logger.debug("transient error while waiting: %s", type(exc).__name__)
            state = state.failed(exc)
        else:
            now = clock() + skipped
            before = state
            state = state.polled(result, now, None if state.kind is not None or kind_of is None
                                 else kind_of(result))
            report(result)
            if is_done(result):
                learn(history, state, before, result, now)
                return result
        read = clock()
        now = read + skipped
        if state.deadline is not None and now >= state.deadline:
            raise state.timed_out(now, what, skipped)
        delay = state.wait_for(now, backoff, plan)


def wait(
    poll: Callable[[], R],
    *,
    is_done: Callable[[R], bool],
    timeout: Optional[float] = 600.0,
    backoff: Backoff = Backoff(),  # noqa: B008 - a frozen value
    on_update: Optional[Callable[[R], None]] = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    history: Optional[DurationHistory] = None,
    kind: Optional[str] = None,
) -> R:
    """Call ``poll()`` until ``is_done`` says yes, sleeping on ``backoff`` between calls;
    return the last result.

    ``timeout`` is the overall deadline in seconds on ``clock`` (None: forever): no sleep
    passes it and one last poll happens at it. Transient errors (``errors.is_transient``) are
    retried, a longer ``retry_after`` winning; any other exception propagates at once. Raises
    WaitTimeout (``.last``: the last result) when the deadline passes first. With a
    ``history`` (a DurationHistory), the wait plans from the durations of ``kind`` (default
    ``"default"``) it holds, and records this job's when it ends.
    """
    check_backoff(backoff, optional=False)
    for name, value in (("poll", poll), ("is_done", is_done), ("sleep", sleep),
                        ("clock", clock)):
        check_callable(name, value)
    clock = checked_clock(clock)
    history = check_history(history)
    state = begin(clock, timeout, random.getrandbits(32),
                  DEFAULT_KIND if kind is None else check_kind(kind))
    return run_wait(lambda seconds: poll(), is_done, state, backoff=backoff,
                    on_update=on_update, sleep=sleep, clock=clock, history=history)


Outcome = Union[JobStatus, Exception]
JobLike = Union[Pollable, Tuple[Any, Any]]
_Reply = Tuple[int, Any, Optional[BaseException]]  # a poll's job index, its result or error


def _iterable(jobs: Iterable[JobLike]) -> Iterable[JobLike]:
    if not isinstance(jobs, Iterable):
        raise ConfigurationError(f"wait_all takes an iterable of jobs, got {type(jobs).__name__}")
    return jobs


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
    # (a job of the caller's own: what the wait reads of it, checked now, not met later as
    # an AttributeError inside the wait)
    needs: Tuple[Tuple[str, type], ...] = (("provider", str), ("job_id", str),
                                           ("backoff", Backoff))
    missing = [name for name, kind in needs if not isinstance(getattr(job, name, None), kind)]
    if missing:
        raise ConfigurationError(f"a job for wait_all ({type(job).__name__}) needs "
                                 f"{', '.join(missing)} (a str, a str and a Backoff), as "
                                 "client.job() handles have")
    return job  # type: ignore[no-any-return]


class _Inline:
    """Runs each poll at once in the calling thread (max_in_flight=1: no thread)."""

    def __init__(self) -> None:
        self._done: Deque[Tuple[int, Any, Optional[BaseException]]] = deque()

    def submit(self, index: int, poll: Callable[[], Any], turn: bool = False) -> None:
        try:
            self._done.append((index, poll(), None))
        except Exception as exc:  # noqa: BLE001 - this job's end; the others go on
            self._done.append((index, None, exc))

    def get(self, timeout: Optional[float]) -> Optional[_Reply]:
        return self._done.popleft() if self._done else None

    def close(self) -> None:
        pass


class _Threads:
    """Runs polls on up to ``limit`` daemon threads, started as the polls in flight need
    them; results come back through a queue to the calling thread. Once closed, nothing more
    is sent: a poll not started is dropped, unless it holds a turn of its client's rate budget
    (``turn``: it is run, to use the turn up, and its client sends nothing, see ``_locks``),
    and one waiting for its turn stops waiting."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._ended = threading.Event()
        self._tasks: queue.SimpleQueue[Optional[Tuple[int, Callable[[], Any], bool]]] = (
            queue.SimpleQueue())
        self._done: queue.SimpleQueue[Tuple[int, Any, Optional[BaseException]]] = (
            queue.SimpleQueue())
        self._threads: List[threading.Thread] = []
        self._busy = 0

    def submit(self, index: int, poll: Callable[[], Any], turn: bool = False) -> None:
        self._busy += 1
        if self._busy > len(self._threads) and len(self._threads) < self._limit:
            thread = threading.Thread(target=self._work, name="genstatus-wait_all", daemon=True)
            # listed first: a Ctrl-C in start(), which waits for the thread to run, left one
            # running that close() sent no end to, waiting for tasks for good
            self._threads.append(thread)
            thread.start()
        self._tasks.put((index, poll, turn))

    def _work(self) -> None:
        abandon_with(self._ended)
        while True:
            task = self._tasks.get()
            if task is None:
                return
            index, poll, turn = task
            if self._ended.is_set() and not turn:
                continue
            try:
                self._done.put((index, poll(), None))
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                self._done.put((index, None, exc))

    def get(self, timeout: Optional[float]) -> Optional[_Reply]:
        try:
            # at most an hour at a time: a queue refuses a wait past threading.TIMEOUT_MAX
            item = self._done.get(timeout=None if timeout is None else min(max(0.0, timeout),
                                                                            3600.0))
        except queue.Empty:
            return None
        self._busy -= 1
        return item

    def close(self) -> None:
        self._ended.set()
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
    check_callable("sleep", sleep)
    clock = checked_clock(check_callable("clock", clock))
    # (the call's own work on 50,000 jobs, a tenth of a second, counts)
    start = read_clock(clock, CLOCK_EXPECTED)
    handles = [_pollable(job) for job in _iterable(jobs)]
    cap = MAX_IN_FLIGHT if max_in_flight is None else check_count(
        "max_in_flight", max_in_flight, minimum=1)
    limit = min(cap, _START_IN_FLIGHT) if max_in_flight is None else cap
    seconds = check_wait_timeout(timeout)
    deadline = None if seconds is None else start + seconds
    histories = [_history_of(h) for h in handles]
    # every job plans from its history as it was when the call began (see _frozen)
    frozen = {id(h): h._frozen() for h in histories if h is not None}
    plans = [None if h is None else frozen[id(h)] for h in histories]
    states = [WaitState(started=start, deadline=deadline, seed=job_seed(h.provider, h.job_id),
                        kind=_kind_of(h, None)) for h in handles]
    reporters = [_Reporter(on_update) for _ in handles]
    owners, takes = _budgets(handles)
    due = [(start + s.wait_for(start, h.backoff, plans[i]), i)
           for i, (s, h) in enumerate(zip(states, handles))]
    heapq.heapify(due)
    # Polls that fell due, per budget (client), in the order they did; a budget with no turn
    # now holds its polls back until ``held`` says, without taking places in flight (with
    # threads, one of them waits for its turn in a thread, ``waiter``: the client's own clock
    # and sleep then rule, whatever this loop's are).
    ready: Dict[Hashable, List[Tuple[float, int]]] = {}
    held: Dict[Hashable, float] = {}
    waiter: Dict[Hashable, int] = {}
    runner: Union[_Inline, _Threads] = _Inline() if cap == 1 else _Threads(cap)
    ahead = 0.0 if cap == 1 else _AHEAD  # (one after another, a wait for a turn holds all)
    in_flight: Set[int] = set()
    soon_by = 0.0  # how much sooner than end the call gives up (see early)
    # polls in flight per client: while several clients may poll (none held by its budget), none
    # takes more than its share of the places (a provider that hangs would hold them all, for
    # as long as its read timeout, and starve the healthy ones)
    flying: Dict[Hashable, int] = {}
    final: Set[int] = set()  # jobs whose poll in flight started at or after the deadline
    end = None if deadline is None else deadline + _GIVE_UP_GRACE
    skipped = 0.0  # the sleeps' time the clock does not show (see _unseen)
    answered, grown_at = 0, start  # replies since the limit last grew, and when it did

    def early() -> float:
        """How much sooner than ``end`` the call gives up: the time reporting the jobs still
        left will take (and a request started now ends that much sooner too, to be heard)."""
        return min(_EARLIEST, _REPORT_COST * (
            len(due) + len(in_flight) + sum(len(r) for r in ready.values())))

    def submit(i: int, now: float) -> None:
        in_flight.add(i)
        flying[owners[i]] = flying.get(owners[i], 0) + 1
        if deadline is not None and now >= deadline:
            final.add(i)
        window = request_window(states[i], now)
        if window is not None and soon_by:
            window = max(0.001, window - soon_by)
        runner.submit(i, _poll_call(handles[i], window), owners[i] in takes)

    def hear(got: Optional[_Reply]) -> Iterator[Tuple[int, Outcome]]:
        """Record ``got`` and every other reply already in; yield the outcomes they end."""
        nonlocal answered
        while got is not None:
            i, result, error = got
            in_flight.discard(i)
            flying[owners[i]] -= 1
            if waiter.get(owners[i]) == i:  # its client's turns are asked for again now
                del waiter[owners[i]]
                held.pop(owners[i], None)
            answered += 1
            outcome = _settle(i, result, error, states, handles, histories, plans, reporters,
                              clock() + skipped, skipped, deadline, final, due)
            if outcome is not None:
                yield i, outcome
            got = runner.get(0) if in_flight else None

    try:
        while due or in_flight or ready:
            now = clock() + skipped
            soon_by = 0.0 if end is None else early()
            give_up = None if end is None else end - soon_by
            if give_up is not None and now >= give_up:
                if in_flight:  # the replies already in are heard first
                    yield from hear(runner.get(0))
                left = [i for _, i in due] + [i for r in ready.values() for _, i in r]
                for i in left:
                    yield i, states[i].timed_out(now, _what(handles[i]), skipped)
                for i in sorted(in_flight):  # a poll sent counts, and says why it ended
                    hung = TransportError(f"{handles[i].provider}: the poll had no reply "
                                          "by the wait's timeout")
                    yield i, states[i].failed(hung).timed_out(now, _what(handles[i]), skipped)
                return
            while due and due[0][0] <= now:
                item = heapq.heappop(due)
                heapq.heappush(ready.setdefault(owners[item[1]], []), item)
            going = sorted((o for o in ready if held.get(o, -math.inf) <= now),
                           key=lambda o: ready[o][0])
            # a client whose budget holds its polls takes no share: only those that may poll
            share = limit if len(going) <= 1 else max(1, -(-limit // len(going)))
            if (going and ready[going[0]][0][0] <= now - _LATE and limit < cap
                    and (answered or now >= grown_at + _SILENT)
                    and (len(in_flight) >= limit
                         or any(flying.get(o, 0) >= share for o in going))):
                limit = min(cap, limit + min((limit + 1) // 2, answered or limit))
                answered, grown_at = 0, now
                share = max(1, -(-limit // len(going))) if len(going) > 1 else limit
            for o in going:
                polls, take = ready[o], takes.get(o)
                while polls and len(in_flight) < limit and flying.get(o, 0) < share:
                    hold = 0.0 if take is None else take(ahead)
                    if hold > 0:
                        held[o] = now + hold
                        if o in waiter or cap == 1:
                            break
                        waiter[o] = polls[0][1]  # it waits in its thread for the next turn
                    submit(heapq.heappop(polls)[1], now)
                    if hold > 0:
                        break
                if not polls:
                    del ready[o]
            # the next moment a poll may go: one falls due, or a budget has a turn again
            soon = min([due[0][0]] if due else [], default=None)
            turns = [held[o] for o in ready if held.get(o, -math.inf) > now]
            if turns:
                soon = min(turns) if soon is None else min(soon, min(turns))
            if not in_flight and cap == 1 and turns and (not due or min(turns) <= due[0][0]):
                # nothing to do before a client's turn: its poll waits for it in the call, on
                # the client's own clock and sleep (which may not be this loop's)
                o = min((o for o in ready if held.get(o, -math.inf) > now), key=held.__getitem__)
                submit(heapq.heappop(ready[o])[1], now)
                if not ready[o]:
                    del ready[o]
            if not in_flight:
                if soon is not None:
                    asked, before = max(0.0, soon - now), clock()
                    sleep(asked)
                    skipped += _unseen(asked, before, clock())
                continue
            wake = None  # at the limit: until a result comes, or a due poll is late enough
            waiting = [ready[o][0][0] for o in ready if held.get(o, -math.inf) <= now]
            if len(in_flight) < limit:
                wake = None if soon is None else soon - now
            elif (waiting or due) and limit < cap:
                oldest = min(waiting + ([due[0][0]] if due else []))
                wake = max(0.0, oldest + _LATE - now,
                           0.0 if answered else grown_at + _SILENT - now)
            if give_up is not None:
                wake = give_up - now if wake is None else min(wake, give_up - now)
            yield from hear(runner.get(wake))
    finally:
        runner.close()


def _budgets(handles: List[Pollable]) -> Tuple[List[Hashable],
                                              Dict[Hashable, Callable[[float], float]]]:
    """Each job's budget (its client, for ``client.job()`` handles; None: none known) and,
    per budget, how to take a turn of it (``take_turn(ahead)``: 0.0 when one within
    ``ahead`` seconds was kept for the next request, else the seconds until one would be)."""
    owners: List[Hashable] = []
    takes: Dict[Hashable, Callable[[float], float]] = {}
    for handle in handles:
        take = getattr(handle, "take_turn", None)
        if not callable(take):
            owners.append(None)
            continue
        owner = id(getattr(handle, "client", handle))
        owners.append(owner)
        takes.setdefault(owner, take)
    return owners, takes


def _poll_call(job: Pollable, seconds: Optional[float]) -> Callable[[], JobStatus]:
    return lambda: job.poll_within(seconds)


def _what(job: Pollable) -> str:
    return f"{job.provider} job {job.job_id!r} "


def _history_of(job: Pollable) -> Optional[DurationHistory]:
    history = getattr(job, "history", None)  # client.job() handles have their client's
    return history if isinstance(history, DurationHistory) else None


def _kind_of(job: Pollable, status: Optional[JobStatus]) -> Optional[str]:
    kind_of = getattr(job, "kind_of", None)
    return kind_of(status) if callable(kind_of) else None


def _settle(i: int, result: Any, error: Optional[BaseException], states: List[WaitState],
            handles: List[Pollable], histories: List[Optional[DurationHistory]],
            plans: List[Optional[DurationHistory]], reporters: List[_Reporter], now: float,
            unseen: float, deadline: Optional[float], final: Set[int],
            due: List[Tuple[float, int]]) -> Optional[Outcome]:
    """Record job ``i``'s poll; return its outcome if it ended, else schedule its next poll.
    ``unseen``: the sleeps of the call's time ``now`` that the clock does not show."""
    state = states[i]
    if error is not None:
        if not isinstance(error, GenStatusError) or not is_transient(error):
            if not isinstance(error, Exception):
                raise error
            return error
        states[i] = state = state.failed(error)
    else:
        if not isinstance(getattr(result, "done", None), bool):
            # a job of the caller's own (anything with poll_within) that returned no status
            return ResponseFormatError(f"{_what(handles[i])}poll_within() returned "
                                       f"{type(result).__name__}, not a JobStatus")
        before = state
        states[i] = state = state.polled(
            result, now, None if state.kind is not None else _kind_of(handles[i], result))
        reporters[i](result)
        if result.done:
            learn(histories[i], state, before, result, now)
            return result  # type: ignore[no-any-return]
    if i in final or (deadline is not None and now >= deadline):
        return state.timed_out(now, _what(handles[i]), unseen)
    when = now + state.wait_for(now, handles[i].backoff, plans[i])
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
    items = list(_iterable(jobs))
    outcomes: List[Optional[Outcome]] = [None] * len(items)
    for i, outcome in iter_wait_all(items, timeout=timeout, on_update=on_update,
                                    max_in_flight=max_in_flight, sleep=sleep, clock=clock):
        outcomes[i] = outcome
    return cast(List[Outcome], outcomes)  # iter_wait_all yields every index once
