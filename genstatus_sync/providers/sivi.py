"""Sivi: ``GET /api/prod/v2/enterprise/get-request-status?queryParams=<JSON>`` with the key in
``sivi-api-key``; replies come in an envelope whose own ``status`` carries the outcome.
Every call takes ``abstract_user_id=`` to read another user's request."""

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

import attrs

from .._config import Args, check_job_id
from .._convert import structure
from .._http import BaseClient, ErrorDetails
from ..backoff import Backoff
from ..models.sivi import RequestStatus, RequestStatusEnvelope, RequestStatusValue
from ..status import JobStatus, State, percent

if TYPE_CHECKING:
    from .._job import Job

__all__ = ["SiviClient"]

_STATES = {
    RequestStatusValue.pending: State.QUEUED,
    RequestStatusValue.processing: State.RUNNING,
    RequestStatusValue.complete: State.SUCCEEDED,
    RequestStatusValue.failed: State.FAILED,
}


def _args(abstract_user_id: Optional[str]) -> Args:
    if abstract_user_id is None:
        return ()
    return (("abstract_user_id", check_job_id(abstract_user_id, "abstract_user_id")),)


class SiviClient(BaseClient[RequestStatus, str]):
    """Reads Sivi design generation requests. ``get_status`` returns the envelope's ``body``
    (``models.sivi.RequestStatus``); ``abstract_user_id=`` reads another user's request."""

    provider = "sivi"
    env_prefix = "SIVI"
    default_base_url = "https://connect.sivi.ai"
    # The document asks for exponential backoff (and prefers webhooks). A gentle ratio keeps
    # the detection lag near 13 % of a job's duration (benchmarks/polling_economy.py).
    default_backoff = Backoff(first_delay=2.0, initial=2.0, multiplier=1.3, max_interval=30.0)

    def get_status(self, job_id: str, *, abstract_user_id: Optional[str] = None) -> RequestStatus:
        return self._get_status(job_id, _args(abstract_user_id))

    def poll(self, job_id: str, *, abstract_user_id: Optional[str] = None) -> JobStatus:
        return self._poll(job_id, _args(abstract_user_id))

    def wait(self, job_id: str, *, timeout: Optional[float] = 600.0,
             backoff: Optional[Backoff] = None,
             on_update: Optional[Callable[[JobStatus], None]] = None,
             raise_on_failure: bool = True, kind: Optional[str] = None,
             abstract_user_id: Optional[str] = None) -> JobStatus:
        return self.job(job_id, kind=kind, abstract_user_id=abstract_user_id).wait(
            timeout=timeout, backoff=backoff, on_update=on_update,
            raise_on_failure=raise_on_failure)

    def job(self, job_id: str, *, kind: Optional[str] = None,
            abstract_user_id: Optional[str] = None) -> "Job":
        return attrs.evolve(super().job(job_id, kind=kind), args=_args(abstract_user_id))

    def wait_token(self, job_id: str, *, timeout: Optional[float] = 600.0,
                   kind: Optional[str] = None, abstract_user_id: Optional[str] = None) -> str:
        return self.job(job_id, kind=kind, abstract_user_id=abstract_user_id).wait_token(
            timeout=timeout)

    get_status.__doc__ = BaseClient.get_status.__doc__
    poll.__doc__ = BaseClient.poll.__doc__
    wait.__doc__ = BaseClient.wait.__doc__
    job.__doc__ = BaseClient.job.__doc__
    wait_token.__doc__ = BaseClient.wait_token.__doc__

    @classmethod
    def _check_args(cls, args: Args) -> Args:
        extra = {name for name, _ in args} - {"abstract_user_id"}
        if extra or len(args) > 1:
            return super()._check_args(args)
        return _args(args[0][1] if args else None)

    def _auth_headers(self, key: str) -> Dict[str, str]:
        return {"sivi-api-key": key}

    def _fetch(self, job_id: str, args: Args, seconds: Optional[float]) -> RequestStatus:
        # the spec's RequestStatusQuery, written with its JSON keys
        query = {"requestId": job_id}
        query.update(("abstractUserId", value) for _, value in args)
        params = {"queryParams": json.dumps(query, separators=(",", ":"))}
        _, data = self._get("/api/prod/v2/enterprise/get-request-status", params, seconds)
        return structure(data, RequestStatusEnvelope, provider=self.provider).body

    def _envelope_status(self, data: Any) -> Optional[int]:
        status = data.get("status") if isinstance(data, dict) else None
        return status if type(status) is int and status != 200 else None

    def _error_details(self, data: Any) -> ErrorDetails:
        body = data.get("body") if isinstance(data, dict) else None
        return super()._error_details(body if isinstance(body, dict) else data)

    def _normalize(self, model: RequestStatus, job_id: str) -> JobStatus:
        return normalize(model, job_id)


def normalize(model: RequestStatus, job_id: str) -> JobStatus:
    """A Sivi request status as a JobStatus (a poll's and a webhook push's: no client needed)."""
    urls = tuple(v.variant_image_url for v in model.result.variations) if model.result else ()
    failed = model.status is RequestStatusValue.failed
    return JobStatus(provider=SiviClient.provider, job_id=job_id,
                     state=_STATES.get(model.status, State.UNKNOWN),
                     progress=percent(model.progress), result_urls=urls,
                     error=model.reason if failed else None, raw=model)
