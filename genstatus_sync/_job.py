"""Job handles: one job of one client, the unit that ``wait`` and ``wait_all`` poll.

A handle satisfies the wait code's ``Pollable`` protocol; the wait code never sees a
client. The client side it needs is the small ``_PollingClient`` protocol below.
"""

from typing import Any, Callable, Optional, Tuple

import attrs

from ._wait import begin, job_seed, run_wait
from .backoff import Backoff
from .errors import ConfigurationError, GenerationFailed
from .status import JobStatus, State

try:
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment]

__all__ = ["Args", "Job"]

Args = Tuple[Tuple[str, str], ...]  # provider arguments, as (name, value) pairs


class _PollingClient(Protocol):
    @property
    def provider(self) -> str: ...  # pragma: no cover

    @property
    def backoff(self) -> Backoff: ...  # pragma: no cover

    @property
    def _sleep(self) -> Callable[[float], None]: ...  # pragma: no cover

    @property
    def _clock(self) -> Callable[[], float]: ...  # pragma: no cover

    def _poll(self, job_id: Any, args: Args) -> JobStatus: ...  # pragma: no cover

    def _wait_poll(self, job_id: str, args: Args,
                   seconds: Optional[float]) -> JobStatus: ...  # pragma: no cover


@attrs.frozen(repr=False)
class Job:
    """One job: the client that reads it, its id and its provider arguments (Sivi's
    ``abstract_user_id``). Made by ``client.job(job_id, ...)``; frozen and hashable."""

    client: _PollingClient
    job_id: str
    args: Args = ()

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self.client.provider

    @property
    def backoff(self) -> Backoff:
        """The client's default Backoff, which wait_all follows for this job."""
        return self.client.backoff

    def poll(self) -> JobStatus:
        """One request (retried as the client's ``poll``): the normalized JobStatus."""
        return self.client._poll(self.job_id, self.args)

    def poll_within(self, seconds: Optional[float]) -> JobStatus:
        """One poll of a wait, without retries; every request ends within ``seconds``."""
        return self.client._wait_poll(self.job_id, self.args, seconds)

    def wait(self, *, timeout: Optional[float] = 600.0, backoff: Optional[Backoff] = None,
             on_update: Optional[Callable[[JobStatus], None]] = None,
             raise_on_failure: bool = True) -> JobStatus:
        """As ``client.wait`` for this job."""
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ConfigurationError(f"backoff must be a Backoff, got {type(backoff).__name__}")
        client = self.client
        state = begin(client._clock, timeout, job_seed(self.provider, self.job_id))
        status = run_wait(self.poll_within, _done, state, backoff=backoff or client.backoff,
                          on_update=on_update, sleep=client._sleep, clock=client._clock)
        if raise_on_failure and status.state is State.FAILED:
            raise GenerationFailed(status)
        return status

    def __repr__(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value in self.args)
        return f"Job({self.provider!r}, {self.job_id!r}{extra})"


def _done(status: JobStatus) -> bool:
    return status.done
