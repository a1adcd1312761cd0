"""The normalized status every provider's reply is read into."""

import enum
from typing import Any, Dict, Optional, Tuple

import attrs

__all__ = ["JobStatus", "State"]


class State(enum.Enum):
    """Where a job is in its life, the same for every provider."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


def percent(value: Optional[float]) -> Optional[float]:
    """A provider's progress as ``JobStatus.progress`` holds it: a number from 0 to 100, or
    None. A value outside 0-100 (-5, 250) is no percentage and says nothing about how far the
    job is, so it is not passed on, nor clamped into a false 0 or 100 (the model in ``raw``
    keeps it as sent); NaN, which the JSON decoder refuses already, would be None too."""
    if value is None or not 0 <= value <= 100:
        return None
    return value


@attrs.frozen
class JobStatus:
    """One provider reply, normalized. ``raw`` is the generated model it was read from."""

    provider: str
    job_id: str
    state: State
    progress: Optional[float] = None
    queue_position: Optional[int] = None
    result_urls: Tuple[str, ...] = ()
    error: Optional[str] = None
    raw: object = attrs.field(default=None, repr=False, eq=False)

    @property
    def done(self) -> bool:
        """Whether the job has finished: SUCCEEDED or FAILED."""
        return self.state is State.SUCCEEDED or self.state is State.FAILED

    def to_dict(self) -> Dict[str, Any]:
        """Return the status as a JSON-ready dict (without ``raw``); ``state`` is lower-case."""
        return {
            "provider": self.provider,
            "job_id": self.job_id,
            "state": self.state.value,
            "progress": self.progress,
            "queue_position": self.queue_position,
            "result_urls": list(self.result_urls),
            "error": self.error,
        }
