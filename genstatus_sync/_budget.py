"""One request budget per client, shared by every call and thread: ``max_rate``, and what
429s teach. A 429's Retry-After (up to two minutes) holds back every request of the client,
not only the one that met it: the limit is the account's.

The budget is a virtual schedule (GCRA): each request reserves the next free slot of
``1 / rate`` seconds, up to ``burst`` of them at once, so that in any sliding second at most
``rate + burst`` requests go out (``burst = min(5, rate)``, at least one request; one at a
rate a 429 taught, which a burst would exceed). A request that would go early waits its
turn; one whose turn would come past the time it has left is not sent (the caller treats
that as a transient failure).

A 429 lowers the rate whatever ``max_rate`` says: to a little under the rate the provider
accepted over the last second (when it accepted at least two), multiplicatively, at most once
a second (the requests in flight meet the same limit); each second without a 429 then adds
back 1 % of it (at least 0.1 request per second), so a provider's limit, once found, is kept
with a 429 every few seconds at most, and ``max_rate`` is reached again in time (with no
``max_rate``: no limit of ours, after two minutes without a 429).
The lowered rate holds at once for the requests already waiting for their turn too: their
turns are stretched from the moment of the decrease (by the rate the provider accepted over
the new rate), as if they had been reserved at the new rate; those that waited with no rate
known reserve anew.

A scheduler with other work (``wait_all``) does not let a client's requests queue for turns
far ahead: ``take`` reserves a turn only when it comes within ``ahead`` seconds (the client's
next request then waits for that turn, and no other); otherwise it says how long until one
would come, and the scheduler polls the jobs of other clients meanwhile.
"""

import math
from collections import deque
from typing import Callable, Deque, Optional, Tuple

from ._locks import abandoned, fork_safe_lock, pause

__all__ = ["RateBudget"]

_DECREASE = 0.95  # the new rate, as a share of what the provider accepted over the last second
_RECOVERY = 0.01  # added back each second without a 429, as a share of the lowered rate
_MIN_RECOVERY = 0.1  # requests per second added back each second, at least
_FORGET = 120.0  # with no max_rate, a learned rate is dropped after this long without a 429
_HOLD = 1.0  # seconds after a decrease during which further 429s lower nothing
_MAX_PAUSE = 120.0  # the longest Retry-After that holds back the whole client
_KEPT = 64  # decreases remembered for the turns still waiting (one a second at most)


