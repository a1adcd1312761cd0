"""DurationHistory: how long a client's jobs took, per kind, so that its waits can plan polls
around the time jobs of that kind usually end."""

import json
import math
from collections import OrderedDict, deque
from typing import Any, Deque, Dict, Hashable, Optional, Set, Tuple, Union

from ._config import check_kind, kind_of_reply
from ._locks import fork_safe_lock
from ._plan import MIN_JOBS, Schedule, fit, regime
from .backoff import Backoff
from .errors import ConfigurationError

__all__ = ["DurationHistory"]

Record = Tuple[float, float]  # (lo, hi): the job ended after lo and was seen done at hi
_FORMAT = "genstatus_sync.DurationHistory"
_VERSION = 1
# the step waits a history remembers having been told of (see _first_record; under 200 KB):
# a redelivered task comes back within minutes, long before so many other waits end
_MAX_WAITS = 1024


class DurationHistory:
    """The recent durations of completed jobs, per kind (a Rivya model, a Sivi template,
    a provider): at most ``MAX_KINDS`` kinds (the least recently fed forgotten first) and
    ``MAX_DURATIONS`` durations each, so that ``dumps()`` stays under 64 KB however many jobs
    fed it. It holds durations only: no job id, no key. Thread-safe; share one between
    clients with ``history=`` and carry it between runs with ``dumps()`` / ``loads()``.

    A client records each job its ``wait``, ``wait_all`` or ``step`` saw succeed (seconds
    from the wait's start to the poll that saw it done, with the poll before it), once: a
    token stepped again that sees its job done again (a redelivered task) is not recorded
    twice (the history remembers the last 1,024 step waits it was told of, by their start on
    the wall clock, in memory only; a client given a clock records every such step).
    Once a kind has ``MIN_JOBS`` of them, waits of that kind poll around the time they
    usually end. When the latest jobs of a kind stop fitting its durations (it became slower
    or faster), the older ones are forgotten."""

    MAX_KINDS = 32
    MAX_DURATIONS = 32
    MAX_SECONDS = 1e6
    MAX_TEXT = 1 << 20  # loads() refuses a longer text (dumps() stays under 64 KB)
    MIN_JOBS = MIN_JOBS

    def __init__(self) -> None:
        self._lock = fork_safe_lock(self)  # (a lock held by another thread at a fork: free)
        self._kinds: OrderedDict[str, Deque[Record]] = OrderedDict()
        # when each record was made, on the clock of the step that made it (-inf for the
        # others: add(), loads(), wait(), wait_all()): a step plans from the records made
        # before its wait began (see _schedule's ``before``); and the last 2 * MAX_DURATIONS
        # records each kind let go (made, record, when: the stamp of the one that pushed it
        # out), for the steps of waits that began while they were held; in memory, not dumped
        self._made: Dict[str, Deque[float]] = {}
        self._gone: Dict[str, Deque[Tuple[float, Record, float]]] = {}
        self._prefix_fits: Dict[Tuple[str, Backoff, Tuple[Record, ...]], Optional[Schedule]] = {}
        # the version of each kind's records: a count of changes over the whole history, so
        # that a kind forgotten and fed again never meets a fit cached for its old records
        self._changes = 0
        self._versions: Dict[str, int] = {}
        self._fits: Dict[Tuple[str, Backoff], Tuple[int, Optional[Schedule]]] = {}
        self._source: Optional[DurationHistory] = None  # a _frozen() copy's history
        # the step waits whose end it was told of (their kind, start and seed: no job id), the
        # last _MAX_WAITS of them; in memory, not dumped (a loaded history knows none)
        self._waits: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, kind: str, seconds: float) -> None:
        """Record that a job of ``kind`` took ``seconds`` (ConfigurationError for a kind that
        is not a non-empty string, or seconds that are not a finite number >= 0)."""
        value = _seconds(seconds)
        self._record(check_kind(kind), value, value)

    def _record(self, kind: str, lo: float, hi: float, made: float = -math.inf) -> None:
        """Record a job of ``kind`` that ended after ``lo`` seconds and was seen done at
        ``hi`` (clipped to 0 <= lo <= hi <= MAX_SECONDS), ``made`` then (a step's clock)."""
        shown = kind_of_reply(kind)  # its first KIND_CHARS characters, valid Unicode
        record = _kept(lo, hi, self.MAX_SECONDS)
        if shown is None or record is None:
            return
        kind = shown
        with self._lock:
            # a copy fed is a history of its own: its versions no longer name its source's
            self._source = None
            records = self._kinds.pop(kind, None)
            made_at = self._made.get(kind)
            if records is None or made_at is None or len(made_at) != len(records):
                # (a kind loaded, new, or, after a fork amid a record, off by one: rebuilt)
                records = deque(records or (), maxlen=self.MAX_DURATIONS)
                made_at = deque([-math.inf] * len(records), maxlen=self.MAX_DURATIONS)
            gone = self._gone.setdefault(kind, deque(maxlen=2 * self.MAX_DURATIONS))
            if len(records) == self.MAX_DURATIONS:
                gone.append((made_at[0], records[0], made))
            records.append(record)
            made_at.append(made)
            start = regime(list(records))
            for _ in range(start):
                gone.append((made_at.popleft(), records.popleft(), made))
            self._kinds[kind] = records
            self._made[kind] = made_at
            self._changes += 1
            self._versions[kind] = self._changes
            self._trim()

    def _first_record(self, wait: Hashable) -> bool:
        """Whether the step wait ``wait`` (its kind, start and jitter seed) is told of its
        job's end for the first time, of the last _MAX_WAITS it was told of: a token stepped
        again (a redelivered task, a cron run that crashed before it kept the next token)
        that sees the job done again is no second job of its kind."""
        with self._lock:
            if wait in self._waits:
                return False
            self._waits[wait] = None
            if len(self._waits) > _MAX_WAITS:
                self._waits.popitem(last=False)
            return True

    def _trim(self) -> None:
        """Forget the least recently fed kinds beyond MAX_KINDS, their fits with them."""
        while len(self._kinds) > self.MAX_KINDS:
            forgotten, _ = self._kinds.popitem(last=False)
            self._versions.pop(forgotten, None)
            self._made.pop(forgotten, None)
            self._gone.pop(forgotten, None)
            for key in [key for key in self._fits if key[0] == forgotten]:
                del self._fits[key]
            for pkey in [pkey for pkey in self._prefix_fits if pkey[0] == forgotten]:
                del self._prefix_fits[pkey]

    def _frozen(self) -> "DurationHistory":
        """A copy of what the history holds now (its fits too), for a wait to plan from:
        jobs that end while it runs teach the waits that begin later, not this one. (Jobs
        started together end shortest first: planning from them would read the kind as
        shorter than it is.)"""
        copy = DurationHistory()
        with self._lock:
            copy._kinds = OrderedDict((kind, deque(records, maxlen=self.MAX_DURATIONS))
                                      for kind, records in self._kinds.items())
            copy._changes, copy._versions = self._changes, dict(self._versions)
            copy._fits = dict(self._fits)
        copy._source = self
        return copy

    def durations(self, kind: str) -> Tuple[float, ...]:
        """The recorded durations of ``kind`` (seconds to the poll that saw each job done),
        oldest first; empty for a kind never fed (and for what is no kind: no string)."""
        found: object = kind
        if not isinstance(found, str):
            return ()
        with self._lock:
            return tuple(hi for _, hi in self._kinds.get(kind, ()))

    def kinds(self) -> Tuple[str, ...]:
        """The kinds held, the least recently fed first."""
        with self._lock:
            return tuple(self._kinds)

    def _schedule(self, kind: str, backoff: Backoff,
                  before: Optional[float] = None) -> Optional[Schedule]:
        """The schedule fitted to ``kind``'s durations for waits on ``backoff`` (None while
        they are too few or say too little): a pure function of what the history holds;
        with ``before`` (a step's wait's start, on the clock of the steps), of the records it
        held then, as far as it still knows them (those made by then, and those let go since,
        of the last 2 * MAX_DURATIONS it let go). (A batch of jobs started together and stepped in
        one process ends shortest first: its steps plan from what was known when they began,
        as wait() and wait_all() do, not from the batch's own shortest jobs.)

        A fit is kept with the version of the records it was made from; a ``_frozen()`` copy
        also looks it up in, and gives it back to, the history it was copied from, so that
        the waits of a kind fit it once per change of its records, not once each."""
        with self._lock:
            records = self._kinds.get(kind)
            if records is None:
                return None
            known = None if before is None else self._known(kind, before)
            if known is not None:  # (fitted apart: it is no version of the kind's records)
                if len(known) < self.MIN_JOBS:
                    return None
                key = (kind, backoff, known)
                if key in self._prefix_fits:
                    return self._prefix_fits[key]
            else:
                if len(records) < self.MIN_JOBS:
                    return None
                version = self._versions[kind]
                cached = self._fits.get((kind, backoff))
                if cached is not None and cached[0] == version:
                    return cached[1]
                snapshot = list(records)
        if known is not None:
            fitted = fit(known, backoff)
            with self._lock:
                if len(self._prefix_fits) >= 4 * self.MAX_KINDS:
                    self._prefix_fits.clear()
                self._prefix_fits[key] = fitted
            return fitted
        source = self._source
        if source is not None:
            found = source._cached(kind, backoff, version)
            if found is not None:
                self._keep(kind, backoff, version, found[0])
                return found[0]
        fitted = fit(snapshot, backoff)
        self._keep(kind, backoff, version, fitted)
        if source is not None:
            source._keep(kind, backoff, version, fitted)
        return fitted

    def _known(self, kind: str, before: float) -> Optional[Tuple[Record, ...]]:
        """The records of ``kind`` held at ``before`` that it still knows (under the lock),
        when they are not just the records it holds now; else None."""
        records, made = self._kinds[kind], self._made.get(kind)
        if made is None or len(made) != len(records):
            return None  # (stamps not kept: loaded, or rebuilt at the next record)
        held = tuple(r for t, r, when in self._gone.get(kind, ()) if t <= before < when)
        if not held and (not made or max(made) <= before):
            return None
        return held + tuple(r for r, t in zip(records, made) if t <= before)

    def _cached(self, kind: str, backoff: Backoff,
                version: int) -> Optional[Tuple[Optional[Schedule]]]:
        """(the fit,) kept for ``kind``'s records of ``version`` on ``backoff``, else None."""
        with self._lock:
            cached = self._fits.get((kind, backoff))
            return (cached[1],) if cached is not None and cached[0] == version else None

    def _keep(self, kind: str, backoff: Backoff, version: int,
              fitted: Optional[Schedule]) -> None:
        """Keep the fit of ``kind``'s records of ``version``, if they still are its records."""
        with self._lock:
            if self._versions.get(kind) == version:
                if len(self._fits) >= 4 * self.MAX_KINDS:
                    self._fits.clear()
                self._fits[(kind, backoff)] = (version, fitted)

    def dumps(self) -> str:
        """The history as a JSON text (under 64 KB), for ``DurationHistory.loads``."""
        with self._lock:
            kinds = [[kind, [list(r) for r in records]] for kind, records in self._kinds.items()]
        return json.dumps({"format": _FORMAT, "version": _VERSION, "kinds": kinds},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, text: Union[str, bytes]) -> "DurationHistory":
        """A history from ``dumps()``'s text; ConfigurationError for text that is not one
        (or is longer than ``MAX_TEXT`` characters: no ``dumps()`` comes near it)."""
        if isinstance(text, (str, bytes, bytearray)) and len(text) > cls.MAX_TEXT:
            # (a damaged cache value: refused before it is parsed, not read for seconds)
            raise ConfigurationError(f"a garbled duration history (longer than {cls.MAX_TEXT} "
                                     "characters, which no DurationHistory.dumps() is)")
        if isinstance(text, (bytes, bytearray)):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigurationError("a garbled duration history (not UTF-8)") from None
        if not isinstance(text, str):
            raise ConfigurationError("a duration history is the text of DurationHistory.dumps(),"
                                     f" got {type(text).__name__}")
        try:
            data: Any = json.loads(text)
        except (ValueError, RecursionError):
            raise ConfigurationError("a garbled duration history (not JSON)") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigurationError("not a duration history (from DurationHistory.dumps())")
        version = data.get("version")
        if type(version) is not int or version < 1:
            raise ConfigurationError("a garbled duration history (no version)")
        if version > _VERSION:
            raise ConfigurationError(f"a duration history of version {version}, newer than "
                                     f"this genstatus_sync reads (version {_VERSION})")
        kinds = data.get("kinds")
        if not isinstance(kinds, list):
            raise ConfigurationError("a garbled duration history (no kinds)")
        history = cls()
        seen: Set[str] = set()
        for entry in kinds:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                    and entry[0] and isinstance(entry[1], list)):
                raise ConfigurationError("a garbled duration history (a kind is damaged)")
            kind, records = kind_of_reply(entry[0]) or "?", entry[1]
            if kind in seen:
                raise ConfigurationError("a garbled duration history (a kind twice)")
            seen.add(kind)
            queue: Deque[Record] = deque(maxlen=cls.MAX_DURATIONS)
            for record in records:
                if not (isinstance(record, list) and len(record) == 2
                        and all(_is_number(x) for x in record)
                        and 0 <= record[0] <= record[1] <= cls.MAX_SECONDS):
                    raise ConfigurationError("a garbled duration history (a duration is not "
                                             "a number of seconds)")
                kept = _kept(record[0], record[1], cls.MAX_SECONDS)
                if kept is not None:  # (always: checked finite just above)
                    queue.append(kept)
            history._kinds[kind] = queue
            history._changes += 1
            history._versions[kind] = history._changes
        history._trim()
        return history

    def __copy__(self) -> "DurationHistory":
        """A separate history with the same durations: ``loads(dumps())`` (what it remembers
        in memory only, the step waits it was told of, is not copied)."""
        return self.loads(self.dumps())

    def __deepcopy__(self, memo: Dict[int, Any]) -> "DurationHistory":
        return self.__copy__()

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        # pickled as its dumps() text (its lock cannot be): a history passed to another
        # process (multiprocessing, a task's argument) arrives as loads() would make it
        return type(self).loads, (self.dumps(),)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(records) for records in self._kinds.values())

    def __repr__(self) -> str:
        with self._lock:
            kinds, durations = len(self._kinds), sum(len(r) for r in self._kinds.values())
        return f"DurationHistory(kinds={kinds}, durations={durations})"


