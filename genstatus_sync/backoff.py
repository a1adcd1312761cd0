"""Backoff: a small frozen value that yields the delays between polls."""

import math
import random
from typing import Iterator, Optional

import attrs

from .errors import ConfigurationError

__all__ = ["Backoff"]


@attrs.frozen
class Backoff:
    """Delays that grow geometrically to a cap, each jittered so that waiters spread out.

    ``delays()`` yields ``first_delay``, then ``initial``, ``initial * multiplier``, ...
    capped at ``max_interval``; each is multiplied by a random factor in
    ``[1 - jitter, 1 + jitter]``. Raises ConfigurationError for values that make no sense.
    """

    first_delay: float = 0.0
    initial: float = 1.0
    multiplier: float = 1.5
    max_interval: float = 30.0
    jitter: float = 0.1

    def __attrs_post_init__(self) -> None:
        for name in ("first_delay", "initial", "multiplier", "max_interval", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigurationError(f"Backoff.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"Backoff.{name} must be finite and >= 0, got {value!r}")
        if self.initial <= 0:
            raise ConfigurationError("Backoff.initial must be > 0")
        if self.multiplier < 1:
            raise ConfigurationError("Backoff.multiplier must be >= 1")
        if self.max_interval < self.initial:
            raise ConfigurationError("Backoff.max_interval must be >= initial")
        if self.jitter >= 1:
            raise ConfigurationError("Backoff.jitter must be < 1")

    def delays(self, rng: Optional[random.Random] = None) -> Iterator[float]:
        """Yield the successive sleeps, forever (``rng`` makes the jitter reproducible)."""
        uniform = (rng or random).uniform
        low, high = 1 - self.jitter, 1 + self.jitter
        yield self.first_delay * uniform(low, high)
        delay = self.initial
        while True:
            yield min(delay, self.max_interval) * uniform(low, high)
            delay = min(delay * self.multiplier, self.max_interval)
