"""Wait tokens: one job's wait state as a printable string, for waits that outlive a process.

A token is ``gs2.<length>.<base64url JSON>.<crc32>``: versioned, JSON inside (never pickle),
checked as a whole. It holds the provider, the job id and provider arguments, the wait's
start and deadline and the next poll's due time (seconds on the stepping client's clock:
wall time unless the client was given a clock), the poll count, the jitter seed, the job's
kind and what its progress said (whatever the plan needs besides the stepping client's
history), and the state, progress and queue position of the last status the wait read while
the job was not done (for the ``WaitTimeout`` of a later step). It never holds a key, a
header, a base URL, a reply's raw model, result URLs or error text. Version 1 tokens (without
kind or progress line) are still read; fields added since are optional (a token without them
reads as before, and an older version ignores them).
"""

import base64
import binascii
import json
import math
import re
import zlib
from typing import Any, Dict, List, Optional, Tuple

import attrs

from ._config import as_float, check_kind
from ._plan import Line
from ._wait import WaitState
from .errors import ConfigurationError
from .status import JobStatus, State

__all__ = ["Saved", "decode", "encode"]

VERSION = 2
_HEAD = re.compile(r"gs(\d{1,6})")
_PROVIDER = re.compile(r"[a-z0-9_]{1,40}")
# No real token is longer than this many characters, nor has a length field of more digits
# (its job id and arguments are at most 1024 characters each, 12 bytes each in its JSON). A
# longer one is not read: no length field is then an int too long to convert, no payload
# nests deep enough to exhaust the JSON reader in more than a moment.
MAX_CHARS = 1 << 18
_LENGTH_DIGITS = len(str(MAX_CHARS))
_TOO_LONG = f"a garbled wait token (longer than {MAX_CHARS} characters, which no wait token is)"
# Times (on the stepping client's clock) and counts beyond these are forged: arithmetic
# on them (a schedule's grid, a power of the backoff's multiplier) would overflow.
MAX_SECONDS = 1e18
MAX_COUNT = 1 << 53


@attrs.frozen
class Saved:
    """What a token carries: the job, its wait state, and when its next poll is due."""

    provider: str
    job_id: str
    args: Tuple[Tuple[str, str], ...]
    state: WaitState
    due: float
    done: bool = False  # the step that made it saw the job done


def encode(saved: Saved) -> str:
    """The token of ``saved``."""
    state = saved.state
    line = None if state.line is None else [
        state.line.first_at, state.line.first, state.line.exact, state.line.last_at,
        state.line.last, _finite(state.line.rate_low), _finite(state.line.rate_high),
        state.line.count]
    data = {"v": VERSION, "p": saved.provider, "j": saved.job_id,
            "a": [list(pair) for pair in saved.args], "s": state.started, "d": state.deadline,
            "r": state.seed, "n": state.polls, "k": state.kind, "sn": state.seen, "l": line,
            "m": state.misses, "ra": state.retry_after, "du": saved.due}
    if saved.done:  # (only then: the tokens of waits going on read as before, by any version)
        data["x"] = True
    last = _summary(state.last)
    if last is not None:  # (optional, as "x": a version before it reads the rest as ever)
        data["ls"] = last
    try:  # UTF-8 (an emoji 4 bytes, not the 12 of "\\ud83d\\ude00"); read by every version
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which no checked id or kind holds
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode()
    payload = base64.urlsafe_b64encode(text).decode().rstrip("=")
    return f"gs{VERSION}.{len(payload)}.{payload}.{zlib.crc32(payload.encode()):08x}"


