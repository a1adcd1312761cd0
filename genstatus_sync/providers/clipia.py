"""Clipia: ``GET /v1/requests/{id}/status`` and the result at ``GET /v1/requests/{id}``
(202 until it is ready), with ``Authorization: Key <key>``."""

from typing import Any, Dict, Iterator, Optional

import attrs

from .._config import Args, check_job_id, encode_segment
from .._convert import structure
from .._http import BaseClient
from ..backoff import Backoff
from ..errors import APIError, ResponseFormatError, ResultNotReady, is_transient
from ..models.clipia import RequestResult, RequestStatus, RequestStatusValue
from ..status import JobStatus, State, percent

__all__ = ["ClipiaClient"]

_STATES = {
    RequestStatusValue.in_queue: State.QUEUED,
    RequestStatusValue.in_progress: State.RUNNING,
    RequestStatusValue.completed: State.SUCCEEDED,
    RequestStatusValue.failed: State.FAILED,
    RequestStatusValue.error: State.FAILED,
    RequestStatusValue.cancelled: State.FAILED,
}


def output_urls(node: Any) -> Iterator[str]:
    """Every string under a key named ``url``, anywhere in ``node``, in document order."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in reversed(list(item.items())):
                if key == "url" and isinstance(value, str):
                    stack.append(_Url(value))
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, _Url):
            yield str(item)


class _Url(str):
    """A string found under a ``url`` key (other strings are not URLs to return)."""


def failure_reason(error: Any) -> Optional[str]:
    """A result's (or push's) ``error`` as text: a string as is, an object's ``message``
    when that is a string; anything else says nothing."""
    if isinstance(error, str):
        return error or None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"]) or None
    return None


_NO_TIME = 0.001  # seconds: a request with less left is not sent (see BaseClient._get)
_NOT_READY = frozenset({202})


class ClipiaClient(BaseClient[RequestStatus, str]):
    """Reads Clipia generation requests. ``get_status`` returns ``models.clipia.RequestStatus``;
    ``wait`` fetches the result once the request is terminal (``JobStatus.raw`` is then
    a ``models.clipia.RequestResult``)."""

    provider = "clipia"
    env_prefix = "CLIPIA"
    default_base_url = "https://api.clipia.ai"
    # No guidance in the document; it reports progress, which the wait schedule uses.
    # Sandbox (clipia_test_) requests complete at once, so the first poll is immediate;
    # then exponential from 2 s, ratio 1.3, cap 30 s (benchmarks/polling_economy.py).
    default_backoff = Backoff(first_delay=0.0, initial=2.0, multiplier=1.3, max_interval=30.0)

    def _auth_headers(self, key: str) -> Dict[str, str]:
        # The document's text defines the Key scheme; its curl lines show Bearer.
        return {"Authorization": f"Key {key}"}

    def _fetch(self, job_id: str, args: Args, seconds: Optional[float]) -> RequestStatus:
        _, data = self._get(f"/v1/requests/{encode_segment(job_id)}/status", seconds=seconds)
        return structure(data, RequestStatus, provider=self.provider)

    def get_result(self, request_id: str) -> RequestResult:
        """Return the final result; raises ResultNotReady (HTTP 202) while it still runs."""
        checked = check_job_id(request_id)
        return self._retrying(lambda: self._result(checked, None))

    def _result(self, request_id: str, seconds: Optional[float]) -> RequestResult:
        # a 202's body is not read: the document gives none (and a 202 usually has none)
        try:
            status, data = self._get(f"/v1/requests/{encode_segment(request_id)}",
                                     seconds=seconds, unread=_NOT_READY)
        except APIError as error:
            self._name_job(error, request_id)
            raise
        if status == 202:
            raise ResultNotReady(f"clipia request {request_id!r} is not finished yet")
        return structure(data, RequestResult, provider=self.provider)

    def _complete(self, status: JobStatus, job_id: str, end: Optional[float]) -> JobStatus:
        if not status.done:
            return status
        left = None if end is None else end - self._clock()
        if left is not None and left <= _NO_TIME:
            # The status reply took the wait's last moment: the result is not fetched, and the
            # wait ends (WaitTimeout) with this status as its last, read as still running.
            return attrs.evolve(status, state=State.RUNNING)
        if status.state is not State.SUCCEEDED:
            # A failed request's result adds only its reason: the outcome is known without
            # it, so a result not ready, refused (a key without the scope) or unreadable
            # leaves the failed status as it is (a transient failure is retried as ever).
            try:
                result = self._result(job_id, left)
            except (ResultNotReady, APIError, ResponseFormatError) as exc:
                if is_transient(exc):
                    raise
                return status
        else:
            try:
                result = self._result(job_id, left)
            except ResultNotReady:
                return attrs.evolve(status, state=State.RUNNING)
        return attrs.evolve(status, result_urls=tuple(output_urls(result.output)),
                            error=failure_reason(result.error) or status.error, raw=result)

    def _normalize(self, model: RequestStatus, job_id: str) -> JobStatus:
        return normalize(model, job_id)


def normalize(model: RequestStatus, job_id: str) -> JobStatus:
    """A Clipia request status as a JobStatus (a poll's and a webhook push's: no client
    needed); the result's URLs are the caller's to add."""
    return JobStatus(provider=ClipiaClient.provider, job_id=job_id,
                     state=_STATES.get(model.status, State.UNKNOWN),
                     progress=percent(model.progress),
                     queue_position=model.queue_position, raw=model)
