"""Retries outside a wait, and reading the server's Retry-After.

Which failures are worth another try is decided by ``errors.is_transient`` alone. Inside a
wait the wait's schedule is the retry; outside one, ``call`` retries a transient failure up to
``max_retries`` times: 0.5 s doubling to 8 s, jittered, or the server's Retry-After when it is
longer and at most 120 s (a longer or unusable one is raised at once).
"""

import logging
import math
import random
import re
import time
from email.utils import parsedate_to_datetime
from typing import Callable, Optional, Tuple, TypeVar

from .errors import APIError, GenStatusError, is_transient

__all__ = ["call", "parse_retry_after", "read_retry_after"]

logger = logging.getLogger("genstatus_sync")

T = TypeVar("T")
MAX_RETRY_AFTER_SLEPT = 120.0  # outside a wait, a longer Retry-After is raised, not slept on
MAX_RETRY_AFTER = 86400.0  # beyond a day a Retry-After is unusable
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After value (seconds or an HTTP date; a date in the past is
    0), or None when it is absent or unusable (unparsable, not finite, more than a day)."""
    return read_retry_after(value, now)[0]


def read_retry_after(value: Optional[str], now: Optional[float] = None
                     ) -> Tuple[Optional[float], Optional[float]]:
    """A Retry-After value read once: ``parse_retry_after``'s seconds, and how long it asks to
    hold back (the same, but more than a day is a day: a server that says "not for a week" is
    not to be polled at once); both None when it is absent or unparsable."""
    seconds = _seconds(value, now)
    if seconds is None:
        return None, None
    return (None if seconds > MAX_RETRY_AFTER else seconds), min(seconds, MAX_RETRY_AFTER)


def _seconds(value: Optional[str], now: Optional[float]) -> Optional[float]:
    if not value:
        return None
    value = value.strip()
    if value.startswith("-") and _SECONDS.fullmatch(value[1:]):
        return 0.0
    if _SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return None
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)  # (an infinite one is more than a day)


def retry_delay(exc: GenStatusError, attempt: int) -> Optional[float]:
    """The sleep before try ``attempt + 2`` after ``exc``, or None when ``exc`` is final."""
    if not is_transient(exc):
        return None
    delay = min(8.0, 0.5 * 2.0**attempt) * random.uniform(0.9, 1.1)
    if isinstance(exc, APIError) and exc._retry_after_sent:
        suggested: Optional[float] = exc.retry_after
        if suggested is None or suggested > MAX_RETRY_AFTER_SLEPT:
            return None
        delay = max(delay, suggested)
    return delay


def call(request: Callable[[], T], *, max_retries: int, sleep: Callable[[float], None],
         provider: str) -> T:
    """``request()``, tried again after transient failures, at most ``max_retries`` times."""
    attempt = 0
    while True:
        try:
            return request()
        except GenStatusError as exc:
            delay = retry_delay(exc, attempt) if attempt < max_retries else None
            if delay is None:
                raise
            logger.debug("%s: retrying in %.2fs after %s", provider, delay, type(exc).__name__)
        sleep(delay)
        attempt += 1
