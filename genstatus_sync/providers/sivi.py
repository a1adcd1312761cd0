"""Sivi: ``GET /api/prod/v2/enterprise/get-request-status?queryParams=<JSON>`` with the key in
``sivi-api-key``; replies come in an envelope whose own ``status`` carries the outcome."""

import json
from typing import Any, Dict, Optional

from .._convert import unstructure
from .._http import BaseClient, ErrorDetails, check_job_id, reject_extra
from ..backoff import Backoff
from ..models.sivi import (
    RequestStatus,
    RequestStatusEnvelope,
    RequestStatusQuery,
    RequestStatusValue,
)
from ..status import JobStatus, State

__all__ = ["SiviClient"]

_STATES = {
    RequestStatusValue.pending: State.QUEUED,
    RequestStatusValue.processing: State.RUNNING,
    RequestStatusValue.complete: State.SUCCEEDED,
    RequestStatusValue.failed: State.FAILED,
}


class SiviClient(BaseClient):
    """Reads Sivi design generation requests. ``get_status`` returns the envelope's ``body``
    (``models.sivi.RequestStatus``); ``abstract_user_id=`` reads another user's request."""

    provider = "sivi"
    env_prefix = "SIVI"
    default_base_url = "https://connect.sivi.ai"
    # The document asks for exponential backoff (and prefers webhooks). A gentle ratio keeps
    # the detection lag near 13 % of a job's duration (benchmarks/polling_economy.py).
    default_backoff = Backoff(first_delay=2.0, initial=2.0, multiplier=1.3, max_interval=30.0)

    def _auth_headers(self, key: str) -> Dict[str, str]:
        return {"sivi-api-key": key}

    def _fetch_status(self, job_id: Any, deadline: Optional[float], **extra: Any) -> RequestStatus:
        abstract_user_id = extra.pop("abstract_user_id", None)
        reject_extra(self.provider, extra)
        if abstract_user_id is not None:
            check_job_id(abstract_user_id)
        query = RequestStatusQuery(request_id=check_job_id(job_id),
                                   abstract_user_id=abstract_user_id)
        params = {"queryParams": json.dumps(unstructure(query), separators=(",", ":"))}
        _, data = self._request("/api/prod/v2/enterprise/get-request-status", params,
                                deadline=deadline)
        envelope_status = data.get("status") if isinstance(data, dict) else None
        if isinstance(envelope_status, int) and envelope_status != 200:
            message, code, _ = self._error_details(data)
            self.raise_api_error(envelope_status, message or f"envelope status {envelope_status}",
                                 code=code)
        return self._structure(data, RequestStatusEnvelope).body

    def _error_details(self, data: Any) -> ErrorDetails:
        body = data.get("body") if isinstance(data, dict) else None
        return super()._error_details(body if isinstance(body, dict) else data)

    def _normalize(self, model: RequestStatus, job_id: str) -> JobStatus:
        urls = tuple(v.variant_image_url for v in model.result.variations) if model.result else ()
        failed = model.status is RequestStatusValue.failed
        return JobStatus(provider=self.provider, job_id=job_id,
                         state=_STATES.get(model.status, State.UNKNOWN), progress=model.progress,
                         result_urls=urls, error=model.reason if failed else None, raw=model)