def decode(token: object, provider: str) -> Saved:
    """The Saved state of a token for ``provider``; ConfigurationError saying what is wrong
    with a token that is not one, is truncated or garbled, is newer than this library reads,
    or is another provider's."""
    if isinstance(token, str) and len(token) <= MAX_CHARS + 8:
        # (a token read back from a file, or a line of a shell's output, ends in a newline)
        token = token.strip(" \t\r\n")
    if not isinstance(token, str) or not token.isascii() or not token.startswith("gs"):
        raise ConfigurationError("not a genstatus_sync wait token")
    if len(token) > MAX_CHARS:  # (checked before it is split: a huge one costs no copies)
        raise ConfigurationError(_TOO_LONG)
    parts = token.split(".")
    head = _HEAD.fullmatch(parts[0])
    if head is None:
        raise ConfigurationError("not a genstatus_sync wait token")
    version = int(head.group(1))
    if version > VERSION:
        raise ConfigurationError(f"a wait token of version {version}, newer than this "
                                 f"genstatus_sync reads (version {VERSION}): upgrade it")
    if version < 1:
        raise ConfigurationError(f"a wait token of unknown version {version}")
    if len(parts) != 4 or not parts[1].isdigit() or len(parts[3]) != 8:
        if len(parts) < 4 or len(parts[3]) < 8:
            raise ConfigurationError("a truncated wait token (part of it is missing)")
        raise ConfigurationError("a garbled wait token (its layout is damaged)")
    if len(parts[1]) > _LENGTH_DIGITS:
        raise ConfigurationError(_TOO_LONG)
    if len(parts[2]) < int(parts[1]):
        raise ConfigurationError("a truncated wait token (part of it is missing)")
    if len(parts[2]) != int(parts[1]) or f"{zlib.crc32(parts[2].encode()):08x}" != parts[3]:
        raise ConfigurationError("a garbled wait token (its checksum does not match)")
    try:
        raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):  # RecursionError: nested too deep
        raise ConfigurationError("a garbled wait token (its content is not readable)") from None
    if not isinstance(data, dict) or data.get("v") != version:
        raise ConfigurationError("a garbled wait token (its version does not match)")
    saved = _read(data)
    if not _PROVIDER.fullmatch(saved.provider):
        raise ConfigurationError("a garbled wait token (its provider is no provider's name)")
    if saved.provider != provider:
        raise ConfigurationError(f"a wait token of a {saved.provider} job, given to a "
                                 f"{provider} client")
    return saved


_FIELDS: Dict[str, Tuple[type, ...]] = {
    "p": (str,), "j": (str,), "a": (list,), "s": (float, int), "d": (float, int, type(None)),
    "r": (int,), "n": (int,), "ra": (float, int, type(None)), "du": (float, int)}
_FIELDS_1 = {**_FIELDS, "pp": (float, int, type(None)), "pa": (bool,)}
_FIELDS_2 = {**_FIELDS, "k": (str, type(None)), "sn": (float, int), "l": (list, type(None)),
             "m": (int,)}


def _read(data: Any) -> Saved:
    version = data.get("v") if isinstance(data, dict) else None
    fields = {1: _FIELDS_1, 2: _FIELDS_2}.get(version) if type(version) is int else None
    if fields is None or any(name not in data or type(data[name]) not in types
                             for name, types in fields.items()):
        raise ConfigurationError("a garbled wait token (a field is missing or of the wrong type)")
    args = data["a"]
    if not all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
               for pair in args) or not 0 <= data["n"] < MAX_COUNT or not 0 <= data["r"] < 1 << 64:
        raise ConfigurationError("a garbled wait token (a field has an impossible value)")
    started, due = _time(data["s"]), _time(data["du"])
    retry_after = None if data["ra"] is None else _time(data["ra"])
    if started is None or due is None or (data["ra"] is not None and not (
            retry_after is not None and retry_after >= 0)):
        raise ConfigurationError("a garbled wait token (a time in it is not a finite number "
                                 f"of seconds, at most {MAX_SECONDS:g})")
    deadline = None if data["d"] is None else as_float(data["d"])
    if data["d"] is not None and not (deadline is not None and deadline >= started):
        # NaN would be a deadline that never passes; +inf is a wait without end (timeout=inf)
        raise ConfigurationError("a garbled wait token (its deadline is not a number of "
                                 "seconds from its start)")
    state = WaitState(started=started, deadline=deadline, seed=data["r"], polls=data["n"],
                      retry_after=retry_after)
    if version == 2:
        kind, line, seen = data["k"], data["l"], _time(data["sn"])
        if (kind is not None and not _is_kind(kind)) or not 0 <= data["m"] < MAX_COUNT or (
                line is not None and not _is_line(line)) or seen is None:
            raise ConfigurationError("a garbled wait token (a field has an impossible value)")
        state = attrs.evolve(state, kind=kind, seen=seen, misses=data["m"],
                             line=None if line is None else _line(line))
    done = data.get("x", False)
    if type(done) is not bool:
        raise ConfigurationError("a garbled wait token (a field has an impossible value)")
    if data.get("ls") is not None:
        state = attrs.evolve(state, last=_last(data["ls"], data["p"], data["j"]))
    return Saved(provider=data["p"], job_id=data["j"], args=tuple(tuple(p) for p in args),
                 state=state, due=due, done=done)