class RateBudget:
    """The budget of one client: ``max_rate`` requests per second (None: none of ours)."""

    def __init__(self, max_rate: Optional[float]) -> None:
        self.max_rate = max_rate
        self._lock = fork_safe_lock(self)  # (a lock held by another thread at a fork: free)
        self._tat = -math.inf  # the theoretical arrival time of the next request
        self._learned: Optional[float] = None  # the rate a 429 taught, when it did
        self._learned_at = -math.inf
        self._accepted: Deque[float] = deque()  # times of replies that were not 429
        self._paused_until = -math.inf  # a 429's Retry-After holds every request back
        self._decreases = 0  # how many times a 429 lowered the rate
        # (count, when, old rate / new rate or None when there was none) of the last ones
        self._stretches: Deque[Tuple[int, float, Optional[float]]] = deque(maxlen=_KEPT)
        # turns reserved by take() that no request has used yet: (when, decreases seen then)
        self._kept: Deque[Tuple[float, int]] = deque()

    def rate(self, now: float) -> Optional[float]:
        """Requests per second allowed at ``now`` (None: no limit)."""
        limit = self.max_rate
        if self._learned is not None:
            step = max(_RECOVERY * self._learned, _MIN_RECOVERY)
            learned = self._learned + step * max(0.0, now - self._learned_at)
            if limit is None and now - self._learned_at >= _FORGET:
                self._learned = None  # two minutes without a 429: no limit of ours again
                return None
            if limit is None or learned < limit:
                return learned
            self._learned = None  # recovered to max_rate
        return limit

    def reserve(self, now: float, max_wait: Optional[float] = None) -> Optional[float]:
        """Seconds to wait before sending (0: now), the slot reserved; or None, nothing
        reserved, when the turn would come more than ``max_wait`` seconds from now."""
        with self._lock:
            return self._reserve(now, max_wait)

    def take(self, now: float, ahead: float = 0.0) -> float:
        """0.0 when the next turn comes within ``ahead`` seconds: it is reserved, kept for the
        client's next request (which waits for it); else the seconds until it would come,
        nothing reserved."""
        if self.max_rate is None and self._learned is None and now >= self._paused_until:
            return 0.0
        with self._lock:
            delay, tat, interval = self._turn(now)
            if delay > ahead:
                return delay
            if interval:
                self._tat = tat + interval
            self._kept.append((now + delay, self._decreases))
            return 0.0

    def _turn(self, now: float) -> Tuple[float, float, float]:
        """(seconds until the next turn, its theoretical arrival time, the interval) at the
        rate allowed now; the interval is 0 when there is no rate."""
        rate = self.rate(now)
        start = max(now, self._paused_until)
        if rate is None:
            return start - now, start, 0.0
        interval = 1.0 / rate
        # a burst for max_rate's sake; none at a rate a 429 taught (a burst would exceed it)
        burst = 1 if self._learned is not None else max(1, math.floor(min(5.0, rate)))
        tat = max(self._tat, start)
        tolerance = (burst - 1) * interval
        return max(start - now, tat - tolerance - now), tat, interval

    def _reserve(self, now: float, max_wait: Optional[float]) -> Optional[float]:
        delay, tat, interval = self._turn(now)
        if max_wait is not None and delay > max_wait:
            return None
        if interval:
            self._tat = tat + interval
        return delay

    def wait_turn(self, clock: Callable[[], float], sleep: Callable[[float], None],
                  max_wait: Optional[float] = None) -> bool:
        """Wait (with ``sleep``) for this request's turn; False when it would come later than
        ``max_wait`` seconds from now (nothing reserved; or, when a 429 pushed the turn
        past it while waiting, nothing sent)."""
        now = clock()
        if self.max_rate is None and self._learned is None and now >= self._paused_until:
            return True
        end = None if max_wait is None else now + max_wait
        with self._lock:
            if self._kept:  # a turn take() reserved: this request waits for it
                turn, seen = self._kept.popleft()
                delay: Optional[float] = max(0.0, turn - now)
                if max_wait is not None and turn - now > max_wait:
                    return False
            else:
                delay, seen = self._reserve(now, max_wait), self._decreases
        while delay is not None and delay > 0:
            if abandoned():  # its call has ended: the turn is used up, the request not sent
                return True
            turn = now + delay
            pause(sleep, delay)
            with self._lock:
                if seen == self._decreases:
                    return True
                now = clock()
                moved = self._stretched(turn, seen)
                seen = self._decreases
                if moved is None:  # waited with no rate known: a turn at the rate now known
                    delay = self._reserve(now, None if end is None else end - now)
                else:
                    delay = moved - now
                    if end is not None and moved > end:
                        return False
        return delay is not None

    def _stretched(self, turn: float, seen: int) -> Optional[float]:
        """``turn``, reserved after ``seen`` decreases, moved as the later ones moved every
        waiting turn; None when one of them found no rate to stretch."""
        for count, when, factor in self._stretches:
            if count > seen and turn > when:
                if factor is None:
                    return None
                turn = when + (turn - when) * factor
        return turn

    def held(self, now: float) -> float:
        """The seconds a 429's Retry-After still holds every request back (0.0: none)."""
        return max(0.0, self._paused_until - now)

    def record(self, now: float, status: int, retry_after: Optional[float] = None) -> None:
        """Learn from a reply's status: a 429 lowers the rate (and its Retry-After, up to
        two minutes, holds every request back), anything else counts as accepted."""
        with self._lock:
            accepted = self._accepted
            while accepted and accepted[0] <= now - 1.0:
                accepted.popleft()
            if status != 429:
                accepted.append(now)
                return
            if retry_after is not None:
                self._paused_until = max(self._paused_until, now + min(retry_after, _MAX_PAUSE))
            if now - self._learned_at < _HOLD or len(accepted) < 2:
                return  # (a 429 met while sending next to nothing teaches no rate)
            current = self.rate(now)
            seen = float(len(accepted))
            base = seen if current is None else min(current, seen)
            lowered = _DECREASE * base
            self._learned, self._learned_at = max(lowered, 0.1), now
            # The turns already given out (and so the next one) move to the new rate. The
            # first of them were given out a while ago, at about the rate the provider just
            # saw accepted (the rate may have grown since): that rate is what is stretched.
            new = self.rate(now)
            factor = None if current is None or new is None else base / new
            self._tat = max(self._tat, now)
            if factor is not None:
                self._tat = now + (self._tat - now) * max(1.0, factor)
            self._decreases += 1
            self._stretches.append((self._decreases, now, factor))
