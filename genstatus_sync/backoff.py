"""Backoff: a small frozen value that yields the delays between polls."""

import inspect
import math
import random
from typing import Callable, Iterator, Optional, TypeVar

import attrs

from ._config import check_number
from .errors import ConfigurationError

__all__ = ["Backoff"]


@attrs.frozen
class Backoff:
    """Delays that grow geometrically to a cap, each jittered so that waiters spread out.

    ``delays()`` yields ``first_delay``, then ``initial``, ``initial * multiplier``, ...
    capped at ``max_interval``; each is multiplied by a random factor in
    ``[1 - jitter, 1 + jitter]``. ``min_interval`` is the shortest time between two polls of
    a wait: no sleep after the first is shorter, whatever plans it (jitter, a schedule learned
    from past durations, the end progress predicts); only the deadline's last poll may come
    sooner, and a ``max_interval`` below it wins (a backoff scaled down stays quick). Raises
    ConfigurationError for values that make no sense.
    """

    first_delay: float = 0.0
    initial: float = 1.0
    multiplier: float = 1.5
    max_interval: float = 30.0
    jitter: float = 0.1
    min_interval: float = 0.0

    def __attrs_post_init__(self) -> None:
        for name in ("first_delay", "initial", "multiplier", "max_interval", "jitter",
                     "min_interval"):
            check_number(getattr(self, name), f"Backoff.{name} must be a number from 0 to 86400 "
                         "(a day)", maximum=86400.0)
        if self.initial <= 0 or self.max_interval <= 0:
            raise ConfigurationError("Backoff.initial and Backoff.max_interval must be > 0")
        if self.multiplier < 1:
            raise ConfigurationError("Backoff.multiplier must be >= 1")
        if self.jitter >= 1:
            raise ConfigurationError("Backoff.jitter must be < 1")

    def delay(self, n: int, draw: float = 0.5) -> float:
        """The ``n``-th sleep (0: ``first_delay``), jittered by ``draw`` in [0, 1): 0.5 is no
        jitter; no shorter than ``min_interval`` after the first. A pure function, so that a
        schedule can be replayed from its position. A bad ``n`` or ``draw`` is a
        ConfigurationError."""
        if type(n) is not int or n < 0:  # (bool and float are no position; int subclasses
            n = _position(n)              # such as numpy's are checked the slow way)
        if not (isinstance(draw, (int, float)) and 0.0 <= draw < 1.0):  # (NaN too)
            raise ConfigurationError(f"Backoff.delay's draw must be in [0, 1), got {draw!r:.40}")
        if n == 0:
            return self.first_delay * (1 + self.jitter * (2 * draw - 1))
        # initial * multiplier**(n-1), capped; the power is capped first (in log space: the
        # ratio of a tiny initial to the cap is no float) and cannot overflow past the cap
        steps = n - 1
        if self.multiplier > 1:
            growth = math.log(self.max_interval) - math.log(self.initial)
            steps = min(steps, math.ceil(growth / math.log(self.multiplier)) + 1)
        try:
            base = min(self.initial * self.multiplier ** max(steps, 0), self.max_interval)
        except OverflowError:  # only past the cap
            base = self.max_interval
        return max(self.shortest, base * (1 + self.jitter * (2 * draw - 1)))

    @property
    def shortest(self) -> float:
        """The shortest sleep between two polls: ``min_interval``, or ``max_interval`` when
        that is lower."""
        return min(self.min_interval, self.max_interval)

    def delays(self, rng: Optional[random.Random] = None) -> Iterator[float]:
        """Yield the successive sleeps, forever (``rng`` makes the jitter reproducible: a
        ``random.Random``, or anything with its ``random()``; else ConfigurationError)."""
        draw = getattr(random if rng is None else rng, "random", None)
        given: object = rng  # (typed as a Random; any object may come)
        if not callable(draw) or (isinstance(given, type) and not isinstance(
                inspect.getattr_static(given, "random", None), (staticmethod, classmethod))):
            # (random.Random itself, not one: its random() needs an instance)
            raise ConfigurationError("Backoff.delays' rng must be a random.Random (or have "
                                     f"its random()), got {type(rng).__name__}")
        return self._delays(draw)

    def _delays(self, draw: Callable[[], float]) -> Iterator[float]:
        n = 0
        while True:
            yield self.delay(n, draw())
            n += 1


B = TypeVar("B", Backoff, Optional[Backoff])


def _position(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigurationError(f"Backoff.delay's n must be an int >= 0, got {n!r:.40}")
    return int(n)


def check_backoff(backoff: B, *, optional: bool = True) -> B:
    """``backoff`` when it is a Backoff (or, ``optional``, None); else ConfigurationError."""
    if not isinstance(backoff, Backoff) and not (optional and backoff is None):
        raise ConfigurationError(f"backoff must be a Backoff, got {type(backoff).__name__}")
    return backoff