_NOT_DONE = {state.value: state for state in State
             if state not in (State.SUCCEEDED, State.FAILED)}


def _summary(last: object) -> Optional[List[Any]]:
    """What a token keeps of the last status a wait read: ``[state, progress, queue
    position]`` (trailing nulls left out), or None when there is none or it was done. Nothing
    else of it (its raw model, result URLs, error text). Its progress is kept to the
    thousandth of a percent (a float's 17 digits would take a token of ids of 99 characters
    past 1 KB); one that is no percentage, or a queue position that is no position (of a
    size a token can hold), is kept as null."""
    if not isinstance(last, JobStatus) or last.done:
        return None
    progress, position = last.progress, last.queue_position
    fields: List[Any] = [last.state.value,
                         round(progress, 3) if progress is not None and _is_progress(progress)
                         else None, position if _is_position(position) else None]
    while fields[-1] is None:
        fields.pop()
    return fields


def _last(fields: object, provider: str, job_id: str) -> JobStatus:
    """The JobStatus rebuilt from the fields ``_summary`` wrote (``raw`` None);
    ConfigurationError for fields it never writes."""
    items = fields if isinstance(fields, list) and 1 <= len(fields) <= 3 else [None]
    name, progress, position = (items + [None, None])[:3]
    state = _NOT_DONE.get(name) if isinstance(name, str) else None
    if state is None or not (progress is None or _is_progress(progress)) or not (
            position is None or _is_position(position)):
        raise ConfigurationError("a garbled wait token (its last status is not a state that "
                                 "is not done, a progress of 0-100 and a queue position)")
    return JobStatus(provider=provider, job_id=job_id, state=state, progress=progress,
                     queue_position=position)


def _is_progress(value: object) -> bool:
    """Whether ``value`` is a progress as JobStatus holds it: a number (no bool) of 0-100."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= value <= 100)


def _is_position(value: object) -> bool:
    """Whether ``value`` is a queue position a token holds: an int (no bool) of 0 to
    MAX_COUNT (a provider's of 10**400 would be a token of 400 more characters)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_COUNT


def _is_kind(kind: str) -> bool:
    try:
        check_kind(kind)
    except ConfigurationError:
        return False
    return True


def _is_line(line: List[Any]) -> bool:
    """Whether ``line`` holds a Line's fields as ``encode`` writes them, of values a Line can
    reach: finite times and progress, the first observation not after the last, the lowest
    rate not above the highest (None: unbounded), a count from 1 (so that no division by
    zero or overflow follows)."""
    if not (len(line) == 8 and type(line[2]) is bool and type(line[7]) is int
            and all(type(x) in (float, int) for x in (line[0], line[1], line[3], line[4]))
            and all(x is None or type(x) in (float, int) for x in line[5:7])):
        return False
    first_at, first, last_at, last = (_time(x) for x in (line[0], line[1], line[3], line[4]))
    low, high = (None if x is None else _time(x) for x in line[5:7])
    return (first_at is not None and first is not None and last_at is not None
            and last is not None and first_at <= last_at
            and (line[5] is None or low is not None) and (line[6] is None or high is not None)
            and (low is None or high is None or low <= high) and 1 <= line[7] < MAX_COUNT)


def _line(line: List[Any]) -> Line:
    """The Line of fields that ``_is_line`` accepted."""
    return Line(float(line[0]), float(line[1]), line[2], float(line[3]), float(line[4]),
                _bound(line[5], -math.inf), _bound(line[6], math.inf), line[7])


def _time(value: object) -> Optional[float]:
    """``value`` as a float if it is a finite number of at most MAX_SECONDS either way."""
    number = as_float(value)
    return number if number is not None and abs(number) <= MAX_SECONDS else None


def _finite(value: float) -> Optional[float]:
    return value if math.isfinite(value) else None


def _bound(value: Optional[float], default: float) -> float:
    return default if value is None else float(value)