def _kept(lo: float, hi: float, most: float) -> Optional[Record]:
    """(lo, hi) as the history keeps it: clipped to 0 <= lo <= hi <= ``most``, to the
    millisecond (the planner reads nothing finer, and dumps() stays within its size); None
    for what is no number."""
    hi = min(max(float(hi), 0.0), most)
    lo = min(max(float(lo), 0.0), hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return round(lo, 3), round(hi, 3)


def _is_number(value: object) -> bool:
    """Whether ``value`` is an int or a float (not a bool) that is a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int past the largest float
        return False


def _seconds(value: object) -> float:
    if isinstance(value, int) and not isinstance(value, bool) and not _is_number(value):
        raise ConfigurationError(f"a duration must be a finite number of seconds >= 0, got an "
                                 f"int of {value.bit_length()} bits, too large for a float")
    if not _is_number(value) or value < 0:  # type: ignore[operator]
        raise ConfigurationError(f"a duration must be a finite number of seconds >= 0, "
                                 f"got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_history(history: object) -> Optional[DurationHistory]:
    """``history`` if it is a DurationHistory or None, else ConfigurationError."""
    if history is not None and not isinstance(history, DurationHistory):
        raise ConfigurationError(f"history must be a DurationHistory, got "
                                 f"{type(history).__name__}")
    return history
